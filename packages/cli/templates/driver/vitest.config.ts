import { defineConfig } from 'vitest/config';

// Each test boots a machine (one thread per CPU): give it time, and run
// the files in processes of their own.
export default defineConfig({
  test: { testTimeout: 30_000, pool: 'forks' },
});
