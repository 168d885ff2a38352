import { LxdError } from '../errors.js';
import { instancePath, NEVER_EXPIRES, profilePath, toCertificate, toInstance, toServerInfo, toSnapshot, withQuery, type RawCertificate, type RawInstance, type RawProfile, type RawResources, type RawServer, type RawSnapshot, type RawState } from './api.js';
import { ClientTransport } from './client-transport.js';
import { LXC, type Dialect } from './dialect.js';
import type { RestApi } from './rest.js';
import { runExec } from './rest-exec.js';
import { updateInstanceConfig } from './rest-instance-config.js';
import { Transports } from './transports.js';
import type { DeviceConfig, ExecOptions, ExecResult, Instance, InstanceRef, ListedInstance, Lxd, LxdCall, Profile, ProfileRef, ServerApi, ServerInfo, Snapshot, TrustedCertificate } from './lxd.js';

/** A clean stop's call waits this much longer than LXD's own timeout, for LXD's answer to arrive. */
const STOP_ANSWER_MARGIN_MS = 10_000;

export interface LxcClientOptions {
  /** The client spoken: `lxc` (the default) or `incus`. */
  dialect?: Dialect;
  /** The client's executable, where it is not the dialect's name on PATH (tests' stand-ins). */
  binary?: string;
  /** Bound on reads and quick writes: a hung daemon must give an error, not a hang. */
  callTimeoutMs?: number;
  /** Bound on snapshot and restore, which copy a whole root filesystem on a `dir` pool. */
  storageTimeoutMs?: number;
  onCall?: (call: LxdCall) => void;
  /**
   * The REST API spoken directly, for the remotes it reaches (see RestApi); null or absent: every
   * call through the client. Loaded at the first call, so that `--help` never reads a config file.
   */
  api?: () => Promise<RestApi | null>;
}

/**
 * `Lxd` over LXD's (Incus') REST API: directly where the remote allows it (the local socket, HTTPS
 * with the client's certificate; see RestApi), else through the command-line client's `query`.
 * A non-interactive `exec` goes the same way (its websockets: rest-exec.ts); an interactive one,
 * file pushes and deletes, devices and copies between servers always go through the client: a
 * terminal, file transfers and migrations are what it does well.
 */
export class LxcClient implements Lxd {
  readonly dialect: Dialect;
  private readonly callTimeoutMs: number;
  private readonly storageTimeoutMs: number;
  private readonly client: ClientTransport;
  private readonly transports: Transports;

  constructor(options: LxcClientOptions = {}) {
    this.dialect = options.dialect ?? LXC;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.storageTimeoutMs = options.storageTimeoutMs ?? 30 * 60_000;
    this.client = new ClientTransport(this.dialect, options.binary ?? this.dialect.client, this.callTimeoutMs, this.storageTimeoutMs, options.onCall ?? (() => {}));
    this.transports = new Transports(this.client, options.api ?? (async () => null), this.callTimeoutMs);
  }

  async checkReachable(remote: string | null): Promise<ServerApi> {
    const raw = (await this.query(remote, '/1.0')) as { api_extensions?: string[]; environment?: { server?: string; server_version?: string } };
    return { server: raw.environment?.server ?? null, version: raw.environment?.server_version ?? null, extensions: raw.api_extensions ?? [] };
  }

  async defaultRemote(): Promise<string> {
    return this.transports.defaultRemote();
  }

  async resolveRef(ref: InstanceRef): Promise<InstanceRef> {
    const remote = ref.remote ?? (await this.defaultRemote());
    if (ref.project !== null) return { ...ref, remote };
    const project = await this.transports.pick(remote, {
      rest: async (direct) => direct.api.currentProject(remote),
      client: (client) => client.currentProject(remote),
    });
    return { ...ref, remote, project };
  }

  async getInstance(ref: InstanceRef): Promise<Instance | null> {
    try {
      return toInstance((await this.query(ref.remote, instancePath(ref, ''))) as RawInstance);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return null;
      throw error;
    }
  }

