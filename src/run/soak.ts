import type { CheckContext, CheckDefinition, CheckResult, Observation } from '../checks/check.js';
import { attemptFor, attemptSafely, probe, type Clock } from '../checks/probe.js';
import { parseProperties } from '../checks/unit-check.js';
import { formatDuration } from '../config/duration.js';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import { shellJoin } from '../shell.js';

/** How often, at most, a soak looks: a check's own interval when shorter. */
const LONGEST_TICK_MS = 2_000;
/** How often a soak tells its views how long it has left. */
const PROGRESS_EVERY_MS = 5_000;

export interface SoakContext {
  lxd: Lxd;
  ref: InstanceRef;
  clock: Clock;
  /** Units already failed at baseline: the systemd check does not blame the update for them. */
  baselineFailedUnits: readonly string[];
  signal: AbortSignal;
  /** Remaining time, for the views. */
  progress: (message: string) => void;
}

export interface SoakOutcome {
  /** One result per check, and one for the restart watch where there is one; phase `soak`. */
  results: CheckResult[];
  samples: number;
  elapsedMs: number;
  /** What failed first, and when; null: healthy the whole time (or interrupted: see the signal). */
  failure: string | null;
}

interface Watched {
  check: CheckDefinition;
  samples: number;
  nextAt: number;
  /** The first pass's key (a unit's invocation and restart count): another one later means it restarted. */
  key: string | null;
  failure: string | null;
}

/**
 * After the update passed its checks, keeps looking for `durationMs`: every check at its own
 * interval, and systemd's restart counters. A service that dies a minute later, or that systemd
 * keeps restarting (and that a check happened to catch while up), fails the soak.
 *
 * A definite failure (a failed unit) ends the soak at once; a look that only "may still pass"
 * (a unit activating, a refused connection) gets the check's own deadline to pass again, as after
 * the update. The restart watch covers the units of `unit:` checks, and with the `systemd` check
 * every service: a restart loop passes `is-system-running`, but its counter grows.
 */
