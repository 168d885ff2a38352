import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import type { ClientName } from '../../src/lxd/dialect.js';
import type { Report } from '../../src/report/report.js';
import { processExists } from '../support/process.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const LAB = join(ROOT, 'scripts/lab');
export const BIN = join(ROOT, 'bin/safeupdate.js');

/**
 * The CLI the stories run: the npm package's bin on this Node, or the executable that
 * SAFEUPDATE_E2E_BIN names (the release's single executable, test/e2e/executable.test.ts), read at
 * each call so that a file can set it in its beforeAll.
 */
function cli(args: string[]): [string, string[]] {
  const executable = process.env.SAFEUPDATE_E2E_BIN;
  if (executable) return [executable, args];
  if (!existsSync(join(ROOT, 'dist/bundle/main.js'))) throw new Error('dist/ is missing: run "npm run build" (npm test does)');
  return ['node', [BIN, ...args]];
}

/** Every instance an end-to-end test makes starts with this, so leftovers can be found and removed. */
export const E2E_PREFIX = 'sue2e-';
export const UPGRADE = ['sh', '-c', 'apt-get update -q && apt-get upgrade -y'];
/** The lab's snapshot server: a second LXD daemon on loopback (scripts/lab up). */
export const BACKUP_REMOTE = 'labbackup';

/** The instances this test file made, with the client whose daemon holds each. */
const created = new Map<string, ClientName>();

/** `sue2e-<pid>-<story>-<random>`: the pid tells a leftover of a dead run from an instance in use. */
export function uniqueName(story: string): string {
  return `${E2E_PREFIX}${process.pid}-${story}-${randomBytes(3).toString('hex')}`;
}

/** The pid in an end-to-end name, where it has one. */
export function ownerPid(name: string): number | null {
  const match = new RegExp(`^${E2E_PREFIX}(\\d+)-`).exec(name);
  return match ? Number(match[1]) : null;
}

/** Whether the process that owns an end-to-end name (see `ownerPid`) still runs. */
export function alive(pid: number | null): boolean {
  return pid !== null && processExists(pid);
}

export interface LxdSnapshot {
  name: string;
  expires_at: string;
}

/**
 * The lab's helpers on one daemon: LXD through `lxc` (the plain exports below), or Incus through
 * `incus` (`labOn('incus')`), which runs beside it with the same image.
 */
export function labOn(client: ClientName) {
  const env = { LAB_CLIENT: client };
  const run = async (...args: string[]): Promise<string> => (await execa(client, args, { stdin: 'ignore' })).stdout;

  /** A running lab container with safeupdate-demo 1.0 installed and its service up. */
  async function launch(story: string, pool?: string): Promise<string> {
    const name = uniqueName(story);
    created.set(name, client);
    await execa(LAB, ['launch', name, ...(pool ? [pool] : [])], { stdin: 'ignore', env });
    return name;
  }

  /** Serves exactly these demo versions from the container's apt repository. */
  async function publish(name: string, ...versions: string[]): Promise<void> {
    await execa(LAB, ['publish', name, ...versions], { stdin: 'ignore', env });
  }

  /**
   * Installs Debian's unattended-upgrades into the container (offline, from the lab's cached
   * repository) and lets it upgrade the demo packages (origin safeupdate-lab-demo); apt's daily
   * timers stay off, so it runs only when a test runs it.
   */
  async function unattended(name: string): Promise<void> {
    await execa(LAB, ['unattended', name], { stdin: 'ignore', env });
  }

  async function demoVersion(name: string): Promise<string> {
    return run('exec', name, '--', 'dpkg-query', '-W', '-f=${Version}', 'safeupdate-demo');
  }

  async function unitState(name: string, unit = 'safeupdate-demo'): Promise<string> {
    return (await execa(client, ['exec', name, '--', 'systemctl', 'is-active', unit], { reject: false, stdin: 'ignore' })).stdout.trim();
  }

  /** The unit's state once it has settled: a restart right after a rollback may still be under way. */
  async function settledUnitState(name: string, unit = 'safeupdate-demo', timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await unitState(name, unit);
      // '' is no state: systemd in a container that has just started may not answer on its bus yet.
      if (!['', 'activating', 'inactive', 'reloading', 'deactivating'].includes(state) || Date.now() > deadline) return state;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async function status(name: string): Promise<string> {
    return JSON.parse(await run('query', `/1.0/instances/${name}`)).status as string;
  }

  /** `name` may be `remote:name`. */
  async function snapshots(name: string): Promise<LxdSnapshot[]> {
    const [remote, bare] = name.includes(':') ? name.split(':') : ['', name];
    return JSON.parse(await run('query', `${remote ? `${remote}:` : ''}/1.0/instances/${bare}/snapshots?recursion=1`)) as LxdSnapshot[];
  }

  /** Every snapshot of every instance on the daemon, by instance/snapshot. */
  async function allSnapshots(): Promise<string[]> {
    const instances = JSON.parse(await run('query', '/1.0/instances?recursion=1')) as Array<{ name: string }>;
    const lists = await Promise.all(instances.map(async (i) => (await snapshots(i.name)).map((s) => `${i.name}/${s.name}`)));
    return lists.flat().sort();
  }

  return { client, run, launch, publish, unattended, demoVersion, unitState, settledUnitState, status, snapshots, allSnapshots };
}

const onLxd = labOn('lxc');
export const { launch, publish, unattended, demoVersion, unitState, settledUnitState, status, snapshots, allSnapshots } = onLxd;
export const lxc = onLxd.run;

/** A loopback port that was free a moment ago: the kernel's choice for a listen on port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Exposes the demo service (127.0.0.1:8080 inside) on a free host loopback port through the proxy
 * device `device`, and returns the port. Another program may take a free port before LXD binds
 * it; LXD then refuses the device ("Failed to start device"), and another port is tried.
 */
export async function exposeDemo(name: string, device = 'web'): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await lxc('config', 'device', 'add', name, device, 'proxy', `listen=tcp:127.0.0.1:${port}`, 'connect=tcp:127.0.0.1:8080');
      return port;
    } catch (error) {
      if (attempt === 5 || !String(error).includes('Failed to start device')) throw error;
    }
  }
}

