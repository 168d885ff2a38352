import * as fs from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InstanceBusy, InstanceRecordFile } from '../../../src/state/instance-record.js';

// Faults of the file system that a real disk gives rarely and a test cannot provoke otherwise (a
// record that vanishes between two looks, a write that fails half-way, a file system that refuses
// hard links), injected into node:fs/promises as the record module sees it.

type FsName = 'link' | 'writeFile' | 'unlink' | 'readFile';
interface Fault {
  name: FsName;
  when: (path: string) => boolean;
  /** Before failing, what the fault does to the disk (a half-written file, for instance). */
  before?: (path: string) => Promise<void>;
  error: NodeJS.ErrnoException;
}
const faults: Fault[] = [];
const injected: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const faulty = <F extends (...args: any[]) => Promise<unknown>>(name: FsName, original: F, pathArg: number) =>
    (async (...args: unknown[]) => {
      const path = String(args[pathArg]);
      const index = faults.findIndex((fault) => fault.name === name && fault.when(path));
      if (index >= 0) {
        const [fault] = faults.splice(index, 1);
        injected.push(`${name} ${path}`);
        await fault!.before?.(path);
        throw fault!.error;
      }
      return original(...args);
    }) as unknown as F;
  return {
    ...actual,
    // link(existing, new): the fault is keyed by the new path, the record's.
    link: faulty('link', actual.link, 1),
    writeFile: faulty('writeFile', actual.writeFile, 0),
    unlink: faulty('unlink', actual.unlink, 0),
    readFile: faulty('readFile', actual.readFile, 0),
  };
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

const ref = { remote: 'local', name: 'web1', project: 'default' };
let dir: string;
const file = () => new InstanceRecordFile(dir, ref);
const mine = (runId: string) => ({ runId, host: 'h', instance: 'web1', ref, command: ['x'], startedAt: 't', runDir: dir });
const recordPath = () => join(dir, 'instances', 'local_default_web1.json');
const inInstances = async () => (await readdir(join(dir, 'instances'))).sort();
const isTemp = (path: string) => path.endsWith('.tmp');

beforeEach(async () => {
  faults.length = 0;
  injected.length = 0;
  dir = await mkdtemp(join(tmpdir(), 'safeupdate-faults-'));
  await mkdir(join(dir, 'instances'));
});
afterEach(async () => {
  expect(faults).toEqual([]);
  await rm(dir, { recursive: true, force: true });
});

describe('acquire under faults', () => {
  it('a record that vanishes between the failed link and the look: it looks again, and takes the lock', async () => {
    faults.push({ name: 'link', when: (path) => path === recordPath(), error: errno('EEXIST') });
    const result = await file().acquire(mine('a'));
    expect(result).toEqual({ clearedStale: null });
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('a');
    expect(injected).toHaveLength(1);
  });

  it('a link the file system refuses is an error, not a lock, and the temporary file goes', async () => {
    faults.push({ name: 'link', when: (path) => path === recordPath(), error: errno('EPERM') });
    await expect(file().acquire(mine('a'))).rejects.toMatchObject({ code: 'EPERM' });
    expect(await inInstances()).toEqual([]);
  });

  it('a record that cannot be written whole (a full disk) leaves nothing behind and says why', async () => {
    faults.push({ name: 'writeFile', when: isTemp, before: (path) => fs.writeFile(path, '{"runId": "a", "pi'), error: errno('ENOSPC') });
    await expect(file().acquire(mine('a'))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await inInstances()).toEqual([]);
  });

  it('a write that fails before creating its file says why too (the cleanup does not mask it)', async () => {
    faults.push({ name: 'writeFile', when: isTemp, error: errno('EDQUOT') });
    await expect(file().acquire(mine('a'))).rejects.toMatchObject({ code: 'EDQUOT' });
    expect(await inInstances()).toEqual([]);
  });

  it('a guard that cannot be created for another reason than its existence is an error, not a wait', async () => {
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null }));
    faults.push({ name: 'writeFile', when: (path) => path.endsWith('.takeover'), error: errno('EROFS') });
    const started = Date.now();
    const error = await file().acquire(mine('a')).catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(InstanceBusy);
    expect(error).toMatchObject({ code: 'EROFS' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await inInstances()).toEqual(['local_default_web1.json']);
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('dead');
  });
});

describe('update under faults', () => {
  it('a record that cannot be written whole is an error, and the record in place stays as it was', async () => {
    const record = file();
    await record.acquire(mine('a'));
    faults.push({ name: 'writeFile', when: isTemp, before: (path) => fs.writeFile(path, '{'), error: errno('ENOSPC') });
    await expect(record.update({ phase: 'updating' })).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await inInstances()).toEqual(['local_default_web1.json']);
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).phase).toBe('preparing');
  });
});

describe('forget under faults', () => {
  it('a removal that fails for another reason than absence is an error, not "none"', async () => {
    await writeFile(recordPath(), '');
    faults.push({ name: 'unlink', when: (path) => path === recordPath(), error: errno('EACCES') });
    await expect(file().forget()).rejects.toMatchObject({ code: 'EACCES' });
  });

  it('a record that cannot be read (an I/O error, not corruption) is an error, and it is not removed', async () => {
    await writeFile(recordPath(), JSON.stringify({ runId: 'dead', pid: 999_999_999, pidStartedAt: '1', phase: 'updating' }));
    faults.push({ name: 'readFile', when: (path) => path === recordPath(), error: errno('EIO') });
    await expect(file().forget()).rejects.toMatchObject({ code: 'EIO' });
    expect(JSON.parse(await readFile(recordPath(), 'utf8')).runId).toBe('dead');
  });

  it('a record removed by someone else between the look and the removal: none', async () => {
    await writeFile(recordPath(), '');
    faults.push({ name: 'unlink', when: (path) => path === recordPath(), error: errno('ENOENT') });
    expect(await file().forget()).toBe('none');
  });
});
