// npm run coverage (c8) collects V8 coverage through NODE_V8_COVERAGE, which
// Node writes when a process or worker thread exits normally. vitest ends its
// fork workers without that exit, so each test file writes the test process's
// coverage itself when it is done (v8.takeCoverage). The CPU worker threads
// write theirs when the machine stops them.
import { afterAll } from 'vitest';
import { takeCoverage } from 'node:v8';

afterAll(() => {
  if (process.env.NODE_V8_COVERAGE) takeCoverage();
});
