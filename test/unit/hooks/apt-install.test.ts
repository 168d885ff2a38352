import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import { certificateFingerprint, newClientCertificate, type ClientCertificate } from '../../../src/hooks/certificate.js';
import { hostNaming, planInstall, planUninstall, type HookDeps, type InstallOptions, type InstallTarget } from '../../../src/hooks/install.js';
import { DEVICE_NAME, MODE_FILES, PATHS, trustName } from '../../../src/hooks/layout.js';
import { applyPlan, couldNotStart, type HookOutcome } from '../../../src/hooks/plan.js';
import { hookVersionOf, parseHookConf, readTemplate, renderTemplate } from '../../../src/hooks/render.js';
import { readHookStatus } from '../../../src/hooks/status.js';
import type { DeviceConfig, Instance, InstanceRef, TrustedCertificate } from '../../../src/lxd/lxd.js';
import { execResult, FakeLxd, runningContainer } from '../../support/fake-lxd.js';

// Install, uninstall and status over the scripted fake LXD: every call they make, in order, and
// what they write where. The scripts themselves are tested in apt-scripts.test.ts.

const VERSION = '0.1.0';
const web1: InstanceRef = { remote: null, name: 'web1', project: null };
const RESOLVED: InstanceRef = { remote: 'local', name: 'web1', project: 'default' };
const DEVICE: DeviceConfig = { type: 'proxy', listen: 'tcp:127.0.0.1:18443', connect: 'tcp:127.0.0.1:8443', bind: 'instance' };
const INSTANCE_ID = '17e853e8-7f18-40e1-ad1a-365e5a503152';

let pair: ClientCertificate;
let fingerprint: string;
let serverCert: string;
let generated = 0;

beforeAll(async () => {
  pair = await newClientCertificate('test');
  fingerprint = certificateFingerprint(pair.certificate)!;
  const { stdout } = await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null',
    '-subj', '/CN=root@lxd', '-addext', 'subjectAltName=DNS:lxd,IP:127.0.0.1', '-days', '1']);
  serverCert = `${stdout}\n`;
});

const deps = (lxd: FakeLxd): HookDeps => ({ lxd, version: VERSION, newCertificate: async () => (generated++, pair) });
const target = (overrides: Partial<InstallTarget> = {}): InstallTarget => ({ text: 'web1', ref: web1, checks: null, expiryMs: 14 * 86_400_000, ...overrides });
const options = (overrides: Partial<InstallOptions> = {}): InstallOptions => ({ mode: 'guard', port: 18443, disableTimers: false, ...overrides });

interface Inside {
  apt?: boolean;
  curl?: boolean;
  systemd?: boolean;
  files?: Record<string, { mode: number; content: string | null }>;
  dirs?: string[];
  units?: Record<string, string>;
  listen?: number[];
}

/** What the state script prints for such an instance. */
function inside({ apt = true, curl = true, systemd = true, files = {}, dirs = [], units = { 'apt-daily.timer': 'enabled', 'apt-daily-upgrade.timer': 'enabled', 'unattended-upgrades.service': 'absent' }, listen = [8080] }: Inside = {}) {
  return execResult({
    stdout: [
      `apt=${apt ? 'yes' : 'no'}`, `curl=${curl ? 'yes' : 'no'}`, `systemd=${systemd ? 'yes' : 'no'}`, 'devlxd=yes',
      ...Object.entries(units).map(([unit, state]) => `unit=${unit} ${state}`),
      `listen=${listen.map((port) => port.toString(16).toUpperCase()).join(' ')} `,
      ...Object.entries(files).map(([path, file]) => `file=${path} ${file.mode.toString(8)} ${file.content === null ? '-' : file.content === '' ? '=' : Buffer.from(file.content).toString('base64')}`),
      ...dirs.map((dir) => `dir=${dir}`),
      '',
    ].join('\n'),
  });
}

