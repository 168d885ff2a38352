import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckDefinition, CheckResult, Phase } from '../checks/check.js';
import { probe, type Clock } from '../checks/probe.js';
import { defaultChecks } from '../checks/defaults.js';
import { formatDuration } from '../config/duration.js';
import { LxdError } from '../errors.js';
import type { ExecResult, Instance, InstanceRef, Lxd } from '../lxd/lxd.js';
import { formatRef, SNAPSHOT_PREFIX } from '../lxd/names.js';
import { exitCodeFor } from '../report/exit-codes.js';
import { emptyInstanceReport, type InstanceReport, type Outcome, type Report, type UncoveredVolume } from '../report/report.js';
import type { Emit } from './events.js';
import { collectEvidence } from './evidence.js';

export interface RunOptions {
  ref: InstanceRef;
  command: string[];
  /** null: none configured, so `systemd` where the instance runs systemd. */
  checks: CheckDefinition[] | null;
  /** Update even when a required check fails at baseline. */
  force: boolean;
  /** null: `safeupdate-YYYYMMDD-HHMMSS`. */
  snapshotName: string | null;
  /** null: the snapshot never expires. */
  expiryMs: number | null;
  env: Record<string, string>;
  timeoutMs: number;
  rollback: boolean;
  dryRun: boolean;
  /** The command owns the terminal. */
  interactive: boolean;
}

export interface RunContext {
  lxd: Lxd;
  clock: Clock;
  emit: Emit;
  runId: string;
  /** Where this run keeps its log, evidence and report. */
  runDir: string;
  toolVersion: string;
  /** Aborted by SIGINT, SIGTERM or SIGHUP; `reason` is the signal's name. */
  interrupt: AbortSignal;
}

interface Failure {
  step: string;
  message: string;
}

/**
 * One update of one instance, top-down: preflight → baseline → snapshot → update → verify →
 * (evidence → rollback → verify) → report. Each decision is explicit here; the stages below are
 * small and do one thing. Returns the report; it never throws for an outcome.
 */
export async function runUpdate(options: RunOptions, context: RunContext): Promise<Report> {
  const { clock, interrupt } = context;
  const started = clock.now();
  const item = emptyInstanceReport(formatRef(options.ref), options.ref.project);
  const stage = new Stages(context, item, options.ref);
  const report: Report = {
    schema: 1,
    runId: context.runId,
    tool: { name: 'safeupdate', version: context.toolVersion },
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    outcome: 'not-started',
    exitCode: 0,
    interruptedBy: null,
    command: options.command,
    dryRun: options.dryRun,
    runDir: context.runDir,
    instances: [item],
  };
  const finish = async (outcome: Outcome, failure: Failure | null = null): Promise<Report> => {
    item.outcome = outcome;
    item.error = failure;
    report.outcome = outcome;
    report.interruptedBy = interrupt.aborted ? String(interrupt.reason) : null;
    report.exitCode = exitCodeFor(outcome, report.interruptedBy);
    item.finalStatus = await stage.currentStatus();
    report.durationMs = clock.now() - started;
    await stage.saveReport(report);
    return report;
  };

  // Preflight: read-only; anything wrong here means nothing was changed.
  const ready = await stage.preflight(options);
  if ('failure' in ready) return finish('not-started', ready.failure);
  const checks = ready.checks;

  const baseline = await stage.runChecks('baseline', checks, []);
  const baselineFailure = requiredFailure('baseline', baseline);
  if (baselineFailure && !options.force) {
    return finish('not-started', { ...baselineFailure, message: `${baselineFailure.message}; not updating an unhealthy instance (--force to update anyway)` });
  }
  if (baselineFailure) stage.warn(`${baselineFailure.message}; updating anyway (--force)`);
  if (options.dryRun) {
    item.plan = stage.describePlan(options, checks);
    return finish('planned');
  }
  if (interrupt.aborted) return finish('interrupted', { step: 'baseline', message: 'interrupted before anything changed' });

  const snapshot = await stage.takeSnapshot(options);
  if ('failure' in snapshot) return finish('not-started', snapshot.failure);

  // From here on the instance may have changed: every failure ends in a rollback or a report that says so.
  let failure = describeUpdateFailure(await stage.runUpdateCommand(options), options, interrupt);
  if (!failure) {
    const afterUpdate = await stage.runChecks('after-update', checks, failedUnitsOf(baseline));
    failure = interrupt.aborted ? interruptedFailure('after-update', interrupt) : requiredFailure('after-update', afterUpdate);
  }
  if (!failure) return finish('updated');

  if (!options.rollback) {
    return finish('needs-attention', { ...failure, message: `${failure.message}; left as it is (--no-rollback), snapshot ${snapshot.name} kept` });
  }
  await stage.saveEvidence(checks);
  const restored = await stage.rollBack(snapshot.name);
  if (!restored.ok) return finish('needs-attention', restored.failure);

  // What passed at baseline must pass again; with --force that is all the proof there can be.
  const expected = checks.filter((check) => baseline.some((result) => result.name === check.name && result.ok));
  const afterRollback = await stage.runChecks('after-rollback', expected, failedUnitsOf(baseline));
  const stillBroken = requiredFailure('after-rollback', afterRollback);
  if (stillBroken) {
    return finish('needs-attention', { step: 'after-rollback', message: `rolled back to ${snapshot.name} but still unhealthy: ${stillBroken.message}` });
  }
  return finish(interrupt.aborted ? 'interrupted' : 'rolled-back', failure);
}

