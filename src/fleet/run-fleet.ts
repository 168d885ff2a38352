import type { RunEvent } from '../run/events.js';
import { runUpdate, type RunContext, type RunOptions } from '../run/run-update.js';
import { fleetExitCode } from '../report/exit-codes.js';
import { frameReport, worstOutcome, type Report } from '../report/report.js';
import { schedule, type FleetTarget, type ScheduleOptions } from './scheduler.js';
import type { Selection } from './selection.js';

/** A run's progress event, with the instance it belongs to: several run at once. */
export type FleetEmit = (instance: string, event: RunEvent) => void;

const WORST_FIRST = ['needs-attention', 'interrupted', 'rolled-back', 'not-started', 'skipped', 'planned', 'updated'] as const;

/**
 * Updates a selection of instances: each one is an ordinary `runUpdate` with its own lock record and
 * folder (stages keep them per instance under the run folder), all sharing the run's interrupt so
 * that every run in flight rolls back on a signal. One report, one exit code for the whole fleet.
 */
export async function runFleet(
  selection: Selection,
  /** Each instance's options: its own config section may give it other checks or settings. */
  optionsFor: (target: FleetTarget) => RunOptions,
  command: { command: string[]; dryRun: boolean },
  bounds: ScheduleOptions,
  context: RunContext,
  emit: FleetEmit,
): Promise<Report> {
  const started = context.clock.now();
  const ran = await schedule(selection.targets, bounds, async (target) => {
    const report = await runUpdate({ ...optionsFor(target), ref: target.ref }, { ...context, emit: (event) => emit(target.label, event) });
    return report.instances[0]!;
  }, context.interrupt);
  const instances = [...ran, ...selection.notStarted];
  const interruptedBy = context.interrupt.aborted ? String(context.interrupt.reason) : null;
  return frameReport(context, started, context.clock.now() - started, worstOutcome(instances, [...WORST_FIRST]), fleetExitCode(instances, interruptedBy), instances, {
    ...command,
    interruptedBy,
  });
}
