import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RunHarness } from './run-harness.js';

// A record that cannot be removed at the end of a run (the state folder turned read-only, say):
// injected into node:fs/promises, since a test run as root cannot provoke it otherwise.

const refuseRemoval = { path: null as string | null };

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rm: async (path: string, options?: Parameters<typeof actual.rm>[1]) => {
      if (path === refuseRemoval.path) throw Object.assign(new Error(`EROFS: read-only file system, unlink '${path}'`), { code: 'EROFS' });
      return actual.rm(path, options);
    },
  };
});

let h: RunHarness;
beforeEach(async () => {
  h = new RunHarness();
  await h.setUp();
});
afterEach(async () => {
  refuseRemoval.path = null;
  await h.tearDown();
});

describe('a record that cannot be removed when the run ends', () => {
  it('is a warning that says how to clear it; the outcome stands', async () => {
    refuseRemoval.path = h.recordPath;
    h.preflight(undefined, false).snapshot().update().finalStatus();
    const { report, item } = await h.run();
    expect(report).toMatchObject({ outcome: 'updated', exitCode: 0 });
    expect(item.warnings.at(-1)).toBe(
      `could not remove the record ${h.recordPath}: EROFS: read-only file system, unlink '${h.recordPath}'; clear it with safeupdate recover local:web1 --project default --forget`,
    );
    expect(h.warnings().at(-1)).toBe(item.warnings.at(-1));
  });
});
