import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Options as ExecaOptions } from 'execa';
import { LxdError } from '../errors.js';
import { instancePath, NEVER_EXPIRES, profilePath, toCertificate, toInstance, toServerInfo, toSnapshot, withQuery, type RawCertificate, type RawInstance, type RawProfile, type RawResources, type RawServer, type RawSnapshot, type RawState } from './api.js';
import { LXC, type Dialect } from './dialect.js';
import type { RestApi } from './rest.js';
import type { DeviceConfig, ExecOptions, ExecResult, Instance, InstanceRef, ListedInstance, Lxd, LxdCall, Profile, ProfileRef, ServerApi, ServerInfo, Snapshot, TrustedCertificate } from './lxd.js';
import { shellJoin } from '../shell.js';

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

/** execa (ESM only) loads with the first call to LXD: `--help` never needs it. */
const loadExeca = () => import('execa');

/** What a terminal sends to its foreground process group. */
const GROUP_SIGNALS = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);

/**
 * `Lxd` over LXD's (Incus') REST API: directly where the remote allows it (the local socket, HTTPS
 * with the client's certificate; see RestApi), else through the command-line client's `query`.
 * The update command (`exec`), files, devices and copies between servers always go through the
 * client: a terminal, streaming output, signals and migrations are what it does well.
 */
export class LxcClient implements Lxd {
  readonly dialect: Dialect;
  private readonly binary: string;
  private readonly callTimeoutMs: number;
  private readonly storageTimeoutMs: number;
  private readonly onCall: (call: LxdCall) => void;
  private readonly loadApi: () => Promise<RestApi | null>;
  private api: Promise<RestApi | null> | undefined;

  constructor(options: LxcClientOptions = {}) {
    this.dialect = options.dialect ?? LXC;
    this.binary = options.binary ?? this.dialect.client;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.storageTimeoutMs = options.storageTimeoutMs ?? 30 * 60_000;
    this.onCall = options.onCall ?? (() => {});
    this.loadApi = options.api ?? (async () => null);
  }

  async checkReachable(remote: string | null): Promise<ServerApi> {
    const raw = (await this.query(remote, '/1.0')) as { api_extensions?: string[]; environment?: { server?: string; server_version?: string } };
    return { server: raw.environment?.server ?? null, version: raw.environment?.server_version ?? null, extensions: raw.api_extensions ?? [] };
  }

  async defaultRemote(): Promise<string> {
    const api = await this.restApi();
    if (api) return api.defaultRemote;
    return (await this.run(['remote', 'get-default'], this.callTimeoutMs)).trim();
  }

