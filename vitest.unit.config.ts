import { defineConfig } from 'vitest/config';

// The unit tests alone, as one plain (non-project) config: StrykerJS's vitest runner needs a config
// without the e2e project (real LXD). Keep `include` in step with the unit project in vitest.config.ts.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
  },
});
