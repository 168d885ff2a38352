import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATHS } from '../../../src/hooks/layout.js';
import { runCli } from '../../support/cli.js';
import { execResult, FakeLxd, runningContainer } from '../../support/fake-lxd.js';

// The hooks subcommands at the command line: bad input never reaches LXD (exit 2), and the exit
// code is the worst instance's.

const cli = (args: string[], lxd = new FakeLxd()) => runCli(args, { lxd, env: { SAFEUPDATE_STATE_DIR: '/nonexistent/safeupdate-test' } });

const isStateScript = (args: unknown[]) => String((args[1] as string[])[2]).includes('yn() {');
const state = (apt = true) => execResult({ stdout: `apt=${apt ? 'yes' : 'no'}\nperl=yes\nsystemd=yes\n` });

describe('hooks: bad input is exit 2 and never reaches LXD', () => {
  it.each([
    [['hooks', 'install', 'web1', '--mode', 'both'], "argument 'both' is invalid"],
    // The certificate mode's --port is gone with it: the broker's socket has no port.
    [['hooks', 'install', 'web1', '--mode', 'snapshot', '--port', '8443'], "unknown option '--port'"],
    [['hooks', 'install', 'web 1'], 'instance "web 1": not a valid LXD instance name'],
    [['hooks', 'install', 'web1', '--mode', 'snapshot', '--expiry', '3 days'], '--expiry: "3 days" is not a duration'],
    [['hooks', 'install', 'web1', '--mode', 'snapshot', '--check', 'unit:a b'], '"a b" is not a systemd unit name'],
    [['hooks', 'install', 'web1', '--check', 'unit:nginx'], '--check, --expiry and --no-expiry are for --mode snapshot'],
    [['hooks', 'install', 'web1', '--no-expiry'], 'are for --mode snapshot'],
    [['hooks', 'install', 'web1', '--port', '9000'], "unknown option '--port'"],
    [['hooks', 'broker', 'web1'], 'broker "web1": expected client.project.instance'],
    [['hooks', 'broker', 'lxc.default.web1', '--idle', 'soon'], '--idle: "soon" is not a duration'],
    [['hooks', 'install', 'web1', '--project', 'a b'], '--project "a b"'],
    [['hooks', 'install', 'web1', '--', 'true'], 'hooks install takes no command after "--"'],
    [['hooks', 'install'], "missing required argument 'instance'"],
    [['hooks', 'uninstall', 'web1', '--', 'x'], 'hooks uninstall takes no command after "--"'],
    [['hooks', 'status'], "missing required argument 'instance'"],
    [['hooks', 'status', 'web1', '--mode', 'guard'], "unknown option '--mode'"],
  ])('%j', async (args, message) => {
    const { code, stderr, lxd } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(lxd.calls).toEqual([]);
  });

  it('a config file with an invalid check is bad input too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safeupdate-hooks-cli-'));
    await writeFile(join(dir, 'c.yaml'), 'instances:\n  web1:\n    checks:\n      - unit: "a b"\n');
    const { code, stderr } = await cli(['hooks', 'install', 'web1', '--config', join(dir, 'c.yaml')]);
    await rm(dir, { recursive: true, force: true });
    expect(code).toBe(2);
    expect(stderr).toContain('instances.web1.checks[0]');
  });
});

describe('hooks install at the command line', () => {
  it('prints what it changed, per instance; the worst exit code wins (an instance without apt: 3)', async () => {
    const lxd = new FakeLxd();
    lxd.expect('checkReachable', () => undefined);
    lxd.expect('getInstance', () => runningContainer());
    lxd.expect('exec', () => state(), isStateScript);
    lxd.expect('listCertificates', () => []);
    lxd.expect('exec', () => execResult(), (args) => String((args[1] as string[])[2]).startsWith('mkdir'));
    for (let i = 0; i < 5; i += 1) lxd.expect('pushFile', () => undefined);
    lxd.expect('checkReachable', () => undefined);
    lxd.expect('getInstance', () => runningContainer({ name: 'alpine1' }));
    lxd.expect('exec', () => state(false), isStateScript);
    const { code, stdout, stderr } = await cli(['hooks', 'install', 'web1', 'alpine1'], lxd);

    lxd.assertDone();
    expect(code).toBe(3);
    expect(stdout).toContain('web1: guard hook installed (0.1.0)\n  create /usr/local/lib/safeupdate, /etc/safeupdate\n');
    expect(stdout).toContain(`  write ${PATHS.guardAptConf}\n`);
    expect(stderr).toBe('safeupdate: alpine1: alpine1 has no apt (apt-get and /etc/apt/apt.conf.d): the hooks are apt hooks; nothing changed\n');
  });

  it('--json: the outcomes as JSON on stdout', async () => {
    const lxd = new FakeLxd();
    lxd.expect('checkReachable', () => undefined);
    lxd.expect('getInstance', () => null);
    const { code, stdout } = await cli(['hooks', 'install', 'web1', '--json'], lxd);
    expect(code).toBe(3);
    expect(JSON.parse(stdout)).toEqual({
      action: 'install',
      instances: [{ instance: 'web1', exitCode: 3, summary: 'instance web1 does not exist; nothing changed', changes: [], notes: [], error: 'instance web1 does not exist' }],
    });
  });
});

describe('hooks status at the command line', () => {
  it('no hook: says so, exit 0; --json has the same', async () => {
    for (const json of [false, true]) {
      const lxd = new FakeLxd();
      lxd.expect('checkReachable', () => undefined);
      lxd.expect('getInstance', () => runningContainer());
      lxd.expect('exec', () => state(), isStateScript);
      lxd.expect('listCertificates', () => []);
      const { code, stdout } = await cli(['hooks', 'status', 'web1', ...(json ? ['--json'] : [])], lxd);
      expect(code).toBe(0);
      if (json) expect(JSON.parse(stdout).instances[0]).toMatchObject({ instance: 'web1', mode: null, packageVersion: '0.1.0', problems: [] });
      else expect(stdout).toBe('web1: no hook installed\n  apt timers: none\n');
    }
  });
});
