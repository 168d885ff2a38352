import { startTimer } from '../checks/probe.js';
import type { RunEvent } from '../run/events.js';
import type { InstanceReport } from '../report/report.js';
import { runUpdate } from '../run/run-update.js';
import type { RunContext, RunOptions } from '../run/types.js';
import { fleetExitCode } from '../report/exit-codes.js';
import { frameReport, worstOutcome, type Outcome, type Report } from '../report/report.js';
import { schedule, type FleetTarget, type ScheduleOptions } from './scheduler.js';
import type { Selection } from './selection.js';

/** A run's progress events, and its end: the views show each instance's outcome as it comes. */
export type FleetEvent = RunEvent | { type: 'finished'; item: InstanceReport };

/** A progress event, with the instance it belongs to: several run at once. */
export type FleetEmit = (instance: string, event: FleetEvent) => void;

// Every outcome a run or the scheduler can give, in the order of the one exit rule (fleetExitCode):
// a refusal by the rehearsal is a clean failure (exit 1) like a rollback.
const WORST_FIRST: Outcome[] = ['needs-attention', 'interrupted', 'rolled-back', 'refused-by-rehearsal', 'not-started', 'skipped', 'planned', 'updated'];

/** The fleet's outcome: the worst of its instances'; `updated` for an empty fleet. */
export function fleetOutcome(instances: InstanceReport[]): Outcome {
  return worstOutcome(instances, WORST_FIRST);
}

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
  const started = startTimer(context.clock);
  for (const item of selection.notStarted) emit(item.instance, { type: 'finished', item });
  const ran = await schedule(selection.targets, bounds, async (target) => {
    const report = await runUpdate({ ...optionsFor(target), ref: target.ref }, { ...context, emit: (event) => emit(target.label, event) });
    // Named as the operator typed it, like a single run; the run itself worked on the resolved ref.
    const item = { ...report.instances[0]!, instance: target.label, member: target.member };
    emit(target.label, { type: 'finished', item });
    return item;
  }, context.interrupt);
  for (const item of ran) if (item.outcome === 'skipped') emit(item.instance, { type: 'finished', item });
  const instances = [...ran, ...selection.notStarted];
  const interruptedBy = context.interrupt.aborted ? String(context.interrupt.reason) : null;
  return frameReport(context, started.at, started.elapsed(), fleetOutcome(instances), fleetExitCode(instances, interruptedBy), instances, {
    ...command,
    interruptedBy,
  });
}
