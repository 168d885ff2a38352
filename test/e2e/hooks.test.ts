import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { demoVersion, launch, publish, removeAll, safeupdate } from './lab.js';

// The apt hooks inside real lab containers: apt typed inside the container, as an operator or a
// habit would, against safeupdate run from the host.

afterEach(removeAll);

async function hooked(story: string): Promise<string> {
  return launch(story);
}

/** A command typed inside the container, as root at its shell. */
async function inside(name: string, script: string) {
  const result = await execa('lxc', ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore', all: true });
  return { exitCode: result.exitCode ?? -1, output: String(result.all) };
}

const QUESTION = 'Which colour should the safeupdate test question have?';

/** A package whose config script asks one debconf question, as a package's upgrade may. */
async function askingPackage(dir: string): Promise<string> {
  const root = join(dir, 'asker');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), 'Package: safeupdate-asker\nVersion: 1.0\nArchitecture: all\nMaintainer: safeupdate tests <tests@invalid>\nDepends: debconf\nDescription: asks one debconf question\n');
  await writeFile(join(root, 'DEBIAN/templates'), `Template: safeupdate-asker/colour\nType: string\nDescription: ${QUESTION}\n`);
  await writeFile(join(root, 'DEBIAN/config'), '#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_input high safeupdate-asker/colour || true\ndb_go || true\n');
  await chmod(join(root, 'DEBIAN/config'), 0o755);
  const deb = join(dir, 'safeupdate-asker_1.0_all.deb');
  await execa('dpkg-deb', ['--root-owner-group', '--build', root, deb]);
  return deb;
}

/** safeupdate's files in the container that are there. */
async function hookFiles(name: string): Promise<string[]> {
  const { output } = await inside(name, 'ls -d /etc/apt/apt.conf.d/*safeupdate-* /usr/local/lib/safeupdate /etc/safeupdate /var/lib/safeupdate-hook /var/log/safeupdate-guard.log /run/safeupdate 2>/dev/null; true');
  return output.split('\n').filter(Boolean);
}

