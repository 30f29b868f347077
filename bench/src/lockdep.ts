/**
 * lockdep.ts — what the lock validator costs on a spinlock-heavy workload.
 *
 * The same workload (modules/lockdep.ts: nested spin_lock_bh/spin_lock,
 * spin_lock_irqsave, a softirq taking a lock) on a machine booted with
 * lockdep on and one with lockdep off, in the same process, alternating
 * repetitions so drift hits both. Ratio `lockdep_on_vs_off` (issue 5: goal
 * ≤ 3; the Go race detector costs 2-20×).
 */
import { Machine } from '@kdefer/workers';
import { type BenchResult, median, summarize, sig } from './lib/harness.js';

const MODULE = new URL('./modules/lockdep.js', import.meta.url);
const N = 100_000;
const REPS = 11;

export async function run(): Promise<BenchResult> {
  const on = await Machine.boot({ cpus: 2, modules: [MODULE], lockdep: true });
  const off = await Machine.boot({ cpus: 2, modules: [MODULE], lockdep: false });
  const samplesOn: number[] = [];
  const samplesOff: number[] = [];
  try {
    // warm both (JIT, first dependencies recorded)
    await on.call(0, 'lockbench', 'workload', N);
    await off.call(0, 'lockbench', 'workload', N);
    for (let r = 0; r < REPS; r++) {
      samplesOn.push(await on.call<number>(0, 'lockbench', 'workload', N));
      samplesOff.push(await off.call<number>(0, 'lockbench', 'workload', N));
    }
    const reports = on
      .dmesg()
      .split('\n')
      .filter((l) => /WARNING/.test(l)).length;
    return {
      results: [
        summarize('workload iteration, lockdep on', samplesOn, 'ns'),
        summarize('workload iteration, lockdep off', samplesOff, 'ns'),
      ],
      ratios: { lockdep_on_vs_off: sig(median(samplesOn) / median(samplesOff), 3) },
      notes: [
        `one iteration: spin_lock_bh(A){spin_lock(B)} + spin_lock_irqsave(C) + every 64th a softirq taking B; ${N} iterations x ${REPS} reps, medians`,
        'goal: lockdep_on_vs_off <= 3 (issue 5)',
        `validator reports during the run: ${reports} (the workload is correct: expected 0)`,
      ],
    };
  } finally {
    await on.shutdown();
    await off.shutdown();
  }
}
