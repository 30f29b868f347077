/**
 * amplify.ts — how much race amplification shortens the hunt for a race.
 *
 * Two races as one-shot trials (modules/amplify.ts), each run T times on a
 * machine without amplification and on one with `amplify: 3` (seeded), in
 * the same process: `lost-update` (both CPUs do 10 unprotected read-modify-
 * write increments; hit = the total is short) and `del-timer-uaf` (R-1:
 * del_timer + kfree at a point spread over the jiffy after the timer's
 * expiry, while its function may run on the other CPU; hit = a new KASAN
 * report). Trials needed = trials / hits
 * (with no hit, a lower bound: trials + 1). Ratio
 * `amplify_trials_reduction` = the smaller of the two cases' reductions
 * (issue 5: goal ≥ 10).
 */
import { Machine } from '@kdefer/workers';
import { kasanReportCount } from '@kdefer/core';
import { type BenchResult, sig } from './lib/harness.js';

const MODULE = new URL('./modules/amplify.js', import.meta.url);
const SEED = 20261122;
const LOST_TRIALS = 300;
const UAF_TRIALS_PLAIN = 1000;
const UAF_TRIALS_AMP = 200;

interface Hunt {
  trials: number;
  hits: number;
}

async function lostUpdate(m: Machine, trials: number): Promise<Hunt> {
  let hits = 0;
  for (let t = 0; t < trials; t++) {
    await m.call(0, 'ampbench', 'reset');
    await Promise.all([m.call(0, 'ampbench', 'increments', 10), m.call(1, 'ampbench', 'increments', 10)]);
    if ((await m.call<number>(0, 'ampbench', 'counter')) < 20) hits++;
  }
  return { trials, hits };
}

async function uaf(m: Machine, trials: number): Promise<Hunt> {
  let hits = 0;
  for (let t = 0; t < trials; t++) {
    const before = kasanReportCount(m.mem);
    // the same spread of teardown points in both runs (golden-ratio sequence over 0-1000 µs)
    await m.call(0, 'ampbench', 'uafTrial', 1, false, ((t * 0.6180339887) % 1) * 1000);
    if (kasanReportCount(m.mem) > before) hits++;
  }
  return { trials, hits };
}

const needed = (h: Hunt): number => (h.hits > 0 ? h.trials / h.hits : h.trials + 1);

export async function run(): Promise<BenchResult> {
  const plain = await Machine.boot({ cpus: 2, modules: [MODULE] });
  const amp = await Machine.boot({ cpus: 2, modules: [MODULE], amplify: 3, seed: SEED });
  try {
    const lost0 = await lostUpdate(plain, LOST_TRIALS);
    const lost3 = await lostUpdate(amp, LOST_TRIALS);
    const uaf0 = await uaf(plain, UAF_TRIALS_PLAIN);
    const uaf3 = await uaf(amp, UAF_TRIALS_AMP);
    const rLost = needed(lost0) / needed(lost3);
    const rUaf = needed(uaf0) / needed(uaf3);
    const res = (name: string, h: Hunt) => ({
      name: `${name}: trials per hit (${h.hits}/${h.trials} hit)`,
      median: sig(needed(h), 4),
      unit: 'ops/s' as const,
      samples: h.trials,
    });
    return {
      results: [
        res('lost-update, no amplification', lost0),
        res('lost-update, amplify 3', lost3),
        res('del-timer-uaf, no amplification', uaf0),
        res('del-timer-uaf, amplify 3', uaf3),
      ],
      ratios: {
        amplify_trials_reduction: sig(Math.min(rLost, rUaf), 3),
        lost_update_trials_reduction: sig(rLost, 3),
        del_timer_uaf_trials_reduction: sig(rUaf, 3),
      },
      notes: [
        `amplification level 3, seed ${SEED}; the "median" column of each result is trials needed per hit (unit column n/a)`,
        'a case with no hit in its trials counts trials + 1 (a lower bound): its reduction is then a lower bound too',
        'goal: amplify_trials_reduction >= 10 (issue 5)',
      ],
    };
  } finally {
    await plain.shutdown();
    await amp.shutdown();
  }
}
