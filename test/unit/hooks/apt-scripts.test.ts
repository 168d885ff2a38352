import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { brokerServer } from '../../../src/hooks/broker/server.js';
import { PATHS } from '../../../src/hooks/layout.js';
import { readTemplate, renderHookConf, renderTemplate, type HookConfig } from '../../../src/hooks/render.js';
import { listReports } from '../../../src/state/run-history.js';
import { brokerDeps, BrokerLxd, snapshot } from '../../support/broker-lxd.js';

// The apt hooks are POSIX sh (and one perl client): here they run on the host, installed below a
// temporary folder (the templates' @ROOT@), with stand-ins on PATH for what they call outside it:
// logger, sleep and systemctl, which log their arguments and answer from files the test writes.
// The host side is the REAL broker (src/hooks/broker/server.ts) listening where the proxy device
// would put its socket inside (<root>/dev/safeupdate-broker.sock), over a stand-in for LXD that
// reads the token from the instance's file below the root and records the snapshots it is asked for.

// Each test runs a few shell scripts (and perl): on a loaded host that is seconds, not milliseconds.
vi.setConfig({ testTimeout: 30_000 });

const VERSION = '9.8.7';
const SCRIPTS = ['hook-lib.sh', 'allow-once', 'guard', 'pre-snapshot', 'post-check'];
/** perl, not sh. */
const CLIENT = 'broker-request';

const STUBS: Record<string, string> = {
  logger: 'printf \'%s\\n\' "$*" >>"$STUB_DIR/logger.log"',
  sleep: 'exit 0',
  systemctl: [
    'echo "$*" >>"$STUB_DIR/systemctl.log"',
    'case $1 in',
    '  is-system-running) cat "$STUB_DIR/system-state" 2>/dev/null || echo running ;;',
    '  list-jobs) cat "$STUB_DIR/jobs" 2>/dev/null ;;',
    '  list-units) cat "$STUB_DIR/failed-units" 2>/dev/null ;;',
    '  is-active) s=$(cat "$STUB_DIR/unit-$2" 2>/dev/null || echo inactive); echo "$s"; [ "$s" = active ] ;;',
    'esac',
  ].join('\n'),
};

let root: string;
let stubs: string;
let servers: Server[] = [];
/** The stand-in for LXD behind the broker, and the broker's log on the host. */
let lxd: BrokerLxd;
let brokerLog: string[];
let hostState: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'safeupdate-hook-sh-'));
  hostState = join(root, 'host-state');
  lxd = new BrokerLxd();
  lxd.tokenFile = join(root, PATHS.requestToken);
  brokerLog = [];
  stubs = join(root, 'stubs');
  await mkdir(stubs);
  await mkdir(join(root, 'usr/local/lib/safeupdate'), { recursive: true });
  await mkdir(join(root, 'etc/safeupdate'), { recursive: true });
  for (const name of [...SCRIPTS, CLIENT]) {
    const path = join(root, 'usr/local/lib/safeupdate', name);
    await writeFile(path, renderTemplate(readTemplate(name), { version: VERSION, root }));
    await chmod(path, 0o755);
  }
  for (const [name, body] of Object.entries(STUBS)) {
    await writeFile(join(stubs, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(stubs, name), 0o755);
  }
});

afterEach(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  servers = [];
  await rm(root, { recursive: true, force: true });
});

const config = (overrides: Partial<HookConfig> = {}): HookConfig => ({
  mode: 'guard', instance: 'web1', project: 'default', hostInstance: 'web1', hostOptions: '', disabledUnits: [], ...overrides,
});

const snapshotConfig = (overrides: Partial<HookConfig> = {}): HookConfig => config({ mode: 'snapshot', ...overrides });

/** The host's broker for web1, on the socket the proxy device makes inside the instance. */
async function startBroker(): Promise<Server> {
  await mkdir(join(root, 'dev'), { recursive: true });
  const { deps } = brokerDeps(lxd, hostState);
  const server = brokerServer({ deps, log: (level, message) => brokerLog.push(`${level} ${message}`), idleMs: null });
  servers.push(server);
  await new Promise<void>((resolve, reject) => server.listen(join(root, 'dev/safeupdate-broker.sock'), resolve).once('error', reject));
  return server;
}

