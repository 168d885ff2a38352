import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Options as ExecaOptions } from 'execa';
import { LxdError } from '../errors.js';
import type { Dialect } from './dialect.js';
import type { DeviceConfig, ExecOptions, ExecResult, InstanceRef, LxdCall, ProfileRef } from './lxd.js';
import type { RestAnswer } from './rest.js';
import { shellJoin } from '../shell.js';

/** execa (ESM only) loads with the first call to LXD: `--help` never needs it. */
const loadExeca = () => import('execa');

/** What a terminal sends to its foreground process group. */
const GROUP_SIGNALS = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);

/**
 * The command-line client (`lxc` or `incus`), one process per call: what only the client does well
 * (see LxcClient), and the API's calls through `lxc query` where the REST API does not reach the
 * remote (see Transports).
 */
export class ClientTransport {
  constructor(
    private readonly dialect: Dialect,
    private readonly binary: string,
    private readonly callTimeoutMs: number,
    private readonly storageTimeoutMs: number,
    private readonly onCall: (call: LxdCall) => void,
  ) {}

  /** A GET through `lxc query`, which tells no ETag. */
  async query(remote: string | null, path: string, timeoutMs: number): Promise<RestAnswer> {
    return { metadata: JSON.parse(await this.run(['query', remotePath(remote, path)], timeoutMs)) as unknown, etag: null };
  }

  /** One API write through `lxc query`; an operation is waited on. */
  async queryWait(remote: string | null, method: string, path: string, body: unknown, timeoutMs: number): Promise<void> {
    const data = body === undefined ? [] : ['--data', JSON.stringify(body)];
    await this.run(['query', '--wait', '-X', method, ...data, remotePath(remote, path)], timeoutMs);
  }

  async defaultRemote(): Promise<string> {
    return (await this.run(['remote', 'get-default'], this.callTimeoutMs)).trim();
  }

  async currentProject(remote: string): Promise<string> {
    // The client's current project of that remote is marked "(current)" in its project list.
    const csv = await this.run(['project', 'list', `${remote}:`, '--format', 'csv'], this.callTimeoutMs);
    const current = csv.split('\n').map((line) => line.split(',')[0] ?? '').find((name) => name.endsWith(' (current)'));
    return current ? current.slice(0, -' (current)'.length) : 'default';
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

  /** `present`: the instance's config as read, when a key is to be unset. */
  async setConfig(ref: InstanceRef, entries: Record<string, string | null>, present: Record<string, string>): Promise<void> {
    const set = Object.entries(entries).filter(([, value]) => value !== null).map(([key, value]) => `${key}=${value}`);
    // The client refuses to unset a key that is not set: unset only what is there, so that this is idempotent.
    const unset = Object.entries(entries).filter(([key, value]) => value === null && key in present).map(([key]) => key);
    if (set.length) await this.run(['config', 'set', target(ref), ...set, ...projectFlag(ref)], this.callTimeoutMs);
    for (const key of unset) await this.run(['config', 'unset', target(ref), key, ...projectFlag(ref)], this.callTimeoutMs);
  }

  async setProfileConfig(profile: ProfileRef, entries: Record<string, string>): Promise<void> {
    const set = Object.entries(entries).map(([key, value]) => `${key}=${value}`);
    await this.run(['profile', 'set', target(profile), ...set, ...projectFlag(profile)], this.callTimeoutMs);
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

  /** `waitSeconds`: how long a clean stop may take (`--timeout`); `callTimeoutMs` bounds the client then. */
  async stopInstance(ref: InstanceRef, options: { force: boolean; waitSeconds?: number; callTimeoutMs?: number }): Promise<void> {
    const wait = options.waitSeconds === undefined ? [] : ['--timeout', String(options.waitSeconds)];
    await this.run(['stop', target(ref), ...projectFlag(ref), ...(options.force ? ['--force'] : []), ...wait], options.callTimeoutMs ?? this.callTimeoutMs);
  }

  async startInstance(ref: InstanceRef): Promise<void> {
    await this.run(['start', target(ref), ...projectFlag(ref)], this.callTimeoutMs);
  }

  async renameProfile(profile: ProfileRef, to: string): Promise<void> {
    await this.run(['profile', 'rename', target(profile), to, ...projectFlag(profile)], this.callTimeoutMs);
  }

  async deleteProfile(profile: ProfileRef): Promise<void> {
    await this.run(['profile', 'delete', target(profile), ...projectFlag(profile)], this.callTimeoutMs);
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
