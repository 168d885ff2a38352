import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstanceReport, Report } from '../report/report.js';
import type { BaselineRecord } from './instance-record.js';

/** A run's id: when it began (UTC, to the second), what it ran on, and a few random hex digits. */
export function newRunId(label: string, at: Date = new Date()): string {
  return `${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${label}-${randomBytes(2).toString('hex')}`;
}

/** Every run keeps its report in `<state>/runs/<run id>/report.json`, beside its logs and evidence. */
export async function saveReport(report: Report): Promise<string> {
  await mkdir(report.runDir, { recursive: true });
  const file = join(report.runDir, 'report.json');
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** Which runs to keep: those that touched this instance (as named in the report), in this project. */
export interface ReportFilter {
  instance?: string;
  /** A run that named no project ran in the client's current one, `default` unless changed. */
  project?: string;
}

/** Past runs, oldest first, that match the filter. Unreadable reports are skipped. */
export async function listReports(stateDir: string, filter: ReportFilter = {}): Promise<Report[]> {
  let ids: string[];
  try {
    ids = await readdir(join(stateDir, 'runs'));
  } catch {
    return [];
  }
  const reports = await Promise.all(ids.map((id) => readReport(join(stateDir, 'runs', id, 'report.json'))));
  return reports
    .filter((report): report is Report => report !== null)
    // No filter keeps every run, also one that touched no instance (a fleet that selected none).
    .filter((report) => (filter.instance === undefined && filter.project === undefined) || report.instances.some((item) => matches(item, filter)))
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** A run by its id, or by an unambiguous beginning of it. */
export async function findReport(stateDir: string, id: string): Promise<Report | 'ambiguous' | null> {
  const matches = (await listReports(stateDir)).filter((report) => report.runId === id || report.runId.startsWith(id));
  const exact = matches.find((report) => report.runId === id);
  if (exact) return exact;
  if (matches.length > 1) return 'ambiguous';
  return matches[0] ?? null;
}

async function readReport(file: string): Promise<Report | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Report;
  } catch {
    return null;
  }
}

/**
 * What the baseline checks found in the run that took `snapshot` on `instance`: the reference for
 * judging a later restore of it. null when no saved run took it (a snapshot made by hand). `judged`:
 * the checks the baseline ran at all (an apt hook's run judges only systemd before dpkg): a check
 * it never ran is expected to pass after the restore.
 */
export async function findBaseline(stateDir: string, instance: string, snapshot: string): Promise<(BaselineRecord & { judged: string[] }) | null> {
  const item = (await listReports(stateDir))
    .flatMap((report) => report.instances)
    .find((candidate) => candidate.instance === instance && candidate.snapshot.name === snapshot);
  if (!item) return null;
  const baseline = item.checks.filter((check) => check.phase === 'baseline');
  return {
    failedUnits: baseline.flatMap((check) => check.failedUnits ?? []),
    passedChecks: baseline.filter((check) => check.ok).map((check) => check.name),
    judged: baseline.map((check) => check.name),
  };
}

function matches(item: InstanceReport, { instance, project }: ReportFilter): boolean {
  if (instance !== undefined && item.instance !== instance) return false;
  return project === undefined || (item.project ?? 'default') === project;
}