async function install(conf: HookConfig): Promise<void> {
  await writeFile(join(root, 'etc/safeupdate/hook.conf'), renderHookConf(conf, VERSION));
}

/** Runs an installed script as apt would, with only the environment given. */
async function run(script: string, { env = {}, input, newRun = false }: { env?: Record<string, string>; input?: string; newRun?: boolean } = {}) {
  // The hook tells apt runs apart by the process above it (su_run_id): calls straight from this
  // process are one apt run; through a shell of its own, a call is another run.
  const path = join(root, 'usr/local/lib/safeupdate', script);
  const [file, args] = newRun ? ['sh', ['-c', '"$0"; exit $?', path]] as const : [path, []] as const;
  const result = await execa(file, args, {
    reject: false,
    extendEnv: false,
    env: { PATH: `${stubs}:/usr/bin:/bin`, STUB_DIR: stubs, ...env },
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
  });
  return { code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

const stub = (name: string, content: string) => writeFile(join(stubs, name), content);
const read = async (path: string) => (existsSync(path) ? readFile(path, 'utf8') : '');
const log = () => read(join(root, 'var/log/safeupdate-guard.log'));
const syslog = () => read(join(stubs, 'logger.log'));
const record = () => read(join(root, 'var/lib/safeupdate-hook/last-run'));
const created = () => lxd.created.map((call) => call.name);
/** The requests that reached the broker, as it logged them. */
const requests = () => brokerLog.filter((line) => / (snapshot|result) for run /.test(line));

/** What apt writes to a Pre-Install-Pkgs hook with protocol version 3. */
function aptInfo(commandLine: string, extra: string[] = []): string {
  return [
    'VERSION 3',
    'APT::Architecture=amd64',
    ...extra,
    `CommandLine::AsString=${commandLine.replaceAll('%', '%25').replaceAll(' ', '%20')}`,
    '',
    'safeupdate-demo 1.0 all none < 1.1 all none /var/cache/apt/archives/safeupdate-demo_1.1_all.deb',
    'safeupdate-demo 1.0 all none < 1.1 all none **CONFIGURE**',
    '',
  ].join('\n');
}

describe('guard (DPkg::Pre-Install-Pkgs)', () => {
  it('refuses apt typed inside: exit 1, the exact host command with the instance as the host names it, logged', async () => {
    await install(config({ hostInstance: 'backup:web1', hostOptions: '--project prod' }));
    const { code, stderr } = await run('guard', { input: aptInfo('apt-get install -y nginx') });

    expect(code).toBe(1);
    expect(stderr).toContain('safeupdate hook: refused');
    expect(stderr).toContain('    safeupdate backup:web1 --project prod -- apt-get install -y nginx\n');
    expect(stderr).toContain('    apt-get -o SafeUpdate::Allow=1 install -y nginx\n');
    expect(stderr).toContain(`${root}/usr/local/lib/safeupdate/allow-once`);
    expect(await log()).toMatch(/^\S+Z refused for \S+: apt-get install -y nginx\n$/);
    expect(await syslog()).toContain('-t safeupdate-hook -p auth.warning -- refused for');
  });

  it('names the host command without options in the default project, and through sudo suggests sudo', async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: aptInfo('apt upgrade'), env: { SUDO_USER: 'alice' } });

    expect(code).toBe(1);
    expect(stderr).toContain('    safeupdate web1 -- apt upgrade\n');
    expect(stderr).toContain('    sudo apt -o SafeUpdate::Allow=1 upgrade\n');
    expect(await log()).toContain('refused for alice (via sudo): apt upgrade');
  });

  it("decodes apt's %-encoded command line", async () => {
    await install(config());
    const { stderr } = await run('guard', { input: aptInfo('apt-get install foo=1.0+b1 100%') });
    expect(stderr).toContain('safeupdate web1 -- apt-get install foo=1.0+b1 100%\n');
  });

  it("lets safeupdate's own run through (SAFEUPDATE_RUN, set through lxc exec) and logs it", async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: aptInfo('apt-get upgrade -y'), env: { SAFEUPDATE_RUN: '20261126T042055Z-web1-8a7f' } });

    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(await log()).toContain('allowed: safeupdate run 20261126T042055Z-web1-8a7f from the host: apt-get upgrade -y');
  });

  it('-o SafeUpdate::Allow=1 on the command line lets this one command through, logged as a bypass', async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: aptInfo('apt-get -o SafeUpdate::Allow=1 install foo', ['SafeUpdate::Allow=1']) });

    expect(code).toBe(0);
    expect(stderr).toContain('guard bypassed with -o SafeUpdate::Allow (logged)');
    expect(await log()).toContain('bypass by');
    expect(await log()).toContain('with -o SafeUpdate::Allow: apt-get -o SafeUpdate::Allow=1 install foo');
    expect(await syslog()).toContain('auth.notice');
  });

  it.each([
    ['in any case, and as true', 'apt-get -o safeupdate::allow=true install foo', 'safeupdate::allow=true', 0],
    ['not when set to 0', 'apt-get -o SafeUpdate::Allow=0 install foo', 'SafeUpdate::Allow=0', 1],
    ['not when only a config file sets it (a standing bypass is no bypass)', 'apt-get install foo', 'SafeUpdate::Allow=1', 1],
  ])('the option counts %s', async (_, commandLine, option, expected) => {
    await install(config());
    const { code } = await run('guard', { input: aptInfo(commandLine, [option]) });
    expect(code).toBe(expected);
  });

  it('the one-time flag lets exactly one apt run through, then the guard refuses again', async () => {
    await install(config());
    const armed = await run('allow-once');
    expect(armed.code).toBe(0);
    expect(armed.stderr).toContain('armed');
    expect(existsSync(join(root, 'run/safeupdate/allow-once'))).toBe(true);

    const first = await run('guard', { input: aptInfo('apt-get install foo') });
    const second = await run('guard', { input: aptInfo('apt-get install foo') });

    expect(first.code).toBe(0);
    expect(first.stderr).toContain('one-time bypass used up');
    expect(second.code).toBe(1);
    expect(existsSync(join(root, 'run/safeupdate/allow-once'))).toBe(false);
    const lines = (await log()).split('\n').filter(Boolean);
    expect(lines.map((line) => line.replace(/^\S+ /, '').split(':')[0])).toEqual([
      'one-time bypass armed by root',
      `bypass by root with the one-time flag ${root}/run/safeupdate/allow-once (now used up)`,
      'refused for root',
    ]);
  });

  it('lets a simulation through (Debug::pkgDPkgPM: dpkg changes nothing), logged', async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: aptInfo('unattended-upgrade --dry-run', ['Debug::pkgDPkgPM=true']) });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(await log()).toContain('allowed: a simulation (Debug::pkgDPkgPM), nothing changes: unattended-upgrade --dry-run');
    // Set to 0 it is no simulation.
    expect((await run('guard', { input: aptInfo('apt-get upgrade', ['Debug::pkgDPkgPM=0']) })).code).toBe(1);
  });

  it('refuses unattended-upgrade inside, naming the same run from the host', async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: aptInfo('unattended-upgrade') });
    expect(code).toBe(1);
    expect(stderr).toContain('    safeupdate web1 -- unattended-upgrade\n');
    expect(stderr).toContain('    apt-get -o SafeUpdate::Allow=1 ...\n');
  });

  it("reads all of apt's information, however long, so that apt never fails writing it", async () => {
    await install(config());
    const long = Array.from({ length: 20_000 }, (_, i) => `Some::Option::Number${i}=${'x'.repeat(40)}`);
    const { code } = await run('guard', { input: aptInfo('apt-get upgrade', long), env: { SAFEUPDATE_RUN: 'r1' } });
    expect(code).toBe(0);
  });

  it('without the information on stdin (another protocol version) it still decides, with the command from the process tree', async () => {
    await install(config());
    const { code, stderr } = await run('guard', { input: '' });
    expect(code).toBe(1);
    expect(stderr).toContain('safeupdate web1 -- apt-get ...');
  });

  it('names a placeholder when hook.conf is missing, rather than failing open', async () => {
    const { code, stderr } = await run('guard', { input: aptInfo('apt-get install foo') });
    expect(code).toBe(1);
    expect(stderr).toContain('safeupdate <instance> -- apt-get install foo');
  });
});

