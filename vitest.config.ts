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
    // `npm run coverage`: V8 coverage of the built packages the tests run,
    // mapped back to packages/*/src through the .js.map files tsc writes.
    // V8 coverage is collected per isolate by the test process (node:inspector
    // Profiler): code run inside the CPU worker threads (packages/core in a
    // Machine's workers) and in child processes (the kdefer CLI) is NOT seen;
    // what is measured is what the test process itself loads and runs.
    coverage: {
      provider: 'v8',
      include: ['packages/*/dist/**/*.js'],
      exclude: ['test/**', 'bench/**', '**/*.d.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
    },
  },
});