const isStateScript = (args: unknown[]) => String((args[1] as string[])[2]).includes('yn() {');
const isShell = (text: string) => (args: unknown[]) => String((args[1] as string[])[2]).includes(text);

function look(lxd: FakeLxd, state: Inside = {}, instance: Instance | null = runningContainer()): void {
  lxd.expect('checkReachable', () => undefined);
  lxd.expect('getInstance', () => instance);
  if (instance?.status === 'Running') lxd.expect('exec', () => inside(state), isStateScript, 'the state script');
}

function pushes(lxd: FakeLxd): Array<{ path: string; content: string; mode: number }> {
  return lxd.calls.filter((c) => c.method === 'pushFile').map((c) => ({ path: c.args[1] as string, content: c.args[2] as string, mode: c.args[3] as number }));
}

function expectPushes(lxd: FakeLxd, paths: string[]): void {
  for (const path of paths) lxd.expect('pushFile', () => undefined, (args) => args[1] === path, `push ${path}`);
}

async function install(lxd: FakeLxd, t = target(), o = options()): Promise<HookOutcome> {
  try {
    return await applyPlan(await planInstall(deps(lxd), t, o), { dryRun: false, retry: 'again' });
  } catch (error) {
    return couldNotStart(t.text, error);
  }
}

async function uninstall(lxd: FakeLxd): Promise<HookOutcome> {
  try {
    return await applyPlan(await planUninstall(deps(lxd), { text: 'web1', ref: web1 }), { dryRun: false, retry: 'again' });
  } catch (error) {
    return couldNotStart('web1', error);
  }
}

/** The files of a mode as install writes them, as the state script would report them. */
function installedFiles(mode: 'guard' | 'snapshot', written: Array<{ path: string; content: string; mode: number }>) {
  const files: Record<string, { mode: number; content: string | null }> = {};
  for (const file of written) files[file.path] = { mode: file.mode, content: file.path === PATHS.clientKey ? null : file.content };
  for (const spec of MODE_FILES[mode]) expect(files[spec.path], spec.path).toBeDefined();
  return files;
}

const trusted = (overrides: Partial<TrustedCertificate> = {}): TrustedCertificate => ({
  fingerprint, name: trustName('web1', 'default'), type: 'client', restricted: true, projects: ['default'], ...overrides,
});

