import { describe, expect, it } from 'vitest';
import { lineProgress } from '../../../src/cli/progress.js';
import type { RunEvent } from '../../../src/run/events.js';

const EVENTS: RunEvent[] = [
  { type: 'step-start', action: 'preflight', title: 'Preflight web1' },
  { type: 'step-end', step: { action: 'preflight', ok: true, durationMs: 45, message: 'Running container' } },
  { type: 'step-start', action: 'update', title: 'Update: apt-get upgrade -y' },
  { type: 'output', chunk: 'Setting up demo (2.0) ...\n' },
  { type: 'step-end', step: { action: 'update', ok: true, durationMs: 580, message: 'exit 0' } },
  { type: 'step-start', action: 'after-update', title: 'Checks (after-update)' },
  { type: 'check', result: { name: 'systemd', phase: 'after-update', ok: false, required: true, attempts: 1, durationMs: 77, message: 'failed units: demo.service' } },
  { type: 'step-end', step: { action: 'after-update', ok: false, durationMs: 78, message: '1 of 1 required check(s) failed' } },
  { type: 'warning', message: '/srv/data (device data, volume default/data) is not in the snapshot: not covered by rollback' },
];

function render(options: { verbose?: boolean; quiet?: boolean; showOutput?: boolean }): string {
  let text = '';
  const progress = lineProgress({ write: (chunk) => (text += chunk), verbose: options.verbose ?? false, quiet: options.quiet ?? false, showOutput: options.showOutput ?? true });
  EVENTS.forEach(progress.onEvent);
  progress.onCall({ command: ['lxc', 'query', '/1.0'], durationMs: 31, ok: true, process: true });
  return text;
}

describe('the line-per-step output without a terminal', () => {
  it('shows each step, the command output, the checks and warnings', () => {
    expect(render({})).toMatchInlineSnapshot(`
      "▸ Preflight web1
      ✔ preflight (45ms): Running container
      ▸ Update: apt-get upgrade -y
      Setting up demo (2.0) ...
      ✔ update (580ms): exit 0
      ▸ Checks (after-update)
        ✖ systemd [after-update] failed units: demo.service (77ms)
      ✖ after-update (78ms): 1 of 1 required check(s) failed
      ! /srv/data (device data, volume default/data) is not in the snapshot: not covered by rollback
      "
    `);
  });

  it('--quiet keeps only failures and warnings; --verbose adds every LXD call', () => {
    expect(render({ quiet: true })).toBe(
      '✖ after-update (78ms): 1 of 1 required check(s) failed\n! /srv/data (device data, volume default/data) is not in the snapshot: not covered by rollback\n',
    );
    expect(render({ verbose: true })).toContain('  · lxc query /1.0 (31ms)\n');
  });
});
