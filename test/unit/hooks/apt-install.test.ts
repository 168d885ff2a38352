import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defineCheck } from '../../../src/checks/spec.js';
import { LxdError } from '../../../src/errors.js';
import { readRegistration, registrationFile, writeRegistration, type Registration } from '../../../src/hooks/broker/registration.js';
import { brokerDevice } from '../../../src/hooks/broker-plan.js';
import type { HostServices } from '../../../src/hooks/broker-units.js';
import { certificateFingerprint } from '../../../src/hooks/certificate.js';
import { hostNaming, planInstall, planUninstall, type HookDeps, type InstallOptions, type InstallTarget } from '../../../src/hooks/install.js';
import { DEVICE_NAME, MODE_FILES, OLD_CLIENT_CERT, OLD_CLIENT_KEY, OLD_DEVICE_NAME, OLD_GUARD_APT_CONF, OLD_TLS_DIR, PATHS, trustName } from '../../../src/hooks/layout.js';
import { applyPlan, couldNotStart, type HookOutcome } from '../../../src/hooks/plan.js';
import { hookVersionOf, parseHookConf, readTemplate, renderTemplate } from '../../../src/hooks/render.js';
import { readHookStatus } from '../../../src/hooks/status.js';
import type { DeviceConfig, Instance, InstanceRef, TrustedCertificate } from '../../../src/lxd/lxd.js';
import { execResult, FakeLxd, runningContainer } from '../../support/fake-lxd.js';

// Install, uninstall and status over the scripted fake LXD and a fake of the host's systemd: every
// call they make, in order, what they write where in the instance, and the broker's registration
// on the host. The scripts themselves are tested in apt-scripts.test.ts, the broker in broker/.

const VERSION = '0.1.0';
const web1: InstanceRef = { remote: null, name: 'web1', project: null };
const RESOLVED: InstanceRef = { remote: 'local', name: 'web1', project: 'default' };
const UUID = '17e853e8-7f18-40e1-ad1a-365e5a503152';
const KEY = 'lxc.default.web1';
/** The device, spelled out: a change to it must be a change to this test. */
const DEVICE: DeviceConfig = {
  type: 'proxy', listen: 'unix:/dev/safeupdate-broker.sock', connect: 'unix:/run/safeupdate/hooks/lxc.default.web1.sock', bind: 'instance', mode: '0600', uid: '0', gid: '0',
};
/** The old certificate mode's device: LXD's HTTPS API on the instance's loopback. */
const OLD_DEVICE: DeviceConfig = { type: 'proxy', listen: 'tcp:127.0.0.1:18443', connect: 'tcp:127.0.0.1:8443', bind: 'instance' };
const UNIT_FILES = { '/etc/systemd/system/safeupdate-hook@.socket': 'socket', '/etc/systemd/system/safeupdate-hook@.service': 'service' };

let oldCertificate: string;
let oldFingerprint: string;

beforeAll(async () => {
  // A certificate as the old mode made them (openssl; Node cannot make one), only to be found by its fingerprint.
  const { stdout } = await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null',
    '-subj', '/CN=safeupdate-hook.web1.default', '-days', '1']);
  oldCertificate = `${stdout}\n`;
  oldFingerprint = certificateFingerprint(oldCertificate)!;
});

/** The host's systemd, faked: which sockets are enabled, which unit files are stale; every change recorded. */
class FakeServices implements HostServices {
  readonly calls: string[] = [];
  readonly enabled = new Set<string>();
  stale: Record<string, string> = { ...UNIT_FILES };
  constructor(public systemd = true) {}
  async staleUnits(version: string): Promise<Record<string, string>> {
    this.calls.push(`staleUnits ${version}`);
    return { ...this.stale };
  }
  async writeUnits(files: Record<string, string>): Promise<void> {
    this.calls.push(`writeUnits ${Object.keys(files).join(' ')}`);
    this.stale = {};
  }
  async enableSocket(key: string): Promise<void> {
    this.calls.push(`enable ${key}`);
    this.enabled.add(key);
  }
  async disableSocket(key: string): Promise<void> {
    this.calls.push(`disable ${key}`);
    this.enabled.delete(key);
  }
  async socketEnabled(key: string): Promise<boolean> {
    return this.enabled.has(key);
  }
}

let stateDir: string;
let services: FakeServices;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-hooks-install-'));
  services = new FakeServices();
});
afterEach(() => rm(stateDir, { recursive: true, force: true }));

