import type { CheckResult } from '../checks/check.js';
import { formatDuration } from '../config/duration.js';
import { commandLine, dialectOf } from '../lxd/dialect.js';
import { dpkgLines } from './dpkg.js';
import { FLEET_COLUMNS, fleetRows, fleetTotals } from './fleet-table.js';
import { listChanges, summarizePackages } from './packages.js';
import type { InstanceReport, Outcome, RehearsalReport, Report, RestartReport } from './report.js';
import { displayWidth, padEndTo } from './text-width.js';
import { terminalText } from './terminal-text.js';

const HEADLINE: Record<Outcome, string> = {
  updated: 'updated and healthy',
  'rolled-back': 'update failed; rolled back and healthy again',
  'refused-by-rehearsal': 'refused: the update failed on a throw-away copy; the instance was not touched',
  'not-started': 'not started; nothing changed',
  'needs-attention': 'NEEDS ATTENTION',
  interrupted: 'interrupted; rolled back and healthy again',
  planned: 'dry run; nothing changed',
  healthy: 'healthy',
  unhealthy: 'UNHEALTHY',
  recovered: 'recovered',
  restored: 'restored',
  synced: 'copied to the snapshot server',
  'sync-failed': 'COPY TO THE SNAPSHOT SERVER FAILED',
  skipped: 'skipped; the fleet stopped before it; nothing changed',
};

/** The summary for a person at a terminal: a pure function of the report. */
export function renderHuman(report: Report): string {
  const lines: string[] = [];
  for (const item of report.instances) lines.push(...renderInstance(item, report));
  // Several instances: one row each under their details, so the whole run reads at a glance.
  if (report.instances.length > 1) lines.push('', ...fleetTable(report), fleetTotals(report));
  lines.push(`run ${report.runId}: ${formatDuration(report.durationMs)}, exit ${report.exitCode}; report in ${report.runDir}/report.json`);
  return terminalText(`${lines.join('\n')}\n`);
}

/** What happened to one instance, in a few words; an interrupt that came before any change says so. */
export function headline(item: InstanceReport): string {
  if (item.outcome === 'interrupted' && !item.rollback.performed) return 'interrupted; nothing changed';
  return HEADLINE[item.outcome];
}

