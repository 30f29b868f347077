/**
 * harness.ts — what every benchmark returns, and the statistics it uses.
 *
 * A benchmark (bench/src/<name>.ts) exports `run(): Promise<BenchResult>`;
 * run.ts adds the header (bench, date, node, cores) and writes
 * bench/results/<name>.json in the DESIGN.md format. Benches never assert:
 * they measure, compute ratios of figures taken in the same process, and
 * say in `notes` how to read them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Units a result may be expressed in ('count': a tally, not a time; '%': a rate). */
export type Unit = 'ns' | 'us' | 'ms' | 'ops/s' | 'jiffies' | 'count' | '%';

/** One measured figure. */
export interface Result {
  name: string;
  /** the median of the samples */
  median: number;
  unit: Unit;
  /** how many samples the median is taken over */
  samples: number;
  /** the 99th percentile, where the samples are many enough for it to mean something */
  p99?: number;
}

/** What a benchmark's run() returns. */
export interface BenchResult {
  results: Result[];
  /** named ratios of two figures of this run (DESIGN.md: an issue names the ratios it expects) */
  ratios: Record<string, number>;
  /** how to read the figures: machine, method, goals, anomalies */
  notes: string[];
}

/** The file written to bench/results/<bench>.json. */
export interface BenchReport extends BenchResult {
  bench: string;
  date: string;
  node: string;
  cores: number;
  /** present when run.ts ran the bench several times (runRepeated) */
  runs?: number;
  disturbed?: number;
  cpuShare?: number[];
  /** each run's CPU accounting (watchCpu), in run order */
  cpuRuns?: CpuShare[];
  spread?: Record<string, { min: number; median: number; max: number }>;
}

/** A benchmark module. */
export interface Benchmark {
  run(): Promise<BenchResult>;
}

// ------------------------------------------------------------ statistics

function sorted(xs: readonly number[]): number[] {
  return xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
}

/** The median (mean of the two middle values for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0-100), nearest rank; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

/** Round to `digits` significant digits (keeps JSON readable without losing what the noise allows). */
export function sig(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

/**
 * A result from raw samples. `p99` is reported only when asked for and the
 * samples are at least 100 (below that the "99th percentile" is the maximum).
 */
export function summarize(name: string, samples: readonly number[], unit: Unit, opts: { p99?: boolean } = {}): Result {
  const finite = samples.filter((x) => Number.isFinite(x));
  const r: Result = { name, median: sig(median(finite)), unit, samples: finite.length };
  if (opts.p99 && finite.length >= 100) r.p99 = sig(percentile(finite, 99));
  return r;
}

/**
 * Two modes in a latency distribution? 1-D 2-means on log(x): returns the
 * threshold between the modes (the geometric mean of the two centres) when
 * the centres are at least `minFactor` apart and each holds at least
 * `minShare` of the samples, else null (one mode).
 */
export function twoModes(xs: readonly number[], minFactor = 3, minShare = 0.1): number | null {
  const all = sorted(xs).filter((x) => x > 0);
  if (all.length < 20) return null;
  // Drop the top 1 %: a few outliers (a descheduled thread, ms long) would
  // otherwise make a cluster of their own.
  const v = all.slice(0, Math.ceil(all.length * 0.99)).map(Math.log);
  let lo = v[Math.floor(v.length * 0.1)]!;
  let hi = v[Math.floor(v.length * 0.9)]!;
  let cut = 0;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    cut = v.findIndex((x) => x > mid);
    if (cut <= 0) return null;
    const nlo = v.slice(0, cut).reduce((a, b) => a + b, 0) / cut;
    const nhi = v.slice(cut).reduce((a, b) => a + b, 0) / (v.length - cut);
    if (nlo === lo && nhi === hi) break;
    lo = nlo;
    hi = nhi;
  }
  const share = Math.min(cut, v.length - cut) / v.length;
  if (Math.exp(hi - lo) < minFactor || share < minShare) return null;
  return Math.exp((lo + hi) / 2);
}