describe('hooks install, guard mode', () => {
  it('writes the guard, its library and config, and the apt.conf.d snippet last; the versions are this package\'s', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('exec', () => execResult(), isShell("mkdir -p -m 755 '/etc/safeupdate'"), 'mkdir');
    expectPushes(lxd, [PATHS.lib, PATHS.allowOnce, PATHS.guard, PATHS.hookConf, PATHS.guardAptConf]);
    const outcome = await install(lxd);

    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: `guard hook installed (${VERSION})`, error: null });
    expect(outcome.changes).toEqual([
      'create /usr/local/lib/safeupdate, /etc/safeupdate',
      `write ${PATHS.lib}`, `write ${PATHS.allowOnce}`, `write ${PATHS.guard}`, `write ${PATHS.hookConf}`, `write ${PATHS.guardAptConf}`,
    ]);
    const written = pushes(lxd);
    expect(written.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      [PATHS.lib, '644'], [PATHS.allowOnce, '755'], [PATHS.guard, '755'], [PATHS.hookConf, '644'], [PATHS.guardAptConf, '644'],
    ]);
    for (const file of written) expect(hookVersionOf(file.content), file.path).toBe(VERSION);
    expect(written[2]!.content).toBe(renderTemplate(readTemplate('guard'), { version: VERSION }));
    expect(parseHookConf(written[3]!.content)).toEqual({
      mode: 'guard', instance: 'web1', project: 'default', host_instance: 'web1', host_options: '', disabled_units: '',
    });
    // Every call went to the instance as the client resolves it.
    expect(lxd.calls.filter((c) => c.method === 'pushFile').every((c) => JSON.stringify(c.args[0]) === JSON.stringify(RESOLVED))).toBe(true);
  });

  it('installing twice changes nothing the second time, and says so', async () => {
    const first = new FakeLxd();
    look(first);
    first.expect('listCertificates', () => []);
    first.expect('exec', () => execResult(), isShell('mkdir'));
    expectPushes(first, MODE_FILES.guard.map((s) => s.path));
    await install(first);

    const second = new FakeLxd();
    look(second, { files: installedFiles('guard', pushes(first)), dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] });
    second.expect('listCertificates', () => []);
    const outcome = await install(second);

    second.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: `guard hook already installed (${VERSION}); nothing changed`, changes: [] });
  });

  it('rewrites a file changed by hand, or of another version, and only that one', async () => {
    const first = new FakeLxd();
    look(first);
    first.expect('listCertificates', () => []);
    first.expect('exec', () => execResult(), isShell('mkdir'));
    expectPushes(first, MODE_FILES.guard.map((s) => s.path));
    await install(first);
    const files = installedFiles('guard', pushes(first));
    files[PATHS.guard] = { mode: 0o755, content: files[PATHS.guard]!.content!.replace('exit 1', 'exit 0') };
    files[PATHS.lib] = { mode: 0o644, content: renderTemplate(readTemplate('hook-lib.sh'), { version: '0.0.9' }) };

    const second = new FakeLxd();
    look(second, { files, dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] });
    second.expect('listCertificates', () => []);
    expectPushes(second, [PATHS.lib, PATHS.guard]);
    const outcome = await install(second);
    second.assertDone();
    expect(outcome.changes).toEqual([`update ${PATHS.lib}`, `update ${PATHS.guard}`]);
  });

  it('refuses an instance without apt: exit 3, nothing changed', async () => {
    const lxd = new FakeLxd();
    look(lxd, { apt: false });
    const outcome = await install(lxd);
    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 3, changes: [] });
    expect(outcome.summary).toBe('web1 has no apt (apt-get and /etc/apt/apt.conf.d): the hooks are apt hooks; nothing changed');
  });

  it.each([
    ['missing', null, 'instance web1 does not exist'],
    ['stopped', runningContainer({ status: 'Stopped' }), 'web1 is Stopped: start it to install the hook'],
  ])('refuses an instance that is %s: exit 3', async (_, instance, message) => {
    const lxd = new FakeLxd();
    look(lxd, {}, instance);
    const outcome = await install(lxd);
    lxd.assertDone();
    expect(outcome.exitCode).toBe(3);
    expect(outcome.summary).toContain(message);
  });

  it('LXD unreachable: exit 3', async () => {
    const lxd = new FakeLxd();
    lxd.expect('checkReachable', () => {
      throw new LxdError('LXD is not reachable: connection refused', 'unreachable', []);
    });
    expect(await install(lxd)).toMatchObject({ exitCode: 3, summary: 'LXD is not reachable: connection refused; nothing changed' });
  });

  it('--disable-timers turns off the apt timers that are on, and records them for uninstall', async () => {
    const lxd = new FakeLxd();
    look(lxd, { units: { 'apt-daily.timer': 'enabled', 'apt-daily-upgrade.timer': 'disabled', 'unattended-upgrades.service': 'enabled' } });
    lxd.expect('listCertificates', () => []);
    lxd.expect('exec', () => execResult(), isShell('mkdir'));
    lxd.expect('exec', () => execResult(), (args) => (args[1] as string[])[2] === 'systemctl disable --now apt-daily.timer unattended-upgrades.service', 'disable');
    expectPushes(lxd, MODE_FILES.guard.map((s) => s.path));
    const outcome = await install(lxd, target(), options({ disableTimers: true }));
    lxd.assertDone();
    expect(outcome.changes).toContain("disable apt-daily.timer, unattended-upgrades.service (apt's own schedules in the instance; uninstall enables them again)");
    expect(parseHookConf(pushes(lxd).find((f) => f.path === PATHS.hookConf)!.content).disabled_units).toBe('apt-daily.timer unattended-upgrades.service');
  });

  it('names the instance for the host command with its remote, and its project when not default', async () => {
    expect(hostNaming({ remote: 'backup', name: 'web1', project: 'prod' }, 'prod')).toEqual({ hostInstance: 'backup:web1', hostOptions: '--project prod' });
    expect(hostNaming({ remote: null, name: 'web1', project: null }, 'default')).toEqual({ hostInstance: 'web1', hostOptions: '' });
    // The client's current project counts, even when not given.
    expect(hostNaming({ remote: null, name: 'web1', project: null }, 'team')).toEqual({ hostInstance: 'web1', hostOptions: '--project team' });
    // On Incus the host command says so: with both clients installed, safeupdate would take lxc.
    expect(hostNaming({ remote: null, name: 'web1', project: null }, 'team', 'incus')).toEqual({ hostInstance: 'web1', hostOptions: '--client incus --project team' });
    expect(hostNaming({ remote: null, name: 'web1', project: null }, 'default', 'incus')).toEqual({ hostInstance: 'web1', hostOptions: '--client incus' });
  });
});

