import { defineConfig } from 'vitest/config';

// Files that stop or starve the LXD daemon for everyone run alone, after the rest.
const ALONE = ['test/e2e/faults.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some unit tests run shell scripts and stand-in clients; on a loaded 2-core machine those
          // took over vitest's 5 s default. A bound on a hang, not a speed target.
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ALONE,
          globalSetup: ['test/e2e/global-setup.ts'],
          // Real containers, each file its own uniquely named ones: two files at a time, since most of
          // the time is spent waiting on LXD. More would only queue on the dir pool's disk and 2 cores.
          fileParallelism: true,
          maxWorkers: 2,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e-alone',
          include: ALONE,
          globalSetup: ['test/e2e/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