/** a / b, rounded; NaN if either is missing. */
export function ratio(a: number, b: number): number {
  return sig(a / b, 3);
}

/** Busy-wait `ms` milliseconds on this thread (no timers: they would let the thread sleep). */
export function spinFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

// ------------------------------------------------------------ output

/**
 * The report as JSON with one line per result, so that a diff of two runs
 * reads line by line (STYLE.md: one JSON line per result).
 */
export function formatReport(r: BenchReport): string {
  const lines: string[] = ['{'];
  lines.push(`  "bench": ${JSON.stringify(r.bench)},`);
  lines.push(`  "date": ${JSON.stringify(r.date)},`);
  lines.push(`  "node": ${JSON.stringify(r.node)},`);
  lines.push(`  "cores": ${r.cores},`);
  lines.push('  "results": [');
  r.results.forEach((x, i) => lines.push(`    ${JSON.stringify(x)}${i < r.results.length - 1 ? ',' : ''}`));
  lines.push('  ],');
  lines.push(`  "ratios": ${JSON.stringify(r.ratios)},`);
  if (r.runs !== undefined) {
    lines.push(`  "runs": ${r.runs},`);
    lines.push(`  "disturbed": ${r.disturbed ?? 0},`);
    lines.push(`  "cpuShare": ${JSON.stringify(r.cpuShare ?? [])},`);
    if (r.cpuRuns) lines.push(`  "cpuRuns": ${JSON.stringify(r.cpuRuns)},`);
    lines.push('  "spread": {');
    const sp = Object.entries(r.spread ?? {});
    sp.forEach(([n, v], i) => lines.push(`    ${JSON.stringify(n)}: ${JSON.stringify(v)}${i < sp.length - 1 ? ',' : ''}`));
    lines.push('  },');
  }
  lines.push('  "notes": [');
  r.notes.forEach((n, i) => lines.push(`    ${JSON.stringify(n)}${i < r.notes.length - 1 ? ',' : ''}`));
  lines.push('  ]');
  lines.push('}');
  return lines.join('\n') + '\n';
}

function fmt(x: number | undefined): string {
  if (x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** A readable table of the results, the ratios and the notes. */
export function formatTable(r: BenchReport): string {
  const rows = r.results.map((x) => [x.name, fmt(x.median), fmt(x.p99), x.unit, String(x.samples)]);
  const head = ['result', 'median', 'p99', 'unit', 'samples'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === 3 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  const out: string[] = [];
  out.push(`== ${r.bench} — node ${r.node}, ${r.cores} cores, ${r.date}`);
  out.push(line(head));
  out.push(w.map((n) => '-'.repeat(n)).join('  '));
  for (const row of rows) out.push(line(row));
  const names = Object.keys(r.ratios);
  if (names.length > 0) {
    out.push('');
    const rw = Math.max(...names.map((n) => n.length));
    for (const n of names) {
      const sp = r.spread?.[n];
      out.push(`ratio  ${n.padEnd(rw)}  ${fmt(r.ratios[n])}${sp ? `  (min ${fmt(sp.min)}, max ${fmt(sp.max)})` : ''}`);
    }
    if (r.runs !== undefined) out.push(`runs   ${r.runs}, disturbed ${r.disturbed ?? 0}`);
  }
  if (r.notes.length > 0) {
    out.push('');
    for (const n of r.notes) out.push(`note: ${n}`);
  }
  return out.join('\n');
}

// ------------------------------------------------------------ repeated runs, spread, disturbed runs

/** How many times run.ts runs each benchmark back to back. */
export const RUNS = 3;
/** A run whose threads got less than this share of the CPU time they could have had (watchCpu) is disturbed. */
export const UNDISTURBED_SHARE = 0.9;
const WATCH_MS = 50;

/** One thread's counters from /proc/self/task/<tid>/schedstat: ns on a CPU, ns runnable but waiting. */
function taskTimes(): Map<string, [number, number]> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  const m = new Map<string, [number, number]>();
  for (const tid of tids) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
      m.set(tid, [Number(f[0]), Number(f[1])]);
    } catch {
      /* the thread ended between readdir and read */
    }
  }
  return m;
}

