import { describe, expect, it } from 'vitest';
import { lineProgress } from '../../../src/cli/progress.js';
import { FleetBoard } from '../../../src/cli/fleet-task-list.js';
import { renderHuman } from '../../../src/report/human.js';
import { emptyInstanceReport, frameReport } from '../../../src/report/report.js';
import { terminalText } from '../../../src/report/terminal-text.js';

// What a process in the container controls: a check's output, a unit's or process's name.
const CLEAR_AND_FORGE = '\x1b[2J\x1b[Hweb1: updated, healthy';
const RETITLE = '\x1b]0;owned\x07';
const CLIPBOARD = '\x1b]52;c;ZWNobyBvd25lZA==\x07';
const OVERWRITE = 'failed\rpassed';
const C1_CSI = '\u009b2J';

describe('text from inside an instance on a terminal', () => {
  it('shows control characters in caret notation instead of passing them to the terminal', () => {
    expect(terminalText(CLEAR_AND_FORGE)).toBe('^[[2J^[[Hweb1: updated, healthy');
    expect(terminalText(RETITLE)).toBe('^[]0;owned^G');
    expect(terminalText(CLIPBOARD)).toBe('^[]52;c;ZWNobyBvd25lZA==^G');
    expect(terminalText(OVERWRITE)).toBe('failed^Mpassed');
    expect(terminalText(C1_CSI)).toBe('M-^[2J');
    expect(terminalText('\x00\x7f')).toBe('^@^?');
  });

  it('keeps newlines, tabs and every printable character, wide ones included', () => {
    const text = 'unit: demo.service\tfailed\n名前 ✔ é';
    expect(terminalText(text)).toBe(text);
  });

  it('the summary carries no escape from a check message, a warning or a restart\'s process list', () => {
    const item = emptyInstanceReport('web1', null);
    item.checks = [{ name: 'exec:cat /srv/status', phase: 'after-update', ok: false, required: true, attempts: 1, durationMs: 5, message: `exit 1: ${CLEAR_AND_FORGE}` }];
    item.warnings = [`unit ${RETITLE} is not covered`];
    const text = renderHuman(frameReport({ runId: 'r', toolVersion: 't', runDir: '/runs/r' }, 0, 1, 'rolled-back', 1, [item]));
    expect(text).not.toMatch(/[\x1b\x07]/);
    expect(text).toContain('^[[2J^[[Hweb1: updated, healthy');
    expect(text).toContain('^[]0;owned^G');
  });

  it('the line-per-step view escapes its own lines, and leaves the command\'s output as the command wrote it', () => {
    let text = '';
    const progress = lineProgress({ write: (chunk) => (text += chunk), verbose: false, quiet: false, showOutput: true });
    progress.onEvent({ type: 'output', chunk: '\x1b[32mSetting up demo\x1b[0m\n' });
    progress.onEvent({ type: 'check', result: { name: 'systemd', phase: 'after-update', ok: false, required: true, attempts: 1, durationMs: 7, message: `failed units: ${OVERWRITE}` } });
    progress.onEvent({ type: 'warning', message: CLIPBOARD });
    expect(text).toBe('\x1b[32mSetting up demo\x1b[0m\n  ✖ systemd [after-update] failed units: failed^Mpassed (7ms)\n! ^[]52;c;ZWNobyBvd25lZA==^G\n');
  });
});

describe('text from inside an instance in the fleet task list', () => {
  it('escapes step messages and warnings before they reach a group', () => {
    const board = new FleetBoard(['web1']);
    board.apply('web1', { type: 'step-end', step: { action: 'after-update', ok: false, durationMs: 5, message: CLEAR_AND_FORGE } });
    board.apply('web1', { type: 'warning', message: RETITLE });
    expect(board.rows.get('web1')!.lines).toEqual(['✖ after-update (5ms, ^[[2J^[[Hweb1: updated, healthy)', '! ^[]0;owned^G']);
  });
});
