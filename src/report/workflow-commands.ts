import { headline } from './human.js';
import type { Report } from './report.js';

/**
 * GitHub Actions' workflow commands for a finished run: a pure function of the report. One
 * `::error` per instance that failed, one `::warning` per warning and per non-required check that
 * failed; Actions shows them as annotations on the run's page.
 */
export function renderWorkflowCommands(report: Report): string {
  const lines: string[] = [];
  for (const item of report.instances) {
    const title = `safeupdate ${item.instance}: ${headline(item)}`;
    if (item.error) lines.push(command('error', { title }, `${item.error.step}: ${item.error.message}`));
    // The run already words a failed non-required check as a warning; the same words once only.
    const warnings = new Set(item.warnings);
    for (const check of item.checks) {
      if (!check.ok && !check.required) warnings.add(`check ${check.name} failed (${check.phase}, not required): ${check.message}`);
    }
    for (const warning of warnings) lines.push(command('warning', { title: `safeupdate ${item.instance}` }, warning));
  }
  if (report.exitCode !== 0 && !report.instances.some((item) => item.error)) {
    lines.push(command('error', { title: 'safeupdate' }, `run ${report.runId} exited ${report.exitCode}`));
  }
  return lines.map((line) => `${line}\n`).join('');
}

/** `::name key=value,key=value::message`, escaped as @actions/core escapes it. */
export function command(name: string, properties: Record<string, string>, message: string): string {
  const props = Object.entries(properties)
    .filter(([, value]) => value)
    .map(([key, value]) => `${key}=${escapeProperty(value)}`)
    .join(',');
  return `::${name}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

/** A command's message: `%`, CR and LF are percent-encoded, so that one command stays one line. */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A property's value: as data, and also `:` and `,`, which delimit the properties. */
export function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
