import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main, reportInternalError } from '../../../src/cli/main.js';
import { runCli } from '../../support/cli.js';
import type { LxdCall } from '../../../src/lxd/lxd.js';
import { FakeLxd, runningContainer } from '../../support/fake-lxd.js';

function cli(args: string[], { lxd = new FakeLxd(), stateDir = '/nonexistent/safeupdate-test' } = {}) {
  return runCli(args, { lxd, env: { SAFEUPDATE_STATE_DIR: stateDir } });
}

describe('bad input: exit 2, one clear line naming the value, LXD never called', () => {
  it.each([
    [['web1', 'apt-get', 'upgrade'], 'missing "--" before the update command'],
    [['web1', 'web2', '--parallel', '0', '--', 'true'], '--parallel "0": expected a whole number of at least 1'],
    [['web1', 'web2', '--canary', 'x', '--', 'true'], '--canary "x": expected a whole number of at least 1'],
    [['--all', 'web1', '--', 'true'], '--all "web1": expected a remote as <remote>:'],
    [['@web', '--', 'true'], 'group "@web": not defined'],
    [['web1', 'web2', '--where', 'role', '--', 'true'], '--where "role": expected KEY=VALUE'],
    [['web1', '--'], 'the update command after "--" is empty'],
    [['web1', '--', ''], 'the update command after "--" is empty'],
    [['web 1', '--', 'true'], 'instance "web 1": not a valid LXD instance name'],
    [['web/1', '--', 'true'], 'instance "web/1"'],
    [['..', '--', 'true'], 'instance ".."'],
    [['wéb', '--', 'true'], 'instance "wéb"'],
    [[`a${'b'.repeat(63)}`, '--', 'true'], 'not a valid LXD instance name'],
    [['', '--', 'true'], 'instance ""'],
    [['web1', '--snapshot-name', 'a/b', '--', 'true'], 'snapshot name "a/b"'],
    [['web1', '--snapshot-name', '', '--', 'true'], 'snapshot name ""'],
    [['web1', '--check', 'ftp:x', '--', 'true'], 'unknown check kind "ftp"'],
    [['web1', '--check', 'http://', '--', 'true'], 'check "http://": not a valid URL'],
    [['web1', '--config', '/nonexistent/safeupdate.yaml', '--', 'true'], '--config /nonexistent/safeupdate.yaml: cannot read it (ENOENT)'],
    [['check'], "missing required argument 'instance'"],
    [['check', 'web 1'], 'instance "web 1"'],
    [['check', 'web1', '--check', 'tcp:x'], 'expected tcp:<host>:<port>'],
    [['check', 'web1', '--', 'true'], 'check takes no command after "--"'],
    [['web1', '--copy-to', 'backup', '--', 'true'], '--copy-to "backup": expected a remote as <remote>:'],
    [['web1', '--keep', '0', '--', 'true'], '--keep "0"'],
    [['web1', '--rehearse=always', '--', 'true'], '--rehearse=always: expected --rehearse or --rehearse=force'],
    [['web1', '--restart', 'sometimes', '--', 'true'], '--restart "sometimes": expected auto, always or never'],
    [['sync', 'web1'], 'sync needs at least one instance and a snapshot server'],
    [['sync', 'web1', 'backup'], 'snapshot server "backup": expected a remote'],
    [['prune', 'web1'], 'prune needs at least one rule'],
    [['prune', 'web1', '--keep-last', 'x'], '--keep-last "x"'],
    [['schedule', 'web1'], 'schedule needs --every'],
    [['schedule', 'web1', '--off', '--every', '@daily'], '--off takes no --every'],
    [['rollback', 'web1', 'a/b'], 'snapshot name "a/b"'],
    [['web1', '--check', 'unit:a b', '--', 'true'], '"a b" is not a systemd unit name'],
    [['web1', '--check', 'systemd', '--check', 'systemd', '--', 'true'], 'check "systemd" is given twice'],
    [['web1', '--expiry', '3 days', '--', 'true'], '--expiry: "3 days" is not a duration'],
    [['web1', '--timeout', '10', '--', 'true'], '--timeout: "10" is not a duration'],
    [['web1', '--timeout', '0s', '--', 'true'], '--timeout: "0s" is zero'],
    [['web1', '--expiry', '10m', '--timeout', '1h', '--', 'true'], '--expiry 10m is not longer than --timeout 1h'],
    [['web1', '--env', 'NOEQUALS', '--', 'true'], '--env "NOEQUALS"'],
    [['web1', '--env', '1X=y', '--', 'true'], '--env "1X=y"'],
    [['web1', '--project', 'a b', '--', 'true'], '--project "a b"'],
    [['web1', '--bogus', '--', 'true'], "unknown option '--bogus'"],
    [['web1', '-v', '-q', '--', 'true'], 'cannot be used with option'],
    [['--', 'true'], "missing required argument 'instance'"],
    // A forgotten "--" before a command with options: the hint, not the option apt was given.
    [['web1', 'apt-get', 'upgrade', '-y'], 'missing "--" before the update command, as in: safeupdate web1 -- apt-get upgrade -y'],
    [['web1', '--dry-run', 'apt-get', 'upgrade', '-y'], 'missing "--" before the update command'],
    [['web1', '--dryrun', '--', 'true'], "unknown option '--dryrun' (did you mean --dry-run?)"],
    // A subcommand mistyped is not an instance to update.
    [['snapshot', 'web1'], 'unknown command "snapshot" (did you mean snapshots?)'],
    [['histroy'], 'unknown command "histroy" (did you mean history?)'],
    [['chek', 'web1'], 'unknown command "chek" (did you mean check?)'],
    [['web1', '--no-expiry', '--expiry', '7d', '--', 'true'], '--expiry and --no-expiry contradict each other'],
    [['web1', '--expiry=7d', '--no-expiry', '--', 'true'], '--expiry and --no-expiry contradict each other'],
    [['web1', '--parallel', '0', '--', 'true'], '--parallel "0": expected a whole number of at least 1'],
    [['web1', '--canary', 'x', '--', 'true'], '--canary "x": expected a whole number of at least 1'],
    [['web1', '--max-failures', '0', '--', 'true'], '--max-failures "0": expected a whole number of at least 1'],
    [['web1', '--per-member', '-1', '--', 'true'], '--per-member "-1": expected a whole number of at least 1'],
    [['schedule', 'web1', '--every', '99 99 * * *'], '--every "99 99 * * *": minute 99 is out of range (0-59)'],
    [['schedule', 'web1', '--every', '0 3 * * FOO'], '--every "0 3 * * FOO": day of week FOO is not a day (0-7, SUN-SAT)'],
    [['web1', '--junit', '/nonexistent-dir/x.xml', '--', 'true'], '--junit /nonexistent-dir/x.xml: cannot write there (ENOENT'],
    [['check', 'web1', '--report', '/nonexistent-dir/r.json'], '--report /nonexistent-dir/r.json: cannot write there (ENOENT'],
    [['web1', '--junit', '/tmp', '--', 'true'], '--junit /tmp: is a folder'],
  ])('%j', async (args, message) => {
    const { code, stderr, stdout, lxd } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    // One voice: every line of a refusal is the tool's own, never commander's "error:".
    expect(stderr).toMatch(/^safeupdate: /);
    expect(stderr).not.toMatch(/^error:/m);
    expect(stdout).toBe('');
    expect(lxd.calls).toEqual([]);
  });

  it('a name close to a subcommand is still an instance when the command after "--" says so', async () => {
    const { lxd } = await cli(['sync1', '--', 'true']);
    expect(lxd.calls[0]).toEqual({ method: 'resolveRef', args: [{ remote: null, name: 'sync1', project: null }] });
  });
});

