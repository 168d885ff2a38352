import { spawnSync } from 'node:child_process';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderJunit } from '../../../src/report/junit.js';
import type { Report } from '../../../src/report/report.js';
import { AWKWARD, fleetReport, notStartedReport, rolledBackReport, updatedReport } from './samples.js';

/** The strict schema Jenkins' xunit plugin validates against (its source: the file's comment). */
const XSD = new URL('../../fixtures/junit/junit-10.xsd', import.meta.url).pathname;

/** xmllint's verdict on the XML against junit-10.xsd: '' when valid, else what it rejects. */
function schemaErrors(xml: string): string {
  const run = spawnSync('xmllint', ['--noout', '--schema', XSD, '-'], { input: xml, encoding: 'utf8' });
  if (run.error) {
    throw new Error(`xmllint is missing (${run.error.message}), so the JUnit output cannot be validated against junit-10.xsd: apt-get install -y libxml2-utils (scripts/lab up installs it)`);
  }
  // 5: the schema itself did not compile; that is this test's fault, not the output's.
  if (run.status === 5) throw new Error(`xmllint cannot read ${XSD}: ${run.stderr}`);
  return run.status === 0 ? '' : run.stderr;
}

type Attributes = Record<string, string>;
interface Case {
  $: Attributes;
  failure?: { $: Attributes; '#text': string };
  skipped?: { $: Attributes };
}
interface Suite {
  $: Attributes;
  testcase: Case[];
  'system-out'?: string;
}

/** Parsed back by a parser of its own, not the builder's: what Jenkins and GitLab would read. */
function parse(xml: string): { $: Attributes; testsuite: Suite[] } {
  expect(XMLValidator.validate(xml)).toBe(true);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    // Attributes apart from child elements, under `$`.
    attributesGroupName: '$',
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
    textNodeName: '#text',
    isArray: (name) => name === 'testsuite' || name === 'testcase',
  });
  return parser.parse(xml).testsuites;
}

// The attributes of the JUnit schema that Jenkins (junit plugin) and GitLab read; nothing else may appear.
const ALLOWED: Record<string, { required: string[]; optional: string[] }> = {
  // junit-10.xsd allows no skipped and no timestamp here.
  testsuites: { required: ['tests', 'failures', 'errors', 'time'], optional: ['name'] },
  testsuite: { required: ['name', 'tests', 'failures', 'errors', 'skipped', 'time', 'timestamp'], optional: ['hostname', 'id', 'package', 'disabled'] },
  testcase: { required: ['name', 'classname', 'time'], optional: ['assertions', 'status'] },
  failure: { required: ['message'], optional: ['type'] },
  skipped: { required: [], optional: ['message'] },
};

