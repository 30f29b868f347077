/**
 * harness.ts — what every benchmark returns, and the statistics it uses.
 *
 * A benchmark (bench/src/<name>.ts) exports `run(): Promise<BenchResult>`;
 * run.ts adds the header (bench, date, node, cores) and writes
 * bench/results/<name>.json in the DESIGN.md format. Benches never assert:
 * they measure, compute ratios of figures taken in the same process, and
 * say in `notes` how to read them.
 */

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
    for (const n of names) out.push(`ratio  ${n.padEnd(rw)}  ${fmt(r.ratios[n])}`);
  }
  if (r.notes.length > 0) {
    out.push('');
    for (const n of r.notes) out.push(`note: ${n}`);
  }
  return out.join('\n');
}
