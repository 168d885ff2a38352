import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceRef } from '../lxd/lxd.js';
import { recoverCommand } from '../lxd/names.js';

/**
 * How far a run got. Up to `snapshotting` the instance itself is untouched; from `updating` on it
 * may have changed, and only a rollback to `snapshot` brings it back to a known state.
 */
export type RunPhase = 'preparing' | 'snapshotting' | 'updating' | 'rolling-back';

/** What the checks found before the update: the reference for judging health after a rollback. */
export interface BaselineRecord {
  /** Units that had already failed, which no later check blames on the update. */
  failedUnits: string[];
  /** The checks that passed: only these must pass again after a rollback. */
  passedChecks: string[];
}

/** The record of a run in progress on one instance: its lock, and what `recover` needs after a crash. */
export interface InstanceRecord {
  runId: string;
  pid: number;
  /** The process's start time, so that a reused pid is not taken for the holder. */
  pidStartedAt: string | null;
  host: string;
  instance: string;
  /** Resolved: remote and project as the client would have used them. */
  ref: InstanceRef;
  command: string[];
  startedAt: string;
  phase: RunPhase;
  snapshot: string | null;
  runDir: string;
  baseline?: BaselineRecord;
  /** A rehearsal's copy that may exist (`--rehearse`): `recover` deletes it if it still carries this run's marker. */
  rehearsalCopy?: string | null;
}

export class InstanceBusy extends Error {
  constructor(readonly holder: InstanceRecord) {
    super(
      `${holder.instance} is busy: run ${holder.runId} (pid ${holder.pid}, started ${holder.startedAt}) is ${holder.phase} it with ${JSON.stringify(holder.command)}`,
    );
  }
}

export class AwaitingRecovery extends Error {
  constructor(readonly record: InstanceRecord, ref: InstanceRef) {
    super(
      `${record.instance} awaits recovery: run ${record.runId} (pid ${record.pid}, started ${record.startedAt}) ended while ${record.phase}` +
        `${record.snapshot ? ` with snapshot ${record.snapshot}` : ''}; run: ${recoverCommand(ref)}`,
    );
  }
}

/** A record that cannot be read: left by a crash or a full disk, or edited by hand. */
export class CorruptRecord extends Error {
  constructor(readonly path: string, ref: InstanceRef, detail: string) {
    super(
      `the record ${path} is unreadable (${detail}); a run may have crashed on this instance. ` +
        `Check the instance, then clear the record: ${recoverCommand(ref)} --forget`,
    );
  }
}

/** How long a second process waits for a takeover of a stale record in progress. */
const TAKEOVER_WAIT_MS = 2_000;

/**
 * One file per instance under the state folder: the lock between runs on this host, and what a
 * crashed run leaves for `recover`. It is not in the instance's config, which a restore reverts.
 * Between hosts, the server lease (server-lease.ts) does the locking; this record stays for crash recovery.
 *
 * The file appears whole or not at all (written elsewhere, then linked or renamed into place), so
 * a reader never sees half a record. A stale record is replaced only under a takeover guard,
 * created exclusively, after reading it again: two runs that find the same stale record cannot
 * both take the lock.
 */
export class InstanceRecordFile {
  readonly path: string;
  private readonly guardPath: string;
  /** The record as this process holds it; null when it holds none. */
  private held: InstanceRecord | null = null;

  /** `scope`: which servers the remote names mean here (serverScope): '' for LXD's own. */
  constructor(stateDir: string, private readonly ref: InstanceRef, scope = '') {
    const key = [`${scope}${ref.remote ?? 'local'}`, ref.project ?? 'default', ref.name].join('_');
    this.path = join(stateDir, 'instances', `${key}.json`);
    this.guardPath = `${this.path}.takeover`;
  }

