import { describe, expect, it } from 'vitest';
import { command, escapeData, escapeProperty, renderWorkflowCommands } from '../../../src/report/workflow-commands.js';
import { notStartedReport, rolledBackReport, updatedReport } from './samples.js';

// The cases of @actions/core (packages/core/src/command.ts): escapeData encodes % CR LF;
// escapeProperty encodes those and : and , as well. % first, so that nothing is encoded twice.
describe('escaping as the Actions toolkit does', () => {
  it.each([
    ['plain', 'plain', 'plain'],
    ['100%', '100%25', '100%25'],
    ['%0A is not a line break', '%250A is not a line break', '%250A is not a line break'],
    ['line 1\nline 2', 'line 1%0Aline 2', 'line 1%0Aline 2'],
    ['crlf\r\nend', 'crlf%0D%0Aend', 'crlf%0D%0Aend'],
    ['a:b,c', 'a:b,c', 'a%3Ab%2Cc'],
    ['::error::injected', '::error::injected', '%3A%3Aerror%3A%3Ainjected'],
    ['%:,\r\n', '%25:,%0D%0A', '%25%3A%2C%0D%0A'],
  ])('%j', (input, data, property) => {
    expect(escapeData(input)).toBe(data);
    expect(escapeProperty(input)).toBe(property);
  });

  it('builds a command: properties comma-separated, empty ones left out, the message after ::', () => {
    expect(command('error', { title: 'web1: failed, badly' }, 'line 1\nline 2')).toBe('::error title=web1%3A failed%2C badly::line 1%0Aline 2');
    expect(command('warning', { title: '' }, '50% done')).toBe('::warning::50%25 done');
  });

  it('a message cannot start a second command on a line of its own', () => {
    const line = command('warning', {}, 'harmless\n::error::forged');
    expect(line.split('\n')).toHaveLength(1);
  });
});

describe('the annotations for a run', () => {
  it('a rolled-back run: one error with the failure, one warning for the failed check that is not required', () => {
    expect(renderWorkflowCommands(rolledBackReport())).toBe(
      '::error title=safeupdate web1%3A update failed; rolled back and healthy again::after-update: checks failed: systemd (failed units: demo.service); ' +
        "http://{ip}:8080/health (expected <ok> & got \"bad\" 'x'%0Asecond line | *two*)\n" +
        '::warning title=safeupdate web1::check zones failed (after-update, not required): exit 1: zone example.org broken\n',
    );
  });

  it('a failed check that is not required warns even where the run did not word it as a warning (safeupdate check)', () => {
    const report = rolledBackReport();
    report.instances[0]!.warnings = ['/srv/data (device data, volume default/data) is not in the snapshot: not covered by rollback'];
    const lines = renderWorkflowCommands(report).trimEnd().split('\n');
    expect(lines.filter((line) => line.startsWith('::warning'))).toEqual([
      '::warning title=safeupdate web1::/srv/data (device data, volume default/data) is not in the snapshot: not covered by rollback',
      '::warning title=safeupdate web1::check zones failed (after-update, not required): exit 1: zone example.org broken',
    ]);
  });

  it('an updated run says nothing; a run that did not start is an error', () => {
    expect(renderWorkflowCommands(updatedReport())).toBe('');
    expect(renderWorkflowCommands(notStartedReport())).toBe(
      '::error title=safeupdate web1%3A not started; nothing changed::lock: web1 is being updated by run 20261126T041000Z-web1-0001 (pid 4242, since 04:10:00)\n',
    );
  });
});
