/**
 * scaling — does the receive path scale with CPUs, and does it survive
 * overload? The seed paper's softnet story, measured on this machine.
 *
 *   (a) bh, softirq and napi, IRQ routing affinity, on 1 and 2 CPUs, at
 *       offered loads of 0.5, 1.1, 2, 4 and 8 × C per CPU (C: the 1-CPU
 *       NAPI capacity, measured first); rr routing at 1.1 × C per CPU;
 *       every run twice, the best kept;
 *   (b) speedups from the peaks: a path's throughput on n CPUs is the most
 *       it delivered at any of those loads (the usual "maximum throughput"
 *       — it does not depend on C being measured exactly)
 *       → softirq_speedup_2cpu, napi_speedup_2cpu, bh_speedup_2cpu;
 *   (c) napi against softirq (interrupt-per-packet delivery) at 8 × C per
 *       CPU on 2 CPUs, well past saturation → napi_vs_softirq_overload.
 *
 * Throughput is packets delivered to the protocol handler per second of
 * wall time, with the per-packet protocol work (~3 µs) dominating. The
 * device thread shares the machine's cores: its CPU share is reported, and
 * so is what other processes took during the run (on a shared machine that
 * is the first suspect of a low figure). Writes bench/results/scaling-*.svg
 * next to scaling.json. Never asserts.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  runScalingSweep,
  calibrate,
  computeSpeedups,
  formatScalingTable,
  SCALING_TABLE_LEGEND,
  scalingCharts,
  compactRate,
  DEFAULT_WORKLOAD,
  type ScalingRow,
  type ScalingReport,
} from '@kdefer/cli';
import { type BenchResult, type Result, ratio, sig } from './lib/harness.js';

const resultsDir = new URL('../results/', import.meta.url);

const SECONDS = 1.5;
/** Every run is repeated and the best kept: other processes only ever take throughput away. */
const REPEATS = 2;
const LOADS = [0.5, 1.1, 2, 4, 8];
/** The load of the rr runs (and of the per-load speedups the table shows). */
const SCALING_LOAD = 1.1;
const CPUS = [1, 2];

