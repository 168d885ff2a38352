import type { InstanceReport } from '../report/report.js';

/** The steps that change the instance or its snapshots: what a run that lost its lease must account for. */
const CHANGES = new Set(['snapshot', 'update', 'stop', 'keep-failed', 'restore', 'start', 'forget-snapshot', 'keep', 'copy']);

/**
 * Why a run that lost its server lease stopped, for the human who takes over: who holds the lease
 * now (another host's `recover`, usually) and every change this run had made, so that nobody has
 * to guess which of the two runs did what to the instance.
 */
export function describeLeaseLoss(reason: string, holderNow: string, item: InstanceReport, recover: string): string {
  const done = item.steps.filter((step) => CHANGES.has(step.action)).map((step) => `${step.action} (${step.message})`);
  return (
    `${reason}; ${holderNow}. This run started no change after that; it had done: ${done.join(', ') || 'nothing to the instance'}. ` +
    `Leave ${item.instance} to the holder of the lease; once it is done, check ${item.instance}, then clear this host's record: ${recover} --forget`
  );
}
