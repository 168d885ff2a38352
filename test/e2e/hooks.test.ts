import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, unitState } from './lab.js';

// The apt hooks inside real lab containers: apt typed inside the container, as an operator or a
// habit would, against safeupdate run from the host.

const trustNames = new Set<string>();

afterEach(async () => {
  // A test that failed before "hooks uninstall" leaves its trust entry; only those of this file's instances go.
  const entries = JSON.parse(await lxc('query', '/1.0/certificates?recursion=1')) as Array<{ name: string; fingerprint: string }>;
  for (const entry of entries.filter((e) => trustNames.has(e.name))) await execa('lxc', ['query', '-X', 'DELETE', `/1.0/certificates/${entry.fingerprint}`], { reject: false });
  trustNames.clear();
  await removeAll();
});

async function hooked(story: string): Promise<string> {
  const name = await launch(story);
  trustNames.add(`safeupdate-hook.${name}.default`);
  return name;
}

/** A command typed inside the container, as root at its shell. */
async function inside(name: string, script: string) {
  const result = await execa('lxc', ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore', all: true });
  return { exitCode: result.exitCode ?? -1, output: String(result.all) };
}

/** safeupdate's files in the container that are there. */
async function hookFiles(name: string): Promise<string[]> {
  const { output } = await inside(name, 'ls -d /etc/apt/apt.conf.d/80safeupdate-* /usr/local/lib/safeupdate /etc/safeupdate /var/lib/safeupdate-hook /var/log/safeupdate-guard.log /run/safeupdate 2>/dev/null; true');
  return output.split('\n').filter(Boolean);
}

async function trustEntries(name: string): Promise<Array<{ name: string; restricted: boolean; projects: string[] }>> {
  const entries = JSON.parse(await lxc('query', '/1.0/certificates?recursion=1')) as Array<{ name: string; restricted: boolean; projects: string[] }>;
  return entries.filter((entry) => entry.name === `safeupdate-hook.${name}.default`);
}

async function devices(name: string): Promise<Record<string, Record<string, string>>> {
  return (JSON.parse(await lxc('query', `/1.0/instances/${name}`)) as { devices: Record<string, Record<string, string>> }).devices;
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
    expect(seen).toMatchObject({ mode: 'guard', packageVersion: '0.1.0', upToDate: true, problems: [], device: null, trust: null });
    expect((seen!.files as Array<{ version: string; state: string }>).every((f) => f.version === '0.1.0' && f.state === 'current')).toBe(true);

    const uninstall = await safeupdate(['hooks', 'uninstall', name]);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    expect(await hookFiles(name)).toEqual([]);
    expect((await inside(name, 'apt-get install -y safeupdate-demo=1.2')).exitCode).toBe(0);
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

describe('snapshot mode: LXD snapshots the container before dpkg changes anything', () => {
  it('apt-get upgrade inside takes a snapshot through the restricted certificate over the proxy device; a broken service is reported; uninstall leaves nothing', async () => {
    const name = await hooked('snap');
    await publish(name, '1.1');

    const install = await safeupdate(['hooks', 'install', name, '--mode', 'snapshot', '--check', 'unit:safeupdate-demo', '--disable-timers', '--expiry', '2d']);
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toContain('note: checks after dpkg: systemd, unit:safeupdate-demo');
    expect((await safeupdate(['hooks', 'install', name, '--mode', 'snapshot', '--check', 'unit:safeupdate-demo', '--disable-timers', '--expiry', '2d'])).stdout)
      .toContain('snapshot hook already installed (0.1.0); nothing changed');

    // The API is reachable inside on loopback only, through the proxy device; the certificate is restricted to the project.
    expect((await devices(name))['safeupdate-lxd']).toEqual({ type: 'proxy', listen: 'tcp:127.0.0.1:18443', connect: 'tcp:127.0.0.1:8443', bind: 'instance' });
    expect(await trustEntries(name)).toEqual([expect.objectContaining({ restricted: true, projects: ['default'] })]);
    const curl = 'curl -sS --cacert /etc/safeupdate/lxd/server.crt --cert /etc/safeupdate/lxd/client.crt --key /etc/safeupdate/lxd/client.key';
    const otherProject = await inside(name, `${curl} 'https://127.0.0.1:18443/1.0/instances?project=sue2e-elsewhere'`);
    expect(otherProject.output).toContain('"error_code":403');
    const withoutKey = await inside(name, "curl -sS -k 'https://127.0.0.1:18443/1.0/instances'");
    expect(withoutKey.output).toContain('"error_code":403');
    const { output: modes } = await inside(name, 'stat -c "%a %U %n" /etc/safeupdate/lxd/client.key /etc/safeupdate/lxd/client.crt');
    expect(modes).toBe('600 root /etc/safeupdate/lxd/client.key\n600 root /etc/safeupdate/lxd/client.crt');
    expect((await inside(name, 'systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer')).output).toBe('disabled\ndisabled');

    const started = Date.now();
    const upgrade = await inside(name, 'apt-get update -q && apt-get upgrade -y');
    expect(upgrade.exitCode, upgrade.output).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    const [taken] = await snapshots(name);
    expect(taken!.name).toMatch(/^safeupdate-hook-\d{8}-\d{6}$/);
    const expiresIn = Date.parse(taken!.expires_at) - started;
    expect(expiresIn).toBeGreaterThan(2 * 86_400_000 - 120_000);
    expect(expiresIn).toBeLessThanOrEqual(2 * 86_400_000 + 60_000);
    expect(upgrade.output).toContain(`snapshot ${name}/${taken!.name} taken`);
    expect(upgrade.output).toContain(`safeupdate rollback ${name} ${taken!.name}`);
    expect(upgrade.output).toContain('checks passed after this apt run: systemd, unit:safeupdate-demo');

    // 2.0 installs fine (apt's dpkg exits 0) but its service fails: the check after dpkg says so, loudly.
    await publish(name, '2.0');
    const broken = await inside(name, 'apt-get update -q && apt-get upgrade -y');
    expect(broken.exitCode).toBe(100);
    expect(broken.output).toContain('safeupdate hook: CHECKS FAILED after this apt run: systemd (failed units: safeupdate-demo.service); unit:safeupdate-demo');
    const hookSnapshots = (await snapshots(name)).map((s) => s.name);
    expect(hookSnapshots).toHaveLength(2);
    const before2 = hookSnapshots.find((s) => s !== taken!.name)!;
    expect(broken.output).toContain(`    safeupdate rollback ${name} ${before2}\n`);
    expect(await unitState(name)).toBe('failed');

    const status = await safeupdate(['hooks', 'status', name]);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`${name}: snapshot hook, files 0.1.0 (this safeupdate: 0.1.0): up to date`);
    expect(status.stdout).toContain(`    snapshot: ${before2} taken`);
    expect(status.stdout).toContain('    checks: failed');
    expect(status.stdout).toContain('      failed  unit:safeupdate-demo: safeupdate-demo is failed');

    // The rollback stays on the host.
    const rollback = await safeupdate(['rollback', name, before2, '--yes', '--check', 'unit:safeupdate-demo']);
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');

    // safeupdate's own runs took their snapshot: the hook takes none of its own.
    await publish(name, '1.1', '1.2');
    const run = await safeupdate([name, '--check', 'unit:safeupdate-demo', '--', 'sh', '-c', 'apt-get update -q && apt-get upgrade -y']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((await snapshots(name)).filter((s) => s.name.startsWith('safeupdate-hook-'))).toHaveLength(2);

    const uninstall = await safeupdate(['hooks', 'uninstall', name]);
    expect(uninstall.exitCode, uninstall.stderr).toBe(0);
    expect(await hookFiles(name)).toEqual([]);
    expect((await inside(name, 'ls /etc/safeupdate /etc/safeupdate/lxd 2>&1; true')).output).toContain('No such file');
    expect((await devices(name))['safeupdate-lxd']).toBeUndefined();
    expect(await trustEntries(name)).toEqual([]);
    expect((await inside(name, 'systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer')).output).toBe('enabled\nenabled');
    const after = await safeupdate(['hooks', 'status', name]);
    expect(after.stdout).toContain(`${name}: no hook installed`);
  });
});