function requiredFailure(phase: Phase, results: CheckResult[]): Failure | null {
  const failed = results.filter((result) => result.required && !result.ok);
  if (failed.length === 0) return null;
  return { step: phase, message: `check${failed.length > 1 ? 's' : ''} failed: ${failed.map((r) => `${r.name} (${r.message})`).join('; ')}` };
}

function interruptedFailure(step: string, interrupt: AbortSignal): Failure {
  return { step, message: `interrupted by ${String(interrupt.reason)}` };
}

function describeUpdateFailure(result: ExecResult | Failure, options: RunOptions, interrupt: AbortSignal): Failure | null {
  if ('step' in result) return result;
  if (result.canceled || interrupt.aborted) return interruptedFailure('update', interrupt);
  if (result.timedOut) return { step: 'update', message: `the update command did not finish within ${formatDuration(options.timeoutMs)} (--timeout)` };
  if (result.exitCode !== 0) return { step: 'update', message: `the update command exited ${result.exitCode ?? `on ${result.signal}`}` };
  return null;
}

function failedUnitsOf(results: CheckResult[]): string[] {
  return results.flatMap((result) => result.failedUnits ?? []);
}

/** The stages of a run: each records its step in the report and tells the views. */
class Stages {
  private readonly instanceDir: string;

  constructor(
    private readonly context: RunContext,
    private readonly item: InstanceReport,
    private readonly ref: InstanceRef,
  ) {
    // One folder per instance, so that a fleet run keeps each instance's log and evidence apart.
    this.instanceDir = join(context.runDir, item.instance.replace(':', '_'));
  }

  warn(message: string): void {
    this.item.warnings.push(message);
    this.context.emit({ type: 'warning', message });
  }

  async preflight(options: RunOptions): Promise<{ checks: CheckDefinition[] } | { failure: Failure }> {
    const { lxd } = this.context;
    const ref = this.ref;
    const outcome = await this.step('preflight', `Preflight ${this.item.instance}`, async () => {
      await lxd.checkReachable(ref.remote);
      const instance = await lxd.getInstance(ref);
      const refusal = refuseInstance(instance, this.item.instance);
      if (refusal) throw new Refusal(refusal);
      this.item.uncoveredVolumes = uncoveredVolumes(instance!);
      for (const volume of this.item.uncoveredVolumes) {
        this.warn(`${volume.path} (device ${volume.device}, ${volume.pool ? `volume ${volume.pool}/${volume.source}` : `host path ${volume.source}`}) is not in the snapshot: not covered by rollback`);
      }
      const found = options.checks ? { checks: options.checks, warning: null } : await defaultChecks(lxd, ref);
      if (found.warning) this.warn(`${found.warning}: only the update command's exit code decides`);
      return { checks: found.checks, message: `${instance!.status} ${instance!.type}` };
    });
    if (!outcome.ok) return { failure: { step: 'preflight', message: outcome.message } };
    return { checks: outcome.value.checks };
  }

  async runChecks(phase: Phase, checks: CheckDefinition[], baselineFailedUnits: string[]): Promise<CheckResult[]> {
    const { lxd, clock, emit, interrupt } = this.context;
    if (checks.length === 0) return [];
    const results: CheckResult[] = [];
    // After a rollback the run must finish proving its state: a second interrupt does not cut it short.
    const signal = phase === 'after-rollback' ? undefined : interrupt;
    await this.step(phase, `Checks (${phase})`, async () => {
      for (const check of checks) {
        const result = await probe(check, { lxd, ref: this.ref, phase, baselineFailedUnits, ...(signal ? { signal } : {}) }, clock);
        results.push(result);
        this.item.checks.push(result);
        emit({ type: 'check', result });
        if (!result.ok && !result.required) this.warn(`check ${result.name} failed (${phase}, not required): ${result.message}`);
      }
      const failed = results.filter((r) => !r.ok && r.required).length;
      if (failed > 0) throw new Refusal(`${failed} of ${results.length} required check(s) failed`);
      return { message: `${results.length} check(s) passed` };
    });
    return results;
  }

