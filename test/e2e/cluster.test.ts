import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, E2E_PREFIX, ownerPid, ROOT, safeupdate, uniqueName, UPGRADE } from './lab.js';

// A two-member LXD cluster (scripts/lab-cluster: each member its own daemon in its own network
// namespace). safeupdate and these helpers reach it only through member 1's unix socket, so no
// client here needs the cluster's network.
const CLUSTER = { LXD_DIR: '/var/lib/safeupdate-lab/cluster/m1' };
const LAB = join(ROOT, 'scripts/lab');

/** Four instances, two on each member, shared by the stories of this file. */
const placed: Array<{ name: string; member: 'm1' | 'm2' }> = [];

async function lxc(...args: string[]): Promise<string> {
  return (await execa('lxc', args, { env: CLUSTER, stdin: 'ignore' })).stdout;
}

async function demoVersion(name: string): Promise<string> {
  return lxc('exec', name, '--', 'dpkg-query', '-W', '-f=${Version}', 'safeupdate-demo');
}

async function instance(name: string): Promise<{ status: string; location: string }> {
  return JSON.parse(await lxc('query', `/1.0/instances/${name}`)) as { status: string; location: string };
}

beforeAll(async () => {
  // Idempotent and about a second when the cluster is up (scripts/test brings it up); it also
  // restores the members' snapshot folders that LXD drops with the last instance that had snapshots.
  const up = await execa(join(ROOT, 'scripts/lab-cluster'), ['up'], { reject: false, stdin: 'ignore' });
  if (up.exitCode !== 0) throw new Error(`the lab cluster could not be built (scripts/lab-cluster up exited ${up.exitCode}):\n${up.stderr}`);
  for (const path of JSON.parse(await lxc('query', '/1.0/instances')) as string[]) {
    const name = path.split('/').pop()!;
    if (name.startsWith(E2E_PREFIX) && !alive(ownerPid(name))) await execa('lxc', ['delete', '--force', name], { env: CLUSTER, reject: false });
  }
  const members = ['m1', 'm2', 'm1', 'm2'] as const;
  placed.push(...members.map((member, i) => ({ name: uniqueName(`cl${i}`), member })));
  await Promise.all(placed.map(({ name, member }) => execa(LAB, ['launch', name], { env: { ...CLUSTER, LAB_TARGET: member }, stdin: 'ignore' })));
});

afterAll(async () => {
  for (const { name } of placed) await execa('lxc', ['delete', '--force', name], { env: CLUSTER, reject: false });
});

describe('an instance on the second member of a cluster, through the first member\'s socket', () => {
  it('is updated (exit 0), and a broken update of it is rolled back (exit 1)', async () => {
    const { name } = placed.find((p) => p.member === 'm2')!;
    expect(await instance(name)).toMatchObject({ location: 'm2', status: 'Running' });

    await execa(LAB, ['publish', name, '1.1'], { env: CLUSTER, stdin: 'ignore' });
    const healthy = await safeupdate([name, '--json', '--check', 'unit:safeupdate-demo', '--', ...UPGRADE], CLUSTER);
    expect(healthy.exitCode, healthy.stderr).toBe(0);
    expect(await demoVersion(name)).toBe('1.1');
    const snapshot = healthy.report!.instances[0]!.snapshot.name;
    const kept = JSON.parse(await lxc('query', `/1.0/instances/${name}/snapshots`)) as string[];
    expect(kept.map((path) => path.split('/').pop())).toEqual([snapshot]);
    // The space check asked for m2's share of the pool (both shares sit on one disk here, so the
    // unit tests show which member was asked): an answer, not an error about an unknown member.
    expect(healthy.report!.instances[0]!.space).toMatchObject({ pool: 'default', driver: 'dir', freeBytes: expect.any(Number) });

    await execa(LAB, ['publish', name, '2.0'], { env: CLUSTER, stdin: 'ignore' });
    const broken = await safeupdate([name, '--json', '--', ...UPGRADE], CLUSTER);
    expect(broken.exitCode, broken.stderr).toBe(1);
    const item = broken.report!.instances[0]!;
    expect(item.error).toEqual({ step: 'after-update', message: 'check failed: systemd (failed units: safeupdate-demo.service)' });
    expect(item.rollback.steps.map((s) => `${s.action}:${s.ok}`)).toEqual(['stop:true', 'restore:true', 'start:true']);
    expect(await demoVersion(name)).toBe('1.1');
    expect(await instance(name)).toMatchObject({ location: 'm2', status: 'Running' });
  });
});

describe('a fleet across both members', () => {
  it('--per-member 1 runs one instance at a time on each member, and the two members at once', async () => {
    const run = await safeupdate([...placed.map((p) => p.name), '--parallel', '4', '--per-member', '1', '--json', '--', 'sleep', '2'], CLUSTER);
    expect(run.exitCode, run.stderr).toBe(0);
    const rows = run.report!.instances;
    expect(rows.map((r) => [r.instance, r.outcome, r.member]).sort()).toEqual(placed.map((p) => [p.name, 'updated', p.member]).sort());

    const span = (r: (typeof rows)[number]) => {
      const start = Date.parse(r.startedAt!);
      return [start, start + r.durationMs!] as const;
    };
    const overlap = (a: (typeof rows)[number], b: (typeof rows)[number]) => span(a)[0] < span(b)[1] && span(b)[0] < span(a)[1];
    const [a1, b1] = rows.filter((r) => r.member === 'm1');
    const [a2, b2] = rows.filter((r) => r.member === 'm2');
    expect(overlap(a1!, b1!), 'two instances on m1 at once').toBe(false);
    expect(overlap(a2!, b2!), 'two instances on m2 at once').toBe(false);
    expect([a1, b1].some((x) => [a2, b2].some((y) => overlap(x!, y!))), 'the members never ran at the same time').toBe(true);
  });
});