/** Jiffies of the whole machine from /proc/stat: busy (everything but idle and iowait, steal included) and total. */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}
/** USER_HZ: the unit of /proc/stat (100 on every Linux architecture node runs on). */
const USER_HZ = 100;

/** What the process's threads got over a window, against what they could have got. */
export interface CpuShare {
  /** CPU time the threads of this process ran (ms) */
  gotMs: number;
  /**
   * CPU time they could have had (ms): min(demand, cores × wall, got + others),
   * where demand is each thread's run + runqueue wait (each at most the wall
   * time) summed; see watchCpu
   */
  expectedMs: number;
  /** CPU time the rest of the machine used meanwhile (ms, other processes and hypervisor steal) */
  othersMs: number;
  wallMs: number;
  /** gotMs / expectedMs; NaN where the kernel gives no schedstat (not Linux) */
  share: number;
}

/**
 * Watch the CPU time every thread of this process gets, as `bench scaling`'s
 * "cores got" does: /proc/self/task/<tid>/schedstat gives each thread's time
 * on a CPU and its time runnable but waiting for one (process.cpuUsage()
 * cannot: it sums every thread of the process, the idle ones' zero with the
 * busy ones' time, and says nothing of waiting). Threads come and go (each
 * Machine boots its own), so the threads are sampled every 50 ms and each
 * one's last sample counts; a thread first seen mid-window counts from 0.
 * What a thread did between its last sample and its exit is lost (< 50 ms).
 *
 * What the threads could have got: a thread can use at most the wall time,
 * and what it asked for is its run + wait; the process can use at most
 * min(threads, cores) × wall — so its own threads queueing behind each other
 * on the cores (a bench with 3 busy threads on 2 cores) is no disturbance;
 * and it lost only what the rest of the machine took — so a runqueue wait
 * that no other process explains (the wake-up latency of a halted virtual
 * CPU, counted as wait by the kernel) is no disturbance either. The share
 * is got / min(Σ min(run + wait, wall), cores × wall, got + others); a run
 * below UNDISTURBED_SHARE is disturbed.
 */
export function watchCpu(cores = availableParallelism()): { stop(): CpuShare } {
  const first = taskTimes();
  const none = { gotMs: NaN, expectedMs: NaN, othersMs: NaN, wallMs: NaN, share: NaN };
  if (!first) return { stop: () => none };
  const t0 = performance.now();
  const j0 = machineJiffies();
  const last = new Map(first);
  const sample = (): void => {
    for (const [tid, v] of taskTimes() ?? []) last.set(tid, v);
  };
  const timer = setInterval(sample, WATCH_MS);
  timer.unref();
  return {
    stop(): CpuShare {
      clearInterval(timer);
      sample();
      const wall = (performance.now() - t0) * 1e6; // ns
      const j1 = machineJiffies();
      let run = 0;
      let demand = 0;
      for (const [tid, [r, w]] of last) {
        const [r0, w0] = first.get(tid) ?? [0, 0];
        run += r - r0;
        demand += Math.min(r - r0 + (w - w0), wall);
      }
      const machineBusy = j0 && j1 ? ((j1.busy - j0.busy) * 1e9) / USER_HZ : Infinity;
      const others = Math.max(0, machineBusy - run);
      const expected = Math.min(demand, cores * wall, run + others);
      return {
        gotMs: sig(run / 1e6),
        expectedMs: sig(expected / 1e6),
        othersMs: Number.isFinite(others) ? sig(others / 1e6) : NaN,
        wallMs: sig(wall / 1e6),
        share: expected > 0 ? sig(Math.min(1, run / expected), 3) : NaN,
      };
    },
  };
}

