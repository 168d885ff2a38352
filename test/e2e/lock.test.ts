import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from './lab.js';

const TAKER = join(ROOT, 'test/fixtures/take-lock.mjs');

describe('the per-instance lock across processes', () => {
  it('two runs that find the same stale record at once: never both get the lock (20 trials)', async () => {
    const outcomes: string[][] = [];
    for (let trial = 0; trial < 20; trial += 1) {
      const stateDir = await mkdtemp(join(tmpdir(), 'safeupdate-lock-'));
      await mkdir(join(stateDir, 'instances'));
      // A run that died before it changed anything: its record may be taken over.
      await writeFile(join(stateDir, 'instances', 'local_default_web1.json'), JSON.stringify({
        runId: 'dead', pid: 999_999_999, pidStartedAt: '1', host: 'h', instance: 'web1', phase: 'preparing', command: ['x'], startedAt: 't', snapshot: null, runDir: stateDir,
      }));
      const takers = ['a', 'b'].map((runId) => execa('node', [TAKER, stateDir, runId]));
      outcomes.push((await Promise.all(takers)).map((result) => result.stdout.trim()).sort());
      await rm(stateDir, { recursive: true, force: true });
    }
    // Exactly one taker each time; the other is told that the instance is busy.
    expect(outcomes.filter(([first, second]) => first === 'got' && second === 'got')).toEqual([]);
    expect(new Set(outcomes.map((pair) => pair.join(',')))).toEqual(new Set(['got,refused InstanceBusy']));
  });
});