const deps = (lxd: FakeLxd): HookDeps => ({ lxd, version: VERSION, stateDir, services, env: {} });
const target = (overrides: Partial<InstallTarget> = {}): InstallTarget => ({ text: 'web1', ref: web1, checks: null, expiryMs: 14 * 86_400_000, ...overrides });
const options = (overrides: Partial<InstallOptions> = {}): InstallOptions => ({ mode: 'guard', disableTimers: false, ...overrides });

interface Inside {
  apt?: boolean;
  perl?: boolean;
  systemd?: boolean;
  files?: Record<string, { mode: number; content: string | null }>;
  dirs?: string[];
  units?: Record<string, string>;
}

/** What the state script prints for such an instance. */
function inside({ apt = true, perl = true, systemd = true, files = {}, dirs = [], units = { 'apt-daily.timer': 'enabled', 'apt-daily-upgrade.timer': 'enabled', 'unattended-upgrades.service': 'absent' } }: Inside = {}) {
  return execResult({
    stdout: [
      `apt=${apt ? 'yes' : 'no'}`, `perl=${perl ? 'yes' : 'no'}`, `systemd=${systemd ? 'yes' : 'no'}`,
      ...Object.entries(units).map(([unit, state]) => `unit=${unit} ${state}`),
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

const changing = new Set(['pushFile', 'removeFile', 'addDevice', 'removeDevice', 'deleteCertificate', 'addRestrictedCertificate', 'setConfig']);
/** The calls that change the instance or the server, in order, as `method arg`. */
function changes(lxd: FakeLxd): string[] {
  return lxd.calls.filter((c) => changing.has(c.method) || (c.method === 'exec' && !isStateScript(c.args)))
    .map((c) => `${c.method} ${c.method === 'exec' ? String((c.args[1] as string[])[2]).slice(0, 20) : String(c.args[1])}`);
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
  for (const file of written) files[file.path] = { mode: file.mode, content: file.content };
  for (const spec of MODE_FILES[mode]) expect(files[spec.path], spec.path).toBeDefined();
  return files;
}

const trusted = (overrides: Partial<TrustedCertificate> = {}): TrustedCertificate => ({
  fingerprint: oldFingerprint, name: trustName('web1', 'default'), type: 'client', restricted: true, projects: ['default'], ...overrides,
});

function registration(overrides: Partial<Registration> = {}): Registration {
  return {
    key: KEY, client: 'lxc', daemonDir: '/var/lib/lxd', project: 'default', instance: 'web1', uuid: UUID, hostInstance: 'web1', hostOptions: '',
    expirySeconds: 1_209_600, maxSnapshots: 10, maxSnapshotsPerWindow: 3, rateWindowSeconds: 600, version: VERSION, ...overrides,
  };
}

const withDevices = (devices: Record<string, DeviceConfig>) => runningContainer({ devices: { ...runningContainer().devices, ...devices } });

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
    expect(PATHS.guardAptConf).toBe('/etc/apt/apt.conf.d/05safeupdate-guard');
    for (const file of written) expect(hookVersionOf(file.content), file.path).toBe(VERSION);
    expect(written[2]!.content).toBe(renderTemplate(readTemplate('guard'), { version: VERSION }));
    expect(parseHookConf(written[3]!.content)).toEqual({
      mode: 'guard', instance: 'web1', project: 'default', host_instance: 'web1', host_options: '', disabled_units: '',
    });
    // Every call went to the instance as the client resolves it; the host's services were not touched.
    expect(lxd.calls.filter((c) => c.method === 'pushFile').every((c) => JSON.stringify(c.args[0]) === JSON.stringify(RESOLVED))).toBe(true);
    expect(services.calls).toEqual([]);
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

  it('rewrites a file changed by hand, or of another version, and only that one; the old 80 guard snippet goes', async () => {
    const first = new FakeLxd();
    look(first);
    first.expect('listCertificates', () => []);
    first.expect('exec', () => execResult(), isShell('mkdir'));
    expectPushes(first, MODE_FILES.guard.map((s) => s.path));
    await install(first);
    const files = installedFiles('guard', pushes(first));
    files[PATHS.guard] = { mode: 0o755, content: files[PATHS.guard]!.content!.replace('exit 1', 'exit 0') };
    files[PATHS.lib] = { mode: 0o644, content: renderTemplate(readTemplate('hook-lib.sh'), { version: '0.0.9' }) };
    files[OLD_GUARD_APT_CONF] = { mode: 0o644, content: 'old' };

    const second = new FakeLxd();
    look(second, { files, dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] });
    second.expect('listCertificates', () => []);
    expectPushes(second, [PATHS.lib, PATHS.guard]);
    second.expect('removeFile', () => undefined, (args) => args[1] === OLD_GUARD_APT_CONF);
    const outcome = await install(second);
    second.assertDone();
    expect(outcome.changes).toEqual([`update ${PATHS.lib}`, `update ${PATHS.guard}`, `remove ${OLD_GUARD_APT_CONF}`]);
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
  async function freshInstall(checks: InstallTarget['checks'] = null) {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => [], (args) => args[0] === 'local');
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    lxd.expect('exec', () => execResult(), isShell("mkdir -p -m 755 '/usr/local/lib/safeupdate'"), 'mkdir');
    lxd.expect('addDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    expectPushes(lxd, MODE_FILES.snapshot.map((s) => s.path));
    const outcome = await install(lxd, target({ checks }), options({ mode: 'snapshot' }));
    lxd.assertDone();
    return { lxd, outcome };
  }

  it('adds exactly the root-only broker device, registers the instance on the host, enables its socket; no credential inside; snippet last', async () => {
    const { lxd, outcome } = await freshInstall([defineCheck('unit:nginx'), defineCheck('http://{ip}/')]);

    expect(outcome).toMatchObject({ exitCode: 0, summary: `snapshot hook installed (${VERSION})` });
    expect(lxd.calls.find((c) => c.method === 'addDevice')!.args).toEqual([RESOLVED, DEVICE_NAME, DEVICE]);
    expect(brokerDevice(KEY)).toEqual(DEVICE);
    // Nothing is trusted by LXD for it: no certificate call at all.
    expect(lxd.calls.filter((c) => c.method === 'addRestrictedCertificate' || c.method === 'getServer')).toEqual([]);

    // The registration the broker believes: written by the host, root's alone.
    expect(await readRegistration(stateDir, KEY)).toEqual(registration());
    expect((await stat(registrationFile(stateDir, KEY))).mode & 0o777).toBe(0o600);
    expect((await stat(join(stateDir, 'hooks'))).mode & 0o777).toBe(0o700);
    expect(services.calls).toEqual([`staleUnits ${VERSION}`, `writeUnits ${Object.keys(UNIT_FILES).join(' ')}`, `enable ${KEY}`]);

    const written = pushes(lxd);
    expect(written.map((f) => f.path)).toEqual(MODE_FILES.snapshot.map((s) => s.path));
    expect(written.at(-1)!.path).toBe(PATHS.snapshotAptConf);
    expect(written.find((f) => f.path === PATHS.brokerRequest)).toMatchObject({ mode: 0o755, content: renderTemplate(readTemplate('broker-request'), { version: VERSION }) });
    for (const file of written) expect(file.content, file.path).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(parseHookConf(written.find((f) => f.path === PATHS.hookConf)!.content)).toEqual({
      mode: 'snapshot', instance: 'web1', project: 'default', host_instance: 'web1', host_options: '', disabled_units: '',
    });
    expect(written.find((f) => f.path === PATHS.checks)!.content).toContain('unit\tyes\t60\t10\tnginx');
    expect(outcome.notes).toEqual([
      'checks after dpkg: systemd, unit:nginx', "not run by the hook: http://{ip}/ (asked from the host; runs in safeupdate's own runs only)",
      'apt-daily.timer, apt-daily-upgrade.timer still enabled in the instance: their runs go through the hook; --disable-timers turns them off',
    ]);
    expect(outcome.changes.slice(0, 5)).toEqual([
      'create /usr/local/lib/safeupdate, /etc/safeupdate',
      `write the host's registration ${registrationFile(stateDir, KEY)} (what the broker believes; never what the instance says)`,
      `write ${Object.keys(UNIT_FILES).join(', ')} and reload systemd`,
      `enable and start safeupdate-hook@${KEY}.socket (/run/safeupdate/hooks/${KEY}.sock, root only)`,
      `add the proxy device ${DEVICE_NAME}: unix:/dev/safeupdate-broker.sock inside (root only) → unix:/run/safeupdate/hooks/${KEY}.sock on the host, this instance's broker and nothing else`,
    ]);
  });

  it('the registration carries the expiry (none with --no-expiry), and the daemon folder of the environment', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    const plan = await planInstall({ ...deps(lxd), env: { LXD_DIR: '/var/snap/lxd/common/lxd' } }, target({ expiryMs: null }), options({ mode: 'snapshot' }));
    const write = plan.actions.find((action) => action.describe.startsWith("write the host's registration"))!;
    await write.run();
    expect(await readRegistration(stateDir, KEY)).toEqual(registration({ expirySeconds: null, daemonDir: '/var/snap/lxd/common/lxd' }));
  });

  it('installing twice: the same registration, socket and device; nothing changed', async () => {
    const { lxd: first } = await freshInstall();
    const second = new FakeLxd();
    look(second, { files: installedFiles('snapshot', pushes(first)), dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] }, withDevices({ [DEVICE_NAME]: DEVICE }));
    second.expect('listCertificates', () => []);
    second.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    const outcome = await install(second, target(), options({ mode: 'snapshot' }));

    second.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: `snapshot hook already installed (${VERSION}); nothing changed`, changes: [] });
  });

  it('a device that differs (a changed connect, a wider mode) is replaced; a changed registration is rewritten', async () => {
    const { lxd: first } = await freshInstall();
    await writeRegistration(stateDir, registration({ uuid: 'another' }));
    const lxd = new FakeLxd();
    look(lxd, { files: installedFiles('snapshot', pushes(first)), dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] }, withDevices({ [DEVICE_NAME]: { ...DEVICE, mode: '0666' } }));
    lxd.expect('listCertificates', () => []);
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    lxd.expect('addDevice', () => undefined, (args) => JSON.stringify(args[2]) === JSON.stringify(DEVICE));
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
    expect(outcome.changes[0]).toMatch(/^update the host's registration/);
    expect((await readRegistration(stateDir, KEY))!.uuid).toBe(UUID);
  });

  it('on a host without systemd: no units, a note with the command that starts the broker', async () => {
    services = new FakeServices(false);
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    const plan = await planInstall(deps(lxd), target(), options({ mode: 'snapshot' }));
    expect(plan.notes).toContain(`systemd does not run on this host: start the broker yourself and keep it running: safeupdate hooks broker ${KEY} --listen (until it runs, the hook refuses dpkg: no snapshot, no change)`);
    expect(plan.actions.map((a) => a.describe).filter((d) => /systemd|socket/.test(d))).toEqual([]);
  });

  it.each([
    ['on a remote', { ...target(), text: 'backup:web1', ref: { remote: 'backup', name: 'web1', project: null } }, {}, runningContainer(), 'backup:web1 is on the remote backup: snapshot mode\'s broker runs on the host of the instance\'s daemon. Run "safeupdate hooks install" on that host, for its local instance'],
    ['a virtual machine', target(), {}, runningContainer({ type: 'virtual-machine' }), 'web1 is a virtual machine: snapshot mode\'s proxy device needs a container (guard mode works)'],
    ['without perl', target(), { perl: false }, runningContainer(), "perl is not in web1 (Debian's perl-base, which is essential): the hook's request to the host needs it"],
  ])('refuses an instance %s: exit 3, nothing changed, nothing registered', async (_, t, state, instance, message) => {
    const lxd = new FakeLxd();
    look(lxd, state, instance);
    lxd.expect('listCertificates', () => []);
    const outcome = await install(lxd, t, options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 3, changes: [], summary: `${message}; nothing changed` });
    expect(await readRegistration(stateDir, KEY)).toBeNull();
    expect(services.calls).toEqual([]);
  });

  it('refuses an instance LXD reports no volatile.uuid for: the broker could not tell it from another of its name', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('getConfig', () => ({ 'volatile.base_image': 'x' }));
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 3, changes: [] });
    expect(outcome.summary).toBe('LXD reports no volatile.uuid for web1: the broker could not tell it from another instance of the same name; nothing changed');
    expect(await readRegistration(stateDir, KEY)).toBeNull();
  });

  it('refuses a server without the proxy device: exit 3, naming the extension', async () => {
    const lxd = new FakeLxd();
    lxd.expect('checkReachable', () => ({ server: 'lxd', version: '3.0.3', extensions: ['instances', 'snapshot_expiry_creation'] }));
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('exec', () => inside(), isStateScript, 'the state script');
    lxd.expect('listCertificates', () => []);
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));
    lxd.assertDone();
    expect(outcome.exitCode).toBe(3);
    expect(outcome.summary).toMatch(/lacks the API extension.*"proxy"/);
  });

  it('from the old certificate mode: the trust entry is revoked FIRST, then the key files, their folder and the old device go', async () => {
    const files: Record<string, { mode: number; content: string | null }> = {
      [OLD_CLIENT_KEY]: { mode: 0o600, content: null },
      [OLD_CLIENT_CERT]: { mode: 0o600, content: oldCertificate },
      [`${OLD_TLS_DIR}/server.crt`]: { mode: 0o600, content: 'x' },
      [PATHS.hookConf]: { mode: 0o644, content: `mode=snapshot\nlxd_url=https://127.0.0.1:18443\ncert_fingerprint=${'e'.repeat(64)}\n` },
      [PATHS.snapshotAptConf]: { mode: 0o644, content: 'DPkg::Pre-Invoke { "/usr/local/lib/safeupdate/pre-snapshot"; };' },
    };
    const lxd = new FakeLxd();
    look(lxd, { files, dirs: ['/etc/safeupdate', OLD_TLS_DIR, '/usr/local/lib/safeupdate'] }, withDevices({ [OLD_DEVICE_NAME]: OLD_DEVICE }));
    // By name, by the fingerprint of the certificate inside (renamed by hand), by the one hook.conf recorded; not someone else's.
    lxd.expect('listCertificates', () => [
      trusted({ fingerprint: 'a'.repeat(64) }),
      trusted({ name: 'renamed by hand' }),
      trusted({ name: 'recorded', fingerprint: 'e'.repeat(64) }),
      trusted({ name: 'someone-else', fingerprint: 'f'.repeat(64) }),
    ], (args) => args[0] === 'local');
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    for (const fp of ['a'.repeat(64), oldFingerprint, 'e'.repeat(64)]) lxd.expect('deleteCertificate', () => undefined, (args) => args[0] === 'local' && args[1] === fp, `revoke ${fp}`);
    for (const path of [OLD_CLIENT_KEY, OLD_CLIENT_CERT, `${OLD_TLS_DIR}/server.crt`, OLD_TLS_DIR]) lxd.expect('removeFile', () => undefined, (args) => args[1] === path, `remove ${path}`);
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === OLD_DEVICE_NAME);
    lxd.expect('addDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    expectPushes(lxd, MODE_FILES.snapshot.map((s) => s.path));
    const outcome = await install(lxd, target(), options({ mode: 'snapshot' }));

    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
    const made = changes(lxd);
    // Before anything else: until then the key reaches LXD.
    expect(made.slice(0, 3)).toEqual(['deleteCertificate ' + 'a'.repeat(64), `deleteCertificate ${oldFingerprint}`, 'deleteCertificate ' + 'e'.repeat(64)]);
    expect(made.slice(3, 8)).toEqual([`removeFile ${OLD_CLIENT_KEY}`, `removeFile ${OLD_CLIENT_CERT}`, `removeFile ${OLD_TLS_DIR}/server.crt`, `removeFile ${OLD_TLS_DIR}`, `removeDevice ${OLD_DEVICE_NAME}`]);
    expect(made).not.toContain('deleteCertificate ' + 'f'.repeat(64));
    expect(outcome.notes[0]).toMatch(/^the old certificate-based snapshot mode was found and removed: its LXD key is revoked.*\(found: trust entry safeupdate-hook.web1.default, trust entry renamed by hand, trust entry recorded, \/etc\/safeupdate\/lxd\/client.key/);
    // The key was never read: the state script lists it without content, and nothing pulled it.
    expect(lxd.calls.filter((c) => c.method === 'readFile')).toEqual([]);
  });

  it('the old mode is removed in guard mode too', async () => {
    const lxd = new FakeLxd();
    look(lxd, { files: { [OLD_CLIENT_KEY]: { mode: 0o600, content: null } }, dirs: ['/etc/safeupdate', OLD_TLS_DIR, '/usr/local/lib/safeupdate'] }, withDevices({ [OLD_DEVICE_NAME]: OLD_DEVICE }));
    lxd.expect('listCertificates', () => [trusted()]);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === oldFingerprint);
    lxd.expect('removeFile', () => undefined, (args) => args[1] === OLD_CLIENT_KEY);
    lxd.expect('removeFile', () => undefined, (args) => args[1] === OLD_TLS_DIR);
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === OLD_DEVICE_NAME);
    expectPushes(lxd, MODE_FILES.guard.map((s) => s.path));
    const outcome = await install(lxd);
    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
    expect(changes(lxd)[0]).toBe(`deleteCertificate ${oldFingerprint}`);
  });

  it('switching to guard mode removes the snapshot hook\'s files, the broker device, its socket unit and the registration', async () => {
    const { lxd: first } = await freshInstall();
    expect(await readRegistration(stateDir, KEY)).not.toBeNull();
    const files = installedFiles('snapshot', pushes(first));
    const lxd = new FakeLxd();
    look(lxd, { files, dirs: ['/etc/safeupdate', '/usr/local/lib/safeupdate'] }, withDevices({ [DEVICE_NAME]: DEVICE }));
    lxd.expect('listCertificates', () => []);
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    expectPushes(lxd, [PATHS.guard, PATHS.hookConf, PATHS.guardAptConf]);
    for (const path of [PATHS.preSnapshot, PATHS.postCheck, PATHS.brokerRequest, PATHS.checks, PATHS.snapshotAptConf]) {
      lxd.expect('removeFile', () => undefined, (args) => args[1] === path, `remove ${path}`);
    }
    const outcome = await install(lxd);
    lxd.assertDone();
    expect(outcome.exitCode).toBe(0);
    expect(outcome.changes).toContain(`remove the proxy device ${DEVICE_NAME}`);
    expect(outcome.changes).toContain(`stop and disable safeupdate-hook@${KEY}.socket`);
    expect(services.enabled.has(KEY)).toBe(false);
    expect(await readRegistration(stateDir, KEY)).toBeNull();
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

  it('a dry run lists the changes and makes none (no registration, no unit)', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    lxd.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    const outcome = await applyPlan(await planInstall(deps(lxd), target(), options({ mode: 'snapshot' })), { dryRun: true, retry: '' });
    lxd.assertDone();
    expect(outcome.summary).toBe(`would change ${5 + MODE_FILES.snapshot.length} thing(s) (dry run; nothing changed)`);
    expect(outcome.changes.at(-1)).toBe(`write ${PATHS.snapshotAptConf}`);
    expect(await readRegistration(stateDir, KEY)).toBeNull();
    expect(services.calls).toEqual([`staleUnits ${VERSION}`]);
  });
});

