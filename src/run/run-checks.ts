import { describeFailedChecks, type CheckDefinition } from '../checks/check.js';
import { defaultChecks } from '../checks/defaults.js';
import { probe, startTimer, type Clock } from '../checks/probe.js';
import { LxdError } from '../errors.js';
import type { InstanceRef, Lxd } from '../lxd/lxd.js';
import { formatRef } from '../lxd/names.js';
import { fleetExitCode } from '../report/exit-codes.js';
import { emptyInstanceReport, frameReport, worstOutcome, type InstanceReport, type Outcome, type Report } from '../report/report.js';
import type { Emit } from './events.js';

export interface CheckTarget {
  ref: InstanceRef;
  /** null: none configured, so the default checks. */
  checks: CheckDefinition[] | null;
}

export interface CheckRunContext {
  lxd: Lxd;
  clock: Clock;
  emit: Emit;
  runId: string;
  runDir: string;
  toolVersion: string;
  /** Aborted by SIGINT, SIGTERM or SIGHUP: the checks stop, and the signal's exit code follows. */
  interrupt: AbortSignal;
}

// Worst first: the report's outcome is the worst of its instances'.
// The order of the one exit rule (fleetExitCode): a failed check outranks one that could not run.
const SEVERITY: Outcome[] = ['interrupted', 'unhealthy', 'not-started', 'healthy'];

/**
 * `safeupdate check`: the checks alone, phase `check`, on each instance in turn (`notStarted`: those
 * the selection could not take). Changes nothing.
 * healthy → 0, could not check (missing, stopped, LXD down) → 3, a required check failed → 1 (outranks 3).
 */
export async function runChecksOnly(targets: CheckTarget[], context: CheckRunContext, notStarted: InstanceReport[] = []): Promise<Report> {
  const started = startTimer(context.clock);
  const instances: InstanceReport[] = [];
  for (const target of targets) instances.push(await checkInstance(target, context));
  // Chosen but not checkable (missing, stopped): reported, as a run reports those it could not start.
  instances.push(...notStarted);
  const outcome = worstOutcome(instances, SEVERITY);
  const interruptedBy = context.interrupt.aborted ? String(context.interrupt.reason) : null;
  return frameReport(context, started.at, started.elapsed(), outcome, fleetExitCode(instances, interruptedBy), instances, { interruptedBy });
}

async function checkInstance({ ref, checks }: CheckTarget, { lxd, clock, emit, interrupt }: CheckRunContext): Promise<InstanceReport> {
  const item = emptyInstanceReport(formatRef(ref), ref.project);
  if (interrupt.aborted) {
    item.outcome = 'interrupted';
    item.error = { step: 'check', message: `not checked: interrupted by ${String(interrupt.reason)}` };
    return item;
  }
  const started = clock.monotonic();
  emit({ type: 'step-start', action: 'check', title: `Check ${item.instance}` });
  try {
    await lxd.checkReachable(ref.remote);
    const instance = await lxd.getInstance(ref);
    item.finalStatus = instance?.status ?? 'missing';
    if (!instance) throw new CannotCheck(`instance ${item.instance} does not exist`);
    if (instance.status !== 'Running') throw new CannotCheck(`instance ${item.instance} is ${instance.status.toLowerCase()}, not running`);
    const found = checks ? { checks, warning: null } : await defaultChecks(lxd, ref);
    if (found.warning) item.warnings.push(`${found.warning}: nothing to check`);
    for (const check of found.checks) {
      const result = await probe(check, { lxd, ref, phase: 'check', baselineFailedUnits: [], signal: interrupt }, clock);
      item.checks.push(result);
      emit({ type: 'check', result });
    }
    const failed = describeFailedChecks(item.checks);
    item.outcome = interrupt.aborted ? 'interrupted' : failed ? 'unhealthy' : 'healthy';
    if (interrupt.aborted) item.error = { step: 'check', message: `interrupted by ${String(interrupt.reason)}` };
    else if (failed) item.error = { step: 'check', message: failed };
  } catch (error) {
    if (!(error instanceof CannotCheck || error instanceof LxdError)) throw error;
    item.outcome = 'not-started';
    item.error = { step: 'preflight', message: error.message };
  }
  const step = { action: 'check', ok: item.outcome === 'healthy', durationMs: clock.monotonic() - started, message: item.error?.message ?? `${item.checks.length} check(s) passed` };
  item.steps.push(step);
  emit({ type: 'step-end', step });
  return item;
}

class CannotCheck extends Error {}
