// A hook run on the host: the broker keeps it as a run report beside the host's own runs, so that
// `history`, `show` and `rollback` (with its baseline) know it. What the hook said (the command,
// the user, the units failed before, the checks' results) is the instance's word and is marked so.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckResult } from '../../checks/check.js';
import { exitCodeFor } from '../../report/exit-codes.js';
import { emptyInstanceReport, frameReport, type InstanceReport, type Report } from '../../report/report.js';
import { newRunId, saveReport } from '../../state/run-history.js';
import type { RunMemory } from './memory.js';
import type { CheckLine, ResultRequest, SnapshotRequest } from './protocol.js';
import type { Registration } from './registration.js';

/** The report's command: what apt ran inside, marked as the hook's. */
export const HOOK_COMMAND_MARK = '[apt hook]';
const WORD_OF_THE_INSTANCE = 'recorded by the apt hook inside the instance: its command, user, baseline and check results are what the instance said';
const AWAITING_RESULT = 'no result from the hook after dpkg yet (dpkg may still run, or the apt run died)';

interface ReportDeps {
  stateDir: string;
  registration: Registration;
  now: () => Date;
}

/** What to type on the host to go back to a hook snapshot. */
export function hookRollbackCommand(registration: Registration, snapshot: string): string {
  return `safeupdate rollback ${registration.hostInstance} ${snapshot}${registration.hostOptions ? ` ${registration.hostOptions}` : ''}`;
}

function frame(deps: ReportDeps, runId: string, startedAt: Date, command: string, item: InstanceReport): Report {
  const runDir = join(deps.stateDir, 'runs', runId);
  const exitCode = exitCodeFor(item.outcome, null);
  const report = frameReport({ runId, toolVersion: deps.registration.version, runDir }, startedAt.getTime(), item.durationMs ?? 0, item.outcome, exitCode, [item], {
    command: [HOOK_COMMAND_MARK, command],
  });
  return { ...report, client: deps.registration.client };
}

/** The report of an apt run whose snapshot was just taken: it waits for the post-check's result. */
export async function recordHookSnapshot(
  deps: ReportDeps,
  request: SnapshotRequest,
  snapshot: { name: string; expiresAt: Date | null; startedAt: Date; seconds: number },
): Promise<string> {
  const { registration } = deps;
  const runId = newRunId(`${registration.instance}-hook`, snapshot.startedAt);
  const item = emptyInstanceReport(registration.hostInstance, registration.project);
  item.startedAt = snapshot.startedAt.toISOString();
  item.durationMs = Math.round(snapshot.seconds * 1000);
  item.snapshot = { name: snapshot.name, expiresAt: snapshot.expiresAt?.toISOString() ?? null };
  item.steps.push({ action: 'snapshot', ok: true, durationMs: item.durationMs, message: `taken for the apt run of ${request.user}` });
  item.checks.push(baselineCheck(request.failedUnits));
  item.outcome = 'needs-attention';
  item.error = { step: 'post-check', message: AWAITING_RESULT };
  item.warnings.push(WORD_OF_THE_INSTANCE);
  await saveReport(frame(deps, runId, snapshot.startedAt, request.command, item));
  return runId;
}

/**
 * The post-check's result, laid into the run's report: updated when every required check passed,
 * needs attention (with the host's rollback command) when one failed. A run without a report (no
 * snapshot was asked for: the one-time bypass) gets one.
 */
export async function recordHookResult(deps: ReportDeps, request: ResultRequest, run: RunMemory | null): Promise<string> {
  const now = deps.now();
  const existing = run ? await readHookReport(deps.stateDir, run.reportId) : null;
  const runId = existing?.runId ?? run?.reportId ?? newRunId(`${deps.registration.instance}-hook`, now);
  const item = existing?.instances[0] ?? emptyInstanceReport(deps.registration.hostInstance, deps.registration.project);
  if (!existing) {
    item.startedAt = now.toISOString();
    item.warnings.push(WORD_OF_THE_INSTANCE, 'no snapshot was taken by the hook before this apt run');
  }
  const startedAt = item.startedAt ? new Date(item.startedAt) : now;
  // A run of unattended-upgrades calls dpkg several times: the newest result stands for the run.
  item.checks = [...item.checks.filter((check) => check.phase === 'baseline'), ...request.checks.map(afterUpdateCheck)];
  const failed = request.checks.filter((check) => check.status === 'failed');
  item.outcome = failed.length ? 'needs-attention' : 'updated';
  item.error = failed.length
    ? { step: 'checks', message: `checks failed after the apt run: ${failed.map((check) => `${check.name} (${check.message})`).join('; ')}${item.snapshot.name ? `; on the host: ${hookRollbackCommand(deps.registration, item.snapshot.name)}` : ''}` }
    : null;
  item.durationMs = Math.max(0, now.getTime() - startedAt.getTime());
  await saveReport(frame(deps, runId, startedAt, existing?.command[1] ?? '(unknown: no snapshot request)', item));
  return runId;
}

async function readHookReport(stateDir: string, runId: string): Promise<Report | null> {
  try {
    const report = JSON.parse(await readFile(join(stateDir, 'runs', runId, 'report.json'), 'utf8')) as Report;
    return report.instances.length === 1 ? report : null;
  } catch {
    return null;
  }
}

function baselineCheck(failedUnits: string[]): CheckResult {
  return {
    name: 'systemd', phase: 'baseline', ok: true, required: false, attempts: 1, durationMs: 0,
    message: failedUnits.length ? `failed before dpkg ran (said the hook): ${failedUnits.join(', ')}` : 'no failed units before dpkg ran (said the hook)',
    failedUnits,
  };
}

function afterUpdateCheck(check: CheckLine): CheckResult {
  return { name: check.name, phase: 'after-update', ok: check.status === 'ok', required: check.status !== 'warning', attempts: 1, durationMs: 0, message: check.message };
}