describe('hooks install, snapshot mode', () => {
  function expectSnapshotReads(lxd: FakeLxd, trust: TrustedCertificate[] = [], config: Record<string, string> = { 'volatile.cloud-init.instance-id': INSTANCE_ID }) {
    lxd.expect('listCertificates', () => trust, (args) => args[0] === 'local');
    lxd.expect('getServer', () => ({ httpsAddress: '127.0.0.1:8443', certificate: serverCert }), (args) => args[0] === 'local');
    lxd.expect('getConfig', () => config);
  }

  async function freshInstall(checks: InstallTarget['checks'] = null) {
    const lxd = new FakeLxd();
    look(lxd);
    expectSnapshotReads(lxd);
    lxd.expect('exec', () => execResult(), isShell("mkdir -p -m 700 '/etc/safeupdate/lxd'"), 'mkdir');
    lxd.expect('addDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    expectPushes(lxd, [PATHS.clientKey, PATHS.clientCert]);
    lxd.expect('addRestrictedCertificate', () => undefined);
    expectPushes(lxd, [PATHS.serverCert, ...MODE_FILES.snapshot.map((s) => s.path)]);
    const outcome = await install(lxd, target({ checks }), options({ mode: 'snapshot' }));
    lxd.assertDone();
    return { lxd, outcome };
  }

  it('adds the loopback proxy device, a key and certificate trusted for the project only, LXD\'s certificate, the hooks; snippet last', async () => {
    const { lxd, outcome } = await freshInstall([defineCheck('unit:nginx'), defineCheck('http://{ip}/')]);

    expect(outcome).toMatchObject({ exitCode: 0, summary: `snapshot hook installed (${VERSION})` });
    expect(lxd.calls.find((c) => c.method === 'addDevice')!.args).toEqual([RESOLVED, DEVICE_NAME, DEVICE]);
    expect(lxd.calls.find((c) => c.method === 'addRestrictedCertificate')!.args).toEqual(['local', 'safeupdate-hook.web1.default', pair.certificate, ['default']]);
    const written = pushes(lxd);
    expect(written.find((f) => f.path === PATHS.clientKey)).toEqual({ path: PATHS.clientKey, content: pair.key, mode: 0o600 });
    expect(written.find((f) => f.path === PATHS.clientCert)!.mode).toBe(0o600);
    expect(written.find((f) => f.path === PATHS.serverCert)).toEqual({ path: PATHS.serverCert, content: serverCert, mode: 0o600 });
    expect(written.at(-1)!.path).toBe(PATHS.snapshotAptConf);
    expect(parseHookConf(written.find((f) => f.path === PATHS.hookConf)!.content)).toMatchObject({
      mode: 'snapshot', lxd_url: 'https://127.0.0.1:18443', instance_id: INSTANCE_ID, expiry_seconds: '1209600', snapshot_timeout: '1800', cert_fingerprint: fingerprint,
    });
    expect(written.find((f) => f.path === PATHS.checks)!.content).toContain('unit\tyes\t60\t10\tnginx');
    expect(outcome.notes).toEqual(['checks after dpkg: systemd, unit:nginx', "not run by the hook: http://{ip}/ (asked from the host; runs in safeupdate's own runs only)"]);
  });

  it('installing twice: the same key, device and trust entry; nothing changed', async () => {
    const { lxd: first } = await freshInstall();
    const second = new FakeLxd();
    const instance = runningContainer({ devices: { ...runningContainer().devices, [DEVICE_NAME]: DEVICE } });
    look(second, { files: installedFiles('snapshot', pushes(first)), dirs: ['/etc/safeupdate', '/etc/safeupdate/lxd', '/usr/local/lib/safeupdate'], listen: [8080, 18443] }, instance);
    expectSnapshotReads(second, [trusted()]);
    const before = generated;
    const outcome = await install(second, target(), options({ mode: 'snapshot' }));

    second.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: `snapshot hook already installed (${VERSION}); nothing changed`, changes: [] });
    expect(generated).toBe(before);
  });

  it('a revoked certificate is replaced: a new key, trusted again', async () => {
    const { lxd: first } = await freshInstall();
    const lxd = new FakeLxd();
    const instance = runningContainer({ devices: { ...runningContainer().devices, [DEVICE_NAME]: DEVICE } });
    look(lxd, { files: installedFiles('snapshot', pushes(first)), dirs: ['/etc/safeupdate', '/etc/safeupdate/lxd', '/usr/local/lib/safeupdate'], listen: [18443] }, instance);
    expectSnapshotReads(lxd, []);
    expectPushes(lxd, [PATHS.clientKey, PATHS.clientCert]);
    lxd.expect('addRestrictedCertificate', () => undefined);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.changes[2]).toMatch(/^trust it on local for project default only, as safeupdate-hook.web1.default/);
  });

  it('an entry trusted without the project restriction is not taken as the hook\'s: a restricted one replaces it', async () => {
    const { lxd: first } = await freshInstall();
    const lxd = new FakeLxd();
    const instance = runningContainer({ devices: { ...runningContainer().devices, [DEVICE_NAME]: DEVICE } });
    look(lxd, { files: installedFiles('snapshot', pushes(first)), dirs: ['/etc/safeupdate', '/etc/safeupdate/lxd', '/usr/local/lib/safeupdate'], listen: [18443] }, instance);
    const broad = trusted({ restricted: false, projects: [] });
    expectSnapshotReads(lxd, [broad]);
    expectPushes(lxd, [PATHS.clientKey, PATHS.clientCert]);
    lxd.expect('addRestrictedCertificate', () => undefined);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    // The new pair has the same fingerprint here (the fake generator hands out one pair), so the old
    // entry is not deleted by fingerprint; a real new certificate differs and its named entry goes.
    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
  });

  it.each([
    ['curl is missing inside', { curl: false }, null, 'curl is not installed in web1'],
    ['LXD does not listen on HTTPS', {}, { httpsAddress: null, certificate: 'x' }, 'does not listen on HTTPS'],
    ['LXD listens elsewhere only', {}, { httpsAddress: '10.0.0.5:8443', certificate: 'x' }, 'LXD listens on 10.0.0.5:8443 only'],
  ])('refuses when %s: exit 3, nothing changed', async (_, state, server, message) => {
    const lxd = new FakeLxd();
    look(lxd, state);
    lxd.expect('listCertificates', () => []);
    if (server) lxd.expect('getServer', () => server);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.exitCode).toBe(3);
    expect(outcome.summary).toContain(message);
  });

  it('refuses a virtual machine: its proxy devices need NAT mode and a network', async () => {
    const lxd = new FakeLxd();
    look(lxd, {}, runningContainer({ type: 'virtual-machine' }));
    lxd.expect('listCertificates', () => []);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.exitCode).toBe(3);
    expect(outcome.summary).toContain('web1 is a virtual machine');
  });

  it('refuses a server without the proxy device or restricted certificates: exit 3, naming the extensions', async () => {
    const lxd = new FakeLxd();
    lxd.expect('checkReachable', () => ({ server: 'lxd', version: '3.0.3', extensions: ['instances', 'snapshot_expiry_creation'] }));
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('exec', () => inside(), isStateScript, 'the state script');
    lxd.expect('listCertificates', () => []);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.exitCode).toBe(3);
    expect(outcome.summary).toMatch(/^the server local: \(lxd 3\.0\.3\) lacks the API extensions "proxy" \(needed for the proxy device .*\), "certificate_project" \(needed for a client certificate restricted/);
  });

  it('refuses a port something inside already listens on', async () => {
    const lxd = new FakeLxd();
    look(lxd, { listen: [18443] });
    lxd.expect('listCertificates', () => []);
    lxd.expect('getServer', () => ({ httpsAddress: '[::]:8443', certificate: serverCert }));
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    expect(outcome).toMatchObject({ exitCode: 3 });
    expect(outcome.summary).toContain('port 18443 is in use inside web1; choose another for the hook with --port');
  });

  it('switching to guard mode removes the snapshot hook, the key, the device and the trust entry', async () => {
    const { lxd: first } = await freshInstall();
    const files = installedFiles('snapshot', pushes(first));
    const lxd = new FakeLxd();
    const instance = runningContainer({ devices: { ...runningContainer().devices, [DEVICE_NAME]: DEVICE } });
    look(lxd, { files, dirs: ['/etc/safeupdate', '/etc/safeupdate/lxd', '/usr/local/lib/safeupdate'] }, instance);
    lxd.expect('listCertificates', () => [trusted(), trusted({ fingerprint: 'f'.repeat(64), name: 'someone-else' })]);
    expectPushes(lxd, [PATHS.guard, PATHS.hookConf, PATHS.guardAptConf]);
    for (const path of [PATHS.preSnapshot, PATHS.postCheck, PATHS.checks, PATHS.snapshotAptConf, PATHS.clientKey, PATHS.clientCert, PATHS.serverCert, '/etc/safeupdate/lxd']) {
      lxd.expect('removeFile', () => undefined, (args) => args[1] === path, `remove ${path}`);
    }
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[0] === 'local' && args[1] === fingerprint);
    const outcome = await install(lxd);
    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
  });
});

