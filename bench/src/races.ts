/**
 * races — how often does each del_timer race hit naturally, per API variant?
 *
 * Runs the race lab (scenarios/race.ts, the `kdefer race` command) for every
 * case with its default trials and a fixed seed: natural trials, no gate; a
 * trial hits when dmesg gained a report during it. For each case and variant:
 * trials, hits and the hit rate (the `median` column, in %). The fixed
 * variants must show 0 — a bench never asserts, so a non-zero one is called
 * out in the notes as an anomaly.
 *
 * Hit rates depend on how the two CPU threads overlap in real time: on a
 * loaded host (other processes on the same cores) the OS often runs them one
 * after the other and the buggy variants hit less.
 */
import { availableParallelism } from 'node:os';
import { runRace, RACE_CASES } from '@kdefer/cli';
import type { BenchResult, Result } from './lib/harness.js';

/** The seed of every case's trials (the same delays on every run). */
const SEED = 20261122;

type RaceFigure = Result & { trials: number; hits: number; reports: number };

export async function run(): Promise<BenchResult> {
  const results: RaceFigure[] = [];
  const notes: string[] = [
    `${availableParallelism()} cores; 2 CPUs per machine (CPU 0 tears down, CPU 1 runs the deferred work); seed ${SEED}; each case's default trials per variant; lockdep off (scenarios/race.ts says why)`,
    'the median column is the hit rate in % (hits / trials); each row also gives trials, hits and the reports printed (a hit may print more than one)',
  ];
  const anomalies: string[] = [];
  for (const c of RACE_CASES) {
    const t0 = performance.now();
    const r = await runRace({ case: c.name, cpus: 2, seed: SEED });
    for (const row of r.rows) {
      results.push({
        name: `${c.name} (${c.statement}), ${row.api} [${row.fixed ? 'fixed' : 'buggy'}]: hit rate`,
        median: Math.round(row.hitRate * 1000) / 10,
        unit: '%',
        samples: row.trials,
        trials: row.trials,
        hits: row.hits,
        reports: row.reports,
      });
      if (row.fixed && (row.reports > 0 || row.errors.length > 0))
        anomalies.push(`${c.name} ${row.api}: ${row.reports} reports, ${row.errors.length} errors (${row.errors[0] ?? ''})`);
      if (!row.fixed && row.errors.length > 0)
        anomalies.push(`${c.name} ${row.api}: ${row.errors.length} trials failed without a report (${row.errors[0]})`);
    }
    const machines = r.rows.reduce((a, x) => a + x.machines, 0);
    notes.push(`${c.name}: ${c.hit}; ${((performance.now() - t0) / 1000).toFixed(1)} s, ${machines} machines booted`);
  }
  for (const a of anomalies) notes.push(`ANOMALY: ${a}`);
  return { results, ratios: {}, notes };
}
