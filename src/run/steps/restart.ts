import type { Clock } from '../../checks/probe.js';
import { describeDue, isDue, parseRestartDue, RESTART_DUE_SCRIPT, type RestartDue } from '../../checks/restart-due.js';
import { lastLine } from '../../checks/exec-check.js';
import { formatDuration } from '../../config/duration.js';
import type { InstanceRef, Lxd } from '../../lxd/lxd.js';
import type { RestartMode, RestartReport } from '../../report/report.js';
import type { Failure } from '../types.js';
import { settleAll } from './concurrent.js';
import { holdsLease } from './lock.js';
import { step, warn, type RunScope } from './scope.js';

/**
 * `--restart`: many upgrades break only at the next start (a library replaced under a running
 * daemon, a config file never re-read, a changed unit). When the update left the instance due a
 * restart, it is restarted after the update and before the after-update checks, so that the checks
 * judge what the next boot runs, while the snapshot is still there to go back to.
 */

/** Stopped, started and answering again within this, or the restart counts as a failed check. */
export const RESTART_LIMIT_MS = 2 * 60_000;
/** Bound on the read of the two signs (restart-due.ts): one exec, one grep over /proc. */
const DETECT_TIMEOUT_MS = 30_000;
/** Bound on one "does it answer" exec after the start, and the pause between two. */
const ANSWER_TIMEOUT_MS = 5_000;
const ANSWER_INTERVAL_MS = 500;

export interface RestartDecision {
  restart: boolean;
  /** Why it restarts, or why not: for the step's title and the report. */
  reason: string;
  warning: string | null;
}

/**
 * auto: restart when due, and when it cannot be told (a read that failed proves nothing; a restart
 * costs seconds, a broken next boot costs a night). always: every time. never: not, but a restart
 * that is due is a warning, since the checks then judged only the processes still running.
 */
export function decideRestart(mode: RestartMode, due: RestartDue | { error: string }): RestartDecision {
  const why = 'error' in due ? null : describeDue(due);
  const unknown = 'error' in due ? `could not tell whether a restart is due (${due.error})` : null;
  switch (mode) {
    case 'always':
      return { restart: true, reason: `--restart always${why ? `; due: ${why}` : ''}`, warning: null };
    case 'auto':
      if (unknown) return { restart: true, reason: `${unknown}; restarting to be sure`, warning: null };
      return why ? { restart: true, reason: why, warning: null } : { restart: false, reason: 'not due', warning: null };
    case 'never':
      if (unknown) return { restart: false, reason: unknown, warning: `${unknown}; not restarted (--restart never)` };
      if (!why) return { restart: false, reason: 'not due', warning: null };
      return {
        restart: false,
        reason: `due (${why}), not restarted (--restart never)`,
        warning: `a restart is due (${why}), not made (--restart never): the checks judged the processes still running, not what the next start runs`,
      };
  }
}