describe('applying a plan', () => {
  it('stops at the first failure: exit 4 with what was done and how to finish; exit 3 when nothing was', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('exec', () => execResult(), isShell('mkdir'));
    lxd.expect('pushFile', () => undefined);
    lxd.expect('pushFile', () => {
      throw new LxdError('disk full', 'failed', []);
    });
    const outcome = await install(lxd);
    expect(outcome.exitCode).toBe(4);
    expect(outcome.summary).toBe(`stopped half-way: could not write ${PATHS.allowOnce}: disk full. 2 change(s) made before it; again`);
    expect(outcome.changes).toEqual(['create /usr/local/lib/safeupdate, /etc/safeupdate', `write ${PATHS.lib}`]);

    const early = new FakeLxd();
    look(early);
    early.expect('listCertificates', () => []);
    early.expect('exec', () => execResult({ exitCode: 1, stderr: 'mkdir: read-only file system' }), isShell('mkdir'));
    const refused = await install(early);
    expect(refused.exitCode).toBe(3);
    expect(refused.summary).toContain('mkdir: read-only file system; nothing changed');
  });

  it('a dry run lists the changes and makes none', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    const outcome = await applyPlan(await planInstall(deps(lxd), target(), options()), { dryRun: true, retry: '' });
    lxd.assertDone();
    expect(outcome.summary).toBe('would change 6 thing(s) (dry run; nothing changed)');
    expect(outcome.changes.at(-1)).toBe(`write ${PATHS.guardAptConf}`);
  });
});