/** Marks an instance that safeupdate made (a --keep-failed copy) for deletion after the test. */
export function track(name: string, client: ClientName = 'lxc'): void {
  created.set(name, client);
}

/** Deletes the instances this test file made, snapshots and all: on a dir pool each is a full rootfs copy. */
export async function removeAll(): Promise<void> {
  for (const [name, client] of created) {
    if (!name.split(':').at(-1)!.startsWith(E2E_PREFIX)) throw new Error(`refusing to delete ${name}: not an end-to-end instance`);
    await execa(client, ['delete', '--force', name], { reject: false });
    created.delete(name);
  }
}

export interface SafeupdateResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stateDir: string;
  durationMs: number;
  /** The JSON report, where --json was given. */
  report: Report | null;
}

/** Runs the real CLI, as an operator or a CI job would, with its own state folder. */
export async function safeupdate(args: string[], env: Record<string, string> = {}): Promise<SafeupdateResult> {
  const [command, argv] = cli(args);
  const stateDir = env.SAFEUPDATE_STATE_DIR ?? (await mkdtemp(join(tmpdir(), 'safeupdate-e2e-')));
  const started = Date.now();
  const result = await execa(command, argv, { reject: false, env: { SAFEUPDATE_STATE_DIR: stateDir, ...env }, stdin: 'ignore' });
  const report = args.includes('--json') && result.stdout.trim().startsWith('{') ? (JSON.parse(result.stdout) as Report) : null;
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr, stateDir, durationMs: Date.now() - started, report };
}

export interface RunningSafeupdate {
  pid: number;
  stateDir: string;
  /** Resolves once the run has printed this on stderr (its progress), rejects after `timeoutMs`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code and everything printed. */
  result: Promise<{ exitCode: number; stdout: string; stderr: string; durationMs: number }>;
}

/**
 * Starts the real CLI in the background, for tests that interrupt or kill it. `ownGroup`: in a
 * process group of its own, as a shell's foreground job, so that a test can signal the whole group
 * as a terminal's Ctrl+C does.
 */
export async function startSafeupdate(args: string[], options: { ownGroup?: boolean; stateDir?: string } = {}): Promise<RunningSafeupdate> {
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'safeupdate-e2e-')));
  const started = Date.now();
  const [command, argv] = cli(args);
  const child = execa(command, argv, { reject: false, env: { SAFEUPDATE_STATE_DIR: stateDir }, stdin: 'ignore', detached: options.ownGroup ?? false });
  let stderr = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters.filter((w) => stderr.includes(w.text))) waiter.resolve();
  });
  return {
    pid: child.pid!,
    stateDir,
    waitFor: (text, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        const timer = setTimeout(() => reject(new Error(`"${text}" did not appear within ${timeoutMs} ms; stderr so far:\n${stderr}`)), timeoutMs);
        waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
      }),
    result: child.then((r) => ({ exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr, durationMs: Date.now() - started })),
  };
}
