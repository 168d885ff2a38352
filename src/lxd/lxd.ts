import type { Dialect } from './dialect.js';

/**
 * The one boundary to LXD and Incus. Everything else receives an `Lxd`; only `client-transport.ts`
 * runs the client (`lxc` or `incus`). Unit tests replace it with a scripted fake.
 */

export interface InstanceRef {
  /** `null`: the client's default remote. */
  remote: string | null;
  name: string;
  /** `null`: the client's current project. */
  project: string | null;
}

export type DeviceConfig = Record<string, string>;

export interface Instance {
  name: string;
  type: 'container' | 'virtual-machine';
  /** As LXD says it: Running, Stopped, Frozen, Error, … */
  status: string;
  ephemeral: boolean;
  /** Expanded devices, profiles included. */
  devices: Record<string, DeviceConfig>;
  /** The cluster member it runs on; null outside a cluster. */
  location: string | null;
}

/** One row of an instance listing: enough to select a fleet without a read per instance. */
export interface ListedInstance extends Instance {
  /** The instance's own config (`user.*` keys and the like), not expanded. */
  config: Record<string, string>;
}

export interface Snapshot {
  name: string;
  createdAt: string;
  /** ISO 8601, or null when it never expires. */
  expiresAt: string | null;
  stateful: boolean;
  /** Bytes, or null where the storage driver does not report it. */
  sizeBytes: number | null;
}

export interface ExecOptions {
  env?: Record<string, string>;
  /** The command owns the terminal (stdin, stdout, stderr inherited, a TTY inside). */
  interactive?: boolean;
  timeoutMs?: number;
  /** Aborting (as the timeout) ends the command: LXD kills it inside, told on the exec's control socket or by the client's death. */
  signal?: AbortSignal;
  /** Receives the command's output as it comes (non-interactive only). */
  onOutput?: (chunk: string) => void;
  /** Interactive only: also keep what the terminal showed in this file. */
  transcript?: string;
}

export interface ExecResult {
  /** null when the command did not exit by itself (killed, timed out). */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  canceled: boolean;
  stdout: string;
  stderr: string;
}

/** A client certificate in the server's trust store. */
export interface TrustedCertificate {
  fingerprint: string;
  name: string;
  type: string;
  /** Restricted to `projects`; an unrestricted client may do anything on the server. */
  restricted: boolean;
  projects: string[];
}

/** What an instance's server says about itself, for clients reaching it over HTTPS. */
export interface ServerInfo {
  /** `core.https_address`; null when the server does not listen on HTTPS. */
  httpsAddress: string | null;
  /** The server's certificate (PEM), which HTTPS clients verify; null where it is not told. */
  certificate: string | null;
}

/** What `GET /1.0` says about the server: what it is, and which API extensions it has. */
export interface ServerApi {
  /** `lxd` or `incus`, as the server names itself; null where it does not. */
  server: string | null;
  version: string | null;
  extensions: readonly string[];
}

/** A profile, addressed by its remote and project (profiles of a project without its own live in `default`). */
export interface ProfileRef {
  remote: string | null;
  project: string | null;
  name: string;
}

export interface Profile {
  description: string;
  config: Record<string, string>;
  /** The instances (and other objects) that use it, as API paths. */
  usedBy: string[];
  /** Its ETag as read, for a write that must not follow someone else's; null where the client was used (it does not tell). */
  etag: string | null;
}

export interface LxdCall {
  /** The client's command line, or `remote: METHOD path` for a request made directly. */
  command: readonly string[];
  durationMs: number;
  ok: boolean;
  /** A client process was started for it (direct requests cost none). */
  process: boolean;
}

