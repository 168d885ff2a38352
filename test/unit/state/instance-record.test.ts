import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INCUS, LXC, serverScope } from '../../../src/lxd/dialect.js';
import { AwaitingRecovery, CorruptRecord, InstanceBusy, InstanceRecordFile } from '../../../src/state/instance-record.js';

const ref = { remote: 'local', name: 'web1', project: 'default' };
const DEAD = { pid: 999_999_999, pidStartedAt: '1' };
let dir: string;
const file = () => new InstanceRecordFile(dir, ref);
const mine = (runId: string) => ({ runId, host: 'h', instance: 'web1', ref, command: ['x'], startedAt: 't', runDir: dir });
const leave = (record: object) => writeFile(file().path, JSON.stringify(record));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-record-'));
  await mkdir(join(dir, 'instances'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('the instance record as a lock', () => {
  it('is created whole, keyed by remote, project and name', async () => {
    const record = file();
    await record.acquire(mine('a'));
    expect(record.path).toBe(join(dir, 'instances', 'local_default_web1.json'));
    expect(JSON.parse(await readFile(record.path, 'utf8'))).toMatchObject({ runId: 'a', pid: process.pid, phase: 'preparing', snapshot: null });
  });

  it('is kept apart per server: Incus\' local, or another LXD daemon folder, is not LXD\'s local', async () => {
    const lxd = new InstanceRecordFile(dir, ref, serverScope(LXC, 'local', {}));
    const incus = new InstanceRecordFile(dir, ref, serverScope(INCUS, 'local', {}));
    const member = new InstanceRecordFile(dir, ref, serverScope(LXC, 'local', { LXD_DIR: '/var/lib/safeupdate-lab/cluster/m1' }));
    await lxd.acquire(mine('a'));
    await incus.acquire(mine('b'));
    await member.acquire(mine('c'));
    expect(lxd.path).toBe(join(dir, 'instances', 'local_default_web1.json'));
    expect(incus.path).toBe(join(dir, 'instances', 'incus-local_default_web1.json'));
    expect(member.path).toMatch(/instances\/[0-9a-f]{8}-local_default_web1\.json$/);
    // The default folders named explicitly (the snap's too) are the same servers as no folder named.
    expect(serverScope(LXC, 'local', { LXD_DIR: '/var/lib/lxd/' })).toBe('');
    expect(serverScope(LXC, null, { LXD_DIR: '/var/snap/lxd/common/lxd' })).toBe('');
    expect(serverScope(INCUS, 'local', { INCUS_DIR: '/var/lib/incus' })).toBe('incus-');
    expect(serverScope(INCUS, null, { INCUS_DIR: '/srv/incus', LXD_DIR: '/srv/lxd' })).toMatch(/^incus-[0-9a-f]{8}-$/);
    expect(serverScope(LXC, 'local', { LXD_DIR: '/srv/a' })).not.toBe(serverScope(LXC, 'local', { LXD_DIR: '/srv/b' }));
    // A remote other than local is an address: the daemon folder says nothing about it.
    expect(serverScope(LXC, 'backup', { LXD_DIR: '/srv/a' })).toBe('');
    expect(serverScope(INCUS, 'backup', { INCUS_DIR: '/srv/a' })).toBe('incus-');
  });

  it('two takers of the same stale record: exactly one gets it, the other is told who holds it', async () => {
    await leave({ runId: 'dead', ...DEAD, instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null });
    const results = await Promise.allSettled([file().acquire(mine('a')), file().acquire(mine('b'))]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(InstanceBusy);
    const holder = JSON.parse(await readFile(file().path, 'utf8'));
    expect(lost[0]!.reason.message).toContain(`run ${holder.runId} (pid ${process.pid}`);
    expect((won[0] as PromiseFulfilledResult<{ clearedStale: { runId: string } | null }>).value.clearedStale?.runId).toBe('dead');
  });

  it('a dead run that had begun the update is not taken over: it awaits recovery', async () => {
    await leave({ runId: 'dead', ...DEAD, instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 's' });
    await expect(file().acquire(mine('a'))).rejects.toBeInstanceOf(AwaitingRecovery);
  });

  it('a takeover guard left by a dead process names its file; forget clears it with the record', async () => {
    await leave({ runId: 'dead', ...DEAD, instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null });
    await writeFile(`${file().path}.takeover`, JSON.stringify(DEAD));
    const error = await file().acquire(mine('a')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptRecord);
    expect((error as Error).message).toContain(`${file().path}.takeover`);
    expect(await file().forget()).toBe('forgotten');
    await expect(readFile(`${file().path}.takeover`)).rejects.toThrow('ENOENT');
    await file().acquire(mine('b'));
  });

  it('release never removes a record another run holds now', async () => {
    const first = file();
    await first.acquire(mine('a'));
    await leave({ runId: 'other', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating', command: ['x'], startedAt: 't', snapshot: 's' });
    await first.release();
    expect(JSON.parse(await readFile(first.path, 'utf8')).runId).toBe('other');
  });

  it('update keeps what it was given and what it held, and writes atomically', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await record.update({ phase: 'snapshotting', snapshot: 'safeupdate-1' });
    await record.update({ phase: 'updating' });
    expect(JSON.parse(await readFile(record.path, 'utf8'))).toMatchObject({ runId: 'a', phase: 'updating', snapshot: 'safeupdate-1' });
  });

  it.each([
    ['', 'empty'],
    ['{"runId": 1}', 'fields missing'],
    ['not json', 'is not valid JSON'],
  ])('%j is a corrupt record, not a crash', async (text, detail) => {
    await writeFile(file().path, text);
    const error = await file().read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptRecord);
    expect((error as Error).message).toContain(detail);
  });
});
