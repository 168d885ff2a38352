import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lineProgress } from '../../../src/cli/progress.js';
import { renderHuman } from '../../../src/report/human.js';
import type { RunEvent } from '../../../src/run/events.js';
import { notStartedReport, rolledBackReport, updatedReport } from '../report/samples.js';

// Any escape sequence: colour (CSI … m), cursor movement, OSC.
const ESCAPE = /\x1b/;

const EVENTS: RunEvent[] = [
  { type: 'step-start', action: 'preflight', title: 'Preflight web1' },
  { type: 'step-end', step: { action: 'preflight', ok: true, durationMs: 45, message: 'Running container' } },
  { type: 'step-start', action: 'update', title: 'Update: apt-get upgrade -y' },
  { type: 'output', chunk: 'Setting up demo (2.0) ...\n' },
  { type: 'step-end', step: { action: 'update', ok: false, durationMs: 580, message: 'exit 100' } },
  { type: 'group-start', title: 'Roll back to safeupdate-1', actions: ['stop', 'restore', 'start'] },
  { type: 'step-start', action: 'stop', title: 'Stop web1' },
  { type: 'step-end', step: { action: 'stop', ok: true, durationMs: 780, message: 'done' } },
  { type: 'check', result: { name: 'systemd', phase: 'after-rollback', ok: false, required: false, attempts: 3, durationMs: 3200, message: 'degraded' } },
  { type: 'group-end' },
  { type: 'warning', message: 'check systemd failed (after-rollback, not required): degraded' },
];

describe('colour', () => {
  it('safeupdate writes none itself: the line progress and the summary are plain text', () => {
    for (const verbose of [false, true]) {
      let text = '';
      const progress = lineProgress({ write: (chunk) => (text += chunk), verbose, quiet: false, showOutput: true });
      EVENTS.forEach(progress.onEvent);
      progress.onCall({ command: ['lxc', 'query', '/1.0'], durationMs: 31, ok: false, process: true });
      expect(text).toContain('✖ update (580ms): exit 100');
      expect(text).not.toMatch(ESCAPE);
    }
    for (const report of [updatedReport(), rolledBackReport(), notStartedReport()]) expect(renderHuman(report)).not.toMatch(ESCAPE);
  });

  // The task list (listr2, only at a terminal) is the one place colour comes from; listr2 takes it
  // from colorette, which decides once, from the environment and whether stdout is a terminal.
  // Asked in a child process, whose stdout is a pipe, with a clean environment.
  const red = (env: Record<string, string>) =>
    execFileSync(process.execPath, ['--input-type=module', '-e', "import { color } from 'listr2'; process.stdout.write(color.red('x'))"], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    });

  it('the task list: none when stdout is not a terminal or NO_COLOR is set; FORCE_COLOR forces it', () => {
    expect(red({})).toBe('x');
    expect(red({ NO_COLOR: '1' })).toBe('x');
    expect(red({ FORCE_COLOR: '1' })).toBe('\x1b[31mx\x1b[39m');
    // Both set: NO_COLOR wins, as colorette and no-color.org have it.
    expect(red({ NO_COLOR: '1', FORCE_COLOR: '1' })).toBe('x');
  });
});
