// The sample driver under test: withMachine() boots a 2-CPU machine with the
// module loaded on every CPU, runs the body, always shuts it down, and fails
// the test on any kernel report (KASAN, lockdep, BUG, WARNING, lockup) the
// body did not expect with expectReport().
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withMachine } from '@kdefer/test';
import { SENSOR_IRQ } from '../src/driver.js';

const driver = fileURLToPath(new URL('../src/driver.ts', import.meta.url));

describe('sensor driver', () => {
  it('probe, interrupts on both CPUs, remove: every sample taken is folded, the timer reported, no kernel report', async () => {
    const counts = await withMachine({ cpus: 2, modules: [driver] }, async (m) => {
      expect(await m.call(0, 'sensor', 'probe')).toBe(0);
      for (let k = 0; k < 50; k++) {
        m.setIrqAffinity(SENSOR_IRQ, [k % 2]);
        m.raiseIrq(SENSOR_IRQ);
      }
      await m.call(0, 'sensor', 'wait', 30);
      return (await m.call(0, 'sensor', 'remove')) as { samples: number; sum: number; reports: number };
    });
    // an edge-triggered line raised again while pending is one interrupt: fewer than 50 samples is right
    expect(counts.samples).toBeGreaterThan(0);
    expect(counts.samples).toBeLessThanOrEqual(50);
    expect(counts.sum).toBe(counts.samples);
    expect(counts.reports).toBeGreaterThan(0);
  });
});
