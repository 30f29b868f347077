import { defineConfig } from 'vitest/config';

// Tests import the BUILT packages (npm test runs `tsc -b` first), so the CPU
// worker is spawned from packages/workers/dist exactly as users run it.
// Each test file boots its own machines (2+ threads each) on a 2-core box:
// run files one at a time so machines do not fight over the cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