describe('guard mode: apt typed inside a container is sent to the host', () => {
  it('refuses apt-get install inside and names the host command; safeupdate from the host passes; the bypass works exactly once', async () => {
    const name = await hooked('guard');
    await publish(name, '1.1', '1.2', '2.0');

    const install = await safeupdate(['hooks', 'install', name]);
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toContain(`${name}: guard hook installed (0.1.0)`);
    const again = await safeupdate(['hooks', 'install', name]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain(`${name}: guard hook already installed (0.1.0); nothing changed`);

    // The guard comes before debconf's preconfigure in apt's list: a refused run asks no question first.
    const hooks = (await inside(name, 'apt-config dump DPkg::Pre-Install-Pkgs')).output;
    const guardAt = hooks.indexOf('/usr/local/lib/safeupdate/guard');
    expect(guardAt, hooks).toBeGreaterThanOrEqual(0);
    expect(hooks.indexOf('dpkg-preconfigure'), hooks).toBeGreaterThan(guardAt);

    // apt-get update never reaches dpkg: unaffected.
    expect((await inside(name, 'apt-get update -q')).exitCode).toBe(0);
    const refused = await inside(name, 'apt-get install -y safeupdate-demo=1.1');
    expect(refused.exitCode).toBe(100);
    expect(refused.output).toContain('safeupdate hook: refused.');
    expect(refused.output).toContain(`    safeupdate ${name} -- apt-get install -y safeupdate-demo=1.1\n`);
    expect(await demoVersion(name)).toBe('1.0');

    // What the message says to type on the host works.
    const run = await safeupdate([name, '--check', 'unit:safeupdate-demo', '--', 'sh', '-c', 'apt-get update -q && apt-get install -y safeupdate-demo=1.1']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');

    // The one-time bypass: armed inside, used by the next apt run, and gone after it.
    expect((await inside(name, '/usr/local/lib/safeupdate/allow-once')).exitCode).toBe(0);
    const once = await inside(name, 'apt-get install -y safeupdate-demo=1.2');
    expect(once.exitCode, once.output).toBe(0);
    expect(once.output).toContain('one-time bypass used up');
    expect(await demoVersion(name)).toBe('1.2');
    const twice = await inside(name, 'apt-get install -y safeupdate-demo=2.0');
    expect(twice.exitCode).toBe(100);
    expect(await demoVersion(name)).toBe('1.2');

    // The apt option: this command only.
    const option = await inside(name, 'apt-get -o SafeUpdate::Allow=1 install -y --allow-downgrades safeupdate-demo=1.1');
    expect(option.exitCode, option.output).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');

    // Every bypass is logged, in the log file and in syslog (the container's journal).
    const { output: log } = await inside(name, 'cat /var/log/safeupdate-guard.log');
    expect(log).toMatch(/refused for root: apt-get install -y safeupdate-demo=1.1\n/);
    expect(log).toMatch(/allowed: safeupdate run \S+ from the host: apt-get install -y safeupdate-demo=1.1\n/);
    expect(log).toContain('one-time bypass armed by root');
    expect(log).toContain('bypass by root with the one-time flag /run/safeupdate/allow-once (now used up): apt-get install -y safeupdate-demo=1.2');
    expect(log).toContain('bypass by root with -o SafeUpdate::Allow: apt-get -o SafeUpdate::Allow=1 install -y --allow-downgrades safeupdate-demo=1.1');
    const { output: journal } = await inside(name, 'journalctl -t safeupdate-hook --no-pager -o cat');
    expect(journal).toContain('bypass by root with -o SafeUpdate::Allow');

    const status = await safeupdate(['hooks', 'status', name, '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    const [seen] = (JSON.parse(status.stdout) as { instances: Array<Record<string, unknown>> }).instances;
    expect(seen).toMatchObject({ mode: 'guard', packageVersion: '0.1.0', upToDate: true, problems: [], device: null, broker: null, insecureLeftovers: [] });
    expect((seen!.files as Array<{ version: string; state: string }>).every((f) => f.version === '0.1.0' && f.state === 'current')).toBe(true);

    const uninstall = await safeupdate(['hooks', 'uninstall', name]);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    expect(await hookFiles(name)).toEqual([]);
    expect((await inside(name, 'apt-get install -y safeupdate-demo=1.2')).exitCode).toBe(0);
  });

  it('refuses before apt asks a debconf question: dpkg-preconfigure (apt-utils) never runs a refused package\'s questions', async () => {
    const name = await hooked('debconf');
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-debconf-'));
    try {
      // The lab image is minbase, without apt-utils; Debian's standard systems have it, and with it
      // apt asks a package's questions (dpkg-preconfigure, a Pre-Install-Pkgs hook) before dpkg runs.
      // The host's archive has the image's version of it (apt-utils depends on that exact apt).
      const apt = (await inside(name, "dpkg-query -W -f='${Version}' apt")).output.trim();
      await execa('apt-get', ['download', `apt-utils=${apt}`], { cwd: dir });
      const [aptUtils] = (await readdir(dir)).filter((file) => file.startsWith('apt-utils_'));
      await execa('lxc', ['file', 'push', join(dir, aptUtils!), `${name}/root/apt-utils.deb`]);
      await execa('lxc', ['file', 'push', await askingPackage(dir), `${name}/root/asker.deb`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const utils = await inside(name, 'dpkg -i /root/apt-utils.deb && command -v dpkg-preconfigure');
    expect(utils.exitCode, utils.output).toBe(0);
    const install = await safeupdate(['hooks', 'install', name]);
    expect(install.exitCode, install.stderr).toBe(0);

    // dpkg-preconfigure asks on the terminal (script(1) gives it one); the teletype frontend prints
    // each question and reads the answer typed.
    const typed = 'echo blue | script -qec "DEBIAN_FRONTEND=teletype apt-get install -y /root/asker.deb" /dev/null';
    const refused = await inside(name, typed);
    expect(refused.exitCode, refused.output).toBe(100);
    expect(refused.output).toContain('safeupdate hook: refused.');
    expect(refused.output).not.toContain(QUESTION);

    // The same install let through once asks the question before dpkg runs: the check above can fail.
    expect((await inside(name, '/usr/local/lib/safeupdate/allow-once')).exitCode).toBe(0);
    const allowed = await inside(name, typed);
    expect(allowed.exitCode, allowed.output).toBe(0);
    expect(allowed.output).toContain(QUESTION);
    expect(allowed.output.indexOf(QUESTION), allowed.output).toBeLessThan(allowed.output.indexOf('Unpacking safeupdate-asker'));
  });

  it('an instance without apt is refused: exit 3, nothing written', async () => {
    const name = await hooked('noapt');
    // The lab image is Debian: hide apt-get the way an image without apt would lack it.
    await inside(name, 'mv /usr/bin/apt-get /usr/bin/apt-get.hidden');
    const install = await safeupdate(['hooks', 'install', name]);
    expect(install.exitCode).toBe(3);
    expect(install.stderr).toContain(`${name} has no apt`);
    expect(await hookFiles(name)).toEqual([]);
  });
});

// Snapshot mode: test/e2e/hook-broker.test.ts.
