import { startTimer } from '../checks/probe.js';
import { LxdError } from '../errors.js';
import { requireFeatures } from '../lxd/extensions.js';
import type { InstanceRef } from '../lxd/lxd.js';
import { formatRef } from '../lxd/names.js';
import { fleetExitCode } from '../report/exit-codes.js';
import { emptyInstanceReport, frameReport, worstOutcome, type InstanceReport, type Outcome, type Report } from '../report/report.js';
import { copyToServer } from './steps/follow-ups.js';
import { runScope } from './steps/scope.js';
import type { RunContext } from './types.js';

// The order of the one exit rule (fleetExitCode): a failed copy outranks an instance that could not start.
const WORST_FIRST: Outcome[] = ['interrupted', 'sync-failed', 'not-started', 'synced'];

/**
 * `safeupdate sync`: refreshes each instance with its snapshots to a snapshot server, reporting
 * what was sent and how long it took. 0 all copied, 1 a copy failed, 3 could not start (an
 * instance missing, the source or the server unreachable).
 */
export async function syncInstances(refs: InstanceRef[], remote: string, context: RunContext, notStarted: InstanceReport[] = []): Promise<Report> {
  const { lxd, clock } = context;
  const started = startTimer(clock);
  const instances: InstanceReport[] = [];
  let serverProblem: string | null = null;
  try {
    requireFeatures(await lxd.checkReachable(remote), ['refreshCopy'], `the snapshot server ${remote}:`);
  } catch (error) {
    if (!(error instanceof LxdError)) throw error;
    serverProblem = error.kind === 'unsupported' ? error.message : `the snapshot server ${remote}: is not reachable: ${error.message}`;
  }
  for (const ref of refs) {
    const item = emptyInstanceReport(formatRef(ref), ref.project);
    instances.push(item);
    const scope = runScope(context, item, ref);
    // A copy under way is finished (LXD would go on with it anyway); the next one is not begun.
    if (context.interrupt.aborted) {
      item.outcome = 'interrupted';
      item.error = { step: 'copy', message: `not copied: interrupted by ${String(context.interrupt.reason)}` };
      continue;
    }
    const missing = serverProblem ?? (await describeMissing(context, ref));
    if (missing) {
      item.error = { step: 'preflight', message: missing };
      continue;
    }
    item.outcome = (await copyToServer(scope, remote)) ? 'synced' : 'sync-failed';
    if (item.outcome === 'sync-failed') item.error = { step: 'copy', message: item.copy!.message };
  }
  // Chosen but not found by the selection: reported, never copied.
  instances.push(...notStarted);
  const outcome = worstOutcome(instances, WORST_FIRST);
  const interruptedBy = context.interrupt.aborted ? String(context.interrupt.reason) : null;
  return frameReport(context, started.at, started.elapsed(), outcome, fleetExitCode(instances, interruptedBy), instances, { command: ['sync', `${remote}:`], interruptedBy });
}

async function describeMissing({ lxd }: RunContext, ref: InstanceRef): Promise<string | null> {
  try {
    await lxd.checkReachable(ref.remote);
    return (await lxd.getInstance(ref)) ? null : `instance ${formatRef(ref)} does not exist`;
  } catch (error) {
    if (error instanceof LxdError) return error.message;
    throw error;
  }
}