/** Machine-wide busy and total jiffies (/proc/stat), to tell how much others used. */
function procStat(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/**
 * Wait (up to QUIET_WAIT_MS, QUIET_BUDGET_MS in all) until the rest of the machine is quiet: other
 * processes busy below QUIET_BUSY of it over a QUIET_SAMPLE_MS sample. On a
 * shared machine other sessions run tests in bursts; measuring between them
 * costs them nothing and keeps their noise out of the figures.
 */
const QUIET_BUSY = 0.2;
const QUIET_SAMPLE_MS = 300;
const QUIET_WAIT_MS = 20_000;
/** The most the whole bench waits for quiet, so that it stays bounded on a busy machine. */
const QUIET_BUDGET_MS = 60_000;
let quietWaitedMs = 0;
let quietMisses = 0;
async function waitQuiet(): Promise<void> {
  const t0 = performance.now();
  const limit = Math.min(QUIET_WAIT_MS, QUIET_BUDGET_MS - quietWaitedMs);
  while (performance.now() - t0 < limit) {
    const a = procStat();
    if (!a) return;
    await new Promise((r) => setTimeout(r, QUIET_SAMPLE_MS));
    const b = procStat()!;
    if ((b.busy - a.busy) / Math.max(1, b.total - a.total) < QUIET_BUSY) {
      quietWaitedMs += performance.now() - t0;
      return;
    }
  }
  quietWaitedMs += performance.now() - t0;
  quietMisses++;
}

function log(s: string): void {
  process.stderr.write(s + '\n');
}

export async function run(): Promise<BenchResult> {
  const cores = availableParallelism();
  const load0 = loadavg()[0]!;
  const stat0 = procStat();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const w = { ...DEFAULT_WORKLOAD, queues: Math.max(2, ...CPUS) };
  const progress = (p: { run: number; runs: number; label: string; finished?: ScalingRow }): void => {
    if (p.finished) log(`  scaling ${p.run}/${p.runs} ${p.label}: ${compactRate(p.finished.deliveredPps)} delivered/s`);
  };

  // Calibration: the 1-CPU capacity C, best of two.
  await waitQuiet();
  const c1 = await calibrate(w, 1);
  await waitQuiet();
  const caps = [c1, await calibrate(w, 1)];
  const capacity = Math.max(...caps);
  log(`  scaling: 1-CPU capacity ${compactRate(capacity)} packets/s (calibrations ${caps.map((c) => compactRate(c)).join(', ')})`);

  // (a) every configuration REPEATS times, the best kept.
  const best = new Map<string, ScalingRow>();
  const keep = (rows: ScalingRow[]): void => {
    for (const r of rows) {
      const key = `${r.mode} ${r.routing} ${r.cpus} ${r.loadSpec}`;
      const b = best.get(key);
      if (!b || r.deliveredPps > b.deliveredPps) best.set(key, r);
    }
  };
  let last: ScalingReport | null = null;
  for (let k = 0; k < REPEATS; k++) {
    const sweep = {
      ...w,
      cpus: CPUS,
      modes: ['bh', 'softirq', 'napi'] as ('bh' | 'softirq' | 'napi')[],
      seconds: SECONDS,
      capacity,
      onProgress: progress,
      beforeRun: waitQuiet,
    };
    last = await runScalingSweep({ ...sweep, routings: ['affinity'], loads: LOADS.map((x) => ({ perCpu: x })) });
    keep(last.rows);
    keep((await runScalingSweep({ ...sweep, routings: ['rr'], loads: [{ perCpu: SCALING_LOAD }] })).rows);
  }
  const over = last!;
  const rows = [...best.values()].sort(
    (a, b) =>
      LOADS.indexOf(Number(a.loadSpec.slice(0, -1))) - LOADS.indexOf(Number(b.loadSpec.slice(0, -1))) ||
      a.routing.localeCompare(b.routing) ||
      ['bh', 'softirq', 'napi'].indexOf(a.mode) - ['bh', 'softirq', 'napi'].indexOf(b.mode) ||
      a.cpus - b.cpus,
  );
  computeSpeedups(rows, cores);
  const report: ScalingReport = { ...over, workload: w, capacity, rows };
  const stat1 = procStat();
  const cpu1 = process.cpuUsage(cpu0);
  const wallS = (performance.now() - t0) / 1000;

  // Charts next to the JSON.
  mkdirSync(fileURLToPath(resultsDir), { recursive: true });
  for (const c of scalingCharts(report)) writeFileSync(new URL(c.file, resultsDir), c.svg);

  const find = (mode: string, routing: string, cpus: number, load: number): ScalingRow | undefined =>
    rows.find((r) => r.mode === mode && r.routing === routing && r.cpus === cpus && r.loadSpec === `${load}x`);
  /** The most `mode` delivered on `cpus` CPUs at any load (its peak throughput). */
  const peak = (mode: string, routing: string, cpus: number): ScalingRow | undefined =>
    rows
      .filter((r) => r.mode === mode && r.routing === routing && r.cpus === cpus)
      .reduce<ScalingRow | undefined>((a, r) => (a && a.deliveredPps >= r.deliveredPps ? a : r), undefined);
  const speedup = (mode: string, routing: string): number => {
    const one = peak(mode, routing, 1);
    const two = peak(mode, routing, 2);
    return one && two ? ratio(two.deliveredPps, one.deliveredPps) : NaN;
  };
  /** The same, per core the CPU threads actually got (what the machine's other load does not hide). */
  const perCoreSpeedup = (mode: string, routing: string): number => {
    const one = peak(mode, routing, 1);
    const two = peak(mode, routing, 2);
    return one && two && one.cpuThreadCores > 0 && two.cpuThreadCores > 0
      ? ratio(two.deliveredPps / two.cpuThreadCores, one.deliveredPps / one.cpuThreadCores)
      : NaN;
  };
  const overload = (load: number, cpus: number): number => {
    const n = find('napi', 'affinity', cpus, load);
    const s = find('softirq', 'affinity', cpus, load);
    return n && s ? ratio(n.deliveredPps, Math.max(1, s.deliveredPps)) : NaN;
  };
  const maxLoad = Math.max(...LOADS);
  const ratios: Record<string, number> = {
    softirq_speedup_2cpu: speedup('softirq', 'affinity'),
    napi_speedup_2cpu: speedup('napi', 'affinity'),
    bh_speedup_2cpu: speedup('bh', 'affinity'),
    napi_vs_softirq_overload: overload(maxLoad, 2),
    softirq_rr_speedup_2cpu: speedup('softirq', 'rr'),
    napi_rr_speedup_2cpu: speedup('napi', 'rr'),
    bh_rr_speedup_2cpu: speedup('bh', 'rr'),
    napi_vs_softirq_4x_2cpu: overload(4, 2),
    napi_vs_softirq_4x_1cpu: overload(4, 1),
    device_cpu_share_max: sig(Math.max(...rows.map((r) => r.deviceCpuShare)), 3),
    // Diagnostics: the cores the two CPU threads got, and the speedups per core got.
    cores_got_softirq_2cpu: sig(peak('softirq', 'affinity', 2)?.cpuThreadCores ?? NaN, 3),
    cores_got_napi_2cpu: sig(peak('napi', 'affinity', 2)?.cpuThreadCores ?? NaN, 3),
    softirq_speedup_2cpu_per_core_got: perCoreSpeedup('softirq', 'affinity'),
    napi_speedup_2cpu_per_core_got: perCoreSpeedup('napi', 'affinity'),
    bh_speedup_2cpu_per_core_got: perCoreSpeedup('bh', 'affinity'),
  };

  const results: Result[] = rows.map((r) => {
    const x = {
      name: `${r.mode} ${r.routing} ${r.cpus}cpu ${r.loadSpec}`,
      median: sig(r.deliveredPps),
      unit: 'ops/s' as const,
      samples: REPEATS,
      offered: sig(r.offeredPps),
      speedup: r.speedup === null ? null : sig(r.speedup, 3),
      delivered_per_cpu: r.deliveredPpsPerCpu.map((x) => sig(x, 3)),
      irqs_per_packet: Number.isFinite(r.irqsPerPacket) ? sig(r.irqsPerPacket, 3) : null,
      drops_per_s: sig(r.dropPps),
      time_squeeze: r.timeSqueeze,
      cores_got: sig(r.cpuThreadCores, 3),
      device_cpu: sig(r.deviceCpuShare, 3),
      books: r.accounting.unaccounted === 0 && r.accounting.leftInRings === 0 && r.kernelReports.length === 0 ? 'balanced' : 'NOT balanced',
    };
    return x as Result;
  });

  const machineBusy = stat0 && stat1 ? (stat1.busy - stat0.busy) / Math.max(1, stat1.total - stat0.total) : NaN;
  const ourShare = (cpu1.user + cpu1.system) / 1e6 / wallS / cores;
  const others = Number.isFinite(machineBusy) ? Math.max(0, machineBusy - ourShare) : NaN;
  ratios.other_processes_cpu_share = sig(others, 3);

  const notes = [
    `machine: ${cores} logical cores (speedups are never claimed past them), load average ${load0.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end; other processes took ${(others * 100).toFixed(1)}% of the machine's CPU during the bench (/proc/stat), kdefer ${(ourShare * 100).toFixed(1)}%; each run waited for the machine to be quiet (others < ${QUIET_BUSY * 100}% busy): ${(quietWaitedMs / 1000).toFixed(0)} s in all, ${quietMisses} runs started without a quiet moment after ${QUIET_WAIT_MS / 1000} s`,
    `workload: protocol ${w.protoWork} + driver ${w.driverWork} rounds of ~2 ns per packet, per-CPU statistics, ${w.queues} RX queues, rings of 4096, device batches every ${w.intervalUs} µs, lockdep off`,
    `load unit C = ${compactRate(capacity)} packets/s: what NAPI delivers on 1 CPU when overloaded (best of ${caps.length} calibrations: ${caps.map((c) => compactRate(c)).join(', ')}); "1.1x" on n CPUs offers 1.1 × C × n`,
    `throughput = packets delivered to the protocol handler per second of wall time over ${SECONDS} s after a 0.5 s warm-up; every row is the best of ${REPEATS} runs; the *_speedup_2cpu ratios compare peaks (the most a path delivered at any load) on 2 and 1 CPUs, the table's speedup column the same load`,
    `targets: softirq_speedup_2cpu and napi_speedup_2cpu >= 1.7, bh_speedup_2cpu <= 1.2, napi_vs_softirq_overload >= 2 (2 CPUs, ${maxLoad}x)`,
    `the device thread (offering packets, raising IRQs) used at most ${(ratios.device_cpu_share_max! * 100).toFixed(1)}% of a core; it shares the cores with the 2 CPU threads, which bounds 2-CPU speedups a little below 2`,
    `"cores got" = CPU time the CPU threads received over the window (/proc/self/task/<tid>/schedstat) per second: 2 CPUs can only double throughput if they get ~2 cores; the *_per_core_got ratios divide that out`,
    `charts: ${scalingCharts(report)
      .map((c) => `bench/results/${c.file}`)
      .join(', ')}`,
    `peaks (affinity), packets/s: ${['bh', 'softirq', 'napi'].map((m) => `${m} ${compactRate(peak(m, 'affinity', 1)?.deliveredPps ?? NaN)} -> ${compactRate(peak(m, 'affinity', 2)?.deliveredPps ?? NaN)} (at ${peak(m, 'affinity', 1)?.loadSpec} and ${peak(m, 'affinity', 2)?.loadSpec})`).join('; ')}`,
    ...formatScalingTable(report).trimEnd().split('\n'),
    ...SCALING_TABLE_LEGEND,
  ];
  return { results, ratios, notes };
}
