import { createServer, type Server } from 'node:net';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTemplate, renderHookConf, renderTemplate, type HookConfig } from '../../../src/hooks/render.js';

// The apt hooks are POSIX sh: here they run on the host, installed below a temporary folder (the
// templates' @ROOT@), with stand-ins on PATH for what they call outside it: logger, sleep,
// systemctl and curl. Each stand-in logs its arguments and answers from files the test writes.

const VERSION = '9.8.7';
const SCRIPTS = ['hook-lib.sh', 'allow-once', 'guard', 'pre-snapshot', 'post-check'];

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
  // One line per call: the arguments, tab-separated; answers by the kind of request.
  curl: [
    '(IFS="$(printf \'\\t\')"; echo "$*") >>"$STUB_DIR/curl.log"',
    'case " $* " in',
    '  *" --unix-socket "*) cat "$STUB_DIR/meta-data" ;;',
    '  *" -X POST "*)',
    '    n=$(($(cat "$STUB_DIR/post-count" 2>/dev/null || echo 0) + 1)); echo "$n" >"$STUB_DIR/post-count"',
    '    if [ -f "$STUB_DIR/post-$n" ]; then cat "$STUB_DIR/post-$n"; else cat "$STUB_DIR/post"; fi',
    '    exit "$(cat "$STUB_DIR/post-exit" 2>/dev/null || echo 0)" ;;',
    '  *)',
    '    n=$(($(cat "$STUB_DIR/wait-count" 2>/dev/null || echo 0) + 1)); echo "$n" >"$STUB_DIR/wait-count"',
    '    if [ -f "$STUB_DIR/wait-$n" ]; then cat "$STUB_DIR/wait-$n"; else cat "$STUB_DIR/wait"; fi ;;',
    'esac',
  ].join('\n'),
};

const OPERATION = '/1.0/operations/1f0e6c1e-2b0c-4a37-9d1e-0c3a8b7d6f11';
const CREATED = JSON.stringify({ type: 'async', status: 'Operation created', status_code: 100, operation: OPERATION, error_code: 0, error: '', metadata: { id: 'x', status: 'Running', status_code: 103 } });
const WAITED = JSON.stringify({ type: 'sync', status: 'Success', status_code: 200, operation: '', error_code: 0, error: '', metadata: { id: 'x', status: 'Success', status_code: 200, err: '' } });

let root: string;
let stubs: string;
let servers: Server[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'safeupdate-hook-sh-'));
  stubs = join(root, 'stubs');
  await mkdir(stubs);
  await mkdir(join(root, 'usr/local/lib/safeupdate'), { recursive: true });
  await mkdir(join(root, 'etc/safeupdate/lxd'), { recursive: true });
  for (const name of SCRIPTS) {
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
  for (const server of servers) server.close();
  servers = [];
  await rm(root, { recursive: true, force: true });
});

const config = (overrides: Partial<HookConfig> = {}): HookConfig => ({
  mode: 'guard', instance: 'web1', project: 'default', hostInstance: 'web1', hostOptions: '', disabledUnits: [], ...overrides,
});

const snapshotConfig = (overrides: Partial<NonNullable<HookConfig['snapshot']>> = {}): HookConfig => config({
  mode: 'snapshot',
  snapshot: { lxdUrl: 'https://127.0.0.1:18443', instanceId: 'id-of-web1', expirySeconds: 86_400, snapshotTimeoutSeconds: 600, certFingerprint: 'ab'.repeat(32), ...overrides },
});

async function install(conf: HookConfig): Promise<void> {
  await writeFile(join(root, 'etc/safeupdate/hook.conf'), renderHookConf(conf, VERSION));
}