/** The spread of one ratio over the runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** What run.ts adds to a report when it ran a bench several times. */
export interface RunsSummary {
  runs: number;
  /** runs whose threads got less than UNDISTURBED_SHARE of the CPU time they could have had (watchCpu) */
  disturbed: number;
  /** each run's share of CPU time got / could have had, in run order */
  cpuShare: number[];
  cpuRuns: CpuShare[];
  /** each ratio's min, median and max over the undisturbed runs (over all runs when every one was disturbed) */
  spread: Record<string, Spread>;
}

/**
 * Run `bench` `runs` times back to back and merge: the reported results and
 * ratios are those of the run whose ratios sit at the median (the
 * undisturbed runs only, unless all were disturbed, which the notes then
 * say), each ratio's spread is recorded, and so is how many runs were
 * disturbed. A disturbed run is not the figure: its threads waited for a
 * core, so its ratios measure the machine's other load as much as kdefer.
 */
export async function runRepeated(bench: Benchmark, runs = RUNS, log: (s: string) => void = () => {}): Promise<BenchResult & RunsSummary> {
  const done: { res: BenchResult; cpu: CpuShare }[] = [];
  for (let i = 0; i < runs; i++) {
    const w = watchCpu();
    const res = await bench.run();
    const cpu = w.stop();
    done.push({ res, cpu });
    log(
      `  run ${i + 1}/${runs}: threads got ${fmtShare(cpu.share)} of the CPU time they could have had (${cpu.gotMs} of ${cpu.expectedMs} ms over ${cpu.wallMs} ms; other processes used ${cpu.othersMs} ms)${cpu.share < UNDISTURBED_SHARE ? ' (disturbed)' : ''}`,
    );
  }
  const quiet = done.filter((d) => !(d.cpu.share < UNDISTURBED_SHARE));
  const pool = quiet.length > 0 ? quiet : done;
  const names = [...new Set(pool.flatMap((d) => Object.keys(d.res.ratios)))];
  const spread: Record<string, Spread> = {};
  const ratios: Record<string, number> = {};
  for (const n of names) {
    const xs = pool.map((d) => d.res.ratios[n]!).filter((x) => Number.isFinite(x));
    const s = sorted(xs);
    spread[n] = { min: s[0] ?? NaN, median: sig(median(xs), 3), max: s[s.length - 1] ?? NaN };
    ratios[n] = spread[n].median;
  }
  // The results (and notes) of the pooled run closest to the ratios' medians.
  const dist = (d: { res: BenchResult }): number =>
    names.reduce((a, n) => {
      const x = d.res.ratios[n]!;
      const m = ratios[n]!;
      return Number.isFinite(x) && Number.isFinite(m) && m !== 0 ? a + Math.abs(Math.log(x / m)) : a;
    }, 0);
  const rep = pool.reduce((a, d) => (dist(d) < dist(a) ? d : a));
  const disturbed = done.length - quiet.length;
  const notes = [
    ...rep.res.notes,
    `harness: ${runs} runs back to back; ratios are the median over the ${quiet.length > 0 ? `${quiet.length} undisturbed` : `${runs} (ALL DISTURBED: not a figure to quote)`} runs, "spread" their min/median/max; results are those of the run nearest the medians; ${disturbed} of ${runs} disturbed (threads got < ${UNDISTURBED_SHARE * 100} % of the CPU time they could have had: min(Σ per-thread run + runqueue wait, cores × wall, run + what other processes used), from /proc/self/task/*/schedstat and /proc/stat)`,
  ];
  return {
    results: rep.res.results,
    ratios,
    notes,
    runs,
    disturbed,
    cpuShare: done.map((d) => d.cpu.share),
    cpuRuns: done.map((d) => d.cpu),
    spread,
  };
}

function fmtShare(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'an unknown share (no schedstat)';
}
