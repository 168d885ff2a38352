import type { Timer } from '../../checks/probe.js';
import { recoverCommand } from '../../lxd/names.js';
import { exitCodeFor } from '../../report/exit-codes.js';
import { frameReport, type Outcome, type Report } from '../../report/report.js';
import type { Failure } from '../types.js';
import { settleAll } from './concurrent.js';
import { awaitRecovery, leaseLoss } from './lock.js';
import { describeError, type RunScope } from './scope.js';

/**
 * An error nobody foresaw, as an outcome: not started (exit 3) when nothing changed; else needs
 * attention (exit 4) with the record kept for `recover`. Never "rolled back" (exit 1).
 */
export function internalError(scope: RunScope, error: unknown): Failure & { outcome: Outcome } {
  const message = `internal error: ${describeError(error)}`;
  if (!scope.changing) return { outcome: 'not-started', step: 'internal', message: `${message}; nothing changed` };
  awaitRecovery(scope);
  return { outcome: 'needs-attention', step: 'internal', message: `${message}; the instance may have changed. Check it, then: ${recoverCommand(scope.ref)}` };
}

/**
 * Ends a single-instance run: records the outcome, the failure and the instance's status now, and
 * frames the report. `exitCode` overrides the outcome's code (a failed follow-up is 5). Once the
 * instance may have changed, a lost lease overrides them all: another host may be recovering the
 * instance, so whatever this run found, a human must look (exit 4, the record kept).
 */
export async function conclude(
  scope: RunScope,
  outcome: Outcome,
  failure: Failure | null,
  details: { started: Timer; command: string[]; dryRun?: boolean; interruptedBy?: string | null; exitCode?: number },
): Promise<Report> {
  // Reads started ahead of a turn the run never reached end first: nothing of the run outlives its report.
  await settleAll(scope);
  const lost = scope.changing ? await leaseLoss(scope) : null;
  if (lost) {
    awaitRecovery(scope);
    [outcome, failure, details] = ['needs-attention', lost, { ...details, exitCode: exitCodeFor('needs-attention', null) }];
  }
  scope.item.outcome = outcome;
  scope.item.error = failure && { step: failure.step, message: failure.message };
  scope.item.finalStatus = await currentStatus(scope);
  const { interrupt } = scope.context;
  const interruptedBy = details.interruptedBy ?? (interrupt.aborted ? String(interrupt.reason) : null);
  scope.item.startedAt = new Date(details.started.at).toISOString();
  scope.item.durationMs = details.started.elapsed();
  return frameReport(scope.context, details.started.at, scope.item.durationMs, outcome, details.exitCode ?? exitCodeFor(outcome, interruptedBy), [scope.item], {
    command: details.command,
    dryRun: details.dryRun ?? false,
    interruptedBy,
  });
}

export async function currentStatus(scope: RunScope): Promise<string | null> {
  try {
    return (await scope.context.lxd.getInstance(scope.ref))?.status ?? 'missing';
  } catch {
    return null;
  }
}
