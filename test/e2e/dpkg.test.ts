import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { demoVersion, launch, lxc, publish, removeAll, safeupdate, snapshots, startSafeupdate, UPGRADE } from './lab.js';

afterEach(removeAll);

const CONFFILE = '/etc/safeupdate-demo/demo.conf';
const RELEASE = '/run/safeupdate-e2e-release-lock';

/** A lab container with demo 8.0 installed and its conffile edited locally, and 8.1 (which changes that conffile) published. */
async function withModifiedConffile(story: string): Promise<string> {
  const name = await launch(story);
  await publish(name, '8.0');
  await lxc('exec', name, '--', 'sh', '-c', `apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q safeupdate-demo && echo '# mine' >>${CONFFILE}`);
  await publish(name, '8.1');
  return name;
}

/**
 * Holds dpkg's frontend lock in the container as apt does (an fcntl lock), until RELEASE exists;
 * resolves once /proc/locks shows it held.
 */
async function holdDpkgLock(name: string): Promise<void> {
  const perl = `open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die; my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $l) or die; sleep 1 until -e "${RELEASE}"`;
  await execa('lxc', ['exec', name, '--', 'sh', '-c', `rm -f ${RELEASE}; setsid perl -MFcntl -e '${perl}' </dev/null >/dev/null 2>&1 &`], { stdin: 'ignore' });
  for (let i = 0; i < 100; i += 1) {
    if ((await lxc('exec', name, '--', 'cat', '/proc/locks')).includes('POSIX')) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the lock holder in ${name} did not take dpkg's lock`);
}

describe('unattended apt runs do not trip on dpkg', () => {
  it('a locally modified conffile is kept in a run with stdin closed: exit 0, 8.1 installed, the local file stays, the report names it as kept', async () => {
    const name = await withModifiedConffile('conffile');
    const run = await safeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('8.1');
    const local = await lxc('exec', name, '--', 'cat', CONFFILE);
    expect(local).toContain('hello from 8.0');
    expect(local).toContain('# mine');
    expect(await lxc('exec', name, '--', 'cat', `${CONFFILE}.dpkg-dist`)).toContain('hello from 8.1');
    const item = run.report!.instances[0]!;
    expect(item.dpkg!.conffiles).toEqual([{ path: CONFFILE, package: 'safeupdate-demo', outcome: 'kept', sideFile: `${CONFFILE}.dpkg-dist` }]);
    expect(item.dpkg!.aptConfig).toMatchObject({ dpkgOptions: ['--force-confdef', '--force-confold'] });
    // The apt configuration was only for the run.
    expect(await lxc('exec', name, '--', 'ls', '-A', '/run/safeupdate')).toBe('');
  });

  it('without safeupdate\'s apt options (APT_CONFIG given by --env) the same update hits dpkg\'s prompt with stdin closed and is rolled back: exit 1', async () => {
    const name = await withModifiedConffile('conffile-own');
    // An apt configuration of the instance's own: safeupdate then adds none, as before issue 23.
    const run = await safeupdate([name, '--json', '--env', 'APT_CONFIG=/etc/apt/apt.conf.d/01autoremove', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.stderr).toContain('end of file on stdin at conffile prompt');
    expect(await demoVersion(name)).toBe('8.0');
    expect(run.report!.instances[0]!.dpkg!.aptConfig).toBeNull();
  });

  it("a run waits while another process holds dpkg's lock, then updates: exit 0, the wait and the holder in the report", async () => {
    const name = await launch('lock-wait');
    await publish(name, '1.1');
    await holdDpkgLock(name);
    const run = await startSafeupdate([name, '--json', '--lock-timeout', '5m', '--', ...UPGRADE]);
    // Released only once the run has seen it held: the wait is certain, whatever the machine's speed.
    await run.waitFor("dpkg's lock is held by process");
    await lxc('exec', name, '--', 'touch', RELEASE);
    const result = await run.result;

    expect(result.exitCode, result.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    const lock = JSON.parse(result.stdout).instances[0].dpkg.lock;
    expect(lock).toMatchObject({ state: 'free', boundMs: 300_000 });
    expect(lock.waitedMs).toBeGreaterThan(0);
    expect(lock.holders).toEqual([expect.objectContaining({ lock: '/var/lib/dpkg/lock-frontend', command: expect.stringContaining('perl -MFcntl') })]);
  });

  it("dpkg's lock still held when the bound runs out: exit 3 naming the holder, nothing changed, no snapshot", async () => {
    const name = await launch('lock-held');
    await publish(name, '1.1');
    await holdDpkgLock(name);
    try {
      const run = await safeupdate([name, '--json', '--lock-timeout', '3s', '--', ...UPGRADE]);

      expect(run.exitCode, run.stderr).toBe(3);
      const item = run.report!.instances[0]!;
      expect(run.report!.outcome).toBe('not-started');
      expect(item.error!.step).toBe('dpkg-lock');
      expect(item.error!.message).toMatch(/still held after 3s \(--lock-timeout\) by process \d+ \(perl -MFcntl .*\) on \/var\/lib\/dpkg\/lock-frontend; nothing changed/);
      expect(item.dpkg!.lock).toMatchObject({ state: 'held' });
      expect(await demoVersion(name)).toBe('1.0');
      expect(await snapshots(name)).toEqual([]);
    } finally {
      await lxc('exec', name, '--', 'touch', RELEASE);
    }
  });
});
