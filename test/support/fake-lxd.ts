import { LxdError } from '../../src/errors.js';
import { LXC, type Dialect } from '../../src/lxd/dialect.js';
import { RESTART_DUE_SCRIPT } from '../../src/checks/restart-due.js';
import { INVENTORY_SCRIPT } from '../../src/packages/inventory.js';
import { USED_EXTENSIONS } from '../../src/lxd/extensions.js';
import type { DeviceConfig, ExecOptions, ExecResult, Instance, InstanceRef, ListedInstance, Lxd, Profile, ProfileRef, ServerApi, ServerInfo, Snapshot, TrustedCertificate } from '../../src/lxd/lxd.js';

type Method = Exclude<keyof Lxd, 'dialect'>;

/** A server with every extension safeupdate uses: what `checkReachable` answers unless scripted otherwise. */
export const FULL_API: ServerApi = { server: 'lxd', version: '5.0.2', extensions: USED_EXTENSIONS };

const INSTANCE_CHANGES: Method[] = ['stopInstance', 'restoreSnapshot', 'startInstance'];

const sameRef = (given: unknown, ref: InstanceRef) => {
  const actual = given as InstanceRef;
  return actual.remote === ref.remote && actual.project === ref.project && actual.name === ref.name;
};
/** Matches `stopInstance(ref, { force })`: this instance, forced unless said otherwise. */
export const stopOf = (ref: InstanceRef, force = true) => (args: unknown[]) => sameRef(args[0], ref) && (args[1] as { force: boolean }).force === force;
/** Matches `restoreSnapshot(ref, snapshot)`; a function names a snapshot the run takes later. */
export const restoreOf = (ref: InstanceRef, snapshot: string | (() => string | null)) => (args: unknown[]) =>
  sameRef(args[0], ref) && args[1] === (typeof snapshot === 'function' ? snapshot() : snapshot);
/** Matches `startInstance(ref)`. */
export const startOf = (ref: InstanceRef) => (args: unknown[]) => sameRef(args[0], ref);

interface Expectation {
  method: Method;
  describe: string;
  match: (args: unknown[]) => boolean;
  respond: (args: unknown[]) => unknown;
  /** Set by `together`: the calls of one group may come in any order among themselves. */
  group?: number;
}

/**
 * A scripted stand-in for the LXD access layer. Calls must come in the scripted order; any other
 * call is recorded and throws. Because the code under test may catch that throw (a failed step is
 * a result), `assertDone()` fails the test afterwards for every unexpected or missing call.
 */
export class FakeLxd implements Lxd {
  private readonly script: Expectation[] = [];
  /** The client it stands for: the words of the commands printed for a human. */
  dialect: Dialect = LXC;
  /** What the client would fill in for an instance given without remote or project. */
  current = { remote: 'local', project: 'default' };
  readonly unexpected: string[] = [];
  /**
   * The server's profiles (the server leases), keyed `project/name`. Unscripted, the profile calls
   * act on them as LXD would, so that runs take and release their lease without each test scripting
   * it; `scriptProfiles` makes them scripted calls like any other (races, failures).
   */
  readonly profiles = new Map<string, Profile>();
  scriptProfiles = false;
  /**
   * The read after every passing update of whether a restart is due (checks/restart-due.ts).
   * Unscripted, it answers "nothing due" (and is recorded in `calls`), so that runs that are not
   * about restarts need not script it; true makes it a scripted call like any other.
   */
  scriptRestartDue = false;
  readonly calls: Array<{ method: Method; args: unknown[] }> = [];

  private readonly holds: Array<{ method: Method; match: (args: unknown[]) => boolean; call: HeldCall }> = [];
  private groups = 0;

  /**
   * Holds the next call of `method` (that `match` accepts) open, scripted or not, until the test
   * releases it: every other call finishes at once, so only a held one shows whether the caller
   * awaits it before going on, or what else it does meanwhile.
   */
  holdNext(method: Method, match: (args: unknown[]) => boolean = () => true): HeldCall {
    const call = new HeldCall();
    this.holds.push({ method, match, call });
    return call;
  }

  /**
   * The calls `script` expects may come in any order among themselves: work the run does at the
   * same time. The group as a whole keeps its place in the script.
   */
  together(script: () => void): this {
    const from = this.script.length;
    script();
    const group = ++this.groups;
    for (const expectation of this.script.slice(from)) expectation.group = group;
    return this;
  }

