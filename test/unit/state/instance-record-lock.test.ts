import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceRef } from '../../../src/lxd/lxd.js';
import {
  AwaitingRecovery, CorruptRecord, InstanceBusy, InstanceRecordFile, isAlive, type InstanceRecord,
} from '../../../src/state/instance-record.js';

// The per-instance record as the lock between runs and as what `recover` reads after a crash:
// exclusivity, the stale takeover under its guard, corrupt records, and release of one's own only.

const ref: InstanceRef = { remote: 'local', name: 'web1', project: 'default' };
/** A pid no process has, with a start time: a run that is gone. */
const DEAD_PID = 999_999_999;
let dir: string;

const file = (r: InstanceRef = ref) => new InstanceRecordFile(dir, r);
const mine = (runId: string) => ({ runId, host: 'h', instance: 'web1', ref, command: ['apt-get', 'upgrade'], startedAt: '2026-11-26T10:00:00.000Z', runDir: '/runs/x' });
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');
const guardPath = () => `${recordPath()}.takeover`;
const onDisk = async () => JSON.parse(await readFile(recordPath(), 'utf8')) as InstanceRecord;
const leave = (record: Partial<InstanceRecord>) => writeFile(recordPath(), JSON.stringify(record));
const dead = (extra: Partial<InstanceRecord> = {}): Partial<InstanceRecord> => ({
  runId: 'dead', pid: DEAD_PID, pidStartedAt: '1', instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null, ...extra,
});
/** A record held by a live process: this test's own, whose start time is not checked (null). */
const alive = (extra: Partial<InstanceRecord> = {}): Partial<InstanceRecord> => ({
  runId: 'live', pid: process.pid, pidStartedAt: null, instance: 'web1', phase: 'updating', command: ['apt-get', 'upgrade'], startedAt: 't0', snapshot: 's', ...extra,
});
/** What /proc says of this process's start (field 22 of its stat), as the record keeps it. */
const myStartTime = () => {
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};
const leftovers = async () => (await readdir(join(dir, 'instances'))).filter((name) => name !== 'local_default_web1.json').sort();

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-lock-'));
  await mkdir(join(dir, 'instances'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('where the record lives', () => {
  it('is keyed by remote, project and name, with local and default for what is not given', () => {
    expect(new InstanceRecordFile('/state', { remote: null, name: 'web1', project: null }).path).toBe('/state/instances/local_default_web1.json');
    expect(new InstanceRecordFile('/state', { remote: 'backup', name: 'db1', project: 'prod' }).path).toBe('/state/instances/backup_prod_db1.json');
  });

  it('creates the instances folder when it is missing', async () => {
    await rm(join(dir, 'instances'), { recursive: true });
    await file().acquire(mine('a'));
    expect((await onDisk()).runId).toBe('a');
  });
});

describe('acquire', () => {
  it('writes the whole record: what it was given, this process with its start time, preparing, no snapshot', async () => {
    const result = await file().acquire(mine('a'));
    expect(result).toEqual({ clearedStale: null });
    expect(await onDisk()).toEqual({ ...mine('a'), pid: process.pid, pidStartedAt: myStartTime(), phase: 'preparing', snapshot: null });
    // Written elsewhere and linked into place: no temporary file is left behind, and no guard.
    expect(await leftovers()).toEqual([]);
  });

  it('refuses while a live run holds it, naming the holder exactly, and leaves no temporary file', async () => {
    await leave(alive());
    const error = await rejection(file().acquire(mine('a')));
    expect(error).toBeInstanceOf(InstanceBusy);
    expect(error.message).toBe(`web1 is busy: run live (pid ${process.pid}, started t0) is updating it with ["apt-get","upgrade"]`);
    expect((error as InstanceBusy).holder).toMatchObject({ runId: 'live' });
    expect((await onDisk()).runId).toBe('live');
    expect(await leftovers()).toEqual([]);
  });

  it('a second acquire by this very process is refused too: the lock is not reentrant', async () => {
    await file().acquire(mine('a'));
    const error = await rejection(file().acquire(mine('b')));
    expect(error).toBeInstanceOf(InstanceBusy);
    expect(error.message).toContain('run a (pid');
  });

  it('a record whose pid lives on in another process (a reused pid) is stale, not busy', async () => {
    await leave(dead({ pid: process.pid, pidStartedAt: 'not-my-start-time' }));
    const { clearedStale } = await file().acquire(mine('a'));
    expect(clearedStale).toMatchObject({ runId: 'dead', pid: process.pid });
    expect((await onDisk()).runId).toBe('a');
  });

  it.each(['snapshotting', 'updating', 'rolling-back'] as const)('a dead run at %s awaits recovery: refused, the record kept as it was', async (phase) => {
    await leave(dead({ phase, snapshot: phase === 'snapshotting' ? null : 'safeupdate-1' }));
    const error = await rejection(file().acquire(mine('a')));
    expect(error).toBeInstanceOf(AwaitingRecovery);
    expect((await onDisk()).runId).toBe('dead');
    expect(await leftovers()).toEqual([]);
  });

  it('says how to recover, with and without a snapshot, naming remote and project', async () => {
    await leave(dead({ phase: 'updating', snapshot: 'safeupdate-1' }));
    expect((await rejection(file().acquire(mine('a')))).message).toBe(
      `web1 awaits recovery: run dead (pid ${DEAD_PID}, started t) ended while updating with snapshot safeupdate-1; run: safeupdate recover local:web1 --project default`,
    );
    await leave(dead({ phase: 'snapshotting', snapshot: null }));
    expect((await rejection(file().acquire(mine('a')))).message).toBe(
      `web1 awaits recovery: run dead (pid ${DEAD_PID}, started t) ended while snapshotting; run: safeupdate recover local:web1 --project default`,
    );
  });

  it('takes over a dead run that changed nothing: the new record in place, the old one returned, no guard left', async () => {
    await leave(dead());
    const record = file();
    const { clearedStale } = await record.acquire(mine('a'));
    expect(clearedStale).toEqual(dead());
    expect(await onDisk()).toMatchObject({ runId: 'a', pid: process.pid, phase: 'preparing' });
    expect(await leftovers()).toEqual([]);
    // Held: the run can record its progress and release its own record.
    await record.update({ phase: 'snapshotting' });
    expect((await onDisk()).phase).toBe('snapshotting');
    await record.release();
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a corrupt record is refused, not replaced', async () => {
    await writeFile(recordPath(), '{"runId":');
    expect(await rejection(file().acquire(mine('a')))).toBeInstanceOf(CorruptRecord);
    expect(await readFile(recordPath(), 'utf8')).toBe('{"runId":');
    expect(await leftovers()).toEqual([]);
  });

  it('a state folder that cannot hold the record is an error, not a lock', async () => {
    await rm(join(dir, 'instances'), { recursive: true });
    await writeFile(join(dir, 'instances'), 'not a folder');
    const error = await rejection(file().acquire(mine('a')));
    expect(error).not.toBeInstanceOf(InstanceBusy);
    expect((error as NodeJS.ErrnoException).code).toMatch(/^(EEXIST|ENOTDIR)$/);
  });
});

describe('the takeover guard', () => {
  it('while a live process holds the guard, a taker waits, then says busy after about 2 s', async () => {
    await leave(dead());
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    const started = Date.now();
    const error = await rejection(file().acquire(mine('a')));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(error).toBeInstanceOf(InstanceBusy);
    // Busy with the stale record it found: the takeover in progress is not its to judge.
    expect((error as InstanceBusy).holder.runId).toBe('dead');
    // The guard is not its own: it is left alone, and so is the record.
    expect(JSON.parse(await readFile(guardPath(), 'utf8'))).toEqual({ pid: process.pid, pidStartedAt: null });
    expect((await onDisk()).runId).toBe('dead');
  });

  it('a guard that cannot be read (being written this instant) is waited for, not taken for a dead one', async () => {
    await leave(dead());
    await writeFile(guardPath(), '{"pid":');
    const error = await rejection(file().acquire(mine('a')));
    expect(error).toBeInstanceOf(InstanceBusy);
    expect(await readFile(guardPath(), 'utf8')).toBe('{"pid":');
  });

  it('when the guard goes away within the wait, the taker takes over', async () => {
    await leave(dead());
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    setTimeout(() => void rm(guardPath()), 150);
    const { clearedStale } = await file().acquire(mine('a'));
    expect(clearedStale?.runId).toBe('dead');
    expect((await onDisk()).runId).toBe('a');
    await expect(readFile(guardPath())).rejects.toThrow('ENOENT');
  });

  it('a guard left by a dead process is a corrupt record, named exactly, with the way out', async () => {
    await leave(dead());
    await writeFile(guardPath(), JSON.stringify({ pid: DEAD_PID, pidStartedAt: '1' }));
    const error = await rejection(file().acquire(mine('a')));
    expect(error).toBeInstanceOf(CorruptRecord);
    expect(error.message).toBe(
      `the record ${guardPath()} is unreadable (a takeover guard left by process ${DEAD_PID}, which is gone); a run may have crashed on this instance. ` +
        'Check the instance, then clear the record: safeupdate recover local:web1 --project default --forget',
    );
    expect((error as CorruptRecord).path).toBe(guardPath());
  });

  // While the taker waits for the guard, another process finishes a takeover and writes its own
  // record: read again under the guard, the record in place is no longer the stale one it found.
  async function recordChangesDuringTheWait(next: Partial<InstanceRecord> | null) {
    await leave(dead());
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    setTimeout(() => {
      void (async () => {
        if (next) await leave(next);
        else await rm(recordPath());
        await rm(guardPath());
      })();
    }, 150);
    return file().acquire(mine('a'));
  }

  it('a record replaced by a live run in the meantime: busy, naming the new holder, which keeps it', async () => {
    const error = await rejection(recordChangesDuringTheWait(alive({ runId: 'winner' })));
    expect(error).toBeInstanceOf(InstanceBusy);
    expect((error as InstanceBusy).holder.runId).toBe('winner');
    expect((await onDisk()).runId).toBe('winner');
  });

  it('a record of another dead run (another run id) in the meantime: that one is what is cleared', async () => {
    const { clearedStale } = await recordChangesDuringTheWait(dead({ runId: 'dead-2' }));
    expect(clearedStale?.runId).toBe('dead-2');
    expect((await onDisk()).runId).toBe('a');
  });

  it('a record of the same run id but another pid in the meantime: compared by pid too', async () => {
    const { clearedStale } = await recordChangesDuringTheWait(dead({ pid: DEAD_PID - 1 }));
    expect(clearedStale?.pid).toBe(DEAD_PID - 1);
  });

  it('a record removed in the meantime: the lock is simply taken, nothing was cleared', async () => {
    const { clearedStale } = await recordChangesDuringTheWait(null);
    expect(clearedStale).toBeNull();
    expect((await onDisk()).runId).toBe('a');
  });
});

describe('read', () => {
  it('is null when there is no record', async () => {
    expect(await file().read()).toBeNull();
  });

  it('passes on an error that is not a missing file (a folder in its place)', async () => {
    await mkdir(recordPath());
    const error = await rejection(file().read());
    expect(error).not.toBeInstanceOf(CorruptRecord);
    expect((error as NodeJS.ErrnoException).code).toBe('EISDIR');
  });

  it.each([
    [' \n', 'empty'],
    ['null', 'fields missing'],
    ['{"runId":"a","pid":"1","phase":"preparing"}', 'fields missing'],
    ['{"runId":"a","pid":1}', 'fields missing'],
    ['{"pid":1,"phase":"preparing"}', 'fields missing'],
  ])('%j is corrupt (%s), and the message names the file and --forget', async (text, detail) => {
    await writeFile(recordPath(), text);
    const error = await rejection(file().read());
    expect(error).toBeInstanceOf(CorruptRecord);
    expect(error.message).toBe(
      `the record ${recordPath()} is unreadable (${detail}); a run may have crashed on this instance. ` +
        'Check the instance, then clear the record: safeupdate recover local:web1 --project default --forget',
    );
  });

  it('the three fields that matter are enough', async () => {
    await writeFile(recordPath(), '{"runId":"a","pid":1,"phase":"preparing"}');
    expect(await file().read()).toEqual({ runId: 'a', pid: 1, phase: 'preparing' });
  });
});

describe('update', () => {
  it('needs a held record', async () => {
    await leave(alive());
    const error = await rejection(file().update({ phase: 'updating' }));
    expect(error.message).toBe(`no record of this run is held in ${recordPath()}`);
    expect((await onDisk()).runId).toBe('live');
  });

  it('a write that fails leaves no temporary file and does not count as written', async () => {
    const record = file();
    await record.acquire(mine('a'));
    // A folder in the record's place: the rename onto it fails.
    await rm(recordPath());
    await mkdir(recordPath());
    await writeFile(join(recordPath(), 'x'), '');
    await expect(record.update({ phase: 'updating' })).rejects.toThrow();
    expect(await leftovers()).toEqual([]);
    await rm(recordPath(), { recursive: true });
    await record.update({ snapshot: 'safeupdate-1' });
    expect(await onDisk()).toMatchObject({ runId: 'a', phase: 'preparing', snapshot: 'safeupdate-1' });
  });

  it('records the baseline beside what it held', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await record.update({ baseline: { failedUnits: ['old.service'], passedChecks: ['systemd'] } });
    expect(await onDisk()).toMatchObject({ runId: 'a', phase: 'preparing', baseline: { failedUnits: ['old.service'], passedChecks: ['systemd'] } });
    expect(await leftovers()).toEqual([]);
  });
});

describe('release', () => {
  it('removes the record it holds, once; afterwards nothing is held', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await record.release();
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
    // Another run takes the lock; a second release by the first must not remove it.
    const other = file();
    await other.acquire(mine('b'));
    await record.release();
    expect((await onDisk()).runId).toBe('b');
    await expect(record.update({ phase: 'updating' })).rejects.toThrow('no record of this run is held');
  });

  it('removes nothing when it holds nothing', async () => {
    await leave(alive());
    await file().release();
    expect((await onDisk()).runId).toBe('live');
  });

  it('keeps a record with its run id but another pid (another process on the same run id)', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await leave({ ...(await onDisk()), pid: DEAD_PID });
    await record.release();
    expect((await onDisk()).pid).toBe(DEAD_PID);
  });

  it('keeps a record that has become unreadable: it is not known to be its own', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await writeFile(recordPath(), '');
    await record.release();
    expect(await readFile(recordPath(), 'utf8')).toBe('');
  });

  it('with the record already gone: nothing to do, no error', async () => {
    const record = file();
    await record.acquire(mine('a'));
    await rm(recordPath());
    await record.release();
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });
});