  /** Takes the lock. A stale record from a run that never touched the instance is cleared on the way. */
  async acquire(record: Omit<InstanceRecord, 'pid' | 'pidStartedAt' | 'phase' | 'snapshot'>): Promise<{ clearedStale: InstanceRecord | null }> {
    await mkdir(join(this.path, '..'), { recursive: true });
    const mine: InstanceRecord = { ...record, ...thisProcess(), phase: 'preparing', snapshot: null };
    const temp = await this.writeTemp(mine);
    try {
      for (;;) {
        try {
          await link(temp, this.path);
          this.held = mine;
          return { clearedStale: null };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await this.read();
        if (!holder) continue;
        if (isAlive(holder)) throw new InstanceBusy(holder);
        if (holder.phase !== 'preparing') throw new AwaitingRecovery(holder, this.ref);
        const replaced = await this.replaceStale(holder, temp);
        if (replaced) {
          this.held = mine;
          return { clearedStale: holder };
        }
      }
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** For `recover`: the record of a run that is gone, now held by this process. null: nothing to recover. */
  async takeOver(): Promise<InstanceRecord | null> {
    for (;;) {
      const record = await this.read();
      if (!record) return null;
      if (isAlive(record)) throw new InstanceBusy(record);
      const mine = { ...record, ...thisProcess() };
      const temp = await this.writeTemp(mine);
      try {
        if (await this.replaceStale(record, temp)) {
          this.held = mine;
          return mine;
        }
      } finally {
        await rm(temp, { force: true });
      }
    }
  }

  /** The record, or null when there is none. Throws CorruptRecord when it cannot be read. */
  async read(): Promise<InstanceRecord | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const record = JSON.parse(text) as InstanceRecord;
      if (typeof record?.runId !== 'string' || typeof record.pid !== 'number' || typeof record.phase !== 'string') throw new Error('fields missing');
      return record;
    } catch (error) {
      throw new CorruptRecord(this.path, this.ref, text.trim() === '' ? 'empty' : (error as Error).message);
    }
  }

  /** Written before the step it names, so a crash during that step is covered. Atomic: write, then rename. */
  async update(patch: Partial<Pick<InstanceRecord, 'phase' | 'snapshot' | 'baseline' | 'rehearsalCopy'>>): Promise<void> {
    if (!this.held) throw new Error(`no record of this run is held in ${this.path}`);
    const next = { ...this.held, ...patch };
    const temp = await this.writeTemp(next);
    try {
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    this.held = next;
  }

  /** Removes the record this process holds; never one another run holds. */
  async release(): Promise<void> {
    if (!this.held) return;
    const current = await this.read().catch(() => null);
    if (current?.runId === this.held.runId && current.pid === this.held.pid) await rm(this.path, { force: true });
    this.held = null;
  }

  /** `recover --forget`: removes a record whose run is gone, without touching the instance. */
  async forget(): Promise<'forgotten' | 'none'> {
    let record: InstanceRecord | null = null;
    try {
      record = await this.read();
    } catch (error) {
      if (!(error instanceof CorruptRecord)) throw error;
    }
    if (record && isAlive(record)) throw new InstanceBusy(record);
    const guard = await readGuard(this.guardPath);
    if (guard && !isAlive(guard)) await rm(this.guardPath, { force: true });
    try {
      await unlink(this.path);
      return 'forgotten';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
      throw error;
    }
  }

  /**
   * Replaces `stale` with the file `temp` when it is still the record in place. The guard makes the
   * look and the replacement one step: whoever creates it first does the takeover, the others wait
   * and then find the new record (held by a live process: busy).
   */
  private async replaceStale(stale: InstanceRecord, temp: string): Promise<boolean> {
    const deadline = performance.now() + TAKEOVER_WAIT_MS;
    for (;;) {
      try {
        await writeFile(this.guardPath, JSON.stringify(thisProcess()), { flag: 'wx' });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const guard = await readGuard(this.guardPath);
      if (guard && !isAlive(guard)) {
        throw new CorruptRecord(this.guardPath, this.ref, `a takeover guard left by process ${guard.pid}, which is gone`);
      }
      if (performance.now() > deadline) throw new InstanceBusy(stale);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    try {
      const current = await this.read();
      if (!current || current.runId !== stale.runId || current.pid !== stale.pid) return false;
      await rename(temp, this.path);
      return true;
    } finally {
      await rm(this.guardPath, { force: true });
    }
  }

  private async writeTemp(record: InstanceRecord): Promise<string> {
    const temp = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(record, null, 2));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return temp;
  }
}

async function readGuard(path: string): Promise<Pick<InstanceRecord, 'pid' | 'pidStartedAt'> | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Pick<InstanceRecord, 'pid' | 'pidStartedAt'>;
  } catch {
    // Gone already, or being written this instant: look again.
    return null;
  }
}

export function thisProcess(): Pick<InstanceRecord, 'pid' | 'pidStartedAt'> {
  return { pid: process.pid, pidStartedAt: processStartTime(process.pid) };
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
