import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { demoVersion, exposeDemo, launch, lxc, publish, removeAll, safeupdate, startSafeupdate, status, track, unitState, UPGRADE } from './lab.js';

afterAll(removeAll);

const POOL = 'labbtrfs';
const MARKER = 'user.safeupdate.rehearsal';

/** When the container's init and the demo service last started: both change on any stop or restart. */
async function startTimes(name: string): Promise<string> {
  const init = (await lxc('exec', name, '--', 'cut', '-d', ' ', '-f', '22', '/proc/1/stat')).trim();
  const service = (await lxc('exec', name, '--', 'systemctl', 'show', '-p', 'ActiveEnterTimestampMonotonic', '--value', 'safeupdate-demo')).trim();
  return `init ${init}, service ${service}`;
}

async function copiesOf(name: string): Promise<Array<{ name: string; status: string; config: Record<string, string> }>> {
  const all = JSON.parse(await lxc('query', '/1.0/instances?recursion=1')) as Array<{ name: string; status: string; config: Record<string, string> }>;
  return all.filter((instance) => instance.name.startsWith(`${name}-rehearsal-`));
}

/** The rehearsal copy of `name` once its update command (a `sleep`) runs; null after a minute without. */
async function copyUpdating(name: string): Promise<string | null> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
    const running = (await copiesOf(name)).find((instance) => instance.status === 'Running');
    // The image has no pgrep: /proc tells whether the copy's update command runs.
    if (running && (await execa('lxc', ['exec', running.name, '--', 'sh', '-c', 'grep -qx sleep /proc/[0-9]*/comm'], { reject: false })).exitCode === 0) return running.name;
  }
  return null;
}