describe('hooks uninstall', () => {
  it('removes every file of the hook (records and log too), its folders, the broker device, socket unit and registration, and the old mode; timers on again', async () => {
    await writeRegistration(stateDir, registration());
    services.enabled.add(KEY);
    const files: Record<string, { mode: number; content: string | null }> = {};
    for (const spec of MODE_FILES.snapshot) files[spec.path] = { mode: spec.mode, content: 'x' };
    files[OLD_CLIENT_KEY] = { mode: 0o600, content: null };
    files[OLD_CLIENT_CERT] = { mode: 0o600, content: oldCertificate };
    files[PATHS.hookConf] = { mode: 0o644, content: 'mode=snapshot\ndisabled_units=apt-daily.timer apt-daily-upgrade.timer\n' };
    files['/var/lib/safeupdate-hook/last-run'] = { mode: 0o644, content: 'started=x\n' };
    files['/var/lib/safeupdate-hook/runs-seen'] = { mode: 0o644, content: 'x\n' };
    files[PATHS.requestToken] = { mode: 0o600, content: null };
    files['/var/log/safeupdate-guard.log'] = { mode: 0o644, content: 'x\n' };
    const lxd = new FakeLxd();
    look(lxd, { files, dirs: ['/etc/safeupdate', OLD_TLS_DIR, '/usr/local/lib/safeupdate', '/var/lib/safeupdate-hook'], units: { 'apt-daily.timer': 'disabled', 'apt-daily-upgrade.timer': 'disabled' } },
      withDevices({ [DEVICE_NAME]: DEVICE, [OLD_DEVICE_NAME]: OLD_DEVICE }));
    lxd.expect('listCertificates', () => [trusted({ name: 'renamed by hand' }), trusted({ fingerprint: 'f'.repeat(64), name: 'someone-else' })]);
    const removed: string[] = [];
    lxd.expect('removeFile', (args) => void removed.push(args[1] as string), (args) => args[1] === PATHS.snapshotAptConf, 'the snippet first');
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === oldFingerprint);
    lxd.expect('removeFile', (args) => void removed.push(args[1] as string), (args) => args[1] === OLD_CLIENT_KEY);
    lxd.expect('removeFile', (args) => void removed.push(args[1] as string), (args) => args[1] === OLD_CLIENT_CERT);
    lxd.expect('removeFile', () => undefined, (args) => args[1] === OLD_TLS_DIR);
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === OLD_DEVICE_NAME);
    lxd.expect('exec', () => execResult(), (args) => (args[1] as string[])[2] === 'systemctl enable --now apt-daily.timer apt-daily-upgrade.timer', 'enable');
    const others = Object.keys(files).filter((path) => ![PATHS.snapshotAptConf, OLD_CLIENT_KEY, OLD_CLIENT_CERT].includes(path));
    for (let i = 0; i < others.length; i += 1) lxd.expect('removeFile', (args) => void removed.push(args[1] as string));
    lxd.expect('removeFile', () => {
      throw new LxdError('sftp: "remove /etc/safeupdate: directory not empty" (SSH_FX_FAILURE)', 'failed', []);
    }, (args) => args[1] === '/etc/safeupdate');
    lxd.expect('removeFile', () => undefined, (args) => args[1] === '/usr/local/lib/safeupdate');
    lxd.expect('removeFile', () => undefined, (args) => args[1] === '/var/lib/safeupdate-hook');
    lxd.expect('removeDevice', () => undefined, (args) => args[1] === DEVICE_NAME);
    const outcome = await uninstall(lxd);

    lxd.assertDone();
    expect(outcome).toMatchObject({ exitCode: 0, summary: 'hook removed: no file, device, registration or trust entry of it is left' });
    expect(removed.sort()).toEqual(Object.keys(files).sort());
    expect(outcome.notes).toEqual(["kept /etc/safeupdate: it holds files that are not safeupdate's"]);
    expect(services.calls).toEqual([`disable ${KEY}`]);
    expect(await readRegistration(stateDir, KEY)).toBeNull();
  });

  it('nothing installed: nothing changed, exit 0', async () => {
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => [trusted({ name: 'someone-else', fingerprint: 'f'.repeat(64) })]);
    expect(await uninstall(lxd)).toMatchObject({ exitCode: 0, summary: 'no hook installed; nothing changed', changes: [] });
    lxd.assertDone();
    expect(services.calls).toEqual([]);
  });

  it('an instance that is gone: its registration, socket unit and old trust entry are still removed; without any, exit 3', async () => {
    await writeRegistration(stateDir, registration());
    services.enabled.add(KEY);
    const lxd = new FakeLxd();
    look(lxd, {}, null);
    lxd.expect('listCertificates', () => [trusted()]);
    lxd.expect('deleteCertificate', () => undefined, (args) => args[1] === oldFingerprint);
    expect(await uninstall(lxd)).toMatchObject({ exitCode: 0, summary: 'instance web1 does not exist; what the host kept for its hook was removed' });
    lxd.assertDone();
    expect(await readRegistration(stateDir, KEY)).toBeNull();
    expect(services.enabled.has(KEY)).toBe(false);

    const none = new FakeLxd();
    look(none, {}, null);
    none.expect('listCertificates', () => []);
    expect(await uninstall(none)).toMatchObject({ exitCode: 3, summary: 'instance web1 does not exist; nothing changed' });
  });
});

