import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LxdError } from '../../../src/errors.js';
import { LxcClient } from '../../../src/lxd/lxc-client.js';
import type { InstanceRef, LxdCall } from '../../../src/lxd/lxd.js';
import { useLxcStandIn, type StandInAnswer as Answer } from '../../support/lxc-stand-in.js';

// LxcClient against the stand-in `lxc` (test/fixtures/lxc-stand-in.cjs), for what lxc-client.test.ts
// leaves open: the default binary, answers LXD gives in odd shapes, what onCall is told of exec,
// the terminal after a killed interactive command, and how stderr is read into an error.

const standIn = useLxcStandIn('lxc-client-edges');
const { answer, calls } = standIn;

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the stand-in');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function lxdError(promise: Promise<unknown>): Promise<LxdError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(LxdError);
  return error as LxdError;
}

/** Sets environment variables for one test, restoring them afterwards. */
const saved = new Map<string, string | undefined>();
function setEnv(name: string, value: string): void {
  if (!saved.has(name)) saved.set(name, process.env[name]);
  process.env[name] = value;
}
afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
});

const json = (value: unknown): Answer => ({ stdout: `${JSON.stringify(value)}\n` });
const local: InstanceRef = { remote: null, name: 'web1', project: null };
const client = (onCall?: (call: LxdCall) => void) => new LxcClient({ binary: standIn.paths.binary, ...(onCall ? { onCall } : {}) });

describe('the client binary', () => {
  it('is "lxc" from the PATH unless told otherwise', async () => {
    setEnv('PATH', `${standIn.paths.binDir}:${process.env.PATH ?? ''}`);
    answer(json({}));
    const seen: LxdCall[] = [];
    await new LxcClient({ onCall: (call) => seen.push(call) }).checkReachable(null);
    expect(calls().map((c) => c.argv)).toEqual([['query', '/1.0']]);
    expect(seen.map((c) => c.command)).toEqual([['lxc', 'query', '/1.0']]);
  });
});

describe('answers in odd shapes', () => {
  it('an instance state without disks, or without a root disk, reports no usage', async () => {
    answer(json({ driver: 'dir' }), json({ space: { total: 100 } }), json({}), json({ driver: 'dir' }), json({ space: { total: 100 } }), json({ disk: {} }));
    expect(await client().getSpace(local, 'default', null)).toEqual({ driver: 'dir', freeBytes: 100, usedByInstanceBytes: null });
    expect(await client().getSpace(local, 'default', null)).toEqual({ driver: 'dir', freeBytes: 100, usedByInstanceBytes: null });
  });

  it('a snapshot of size 0 has size 0; only a negative size is "not reported"', async () => {
    answer(json([{ name: 's', created_at: 't', stateful: false, size: 0 }]));
    expect(await client().listSnapshots(local)).toEqual([{ name: 's', createdAt: 't', expiresAt: null, stateful: false, sizeBytes: 0 }]);
  });

  it('a snapshot name that is not one is refused with an exact message, and nothing was run', async () => {
    const error = await lxdError(client().deleteSnapshot(local, 'a/b'));
    expect(error.message).toBe('refusing to delete snapshot "a/b": not a snapshot name');
    expect(error.command).toEqual([]);
    expect(calls()).toEqual([]);
  });
});

describe('exec, as onCall and the result see it', () => {
  it('onCall is told the client command line, a plausible duration and whether it succeeded', async () => {
    answer({}, { exitCode: 3 });
    const seen: LxdCall[] = [];
    await client((call) => seen.push(call)).exec(local, ['true']);
    await client((call) => seen.push(call)).exec(local, ['false']);
    expect(seen.map(({ command, ok }) => ({ command, ok }))).toEqual([
      { command: [standIn.paths.binary, 'exec', 'web1', '-T', '-n', '--', 'true'], ok: true },
      { command: [standIn.paths.binary, 'exec', 'web1', '-T', '-n', '--', 'false'], ok: false },
    ]);
    for (const call of seen) {
      expect(call.durationMs).toBeGreaterThanOrEqual(0);
      expect(call.durationMs).toBeLessThan(60_000);
    }
  });

  it('the other calls are told a plausible duration too', async () => {
    answer({});
    const seen: LxdCall[] = [];
    await client((call) => seen.push(call)).startInstance(local);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(seen[0]!.durationMs).toBeLessThan(60_000);
  });

  it('a missing client: the exact message, and the command that could not run', async () => {
    const missing = join(standIn.paths.dir, 'no-such-lxc');
    const error = await lxdError(new LxcClient({ binary: missing }).exec(local, ['true']));
    expect(error.message).toBe(`the "${missing}" command is not installed`);
    expect(error.command).toEqual([missing, 'exec', 'web1', '-T', '-n', '--', 'true']);
  });

  it('non-interactive, the client keeps the operator\'s SHELL: only script(1) is given /bin/sh', async () => {
    setEnv('SHELL', '/usr/bin/fish');
    answer({});
    await client().exec(local, ['true']);
    expect(calls()[0]!.shell).toBe('/usr/bin/fish');
  });

  it('interactive, the output went to the terminal: the result has empty texts, not undefined', async () => {
    answer({});
    const result = await client().exec(local, ['true'], { interactive: true });
    expect(result).toEqual({ exitCode: 0, signal: null, timedOut: false, canceled: false, stdout: '', stderr: '' });
  });
});

