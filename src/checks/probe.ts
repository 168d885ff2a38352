import type { Attempt, CheckContext, CheckDefinition, CheckResult, CheckSpec, Observation } from './check.js';
import { execAttempt } from './exec-check.js';
import { httpAttempt } from './http-check.js';
import { tcpAttempt } from './tcp-check.js';
import { systemdAttempt } from './systemd-check.js';
import { unitAttempt } from './unit-check.js';

export interface Clock {
  /** The wall clock (ms since the epoch): only for times shown to people or written down (timestamps, names, expiries). */
  now(): number;
  /**
   * A clock that only moves forward (ms from an arbitrary origin): for every duration and deadline.
   * The wall clock can step (NTP, a resumed VM), and a step would end a soak or a deadline early, or stretch it.
   */
  monotonic(): number;
  /** Resolves early when the signal aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** When something began, both ways: `at` on the wall clock (to show), `elapsed()` on the monotonic one. */
export interface Timer {
  at: number;
  elapsed: () => number;
}

export function startTimer(clock: Clock): Timer {
  const at = clock.now();
  const origin = clock.monotonic();
  return { at, elapsed: () => clock.monotonic() - origin };
}

/** How long a pass with a confirm key must hold before it counts. */
export const CONFIRM_MS = 1_000;

/**
 * The first pause after an attempt that may still pass; each further one doubles, up to the
 * check's interval. A service coming back (after a restore, a slow start) is seen within a
 * fraction of a second of it, and a check that stays down is still asked only every interval.
 */
export const FIRST_RETRY_MS = 250;

/**
 * Only right after safeupdate changed the instance (an update, a restore) can a pass be a service
 * on its way down again; at baseline and in a plain `check` nothing of ours is changing, so a
 * second look would only add a second.
 */
function needsConfirmation(phase: CheckContext['phase']): boolean {
  return phase === 'after-update' || phase === 'after-rollback';
}

export function attemptFor(spec: CheckSpec): Attempt {
  switch (spec.kind) {
    case 'exec':
      return execAttempt(spec.command);
    case 'unit':
      return unitAttempt(spec.unit);
    case 'systemd':
      return systemdAttempt;
    case 'http':
      return httpAttempt(spec.url, spec.expect, spec.tls);
    case 'tcp':
      return tcpAttempt(spec.host, spec.port);
  }
}

/**
 * The one probe loop every check kind shares: settle (after an update only), then attempts every
 * `interval` until one passes, one fails definitely, the deadline passes, or the run is interrupted.
 */
export async function probe(check: CheckDefinition, context: CheckContext, clock: Clock): Promise<CheckResult> {
  const attempt = attemptFor(check.spec);
  const { timeoutMs, intervalMs, deadlineMs, settleMs } = check.timing;
  const started = clock.monotonic();
  if (context.phase === 'after-update' && settleMs > 0) await clock.sleep(settleMs, context.signal);
  const deadline = clock.monotonic() + deadlineMs;
  let attempts = 0;
  // The first pass of a check that wants confirmation: its key, and when it was seen.
  const unconfirmed = { key: null as string | null, at: 0 };
  let last: Observation = { state: 'retry', message: 'not attempted' };
  let retries = 0;
  const finish = (ok: boolean, message: string): CheckResult => ({
    name: check.name,
    phase: context.phase,
    ok,
    required: check.required,
    attempts,
    durationMs: clock.monotonic() - started,
    message,
    ...(last.failedUnits ? { failedUnits: last.failedUnits } : {}),
  });

  for (;;) {
    if (context.signal?.aborted) return finish(false, `interrupted (${last.message})`);
    attempts += 1;
    last = await attemptSafely(attempt, context, Math.min(timeoutMs, Math.max(deadline - clock.monotonic(), 1)));
    if (last.state === 'fail') return finish(false, last.message);
    let wait = intervalMs;
    if (last.state === 'pass') {
      if (last.confirmKey === undefined || !needsConfirmation(context.phase)) return finish(true, last.message);
      if (unconfirmed.key === last.confirmKey && clock.monotonic() - unconfirmed.at >= CONFIRM_MS) return finish(true, last.message);
      if (unconfirmed.key !== last.confirmKey) Object.assign(unconfirmed, { key: last.confirmKey, at: clock.monotonic() });
      wait = Math.min(intervalMs, CONFIRM_MS);
    } else {
      unconfirmed.key = null;
      retries += 1;
      wait = Math.min(intervalMs, FIRST_RETRY_MS * 2 ** (retries - 1));
    }
    if (clock.monotonic() + wait > deadline) {
      const reason = last.state === 'pass' ? `${last.message}, but not steady` : last.message;
      return finish(false, `${reason} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`);
    }
    await clock.sleep(wait, context.signal);
  }
}

export async function attemptSafely(attempt: Attempt, context: CheckContext, timeoutMs: number): Promise<Observation> {
  try {
    return await attempt(context, timeoutMs);
  } catch (error) {
    return { state: 'retry', message: error instanceof Error ? error.message : String(error) };
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // Whole milliseconds, as the wall clock gave them: reports and views show durations as integers.
  monotonic: () => Math.round(performance.now()),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};