describe('pre-snapshot (DPkg::Pre-Install-Pkgs) and the broker on the host', () => {
  beforeEach(async () => {
    await install(snapshotConfig());
    await startBroker();
  });

  it('asks the broker for a snapshot with a one-time token the broker reads back through LXD; waits for it; records it here and on the host', async () => {
    const before = Date.now();
    const { code, stderr } = await run('pre-snapshot', { input: aptInfo('apt-get install -y nginx') });

    expect(code, stderr).toBe(0);
    expect(lxd.created).toHaveLength(1);
    const [taken] = lxd.created;
    expect(taken!.ref).toEqual({ remote: 'local', name: 'web1', project: 'default' });
    expect(taken!.name).toMatch(/^safeupdate-hook-\d{8}-\d{6}$/);
    const expiresIn = (taken!.expiresAt!.getTime() - before) / 1000;
    expect(expiresIn).toBeGreaterThanOrEqual(86_400 - 1);
    expect(expiresIn).toBeLessThanOrEqual(86_400 + 10);
    // The identity proof: the token file inside, read by the host through LXD, bounded; gone afterwards.
    expect(lxd.calls.map((call) => call.method)).toEqual(['getConfig', 'readFile', 'listSnapshots', 'createSnapshot']);
    expect(lxd.calls[1]!.args.slice(1)).toEqual([PATHS.requestToken, { maxBytes: 64, timeoutMs: 5_000 }]);
    expect(existsSync(join(root, PATHS.requestToken))).toBe(false);

    expect(stderr).toContain(`snapshot ${taken!.name} taken`);
    expect(stderr).toContain(`safeupdate hook:     safeupdate rollback web1 ${taken!.name}`);
    const text = await record();
    expect(text).toContain('command=apt-get install -y nginx\n');
    expect(text).toContain(`snapshot=${taken!.name}\n`);
    expect(text).toContain('snapshot_result=taken\n');
    expect(text).toContain(`hook_version=${VERSION}\n`);
    expect(await log()).toContain(`snapshot ${taken!.name} taken before: apt-get install -y nginx`);

    // The host's record of the run: history and show list it, waiting for the post-check's result.
    const reports = await listReports(hostState);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.command).toEqual(['[apt hook]', 'apt-get install -y nginx']);
    expect(reports[0]!.instances[0]).toMatchObject({ instance: 'web1', outcome: 'needs-attention', snapshot: { name: taken!.name } });
    expect(requests()).toEqual([expect.stringMatching(new RegExp(`^info web1: snapshot for run \\S+: took snapshot ${taken!.name}$`))]);
  });

  it('one snapshot per apt run: the other Pre-Install-Pkgs calls of the run take none; a new apt run takes another', async () => {
    const input = aptInfo('unattended-upgrade');
    expect((await run('pre-snapshot', { input })).code).toBe(0);
    expect((await run('pre-snapshot', { input })).code).toBe(0);
    expect(created()).toHaveLength(1);
    // The second call did not even ask: runs-seen inside says the run has its snapshot.
    expect(requests()).toHaveLength(1);

    // Without runs-seen (lost, or removed by root inside), the broker still takes one per run.
    await rm(join(root, 'var/lib/safeupdate-hook/runs-seen'));
    const again = await run('pre-snapshot', { input });
    expect(again.code, again.stderr).toBe(0);
    expect(created()).toHaveLength(1);
    expect(requests().at(-1)).toMatch(/: already took snapshot safeupdate-hook-/);

    const next = await run('pre-snapshot', { input, newRun: true });
    expect(next.code, next.stderr).toBe(0);
    expect(created()).toHaveLength(2);
  });

  it('a simulation (Debug::pkgDPkgPM, as unattended-upgrade --dry-run sets it) takes no snapshot, and its post-check checks nothing', async () => {
    await writeFile(join(root, 'etc/safeupdate/checks'), `# safeupdate-hook-version: ${VERSION}\nunit\tyes\t1\t10\tnginx\n`);
    const { code, stderr } = await run('pre-snapshot', { input: aptInfo('unattended-upgrade --dry-run', ['Debug::pkgDPkgPM=1']) });
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    expect(lxd.calls).toEqual([]);
    expect(await log()).toContain('a simulation (Debug::pkgDPkgPM), no snapshot: unattended-upgrade --dry-run');

    const post = await run('post-check');
    expect(post.code).toBe(0);
    expect(await read(join(stubs, 'systemctl.log'))).toBe('');
    expect(brokerLog).toEqual([]);
  });

  it('refuses (dpkg does not run) when the broker is down, naming the host command, and records it', async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
    const { code, stderr } = await run('pre-snapshot', { input: aptInfo('apt-get install foo') });

    expect(code).toBe(1);
    expect(stderr).toContain("safeupdate hook: refused: the host's broker did not answer (cannot connect to");
    expect(stderr).toContain('is safeupdate-hook@ running on the host? (safeupdate hooks status web1)');
    expect(stderr).toContain('Nothing was changed');
    expect(stderr).toContain('    safeupdate web1 -- apt-get install foo\n');
    expect(await record()).toMatch(/snapshot_result=failed: the host's broker did not answer/);
    expect(await log()).toContain('refused, no snapshot (');
    expect(existsSync(join(root, PATHS.requestToken))).toBe(false);
  });

  it('refuses when the broker refuses: a token that is not in the instance\'s file (a copy of the instance asking)', async () => {
    lxd.tokenFile = null;
    lxd.tokenText = `${'0'.repeat(32)}\n`;
    const { code, stderr } = await run('pre-snapshot', { input: aptInfo('apt-get upgrade') });

    expect(code).toBe(1);
    expect(stderr).toContain('refused: the host refused the snapshot: snapshot for run ');
    expect(stderr).toContain(`the token is not in web1's ${PATHS.requestToken}`);
    expect(created()).toEqual([]);
    expect(brokerLog).toEqual([expect.stringMatching(/^warning web1: refused: snapshot for run \S+: the token is not in/)]);
    // The refused run is not marked: the next call of it asks again.
    expect((await run('pre-snapshot', { input: aptInfo('apt-get upgrade') })).code).toBe(1);
    expect(brokerLog).toHaveLength(2);
  });

  it('refuses when the instance has its cap of hook snapshots', async () => {
    lxd.snapshots = Array.from({ length: 10 }, (_, i) => snapshot(`safeupdate-hook-2026112${i}-000000`));
    const { code, stderr } = await run('pre-snapshot', { input: aptInfo('apt-get upgrade') });
    expect(code).toBe(1);
    expect(stderr).toContain('10 hook snapshots exist (at most 10)');
    expect(created()).toEqual([]);
  });

  it("lets safeupdate's own run through without a snapshot of its own: it took one", async () => {
    const { code } = await run('pre-snapshot', { env: { SAFEUPDATE_RUN: 'r1' }, input: aptInfo('apt-get upgrade -y') });
    expect(code).toBe(0);
    expect(lxd.calls).toEqual([]);
    expect(await record()).toContain('snapshot_result=skipped: safeupdate run r1 took its own snapshot');
  });

  it('the one-time flag skips the snapshot of one apt run, logged; the next run takes one', async () => {
    await run('allow-once');
    const first = await run('pre-snapshot', { input: aptInfo('apt-get install foo') });
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('one-time bypass used up');
    expect(lxd.calls).toEqual([]);
    expect(await record()).toContain('snapshot_result=skipped: one-time bypass');
    expect(await log()).toContain('no snapshot before: apt-get install foo');
    // The rest of the bypassed run goes on without asking.
    expect((await run('pre-snapshot', { input: aptInfo('apt-get install foo') })).code).toBe(0);
    expect(lxd.calls).toEqual([]);

    expect((await run('pre-snapshot', { input: aptInfo('apt-get install foo'), newRun: true })).code).toBe(0);
    expect(created()).toHaveLength(1);
  });

  it('sends the units failed before dpkg runs with the request, as the baseline a rollback judges against, and keeps them here', async () => {
    await stub('failed-units', 'old-broken.service loaded failed failed Old\n');
    expect((await run('pre-snapshot', { input: aptInfo('apt-get upgrade') })).code).toBe(0);
    expect(await read(join(root, 'var/lib/safeupdate-hook/baseline-failed'))).toBe('old-broken.service\n');
    const [report] = await listReports(hostState);
    expect(report!.instances[0]!.checks).toEqual([expect.objectContaining({ name: 'systemd', phase: 'baseline', failedUnits: ['old-broken.service'] })]);
  });
});