describe('the terminal after an interactive command that was killed', () => {
  let sttyLog: string;
  let wasTTY: boolean | undefined;

  beforeEach(async () => {
    // A stand-in stty that notes how it was called; and stdin that says it is a terminal.
    const bin = join(standIn.paths.dir, `stty-${standIn.testNumber}`);
    await mkdir(bin);
    sttyLog = join(bin, 'calls');
    // As the real stty does where its stdin is no terminal (as here), it fails after noting its call.
    await writeFile(join(bin, 'stty'), `#!/bin/sh\necho "$* < $(readlink /proc/self/fd/0)" >> '${sttyLog}'\nexit 1\n`);
    await chmod(join(bin, 'stty'), 0o755);
    setEnv('PATH', `${bin}:${process.env.PATH ?? ''}`);
    wasTTY = process.stdin.isTTY;
  });
  afterEach(() => {
    Object.defineProperty(process.stdin, 'isTTY', { value: wasTTY, configurable: true, writable: true });
  });

  const sttyCalls = () => (existsSync(sttyLog) ? readFileSync(sttyLog, 'utf8').split('\n').filter(Boolean) : []);
  const terminal = (isTTY: boolean) => Object.defineProperty(process.stdin, 'isTTY', { value: isTTY, configurable: true, writable: true });

  async function cancelled(options: { interactive: boolean }) {
    answer({ delayMs: 30_000, ignoreSigterm: true });
    const controller = new AbortController();
    const running = client().exec(local, ['apt-get', 'upgrade'], { ...options, signal: controller.signal });
    await waitFor(() => calls().length === 1);
    controller.abort();
    return running;
  }

  it('is set sane again, on the terminal itself (stty reads its stdin), and a failing stty changes nothing', async () => {
    terminal(true);
    const result = await cancelled({ interactive: true });
    expect(result).toMatchObject({ canceled: true, exitCode: null });
    expect(sttyCalls()).toEqual([`sane < ${await readlink(`/proc/${process.pid}/fd/0`)}`]);
  }, 20_000);

  it('is left alone when the command ended by itself', async () => {
    terminal(true);
    answer({ exitCode: 1 });
    await client().exec(local, ['apt-get', 'upgrade'], { interactive: true });
    expect(sttyCalls()).toEqual([]);
  });

  it('is left alone when the command did not own it', async () => {
    terminal(true);
    await cancelled({ interactive: false });
    expect(sttyCalls()).toEqual([]);
  }, 20_000);

  it('is left alone when there is no terminal', async () => {
    terminal(false);
    await cancelled({ interactive: true });
    expect(sttyCalls()).toEqual([]);
  }, 20_000);
});

describe('how stderr becomes an error', () => {
  it('a remote the client does not know: LXD is not reachable', async () => {
    answer({ stderr: "Error: Remote backup doesn't exist\n", exitCode: 1 });
    const error = await lxdError(client().checkReachable('backup'));
    expect(error.kind).toBe('unreachable');
    expect(error.message).toBe("LXD is not reachable: Remote backup doesn't exist (lxc reads its remotes from $LXD_CONF, else ~/.config/lxc)");
  });

  it('only a leading "Error: " is dropped; what comes before an inner one stays', async () => {
    answer({ stderr: 'Warning: the config is old\nError: Instance not found\n', exitCode: 1 });
    const error = await lxdError(client().startInstance(local));
    expect(error.kind).toBe('not-found');
    expect(error.message).toBe('Warning: the config is old\nError: Instance not found');
  });
});