  async takeSnapshot(options: RunOptions): Promise<{ name: string } | { failure: Failure }> {
    const { lxd, clock } = this.context;
    const outcome = await this.step('snapshot', 'Snapshot', async () => {
      const existing = new Set((await lxd.listSnapshots(this.ref)).map((s) => s.name));
      const name = chooseSnapshotName(options.snapshotName, existing, new Date(clock.now()));
      if (name === null) throw new Refusal(`snapshot ${options.snapshotName} already exists on ${this.item.instance}; safeupdate never replaces a snapshot`);
      // Whole seconds: the expiry is read by people and compared by scripts.
      const expiresAt = options.expiryMs === null ? null : new Date(Math.floor((clock.now() + options.expiryMs) / 1000) * 1000);
      await lxd.createSnapshot(this.ref, name, expiresAt);
      this.item.snapshot = { name, expiresAt: expiresAt?.toISOString() ?? null };
      return { name, message: `${name}, ${expiresAt ? `expires ${expiresAt.toISOString()}` : 'never expires'}` };
    });
    if (!outcome.ok) return { failure: { step: 'snapshot', message: `snapshot failed: ${outcome.message}` } };
    return { name: outcome.value.name };
  }

  async runUpdateCommand(options: RunOptions): Promise<ExecResult | Failure> {
    const { lxd, emit, interrupt } = this.context;
    await mkdir(this.instanceDir, { recursive: true });
    const logFile = join(this.instanceDir, 'update.log');
    this.item.update.logFile = logFile;
    const log = createWriteStream(logFile);
    log.write(`$ ${options.command.join(' ')}\n`);
    if (options.interactive) log.write('(interactive: the output went to the terminal and is not kept here)\n');
    const env = options.interactive ? options.env : { DEBIAN_FRONTEND: 'noninteractive', ...options.env };
    let result: ExecResult | undefined;
    const outcome = await this.step('update', `Update: ${options.command.join(' ')}`, async () => {
      if (options.interactive) emit({ type: 'update-owns-terminal', owns: true });
      try {
        result = await lxd.exec(this.ref, options.command, {
          env,
          interactive: options.interactive,
          timeoutMs: options.timeoutMs,
          signal: interrupt,
          onOutput: (chunk) => {
            log.write(chunk);
            emit({ type: 'output', chunk });
          },
        });
      } finally {
        if (options.interactive) emit({ type: 'update-owns-terminal', owns: false });
      }
      Object.assign(this.item.update, { exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut });
      const message = result.timedOut ? 'timed out' : result.canceled ? 'interrupted' : `exit ${result.exitCode ?? result.signal}`;
      if (result.exitCode !== 0) throw new Refusal(message);
      return { message };
    });
    this.item.update.durationMs = this.item.steps.at(-1)?.durationMs ?? null;
    await new Promise<void>((resolve) => log.end(resolve));
    if (!result) return { step: 'update', message: `could not run the update command: ${outcome.ok ? '' : outcome.message}` };
    return result;
  }

  async saveEvidence(checks: CheckDefinition[]): Promise<void> {
    const dir = join(this.instanceDir, 'evidence');
    const units = checks.flatMap((check) => (check.spec.kind === 'unit' ? [check.spec.unit] : []));
    const outcome = await this.step('evidence', 'Collect evidence', async () => {
      this.item.evidenceDir = dir;
      return { message: await collectEvidence(this.context.lxd, this.ref, dir, units) };
    });
    if (!outcome.ok) this.warn(`evidence: ${outcome.message}`);
  }

  /** Stop, restore, start: the state is being discarded, so a forced stop is the fastest correct way. */
  async rollBack(snapshot: string): Promise<{ ok: true } | { ok: false; failure: Failure }> {
    const { lxd } = this.context;
    this.item.rollback.performed = true;
    const steps: Array<[string, string, () => Promise<void>]> = [
      ['stop', `Stop ${this.item.instance}`, async () => {
        const instance = await lxd.getInstance(this.ref);
        if (instance && instance.status !== 'Stopped') await lxd.stopInstance(this.ref, { force: true });
      }],
      ['restore', `Restore ${snapshot}`, () => lxd.restoreSnapshot(this.ref, snapshot)],
      ['start', `Start ${this.item.instance}`, () => lxd.startInstance(this.ref)],
    ];
    for (const [action, title, run] of steps) {
      const outcome = await this.step(action, title, async () => {
        await run();
        return { message: 'done' };
      });
      this.item.rollback.steps.push(this.item.steps.at(-1)!);
      if (!outcome.ok) {
        return { ok: false, failure: { step: action, message: `rollback failed at ${action}: ${outcome.message}. ${this.manualFix(action, snapshot)}` } };
      }
    }
    return { ok: true };
  }