describe('help and version', () => {
  it('documents the exit codes and the explicit run form', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Exit codes:');
    expect(stdout).toContain('130/143/129');
    expect(stdout).toContain('safeupdate <instance> -- <command>');
    const run = await cli(['run', '--help']);
    expect(run.stdout).toContain('--no-rollback');
    expect(run.stdout).toContain('--check <spec>');
  });

  it.each(['run', 'check', 'recover', 'snapshots', 'prune', 'rollback', 'sync', 'schedule', 'history', 'show'])('%s --help has examples', async (command) => {
    const { code, stdout } = await cli([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Examples:');
    expect(stdout).toContain(`safeupdate ${command === 'run' ? 'web1' : command}`);
  });

  it('prints the version', async () => {
    const { code, stdout } = await cli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('the explicit run form', () => {
  it('updates an instance whose name is a subcommand', async () => {
    const { code, lxd } = await cli(['run', 'run', '--', 'true']);
    // The fake has no script, so the first call proves the name reached the run as an instance.
    expect(lxd.calls[0]).toEqual({ method: 'resolveRef', args: [{ remote: null, name: 'run', project: null }] });
    expect(code).toBe(3);
  });
});

describe('a fleet at the command line', () => {
  it('--all and --all backup: add up: one listing per remote, both in the report', async () => {
    const lxd = new FakeLxd()
      .expect('listInstances', () => [], (args) => args[0] === 'local')
      .expect('listInstances', () => [], (args) => args[0] === 'backup');
    const { code, stdout } = await cli(['--all', '--all', 'backup:', '--json', '--', 'true'], { lxd });
    lxd.assertDone();
    expect(code).toBe(0);
    expect(JSON.parse(stdout).instances).toEqual([]);
  });

  it('--exclude that matches nothing: exit 2 with the exclusion named, nothing started', async () => {
    const lxd = new FakeLxd().expect('listInstances', () => [runningContainer({ name: 'db8' })].map((item) => ({ ...item, config: {} })), (args) => args[0] === 'backup');
    const { code, stderr } = await cli(['--all', 'backup:', '--exclude', 'db9', '--', 'true'], { lxd });
    lxd.assertDone();
    expect(code).toBe(2);
    expect(stderr).toContain('safeupdate: --exclude "db9": matches no instance of the selection');
  });
});

describe('records at the command line', () => {
  let dir: string;
  const recordPath = () => join(dir, 'instances', 'local_prod_web1.json');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safeupdate-cli-'));
    await mkdir(join(dir, 'instances'), { recursive: true });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const inProd = () => Object.assign(new FakeLxd(), { current: { remote: 'local', project: 'prod' } });

  const otherHostsLease = (expiresAt: string) => ({
    description: '', usedBy: [], etag: null,
    config: {
      'user.safeupdate.runId': 'run-b', 'user.safeupdate.hostId': 'other', 'user.safeupdate.host': 'ci-b', 'user.safeupdate.pid': '42',
      'user.safeupdate.phase': 'updating', 'user.safeupdate.snapshot': 'snap1', 'user.safeupdate.startedAt': 't0', 'user.safeupdate.instance': 'web1',
      'user.safeupdate.renewedAt': 't', 'user.safeupdate.expiresAt': expiresAt,
    },
  });

  it('recover --forget --yes removes the server lease of a run on another host that is gone, and names it', async () => {
    const lxd = inProd();
    lxd.profiles.set('local:prod/safeupdate-lock_prod_web1', otherHostsLease('2020-01-01T00:00:00Z'));
    const { code, stderr } = await cli(['recover', 'web1', '--forget', '--yes'], { lxd, stateDir: dir });
    expect(code).toBe(0);
    expect(stderr).toContain('web1: server lease safeupdate-lock_prod_web1 of run run-b (host ci-b) removed.');
    expect(lxd.profiles.size).toBe(0);
  });

  it('recover --forget refuses a server lease that is still renewed: exit 3, the lease stays', async () => {
    const lxd = inProd();
    lxd.profiles.set('local:prod/safeupdate-lock_prod_web1', otherHostsLease(new Date(Date.now() + 60_000).toISOString()));
    const { code, stderr } = await cli(['recover', 'web1', '--forget', '--yes'], { lxd, stateDir: dir });
    expect(code).toBe(3);
    expect(stderr).toContain('web1 is busy: run run-b on host ci-b (pid 42, started t0) holds the server lease safeupdate-lock_prod_web1, updating');
    expect(lxd.profiles.size).toBe(1);
  });

  it('recover --forget --yes removes a corrupt record of the resolved project, touching no instance', async () => {
    await writeFile(recordPath(), '');
    const lxd = inProd();
    const { code, stderr } = await cli(['recover', 'web1', '--forget', '--yes'], { lxd, stateDir: dir });
    expect(code).toBe(0);
    expect(stderr).toContain('web1: record removed.');
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
    // The server lease is looked for (there is none); the instance is not touched.
    expect(lxd.calls.map((c) => c.method)).toEqual(['resolveRef', 'getProfile']);
  });

  it('recover --forget without a terminal or --yes: exit 2, the record stays', async () => {
    await writeFile(recordPath(), '{}');
    const { code, stderr } = await cli(['recover', 'web1', '--forget'], { lxd: inProd(), stateDir: dir });
    expect(code).toBe(2);
    expect(stderr).toContain('pass --yes');
    expect(await readFile(recordPath(), 'utf8')).toBe('{}');
  });

  it('recover --forget refuses while the run is alive: exit 3', async () => {
    await writeFile(recordPath(), JSON.stringify({ runId: 'live', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 's' }));
    const { code, stderr } = await cli(['recover', 'web1', '--forget', '--yes'], { lxd: inProd(), stateDir: dir });
    expect(code).toBe(3);
    expect(stderr).toContain('web1 is busy: run live');
  });

  it('recover on a corrupt record says which file and how to clear it: exit 3, not a stack trace', async () => {
    await writeFile(recordPath(), '{"runId":');
    const { code, stderr } = await cli(['recover', 'web1', '--yes'], { lxd: inProd(), stateDir: dir });
    expect(code).toBe(3);
    expect(stderr).toBe(`safeupdate: the record ${recordPath()} is unreadable (Unexpected end of JSON input); a run may have crashed on this instance. Check the instance, then clear the record: safeupdate recover local:web1 --project prod --forget\n`);
  });

  it('recover --yes on a record whose run another host has since recovered (no lease left): says so instead of a restore plan, restores nothing, exit 3', async () => {
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', host: 'ci-a', instance: 'web1', ref: { remote: 'local', name: 'web1', project: 'prod' }, phase: 'updating', command: ['x'], startedAt: 't', snapshot: 'safeupdate-old', runDir: dir }));
    const lxd = inProd().expect('getInstance', () => runningContainer());
    const { code, stderr, stdout } = await cli(['recover', 'web1', '--yes'], { lxd, stateDir: dir });
    lxd.assertDone();
    expect(code).toBe(3);
    expect(stderr).not.toContain('restore safeupdate-old, start');
    expect(stdout).toContain("this host's record of run dead (updating, snapshot safeupdate-old) is out of date: the server holds no lease for it");
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('dead');
  });

  it('prune skips an instance whose crashed run awaits recovery, deletes nothing there: exit 1', async () => {
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 'safeupdate-old' }));
    const old = { name: 'safeupdate-old', createdAt: '2020-01-01T00:00:00Z', expiresAt: null, stateful: false, sizeBytes: null };
    const lxd = inProd()
      .expect('checkReachable', () => undefined)
      .expect('getInstance', () => runningContainer())
      .expect('listSnapshots', () => [old]);
    const { code, stdout } = await cli(['prune', 'web1', '--older-than', '30d', '--yes'], { lxd, stateDir: dir });
    lxd.assertDone();
    expect(code).toBe(1);
    expect(stdout).toContain('web1: skipped, nothing deleted: web1 awaits recovery: run dead');
    expect(lxd.calls.map((c) => c.method)).not.toContain('deleteSnapshot');
  });
});

describe('a snapshot server must be another remote', () => {
  it.each([
    [['web1', '--copy-to', 'local:', '--', 'true'], '--copy-to "local:": that is where web1 lives'],
    [['backup:web1', '--copy-to', 'backup:', '--', 'true'], '--copy-to "backup:": that is where backup:web1 lives'],
    [['sync', 'web1', 'db1', 'local:'], 'snapshot server "local:": that is where web1 lives'],
  ])('%j: exit 2, nothing changed', async (args, message) => {
    const { code, stderr, lxd } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(lxd.calls.map((c) => c.method).filter((m) => m !== 'defaultRemote')).toEqual([]);
  });
});

describe('an internal error', () => {
  it('exits 3 with one line when nothing changed, never 1', async () => {
    let stderr = '';
    const code = await main(['check', 'web1'], {
      stdout: () => {},
      stderr: (text) => (stderr += text),
      terminal: false,
      env: { SAFEUPDATE_STATE_DIR: '/nonexistent/safeupdate-test' },
      createLxd: () => {
        throw new TypeError('cannot read properties of undefined');
      },
    });
    expect(code).toBe(3);
    expect(stderr).toBe('safeupdate: internal error: cannot read properties of undefined\nsafeupdate: nothing was changed\n');
  });

  it('with -v, the stack', async () => {
    const lines: string[] = [];
    const code = reportInternalError(new Error('boom'), { stderr: (text) => lines.push(text) }, true);
    expect(code).toBe(3);
    expect(lines[0]).toMatch(/^safeupdate: internal error: Error: boom\n {4}at /);
  });
});


describe('what a run cost in LXD', () => {
  it('counts the calls, the client processes among them and their time into the report, and --verbose says it on stderr', async () => {
    const lxd = new FakeLxd();
    const createLxd = (onCall: (call: LxdCall) => void) => {
      // Three calls as the access layer reports them; the unscripted fake then ends the run (not started).
      onCall({ command: ['local:', 'GET', '/1.0'], durationMs: 2, ok: true, process: false });
      onCall({ command: ['lxc', 'query', '/1.0'], durationMs: 30, ok: true, process: true });
      onCall({ command: ['lxc', 'project', 'list'], durationMs: 45, ok: false, process: true });
      return lxd;
    };
    let stdout = '';
    let stderr = '';
    const io = { stdout: (text: string) => (stdout += text), stderr: (text: string) => (stderr += text), terminal: false, env: { SAFEUPDATE_STATE_DIR: '/nonexistent/safeupdate-test' }, createLxd };
    await main(['web1', '--json', '--verbose', '--', 'true'], io);
    expect(JSON.parse(stdout).lxd).toEqual({ calls: 3, processes: 2, ms: 77 });
    expect(stderr).toContain('  · lxc project list (45ms, failed)\n');
    expect(stderr).toContain('  · local: GET /1.0 (2ms)\n');
    expect(stderr).toContain('3 LXD calls (2 client processes), 77ms in LXD\n');
  });

  it('SAFEUPDATE_TRANSPORT other than auto or client is bad input (exit 2)', async () => {
    const run = await runCli(['snapshots', 'web1'], { realLxd: true, env: { SAFEUPDATE_TRANSPORT: 'socket' } });
    expect(run).toMatchObject({ code: 2, stderr: expect.stringContaining('SAFEUPDATE_TRANSPORT "socket": must be auto or client') });
  });
});