export interface Lxd {
  /** The client spoken, and so the words of the commands printed for a human. */
  readonly dialect: Dialect;
  /**
   * The server's API (one `GET /1.0`); throws an LxdError of kind `unreachable` when the server
   * does not answer.
   */
  checkReachable(remote: string | null): Promise<ServerApi>;
  /**
   * The same instance with the remote and project the client would use filled in (its default
   * remote, that remote's current project): locks and printed commands must not depend on them.
   */
  resolveRef(ref: InstanceRef): Promise<InstanceRef>;
  /** The remote the client uses for an instance named without one. */
  defaultRemote(): Promise<string>;
  /** null when there is no such instance. */
  getInstance(ref: InstanceRef): Promise<Instance | null>;
  /** Every instance of one project on one remote (null: the client's defaults), sorted by name. */
  listInstances(remote: string | null, project: string | null): Promise<ListedInstance[]>;
  listSnapshots(ref: InstanceRef): Promise<Snapshot[]>;
  /** The pool's driver and free bytes, and the instance's root disk usage; null where LXD does not say. */
  /** `location`: the cluster member that holds the instance (its `location`), null outside a cluster. */
  getSpace(ref: InstanceRef, pool: string, location: string | null): Promise<{ driver: string; freeBytes: number | null; usedByInstanceBytes: number | null }>;
  /**
   * Refreshes the instance, snapshots included, to the same name on another remote (a snapshot
   * server): `lxc copy --refresh` semantics, only what is missing there is transferred.
   */
  refreshCopy(ref: InstanceRef, remote: string): Promise<void>;
  /** A stopped copy of the instance without its snapshots, never started (for post-mortems). */
  copyInstance(ref: InstanceRef, target: string): Promise<void>;
  /**
   * Creates `target` from one snapshot of the instance, without snapshots, in one request: the
   * config keys and devices given are laid over the snapshot's (a device of type `none` masks one,
   * profile devices included), so the copy never exists without them. It is not started.
   */
  copyFromSnapshot(ref: InstanceRef, snapshot: string, target: string, overrides: { config: Record<string, string>; devices: Record<string, DeviceConfig> }): Promise<void>;
  /**
   * Deletes a stopped instance only if its config key `marker.key` equals `marker.value`, read just
   * before the delete: safeupdate deletes only instances it created. `kept`: the marker says
   * otherwise, nothing deleted; `gone`: there was no such instance.
   */
  deleteMarkedInstance(ref: InstanceRef, marker: { key: string; value: string }): Promise<{ deleted: true } | { deleted: false; gone: true } | { deleted: false; gone: false; found: string | null }>;
  /** The instance's global IPv4 addresses as LXD reports them (they can change across a restart). */
  getIPv4Addresses(ref: InstanceRef): Promise<string[]>;
  createSnapshot(ref: InstanceRef, name: string, expiresAt: Date | null): Promise<void>;
  restoreSnapshot(ref: InstanceRef, name: string): Promise<void>;
  /** Deletes one snapshot, addressed through its instance: there is no way to reach the instance itself. */
  deleteSnapshot(ref: InstanceRef, name: string): Promise<void>;
  /** Sets instance config keys; null unsets a key. */
  setConfig(ref: InstanceRef, entries: Record<string, string | null>): Promise<void>;
  getConfig(ref: InstanceRef): Promise<Record<string, string>>;
  /**
   * `waitMs`: a clean stop (force false) waits this long for the instance to shut down, then fails
   * with the instance still running; without it, as long as the call's own bound allows.
   */
  stopInstance(ref: InstanceRef, options: { force: boolean; waitMs?: number }): Promise<void>;
  startInstance(ref: InstanceRef): Promise<void>;
  exec(ref: InstanceRef, argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Writes a file into the instance, owned by root with this mode, replacing it; its folder must exist. */
  pushFile(ref: InstanceRef, path: string, content: string, mode: number): Promise<void>;
  /**
   * A regular file's content as the server reads it inside the instance; null when it is not there.
   * Bounded in size and time: the instance controls what is at the path (a FIFO, a huge file).
   */
  readFile(ref: InstanceRef, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null>;
  /** Removes a file, or an empty folder, from the instance; one that is not there is no error. */
  removeFile(ref: InstanceRef, path: string): Promise<void>;
  /** Adds a device to the instance itself (not to a profile); `device.type` is its type. */
  addDevice(ref: InstanceRef, name: string, device: DeviceConfig): Promise<void>;
  removeDevice(ref: InstanceRef, name: string): Promise<void>;
  getServer(remote: string | null): Promise<ServerInfo>;
  listCertificates(remote: string | null): Promise<TrustedCertificate[]>;
  /** Trusts a client certificate (PEM), restricted to these projects. */
  addRestrictedCertificate(remote: string | null, name: string, certificate: string, projects: string[]): Promise<void>;
  deleteCertificate(remote: string | null, fingerprint: string): Promise<void>;
  /** Creates a profile with this config, in one request. false: a profile of that name exists (nothing changed). */
  createProfile(profile: ProfileRef, description: string, config: Record<string, string>): Promise<boolean>;
  /** null when there is no such profile. */
  getProfile(profile: ProfileRef): Promise<Profile | null>;
  /**
   * Sets profile config keys; throws LxdError `not-found` when the profile is gone. `ifMatch`: the
   * ETag of the caller's read; the write is refused (LxdError with httpStatus 412) when the profile
   * changed since. Through the client there is no ETag, and the write is unconditional.
   */
  setProfileConfig(profile: ProfileRef, entries: Record<string, string>, ifMatch?: string | null): Promise<void>;
  /** Renames a profile. false: there was no profile of that name (someone else renamed or deleted it first). */
  renameProfile(profile: ProfileRef, to: string): Promise<boolean>;
  /** Deletes a profile; one that is not there is no error. */
  deleteProfile(profile: ProfileRef): Promise<void>;
}