describe('post-check (DPkg::Post-Invoke)', () => {
  const checks = (...lines: string[]) => writeFile(join(root, 'etc/safeupdate/checks'), `# safeupdate-hook-version: ${VERSION}\n${lines.join('\n')}\n`);

  beforeEach(async () => {
    await install(snapshotConfig());
    await startBroker();
    await mkdir(join(root, 'run/systemd/system'), { recursive: true });
    await mkdir(join(root, 'var/lib/safeupdate-hook'), { recursive: true });
    await writeFile(join(root, 'var/lib/safeupdate-hook/last-run'), 'started=2026-11-26T04:20:55Z\ncommand=apt-get upgrade -y\nsnapshot=safeupdate-hook-20261126-042055\nsnapshot_result=taken\n');
    await writeFile(join(root, 'var/lib/safeupdate-hook/baseline-failed'), 'old-broken.service\n');
  });

  it('all checks pass: exit 0, recorded for hooks status', async () => {
    await checks('systemd\tyes\t5\t10\t', 'unit\tyes\t5\t10\tnginx', 'exec\tyes\t5\t10\ttest -d /');
    await stub('unit-nginx', 'active');
    await stub('failed-units', 'old-broken.service loaded failed failed Old\n');
    const { code, stderr } = await run('post-check');

    expect(code, stderr).toBe(0);
    expect(stderr).toContain('checks passed after this apt run: systemd, unit:nginx, exec:test -d /');
    const text = await record();
    expect(text).toContain('check=ok\tsystemd\trunning, no new failed units\n');
    expect(text).toContain('check=ok\tunit:nginx\tactive\n');
    expect(text).toContain('check=ok\texec:test -d /\texit 0\n');
    expect(text).toContain('checks_result=passed\n');
    expect(text).toMatch(/finished=\S+Z\n/);
    expect(await read(join(root, 'var/lib/safeupdate-hook/runs.log'))).toContain('snapshot safeupdate-hook-20261126-042055, checks passed: apt-get upgrade -y');
  });

  it('a failed unit is reported loudly with the host command that goes back to the snapshot: exit 1 (apt exits 100)', async () => {
    await install(snapshotConfig());
    await install({ ...snapshotConfig(), hostInstance: 'backup:web1', hostOptions: '--project prod' });
    await checks('systemd\tyes\t5\t10\t', 'unit\tyes\t5\t10\tsafeupdate-demo');
    await stub('failed-units', 'old-broken.service loaded failed failed Old\nsafeupdate-demo.service loaded failed failed Demo\n');
    await stub('unit-safeupdate-demo', 'failed');
    const { code, stderr } = await run('post-check');

    expect(code).toBe(1);
    expect(stderr).toContain('safeupdate hook: CHECKS FAILED after this apt run: systemd (failed units: safeupdate-demo.service); unit:safeupdate-demo (safeupdate-demo is failed)');
    expect(stderr).toContain('    safeupdate rollback backup:web1 safeupdate-hook-20261126-042055 --project prod\n');
    expect(stderr).toContain('"safeupdate hooks status backup:web1 --project prod"');
    const text = await record();
    expect(text).toContain('check=failed\tsystemd\tfailed units: safeupdate-demo.service\n');
    expect(text).toContain('checks_result=failed\n');
    expect(await syslog()).toContain('auth.err');
  });

  it('a unit still starting is waited for, up to its deadline', async () => {
    await checks('unit\tyes\t1\t10\tslow');
    await stub('unit-slow', 'activating');
    const { code } = await run('post-check');
    expect(code).toBe(1);
    expect((await read(join(stubs, 'systemctl.log'))).split('\n').filter((line) => line === 'is-active slow').length).toBeGreaterThan(1);
    expect(await record()).toContain('check=failed\tunit:slow\tslow is activating\n');
  });

  it('a check that is not required only warns: exit 0', async () => {
    await checks('exec\tno\t1\t10\tfalse');
    const { code, stderr } = await run('post-check');
    expect(code).toBe(0);
    expect(stderr).toContain('warning: not-required check(s) failed after this apt run: exec:false (exit 1)');
    expect(await record()).toContain('check=warning\texec:false\texit 1\n');
  });

  it("safeupdate's own run checks from the host: nothing runs inside", async () => {
    await checks('unit\tyes\t5\t10\tnginx');
    const { code } = await run('post-check', { env: { SAFEUPDATE_RUN: 'r1' } });
    expect(code).toBe(0);
    expect(await read(join(stubs, 'systemctl.log'))).toBe('');
    expect(await record()).toContain('checks_result=skipped: safeupdate run r1 runs its own checks\n');
  });

  it('says so when no snapshot was taken before', async () => {
    await writeFile(join(root, 'var/lib/safeupdate-hook/last-run'), 'started=x\ncommand=apt-get upgrade\nsnapshot_result=skipped: one-time bypass\n');
    await checks('unit\tyes\t1\t10\tnginx');
    await stub('unit-nginx', 'failed');
    const { code, stderr } = await run('post-check');
    expect(code).toBe(1);
    expect(stderr).toContain('No snapshot was taken before this apt run (skipped: one-time bypass)');
  });
  it('sends the result to the broker: the run\'s report on the host, with its snapshot, is updated', async () => {
    await rm(join(root, 'var/lib/safeupdate-hook/last-run'));
    await checks('systemd\tyes\t5\t10\t', 'unit\tyes\t5\t10\tnginx');
    await stub('unit-nginx', 'active');
    expect((await run('pre-snapshot', { input: aptInfo('apt-get upgrade -y') })).code).toBe(0);
    const { code, stderr } = await run('post-check');

    expect(code, stderr).toBe(0);
    expect(stderr).not.toContain('did not record');
    expect(requests().at(-1)).toMatch(/^info web1: result for run \S+: recorded the checks' result$/);
    const reports = await listReports(hostState);
    expect(reports).toHaveLength(1);
    const item = reports[0]!.instances[0]!;
    expect(item).toMatchObject({ outcome: 'updated', error: null, snapshot: { name: created()[0] } });
    expect(item.checks.map((check) => [check.name, check.phase, check.ok])).toEqual([
      ['systemd', 'baseline', true], ['systemd', 'after-update', true], ['unit:nginx', 'after-update', true],
    ]);
    // The token of the second request is gone too.
    expect(existsSync(join(root, PATHS.requestToken))).toBe(false);
  });

  it('a failed check: the run\'s report on the host needs attention, with the host\'s rollback command', async () => {
    await rm(join(root, 'var/lib/safeupdate-hook/last-run'));
    await checks('unit\tyes\t1\t10\tsafeupdate-demo');
    await stub('unit-safeupdate-demo', 'failed');
    expect((await run('pre-snapshot', { input: aptInfo('apt-get upgrade -y') })).code).toBe(0);
    const name = created()[0]!;
    const { code, stderr } = await run('post-check');

    expect(code).toBe(1);
    expect(stderr).toContain(`    safeupdate rollback web1 ${name}\n`);
    const item = (await listReports(hostState))[0]!.instances[0]!;
    expect(item.outcome).toBe('needs-attention');
    expect(item.error).toEqual({ step: 'checks', message: `checks failed after the apt run: unit:safeupdate-demo (safeupdate-demo is failed); on the host: safeupdate rollback web1 ${name}` });
  });

  it('the host not answering does not change the checks\' verdict here: a warning, logged', async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
    await checks('exec\tyes\t1\t10\ttrue');
    const { code, stderr } = await run('post-check');
    expect(code).toBe(0);
    expect(stderr).toContain("safeupdate hook: warning: the host did not record this run's checks: cannot connect to");
    expect(await log()).toContain('the host did not record the checks of: apt-get upgrade -y');
  });
});

it('every script names its version on a line of its own, and is valid sh (the client valid perl)', async () => {
  for (const name of [...SCRIPTS, CLIENT, '05safeupdate-guard', '80safeupdate-snapshot']) {
    expect(renderTemplate(readTemplate(name), { version: VERSION })).toMatch(new RegExp(`^(#|//) safeupdate-hook-version: ${VERSION.replaceAll('.', '\\.')}$`, 'm'));
  }
  for (const name of SCRIPTS) {
    const { exitCode, stderr } = await execa('sh', ['-n', join(root, 'usr/local/lib/safeupdate', name)], { reject: false });
    expect(exitCode, `${name}: ${stderr}`).toBe(0);
  }
  const perl = await execa('perl', ['-c', join(root, 'usr/local/lib/safeupdate', CLIENT)], { reject: false });
  expect(perl.exitCode, perl.stderr).toBe(0);
});
