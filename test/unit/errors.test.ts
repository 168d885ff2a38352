import { describe, expect, it, vi } from 'vitest';

// errors.ts holds the process's one "an instance may have changed" mark: each test takes fresh modules.
async function freshModules() {
  vi.resetModules();
  const errors = await import('../../src/errors.js');
  const main = await import('../../src/cli/main.js');
  return { ...errors, reportInternalError: main.reportInternalError };
}

function capture() {
  let text = '';
  return { io: { stderr: (chunk: string) => void (text += chunk) }, text: () => text };
}

describe('an internal error', () => {
  it('before any step that changes an instance: exit 3, "nothing was changed"', async () => {
    const { reportInternalError, instanceMayHaveChanged } = await freshModules();
    const err = capture();
    expect(instanceMayHaveChanged()).toBe(false);
    expect(reportInternalError(new Error('boom'), err.io, false)).toBe(3);
    expect(err.text()).toBe('safeupdate: internal error: boom\nsafeupdate: nothing was changed\n');
  });

  it('once a step that may change an instance began: exit 4, and the record is kept for recover', async () => {
    const { reportInternalError, instanceMayHaveChanged, markInstanceMayHaveChanged } = await freshModules();
    markInstanceMayHaveChanged();
    expect(instanceMayHaveChanged()).toBe(true);
    const err = capture();
    expect(reportInternalError(new Error('boom'), err.io, false)).toBe(4);
    expect(err.text()).toBe('safeupdate: internal error: boom\nsafeupdate: an instance may have changed; its record is kept: check it, then run safeupdate recover on it\n');
  });
});

describe('the errors the tool reports as such', () => {
  it('name their class where they are printed whole (a stack with -v, a log line)', async () => {
    const { UsageError, LxdError } = await freshModules();
    expect(String(new UsageError('bad input'))).toBe('UsageError: bad input');
    expect(String(new LxdError('no answer', 'timeout', ['lxc', 'list']))).toBe('LxdError: no answer');
  });
});