describe('hooks status', () => {
  it('mode, versions against this package\'s, the device, the broker\'s registration and socket, the last run', async () => {
    const lxd0 = new FakeLxd();
    look(lxd0);
    lxd0.expect('listCertificates', () => []);
    lxd0.expect('getConfig', () => ({ 'volatile.uuid': UUID }));
    lxd0.expect('exec', () => execResult(), isShell('mkdir'));
    lxd0.expect('addDevice', () => undefined);
    expectPushes(lxd0, MODE_FILES.snapshot.map((s) => s.path));
    await install(lxd0, target(), options({ mode: 'snapshot' }));
    const files = installedFiles('snapshot', pushes(lxd0));
    files[PATHS.postCheck] = { mode: 0o755, content: files[PATHS.postCheck]!.content!.replace(VERSION, '0.0.9') };
    files['/var/lib/safeupdate-hook/last-run'] = { mode: 0o644, content: 'started=s\ncommand=apt-get upgrade\nsnapshot=safeupdate-hook-1\nsnapshot_result=taken\ncheck=failed\tsystemd\tfailed units: x.service\nchecks_result=failed\nfinished=f\n' };
    const lxd = new FakeLxd();
    look(lxd, { files }, runningContainer({ devices: { [DEVICE_NAME]: DEVICE } }));
    lxd.expect('listCertificates', () => []);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });

    lxd.assertDone();
    expect(status).toMatchObject({ exitCode: 0, mode: 'snapshot', packageVersion: VERSION, device: DEVICE, broker: { key: KEY, registered: true, socketUnit: 'enabled' }, insecureLeftovers: [], upToDate: false });
    expect(status.files.find((f) => f.path === PATHS.postCheck)).toEqual({ path: PATHS.postCheck, version: '0.0.9', state: 'other-version' });
    expect(status.files.filter((f) => f.state === 'current').length).toBe(MODE_FILES.snapshot.length - 1);
    expect(status.problems).toEqual([`${PATHS.postCheck} (version 0.0.9) differ from this safeupdate's (${VERSION}): install again`]);
    expect(status.lastRun!.values).toMatchObject({ snapshot: 'safeupdate-hook-1', checks_result: 'failed' });
    expect(status.lastRun!.checks).toEqual([{ status: 'failed', name: 'systemd', message: 'failed units: x.service' }]);
  });

  it('snapshot mode without its host side: the missing registration, socket unit and a foreign device are problems', async () => {
    const files: Record<string, { mode: number; content: string | null }> = {};
    for (const spec of MODE_FILES.snapshot) files[spec.path] = { mode: spec.mode, content: spec.template ? renderTemplate(readTemplate(spec.template), { version: VERSION }) : `# safeupdate-hook-version: ${VERSION}\nmode=snapshot\n` };
    const lxd = new FakeLxd();
    look(lxd, { files }, runningContainer({ devices: { [DEVICE_NAME]: { ...DEVICE, connect: 'unix:/run/elsewhere.sock' } } }));
    lxd.expect('listCertificates', () => []);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });
    expect(status.broker).toEqual({ key: KEY, registered: false, socketUnit: 'disabled' });
    expect(status.problems).toEqual([
      `the proxy device ${DEVICE_NAME} is not the one install adds (unix:/dev/safeupdate-broker.sock → unix:/run/elsewhere.sock): install again`,
      'the host has no registration for it, so its broker refuses every request: install again',
      "the broker's socket unit is not enabled: install again",
    ]);
    expect(status.upToDate).toBe(false);
  });

  it('an old certificate-mode install is INSECURE: its trust entry, key files and device are named', async () => {
    const lxd = new FakeLxd();
    const files = {
      [OLD_CLIENT_KEY]: { mode: 0o600, content: null },
      [OLD_CLIENT_CERT]: { mode: 0o600, content: oldCertificate },
      [PATHS.snapshotAptConf]: { mode: 0o644, content: '// safeupdate-hook-version: 0.0.9\n' },
    };
    look(lxd, { files }, withDevices({ [OLD_DEVICE_NAME]: OLD_DEVICE }));
    lxd.expect('listCertificates', () => [trusted({ name: 'renamed by hand' })]);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });
    lxd.assertDone();
    expect(status.insecureLeftovers).toEqual([
      'trust entry renamed by hand (an LXD client key trusted for project default)',
      OLD_CLIENT_KEY, OLD_CLIENT_CERT,
      `proxy device ${OLD_DEVICE_NAME} (LXD's API inside)`,
    ]);
    expect(status.problems[0]).toMatch(/^INSECURE: the old certificate-based snapshot mode is installed \(.*\): root inside can reach LXD with it; run "safeupdate hooks install web1 --mode snapshot" \(or uninstall\) to remove it$/);
    expect(status.upToDate).toBe(false);
  });

  it('no hook: says so; leftovers are problems', async () => {
    const lxd = new FakeLxd();
    look(lxd, { files: { [PATHS.guard]: { mode: 0o755, content: 'x' } } });
    lxd.expect('listCertificates', () => []);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });
    expect(status.mode).toBeNull();
    expect(status.broker).toBeNull();
    expect(status.problems).toEqual([`no hook is on, but some of its files are there (${PATHS.guard}): install or uninstall again`]);
  });

  it('no hook, but the host still has the registration: a problem', async () => {
    await writeRegistration(stateDir, registration());
    const lxd = new FakeLxd();
    look(lxd);
    lxd.expect('listCertificates', () => []);
    const status = await readHookStatus(deps(lxd), { text: 'web1', ref: web1 });
    expect(status.problems).toEqual([`no hook is on, but the host still has its registration ${KEY}: uninstall again`]);
    expect(JSON.parse(await readFile(registrationFile(stateDir, KEY), 'utf8')).uuid).toBe(UUID);
  });

  it('a missing instance: exit 3', async () => {
    const lxd = new FakeLxd();
    look(lxd, {}, null);
    expect(await readHookStatus(deps(lxd), { text: 'web1', ref: web1 })).toMatchObject({ exitCode: 3, error: 'instance web1 does not exist' });
  });
});
