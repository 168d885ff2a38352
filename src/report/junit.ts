import type { CheckResult } from '../checks/check.js';
import { create } from 'xmlbuilder2';
import { dpkgLines } from './dpkg.js';
import { headline } from './human.js';
import type { InstanceReport, Report, StepRecord } from './report.js';

type Element = ReturnType<typeof create>;

interface TestCase {
  name: string;
  classname: string;
  durationMs: number;
  failure: { message: string; details: string } | null;
  /** Counted as skipped: a check that failed but is not required (a warning, never a failure), or an instance never run. */
  warning: string | null;
}

/**
 * The report as JUnit XML, for the test views of Jenkins and GitLab: a pure function of the report.
 * One <testsuite> per instance; one <testcase> per step and per check.
 *
 * A non-required check that failed is a <skipped> test case: both Jenkins and GitLab count skipped
 * cases apart, visibly, without failing the build, which is what "a warning, never a rollback"
 * means. A passing case with the warning in its <system-out> would hide it in a green line that
 * nobody opens.
 *
 * The output must pass the strictest reader, the Jenkins xunit plugin's junit-10.xsd
 * (test/fixtures/junit): the root <testsuites> carries no `skipped` and no `timestamp`, and a
 * suite is never empty (Jenkins drops one without test cases, so an instance a fleet never
 * started would vanish from the test view: it gets one skipped case instead).
 *
 * Messages go in the `message` attribute on one line (an XML parser turns a line break in an
 * attribute into a space anyway) and whole, with the evidence and log, in the element's text.
 */
export function renderJunit(report: Report): string {
  const suites = report.instances.map((item) => ({ item, cases: testCases(item) }));
  const count = (cases: TestCase[]) => ({
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    // A step that broke and a check that failed are both failures: the report does not tell
    // assertion from crash, so "errors" stays 0 rather than guessing.
    errors: 0,
    skipped: cases.filter((c) => c.warning).length,
  });
  const { skipped: _, ...all } = count(suites.flatMap((suite) => suite.cases));
  // Characters XML 1.0 cannot carry (the escape of a colour code, a lone surrogate) become U+FFFD.
  const root = create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: '\uFFFD' }).ele('testsuites', {
    name: `safeupdate ${report.runId}`,
    ...numbers(all),
    time: seconds(report.durationMs),
  });
  for (const { item, cases } of suites) {
    const suite = root.ele('testsuite', {
      name: item.instance,
      ...numbers(count(cases)),
      time: seconds(item.steps.reduce((sum, step) => sum + step.durationMs, 0)),
      // When this instance started (in a fleet, each its own); one that never started: the run's.
      timestamp: timestamp(item.startedAt ?? report.startedAt),
    });
    for (const test of cases) addCase(suite, test);
    const out = suiteOutput(item, report);
    if (out) suite.ele('system-out').txt(out);
  }
  return root.end({ prettyPrint: true });
}

function testCases(item: InstanceReport): TestCase[] {
  const cases: TestCase[] = [
    ...item.steps.map((step) => stepCase(item, step)),
    ...item.checks.map((check) => checkCase(item, check)),
  ];
  // A run can end before any step fails (another run holds the lock, an interrupt between steps):
  // one more case carries its error, so that a failed run never shows as all green. Jenkins also
  // drops a suite without test cases.
  if (item.outcome === 'skipped' && cases.length === 0) {
    cases.push({ name: 'not run', classname: `${item.instance}.steps`, durationMs: 0, failure: null, warning: headline(item) });
  }
  if (item.error && !cases.some((c) => c.failure)) {
    cases.push({
      name: `error ${item.error.step}`,
      classname: `${item.instance}.steps`,
      durationMs: 0,
      failure: { message: item.error.message, details: details(item, [item.error.message]) },
      warning: null,
    });
  }
  return cases;
}

function stepCase(item: InstanceReport, step: StepRecord): TestCase {
  // The run's error says more than the step (a failed restore names the commands that finish it by hand).
  const more = item.error && item.error.step === step.action && item.error.message !== step.message ? [item.error.message] : [];
  return {
    name: `step ${step.action}`,
    classname: `${item.instance}.steps`,
    durationMs: step.durationMs,
    failure: step.ok ? null : { message: step.message, details: details(item, [step.message, ...more]) },
    warning: null,
  };
}

function checkCase(item: InstanceReport, check: CheckResult): TestCase {
  const failed = !check.ok && check.required;
  return {
    name: `check ${check.name} [${check.phase}]`,
    classname: `${item.instance}.checks`,
    durationMs: check.durationMs,
    failure: failed ? { message: check.message, details: details(item, [check.message, `attempts: ${check.attempts}`]) } : null,
    warning: !check.ok && !check.required ? `not required, failed: ${check.message}` : null,
  };
}


/** The failure's text: what failed, then where to look. */
function details(item: InstanceReport, lines: string[]): string {
  return [
    ...lines,
    ...(item.evidenceDir ? [`evidence: ${item.evidenceDir}`] : []),
    ...(item.update.logFile ? [`log: ${item.update.logFile}`] : []),
  ].join('\n');
}

function addCase(suite: Element, test: TestCase): void {
  const element = suite.ele('testcase', { name: test.name, classname: test.classname, time: seconds(test.durationMs) });
  if (test.failure) element.ele('failure', { message: oneLine(test.failure.message), type: 'failure' }).txt(text(test.failure.details));
  if (test.warning) element.ele('skipped', { message: oneLine(test.warning) });
}

/** What the suite's test cases do not say: the outcome, the snapshot, the final state, the warnings. */
function suiteOutput(item: InstanceReport, report: Report): string {
  const lines = [
    `outcome: ${item.outcome} (run exit code ${report.exitCode})`,
    ...(item.error ? [`error: ${item.error.step}: ${item.error.message}`] : []),
    ...(item.snapshot.name ? [`snapshot: ${item.snapshot.name}${item.snapshot.expiresAt ? ` (expires ${item.snapshot.expiresAt})` : ''}`] : []),
    ...(item.finalStatus ? [`status: ${item.finalStatus}`] : []),
    ...dpkgLines(item.dpkg).map((line) => `${line.label}: ${line.text}`),
    ...item.warnings.map((warning) => `warning: ${warning}`),
    `report: ${report.runDir}/report.json`,
  ];
  return text(lines.join('\n'));
}

function numbers(count: Record<string, number>): Record<string, string> {
  return Object.fromEntries(Object.entries(count).map(([key, value]) => [key, String(value)]));
}

/** Seconds with millisecond precision, as JUnit writes them. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The schema's timestamp: ISO 8601 without a zone or fractions; the report's times are UTC. */
function timestamp(iso: string): string {
  return iso.replace(/\.\d+Z$|Z$/, '');
}

/** An XML parser turns a raw CR into LF; say it as a line break in the first place. */
function text(value: string): string {
  return value.replace(/\r\n?/g, '\n');
}

function oneLine(value: string): string {
  return value.replace(/\s*[\r\n\t]+\s*/g, ' ').trim();
}