export async function soak(checks: CheckDefinition[], durationMs: number, context: SoakContext): Promise<SoakOutcome> {
  const { clock, signal } = context;
  const started = clock.monotonic();
  const end = started + durationMs;
  const elapsed = () => formatDuration(clock.monotonic() - started);
  const watched: Watched[] = checks.map((check) => ({ check, samples: 0, nextAt: started, key: null, failure: null }));
  const checkContext: CheckContext = { lxd: context.lxd, ref: context.ref, phase: 'soak', baselineFailedUnits: context.baselineFailedUnits, signal };
  const restarts = restartWatch(checks);
  const restartResult = { samples: 0, compared: 0, failure: null as string | null, unread: 0, lastError: '' };
  // Counters that cannot be read are not "no restart": a read that fails is counted and retried next
  // round, and a soak that never compared two readings has not watched restarts: it fails for it.
  const readOrNull = async (): Promise<Map<string, number> | null> => {
    try {
      return await readRestarts(context, restarts!.units);
    } catch (error) {
      restartResult.unread += 1;
      restartResult.lastError = error instanceof Error ? error.message : String(error);
      return null;
    }
  };
  let counted = restarts ? await readOrNull() : null;
  let lastProgress = started;

  const sampleCheck = async (item: Watched) => {
    item.samples += 1;
    const seen: Observation = await attemptSafely(attemptFor(item.check.spec), checkContext, item.check.timing.timeoutMs);
    // Never past the end: every check has a last look when the soak ends, however long its interval.
    item.nextAt = Math.min(clock.monotonic() + item.check.timing.intervalMs, end);
    if (seen.state === 'fail') return (item.failure = `${seen.message} at ${elapsed()}`);
    if (seen.state === 'retry') {
      // It may come back: give it what a check after the update gets.
      const again = await probe(item.check, checkContext, clock);
      item.samples += again.attempts;
      if (!again.ok) return (item.failure = `${seen.message} at ${elapsed()}, then ${again.message}`);
      return null;
    }
    if (seen.confirmKey === undefined) return null;
    item.key ??= seen.confirmKey;
    if (seen.confirmKey !== item.key) return (item.failure = `it restarted at ${elapsed()} (was ${item.key}, now ${seen.confirmKey}): ${seen.message}`);
    return null;
  };

  const sampleRestarts = async () => {
    if (!restarts) return null;
    restartResult.samples += 1;
    if (counted === null) {
      counted = await readOrNull();
      return null;
    }
    const before = counted;
    const now = await readOrNull();
    if (now === null) return null;
    restartResult.compared += 1;
    // Units that had failed before the update are not the update's doing.
    const grown = [...now].filter(([unit, count]) => count > (before.get(unit) ?? 0) && !context.baselineFailedUnits.includes(unit));
    if (grown.length === 0) return null;
    return (restartResult.failure = grown
      .map(([unit, count]) => `${unit} restarted ${count - (before.get(unit) ?? 0)} time(s) during the soak (NRestarts ${before.get(unit) ?? 0} → ${count})`)
      .join('; ') + ` at ${elapsed()}`);
  };

  let failure: string | null = null;
  while (failure === null && !signal.aborted) {
    for (const item of watched) {
      if (failure !== null || signal.aborted || clock.monotonic() < item.nextAt) continue;
      if ((await sampleCheck(item)) === null) continue;
      // A check that is not required only warns, as after the update: it is not asked again.
      if (item.check.required) failure = `${item.check.name}: ${item.failure}`;
      else item.nextAt = Infinity;
    }
    if (failure === null && !signal.aborted) failure = await sampleRestarts();
    if (failure !== null || signal.aborted || clock.monotonic() >= end) break;
    if (clock.monotonic() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = clock.monotonic();
      context.progress(`soak: ${formatDuration(end - clock.monotonic())} left, ${sampleCount(watched, restartResult)} samples, healthy so far`);
    }
    const nextDue = Math.min(...watched.map((item) => item.nextAt), clock.monotonic() + LONGEST_TICK_MS, end);
    await clock.sleep(Math.max(nextDue - clock.monotonic(), 0), signal);
  }

  if (restarts && restartResult.compared === 0 && failure === null && !signal.aborted) {
    failure = restartResult.failure =
      `restarts were not watched: no two readings of systemd's restart counters could be compared (${restartResult.unread} of ${restartResult.samples + 1} reads failed, last: ${restartResult.lastError})`;
  }
  const elapsedMs = clock.monotonic() - started;
  const results: CheckResult[] = watched.map((item) => ({
    name: item.check.name,
    phase: 'soak',
    ok: item.failure === null && !signal.aborted,
    required: item.check.required,
    attempts: item.samples,
    durationMs: elapsedMs,
    message: item.failure ?? (signal.aborted ? `interrupted at ${formatDuration(elapsedMs)}` : `passed ${item.samples} sample(s) over ${formatDuration(elapsedMs)}`),
  }));
  if (restarts) {
    results.push({
      name: 'restarts',
      phase: 'soak',
      ok: restartResult.failure === null && !signal.aborted,
      required: true,
      attempts: restartResult.samples,
      durationMs: elapsedMs,
      message: restartResult.failure ?? `no restart of ${restarts.describe} over ${formatDuration(elapsedMs)}${restartResult.unread ? ` (${restartResult.unread} of ${restartResult.samples + 1} reads failed, last: ${restartResult.lastError})` : ''}`,
    });
  }
  return { results, samples: sampleCount(watched, restartResult), elapsedMs, failure };
}

function sampleCount(watched: Watched[], restarts: { samples: number }): number {
  return watched.reduce((sum, item) => sum + item.samples, restarts.samples);
}

/**
 * What the restart watch covers: null when no required check says the instance runs systemd. A
 * check that is not required only warns, and so must its units' restarts: they are not watched.
 */
function restartWatch(checks: CheckDefinition[]): { units: string[] | 'all'; describe: string } | null {
  const required = checks.filter((check) => check.required);
  if (required.some((check) => check.spec.kind === 'systemd')) return { units: 'all', describe: 'any service' };
  const units = required.flatMap((check) => (check.spec.kind === 'unit' ? [check.spec.unit] : []));
  return units.length ? { units, describe: units.join(', ') } : null;
}

/** Every watched unit's systemd restart counter, in one exec. */
async function readRestarts({ lxd, ref, signal }: SoakContext, units: string[] | 'all'): Promise<Map<string, number>> {
  const script =
    units === 'all'
      ? 'systemctl show --property=Id,NRestarts -- $(systemctl list-units --type=service --all --plain --no-legend --no-pager | cut -d" " -f1)'
      : `systemctl show --property=Id,NRestarts -- ${shellJoin(units)}`;
  const result = await lxd.exec(ref, ['sh', '-c', script], { timeoutMs: 10_000, signal });
  if (result.exitCode !== 0) throw new Error(`systemctl show exited ${result.exitCode}`);
  const counts = new Map<string, number>();
  for (const block of result.stdout.split(/\n\s*\n/)) {
    const props = parseProperties(block);
    if (props.Id && props.NRestarts !== undefined) counts.set(props.Id, Number(props.NRestarts) || 0);
  }
  // Nothing to compare is not "no restart".
  if (counts.size === 0) throw new Error('systemctl show printed no NRestarts (systemd before 235 has none)');
  return counts;
}