  async listInstances(remote: string | null, project: string | null): Promise<ListedInstance[]> {
    // One call for the whole project: a fleet of hundreds must not cost a read per instance.
    const params = ['recursion=1', ...(project === null ? [] : [`project=${encodeURIComponent(project)}`])].join('&');
    const raw = (await this.query(remote, `/1.0/instances?${params}`)) as RawInstance[];
    return raw
      .map((item) => ({ ...toInstance(item), config: item.config ?? {} }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async listSnapshots(ref: InstanceRef): Promise<Snapshot[]> {
    const raw = (await this.query(ref.remote, instancePath(ref, '/snapshots', 'recursion=1'))) as RawSnapshot[];
    return raw.map(toSnapshot);
  }

  async getSpace(ref: InstanceRef, pool: string, location: string | null): Promise<{ driver: string; freeBytes: number | null; usedByInstanceBytes: number | null }> {
    const project = ref.project === null ? '' : `project=${encodeURIComponent(ref.project)}`;
    const poolPath = `/1.0/storage-pools/${encodeURIComponent(pool)}`;
    // On a cluster every member has its own share of the pool, and a server answers for itself unless
    // told a target: the free space that counts is on the member that holds the instance.
    const member = location === null ? '' : `target=${encodeURIComponent(location)}`;
    const { driver } = (await this.query(ref.remote, withQuery(poolPath, project))) as { driver: string };
    const resources = (await this.query(ref.remote, withQuery(`${poolPath}/resources`, project, member))) as RawResources;
    const state = (await this.query(ref.remote, instancePath(ref, '/state'))) as RawState;
    const usage = state.disk?.root?.usage;
    return {
      driver,
      freeBytes: resources.space?.total ? resources.space.total - (resources.space.used ?? 0) : null,
      // The dir driver without quotas reports no usage at all: unknown, not zero.
      usedByInstanceBytes: typeof usage === 'number' && usage > 0 ? usage : null,
    };
  }

  refreshCopy(ref: InstanceRef, remote: string): Promise<void> {
    return this.client.refreshCopy(ref, remote);
  }

  copyInstance(ref: InstanceRef, target: string): Promise<void> {
    return this.client.copyInstance(ref, target);
  }

  async copyFromSnapshot(ref: InstanceRef, snapshot: string, target: string, overrides: { config: Record<string, string>; devices: Record<string, DeviceConfig> }): Promise<void> {
    if (snapshot === '' || snapshot.includes('/')) throw new LxdError(`refusing to copy from snapshot "${snapshot}": not a snapshot name`, 'failed', []);
    // Through the API: `lxc copy` cannot mask a device, and a copy that is changed after its creation
    // could exist for a moment without its marker (a crash then leaves it unowned).
    const body = {
      name: target,
      source: { type: 'copy', source: `${ref.name}/${snapshot}`, instance_only: true },
      config: overrides.config,
      devices: overrides.devices,
    };
    const project = ref.project === null ? '' : `?project=${encodeURIComponent(ref.project)}`;
    await this.transports.request(ref.remote, 'POST', `/1.0/instances${project}`, body, this.storageTimeoutMs);
  }

  async deleteMarkedInstance(ref: InstanceRef, marker: { key: string; value: string }): Promise<{ deleted: true } | { deleted: false; gone: true } | { deleted: false; gone: false; found: string | null }> {
    let config: Record<string, string>;
    try {
      config = await this.getConfig(ref);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return { deleted: false, gone: true };
      throw error;
    }
    const found = config[marker.key] ?? null;
    if (found !== marker.value) return { deleted: false, gone: false, found };
    // LXD 5.0 ignores If-Match on DELETE (a stale ETag is answered 202) and the client sends none of
    // ours: the re-read just above is the guard. The API path cannot address a snapshot or another
    // instance, whatever the name holds.
    await this.transports.request(ref.remote, 'DELETE', instancePath(ref, ''), undefined, this.storageTimeoutMs);
    return { deleted: true };
  }

  async getIPv4Addresses(ref: InstanceRef): Promise<string[]> {
    const state = (await this.query(ref.remote, instancePath(ref, '/state'))) as RawState;
    return Object.entries(state.network ?? {})
      .filter(([device]) => device !== 'lo')
      .flatMap(([, network]) => network.addresses ?? [])
      .filter((address) => address.family === 'inet' && address.scope === 'global')
      .map((address) => address.address);
  }

  async createSnapshot(ref: InstanceRef, name: string, expiresAt: Date | null): Promise<void> {
    // Through the API: LXD 5.0's `lxc snapshot` cannot set an expiry, and a snapshot without its own
    // expiry would get the instance's `snapshots.expiry`.
    const body = { name, stateful: false, expires_at: expiresAt ? expiresAt.toISOString() : NEVER_EXPIRES };
    await this.transports.request(ref.remote, 'POST', instancePath(ref, '/snapshots'), body, this.storageTimeoutMs);
  }

  async restoreSnapshot(ref: InstanceRef, name: string): Promise<void> {
    // Through the API, which LXD and Incus share: their clients name this command differently
    // (`lxc restore`, `incus snapshot restore`).
    await this.transports.request(ref.remote, 'PUT', instancePath(ref, ''), { restore: name }, this.storageTimeoutMs);
  }

  async deleteSnapshot(ref: InstanceRef, name: string): Promise<void> {
    // The API path always ends in /snapshots/<name>: unlike `lxc delete NAME[/SNAP]`, a missing or
    // empty snapshot name cannot turn this into the deletion of the instance.
    if (name === '' || name.includes('/')) throw new LxdError(`refusing to delete snapshot "${name}": not a snapshot name`, 'failed', []);
    await this.transports.request(ref.remote, 'DELETE', instancePath(ref, `/snapshots/${encodeURIComponent(name)}`), undefined, this.storageTimeoutMs);
  }

  async setConfig(ref: InstanceRef, entries: Record<string, string | null>): Promise<void> {
    await this.transports.pick(ref.remote, {
      rest: (direct) => updateInstanceConfig(direct, instancePath(ref, ''), entries, this.callTimeoutMs),
      client: async (client) => client.setConfig(ref, entries, Object.values(entries).includes(null) ? await this.getConfig(ref) : {}),
    });
  }

  async getConfig(ref: InstanceRef): Promise<Record<string, string>> {
    const raw = (await this.query(ref.remote, instancePath(ref, ''))) as RawInstance;
    return raw.config ?? {};
  }

  async stopInstance(ref: InstanceRef, options: { force: boolean; waitMs?: number }): Promise<void> {
    if (options.waitMs === undefined) {
      // timeout -1: a clean stop waits for the instance as long as `lxc stop` does (the call's bound applies).
      await this.transports.write(ref.remote, 'PUT', instancePath(ref, '/state'), { action: 'stop', force: options.force, timeout: -1 }, (client) => client.stopInstance(ref, options));
      return;
    }
    // LXD gives up the clean stop after `timeout` seconds; the call itself is bounded a little later,
    // so that LXD's own answer (the instance still running) is what the caller sees.
    const seconds = Math.max(1, Math.ceil(options.waitMs / 1000));
    const callTimeoutMs = seconds * 1000 + STOP_ANSWER_MARGIN_MS;
    await this.transports.write(ref.remote, 'PUT', instancePath(ref, '/state'), { action: 'stop', force: options.force, timeout: seconds },
      (client) => client.stopInstance(ref, { force: options.force, waitSeconds: seconds, callTimeoutMs }), callTimeoutMs);
  }

  async startInstance(ref: InstanceRef): Promise<void> {
    await this.transports.write(ref.remote, 'PUT', instancePath(ref, '/state'), { action: 'start', timeout: -1 }, (client) => client.startInstance(ref));
  }

  exec(ref: InstanceRef, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    // An interactive command stays with the client: it puts the terminal in raw mode and restores
    // it, sends the window's size and its changes, and forwards the terminal's signals; script(1)
    // keeps its transcript. None of that is worth redoing here for one command a run.
    if (options.interactive) return this.client.exec(ref, argv, options);
    return this.transports.pick(ref.remote, {
      rest: (direct) => runExec(direct.api.execChannel(direct.remote), instancePath(ref, '/exec'), argv, options, this.callTimeoutMs),
      client: (client) => client.exec(ref, argv, options),
    });
  }

  pushFile(ref: InstanceRef, path: string, content: string, mode: number): Promise<void> {
    return this.client.pushFile(ref, path, content, mode);
  }

  async readFile(ref: InstanceRef, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null> {
    if (!path.startsWith('/')) throw new LxdError(`refusing to read "${path}": not an absolute path`, 'failed', []);
    return this.transports.pick(ref.remote, {
      rest: (direct) => direct.api.readFile(direct.remote, instancePath(ref, '/files', `path=${encodeURIComponent(path)}`), limits),
      client: (client) => client.readFile(ref, path, limits),
    });
  }

  removeFile(ref: InstanceRef, path: string): Promise<void> {
    return this.client.removeFile(ref, path);
  }

  addDevice(ref: InstanceRef, name: string, device: DeviceConfig): Promise<void> {
    return this.client.addDevice(ref, name, device);
  }

  removeDevice(ref: InstanceRef, name: string): Promise<void> {
    return this.client.removeDevice(ref, name);
  }

  async getServer(remote: string | null): Promise<ServerInfo> {
    return toServerInfo((await this.query(remote, '/1.0')) as RawServer);
  }

  async listCertificates(remote: string | null): Promise<TrustedCertificate[]> {
    const raw = (await this.query(remote, '/1.0/certificates?recursion=1')) as RawCertificate[];
    return raw.map(toCertificate);
  }

  async addRestrictedCertificate(remote: string | null, name: string, certificate: string, projects: string[]): Promise<void> {
    // The API takes the certificate as base64 DER: the PEM without its armour.
    const der = certificate.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    const body = { type: 'client', name, certificate: der, restricted: true, projects };
    await this.transports.request(remote, 'POST', '/1.0/certificates', body);
  }

  async deleteCertificate(remote: string | null, fingerprint: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new LxdError(`refusing to delete certificate "${fingerprint}": not a SHA-256 fingerprint`, 'failed', []);
    await this.transports.request(remote, 'DELETE', `/1.0/certificates/${fingerprint}`);
  }

  async createProfile(profile: ProfileRef, description: string, config: Record<string, string>): Promise<boolean> {
    // One POST carries the config: created with it, or not at all (`lxc profile create` then `set`
    // would leave an empty profile behind a crash in between).
    const body = { name: profile.name, description, config };
    try {
      await this.transports.request(profile.remote, 'POST', profilePath(profile, ''), body);
      return true;
    } catch (error) {
      // LXD 5.0: "Error inserting "NAME" into database: The profile already exists".
      if (error instanceof LxdError && /already exists/i.test(error.message)) return false;
      throw error;
    }
  }

  async getProfile(profile: ProfileRef): Promise<Profile | null> {
    try {
      const { metadata, etag } = await this.transports.read(profile.remote, profilePath(profile, `/${encodeURIComponent(profile.name)}`));
      const raw = metadata as RawProfile;
      return { description: raw.description ?? '', config: raw.config ?? {}, usedBy: raw.used_by ?? [], etag };
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return null;
      throw error;
    }
  }

  async setProfileConfig(profile: ProfileRef, entries: Record<string, string>, ifMatch: string | null = null): Promise<void> {
    await this.transports.pick(profile.remote, {
      rest: async (direct) => {
        // One PATCH, merged on the server; with the ETag of the caller's read, refused (412) if the
        // profile changed since.
        const path = profilePath(profile, `/${encodeURIComponent(profile.name)}`);
        await direct.api.request(direct.remote, 'PATCH', path, { body: { config: entries }, timeoutMs: this.callTimeoutMs, ...(ifMatch ? { ifMatch } : {}) });
      },
      client: (client) => client.setProfileConfig(profile, entries),
    });
  }

  async renameProfile(profile: ProfileRef, to: string): Promise<boolean> {
    try {
      await this.transports.write(profile.remote, 'POST', profilePath(profile, `/${encodeURIComponent(profile.name)}`), { name: to }, (client) => client.renameProfile(profile, to));
      return true;
    } catch (error) {
      // LXD 5.0 answers the rename of a profile that is gone with "Query affected 0 rows instead of 1".
      if (error instanceof LxdError && (error.kind === 'not-found' || /affected 0 rows/i.test(error.message))) return false;
      throw error;
    }
  }

  async deleteProfile(profile: ProfileRef): Promise<void> {
    try {
      await this.transports.write(profile.remote, 'DELETE', profilePath(profile, `/${encodeURIComponent(profile.name)}`), undefined, (client) => client.deleteProfile(profile));
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return;
      throw error;
    }
  }

  private async query(remote: string | null, path: string): Promise<unknown> {
    return (await this.transports.read(remote, path)).metadata;
  }
}
