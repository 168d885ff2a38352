import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckContext } from '../../../src/checks/check.js';
import { systemdAttempt } from '../../../src/checks/systemd-check.js';
import { FakeLxd } from '../../support/fake-lxd.js';

// The systemd check's script, run for real by sh against a stand-in systemctl: the script and the
// parser of its answer must agree on the answer's three parts (state, failed units, queued jobs).

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-systemd-script-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A stand-in systemctl that answers as a system in `state` with these failed units and jobs would. */
async function systemctl(state: string, failed: string[], jobs: number): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  const failedLines = failed.map((unit) => `printf '%s\\n' '${unit} loaded failed failed Something'`).join('; ') || 'true';
  const jobLines = Array.from({ length: jobs }, (_, i) => `printf '%s\\n' '${i + 1} nginx.service start waiting'`).join('; ') || 'true';
  await writeFile(join(bin, 'systemctl'), [
    '#!/bin/sh',
    'case "$*" in',
    `  is-system-running) echo ${state}; [ ${state} = running ] ;;`,
    `  "list-units --failed --plain --no-legend --no-pager") ${failedLines} ;;`,
    `  "list-jobs --no-legend --no-pager") ${jobLines} ;;`,
    '  *) echo "unexpected: systemctl $*" >&2; exit 64 ;;',
    'esac',
    '',
  ].join('\n'));
  await chmod(join(bin, 'systemctl'), 0o755);
  return bin;
}

/** A FakeLxd whose exec runs the argv here, with this PATH, as `lxc exec` would run it inside. */
function runningHere(path: string): FakeLxd {
  return new FakeLxd().expect('exec', async (args) => {
    const argv = args[1] as string[];
    const result = await execa(argv[0]!, argv.slice(1), { env: { PATH: path }, extendEnv: false, reject: false });
    return { exitCode: result.exitCode ?? null, signal: null, timedOut: false, canceled: false, stdout: `${result.stdout}\n`, stderr: result.stderr };
  });
}

const context = (lxd: FakeLxd, baselineFailedUnits: string[] = []): CheckContext => ({ lxd, ref: { remote: null, name: 'web1', project: null }, phase: 'after-update', baselineFailedUnits });

describe('the systemd script', () => {
  it('reads a running system as healthy', async () => {
    const bin = await systemctl('running', [], 0);
    const lxd = runningHere(`${bin}:/usr/bin:/bin`);
    expect(await systemdAttempt(context(lxd), 5_000)).toEqual({ state: 'pass', message: 'running, no new failed units', confirmKey: 'steady', failedUnits: [] });
    lxd.assertDone();
  });

  it('reads the failed units by name, whatever else their line says', async () => {
    const bin = await systemctl('degraded', ['old.service', 'new.service'], 0);
    expect(await systemdAttempt(context(runningHere(`${bin}:/usr/bin:/bin`), ['old.service']), 5_000)).toEqual({
      state: 'fail', message: 'failed units: new.service', failedUnits: ['new.service', 'old.service'],
    });
  });

  it('counts the queued jobs', async () => {
    const bin = await systemctl('running', [], 2);
    expect(await systemdAttempt(context(runningHere(`${bin}:/usr/bin:/bin`)), 5_000)).toEqual({ state: 'retry', message: '2 systemd job(s) still queued', failedUnits: [] });
  });

  it('says so where there is no systemctl', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    // sh itself must be found: an absolute /bin/sh, and a PATH without systemctl.
    const lxd = new FakeLxd().expect('exec', async (args) => {
      const argv = args[1] as string[];
      const result = await execa('/bin/sh', argv.slice(1), { env: { PATH: empty }, extendEnv: false, reject: false });
      return { exitCode: result.exitCode ?? null, signal: null, timedOut: false, canceled: false, stdout: `${result.stdout}\n`, stderr: result.stderr };
    });
    expect(await systemdAttempt(context(lxd), 5_000)).toEqual({ state: 'fail', message: 'systemd is not installed in the instance' });
  });
});
