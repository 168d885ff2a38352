import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecOptions } from '../../../src/lxd/lxd.js';
import { collectEvidence } from '../../../src/run/evidence.js';
import { execResult, FakeLxd } from '../../support/fake-lxd.js';

// The evidence a rollback is about to erase: how it is asked of the instance, where it is kept,
// and what the script run inside the instance collects.

let dir: string;
const ref = { remote: 'local', name: 'web1', project: 'default' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-evidence-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function scriptOf(lxd: FakeLxd): { argv: string[]; options: ExecOptions } {
  const call = lxd.calls.find((c) => c.method === 'exec')!;
  return { argv: call.args[1] as string[], options: call.args[2] as ExecOptions };
}

describe('collectEvidence', () => {
  it('runs one bounded script with the units as its arguments, and keeps its output in a folder it makes', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult({ stdout: '===== systemctl --failed =====\n0 loaded units listed.\n' }));
    const evidenceDir = join(dir, 'run', 'web1', 'evidence');
    const file = await collectEvidence(lxd, ref, evidenceDir, ['nginx', 'php-fpm']);
    lxd.assertDone();
    expect(file).toBe(join(evidenceDir, 'instance.txt'));
    const { argv, options } = scriptOf(lxd);
    expect(argv[0]).toBe('sh');
    expect(argv[1]).toBe('-c');
    expect(argv.slice(3)).toEqual(['safeupdate-evidence', 'nginx', 'php-fpm']);
    expect(options).toEqual({ timeoutMs: 30_000 });
    expect(lxd.calls[0]!.args[0]).toEqual(ref);
    expect(await readFile(file, 'utf8')).toBe('===== systemctl --failed =====\n0 loaded units listed.\n');
  });

  it('keeps what the script said on stderr in its own section', async () => {
    const lxd = new FakeLxd().expect('exec', () => execResult({ stdout: 'out\n', stderr: 'sh: 1: journalctl: not found\n' }));
    const file = await collectEvidence(lxd, ref, dir, []);
    expect(await readFile(file, 'utf8')).toBe('out\n\n===== stderr =====\nsh: 1: journalctl: not found\n');
  });

  it.each([
    [execResult({ exitCode: 2, stdout: 'part' }), 'exit 2'],
    [execResult({ exitCode: null, signal: 'SIGKILL', timedOut: true, stdout: 'part' }), 'exit SIGKILL'],
  ])('an incomplete collection keeps what came and says so (%#)', async (result, how) => {
    const lxd = new FakeLxd().expect('exec', () => result);
    const file = join(dir, 'instance.txt');
    await expect(collectEvidence(lxd, ref, dir, [])).rejects.toThrow(`evidence incomplete (${how}), kept what came in ${file}`);
    expect(await readFile(file, 'utf8')).toBe('part');
  });
});

describe('the evidence script, run by sh', () => {
  // Stand-ins for the commands the script runs inside the instance: each says how it was called.
  async function stubs(): Promise<string> {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const stub = (body: string) => `#!/bin/sh\n${body}\n`;
    await writeFile(join(bin, 'systemctl'), stub(
      'if [ "$1" = list-units ]; then printf "%s\\n" "failed-a.service loaded failed failed A" "nginx loaded failed failed N"; exit 0; fi\necho "systemctl $*"',
    ));
    await writeFile(join(bin, 'journalctl'), stub('echo "journalctl $*"'));
    await writeFile(join(bin, 'tail'), stub('echo "tail $*"'));
    for (const name of ['systemctl', 'journalctl', 'tail']) await chmod(join(bin, name), 0o755);
    return bin;
  }

  it('collects the failed units and the units of unit checks, once each, with status and journal, and the tails of the logs', async () => {
    const bin = await stubs();
    const lxd = new FakeLxd().expect('exec', () => execResult());
    await collectEvidence(lxd, ref, dir, ['nginx', 'postgresql']);
    const { argv } = scriptOf(lxd);
    const { stdout, exitCode } = await execa(argv[0]!, argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin` }, reject: false });
    expect(exitCode).toBe(0);
    expect(stdout).toBe([
      '',
      '===== systemctl --failed =====',
      'systemctl --failed --no-pager',
      ...['failed-a.service', 'nginx', 'postgresql'].flatMap((unit) => [
        '',
        `===== systemctl status ${unit} =====`,
        `systemctl status --no-pager -l ${unit}`,
        '',
        `===== journalctl -u ${unit} =====`,
        `journalctl -u ${unit} -n 100 --no-pager`,
      ]),
      '',
      '===== tail /var/log/dpkg.log =====',
      'tail -n 50 /var/log/dpkg.log',
      '',
      '===== tail /var/log/apt/term.log =====',
      'tail -n 200 /var/log/apt/term.log',
    ].join('\n'));
  });

  it('ends with 0 even when its commands fail, so that a partial collection is still a collection', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    for (const name of ['systemctl', 'journalctl', 'tail']) {
      await writeFile(join(bin, name), '#!/bin/sh\necho "$0 broke" >&2\nexit 3\n');
      await chmod(join(bin, name), 0o755);
    }
    const lxd = new FakeLxd().expect('exec', () => execResult());
    await collectEvidence(lxd, ref, dir, []);
    const { argv } = scriptOf(lxd);
    const { stdout, exitCode } = await execa(argv[0]!, argv.slice(1), { env: { PATH: `${bin}:/usr/bin:/bin` }, reject: false });
    expect(exitCode).toBe(0);
    // Errors of the commands are kept in the output, beside their sections.
    expect(stdout).toContain('===== systemctl --failed =====\n');
    expect(stdout).toContain(`${join(bin, 'systemctl')} broke`);
    expect(stdout).toContain('===== tail /var/log/apt/term.log =====');
  });
});