describe('hooks uninstall', () => {
  it('removes every file of the hook (records and log too), its folders, the device and the trust entry; timers on again', async () => {
    const files: Record<string, { mode: number; content: string | null }> = {};
    for (const spec of MODE_FILES.snapshot) files[spec.path] = { mode: spec.mode, content: 'x' };
    files[PATHS.clientKey] = { mode: 0o600, content: null };
    files[PATHS.clientCert] = { mode: 0o600, content: pair.certificate };
    files[PATHS.serverCert] = { mode: 0o600, content: serverCert };
    files[PATHS.hookConf] = { mode: 0o644, content: `mode=snapshot\ncert_fingerprint=${'e'.repeat(64)}\ndisabled_units=apt-daily.timer apt-daily-upgrade.timer\n` };
    files['/var/lib/safeupdate-hook/last-run'] = { mode: 0o644, content: 'started=x\n' };
    files['/var/log/safeupdate-guard.log'] = { mode: 0o644, content: 'x\n' };
    const lxd = new FakeLxd();
    const instance = runningContainer({ devices: { ...runningContainer().devices, [DEVICE_NAME]: DEVICE } });
    look(lxd, { files, dirs: ['/etc/safeupdate', '/etc/safeupdate/lxd', '/usr/local/lib/safeupdate', '/var/lib/safeupdate-hook'], units: { 'apt-daily.timer': 'disabled', 'apt-daily-upgrade.timer': 'disabled' } }, instance);
    lxd.expect('listCertificates', () => [trusted(), trusted({ fingerprint: 'e'.repeat(64), name: 'renamed by hand' }), trusted({ fingerprint: 'f'.repeat(64), name: 'someone-else' })]);
    const removed: string[] = [];
    lxd.expect('removeFile', (args) => void removed.push(args[1] as string), (args) => args[1] === PATHS.snapshotAptConf, 'the snippet first');
    lxd.expect('exec', () => execResult(), (args) => (args[1] as string[])[2] === 'systemctl enable --now apt-daily.timer apt-daily-upgrade.timer', 'enable');
    const others = Object.keys(files).filter((path) => path !== PATHS.snapshotAptConf);
    for (let i = 0; i < others.length; i += 1) lxd.expect('removeFile', (args) => void removed.push(args[1] as string));
    lxd.expect('removeFile', () => undefined, (args) => args[1] === '/etc/safeupdate/lxd');
    lxd.expect('removeFile', () => {
      throw new LxdError('sftp: "remove /etc/safeupdate: directory not empty" (SSH_FX_FAILURE)', 'failed', []);
    }, (args) => args[1] === '/etc/safeupdate');
    lxd.expect('removeFile', () => undefined, (args) => args[1] === '/usr/local/lib/safeupdate');
    lxd.expect('removeFile', () => undefined, (args) => args[1] === '/var/lib/safeupdate-hook');
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === fingerprint);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === 'e'.repeat(64));
    const outcome = await uninstall(lxd);

    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: 'hook removed: no file, device or trust entry of it is left' });
    expect(removed.sort()).toEqual(Object.keys(files).sort());
    expect(outcome.notes).toEqual(["kept /etc/safeupdate: it holds files that are not safeupdate's"]);
  });

  it('nothing installed: nothing changed, exit 0', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => [trusted({ name: 'someone-else', fingerprint: 'f'.repeat(64) })]);
    expect(await uninstall(lxd)).toMatchObject({ exitCode: 0, summary: 'no hook installed; nothing changed', changes: [] });
    lxd.assertDone();
  });

  it('an instance that is gone: its trust entry is still revoked; without one, exit 3', async () => {
    const lxd = new FakeLxd();
    look(lxd, {}, null);
    lxd.expect('listCertificates', () => [trusted()]);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === fingerprint);
    expect(await uninstall(lxd)).toMatchObject({ exitCode: 0, summary: 'instance web1 does not exist; its trust entry was removed' });

    const none = new FakeLxd();
    look(none, {}, null);
    none.expect('listCertificates', () => []);
    expect(await uninstall(none)).toMatchObject({ exitCode: 3, summary: 'instance web1 does not exist; nothing changed' });
  });
});

