// What the broker does with a well-formed request, after it has proved which instance asks.
import { LxdError } from '../../errors.js';
import type { InstanceRef, Lxd } from '../../lxd/lxd.js';
import { PATHS } from '../layout.js';
import { hookRollbackCommand, recordHookResult, recordHookSnapshot } from './hook-report.js';
import type { BrokerMemory, RunMemory } from './memory.js';
import type { BrokerAnswer, BrokerRequest, ResultRequest, SnapshotRequest } from './protocol.js';
import type { Registration } from './registration.js';

export const HOOK_SNAPSHOT_PREFIX = 'safeupdate-hook-';
/** The token file is 33 bytes; anything longer is not one. */
const TOKEN_MAX_BYTES = 64;
/** A FIFO or a stalled file read inside must not hold the broker: LXD reads the file within this. */
const TOKEN_READ_MS = 5_000;

export interface HandleDeps {
  lxd: Lxd;
  stateDir: string;
  registration: Registration;
  memory: BrokerMemory;
  /** Persists `memory` after a change. */
  remember: () => Promise<void>;
  now: () => Date;
  /** Wall-clock bound on the snapshot itself (a dir pool copies the whole root filesystem). */
  snapshotTimeoutMs?: number;
}

/** A refusal: the request is not answered with what it asked, and the host's log says why. */
export class Refused extends Error {}

export function instanceRef(registration: Registration): InstanceRef {
  return { remote: 'local', name: registration.instance, project: registration.project };
}

/**
 * Whether the request comes from inside the registered instance. The socket names the instance, but
 * a copy of it (lxc copy, a snapshot server's copy, a post-mortem copy) carries the same proxy
 * device and so reaches the same socket. The proof: the request's one-time token must be in the
 * registered instance's own token file, as LXD reads it. Only root inside that instance can write
 * there; a copy writes into its own filesystem. A token is good once.
 */
export async function proveOrigin(deps: HandleDeps, token: string): Promise<void> {
  const { lxd, registration, memory } = deps;
  if (memory.usedTokens.includes(token)) throw new Refused('the token was used before (a replay, or a copy of the instance)');
  const ref = instanceRef(registration);
  const config = await lxd.getConfig(ref).catch((error: unknown) => {
    if (error instanceof LxdError && error.kind === 'not-found') throw new Refused(`instance ${registration.instance} does not exist`);
    throw error;
  });
  if (config['volatile.uuid'] !== registration.uuid) {
    throw new Refused(`instance ${registration.instance} is not the one the hook was installed for (volatile.uuid ${config['volatile.uuid'] ?? 'none'}, installed for ${registration.uuid})`);
  }
  let written: string | null;
  try {
    written = await lxd.readFile(ref, PATHS.requestToken, { maxBytes: TOKEN_MAX_BYTES, timeoutMs: TOKEN_READ_MS });
  } catch (error) {
    throw new Refused(`the token file of ${registration.instance} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (written === null || written.trim() !== token) {
    throw new Refused(`the token is not in ${registration.instance}'s ${PATHS.requestToken}: the request did not come from inside that instance (a copy of it?)`);
  }
  memory.usedTokens.push(token);
  await deps.remember();
}

export async function handleRequest(deps: HandleDeps, request: BrokerRequest): Promise<BrokerAnswer> {
  await proveOrigin(deps, request.token);
  return request.request === 'snapshot' ? takeHookSnapshot(deps, request) : recordResult(deps, request);
}

function snapshotName(now: Date, taken: Set<string>): string {
  const base = `${HOOK_SNAPSHOT_PREFIX}${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
  for (let attempt = 1; ; attempt++) {
    const name = attempt === 1 ? base : `${base}-${attempt}`;
    if (!taken.has(name)) return name;
  }
}

/** One snapshot per apt run, within the cap and the rate; the record on the host is made with it. */
async function takeHookSnapshot(deps: HandleDeps, request: SnapshotRequest): Promise<BrokerAnswer> {
  const { lxd, registration, memory } = deps;
  const ref = instanceRef(registration);
  const seen = memory.runs.find((run) => run.run === request.run);
  if (seen?.snapshot) {
    return { ok: true, snapshot: seen.snapshot, expiresAt: null, seconds: 0, reused: true, rollback: hookRollbackCommand(registration, seen.snapshot) };
  }
  const now = deps.now();
  const windowStart = now.getTime() - registration.rateWindowSeconds * 1000;
  const recent = memory.snapshotTimes.filter((at) => Date.parse(at) > windowStart).length;
  if (recent >= registration.maxSnapshotsPerWindow) {
    throw new Refused(`rate limit: ${recent} hook snapshots in the last ${registration.rateWindowSeconds}s (at most ${registration.maxSnapshotsPerWindow})`);
  }
  const existing = await lxd.listSnapshots(ref);
  const hooks = existing.filter((snapshot) => snapshot.name.startsWith(HOOK_SNAPSHOT_PREFIX));
  if (hooks.length >= registration.maxSnapshots) {
    throw new Refused(`${hooks.length} hook snapshots exist (at most ${registration.maxSnapshots}): delete some on the host (safeupdate prune) or wait for them to expire`);
  }
  const name = snapshotName(now, new Set(existing.map((snapshot) => snapshot.name)));
  const expiresAt = registration.expirySeconds === null ? null : new Date(now.getTime() + registration.expirySeconds * 1000);
  const started = performance.now();
  // Counted before the snapshot: a request that fails half-way still spent the rate.
  memory.snapshotTimes.push(now.toISOString());
  await deps.remember();
  await lxd.createSnapshot(ref, name, expiresAt);
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const reportId = await recordHookSnapshot(deps, request, { name, expiresAt, startedAt: now, seconds });
  const run: RunMemory = { run: request.run, reportId, snapshot: name, at: now.toISOString() };
  memory.runs.push(run);
  await deps.remember();
  return { ok: true, snapshot: name, expiresAt: expiresAt?.toISOString() ?? null, seconds, reused: false, rollback: hookRollbackCommand(registration, name) };
}

/** The post-check's result, in the run's report on the host; a run that took no snapshot gets one too. */
async function recordResult(deps: HandleDeps, request: ResultRequest): Promise<BrokerAnswer> {
  const run = deps.memory.runs.find((candidate) => candidate.run === request.run) ?? null;
  const reportId = await recordHookResult(deps, request, run);
  if (!run) {
    deps.memory.runs.push({ run: request.run, reportId, snapshot: null, at: deps.now().toISOString() });
    await deps.remember();
  }
  const snapshot = run?.snapshot ?? null;
  return { ok: true, snapshot, expiresAt: null, seconds: 0, reused: run !== null, rollback: snapshot ? hookRollbackCommand(deps.registration, snapshot) : null };
}
