import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceRef } from '../lxd/lxd.js';

/**
 * How far a run got. Up to `snapshotting` the instance itself is untouched; from `updating` on it
 * may have changed, and only a rollback to `snapshot` brings it back to a known state.
 */
export type RunPhase = 'preparing' | 'snapshotting' | 'updating' | 'rolling-back';

/** The record of a run in progress on one instance: its lock, and what `recover` needs after a crash. */
export interface InstanceRecord {
  runId: string;
  pid: number;
  /** The process's start time, so that a reused pid is not taken for the holder. */
  pidStartedAt: string | null;
  host: string;
  instance: string;
  ref: InstanceRef;
  command: string[];
  startedAt: string;
  phase: RunPhase;
  snapshot: string | null;
  runDir: string;
}

export class InstanceBusy extends Error {
  constructor(readonly holder: InstanceRecord) {
    super(
      `${holder.instance} is busy: run ${holder.runId} (pid ${holder.pid}, started ${holder.startedAt}) is ${holder.phase} it with ${JSON.stringify(holder.command)}`,
    );
  }
}

export class AwaitingRecovery extends Error {
  constructor(readonly record: InstanceRecord) {
    super(
      `${record.instance} awaits recovery: run ${record.runId} (pid ${record.pid}, started ${record.startedAt}) ended while ${record.phase}` +
        `${record.snapshot ? ` with snapshot ${record.snapshot}` : ''}; run: safeupdate recover ${record.instance}`,
    );
  }
}

/**
 * One file per instance under the state folder, created exclusively: it is the lock between runs
 * on this host, and it survives a crash of safeupdate and the restore itself (it is not in the
 * instance's config, which a restore reverts). Locking across hosts is not covered.
 */
export class InstanceRecordFile {
  readonly path: string;

  constructor(stateDir: string, ref: InstanceRef) {
    const key = [ref.remote ?? 'local', ref.project ?? 'default', ref.name].join('_');
    this.path = join(stateDir, 'instances', `${key}.json`);
  }

  /** Takes the lock. A stale record from a run that never touched the instance is cleared on the way. */
  async acquire(record: Omit<InstanceRecord, 'pid' | 'pidStartedAt' | 'phase' | 'snapshot'>): Promise<{ clearedStale: InstanceRecord | null }> {
    await mkdir(join(this.path, '..'), { recursive: true });
    const mine: InstanceRecord = { ...record, pid: process.pid, pidStartedAt: processStartTime(process.pid), phase: 'preparing', snapshot: null };
    let clearedStale: InstanceRecord | null = null;
    for (;;) {
      try {
        await writeFile(this.path, JSON.stringify(mine, null, 2), { flag: 'wx' });
        return { clearedStale };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await this.read();
      if (!holder) continue;
      if (isAlive(holder)) throw new InstanceBusy(holder);
      if (holder.phase !== 'preparing') throw new AwaitingRecovery(holder);
      clearedStale = holder;
      await rm(this.path, { force: true });
    }
  }

  /** For `recover`: the record of a run that is gone, now held by this process. null: nothing to recover. */
  async takeOver(): Promise<InstanceRecord | null> {
    const record = await this.read();
    if (!record) return null;
    if (isAlive(record)) throw new InstanceBusy(record);
    const mine = { ...record, pid: process.pid, pidStartedAt: processStartTime(process.pid) };
    await this.write(mine);
    return mine;
  }

  async read(): Promise<InstanceRecord | null> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as InstanceRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** Written before the step it names, so a crash during that step is covered. Atomic: write, then rename. */
  async update(patch: Partial<Pick<InstanceRecord, 'phase' | 'snapshot'>>): Promise<void> {
    const current = await this.read();
    if (!current) throw new Error(`the run's record ${this.path} has gone`);
    await this.write({ ...current, ...patch });
  }

  private async write(record: InstanceRecord): Promise<void> {
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(record, null, 2));
    await rename(temp, this.path);
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

export function isAlive(record: Pick<InstanceRecord, 'pid' | 'pidStartedAt'>): boolean {
  const started = processStartTime(record.pid);
  return started !== null && (record.pidStartedAt === null || started === record.pidStartedAt);
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}
