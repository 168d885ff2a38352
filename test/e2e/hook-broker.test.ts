import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientName } from '../../src/lxd/dialect.js';
import { BIN, labOn, removeAll, safeupdate, track, uniqueName } from './lab.js';

// Snapshot mode's apt hook, as root inside a real container would meet it: no LXD credential in
// the container, a root-only socket to its own broker on the host, and nothing else. The broker
// runs as systemd's socket activation would run it (systemd-socket-activate hands it the socket),
// since no systemd manages this host.

const brokers: ResultPromise[] = [];

afterEach(async () => {
  for (const broker of brokers.splice(0)) {
    broker.kill('SIGTERM');
    await broker.catch(() => {});
  }
  await removeAll();
});

const incusRunning = (await execa('incus', ['query', '/1.0'], { reject: false, stdin: 'ignore' })).exitCode === 0;

function keyOf(client: ClientName, name: string): string {
  return `${client}.default.${name}`;
}

/** The broker of one instance, on its socket, with the test's state folder. */
async function startBroker(client: ClientName, name: string, stateDir: string): Promise<void> {
  const key = keyOf(client, name);
  const socket = `/run/safeupdate/hooks/${key}.sock`;
  await execa('mkdir', ['-p', '-m', '0700', '/run/safeupdate/hooks']);
  const broker = execa('systemd-socket-activate', ['-E', 'SAFEUPDATE_STATE_DIR', '-E', 'PATH', '-E', 'HOME', '-l', socket, 'node', BIN, 'hooks', 'broker', key], {
    env: { SAFEUPDATE_STATE_DIR: stateDir }, reject: false, stdin: 'ignore', all: true,
  });
  brokers.push(broker);
  for (let i = 0; i < 50; i++) {
    if ((await execa('test', ['-S', socket], { reject: false })).exitCode === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the broker's socket ${socket} did not appear`);
}

async function brokerLog(stateDir: string, client: ClientName, name: string): Promise<string> {
  return readFile(join(stateDir, 'hooks', `${keyOf(client, name)}.log`), 'utf8').catch(() => '');
}

/** Raises the cap and rate for a test that takes many snapshots on purpose. */
async function allowSnapshots(stateDir: string, client: ClientName, name: string, perWindow: number): Promise<void> {
  const file = join(stateDir, 'hooks', `${keyOf(client, name)}.json`);
  const registration = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, JSON.stringify({ ...registration, maxSnapshotsPerWindow: perWindow, maxSnapshots: perWindow + 2 }));
}

describe.each([
  { client: 'lxc' as const, skip: false },
  { client: 'incus' as const, skip: !incusRunning },
])('snapshot mode on $client', ({ client, skip }) => {
  const lab = labOn(client);
  const env: Record<string, string> = client === 'incus' ? { SAFEUPDATE_CLIENT: 'incus' } : {};

  async function inside(name: string, script: string) {
    const result = await execa(client, ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore', all: true });
    return { exitCode: result.exitCode ?? -1, output: String(result.all) };
  }

  /** Sends these bytes to the broker's socket from inside, as root would, and prints the answer. */
  async function rawRequest(name: string, perlExpression: string) {
    return inside(name, `perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => "/dev/safeupdate-broker.sock") or die "connect: $!"; $s->autoflush(1); print $s ${perlExpression}; $l = <$s>; print $l'`);
  }

  async function server(): Promise<{ certificates: string; instances: string }> {
    const certificates = (await lab.run('query', '/1.0/certificates')).trim();
    const raw = JSON.parse(await lab.run('query', '/1.0/instances?recursion=1')) as Array<{ name: string; config: Record<string, string>; devices: unknown }>;
    const instances = JSON.stringify(raw.map((i) => ({ name: i.name, devices: i.devices, config: Object.fromEntries(Object.entries(i.config).filter(([k]) => !k.startsWith('volatile.'))) })).sort((a, b) => a.name.localeCompare(b.name)));
    return { certificates, instances };
  }

  async function installed(story: string) {
    const name = await lab.launch(story);
    const stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-e2e-'));
    await lab.publish(name, '1.1', '2.0');
    const install = await safeupdate(['hooks', 'install', name, '--mode', 'snapshot', '--check', 'unit:safeupdate-demo', '--disable-timers', '--expiry', '2d'], { SAFEUPDATE_STATE_DIR: stateDir, ...env });
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toContain(`safeupdate hooks broker ${keyOf(client, name)} --listen`);
    await startBroker(client, name, stateDir);
    return { name, stateDir };
  }

  it.skipIf(skip)(`${client}: root inside holds no credential and can only ask for its own snapshot; crafted requests are refused and logged; nothing inside changes the server`, async () => {
    const { name, stateDir } = await installed('broker-abuse');
    const before = await server();

    // No key, certificate or LXD address anywhere in the instance; one root-only socket.
    const found = await inside(name, "find / -xdev \\( -name '*.key' -o -name '*.crt' -o -name 'client.*' \\) -path '*safeupdate*' 2>/dev/null; ls /etc/safeupdate; stat -c '%a %U %F' /dev/safeupdate-broker.sock");
    expect(found.output).toBe('checks\nhook.conf\n600 root socket');
    const devices = (JSON.parse(await lab.run('query', `/1.0/instances/${name}`)) as { devices: Record<string, unknown> }).devices;
    expect(devices).toEqual({
      'safeupdate-broker': { type: 'proxy', listen: 'unix:/dev/safeupdate-broker.sock', connect: `unix:/run/safeupdate/hooks/${keyOf(client, name)}.sock`, bind: 'instance', mode: '0600', uid: '0', gid: '0' },
    });
    const nobody = await inside(name, 'su nobody -s /bin/sh -c \'perl -MIO::Socket::UNIX -e "IO::Socket::UNIX->new(Peer => q{/dev/safeupdate-broker.sock}) or die qq{connect: \\$!\\n}"\'');
    expect(nobody.output).toContain('connect: Permission denied');

    const token = '0123456789abcdef0123456789abcdef';
    const snapshotRequest = (extra: string) => `qq({"v":1,"request":"snapshot","run":"r1","token":"${token}","command":"x","user":"root","failedUnits":[]${extra}}\\n)`;
    const answers = {
      unknownRequest: await rawRequest(name, `qq({"v":1,"request":"delete","run":"r1","token":"${token}"}\\n)`),
      otherInstance: await rawRequest(name, snapshotRequest(',"instance":"other"')),
      notJson: await rawRequest(name, 'qq(hello\\n)'),
      huge: await rawRequest(name, '("x" x 100000) . "\\n"'),
      escapes: await rawRequest(name, snapshotRequest('').replace('"command":"x"', '"command":"\\\\u001b]0;owned\\\\u0007"')),
      noToken: await rawRequest(name, snapshotRequest('')),
    };
    expect(answers.unknownRequest.output).toContain('"ok":false');
    expect(answers.otherInstance.output).toMatch(/"ok":false.*Unrecognized key/);
    expect(answers.notJson.output).toContain('not JSON');
    expect(answers.huge.output).toMatch(/"ok":false,"error":"a request over 16384 bytes"|^$/);
    expect(answers.escapes.output).toContain('control characters');
    expect(answers.noToken.output).toContain(`not in ${name}'s /var/lib/safeupdate-hook/request-token`);

    // A flood: past the limit, every request is refused unread.
    const flood = await inside(name, `for i in $(seq 1 100); do perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => "/dev/safeupdate-broker.sock") or exit; print $s "{}\\n"; print scalar <$s>'; echo; done`);
    expect(flood.output).toContain('more than 30 requests in a minute');

    const log = await brokerLog(stateDir, client, name);
    for (const words of ['not a request', 'not JSON', 'a request over 16384 bytes', 'control characters', 'did not come from inside that instance', 'more than 30 requests in a minute', 'further ones are not logged']) {
      expect(log).toContain(words);
    }
    expect(log).not.toContain('\x1b');
    // Nothing done inside made a snapshot, an instance, a trust entry, a device or a config change.
    expect(await lab.snapshots(name)).toEqual([]);
    expect(await server()).toEqual(before);
  });

  it.skipIf(skip)(`${client}: apt typed inside is snapshotted first; a broken update names the host's rollback, which brings the instance back; history and show list the hook runs; a copy cannot act on the original`, async () => {
    const { name, stateDir } = await installed('broker-apt');

    const good = await inside(name, 'apt-get update -q && apt-get install -y safeupdate-demo=1.1');
    expect(good.exitCode, good.output).toBe(0);
    expect(await lab.demoVersion(name)).toBe('1.1');
    const [first] = await lab.snapshots(name);
    expect(first!.name).toMatch(/^safeupdate-hook-\d{8}-\d{6}$/);
    expect(Date.parse(first!.expires_at) - Date.now()).toBeGreaterThan(2 * 86_400_000 - 300_000);
    expect(good.output).toContain(`snapshot ${first!.name} taken`);
    expect(good.output).toContain('checks passed after this apt run: systemd, unit:safeupdate-demo');

    const bad = await inside(name, 'apt-get install -y safeupdate-demo=2.0');
    expect(bad.exitCode).toBe(100);
    expect(bad.output).toContain('safeupdate hook: CHECKS FAILED after this apt run');
    const second = (await lab.snapshots(name)).map((s) => s.name).find((s) => s !== first!.name)!;
    const rollbackCommand = `safeupdate rollback ${name} ${second}${client === 'incus' ? ' --client incus' : ''}`;
    expect(bad.output).toContain(`    ${rollbackCommand}\n`);

    const history = await safeupdate(['history', name], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(history.stdout).toMatch(new RegExp(`${name}\\s+updated\\s+0\\s+${first!.name}.*\\[apt hook\\] apt-get install -y safeupdate-demo=1.1`));
    expect(history.stdout).toMatch(new RegExp(`${name}\\s+needs-attention\\s+4\\s+${second}.*\\[apt hook\\] apt-get install -y safeupdate-demo=2.0`));
    const runId = /(\S+-hook-\S+)\s+\[apt hook\] apt-get install -y safeupdate-demo=2.0/.exec(history.stdout)![1]!;
    const show = await safeupdate(['show', runId], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(show.stdout).toContain(`unit:safeupdate-demo [after-update] safeupdate-demo is failed`);

    // The printed command, typed on the host, goes back; the baseline it judges against is the hook's.
    const rollback = await safeupdate([...rollbackCommand.split(' ').slice(1), '--yes', '--check', 'unit:safeupdate-demo'], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(rollback.exitCode, rollback.stderr + rollback.stdout).toBe(0);
    expect(rollback.stdout).toContain(`${second} (expires 20`);
    expect(await lab.demoVersion(name)).toBe('1.1');
    expect(await lab.settledUnitState(name)).toBe('active');

    // A copy carries the device, and so reaches the same socket: it is refused, and the original is not snapshotted.
    const copy = uniqueName('broker-copy');
    await lab.run('copy', name, copy, '--instance-only');
    track(copy, client);
    await lab.run('start', copy);
    const count = (await lab.snapshots(name)).length;
    const fromCopy = await inside(copy, 'apt-get install -y --reinstall safeupdate-demo=1.1');
    expect(fromCopy.exitCode).toBe(100);
    expect(fromCopy.output).toContain('the request did not come from inside that instance');
    expect(await lab.snapshots(name)).toHaveLength(count);
    expect(await brokerLog(stateDir, client, name)).toContain(`refused: snapshot for run`);
  });

  it.skipIf(skip)(`${client}: snapshots requested many times in a row on a dir pool never leave the container frozen`, async () => {
    const { name, stateDir } = await installed('broker-freeze');
    await allowSnapshots(stateDir, client, name, 10);
    expect((await inside(name, 'apt-get update -q')).exitCode).toBe(0);
    for (let i = 0; i < 6; i++) {
      const run = await inside(name, 'apt-get install -y --reinstall safeupdate-demo=1.1');
      expect(run.exitCode, run.output).toBe(0);
      expect(await lab.status(name)).toBe('Running');
    }
    expect((await lab.snapshots(name)).filter((s) => s.name.startsWith('safeupdate-hook-'))).toHaveLength(6);
    // The seventh asks past the rate: refused before dpkg, and the container is fine.
    await allowSnapshots(stateDir, client, name, 6);
    const refused = await inside(name, 'apt-get install -y --reinstall safeupdate-demo=1.1');
    expect(refused.exitCode).toBe(100);
    expect(refused.output).toContain('rate limit');
    expect(await lab.status(name)).toBe('Running');
  });
});

describe("Debian's unattended-upgrades under the hooks", () => {
  const lab = labOn('lxc');
  const inside = async (name: string, script: string) => {
    const result = await execa('lxc', ['exec', name, '--', 'sh', '-c', script], { reject: false, stdin: 'ignore', all: true });
    return { exitCode: result.exitCode ?? -1, output: String(result.all) };
  };

  it('snapshot mode: its dry run takes no snapshot; its real run, one dpkg call per package, takes exactly one and is checked', async () => {
    const name = await lab.launch('broker-uu');
    const stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-e2e-'));
    await lab.unattended(name);
    await lab.publish(name, '1.1');
    const install = await safeupdate(['hooks', 'install', name, '--mode', 'snapshot', '--check', 'unit:safeupdate-demo'], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(install.exitCode, install.stderr).toBe(0);
    await startBroker('lxc', name, stateDir);
    expect((await inside(name, 'apt-get update -q')).exitCode).toBe(0);

    const dry = await inside(name, 'unattended-upgrade --dry-run -v');
    expect(dry.exitCode, dry.output).toBe(0);
    expect(await lab.snapshots(name)).toEqual([]);
    expect(await lab.demoVersion(name)).toBe('1.0');

    const real = await inside(name, 'unattended-upgrade -v --minimal-upgrade-steps');
    expect(real.exitCode, real.output).toBe(0);
    expect(await lab.demoVersion(name)).toBe('1.1');
    expect((await lab.snapshots(name)).map((s) => s.name)).toEqual([expect.stringMatching(/^safeupdate-hook-/)]);
    const history = await safeupdate(['history', name], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(history.stdout).toMatch(/updated\s+0\s+safeupdate-hook-\S+.*\[apt hook\] \S*unattended-upgrade -v --minimal-upgrade-steps/);
  });

  it('guard mode: its dry run is let through; its real run is refused, naming the host command that replaces it', async () => {
    const name = await lab.launch('guard-uu');
    await lab.unattended(name);
    await lab.publish(name, '1.1');
    const install = await safeupdate(['hooks', 'install', name]);
    expect(install.exitCode, install.stderr).toBe(0);
    expect((await inside(name, 'apt-get update -q')).exitCode).toBe(0);
    const dry = await inside(name, 'unattended-upgrade --dry-run -v');
    expect(dry.exitCode, dry.output).toBe(0);
    expect(dry.output).not.toContain('refused');
    await inside(name, 'unattended-upgrade -v');
    expect(await lab.demoVersion(name)).toBe('1.0');
    const { output: log } = await inside(name, 'cat /var/log/unattended-upgrades/unattended-upgrades-dpkg.log /var/log/safeupdate-guard.log 2>/dev/null');
    expect(log).toContain(`safeupdate ${name} -- unattended-upgrade\n`);
  });
});

describe('migration from the certificate-based snapshot mode', () => {
  it('an old install is flagged insecure; install revokes its trust entry, deletes its key and device, and the old key is refused by LXD (403)', async () => {
    const lab = labOn('lxc');
    const name = await lab.launch('broker-migrate');
    const stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-e2e-'));
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-oldkey-'));
    const key = join(dir, 'client.key');
    const crt = join(dir, 'client.crt');
    await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=old-hook']);
    await lab.run('config', 'trust', 'add', crt, '--name', `safeupdate-hook.${name}.default`, '--restricted', '--projects', 'default');
    await lab.run('exec', name, '--', 'mkdir', '-p', '-m', '700', '/etc/safeupdate/lxd');
    await lab.run('file', 'push', key, `${name}/etc/safeupdate/lxd/client.key`, '--mode', '0600');
    await lab.run('file', 'push', crt, `${name}/etc/safeupdate/lxd/client.crt`, '--mode', '0600');
    await lab.run('config', 'device', 'add', name, 'safeupdate-lxd', 'proxy', 'listen=tcp:127.0.0.1:18443', 'connect=tcp:127.0.0.1:8443', 'bind=instance');
    const address = JSON.parse(await lab.run('query', '/1.0')).config['core.https_address'] as string;
    const asOldKey = () => execa('curl', ['-sk', '--cert', crt, '--key', key, `https://${address.replace(/^:/, '127.0.0.1:')}/1.0/instances`], { reject: false });
    expect((await asOldKey()).stdout).toContain('"status_code":200');

    const status = await safeupdate(['hooks', 'status', name], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(status.stdout).toContain('INSECURE');
    const install = await safeupdate(['hooks', 'install', name, '--mode', 'snapshot'], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stdout).toContain("revoke the old hook's trust entry");
    expect(install.stdout).toContain('delete /etc/safeupdate/lxd/client.key');
    expect(install.stdout).toContain('remove the old proxy device safeupdate-lxd');
    expect(install.stdout).toMatch(/old certificate-based snapshot mode was found and removed/);
    expect((await asOldKey()).stdout).toContain('"error_code":403');
    expect((await execa('lxc', ['exec', name, '--', 'ls', '/etc/safeupdate'])).stdout).toBe('checks\nhook.conf');
    const after = await safeupdate(['hooks', 'status', name], { SAFEUPDATE_STATE_DIR: stateDir });
    expect(after.stdout).not.toContain('INSECURE');
  });
});
