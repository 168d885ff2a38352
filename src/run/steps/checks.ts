import { defaultChecks } from '../../checks/defaults.js';
import { describeFailedChecks, type CheckDefinition, type CheckResult, type Phase } from '../../checks/check.js';
import { probe } from '../../checks/probe.js';
import { formatDuration } from '../../config/duration.js';
import { soak as watch } from '../soak.js';
import type { Failure } from '../types.js';
import { Refusal, step, warn, type RunScope } from './scope.js';

/** The configured checks, else the defaults for this instance. */
export async function checksFor(scope: RunScope, configured: CheckDefinition[] | null): Promise<CheckDefinition[]> {
  if (configured) return configured;
  const found = await defaultChecks(scope.context.lxd, scope.ref);
  if (found.warning) warn(scope, `${found.warning}: only the update command's exit code decides`);
  return found.checks;
}

export async function runChecks(scope: RunScope, phase: Phase, checks: CheckDefinition[], baselineFailedUnits: string[]): Promise<CheckResult[]> {
  const { lxd, clock, emit, interrupt } = scope.context;
  if (checks.length === 0) return [];
  const results: CheckResult[] = [];
  // After a rollback the run must finish proving its state: a second interrupt does not cut it short.
  const signal = phase === 'after-rollback' ? undefined : interrupt;
  await step(scope, phase, `Checks (${phase})`, async () => {
    for (const check of checks) {
      const result = await probe(check, { lxd, ref: scope.ref, phase, baselineFailedUnits, ...(signal ? { signal } : {}) }, clock);
      results.push(result);
      scope.item.checks.push(result);
      emit({ type: 'check', result });
      if (!result.ok && !result.required) warn(scope, `check ${result.name} failed (${phase}, not required): ${result.message}`);
    }
    const failed = results.filter((r) => !r.ok && r.required).length;
    if (failed > 0) throw new Refusal(`${failed} of ${results.length} required check(s) failed`);
    return { message: `${results.length} check(s) passed` };
  });
  return results;
}

/**
 * The watch after a healthy update (soak.ts). Returns why it failed, or null; an interrupt ends it
 * early, and the caller decides what that means.
 */
export async function soak(scope: RunScope, checks: CheckDefinition[], durationMs: number, baselineFailedUnits: string[]): Promise<Failure | null> {
  const { lxd, clock, emit, interrupt } = scope.context;
  if (checks.length === 0) warn(scope, '--soak with no health checks: nothing to watch; only the time passes');
  let failure: string | null = null;
  const outcome = await step(scope, 'soak', `Soak for ${formatDuration(durationMs)}`, async () => {
    const watched = await watch(checks, durationMs, {
      lxd, ref: scope.ref, clock, baselineFailedUnits, signal: interrupt,
      progress: (message) => emit({ type: 'progress', message }),
    });
    scope.item.soak = { requestedMs: durationMs, elapsedMs: watched.elapsedMs, samples: watched.samples, ok: watched.failure === null && !interrupt.aborted };
    for (const result of watched.results) {
      scope.item.checks.push(result);
      emit({ type: 'check', result });
      if (!result.ok && !result.required) warn(scope, `check ${result.name} failed (soak, not required): ${result.message}`);
    }
    failure = watched.failure;
    if (failure !== null) throw new Refusal(`not healthy for ${formatDuration(durationMs)}: ${failure}`);
    if (interrupt.aborted) throw new Refusal(`interrupted after ${formatDuration(watched.elapsedMs)}`);
    return { message: `healthy for ${formatDuration(watched.elapsedMs)}, ${watched.samples} samples` };
  });
  // A soak that broke (not one that found a problem, nor an interrupt) proved nothing: not healthy either.
  if (failure === null && !outcome.ok && !interrupt.aborted) return { step: 'soak', message: `the soak could not watch: ${outcome.message}` };
  return failure === null ? null : { step: 'soak', message: failure };
}

export function requiredFailure(phase: Phase, results: CheckResult[]): Failure | null {
  const message = describeFailedChecks(results);
  return message === null ? null : { step: phase, message };
}

export function failedUnitsOf(results: CheckResult[]): string[] {
  return results.flatMap((result) => result.failedUnits ?? []);
}