  async resolveRef(ref: InstanceRef): Promise<InstanceRef> {
    const remote = ref.remote ?? (await this.defaultRemote());
    if (ref.project !== null) return { ...ref, remote };
    const direct = await this.direct(remote);
    if (direct) return { ...ref, remote, project: direct.api.currentProject(remote) };
    // The client's current project of that remote is marked "(current)" in its project list.
    const csv = await this.run(['project', 'list', `${remote}:`, '--format', 'csv'], this.callTimeoutMs);
    const current = csv.split('\n').map((line) => line.split(',')[0] ?? '').find((name) => name.endsWith(' (current)'));
    return { ...ref, remote, project: current ? current.slice(0, -' (current)'.length) : 'default' };
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

  async refreshCopy(ref: InstanceRef, remote: string): Promise<void> {
    const targetProject = ref.project === null ? [] : ['--target-project', ref.project];
    await this.run(['copy', target(ref), `${remote}:${ref.name}`, '--refresh', ...projectFlag(ref), ...targetProject], this.storageTimeoutMs);
  }

  async copyInstance(ref: InstanceRef, target: string): Promise<void> {
    const remotePrefix = ref.remote === null ? '' : `${ref.remote}:`;
    await this.run(['copy', `${remotePrefix}${ref.name}`, `${remotePrefix}${target}`, '--instance-only', ...projectFlag(ref)], this.storageTimeoutMs);
    // A post-mortem copy must never come up by itself, not even when the host boots.
    await this.run(['config', 'set', `${remotePrefix}${target}`, 'boot.autostart=false', ...projectFlag(ref)], this.callTimeoutMs);
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
    await this.request(ref.remote, 'POST', `/1.0/instances${project}`, body, this.storageTimeoutMs);
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
    await this.request(ref.remote, 'DELETE', instancePath(ref, ''), undefined, this.storageTimeoutMs);
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
    await this.request(ref.remote, 'POST', instancePath(ref, '/snapshots'), body, this.storageTimeoutMs);
  }

  async restoreSnapshot(ref: InstanceRef, name: string): Promise<void> {
    // Through the API, which LXD and Incus share: their clients name this command differently
    // (`lxc restore`, `incus snapshot restore`).
    await this.request(ref.remote, 'PUT', instancePath(ref, ''), { restore: name }, this.storageTimeoutMs);
  }

  async deleteSnapshot(ref: InstanceRef, name: string): Promise<void> {
    // The API path always ends in /snapshots/<name>: unlike `lxc delete NAME[/SNAP]`, a missing or
    // empty snapshot name cannot turn this into the deletion of the instance.
    if (name === '' || name.includes('/')) throw new LxdError(`refusing to delete snapshot "${name}": not a snapshot name`, 'failed', []);
    await this.request(ref.remote, 'DELETE', instancePath(ref, `/snapshots/${encodeURIComponent(name)}`), undefined, this.storageTimeoutMs);
  }

  async setConfig(ref: InstanceRef, entries: Record<string, string | null>): Promise<void> {
    const direct = await this.direct(ref.remote);
    if (direct) {
      await this.updateInstanceConfig(direct, instancePath(ref, ''), entries);
      return;
    }
    const set = Object.entries(entries).filter(([, value]) => value !== null).map(([key, value]) => `${key}=${value}`);
    // The client refuses to unset a key that is not set: unset only what is there, so that this is idempotent.
    const present = Object.values(entries).includes(null) ? await this.getConfig(ref) : {};
    const unset = Object.entries(entries).filter(([key, value]) => value === null && key in present).map(([key]) => key);
    if (set.length) await this.run(['config', 'set', target(ref), ...set, ...projectFlag(ref)], this.callTimeoutMs);
    for (const key of unset) await this.run(['config', 'unset', target(ref), key, ...projectFlag(ref)], this.callTimeoutMs);
  }

  async getConfig(ref: InstanceRef): Promise<Record<string, string>> {
    const raw = (await this.query(ref.remote, instancePath(ref, ''))) as RawInstance;
    return raw.config ?? {};
  }

  async stopInstance(ref: InstanceRef, options: { force: boolean }): Promise<void> {
    // timeout -1: a graceful stop waits for the instance as long as `lxc stop` does (the call's bound applies).
    await this.write(ref.remote, 'PUT', instancePath(ref, '/state'), { action: 'stop', force: options.force, timeout: -1 }, ['stop', target(ref), ...projectFlag(ref), ...(options.force ? ['--force'] : [])]);
  }

  async startInstance(ref: InstanceRef): Promise<void> {
    await this.write(ref.remote, 'PUT', instancePath(ref, '/state'), { action: 'start', timeout: -1 }, ['start', target(ref), ...projectFlag(ref)]);
  }

  async exec(ref: InstanceRef, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const envFlags = Object.entries(options.env ?? {}).flatMap(([key, value]) => ['--env', `${key}=${value}`]);
    const args = [
      'exec', target(ref), ...projectFlag(ref), ...envFlags,
      ...(options.interactive ? ['-t'] : ['-T', '-n']),
      '--', ...argv,
    ];
    const started = performance.now();
    // script(1) sits between the terminal and the client to keep a transcript: the client still
    // sees a terminal, the operator still answers apt's questions, and the log gets the output.
    const [file, fileArgs] = options.interactive && options.transcript
      ? ['script', ['-q', '-e', '-f', '--log-out', options.transcript, '-c', shellJoin([this.binary, ...args])]]
      : [this.binary, args];
    const { execa } = await loadExeca();
    const child = execa(file, fileArgs, {
      reject: false,
      // script(1) runs its -c string with $SHELL, which may be fish or csh: the quoting is POSIX sh's.
      ...(file === 'script' ? { env: { SHELL: '/bin/sh' } } : {}),
      // Non-interactive, the client gets its own process group: the terminal's Ctrl+C is safeupdate's
      // to interpret (it ends the command by killing the client). Interactive, the command owns the
      // terminal and gets Ctrl+C itself, as the operator expects.
      detached: !options.interactive,
      stdin: options.interactive ? 'inherit' : 'ignore',
      stdout: options.interactive ? 'inherit' : 'pipe',
      stderr: options.interactive ? 'inherit' : 'pipe',
      // SIGKILL of the client makes LXD end the command inside; a gentler signal is forwarded into
      // the container, where apt ignores SIGINT while a maintainer script runs.
      killSignal: 'SIGKILL',
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
      ...(options.signal ? { cancelSignal: options.signal } : {}),
    } satisfies ExecaOptions);
    if (options.onOutput && !options.interactive) {
      child.stdout?.on('data', (chunk: Buffer) => options.onOutput!(chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => options.onOutput!(chunk.toString()));
    }
    const result = await child;
    // A client killed while it held the terminal in raw mode cannot restore it: leave it sane.
    if (options.interactive && process.stdin.isTTY && (result.timedOut || result.isCanceled)) {
      await execa('stty', ['sane'], { stdin: 'inherit', reject: false });
    }
    this.onCall({ command: [this.binary, ...args], durationMs: Math.round(performance.now() - started), ok: result.exitCode === 0, process: true });
    if (result.code === 'ENOENT') throw new LxdError(`the "${file}" command is not installed`, 'unreachable', [file, ...fileArgs]);
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    // The client's own failures (daemon gone, instance stopped) also exit 1 with "Error: …" on stderr;
    // they are not told apart from the command's here: either way the command did not succeed.
    const killed = result.timedOut || result.isCanceled;
    return {
      exitCode: killed ? null : (result.exitCode ?? null),
      signal: result.signal ?? null,
      timedOut: result.timedOut,
      canceled: result.isCanceled,
      stdout: typeof result.stdout === 'string' ? result.stdout : '',
      stderr,
    };
  }

  async pushFile(ref: InstanceRef, path: string, content: string, mode: number): Promise<void> {
    if (!path.startsWith('/')) throw new LxdError(`refusing to push to "${path}": not an absolute path`, 'failed', []);
    // The client pushes files, not bytes: a private folder on the host holds the content meanwhile.
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-push-'));
    try {
      const file = join(dir, 'content');
      await writeFile(file, content, { mode: 0o600 });
      await chmod(file, 0o600);
      const octal = mode.toString(8).padStart(4, '0');
      await this.run(['file', 'push', '--quiet', '--uid', '0', '--gid', '0', '--mode', octal, file, `${target(ref)}${path}`, ...projectFlag(ref)], this.callTimeoutMs);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async readFile(ref: InstanceRef, path: string, limits: { maxBytes: number; timeoutMs: number }): Promise<string | null> {
    if (!path.startsWith('/')) throw new LxdError(`refusing to read "${path}": not an absolute path`, 'failed', []);
    const direct = await this.direct(ref.remote);
    if (direct) return direct.api.readFile(direct.remote, instancePath(ref, '/files', `path=${encodeURIComponent(path)}`), limits);
    let content: string;
    try {
      content = await this.run(['file', 'pull', `${target(ref)}${path}`, '-', ...projectFlag(ref)], limits.timeoutMs);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return null;
      throw error;
    }
    if (Buffer.byteLength(content) > limits.maxBytes) throw new LxdError(`${path}: more than ${limits.maxBytes} bytes`, 'failed', []);
    return content;
  }

  async removeFile(ref: InstanceRef, path: string): Promise<void> {
    if (!path.startsWith('/') || path === '/') throw new LxdError(`refusing to remove "${path}": not an absolute path below /`, 'failed', []);
    try {
      await this.run(['file', 'delete', `${target(ref)}${path}`, ...projectFlag(ref)], this.callTimeoutMs);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return;
      throw error;
    }
  }

  async addDevice(ref: InstanceRef, name: string, device: DeviceConfig): Promise<void> {
    const { type, ...settings } = device;
    if (!type) throw new LxdError(`device ${name}: no type`, 'failed', []);
    const entries = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
    await this.run(['config', 'device', 'add', target(ref), name, type, ...entries, ...projectFlag(ref)], this.callTimeoutMs);
  }

  async removeDevice(ref: InstanceRef, name: string): Promise<void> {
    await this.run(['config', 'device', 'remove', target(ref), name, ...projectFlag(ref)], this.callTimeoutMs);
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
    await this.request(remote, 'POST', '/1.0/certificates', body);
  }

  async deleteCertificate(remote: string | null, fingerprint: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new LxdError(`refusing to delete certificate "${fingerprint}": not a SHA-256 fingerprint`, 'failed', []);
    await this.request(remote, 'DELETE', `/1.0/certificates/${fingerprint}`);
  }

  async createProfile(profile: ProfileRef, description: string, config: Record<string, string>): Promise<boolean> {
    // One POST carries the config: created with it, or not at all (`lxc profile create` then `set`
    // would leave an empty profile behind a crash in between).
    const body = { name: profile.name, description, config };
    try {
      await this.request(profile.remote, 'POST', profilePath(profile, ''), body);
      return true;
    } catch (error) {
      // LXD 5.0: "Error inserting "NAME" into database: The profile already exists".
      if (error instanceof LxdError && /already exists/i.test(error.message)) return false;
      throw error;
    }
  }

  async getProfile(profile: ProfileRef): Promise<Profile | null> {
    try {
      const { metadata, etag } = await this.read(profile.remote, profilePath(profile, `/${encodeURIComponent(profile.name)}`));
      const raw = metadata as RawProfile;
      return { description: raw.description ?? '', config: raw.config ?? {}, usedBy: raw.used_by ?? [], etag };
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return null;
      throw error;
    }
  }

  async setProfileConfig(profile: ProfileRef, entries: Record<string, string>, ifMatch: string | null = null): Promise<void> {
    const direct = await this.direct(profile.remote);
    if (direct) {
      // One PATCH, merged on the server; with the ETag of the caller's read, refused (412) if the
      // profile changed since.
      const path = profilePath(profile, `/${encodeURIComponent(profile.name)}`);
      await direct.api.request(direct.remote, 'PATCH', path, { body: { config: entries }, timeoutMs: this.callTimeoutMs, ...(ifMatch ? { ifMatch } : {}) });
      return;
    }
    const set = Object.entries(entries).map(([key, value]) => `${key}=${value}`);
    await this.run(['profile', 'set', target(profile), ...set, ...projectFlag(profile)], this.callTimeoutMs);
  }

  async renameProfile(profile: ProfileRef, to: string): Promise<boolean> {
    try {
      await this.write(profile.remote, 'POST', profilePath(profile, `/${encodeURIComponent(profile.name)}`), { name: to }, ['profile', 'rename', target(profile), to, ...projectFlag(profile)]);
      return true;
    } catch (error) {
      // LXD 5.0 answers the rename of a profile that is gone with "Query affected 0 rows instead of 1".
      if (error instanceof LxdError && (error.kind === 'not-found' || /affected 0 rows/i.test(error.message))) return false;
      throw error;
    }
  }

  async deleteProfile(profile: ProfileRef): Promise<void> {
    try {
      await this.write(profile.remote, 'DELETE', profilePath(profile, `/${encodeURIComponent(profile.name)}`), undefined, ['profile', 'delete', target(profile), ...projectFlag(profile)]);
    } catch (error) {
      if (error instanceof LxdError && error.kind === 'not-found') return;
      throw error;
    }
  }

  private async query(remote: string | null, path: string): Promise<unknown> {
    return (await this.read(remote, path)).metadata;
  }

  /** A GET with the resource's ETag, which only the direct API tells (null through the client). */
  private async read(remote: string | null, path: string): Promise<{ metadata: unknown; etag: string | null }> {
    const direct = await this.direct(remote);
    if (direct) return direct.api.request(direct.remote, 'GET', path, { timeoutMs: this.callTimeoutMs });
    return { metadata: JSON.parse(await this.run(['query', remotePath(remote, path)], this.callTimeoutMs)) as unknown, etag: null };
  }

  /** One API write, directly where the remote allows it, else through `lxc query`; an operation is waited on either way. */
  private async request(remote: string | null, method: string, path: string, body?: unknown, timeoutMs = this.callTimeoutMs): Promise<void> {
    const direct = await this.direct(remote);
    if (direct) {
      await direct.api.request(direct.remote, method, path, { body, timeoutMs });
      return;
    }
    const data = body === undefined ? [] : ['--data', JSON.stringify(body)];
    await this.run(['query', '--wait', '-X', method, ...data, remotePath(remote, path)], timeoutMs);
  }

  /** A change through the API where the remote is reached directly, else through the client's own command for it. */
  private async write(remote: string | null, method: string, path: string, body: unknown, clientArgs: string[]): Promise<void> {
    const direct = await this.direct(remote);
    if (direct) await direct.api.request(direct.remote, method, path, { body, timeoutMs: this.callTimeoutMs });
    else await this.run(clientArgs, this.callTimeoutMs);
  }

  /**
   * As `lxc config set|unset` does it: read the instance, change its config, write it back with
   * If-Match, read again after a lost race (412). Not a PATCH: LXD's instance PATCH drops the
   * description it is not given, and newer LXD keeps an empty value (masking a profile's) where
   * unset removes the key.
   */
  private async updateInstanceConfig(direct: { api: RestApi; remote: string }, path: string, entries: Record<string, string | null>): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const read = await direct.api.request(direct.remote, 'GET', path, { timeoutMs: this.callTimeoutMs });
      const current = read.metadata as RawInstance & { architecture?: string; devices?: unknown; profiles?: string[]; stateful?: boolean; description?: string };
      const config = { ...(current.config ?? {}) };
      for (const [key, value] of Object.entries(entries)) {
        if (value === null) delete config[key];
        else config[key] = value;
      }
      const body = { architecture: current.architecture, config, devices: current.devices, ephemeral: current.ephemeral, profiles: current.profiles, stateful: current.stateful, description: current.description };
      try {
        await direct.api.request(direct.remote, 'PUT', path, { body, timeoutMs: this.callTimeoutMs, ...(read.etag ? { ifMatch: read.etag } : {}) });
        return;
      } catch (error) {
        if (!(error instanceof LxdError && error.httpStatus === 412) || attempt === 3) throw error;
      }
    }
  }

  private async restApi(): Promise<RestApi | null> {
    this.api ??= this.loadApi();
    return this.api;
  }

  /** The REST API and the remote's name, when the remote is reached directly; null: through the client. */
  private async direct(remote: string | null): Promise<{ api: RestApi; remote: string } | null> {
    const api = await this.restApi();
    if (!api) return null;
    const name = remote ?? api.defaultRemote;
    return api.serves(name) ? { api, remote: name } : null;
  }

  private async run(args: string[], timeoutMs: number): Promise<string> {
    const command = [this.binary, ...args];
    const started = performance.now();
    // Its own process group: a Ctrl+C at the terminal must not kill a restore or a snapshot half-way
    // (the client dies, LXD goes on, and the step would be reported as failed). safeupdate alone
    // decides what a signal means.
    const { execa } = await loadExeca();
    const call = () => execa(this.binary, args, { reject: false, timeout: timeoutMs, killSignal: 'SIGKILL', stdin: 'ignore', detached: true });
    let result = await call();
    // A terminal's signal that lands between fork and setsid still reaches the child, which then dies
    // before it runs: nothing reached LXD, so it is run again. After setsid it cannot be reached.
    if (!result.timedOut && GROUP_SIGNALS.has(result.signal ?? '')) result = await call();
    this.onCall({ command, durationMs: Math.round(performance.now() - started), ok: result.exitCode === 0, process: true });
    if (result.code === 'ENOENT') throw new LxdError(`the "${this.binary}" client is not installed`, 'unreachable', command);
    if (result.timedOut) {
      throw new LxdError(`${this.dialect.server} did not answer within ${Math.round(timeoutMs / 1000)}s (${command.join(' ')})`, 'timeout', command);
    }
    if (result.exitCode !== 0) throw classify(String(result.stderr), command, this.dialect);
    return String(result.stdout);
  }
}

function target(ref: { remote: string | null; name: string }): string {
  return ref.remote === null ? ref.name : `${ref.remote}:${ref.name}`;
}

function projectFlag(ref: { project: string | null }): string[] {
  return ref.project === null ? [] : ['--project', ref.project];
}

function remotePath(remote: string | null, path: string): string {
  return remote === null ? path : `${remote}:${path}`;
}

const UNREACHABLE = /connect: no such file|connection refused|dial unix|dial tcp|no route to host|i\/o timeout|Remote .* doesn't exist|certificate|The (LXD|incus) daemon doesn't appear to be started/i;

function classify(stderr: string, command: string[], dialect: Dialect): LxdError {
  const message = stderr.trim().replace(/^Error: /, '') || `${command.join(' ')} failed`;
  if (UNREACHABLE.test(stderr)) {
    // A remote the client does not know is often one configured for the other client, or in another folder.
    const where = /remote .* doesn't exist/i.test(stderr) ? ` (${dialect.client} reads its remotes from $${dialect.configEnv}, else ${dialect.configDir})` : '';
    return new LxdError(`${dialect.server} is not reachable: ${message}${where}`, 'unreachable', command);
  }
  // LXD says "not found"; Incus also "file does not exist" (a file delete) and "Snapshot … does not exist".
  if (/not found|does not exist/i.test(stderr)) return new LxdError(message, 'not-found', command);
  return new LxdError(message, 'failed', command);
}