describe('takeOver (recover)', () => {
  it('is null when there is no record', async () => {
    expect(await file().takeOver()).toBeNull();
  });

  it('refuses a record a live run holds, leaving it', async () => {
    await leave(alive());
    expect(await rejection(file().takeOver())).toBeInstanceOf(InstanceBusy);
    expect((await onDisk()).pid).toBe(process.pid);
  });

  it('holds the record of a dead run as this process, keeping what it recorded', async () => {
    await leave(dead({ phase: 'updating', snapshot: 'safeupdate-1', baseline: { failedUnits: [], passedChecks: ['systemd'] } }));
    const record = file();
    const taken = await record.takeOver();
    const expected = { ...dead({ phase: 'updating', snapshot: 'safeupdate-1', baseline: { failedUnits: [], passedChecks: ['systemd'] } }), pid: process.pid, pidStartedAt: myStartTime() };
    expect(taken).toEqual(expected);
    expect(await onDisk()).toEqual(expected);
    expect(await leftovers()).toEqual([]);
    // Held: progress is recorded, and release removes it.
    await record.update({ phase: 'rolling-back' });
    expect(await onDisk()).toMatchObject({ runId: 'dead', phase: 'rolling-back', pid: process.pid });
    await record.release();
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('a corrupt record is refused', async () => {
    await writeFile(recordPath(), 'garbage');
    expect(await rejection(file().takeOver())).toBeInstanceOf(CorruptRecord);
  });

  it('while a live guard stays: busy, and no temporary file is left', async () => {
    await leave(dead({ phase: 'updating', snapshot: 's' }));
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    expect(await rejection(file().takeOver())).toBeInstanceOf(InstanceBusy);
    expect(await leftovers()).toEqual(['local_default_web1.json.takeover']);
  });

  it('when the dead record is replaced during the wait, it looks again and takes that one', async () => {
    await leave(dead({ phase: 'updating', snapshot: 's' }));
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    setTimeout(() => {
      void (async () => {
        await leave(dead({ runId: 'dead-2', phase: 'rolling-back', snapshot: 's2' }));
        await rm(guardPath());
      })();
    }, 150);
    const taken = await file().takeOver();
    expect(taken).toMatchObject({ runId: 'dead-2', phase: 'rolling-back', snapshot: 's2', pid: process.pid });
    expect(await leftovers()).toEqual([]);
  });
});

describe('forget (recover --forget)', () => {
  it('removes the record of a dead run', async () => {
    await leave(dead({ phase: 'updating' }));
    expect(await file().forget()).toBe('forgotten');
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('removes a corrupt record', async () => {
    await writeFile(recordPath(), '');
    expect(await file().forget()).toBe('forgotten');
    await expect(readFile(recordPath())).rejects.toThrow('ENOENT');
  });

  it('says none when there is nothing', async () => {
    expect(await file().forget()).toBe('none');
  });

  it('refuses the record of a live run, leaving it', async () => {
    await leave(alive());
    const error = await rejection(file().forget());
    expect(error).toBeInstanceOf(InstanceBusy);
    expect((await onDisk()).runId).toBe('live');
  });

  it('passes on a read error that is not corruption', async () => {
    await mkdir(recordPath());
    const error = await rejection(file().forget());
    expect((error as NodeJS.ErrnoException).code).toBe('EISDIR');
  });

  it('leaves a guard a live process holds', async () => {
    await leave(dead());
    await writeFile(guardPath(), JSON.stringify({ pid: process.pid, pidStartedAt: null }));
    expect(await file().forget()).toBe('forgotten');
    expect(JSON.parse(await readFile(guardPath(), 'utf8')).pid).toBe(process.pid);
  });

  it('removes a guard a dead process left, also when there is no record', async () => {
    await writeFile(guardPath(), JSON.stringify({ pid: DEAD_PID, pidStartedAt: '1' }));
    expect(await file().forget()).toBe('none');
    await expect(readFile(guardPath())).rejects.toThrow('ENOENT');
  });
});

describe('isAlive', () => {
  it('is false for a pid no process has', () => {
    expect(isAlive({ pid: DEAD_PID, pidStartedAt: null })).toBe(false);
  });

  it('is true for a live pid without a recorded start time, or with its own', () => {
    expect(isAlive({ pid: process.pid, pidStartedAt: null })).toBe(true);
    expect(isAlive({ pid: process.pid, pidStartedAt: myStartTime()! })).toBe(true);
  });

  it('is false for a live pid that started at another time: the pid was reused', () => {
    expect(isAlive({ pid: process.pid, pidStartedAt: String(Number(myStartTime()) + 1) })).toBe(false);
  });
});

describe('the messages', () => {
  it('busy, awaiting recovery and corrupt say exactly what they mean', () => {
    const holder = { ...dead({ phase: 'updating', snapshot: 'safeupdate-1' }), ref, host: 'h', runDir: '/r' } as InstanceRecord;
    expect(new InstanceBusy(holder).message).toBe(`web1 is busy: run dead (pid ${DEAD_PID}, started t) is updating it with ["x"]`);
    const projectless = { remote: 'backup', name: 'db1', project: null };
    expect(new AwaitingRecovery(holder, projectless).message).toBe(
      `web1 awaits recovery: run dead (pid ${DEAD_PID}, started t) ended while updating with snapshot safeupdate-1; run: safeupdate recover backup:db1`,
    );
    expect(new CorruptRecord('/s/x.json', projectless, 'empty').message).toBe(
      'the record /s/x.json is unreadable (empty); a run may have crashed on this instance. Check the instance, then clear the record: safeupdate recover backup:db1 --forget',
    );
  });
});
