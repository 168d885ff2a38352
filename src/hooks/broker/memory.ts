// What a broker remembers between requests and restarts: the runs it took snapshots for (one per
// apt run), when it took them (the rate limit), and the last token it accepted (no replay).
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hooksStateDir } from './registration.js';

export interface RunMemory {
  run: string;
  /** The hook run's report id on the host (`safeupdate show`). */
  reportId: string;
  snapshot: string | null;
  /** ISO time the run was first seen. */
  at: string;
}

export interface BrokerMemory {
  /** Tokens accepted, newest last: a token is good for one request only. */
  usedTokens: string[];
  runs: RunMemory[];
  /** When each snapshot was taken (ISO), for the rate limit. */
  snapshotTimes: string[];
}

/** Kept: enough to dedupe the dpkg calls of one apt run and to know the last tokens, not a history. */
const KEEP_RUNS = 50;
const KEEP_TOKENS = 200;

export function emptyMemory(): BrokerMemory {
  return { usedTokens: [], runs: [], snapshotTimes: [] };
}

export function memoryFile(stateDir: string, key: string): string {
  return join(hooksStateDir(stateDir), `${key}.memory.json`);
}

/**
 * A missing file is a fresh start; a corrupt one (a crash, a full disk) too, and says so: the cap on
 * snapshots is counted on the server, so forgetting costs at most a second snapshot of one apt run.
 */
export async function loadMemory(file: string): Promise<{ memory: BrokerMemory; problem: string | null }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { memory: emptyMemory(), problem: null };
    return { memory: emptyMemory(), problem: `cannot read ${file}: ${(error as Error).message}` };
  }
  try {
    const value = JSON.parse(text) as Partial<BrokerMemory>;
    if (!Array.isArray(value.usedTokens) || !Array.isArray(value.runs) || !Array.isArray(value.snapshotTimes)) throw new Error('not a broker memory');
    return { memory: { usedTokens: value.usedTokens, runs: value.runs, snapshotTimes: value.snapshotTimes }, problem: null };
  } catch (error) {
    return { memory: emptyMemory(), problem: `${file} is corrupt (${(error as Error).message}); starting afresh` };
  }
}

export async function saveMemory(file: string, memory: BrokerMemory): Promise<void> {
  const trimmed: BrokerMemory = {
    usedTokens: memory.usedTokens.slice(-KEEP_TOKENS),
    runs: memory.runs.slice(-KEEP_RUNS),
    snapshotTimes: memory.snapshotTimes.slice(-KEEP_RUNS),
  };
  await writeFile(`${file}.new`, `${JSON.stringify(trimmed)}\n`, { mode: 0o600 });
  await rename(`${file}.new`, file);
}