  describePlan(options: RunOptions, checks: CheckDefinition[]): string[] {
    const expiry = options.expiryMs === null ? 'never expires' : `expires in ${formatDuration(options.expiryMs)}`;
    return [
      `snapshot ${this.item.instance} as ${options.snapshotName ?? `${SNAPSHOT_PREFIX}<UTC timestamp>`} (${expiry})`,
      `run ${JSON.stringify(options.command)} inside it (timeout ${formatDuration(options.timeoutMs)}${options.interactive ? ', interactive' : ''})`,
      checks.length ? `check ${checks.map((c) => c.name).join(', ')}` : 'no health checks: only the exit code decides',
      options.rollback ? 'on failure: collect evidence, stop, restore the snapshot, start, check again' : 'on failure: leave it as it is (--no-rollback)',
      ...this.item.uncoveredVolumes.map((v) => `not covered by rollback: ${v.path} (device ${v.device})`),
    ];
  }

  async currentStatus(): Promise<string | null> {
    try {
      return (await this.context.lxd.getInstance(this.ref))?.status ?? 'missing';
    } catch {
      return null;
    }
  }

  async saveReport(report: Report): Promise<void> {
    try {
      await mkdir(this.context.runDir, { recursive: true });
      await writeFile(join(this.context.runDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    } catch (error) {
      this.warn(`could not save the report in ${this.context.runDir}: ${(error as Error).message}`);
    }
  }

  private manualFix(action: string, snapshot: string): string {
    const target = this.item.instance;
    const project = this.item.project ? ` --project ${this.item.project}` : '';
    const commands = {
      stop: [`lxc stop --force ${target}${project}`, `lxc restore ${target} ${snapshot}${project}`, `lxc start ${target}${project}`],
      restore: [`lxc restore ${target} ${snapshot}${project}`, `lxc start ${target}${project}`],
      start: [`lxc start ${target}${project}`, `lxc info --show-log ${target}${project}`],
    }[action] ?? [];
    return `The snapshot ${snapshot} is kept. To finish by hand: ${commands.join(' && ')}`;
  }

  private async step<T extends { message: string }>(
    action: string,
    title: string,
    run: () => Promise<T>,
  ): Promise<{ ok: true; value: T; message: string } | { ok: false; message: string }> {
    const { clock, emit } = this.context;
    emit({ type: 'step-start', action, title });
    const started = clock.now();
    let outcome: { ok: true; value: T; message: string } | { ok: false; message: string };
    try {
      const value = await run();
      outcome = { ok: true, value, message: value.message };
    } catch (error) {
      outcome = { ok: false, message: describeError(error) };
    }
    const step = { action, ok: outcome.ok, durationMs: clock.now() - started, message: outcome.message };
    this.item.steps.push(step);
    emit({ type: 'step-end', step });
    return outcome;
  }
}

/** A decision not to go on, as opposed to something that broke. */
class Refusal extends Error {}

function describeError(error: unknown): string {
  if (error instanceof Refusal || error instanceof LxdError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function refuseInstance(instance: Instance | null, name: string): string | null {
  if (!instance) return `instance ${name} does not exist`;
  if (instance.ephemeral) return `instance ${name} is ephemeral: LXD deletes it when it stops, so it cannot be rolled back`;
  if (instance.status !== 'Running') return `instance ${name} is ${instance.status.toLowerCase()}, not running; start it first (lxc start ${name})`;
  return null;
}

function uncoveredVolumes(instance: Instance): UncoveredVolume[] {
  return Object.entries(instance.devices)
    .filter(([, device]) => device.type === 'disk' && device.path !== '/' && device.source)
    .map(([device, config]) => ({ device, path: config.path ?? '', source: config.source!, pool: config.pool ?? null }));
}

export function chooseSnapshotName(requested: string | null, existing: Set<string>, now: Date): string | null {
  if (requested !== null) return existing.has(requested) ? null : requested;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = `${SNAPSHOT_PREFIX}${stamp}`;
  if (!existing.has(base)) return base;
  for (let suffix = 2; ; suffix += 1) if (!existing.has(`${base}-${suffix}`)) return `${base}-${suffix}`;
}
