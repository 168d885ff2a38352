import type { InstanceReport, Outcome } from './report.js';

/**
 * The exit-code contract, the same for every subcommand. Scripts, CI jobs and apt hooks depend on
 * it: values are added, never changed.
 */
export const EXIT = {
  ok: 0,
  failedCleanly: 1,
  usage: 2,
  couldNotStart: 3,
  needsHuman: 4,
  followUpFailed: 5,
  /** Ctrl+C at a prompt: nothing changed. */
  interruptedByUser: 130,
} as const;

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export function exitCodeFor(outcome: Outcome, interruptedBy: string | null): number {
  switch (outcome) {
    case 'updated':
    case 'planned':
    case 'healthy':
    case 'recovered':
    case 'restored':
    case 'synced':
      return EXIT.ok;
    case 'rolled-back':
    case 'refused-by-rehearsal':
    case 'unhealthy':
    case 'sync-failed':
      return EXIT.failedCleanly;
    case 'not-started':
    case 'skipped':
      return EXIT.couldNotStart;
    case 'needs-attention':
      return EXIT.needsHuman;
    case 'interrupted':
      return SIGNAL_EXIT[interruptedBy ?? 'SIGINT'] ?? 130;
  }
}

const FAILED_CLEANLY: readonly Outcome[] = ['rolled-back', 'refused-by-rehearsal', 'unhealthy', 'sync-failed'];

/**
 * The one rule for every command over several instances: the most urgent thing any of them needs
 * decides. A human first; then an interrupt (the operator asked for it); then a rollback; then
 * instances that never started; then a failed follow-up.
 */
export function fleetExitCode(instances: readonly InstanceReport[], interruptedBy: string | null): number {
  if (instances.some((item) => item.outcome === 'needs-attention')) return EXIT.needsHuman;
  if (interruptedBy !== null || instances.some((item) => item.outcome === 'interrupted')) return SIGNAL_EXIT[interruptedBy ?? 'SIGINT'] ?? 130;
  if (instances.some((item) => FAILED_CLEANLY.includes(item.outcome))) return EXIT.failedCleanly;
  if (instances.some((item) => item.outcome === 'not-started' || item.outcome === 'skipped')) return EXIT.couldNotStart;
  if (instances.some((item) => item.error?.step === 'follow-up')) return EXIT.followUpFailed;
  return EXIT.ok;
}

export const EXIT_CODE_HELP = `Exit codes:
  0    updated and healthy (or a dry run that would proceed; check: all required checks pass)
  1    the update, its restart or its checks failed; rolled back and healthy again on the snapshot
       (check: a required check failed; --rehearse: it failed on the throw-away copy,
       the instance was not touched)
  2    bad usage or invalid input; nothing changed
  3    could not start (instance missing, stopped or ephemeral, LXD unreachable,
       baseline unhealthy, snapshot failed; check: could not check); nothing changed
  4    needs a human: rollback failed, unhealthy after rollback, or a failure left
       in place by --no-rollback
  5    updated and healthy, but a follow-up step failed
  130/143/129  interrupted by SIGINT/SIGTERM/SIGHUP, then rolled back (4 if that failed)`;
