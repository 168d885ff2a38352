import type { CheckResult } from '../checks/check.js';
import { formatDuration } from '../config/duration.js';
import { FLEET_COLUMNS, fleetRows, fleetTotals } from './fleet-table.js';
import { headline, restartLines, snapshotState } from './human.js';
import { LISTED_CHANGES, summarizePackages } from './packages.js';
import type { InstanceReport, Outcome, PackageReport, Report } from './report.js';

/** Outcomes that end with exit 0 when nothing else went wrong. */
const GOOD: Outcome[] = ['updated', 'planned', 'healthy', 'recovered', 'restored', 'synced'];

/**
 * The report as Markdown, for a CI job's summary page (GitHub Actions' `GITHUB_STEP_SUMMARY`): a
 * pure function of the report. Every text that comes from outside (messages, names, paths) is
 * escaped, so that a `|` cannot break a table nor a `<` turn into HTML.
 */
export function renderMarkdown(report: Report): string {
  const blocks = report.instances.map((item) => renderInstance(item, report));
  // Several instances: the table first, where a summary page is read from the top.
  if (report.instances.length > 1) blocks.unshift(fleetTable(report));
  blocks.push(`Run ${text(report.runId)} · exit code ${report.exitCode} · ${formatDuration(report.durationMs)} · report: ${text(`${report.runDir}/report.json`)}`);
  return `${blocks.join('\n\n')}\n`;
}

function renderInstance(item: InstanceReport, report: Report): string {
  const mark = item.error ? (GOOD.includes(item.outcome) ? '⚠️' : '❌') : '✅';
  const facts = [
    `**Outcome:** ${item.outcome} · **exit code:** ${report.exitCode}`,
    ...(item.error ? [`**Error** (${text(item.error.step)}): ${text(item.error.message)}`] : []),
    ...(item.snapshot.name ? [`**Snapshot:** ${text(item.snapshot.name)} (${snapshotState(item)})`] : []),
    ...(item.update.durationMs !== null ? [`**Update:** ${code(shellWords(report.command))}: ${describeUpdate(item)} after ${formatDuration(item.update.durationMs)}`] : []),
    ...(item.update.logFile ? [`**Log:** ${text(item.update.logFile)}`] : []),
    ...(item.evidenceDir ? [`**Evidence:** ${text(item.evidenceDir)}`] : []),
    ...(item.finalStatus ? [`**Now:** ${text(item.finalStatus)}`] : []),
    `**Duration:** ${formatDuration(item.steps.reduce((sum, step) => sum + step.durationMs, 0))}`,
  ];
  const blocks = [`### ${mark} ${text(item.instance)}: ${headline(item)}`, facts.map((fact) => `- ${fact}`).join('\n')];
  if (item.packages) blocks.push(packagesBlock(item.packages));
  if (item.restart && restartLines(item.restart).length) blocks.push(`**Restart:** ${restartLines(item.restart).map(text).join('<br>')}`);
  if (item.checks.length) blocks.push(checksTable(item.checks));
  if (item.rehearsal) {
    const { rehearsal } = item;
    const copy = rehearsal.copyDeleted ? 'deleted' : rehearsal.copyKept ? 'kept stopped' : 'not deleted (see warnings)';
    blocks.push(`**Rehearsal** on ${text(rehearsal.copy)} (${copy}): ${rehearsal.verdict}: ${text(rehearsal.message)}`);
    if (rehearsal.checks.length) blocks.push(checksTable(rehearsal.checks));
    if (rehearsal.checksNotOnCopy.length) blocks.push(rehearsal.checksNotOnCopy.map((check) => `- not on the copy: ${text(check.name)} (${text(check.reason)})`).join('\n'));
  }
  if (item.rollback.performed) {
    blocks.push(`**Rollback:** ${item.rollback.steps.map((step) => `${step.ok ? '✔' : '✖'} ${text(step.action)} ${formatDuration(step.durationMs)}`).join(' · ')}`);
  }
  if (item.warnings.length) blocks.push(`**Warnings**\n\n${item.warnings.map((warning) => `- ${text(warning)}`).join('\n')}`);
  return blocks.join('\n\n');
}

function fleetTable(report: Report): string {
  const rows = fleetRows(report).map((row) => `| ${FLEET_COLUMNS.map(([key]) => text(row[key])).join(' | ')} |`);
  const head = `| ${FLEET_COLUMNS.map(([, title]) => title).join(' | ')} |`;
  return [`**${text(fleetTotals(report))}**`, '', head, `|${' --- |'.repeat(FLEET_COLUMNS.length)}`, ...rows].join('\n');
}

function describeUpdate(item: InstanceReport): string {
  if (item.update.timedOut) return 'timed out';
  if (item.update.exitCode === null) return `killed (${item.update.signal ?? 'interrupted'})`;
  return `exit ${item.update.exitCode}`;
}

function packagesBlock(packages: PackageReport): string {
  const summary = `**Packages:** ${text(summarizePackages(packages))}`;
  if (!packages.changes.length) return summary;
  const rows = packages.changes.slice(0, LISTED_CHANGES).map((change) => `| ${text(change.name)} | ${change.kind} | ${text(change.from ?? '')} | ${text(change.to ?? '')} | ${change.bump ?? ''} |`);
  const more = packages.changes.length - rows.length;
  return [summary, '', '| package | change | from | to | bump |', '| --- | --- | --- | --- | --- |', ...rows, ...(more > 0 ? [`| … ${more} more (see the JSON report) | | | | |`] : [])].join('\n');
}

function checksTable(checks: CheckResult[]): string {
  const rows = checks.map((check) => {
    const result = check.ok ? '✔ passed' : check.required ? '✖ failed' : '! failed (not required)';
    return `| ${text(check.name)} | ${check.phase} | ${result} | ${check.attempts} | ${formatDuration(check.durationMs)} | ${text(check.message)} |`;
  });
  return ['| check | phase | result | attempts | time | message |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * Plain text in Markdown, also inside a table cell: HTML's characters as entities, Markdown's
 * punctuation behind a backslash, line breaks as <br>.
 */
export function text(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]#|~]/g, '\\$&')
    .replace(/\r?\n/g, '<br>');
}

/** The command as one would type it: words with spaces or quotes in single quotes. */
function shellWords(argv: string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A code span that survives backticks inside it, and a table around it. */
function code(value: string): string {
  const flat = value.replace(/[\r\n]+/g, ' ');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const padded = flat.startsWith('`') || flat.endsWith('`') ? ` ${flat} ` : flat;
  return `${fence}${padded}${fence}`.replace(/\|/g, '\\|');
}