function expectSchema(kind: string, element: { $?: Attributes }) {
  const attributes = element.$ ?? {};
  const names = Object.keys(attributes);
  const { required, optional } = ALLOWED[kind]!;
  for (const name of required) expect(names, `${kind} needs ${name}`).toContain(name);
  for (const name of names) expect([...required, ...optional], `${kind} has no attribute ${name}`).toContain(name);
  if ('time' in attributes) expect(attributes.time).toMatch(/^\d+\.\d{3}$/);
  if ('timestamp' in attributes) expect(attributes.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
}

function expectValid(xml: string) {
  expect(schemaErrors(xml)).toBe('');
  const root = parse(xml);
  expectSchema('testsuites', root);
  for (const suite of root.testsuite) {
    expectSchema('testsuite', suite);
    for (const test of suite.testcase) {
      expectSchema('testcase', test);
      if (test.failure) expectSchema('failure', test.failure);
      if (test.skipped) expectSchema('skipped', test.skipped);
    }
    // The totals are the counts of what is there.
    expect(Number(suite.$.tests)).toBe(suite.testcase.length);
    expect(Number(suite.$.failures)).toBe(suite.testcase.filter((c) => c.failure).length);
    expect(Number(suite.$.skipped)).toBe(suite.testcase.filter((c) => c.skipped).length);
  }
  for (const key of ['tests', 'failures', 'errors']) {
    expect(Number(root.$[key])).toBe(root.testsuite.reduce((sum, suite) => sum + Number(suite.$[key]), 0));
  }
  // The schema's order: the test cases, then the suite's output.
  for (const suite of xml.split('<testsuite ').slice(1)) {
    if (suite.includes('<system-out>')) expect(suite.lastIndexOf('<testcase ')).toBeLessThan(suite.indexOf('<system-out>'));
  }
  return root;
}

describe('the JUnit report', () => {
  it('an updated instance: one suite named after it, a passing case per step and per check', () => {
    const xml = renderJunit(updatedReport());
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const root = expectValid(xml);
    expect(root.$).toEqual({ name: 'safeupdate 20261126T042055Z-web1-8a7f', tests: '7', failures: '0', errors: '0', time: '2.750' });
    const [suite] = root.testsuite;
    expect(suite!.$).toMatchObject({ name: 'web1', time: '2.706', timestamp: '2026-11-26T04:20:55' });
    expect(suite!.testcase.map((c) => c.$.name)).toEqual([
      'step preflight', 'step baseline', 'step snapshot', 'step update', 'step after-update', 'check systemd [baseline]', 'check systemd [after-update]',
    ]);
    expect(suite!.testcase[3]).toEqual({ $: { name: 'step update', classname: 'web1.steps', time: '0.582' } });
    expect(suite!.testcase[6]!.$).toMatchObject({ classname: 'web1.checks', time: '0.077' });
    expect(suite!.testcase.every((c) => c.failure === undefined && c.skipped === undefined)).toBe(true);
    expect(suite!['system-out']).toContain('outcome: updated (run exit code 0)');
  });

  it('a rolled-back instance: the failed step and checks fail with the message, the evidence and the log; the rollback steps pass', () => {
    const root = expectValid(renderJunit(rolledBackReport()));
    expect(root.$).toMatchObject({ tests: '15', failures: '3', errors: '0' });
    expect(root.testsuite[0]!.$).toMatchObject({ skipped: '1' });
    const cases = root.testsuite[0]!.testcase;
    const byName = (name: string) => cases.find((c) => c.$.name === name)!;
    expect(cases.filter((c) => c.failure).map((c) => c.$.name)).toEqual([
      'step after-update', 'check systemd [after-update]', 'check http://{ip}:8080/health [after-update]',
    ]);
    for (const action of ['stop', 'restore', 'start', 'after-rollback']) expect(byName(`step ${action}`).failure).toBeUndefined();
    expect(byName('check systemd [after-rollback]').failure).toBeUndefined();

    const systemd = byName('check systemd [after-update]').failure!;
    expect(systemd.$.message).toBe('failed units: demo.service');
    expect(systemd['#text']).toBe([
      'failed units: demo.service',
      'attempts: 1',
      'evidence: /var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f/web1/evidence',
      'log: /var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f/web1/update.log',
    ].join('\n'));
    // The step's failure says what the run's error says, too.
    expect(byName('step after-update').failure!['#text']).toContain('checks failed: systemd (failed units: demo.service)');
  });

  it('a failed check that is not required is skipped with its message, not a failure', () => {
    const zones = parse(renderJunit(rolledBackReport())).testsuite[0]!.testcase.find((c) => c.$.name === 'check zones [after-update]')!;
    expect(zones.failure).toBeUndefined();
    expect(zones.skipped).toEqual({ $: { message: 'not required, failed: exit 1: zone example.org broken' } });
  });

  it('escapes <, &, quotes and line breaks: they come back as written', () => {
    const xml = renderJunit(rolledBackReport());
    expect(xml).not.toContain('<ok>');
    // A line break inside an attribute would reach Jenkins as a space: the attribute is one line.
    expect(xml).not.toMatch(/message="[^"]*\n/);
    const http = parse(xml).testsuite[0]!.testcase.find((c) => c.$.name === 'check http://{ip}:8080/health [after-update]')!;
    expect(http.failure!.$.message).toBe('expected <ok> & got "bad" \'x\' second line | *two*');
    expect(http.failure!['#text'].startsWith(`${AWKWARD}\nattempts: 3\n`)).toBe(true);
  });

  it('replaces what XML 1.0 cannot carry (a terminal colour code, CR) and stays well-formed', () => {
    const report = rolledBackReport();
    report.instances[0]!.checks[1]!.message = 'unit \x1b[31mfailed\x1b[0m\r\nend';
    const systemd = parse(renderJunit(report)).testsuite[0]!.testcase.find((c) => c.$.name === 'check systemd [after-update]')!;
    expect(systemd.failure!.$.message).toBe('unit \uFFFD[31mfailed\uFFFD[0m end');
    expect(systemd.failure!['#text']).toMatch(/^unit \uFFFD\[31mfailed\uFFFD\[0m\nend\n/);
  });

  it('a run that never got to a step still fails: one case carries its error', () => {
    const root = expectValid(renderJunit(notStartedReport()));
    expect(root.$).toMatchObject({ tests: '1', failures: '1' });
    const [only] = root.testsuite[0]!.testcase;
    expect(only!.$).toEqual({ name: 'error lock', classname: 'web1.steps', time: '0.000' });
    expect(only!.failure!.$.message).toContain('web1 is being updated by run 20261126T041000Z-web1-0001');
    expect(root.testsuite[0]!['system-out']).toContain('outcome: not-started (run exit code 3)');
  });

  it('several instances (safeupdate check web1 web2): one suite each, totals over all', () => {
    const a = updatedReport();
    const b = rolledBackReport();
    b.instances[0]!.instance = 'web2';
    const report: Report = { ...a, exitCode: 1, instances: [a.instances[0]!, b.instances[0]!] };
    const root = expectValid(renderJunit(report));
    expect(root.testsuite.map((suite) => suite.$.name)).toEqual(['web1', 'web2']);
    expect(root.$).toMatchObject({ tests: '22', failures: '3' });
    expect(root.testsuite[1]!.testcase[0]!.$.classname).toBe('web2.steps');
  });

  it('the strict schema (junit-10.xsd) rejects what the root must not carry: the check itself catches it', () => {
    const xml = renderJunit(updatedReport()).replace('<testsuites ', '<testsuites skipped="0" timestamp="2026-11-26T04:20:55" ');
    expect(schemaErrors(xml)).toMatch(/attribute 'skipped' is not allowed/);
  });

  it('a fleet after a failed canary: the instances it never started are there, each as one skipped case', () => {
    const root = expectValid(renderJunit(fleetReport()));
    expect(root.testsuite.map((suite) => suite.$.name)).toEqual(['web1', 'backup:web2', 'web3']);
    const web3 = root.testsuite[2]!;
    // Jenkins drops a suite without test cases: the untouched instance would vanish from the test view.
    expect(web3.$).toMatchObject({ tests: '1', failures: '0', skipped: '1' });
    expect(web3.testcase).toHaveLength(1);
    expect(web3.testcase[0]).toMatchObject({ $: { name: 'not run', classname: 'web3.steps', time: '0.000' }, skipped: { $: { message: 'skipped; the fleet stopped before it; nothing changed' } } });
    expect(web3.testcase[0]!.failure).toBeUndefined();
  });

  it('each suite\'s timestamp is when its instance started; an instance that never started has the run\'s', () => {
    const root = expectValid(renderJunit(fleetReport()));
    expect(root.testsuite.map((suite) => suite.$.timestamp)).toEqual(['2026-11-26T04:20:55', '2026-11-26T04:20:55', '2026-11-26T04:20:55']);
    const report = fleetReport();
    report.instances[1]!.startedAt = '2026-11-26T04:21:07.300Z';
    const later = parse(renderJunit(report));
    expect(later.testsuite.map((suite) => suite.$.timestamp)).toEqual(['2026-11-26T04:20:55', '2026-11-26T04:21:07', '2026-11-26T04:20:55']);
  });
});
