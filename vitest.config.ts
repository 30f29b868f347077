import { defineConfig } from 'vitest/config';

// Tests import the BUILT packages (npm test runs `tsc -b` first), so the CPU
// worker is spawned from packages/workers/dist exactly as users run it.
// Each test file boots its own machines (2+ threads each) on a 2-core box:
// run files one at a time so machines do not fight over the cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup/v8-coverage.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Load the built packages with Node's own loader, not through vite's
    // transform: V8 then sees them under their file URLs, which c8 (npm run
    // coverage) maps back to src through the .js.map files.
    server: { deps: { external: [/\/packages\/[^/]+\/dist\//] } },
    // `npm run coverage` runs c8 (.c8rc.json), not vitest's coverage: V8's
    // inspector coverage that vitest takes sees only the test process, and
    // nearly all of packages/core runs in the machines' CPU worker threads.
    // `npx vitest run --coverage` still gives the test process's share.
    coverage: {
      provider: 'v8',
      include: ['packages/*/dist/**/*.js'],
      exclude: ['test/**', 'bench/**', '**/*.d.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
    },
  },
});