/** Runs an installed script as apt would, with only the environment given. */
async function run(script: string, { env = {}, input }: { env?: Record<string, string>; input?: string } = {}) {
  const result = await execa(join(root, 'usr/local/lib/safeupdate', script), [], {
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
const curlCalls = async () => (await read(join(stubs, 'curl.log'))).split('\n').filter(Boolean).map((line) => line.split('\t'));

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

describe('pre-snapshot (DPkg::Pre-Invoke)', () => {
  beforeEach(async () => {
    await stub('post', CREATED);
    await stub('wait', WAITED);
  });

  it('asks LXD for a snapshot with its expiry, as the restricted client with LXD\'s certificate as the only CA, and waits for it', async () => {
    await install(snapshotConfig());
    const before = Math.floor(Date.now() / 1000);
    const { code, stderr } = await run('pre-snapshot');

    expect(code, stderr).toBe(0);
    const [post, wait] = await curlCalls();
    const tls = ['--cacert', `${root}/etc/safeupdate/lxd/server.crt`, '--cert', `${root}/etc/safeupdate/lxd/client.crt`, '--key', `${root}/etc/safeupdate/lxd/client.key`];
    expect(post!.slice(0, 9)).toEqual(['-sS', '--max-time', '60', ...tls]);
    expect(post!.at(-1)).toBe('https://127.0.0.1:18443/1.0/instances/web1/snapshots?project=default');
    const body = JSON.parse(post![post!.indexOf('--data') + 1]!) as { name: string; stateful: boolean; expires_at: string };
    expect(body.name).toMatch(/^safeupdate-hook-\d{8}-\d{6}$/);
    expect(body.stateful).toBe(false);
    const expiresIn = Date.parse(body.expires_at) / 1000 - before;
    expect(expiresIn).toBeGreaterThanOrEqual(86_400 - 1);
    expect(expiresIn).toBeLessThanOrEqual(86_400 + 5);
    expect(wait!.slice(0, 3)).toEqual(['-sS', '--max-time', '630']);
    expect(wait!.at(-1)).toBe(`https://127.0.0.1:18443${OPERATION}/wait?timeout=600&project=default`);

    expect(stderr).toContain(`snapshot web1/${body.name} taken`);
    expect(stderr).toContain(`safeupdate rollback web1 ${body.name}`);
    const text = await record();
    expect(text).toContain(`snapshot=${body.name}\n`);
    expect(text).toContain('snapshot_result=taken\n');
    expect(text).toContain(`hook_version=${VERSION}\n`);
  });

  it('a snapshot that never expires is sent with LXD\'s "never" date', async () => {
    await install(snapshotConfig({ expirySeconds: 0 }));
    expect((await run('pre-snapshot')).code).toBe(0);
    const [post] = await curlCalls();
    expect(post!.join(' ')).toContain('"expires_at":"0001-01-01T00:00:00Z"');
  });

  it('refuses (dpkg does not run) when LXD says no, naming its error and the host command, and records it', async () => {
    await install(snapshotConfig());
    await stub('post', JSON.stringify({ type: 'error', status: '', status_code: 0, operation: '', error_code: 403, error: 'not authorized', metadata: null }));
    const { code, stderr } = await run('pre-snapshot');

    expect(code).toBe(1);
    expect(stderr).toContain('refused: LXD did not take the snapshot: not authorized');
    expect(stderr).toContain('Nothing was changed');
    expect(stderr).toContain('    safeupdate web1 -- ');
    expect(await record()).toContain('snapshot_result=failed: LXD did not take the snapshot: not authorized');
    expect(await log()).toContain('refused, no snapshot (LXD did not take the snapshot: not authorized)');
  });

  it('refuses when LXD cannot be reached', async () => {
    await install(snapshotConfig());
    await stub('post', 'curl: (7) Failed to connect to 127.0.0.1 port 18443: Connection refused');
    await stub('post-exit', '7');
    const { code, stderr } = await run('pre-snapshot');
    expect(code).toBe(1);
    expect(stderr).toContain('refused: cannot reach LXD at https://127.0.0.1:18443: curl: (7) Failed to connect');
  });

  it('refuses when the snapshot operation fails', async () => {
    await install(snapshotConfig());
    await stub('wait', JSON.stringify({ type: 'sync', status: 'Success', status_code: 200, metadata: { status: 'Failure', status_code: 400, err: 'Failed to create parent snapshot directory' } }));
    const { code, stderr } = await run('pre-snapshot');
    expect(code).toBe(1);
    expect(stderr).toMatch(/refused: the snapshot safeupdate-hook-\S+ did not succeed: Failed to create parent snapshot directory/);
  });

  it('never replaces a snapshot: a name taken in the same second gets a suffix', async () => {
    await install(snapshotConfig());
    // As LXD 5.0 answers: the operation is created, and fails.
    await stub('wait-1', JSON.stringify({ type: 'sync', status: 'Success', status_code: 200, error: '', metadata: { status: 'Failure', status_code: 400, err: 'Failed creating instance snapshot record "x": Add snapshot info to the database: This "instances_snapshots" entry already exists' } }));
    const { code } = await run('pre-snapshot');
    expect(code).toBe(0);
    const posts = (await curlCalls()).filter((call) => call.includes('POST'));
    const names = posts.map((call) => (JSON.parse(call[call.indexOf('--data') + 1]!) as { name: string }).name);
    expect(names[1]).toBe(`${names[0]}-2`);
  });

  it('refuses in a copy of the instance: /dev/lxd tells another instance-id than the one installed for', async () => {
    await install(snapshotConfig());
    await mkdir(join(root, 'dev/lxd'), { recursive: true });
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(join(root, 'dev/lxd/sock'), resolve));
    await stub('meta-data', '#cloud-config\ninstance-id: id-of-a-copy\nlocal-hostname: web2\n');

    const { code, stderr } = await run('pre-snapshot');

    expect(code).toBe(1);
    expect(stderr).toContain('this container is not the one the hook was installed for: it was copied or renamed since');
    expect(stderr).toContain('On the host: safeupdate hooks install web2 --mode snapshot');
    expect((await curlCalls()).some((call) => call.includes('POST'))).toBe(false);

    await stub('meta-data', '#cloud-config\ninstance-id: id-of-web1\nlocal-hostname: web1\n');
    expect((await run('pre-snapshot')).code).toBe(0);
  });

  it("lets safeupdate's own run through without a snapshot of its own: it took one", async () => {
    await install(snapshotConfig());
    const { code } = await run('pre-snapshot', { env: { SAFEUPDATE_RUN: 'r1' } });
    expect(code).toBe(0);
    expect(await curlCalls()).toEqual([]);
    expect(await record()).toContain('snapshot_result=skipped: safeupdate run r1 took its own snapshot');
  });

  it('the one-time flag skips the snapshot once, logged', async () => {
    await install(snapshotConfig());
    await run('allow-once');
    const first = await run('pre-snapshot');
    expect(first.code).toBe(0);
    expect(await curlCalls()).toEqual([]);
    expect(await record()).toContain('snapshot_result=skipped: one-time bypass');
    expect(await log()).toContain('no snapshot before');

    expect((await run('pre-snapshot')).code).toBe(0);
    expect((await curlCalls()).length).toBe(2);
  });

  it('records the units failed before dpkg runs, which post-check does not blame on the update', async () => {
    await install(snapshotConfig());
    await stub('failed-units', 'old-broken.service loaded failed failed Old\n');
    await run('pre-snapshot');
    expect(await read(join(root, 'var/lib/safeupdate-hook/baseline-failed'))).toBe('old-broken.service\n');
  });
});

describe('post-check (DPkg::Post-Invoke)', () => {
  const checks = (...lines: string[]) => writeFile(join(root, 'etc/safeupdate/checks'), `# safeupdate-hook-version: ${VERSION}\n${lines.join('\n')}\n`);

  beforeEach(async () => {
    await install(snapshotConfig());
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
});

it('every script names its version on a line of its own, and is valid sh', async () => {
  for (const name of [...SCRIPTS, '80safeupdate-guard', '80safeupdate-snapshot']) {
    expect(renderTemplate(readTemplate(name), { version: VERSION })).toMatch(new RegExp(`^(#|//) safeupdate-hook-version: ${VERSION.replaceAll('.', '\\.')}$`, 'm'));
  }
  for (const name of SCRIPTS) {
    const { exitCode, stderr } = await execa('sh', ['-n', join(root, 'usr/local/lib/safeupdate', name)], { reject: false });
    expect(exitCode, `${name}: ${stderr}`).toBe(0);
  }
});