function renderInstance(item: InstanceReport, report: Report): string[] {
  const lines = [`${item.instance}: ${headline(item)}${item.error ? ` (${item.error.step}: ${item.error.message})` : ''}`];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(10)} ${text}`);
  if (item.plan.length) item.plan.forEach((step, i) => row(i === 0 ? 'plan' : '', step));
  if (item.snapshot.name) row('snapshot', `${item.snapshot.name} (${snapshotState(item)})`);
  if (item.update.durationMs !== null) {
    const how = item.update.timedOut ? 'timed out' : item.update.exitCode === null ? `killed (${item.update.signal ?? 'interrupted'})` : `exit ${item.update.exitCode}`;
    row('update', `${report.command.join(' ')}: ${how} after ${formatDuration(item.update.durationMs)}`);
  }
  if (item.update.logFile) row('log', item.update.logFile);
  if (item.packages) [summarizePackages(item.packages), ...listChanges(item.packages)].forEach((line, i) => row(i === 0 ? 'packages' : '', line));
  dpkgLines(item.dpkg).forEach((line, i, all) => row(i > 0 && all[i - 1]!.label === line.label ? '' : line.label, line.text));
  item.checks.forEach((check, i) => row(i === 0 ? 'checks' : '', renderCheck(check)));
  if (item.restart) restartLines(item.restart).forEach((line, i) => row(i === 0 ? 'restart' : '', line));
  if (item.soak) row('soak', `${item.soak.ok ? '✔ healthy' : '✖ not healthy'} for ${formatDuration(item.soak.elapsedMs)} of ${formatDuration(item.soak.requestedMs)}, ${item.soak.samples} samples`);
  if (item.rehearsal) renderRehearsal(item.rehearsal, row);
  if (item.rollback.performed) {
    row('rollback', item.rollback.steps.map((s) => `${s.ok ? '✔' : '✖'} ${s.action} ${formatDuration(s.durationMs)}`).join('  '));
  }
  if (item.evidenceDir) row('evidence', item.evidenceDir);
  if (item.copy) {
    const sent = item.copy.transferredSnapshots.length ? `snapshots sent: ${item.copy.transferredSnapshots.join(', ')}` : 'no new snapshots';
    row('copy', `${item.copy.ok ? '✔' : '✖'} to ${item.copy.remote}: in ${formatDuration(item.copy.durationMs)}, ${item.copy.ok ? sent : item.copy.message}`);
  }
  if (item.keptFailedCopy) row('kept', `${item.keptFailedCopy} (stopped copy of the failed state; delete it with: ${commandLine(dialectOf(report.client), ['delete', keptCopyRef(item)])})`);
  item.uncoveredVolumes.forEach((v, i) => row(i === 0 ? 'not covered' : '', `${v.path} (device ${v.device}: ${v.pool ? `volume ${v.pool}/${v.source}` : v.source})`));
  item.warnings.forEach((w, i) => row(i === 0 ? 'warnings' : '', w));
  if (item.member !== null) row('member', item.member);
  row('steps', item.steps.map((s) => `${s.ok ? '' : '✖'}${s.action} ${formatDuration(s.durationMs)}`).join(', '));
  if (item.finalStatus) row('now', item.finalStatus.toLowerCase());
  return lines;
}

function fleetTable(report: Report): string[] {
  // Cells are escaped before they are measured: a control character in a name shows as two or more
  // columns in caret notation, and padding measured on the raw text would fall short.
  const table = [FLEET_COLUMNS.map(([, title]) => title), ...fleetRows(report).map((row) => FLEET_COLUMNS.map(([key]) => terminalText(row[key])))];
  const widths = FLEET_COLUMNS.map((_, i) => Math.max(...table.map((cells) => displayWidth(cells[i]!))));
  return table.map((cells) => cells.map((cell, i) => padEndTo(cell, widths[i]!)).join('  ').trimEnd());
}

/** Whether the run's snapshot is still there, and until when. */
export function snapshotState(item: InstanceReport): string {
  if (item.packages?.snapshotDeleted) return 'deleted: no package changed';
  return item.snapshot.expiresAt ? `expires ${item.snapshot.expiresAt}` : 'never expires';
}

function renderRehearsal(rehearsal: RehearsalReport, row: (label: string, text: string) => void): void {
  const copy = rehearsal.copyDeleted ? 'deleted' : rehearsal.copyKept ? 'kept stopped' : 'NOT deleted (see warnings)';
  row('rehearsal', `${rehearsal.verdict} on ${rehearsal.copy} (${copy}): ${rehearsal.message}`);
  rehearsal.devices.forEach((device) => row('', `device ${device}`));
  if (rehearsal.restart) restartLines(rehearsal.restart).forEach((line) => row('', `on the copy: ${line}`));
  rehearsal.checks.forEach((check) => row('', `on the copy: ${renderCheck(check)}`));
  rehearsal.checksNotOnCopy.forEach((check) => row('', `not on the copy: ${check.name} (${check.reason})`));
  if (rehearsal.verdict === 'failed') rehearsal.logTail.slice(-5).forEach((line) => row('', `| ${line}`));
}

export function renderCheck(check: CheckResult): string {
  const tries = check.attempts === 1 ? '' : `, ${check.attempts} attempts`;
  const mark = check.ok ? '✔' : check.required ? '✖' : '!';
  return `${mark} ${check.name} [${check.phase}] ${check.message} (${formatDuration(check.durationMs)}${tries})`;
}

/** The kept copy lives beside its instance: same remote, same project. */
function keptCopyRef(item: InstanceReport): string {
  const colon = item.instance.indexOf(':');
  const remote = colon >= 0 ? item.instance.slice(0, colon + 1) : '';
  return `${remote}${item.keptFailedCopy}${item.project === null ? '' : ` --project ${item.project}`}`;
}

/** The processes listed under the restart line; the JSON report has them all. */
const LISTED_PROCESSES = 5;

/**
 * The restart after the update, for people: nothing when none was due nor made; else whether it
 * came back and why it was made (or why not), then the processes that still ran deleted files.
 */
export function restartLines(restart: RestartReport): string[] {
  if (!restart.restarted && restart.due === false) return [];
  const head = !restart.restarted
    ? `! ${restart.message}`
    : restart.cameBack
      ? `✔ restarted, back in ${formatDuration(restart.durationMs ?? 0)}: ${restart.message}`
      : `✖ restarted, not back within ${formatDuration(restart.limitMs)}: ${restart.message}`;
  const processes = restart.processes.slice(0, LISTED_PROCESSES).map((process) => `${process.command || '?'} (pid ${process.pid}) runs deleted ${process.files.join(', ')}`);
  const more = restart.processes.length - processes.length;
  return [head, ...processes, ...(more > 0 ? [`… ${more} more process(es) (see the JSON report)`] : [])];
}
