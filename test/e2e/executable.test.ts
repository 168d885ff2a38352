import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoVersion, launch, publish, removeAll, safeupdate, settledUnitState, UPGRADE } from './lab.js';
import { releaseBuild } from './release.js';

afterEach(removeAll);

// The release's single executable (Node 24 inside, no Node needed) on the host, laid out as the .deb
// installs it (usr/bin/safeupdate beside usr/share/safeupdate): the operator's stories through it.
describe('the single executable from the .deb, on the host', () => {
  let root: string;
  let version: string;
  let before: string | undefined;

  beforeAll(async () => {
    const { deb, version: built } = await releaseBuild();
    version = built;
    root = await mkdtemp(join(tmpdir(), 'safeupdate-deb-root-'));
    await execa('dpkg-deb', ['-x', deb, root]);
    before = process.env.SAFEUPDATE_E2E_BIN;
    process.env.SAFEUPDATE_E2E_BIN = join(root, 'usr/bin/safeupdate');
  });

  afterAll(async () => {
    if (before === undefined) delete process.env.SAFEUPDATE_E2E_BIN;
    else process.env.SAFEUPDATE_E2E_BIN = before;
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('a healthy upgrade 1.0 → 1.1 is kept: exit 0, the new version runs; then the apt guard it installs is the package\'s', async () => {
    const name = await launch('sea-healthy');
    await publish(name, '1.1');
    const run = await safeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(await demoVersion(name)).toBe('1.1');
    expect(await settledUnitState(name)).toBe('active');

    // The hook templates come from the package's share/safeupdate, found from the executable's place.
    const install = await safeupdate(['hooks', 'install', name]);
    expect(install.exitCode, install.stderr).toBe(0);
    const guard = await execa('lxc', ['exec', name, '--', 'cat', '/usr/local/lib/safeupdate/guard'], { stdin: 'ignore', stripFinalNewline: false });
    const template = await readFile(join(root, 'usr/share/safeupdate/hooks/apt/guard'), 'utf8');
    expect(guard.stdout).toBe(template.replaceAll('@VERSION@', version).replaceAll('@ROOT@', ''));
    await publish(name, '1.2');
    const typed = ['sh', '-c', 'apt-get update -q && apt-get install -y safeupdate-demo=1.2'];
    const refused = await execa('lxc', ['exec', name, '--', ...typed], { reject: false, stdin: 'ignore', all: true });
    expect(refused.exitCode).toBe(100);
    expect(refused.all).toContain('safeupdate hook: refused.');
  });

  it('a service that a "successful" upgrade (2.0) leaves dead is rolled back: exit 1, 1.0 runs again', async () => {
    const name = await launch('sea-broken');
    await publish(name, '2.0');
    const run = await safeupdate([name, '--json', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.report!.outcome).toBe('rolled-back');
    expect(run.report!.instances[0]!.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await settledUnitState(name)).toBe('active');
  });
});
