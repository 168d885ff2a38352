import { join } from 'node:path';
import { LxdError, markInstanceMayHaveChanged } from '../../errors.js';
import type { InstanceRef } from '../../lxd/lxd.js';
import type { InstanceReport } from '../../report/report.js';
import type { InstanceRecordFile } from '../../state/instance-record.js';
import type { ServerLease } from '../../state/server-lease.js';
import type { Emit, RunEvent } from '../events.js';
import type { RunContext } from '../types.js';

/** What the steps of one run on one instance share: each records its step in the report and tells the views. */
export interface RunScope {
  readonly context: RunContext;
  readonly item: InstanceReport;
  /** As given; once locked, with the remote and project the client uses filled in. */
  ref: InstanceRef;
  readonly instanceDir: string;
  record: InstanceRecordFile | null;
  /** The lock between hosts, on the instance's server; the record above is this host's. */
  lease: ServerLease | null;
  /** From the first step that may change the instance on: an unexpected error then needs a human. */
  changing: boolean;
  keepRecord: boolean;
  /** Reads started ahead of their turn or beside the run's steps, until they are settled (concurrent.ts). */
  running: Array<Promise<unknown>>;
  /** While a read runs beside the run (concurrent.ts), the events of the run's own steps wait here; null otherwise. */
  held: RunEvent[] | null;
  /** The views, told at once: `context.emit` holds the run's events while a read runs beside it. */
  readonly tell: Emit;
}

export function runScope(context: RunContext, item: InstanceReport, ref: InstanceRef): RunScope {
  const scope: RunScope = {
    context: { ...context, emit: (event) => (scope.held ? scope.held.push(event) : context.emit(event)) },
    tell: context.emit,
    item,
    ref,
    // One folder per instance, so that a fleet run keeps each instance's log and evidence apart.
    instanceDir: join(context.runDir, item.instance.replace(':', '_')),
    record: null,
    lease: null,
    changing: false,
    keepRecord: false,
    running: [],
    held: null,
  };
  return scope;
}

export function beginChanging(scope: RunScope): void {
  scope.changing = true;
  markInstanceMayHaveChanged();
}

export function warn(scope: RunScope, message: string): void {
  scope.item.warnings.push(message);
  scope.context.emit({ type: 'warning', message });
}

/** Announces steps that belong together, so that views can show them as one group. */
export function beginGroup(scope: RunScope, title: string, actions: string[]): void {
  scope.context.emit({ type: 'group-start', title, actions });
}

export function endGroup(scope: RunScope): void {
  scope.context.emit({ type: 'group-end' });
}

export async function step<T extends { message: string }>(
  scope: RunScope,
  action: string,
  title: string,
  run: () => Promise<T>,
): Promise<{ ok: true; value: T; message: string } | { ok: false; message: string }> {
  const { clock, emit } = scope.context;
  emit({ type: 'step-start', action, title });
  const started = clock.monotonic();
  let outcome: { ok: true; value: T; message: string } | { ok: false; message: string };
  try {
    const value = await run();
    outcome = { ok: true, value, message: value.message };
  } catch (error) {
    outcome = { ok: false, message: describeError(error) };
  }
  const step = { action, ok: outcome.ok, durationMs: clock.monotonic() - started, message: outcome.message };
  scope.item.steps.push(step);
  emit({ type: 'step-end', step });
  return outcome;
}

/** A decision not to go on, as opposed to something that broke. */
export class Refusal extends Error {}

export function describeError(error: unknown): string {
  if (error instanceof Refusal || error instanceof LxdError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