  private async heldOpen(method: Method, args: unknown[]): Promise<void> {
    const index = this.holds.findIndex((hold) => hold.method === method && hold.match(args));
    if (index === -1) return;
    const [hold] = this.holds.splice(index, 1);
    await hold!.call.open();
  }

  expect(method: Method, respond: (args: unknown[]) => unknown, match?: (args: unknown[]) => boolean, describe: string = method): this {
    // A stop, restore or start of the wrong instance or snapshot is the worst mistake the tool can
    // make, so no expectation of one may accept any arguments.
    if (!match && INSTANCE_CHANGES.includes(method)) throw new Error(`an expectation of lxd.${method} must say which instance it accepts (see stopOf, restoreOf, startOf)`);
    this.script.push({ method, respond, match: match ?? (() => true), describe });
    return this;
  }

  assertDone(): void {
    if (this.unexpected.length) throw new Error(`unexpected LXD calls:\n${this.unexpected.join('\n')}`);
    if (this.script.length) throw new Error(`expected LXD calls not made:\n${this.script.map((e) => e.describe).join('\n')}`);
  }

  private async take(method: Method, args: unknown[]): Promise<any> {
    this.calls.push({ method, args });
    const index = this.nextMatching(method, args);
    if (index === -1) {
      const next = this.script[0];
      const message = `unexpected lxd.${method}(${JSON.stringify(args.slice(0, 3))}); expected ${next ? next.describe : 'no more calls'}`;
      this.unexpected.push(message);
      throw new Error(message);
    }
    const [next] = this.script.splice(index, 1);
    await this.heldOpen(method, args);
    return next!.respond(args);
  }

  /** The first expectation, or any of the first group (`together`), that accepts the call; -1 if none does. */
  private nextMatching(method: Method, args: unknown[]): number {
    const group = this.script[0]?.group;
    for (const [index, expectation] of this.script.entries()) {
      if (index > 0 && (group === undefined || expectation.group !== group)) break;
      if (expectation.method === method && expectation.match(args)) return index;
    }
    return -1;
  }