describe('--rehearse on a copy-on-write pool', () => {
  // One instance for both stories: the broken update must leave it exactly as the good one finds it.
  let name = '';

  it('a broken 2.0 fails on the copy: the real instance is never stopped, stays on 1.0, the copy is deleted, exit 1', async () => {
    name = await launch('rehearse', POOL);
    // A proxy on a host port: a copy that kept it could not start beside the real instance.
    const port = await exposeDemo(name);
    await publish(name, '2.0');
    const before = await startTimes(name);

    const run = await safeupdate([
      name, '--rehearse', '--json', '--check', 'unit:safeupdate-demo', '--check', `http://127.0.0.1:${port}/health`, '--', ...UPGRADE,
    ]);

    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.outcome).toBe('refused-by-rehearsal');
    expect(await demoVersion(name)).toBe('1.0');
    expect(await unitState(name)).toBe('active');
    expect(await startTimes(name)).toBe(before);
    expect(item.rollback.performed).toBe(false);
    // Only the real instance's baseline ran on it; everything else on the copy.
    expect(item.checks.map((c) => c.phase)).toEqual(['baseline', 'baseline']);
    const rehearsal = item.rehearsal!;
    expect(rehearsal).toMatchObject({ verdict: 'failed', copyDeleted: true, checksOnCopy: ['unit:safeupdate-demo'] });
    expect(rehearsal.checksNotOnCopy.map((c) => c.name)).toEqual([`http://127.0.0.1:${port}/health`]);
    expect(rehearsal.devices.join('\n')).toContain('proxy web');
    expect(rehearsal.checks.map((c) => `${c.phase}:${c.ok}`)).toEqual(['baseline:true', 'after-update:false']);
    expect(rehearsal.logTail.join('\n')).toContain('Setting up safeupdate-demo (2.0)');
    expect(await copiesOf(name)).toEqual([]);
    // The snapshot the copy came from is kept, with its expiry.
    expect(item.snapshot.name).toMatch(/^safeupdate-/);
  });

  it('with --soak, a 5.0 that dies 10 s after it starts dies on the copy: refused, the real instance never touched', async () => {
    await publish(name, '5.0');
    const before = await startTimes(name);
    const run = await safeupdate([name, '--rehearse', '--soak', '30s', '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    expect(item.outcome).toBe('refused-by-rehearsal');
    expect(item.rehearsal!.checks.map((c) => `${c.phase}:${c.name}:${c.ok}`)).toEqual([
      'baseline:unit:safeupdate-demo:true', 'after-update:unit:safeupdate-demo:true', 'soak:unit:safeupdate-demo:false', 'soak:restarts:true',
    ]);
    // The real instance never soaked: it was never updated.
    expect(item.soak).toBeNull();
    expect(await startTimes(name)).toBe(before);
    expect(await demoVersion(name)).toBe('1.0');
    expect(await copiesOf(name)).toEqual([]);
  }, 120_000);

  it('a good 1.1 passes on the copy, then updates the real instance: exit 0, the copy is gone', async () => {
    await publish(name, '1.1');
    const run = await safeupdate([name, '--rehearse', '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(0);
    const item = run.report!.instances[0]!;
    expect(item.outcome).toBe('updated');
    expect(item.rehearsal).toMatchObject({ verdict: 'healthy', copyDeleted: true });
    expect(item.checks.map((c) => `${c.phase}:${c.ok}`)).toEqual(['baseline:true', 'after-update:true']);
    expect(await demoVersion(name)).toBe('1.1');
    expect(await copiesOf(name)).toEqual([]);
  });

  it('Ctrl+C while the copy updates: the copy is deleted, the instance untouched, nothing was updated (130)', async () => {
    const before = await startTimes(name);
    const run = await startSafeupdate([name, '--rehearse', '--json', '--check', 'unit:safeupdate-demo', '--', 'sleep', '60']);
    const copy = await copyUpdating(name);
    // Interrupted whether the copy was found or not: a run left going would hold the instance.
    process.kill(run.pid, 'SIGINT');
    expect(copy).not.toBeNull();
    track(copy!);

    const result = await run.result;
    expect(result.exitCode, result.stderr).toBe(130);
    const item = JSON.parse(result.stdout).instances[0];
    expect(item.outcome).toBe('interrupted');
    expect(item.error.message).toContain('nothing was updated');
    expect(item.rehearsal).toMatchObject({ verdict: 'interrupted', copyDeleted: true });
    expect(await copiesOf(name)).toEqual([]);
    expect(await startTimes(name)).toBe(before);
  });

  it('kill -9 while the copy updates: recover deletes the copy (its marker is the run\'s), the instance untouched', async () => {
    const before = await startTimes(name);
    const run = await startSafeupdate([name, '--rehearse', '--check', 'unit:safeupdate-demo', '--', 'sleep', '60']);
    const copy = await copyUpdating(name);
    process.kill(run.pid, 'SIGKILL');
    await run.result;
    expect(copy).not.toBeNull();
    track(copy!);

    const recovered = await safeupdate(['recover', name, '--yes', '--json'], { SAFEUPDATE_STATE_DIR: run.stateDir });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(recovered.report!.instances[0]!.warnings).toEqual([]);
    expect(await copiesOf(name)).toEqual([]);
    expect(await startTimes(name)).toBe(before);
    expect(await demoVersion(name)).toBe('1.1');
  });

  it('a copy whose marker is changed by hand during the run is left alone, running, and reported', async () => {
    const run = await startSafeupdate([name, '--rehearse', '--json', '--check', 'unit:safeupdate-demo', '--', 'sleep', '5']);
    // While the copy's update command sleeps, someone claims the copy.
    const copy = await copyUpdating(name);
    expect(copy).not.toBeNull();
    track(copy!);
    await execa('lxc', ['config', 'set', copy!, `${MARKER}=kept-by-hand`]);

    const result = await run.result;
    expect(result.exitCode, result.stderr).toBe(0);
    const item = JSON.parse(result.stdout).instances[0];
    expect(item.rehearsal).toMatchObject({ verdict: 'healthy', copyDeleted: false });
    expect(item.warnings.join('\n')).toContain(`the rehearsal copy ${copy} was left alone`);
    expect(await status(copy!)).toBe('Running');
    expect(JSON.parse(await lxc('query', `/1.0/instances/${copy}`)).config[MARKER]).toBe('kept-by-hand');
  });
});

describe('--rehearse --keep-failed', () => {
  it('keeps the failed copy stopped, marked, with the proxy masked and no snapshot schedule', async () => {
    const name = await launch('rehearse-kept', POOL);
    await exposeDemo(name);
    await lxc('config', 'set', name, 'snapshots.schedule=@daily');
    await publish(name, '2.0');

    const run = await safeupdate([name, '--rehearse', '--keep-failed', '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE]);

    expect(run.exitCode, run.stderr).toBe(1);
    const item = run.report!.instances[0]!;
    const kept = item.keptFailedCopy!;
    track(kept);
    expect(item.rehearsal).toMatchObject({ copy: kept, verdict: 'failed', copyKept: true, copyDeleted: false });
    const copy = JSON.parse(await lxc('query', `/1.0/instances/${kept}`));
    expect(copy.status).toBe('Stopped');
    expect(copy.config).toMatchObject({ [MARKER]: run.report!.runId, 'boot.autostart': 'false' });
    // LXD stores the empty value as no key: the instance's @daily did not come along.
    expect(copy.config['snapshots.schedule'] ?? '').toBe('');
    expect(copy.expanded_devices.web).toEqual({ type: 'none' });
    expect(await demoVersion(name)).toBe('1.0');
  });
});