describe('hooks status', () => {
  it('mode, versions against this package\'s, the device and the trust entry, the last run', async () => {
    const { lxd: first } = await (async () => {
      const lxd = new FakeLxd();
      look(lxd);
      lxd.expect('listCertificates', () => []);
      lxd.expect('getServer', () => ({ httpsAddress: '127.0.0.1:8443', certificate: serverCert }));
      lxd.expect('getConfig', () => ({}));
      lxd.expect('exec', () => execResult(), isShell('mkdir'));
      lxd.expect('addDevice', () => undefined);
      expectPushes(lxd, [PATHS.clientKey, PATHS.clientCert]);
      lxd.expect('addRestrictedCertificate', () => undefined);
      expectPushes(lxd, [PATHS.serverCert, ...MODE_FILES.snapshot.map((s) => s.path)]);
      await install(lxd, target(), options({ mode: 'snapshot' }));
      return { lxd };
    })();
    const files = installedFiles('snapshot', pushes(first));
    files[PATHS.postCheck] = { mode: 0o755, content: files[PATHS.postCheck]!.content!.replace(VERSION, '0.0.9') };
    files['/var/lib/safeupdate-hook/last-run'] = { mode: 0o644, content: 'started=s\ncommand=apt-get upgrade\nsnapshot=safeupdate-hook-1\nsnapshot_result=taken\ncheck=failed\tsystemd\tfailed units: x.service\nchecks_result=failed\nfinished=f\n' };
    const lxd = new FakeLxd();
    look(lxd, { files }, runningContainer({ devices: { [DEVICE_NAME]: DEVICE } }));
    lxd.expect('listCertificates', () => [trusted()]);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });

    lxd.assertDone();
    expect(status).toMatchObject({ exitCode: 0, mode: 'snapshot', packageVersion: VERSION, device: DEVICE, trust: { name: 'safeupdate-hook.web1.default', restricted: true, projects: ['default'] }, upToDate: false });
    expect(status.files.find((f) => f.path === PATHS.postCheck)).toEqual({ path: PATHS.postCheck, version: '0.0.9', state: 'other-version' });
    expect(status.files.filter((f) => f.state === 'current').length).toBe(MODE_FILES.snapshot.length - 1);
    expect(status.problems).toEqual([`${PATHS.postCheck} (version 0.0.9) differ from this safeupdate's (${VERSION}): install again`]);
    expect(status.lastRun!.values).toMatchObject({ snapshot: 'safeupdate-hook-1', checks_result: 'failed' });
    expect(status.lastRun!.checks).toEqual([{ status: 'failed', name: 'systemd', message: 'failed units: x.service' }]);
  });

  it('no hook: says so; leftovers are problems', async () => {
    const lxd = new FakeLxd();
    look(lxd, { files: { [PATHS.guard]: { mode: 0o755, content: 'x' } } });
    lxd.expect('listCertificates', () => []);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });
    expect(status.mode).toBeNull();
    expect(status.problems).toEqual([`no hook is on, but some of its files are there (${PATHS.guard}): install or uninstall again`]);
  });

  it('a missing instance: exit 3', async () => {
    const lxd = new FakeLxd();
    look(lxd, {}, null);
    expect(await readHookStatus(deps(lxd), { text: 'web1', ref: web1 })).toMatchObject({ exitCode: 3, error: 'instance web1 does not exist' });
  });
});