  /** A scripted answer of nothing is a server with every extension (FULL_API). */
  async checkReachable(remote: string | null): Promise<ServerApi> {
    return ((await this.take('checkReachable', [remote])) as ServerApi | undefined) ?? FULL_API;
  }
  async defaultRemote(): Promise<string> {
    this.calls.push({ method: 'defaultRemote', args: [] });
    return this.current.remote;
  }
  /** Answered from `current` without a script: it reads the client's configuration, never changes anything. */
  async resolveRef(ref: InstanceRef): Promise<InstanceRef> {
    this.calls.push({ method: 'resolveRef', args: [ref] });
    return { ...ref, remote: ref.remote ?? this.current.remote, project: ref.project ?? this.current.project };
  }
  getInstance(ref: InstanceRef): Promise<Instance | null> {
    return this.take('getInstance', [ref]);
  }
  listInstances(remote: string | null, project: string | null): Promise<ListedInstance[]> {
    return this.take('listInstances', [remote, project]);
  }
  listSnapshots(ref: InstanceRef): Promise<Snapshot[]> {
    return this.take('listSnapshots', [ref]);
  }
  getSpace(ref: InstanceRef, pool: string, location: string | null = null): Promise<{ driver: string; freeBytes: number | null; usedByInstanceBytes: number | null }> {
    return this.take('getSpace', [ref, pool, location]);
  }
  refreshCopy(ref: InstanceRef, remote: string): Promise<void> {
    return this.take('refreshCopy', [ref, remote]);
  }
  copyInstance(ref: InstanceRef, target: string): Promise<void> {
    return this.take('copyInstance', [ref, target]);
  }
  copyFromSnapshot(ref: InstanceRef, snapshot: string, target: string, overrides: { config: Record<string, string>; devices: Record<string, DeviceConfig> }): Promise<void> {
    return this.take('copyFromSnapshot', [ref, snapshot, target, overrides]);
  }
  deleteMarkedInstance(ref: InstanceRef, marker: { key: string; value: string }): ReturnType<Lxd['deleteMarkedInstance']> {
    return this.take('deleteMarkedInstance', [ref, marker]);
  }
  getIPv4Addresses(ref: InstanceRef): Promise<string[]> {
    return this.take('getIPv4Addresses', [ref]);
  }
  createSnapshot(ref: InstanceRef, name: string, expiresAt: Date | null): Promise<void> {
    return this.take('createSnapshot', [ref, name, expiresAt]);
  }
  restoreSnapshot(ref: InstanceRef, name: string): Promise<void> {
    return this.take('restoreSnapshot', [ref, name]);
  }
  deleteSnapshot(ref: InstanceRef, name: string): Promise<void> {
    return this.take('deleteSnapshot', [ref, name]);
  }
  setConfig(ref: InstanceRef, entries: Record<string, string | null>): Promise<void> {
    return this.take('setConfig', [ref, entries]);
  }
  getConfig(ref: InstanceRef): Promise<Record<string, string>> {
    return this.take('getConfig', [ref]);
  }
  stopInstance(ref: InstanceRef, options: { force: boolean; waitMs?: number }): Promise<void> {
    return this.take('stopInstance', [ref, options]);
  }
  startInstance(ref: InstanceRef): Promise<void> {
    return this.take('startInstance', [ref]);
  }
  async exec(ref: InstanceRef, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (!this.scriptRestartDue && isRestartDue([ref, argv])) {
      this.calls.push({ method: 'exec', args: [ref, argv, options] });
      return restartDueOutput();
    }
    const result: ExecResult = await this.take('exec', [ref, argv, options]);
    // As the real client does, non-interactive output also streams to the listener.
    if (options.onOutput && !options.interactive) {
      if (result.stdout) options.onOutput(result.stdout);
      if (result.stderr) options.onOutput(result.stderr);
    }
    return result;
  }
  pushFile(ref: InstanceRef, path: string, content: string, mode: number): Promise<void> {
    return this.take('pushFile', [ref, path, content, mode]);
  }
  readFile(ref: InstanceRef, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null> {
    return this.take('readFile', [ref, path, limits]);
  }
  removeFile(ref: InstanceRef, path: string): Promise<void> {
    return this.take('removeFile', [ref, path]);
  }
  addDevice(ref: InstanceRef, name: string, device: DeviceConfig): Promise<void> {
    return this.take('addDevice', [ref, name, device]);
  }
  removeDevice(ref: InstanceRef, name: string): Promise<void> {
    return this.take('removeDevice', [ref, name]);
  }
  getServer(remote: string | null): Promise<ServerInfo> {
    return this.take('getServer', [remote]);
  }
  listCertificates(remote: string | null): Promise<TrustedCertificate[]> {
    return this.take('listCertificates', [remote]);
  }
  addRestrictedCertificate(remote: string | null, name: string, certificate: string, projects: string[]): Promise<void> {
    return this.take('addRestrictedCertificate', [remote, name, certificate, projects]);
  }
  deleteCertificate(remote: string | null, fingerprint: string): Promise<void> {
    return this.take('deleteCertificate', [remote, fingerprint]);
  }
  createProfile(profile: ProfileRef, description: string, config: Record<string, string>): Promise<boolean> {
    return this.profileCall('createProfile', [profile, description, config], () => {
      if (this.profiles.has(profileKey(profile))) return false;
      this.profiles.set(profileKey(profile), { description, config: { ...config }, usedBy: [], etag: nextEtag() });
      return true;
    });
  }
  getProfile(profile: ProfileRef): Promise<Profile | null> {
    return this.profileCall('getProfile', [profile], () => {
      const found = this.profiles.get(profileKey(profile));
      return found ? { ...found, config: { ...found.config } } : null;
    });
  }
  setProfileConfig(profile: ProfileRef, entries: Record<string, string>, ifMatch: string | null = null): Promise<void> {
    return this.profileCall('setProfileConfig', [profile, entries], () => {
      const found = this.profiles.get(profileKey(profile));
      if (!found) throw new LxdError('Profile not found', 'not-found', []);
      // As the server: a write with the ETag of an older read is refused, and every write makes a new ETag.
      if (ifMatch !== null && ifMatch !== found.etag) throw new LxdError("ETag doesn't match", 'failed', [], { httpStatus: 412 });
      Object.assign(found.config, entries);
      found.etag = nextEtag();
    });
  }
  renameProfile(profile: ProfileRef, to: string): Promise<boolean> {
    return this.profileCall('renameProfile', [profile, to], () => {
      const found = this.profiles.get(profileKey(profile));
      if (!found) return false;
      if (this.profiles.has(profileKey({ ...profile, name: to }))) throw new LxdError(`Name "${to}" already in use`, 'failed', []);
      this.profiles.delete(profileKey(profile));
      this.profiles.set(profileKey({ ...profile, name: to }), found);
      return true;
    });
  }
  deleteProfile(profile: ProfileRef): Promise<void> {
    return this.profileCall('deleteProfile', [profile], () => {
      this.profiles.delete(profileKey(profile));
    });
  }

  private async profileCall<T>(method: Method, args: unknown[], act: () => T): Promise<T> {
    if (this.scriptProfiles) return this.take(method, args);
    this.calls.push({ method, args });
    await this.heldOpen(method, args);
    return act();
  }
}

/** A call held open by `FakeLxd.holdNext`: `started` once it is made, finished by `release`. */
export class HeldCall {
  private markStarted!: () => void;
  private finish!: () => void;
  readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));
  private readonly released = new Promise<void>((resolve) => (this.finish = resolve));

  open(): Promise<void> {
    this.markStarted();
    return this.released;
  }

  release(): void {
    this.finish();
  }
}

