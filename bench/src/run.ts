/**
 * run.ts — `node bench/dist/run.js [name...]`: run every benchmark, or the
 * named ones (`npm run bench -- primitives`).
 *
 * A benchmark is a file bench/src/<name>.ts (compiled next to this one)
 * exporting `run(): Promise<BenchResult>`. Each writes
 * bench/results/<name>.json (DESIGN.md, "Benchmark results") and prints a
 * table. Benchmarks run one after another, never side by side: on a 2-core
 * machine a second benchmark would be the noise of the first. Each runs
 * RUNS (3) times back to back (lib/harness.ts runRepeated): the JSON gives
 * each ratio's spread and how many runs were disturbed.
 */
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Benchmark, type BenchReport, formatReport, formatTable, runRepeated, RUNS } from './lib/harness.js';

const here = new URL('./', import.meta.url);
const resultsDir = new URL('../results/', import.meta.url);

/** Every top-level compiled file but this one is a benchmark. */
function available(): string[] {
  return readdirSync(fileURLToPath(here))
    .filter((f) => f.endsWith('.js') && f !== 'run.js')
    .map((f) => f.slice(0, -3))
    .sort();
}

async function load(name: string): Promise<Benchmark> {
  const mod = (await import(new URL(`./${name}.js`, here).href)) as Partial<Benchmark>;
  if (typeof mod.run !== 'function') throw new Error(`bench/src/${name}.ts does not export run(): Promise<BenchResult>`);
  return mod as Benchmark;
}

async function main(argv: string[]): Promise<number> {
  const all = available();
  const unknown = argv.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (available: ${all.join(', ') || 'none'})`);
    return 2;
  }
  const names = argv.length > 0 ? argv : all;
  mkdirSync(fileURLToPath(resultsDir), { recursive: true });
  let failed = 0;
  for (const name of names) {
    const t0 = performance.now();
    try {
      const b = await load(name);
      // KDEFER_BENCH_RUNS=1 for a quick look; the figures in bench/results are RUNS runs.
      const runs = Number(process.env.KDEFER_BENCH_RUNS ?? RUNS) || RUNS;
      const res = await runRepeated(b, runs, (s) => console.error(s));
      const report: BenchReport = {
        bench: name,
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        node: process.version,
        cores: availableParallelism(),
        results: res.results,
        ratios: res.ratios,
        notes: res.notes,
        runs: res.runs,
        disturbed: res.disturbed,
        cpuShare: res.cpuShare,
        cpuRuns: res.cpuRuns,
        spread: res.spread,
      };
      const file = new URL(`${name}.json`, resultsDir);
      writeFileSync(file, formatReport(report));
      console.log(formatTable(report));
      console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s; written to ${fileURLToPath(file)})\n`);
    } catch (e) {
      failed++;
      console.error(`bench ${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