/** The two signs, in one exec; or why they could not be read. */
export async function readRestartDue(lxd: Lxd, ref: InstanceRef, signal: AbortSignal): Promise<RestartDue | { error: string }> {
  try {
    const result = await lxd.exec(ref, ['sh', '-c', RESTART_DUE_SCRIPT], { timeoutMs: DETECT_TIMEOUT_MS, signal, env: { LC_ALL: 'C' } });
    if (result.timedOut) return { error: `no answer within ${formatDuration(DETECT_TIMEOUT_MS)}` };
    if (result.exitCode !== 0) return { error: `the check exited ${result.exitCode ?? result.signal}${lastLine(result.stderr) ? `: ${lastLine(result.stderr)}` : ''}` };
    return parseRestartDue(result.stdout);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * After an update that passed: reads whether a restart is due, decides by `mode`, and restarts
 * (a clean stop, a start, and the instance answering again) within `limitMs`. Returns the failure
 * that must roll the update back (a restart that did not come back, an interrupt), or null.
 */
export async function restartWhenDue(scope: RunScope, mode: RestartMode, limitMs = RESTART_LIMIT_MS): Promise<Failure | null> {
  const { lxd, clock, interrupt } = scope.context;
  const { ref } = scope;
  const due = await readRestartDue(lxd, ref, interrupt);
  if (interrupt.aborted) return interrupted(interrupt);
  const decision = decideRestart(mode, due);
  const report: RestartReport = {
    mode,
    due: 'error' in due ? null : isDue(due),
    rebootRequired: 'error' in due ? false : due.rebootRequired,
    packages: 'error' in due ? [] : due.packages,
    processes: 'error' in due ? [] : due.processes,
    restarted: false,
    cameBack: null,
    durationMs: null,
    limitMs,
    message: decision.reason,
  };
  scope.item.restart = report;
  if (decision.warning) warn(scope, decision.warning);
  if (!decision.restart) return null;
  // The run's own lease check comes next and ends the run; a restart is a change, and is not made.
  if (!(await holdsLease(scope))) {
    report.message = `${decision.reason}; not restarted: the run no longer holds the instance`;
    return null;
  }

  // A restart changes the instance: the reads beside the run (the inventory after the update) end first.
  await settleAll(scope);
  const started = clock.monotonic();
  const deadline = started + limitMs;
  const late = (what: string) => {
    if (clock.monotonic() > deadline) throw new Error(`${what} after ${formatDuration(clock.monotonic() - started)}, past the limit of ${formatDuration(limitMs)}`);
  };
  report.restarted = true;
  const outcome = await step(scope, 'restart', `Restart ${ref.name} (${decision.reason})`, async () => {
    // A clean stop, as a reboot does: shutdown units run, and the next start is a real boot. It may
    // take the whole limit; a shutdown that hangs past it fails the restart (the rollback forces it).
    await lxd.stopInstance(ref, { force: false, waitMs: Math.max(1_000, deadline - clock.monotonic()) });
    late('stopped');
    await lxd.startInstance(ref);
    late('started');
    await waitForAnswer(lxd, ref, clock, deadline, interrupt);
    return { message: `back after ${formatDuration(clock.monotonic() - started)}` };
  });
  report.durationMs = clock.monotonic() - started;
  report.cameBack = outcome.ok;
  if (interrupt.aborted) return interrupted(interrupt);
  if (outcome.ok) return null;
  report.message = `${decision.reason}; did not come back: ${outcome.message}`;
  return { step: 'restart', message: `the restart after the update did not come back within ${formatDuration(limitMs)}: ${outcome.message}` };
}

/** The instance runs commands again: the start is done, the checks take it from there. */
async function waitForAnswer(lxd: Lxd, ref: InstanceRef, clock: Clock, deadline: number, signal: AbortSignal): Promise<void> {
  let last = 'not asked';
  for (;;) {
    if (signal.aborted) throw new Error(`interrupted by ${String(signal.reason)}`);
    const result = await lxd.exec(ref, ['true'], { timeoutMs: ANSWER_TIMEOUT_MS, signal }).catch((error: unknown) => ({
      exitCode: null, timedOut: false, signal: null, stderr: error instanceof Error ? error.message : String(error),
    }));
    if (result.exitCode === 0) return;
    last = result.timedOut ? `no answer within ${formatDuration(ANSWER_TIMEOUT_MS)}` : `exec exited ${result.exitCode ?? result.signal}${lastLine(result.stderr) ? `: ${lastLine(result.stderr)}` : ''}`;
    if (clock.monotonic() + ANSWER_INTERVAL_MS > deadline) throw new Error(`started, but does not answer (${last})`);
    await clock.sleep(ANSWER_INTERVAL_MS, signal);
  }
}

function interrupted(interrupt: AbortSignal): Failure {
  return { step: 'restart', message: `interrupted by ${String(interrupt.reason)}` };
}

/** The plan's line for a dry run. */
export function describeRestartPlan(mode: RestartMode): string {
  switch (mode) {
    case 'auto':
      return `after the update: restart when due (reboot-required, or processes running deleted files) before the checks, back within ${formatDuration(RESTART_LIMIT_MS)} (--restart auto)`;
    case 'always':
      return `after the update: restart before the checks, back within ${formatDuration(RESTART_LIMIT_MS)} (--restart always)`;
    case 'never':
      return 'after the update: no restart; a restart that is due is a warning (--restart never)';
  }
}