/** Lets every promise chain that can move on do so: what has not started by then waits on something. */
export const settle = (ms = 250) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let etags = 0;
const nextEtag = () => `"fake-${(etags += 1)}"`;

function profileKey(profile: ProfileRef): string {
  return `${profile.remote ?? ''}:${profile.project ?? 'default'}/${profile.name}`;
}

export function execResult(partial: Partial<ExecResult> = {}): ExecResult {
  return { exitCode: 0, signal: null, timedOut: false, canceled: false, stdout: '', stderr: '', ...partial };
}

export function runningContainer(partial: Partial<Instance> = {}): Instance {
  return { name: 'web1', type: 'container', status: 'Running', ephemeral: false, devices: { root: { type: 'disk', path: '/', pool: 'default' } }, location: null, ...partial };
}

/** Matchers for the exec calls the run makes, by what they run. */
export const isSystemdProbe = (args: unknown[]) => (args[1] as string[]).join(' ') === 'test -d /run/systemd/system';
export const isSystemdCheck = (args: unknown[]) => String((args[1] as string[])[2]).includes('is-system-running');
export const isUnitCheck = (unit: string) => (args: unknown[]) => {
  const argv = args[1] as string[];
  return argv[0] === 'systemctl' && argv[1] === 'show' && argv.at(-1) === unit;
};
export const isEvidence = (args: unknown[]) => (args[1] as string[])[3] === 'safeupdate-evidence';
export const isCommand = (command: string[]) => (args: unknown[]) => JSON.stringify(args[1]) === JSON.stringify(command);

export function systemdOutput(state: string, failed: string[] = [], jobs = 0): ExecResult {
  return execResult({ stdout: `${state}\n---\n${failed.map((u) => `${u}\n`).join('')}---\n${jobs}\n` });
}

export function unitOutput(active: string, sub: string, invocation = 'inv-1', result = 'success'): ExecResult {
  return execResult({ stdout: `LoadState=loaded\nActiveState=${active}\nSubState=${sub}\nResult=${result}\nInvocationID=${invocation}\nNRestarts=0\nJob=\n` });
}

export const isRestartDue = (args: unknown[]) => (args[1] as string[])[2] === RESTART_DUE_SCRIPT;
/** Matches the package inventory's exec (packages/inventory.ts). */
export const isInventory = (args: unknown[]) => (args[1] as string[])[2] === INVENTORY_SCRIPT;
/** After a restart: does the instance run commands again (`true`)? */
export const isAnswerProbe = (args: unknown[]) => JSON.stringify(args[1]) === '["true"]';

/**
 * What the restart check prints: `reboot-required` and its packages, then the deleted mappings
 * (`pid path` pairs become grep -H lines), then the names of those processes.
 */
export function restartDueOutput(due: { packages?: string[] | null; maps?: Array<[number, string, string]> } = {}): ExecResult {
  const head = due.packages ? ['reboot-required', ...due.packages] : [];
  const maps = (due.maps ?? []).map(([pid, , path], i) => `/proc/${pid}/maps:7f00000${i}000-7f00000${i}fff r-xp 00000000 fd:01 ${1000 + i}                    ${path} (deleted)`);
  const names = [...new Map((due.maps ?? []).map(([pid, command]) => [pid, `${pid} ${command}`])).values()];
  return execResult({ stdout: [...head, '--- deleted', ...maps, '--- comm', ...names, ''].join('\n') });
}
