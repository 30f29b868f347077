/**
 * scaling.ts — the SMP scalability lab: one receive workload, three
 * generations of the receive path, measured against CPUs, interrupt routing
 * and offered load.
 *
 * One run:
 *   1. boot a machine of `cpus` CPUs with the built-in rx module and bring
 *      eth0 up in `mode` (bh | softirq | napi) with the workload's costs;
 *   2. route the RX queues' IRQs: rr (round-robin over every CPU, the
 *      IO-APIC default), affinity (queue q on CPU q mod cpus) or cpu0;
 *   3. start the device thread (NetDevice) at `load` packets/s, let it warm
 *      up, then count for `seconds`: packets delivered to the protocol
 *      (softnet_stat's "processed") per second of wall time, interrupts,
 *      drops, time_squeeze;
 *   4. stop the device, let the machine drain, and check the books: every
 *      packet offered was delivered exactly once or counted as dropped.
 *
 * A sweep runs the cross product of CPU counts, modes, routings and loads,
 * one fresh machine per run, never two at once (on a small machine a second
 * run would be the noise of the first). A load is absolute (packets/s) or
 * relative, `2x`: twice what `cpus` CPUs could take at the 1-CPU capacity
 * C measured by a calibration run (NAPI, 1 CPU, overloaded), so that runs
 * on different CPU counts are equally loaded.
 *
 * This file prints nothing: commands/bench.ts and bench/src/scaling.ts do.
 */
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { Machine, NetDevice } from '@kdefer/workers';
import { NET_RX_SOFTIRQ, MAX_CPUS, KdeferError, BH22_SHARED, bh22_stats_of, hostSharedArray, type Era } from '@kdefer/core';
import {
  RX,
  RX_IRQ_BASE,
  RX_MAX_QUEUES,
  RX_RING_SIZE,
  RX_NAMES,
  RX_MODES,
  RX_CHECK_MAX,
  PCPU_WORDS,
  PC_BH_SQUEEZE,
  PC_BH_DROPPED,
  PC_BH_RUNS,
  PC_TID,
  ST_BH_OVERLAP,
  ST_NAPI_IRQ_ON,
  ST_DUPLICATES,
  ST_UNCHECKED,
  type RxMode,
  type RxConfig,
} from '../modules/rx.js';
import { lineChart, MODE_COLORS, ROUTING_DASH, type Series } from '../charts.js';

/** The built-in rx module, as Machine.boot loads it. */
export const rxModule = new URL('../modules/rx.js', import.meta.url);

export const ROUTINGS = ['rr', 'affinity', 'cpu0'] as const;
export type Routing = (typeof ROUTINGS)[number];

/** The per-packet costs and the device's shape, the same for every mode. */
export interface ScalingWorkload {
  /** protocol work per packet, iterations of ~2 ns (default 1500: ~3 µs) */
  protoWork: number;
  /** driver work per packet where it leaves the ring, iterations (default 250) */
  driverWork: number;
  /** statistics in one shared counter set instead of per-CPU counters */
  sharedStats: boolean;
  /** RX queues (default: the largest CPU count of the sweep, at least 2) */
  queues: number;
  /** the device's sleep between batches, µs (default 500) */
  intervalUs: number;
}

export const DEFAULT_WORKLOAD: Omit<ScalingWorkload, 'queues'> = {
  protoWork: 1500,
  driverWork: 250,
  sharedStats: false,
  intervalUs: 500,
};

/** How long the device runs before counting starts (JIT warm-up, rings filling). */
const DEFAULT_WARMUP_S = 0.5;
/** How long the machine may take to drain after the device stops. */
const DRAIN_TIMEOUT_MS = 15_000;
/** The progress callback's period. */
const TICK_MS = 100;

export interface RunOptions extends Partial<ScalingWorkload> {
  mode: RxMode;
  routing: Routing;
  cpus: number;
  /** offered packets per second, all queues */
  load: number;
  /** measured seconds (default 2) */
  seconds?: number;
  /** seconds before counting (default 0.5) */
  warmupSeconds?: number;
  /** record every packet's fate (tests); the device stops after RX_CHECK_MAX per queue */
  check?: boolean;
  /** stop offering after this many packets (default: none, or the check capacity) */
  maxPackets?: number;
  /** lock validator on the CPUs (default off: it is a debugging kernel's cost) */
  lockdep?: boolean;
  /** the kernel era to boot (default: '2.2' for bh, whose NET_BH only 2.2 has; else 6.x) */
  era?: Era;
  signal?: AbortSignal;
  /** every ~100 ms while counting: seconds counted and packets/s delivered so far */
  onTick?: (elapsedS: number, deliveredPps: number) => void;
}

/** Counters at one instant. */
interface Snapshot {
  t: number;
  offered: number;
  missed: number;
  delivered: number;
  backlogDropped: number;
  bhDropped: number;
  timeSqueeze: number;
  hardirqs: number;
  netRx: number;
  /** CPU time the CPU threads got so far (ms, summed), -1 if the OS does not say */
  cpuMs: number;
}

/** The books after the run drained. */
export interface RunAccounting {
  offered: number;
  delivered: number;
  /** dropped by the card (ring full), by netif_rx (backlog full), by the bh path's global backlog */
  droppedDevice: number;
  droppedBacklog: number;
  droppedBh: number;
  /** offered - delivered - dropped: must be 0 */
  unaccounted: number;
  /** packets still in a ring or backlog after the drain: must be 0 */
  leftInRings: number;
  /** with check: packets with neither or both fates, packets delivered or dropped twice */
  missing: number;
  both: number;
  duplicates: number;
  /** with check: packets beyond the bitmap */
  unchecked: number;
}

export interface RunResult {
  mode: RxMode;
  routing: Routing;
  cpus: number;
  queues: number;
  /** the load asked for, packets/s */
  load: number;
  /** measured over the counted window */
  seconds: number;
  offeredPps: number;
  deliveredPps: number;
  /** delivered per CPU over the window, packets/s */
  deliveredPpsPerCpu: number[];
  /** rx hardirqs per delivered packet, over the window (NaN when nothing was delivered) */
  irqsPerPacket: number;
  /** packets dropped (any place) over the window, and per second */
  drops: number;
  dropPps: number;
  /** net_rx_action (or 2.2 net_bh) runs that stopped with work left, over the window */
  timeSqueeze: number;
  /** NET_RX_SOFTIRQ runs over the window */
  netRxRuns: number;
  /** bh mode: net_bh runs per CPU over the whole run */
  bhRuns: number[];
  /**
   * cores the CPU threads actually got over the window (CPU time / wall
   * time, summed; -1 unknown): below `cpus` when other threads — the device,
   * the host, other processes — took part of the machine
   */
  cpuThreadCores: number;
  /** the device thread's CPU time over its running time, and its batches */
  deviceCpuShare: number;
  deviceWakeups: number;
  accounting: RunAccounting;
  /** bottom halves that overlapped (bh), polls with their IRQ enabled (napi): both must be 0 */
  bhOverlap: number;
  /** era 2.2: do_bottom_half calls that found another CPU running bottom halves (NET_BH already taken) */
  bhBusy: number;
  napiIrqOn: number;
  softnetStat: string;
  procInterrupts: string;
  /** the kernel reports (machine.reports() titles) */
  kernelReports: string[];
  aborted: boolean;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function route(m: Machine, routing: Routing, queues: number, cpus: number): void {
  const all = Array.from({ length: cpus }, (_, c) => c);
  for (let q = 0; q < queues; q++) {
    const irq = RX_IRQ_BASE + q;
    if (routing === 'rr') m.setIrqAffinity(irq, all);
    else if (routing === 'affinity') m.setIrqAffinity(irq, [q % cpus]);
    else m.setIrqAffinity(irq, [0]);
  }
}

function snapshot(m: Machine, dev: NetDevice, pcpu: Int32Array[], queues: number): Snapshot {
  const d = dev.stats();
  const sn = m.softnetStat();
  const irqs = Array.from({ length: queues }, (_, q) => sum(m.irqCounts(RX_IRQ_BASE + q)));
  return {
    t: performance.now(),
    offered: d.offered,
    missed: sum(d.missed),
    delivered: sum(sn.map((s) => s.processed)),
    backlogDropped: sum(sn.map((s) => s.dropped)),
    bhDropped: sum(pcpu.map((a) => Atomics.load(a, PC_BH_DROPPED))),
    timeSqueeze: sum(sn.map((s) => s.time_squeeze)) + sum(pcpu.map((a) => Atomics.load(a, PC_BH_SQUEEZE))),
    hardirqs: sum(irqs),
    netRx: sum(m.softirqCounts().map((row) => row[NET_RX_SOFTIRQ]!)),
    cpuMs: cpuThreadsMs(pcpu),
  };
}

/** CPU time of the CPU threads (ms), from /proc/self/task/<tid>/schedstat; -1 if unknown. */
function cpuThreadsMs(pcpu: Int32Array[]): number {
  let total = 0;
  for (const a of pcpu) {
    const tid = Atomics.load(a, PC_TID);
    if (tid <= 0) return -1;
    try {
      total += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    } catch {
      return -1;
    }
  }
  return total;
}

function validate(o: RunOptions, queues: number): void {
  if (!RX_MODES.includes(o.mode)) throw new KdeferError(`scaling: mode '${String(o.mode)}' is not one of ${RX_MODES.join(', ')}`);
  if (!ROUTINGS.includes(o.routing)) throw new KdeferError(`scaling: routing '${String(o.routing)}' is not one of ${ROUTINGS.join(', ')}`);
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > MAX_CPUS)
    throw new KdeferError(`scaling: cpus must be an integer from 1 to ${MAX_CPUS}`);
  if (!Number.isInteger(queues) || queues < 1 || queues > RX_MAX_QUEUES)
    throw new KdeferError(`scaling: queues must be 1-${RX_MAX_QUEUES}`);
  if (!(o.load > 0) || !Number.isFinite(o.load))
    throw new KdeferError(`scaling: load must be a positive number of packets/s, not ${o.load}`);
}

/** Run one configuration on a fresh machine; the machine and the device are always shut down. */
export async function runScalingOnce(o: RunOptions): Promise<RunResult> {
  const queues = o.queues ?? Math.max(2, o.cpus);
  validate(o, queues);
  const w = {
    ...DEFAULT_WORKLOAD,
    ...stripUndefined({ protoWork: o.protoWork, driverWork: o.driverWork, sharedStats: o.sharedStats, intervalUs: o.intervalUs }),
  };
  const seconds = o.seconds ?? 2;
  const warmup = o.warmupSeconds ?? DEFAULT_WARMUP_S;
  const checkCap = o.check ? RX_CHECK_MAX : 0;
  const maxPackets = o.maxPackets ?? (o.check ? RX_CHECK_MAX * queues : 0);

  const era = o.era ?? (o.mode === 'bh' ? '2.2' : undefined);
  const m = await Machine.boot({ cpus: o.cpus, modules: [rxModule], lockdep: o.lockdep ?? false, era });
  try {
    const cfg: RxConfig = { mode: o.mode, queues, protoWork: w.protoWork, driverWork: w.driverWork, sharedStats: w.sharedStats, checkCap };
    await m.call(0, RX, 'up', cfg);
    route(m, o.routing, queues, o.cpus);
    const pcpu = m.perCpuArray(RX_NAMES.pcpu, Int32Array, PCPU_WORDS);
    const stats = m.sharedArray(RX_NAMES.stats, Int32Array);
    const dev = await NetDevice.create(m.mem, {
      rings: RX_NAMES.rings,
      queues,
      irqBase: RX_IRQ_BASE,
      ringSize: RX_RING_SIZE,
      rate: o.load,
      intervalUs: w.intervalUs,
      maxPackets,
    });
    try {
      dev.start();
      await pause(warmup * 1000, o.signal);
      const a = snapshot(m, dev, pcpu, queues);
      const perCpu0 = m.softnetStat().map((s) => s.processed);
      let b = a;
      while (!o.signal?.aborted) {
        const left = a.t + seconds * 1000 - performance.now();
        if (left <= 0) break;
        await pause(Math.min(TICK_MS, left), o.signal);
        b = snapshot(m, dev, pcpu, queues);
        o.onTick?.((b.t - a.t) / 1000, ((b.delivered - a.delivered) * 1000) / Math.max(1, b.t - a.t));
      }
      b = snapshot(m, dev, pcpu, queues);
      const perCpu1 = m.softnetStat().map((s) => s.processed);
      // A bounded burst is offered in full, however late the device thread got going.
      const burstEnd = performance.now() + DRAIN_TIMEOUT_MS;
      while (maxPackets > 0 && dev.stats().offered < maxPackets && performance.now() < burstEnd && !o.signal?.aborted)
        await pause(5, o.signal);
      await dev.pause();
      let drainError = '';
      try {
        await m.quiesce({ timeoutMs: DRAIN_TIMEOUT_MS });
      } catch (e) {
        drainError = e instanceof Error ? e.message : String(e);
      }
      const fin = snapshot(m, dev, pcpu, queues);
      const ds = dev.stats();
      const win = Math.max(1e-9, (b.t - a.t) / 1000);
      const delivered = b.delivered - a.delivered;
      const drops = b.missed - a.missed + (b.backlogDropped - a.backlogDropped) + (b.bhDropped - a.bhDropped);
      const acct: RunAccounting = {
        offered: fin.offered,
        delivered: fin.delivered,
        droppedDevice: fin.missed,
        droppedBacklog: fin.backlogDropped,
        droppedBh: fin.bhDropped,
        unaccounted: fin.offered - fin.delivered - fin.missed - fin.backlogDropped - fin.bhDropped,
        leftInRings: sum(ds.pending) + sum(m.softnetStat().map((s) => s.input_qlen + s.process_qlen)),
        missing: 0,
        both: 0,
        duplicates: Atomics.load(stats, ST_DUPLICATES),
        unchecked: Atomics.load(stats, ST_UNCHECKED),
      };
      if (o.check) Object.assign(acct, checkBitmap(m, queues, ds.produced));
      const kernelReports = m.reports().map((r) => r.title);
      if (drainError) kernelReports.push(`drain: ${drainError}`);
      const result: RunResult = {
        mode: o.mode,
        routing: o.routing,
        cpus: o.cpus,
        queues,
        load: o.load,
        seconds: win,
        offeredPps: (b.offered - a.offered) / win,
        deliveredPps: delivered / win,
        deliveredPpsPerCpu: perCpu1.map((n, c) => (n - perCpu0[c]!) / win),
        irqsPerPacket: delivered > 0 ? (b.hardirqs - a.hardirqs) / delivered : NaN,
        drops,
        dropPps: drops / win,
        timeSqueeze: b.timeSqueeze - a.timeSqueeze,
        netRxRuns: b.netRx - a.netRx,
        bhRuns: pcpu.map((x) => Atomics.load(x, PC_BH_RUNS)),
        cpuThreadCores: a.cpuMs >= 0 && b.cpuMs >= 0 ? (b.cpuMs - a.cpuMs) / 1000 / win : -1,
        deviceCpuShare: ds.cpuShare,
        deviceWakeups: ds.wakeups,
        accounting: acct,
        bhOverlap: Atomics.load(stats, ST_BH_OVERLAP),
        bhBusy: era === '2.2' ? bh22_stats_of(hostSharedArray(m.mem, BH22_SHARED, Int32Array)).busy : 0,
        napiIrqOn: Atomics.load(stats, ST_NAPI_IRQ_ON),
        softnetStat: m.procNetSoftnetStat(),
        procInterrupts: m.procInterrupts(),
        kernelReports,
        aborted: o.signal?.aborted === true,
      };
      if (drainError === '' && !m.panicked()) await m.call(0, RX, 'down');
      return result;
    } finally {
      await dev.close();
    }
  } finally {
    await m.shutdown();
  }
}

/** Read the check bitmap: every packet the device wrote must have exactly one fate. */
function checkBitmap(m: Machine, queues: number, produced: number[]): { missing: number; both: number } {
  const bits = m.sharedArray(RX_NAMES.check, Int32Array);
  const perQueue = bits.length / RX_MAX_QUEUES;
  let missing = 0;
  let both = 0;
  for (let q = 0; q < queues; q++) {
    const n = Math.min(produced[q]!, RX_CHECK_MAX);
    for (let s = 0; s < n; s++) {
      const b = 2 * s;
      const v = (bits[q * perQueue + (b >>> 5)]! >>> (b & 31)) & 3;
      if (v === 0) missing++;
      else if (v === 3) both++;
    }
  }
  return { missing, both };
}

async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    /* aborted */
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ------------------------------------------------------------ sweeps

/** An offered load: packets/s, or `perCpu` times the 1-CPU capacity times the run's CPU count. */
export type LoadSpec = { pps: number } | { perCpu: number };

/** Parse "250000", "250k", "1.5M" (packets/s) or "2x" (relative to the calibrated capacity). */
export function parseLoad(s: string): LoadSpec {
  const t = s.trim();
  const rel = /^(\d+(?:\.\d+)?)x$/i.exec(t);
  if (rel) {
    const v = Number(rel[1]);
    if (v > 0) return { perCpu: v };
  }
  const abs = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(t);
  if (abs) {
    const v = Number(abs[1]) * (abs[2] === '' ? 1 : /k/i.test(abs[2]!) ? 1e3 : 1e6);
    if (v > 0) return { pps: v };
  }
  throw new KdeferError(`scaling: load '${s}' is neither packets/s (250000, 250k, 1.5M) nor a multiple of the capacity (2x)`);
}

export function loadLabel(l: LoadSpec): string {
  return 'perCpu' in l ? `${l.perCpu}x` : String(l.pps);
}

export interface SweepOptions extends Partial<Omit<ScalingWorkload, 'queues'>> {
  cpus: number[];
  modes: RxMode[];
  routings: Routing[];
  loads: LoadSpec[];
  /** RX queues (default max(cpus), at least 2) */
  queues?: number;
  seconds?: number;
  warmupSeconds?: number;
  /** the 1-CPU capacity for relative loads, packets/s (default: measured by a calibration run) */
  capacity?: number;
  signal?: AbortSignal;
  onProgress?: (p: SweepProgress) => void;
  /** awaited before each run (a benchmark may wait there for the machine to be quiet) */
  beforeRun?: () => Promise<void>;
}

export interface SweepProgress {
  /** runs done, and in all (the calibration counts as one) */
  run: number;
  runs: number;
  /** what runs now: "napi affinity 2 CPUs 600k/s" */
  label: string;
  elapsedS: number;
  seconds: number;
  deliveredPps: number;
  /** the run that just finished, when one did */
  finished?: ScalingRow;
}

export interface ScalingRow extends RunResult {
  /** the load as asked for ("2x" or packets/s) */
  loadSpec: string;
  /** delivered over the same mode, routing and load on 1 CPU; null without a 1-CPU run or past the core count */
  speedup: number | null;
}

export interface ScalingReport {
  date: string;
  node: string;
  /** logical cores of this machine: speedups are never claimed past it */
  cores: number;
  workload: ScalingWorkload;
  seconds: number;
  /** 1-CPU capacity used for relative loads, packets/s (0 if none was needed) */
  capacity: number;
  rows: ScalingRow[];
  aborted: boolean;
}

/** A load that surely overloads one CPU, for the calibration run. */
const CALIBRATION_LOAD = 2_000_000;

/**
 * The 1-CPU capacity C: packets/s NAPI delivers on one CPU when overloaded
 * (the card drops the excess, so this is the path's ceiling).
 */
export async function calibrate(
  w: Partial<ScalingWorkload>,
  seconds: number,
  signal?: AbortSignal,
  onTick?: (s: number, pps: number) => void,
): Promise<number> {
  let load = CALIBRATION_LOAD;
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await runScalingOnce({ ...w, mode: 'napi', routing: 'affinity', cpus: 1, load, seconds, signal, onTick });
    if (r.deliveredPps < 0.8 * r.offeredPps && r.deliveredPps > 0) return r.deliveredPps;
    if (signal?.aborted) return r.deliveredPps;
    load *= 4;
  }
  throw new KdeferError(
    `scaling: calibration could not overload one CPU at ${load / 4} packets/s: lower --load or raise the work per packet`,
  );
}

/** Run the cross product of `o`'s CPU counts, modes, routings and loads. */
export async function runScalingSweep(o: SweepOptions): Promise<ScalingReport> {
  const cpusList = [...new Set(o.cpus)].sort((a, b) => a - b);
  const queues = o.queues ?? Math.min(RX_MAX_QUEUES, Math.max(2, ...cpusList));
  const workload: ScalingWorkload = {
    ...DEFAULT_WORKLOAD,
    ...stripUndefined({ protoWork: o.protoWork, driverWork: o.driverWork, sharedStats: o.sharedStats, intervalUs: o.intervalUs }),
    queues,
  };
  const seconds = o.seconds ?? 2;
  const needsCapacity = o.loads.some((l) => 'perCpu' in l);
  const plan: { cpus: number; mode: RxMode; routing: Routing; load: LoadSpec }[] = [];
  for (const load of o.loads)
    for (const mode of o.modes) for (const routing of o.routings) for (const cpus of cpusList) plan.push({ cpus, mode, routing, load });
  const runs = plan.length + (needsCapacity && o.capacity === undefined ? 1 : 0);
  let run = 0;
  const progress = (label: string, elapsedS: number, pps: number, finished?: ScalingRow): void =>
    o.onProgress?.({ run, runs, label, elapsedS, seconds, deliveredPps: pps, finished });

  let capacity = o.capacity ?? 0;
  if (needsCapacity && o.capacity === undefined) {
    const label = 'calibration: napi, 1 CPU, overloaded';
    progress(label, 0, 0);
    capacity = await calibrate(workload, seconds, o.signal, (s, pps) => progress(label, s, pps));
    run++;
  }
  const rows: ScalingRow[] = [];
  const cores = availableParallelism();
  for (const p of plan) {
    if (o.signal?.aborted) break;
    const load = 'perCpu' in p.load ? p.load.perCpu * capacity * p.cpus : p.load.pps;
    const label = `${p.mode} ${p.routing} ${p.cpus} CPU${p.cpus > 1 ? 's' : ''} ${compactRate(load)}/s`;
    progress(label, 0, 0);
    await o.beforeRun?.();
    const r = await runScalingOnce({
      ...workload,
      mode: p.mode,
      routing: p.routing,
      cpus: p.cpus,
      load,
      seconds,
      warmupSeconds: o.warmupSeconds,
      signal: o.signal,
      onTick: (s, pps) => progress(label, s, pps),
    });
    const row: ScalingRow = { ...r, loadSpec: loadLabel(p.load), speedup: null };
    rows.push(row);
    run++;
    progress(label, seconds, r.deliveredPps, row);
  }
  computeSpeedups(rows, cores);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    node: process.version,
    cores,
    workload,
    seconds,
    capacity,
    rows,
    aborted: o.signal?.aborted === true,
  };
}

/** A 1-CPU run that delivered less than this share of its offered load has collapsed: no speedup is computed over it. */
const COLLAPSED = 0.01;

/**
 * Speedup of each row over its 1-CPU twin (same mode, routing and load);
 * none past the machine's core count, and none over a 1-CPU run that
 * collapsed (receive livelock: a ratio over almost nothing means nothing).
 */
export function computeSpeedups(rows: ScalingRow[], cores: number): void {
  for (const r of rows) {
    const base = rows.find((x) => x.cpus === 1 && x.mode === r.mode && x.routing === r.routing && x.loadSpec === r.loadSpec);
    const usable = base !== undefined && base.deliveredPps > 0 && base.deliveredPps >= COLLAPSED * base.offeredPps;
    r.speedup = usable && r.cpus <= cores ? r.deliveredPps / base.deliveredPps : null;
  }
}

/** 1234567 -> "1.23M" */
export function compactRate(n: number): string {
  if (n < 1000) return n.toFixed(0);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : n < 1e5 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(2)}M`;
}

// ------------------------------------------------------------ presenting

/** The results as a table: one line per run. */
export function formatScalingTable(rep: ScalingReport): string {
  const head = [
    'mode',
    'routing',
    'CPUs',
    'load',
    'offered/s',
    'delivered/s',
    'speedup',
    'irq/pkt',
    'drops/s',
    'squeeze',
    'cores got',
    'dev CPU',
  ];
  const rows = rep.rows.map((r) => [
    r.mode,
    r.routing,
    String(r.cpus),
    r.loadSpec.endsWith('x') ? r.loadSpec : compactRate(Number(r.loadSpec)),
    compactRate(r.offeredPps),
    compactRate(r.deliveredPps),
    r.speedup !== null
      ? `${r.speedup.toFixed(2)}x`
      : r.cpus > rep.cores
        ? `>${rep.cores} cores`
        : collapsedBase(rep.rows, r)
          ? 'vs ~0'
          : '-',
    Number.isFinite(r.irqsPerPacket) ? r.irqsPerPacket.toFixed(4) : '-',
    compactRate(r.dropPps),
    String(r.timeSqueeze),
    r.cpuThreadCores >= 0 ? r.cpuThreadCores.toFixed(2) : '?',
    `${(r.deviceCpuShare * 100).toFixed(1)}%`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/** What the table's columns mean. */
export const SCALING_TABLE_LEGEND = [
  'load: packets/s, or Nx = N × the 1-CPU capacity × CPUs; offered/delivered: packets/s over the counted window',
  "speedup: delivered over the same mode, routing and load on 1 CPU ('vs ~0': the 1-CPU run delivered almost nothing)",
  'irq/pkt: rx hardirqs per delivered packet; drops/s: ring full + backlog full; squeeze: net_rx_action (or net_bh) stopped with work left',
  'cores got: CPU time the CPU threads received per second (below the CPU count when the device, the host or other processes took some); dev CPU: the device thread',
];

/** Whether `r`'s 1-CPU twin collapsed (so that no speedup is shown over it). */
function collapsedBase(rows: ScalingRow[], r: ScalingRow): boolean {
  const base = rows.find((x) => x.cpus === 1 && x.mode === r.mode && x.routing === r.routing && x.loadSpec === r.loadSpec);
  return r.cpus > 1 && base !== undefined && base.deliveredPps < COLLAPSED * base.offeredPps;
}

/** The charts of a report: file name and SVG text. */
export function scalingCharts(rep: ScalingReport): { file: string; svg: string }[] {
  const out: { file: string; svg: string }[] = [];
  const w = rep.workload;
  const work = `protocol ${w.protoWork} + driver ${w.driverWork} rounds/packet, ${w.sharedStats ? 'shared' : 'per-CPU'} stats, ${w.queues} RX queues; ${rep.cores}-core machine, node ${rep.node}`;
  // 1. Peak throughput against CPUs, per mode and routing.
  const cpusSeen = [...new Set(rep.rows.map((r) => r.cpus))].sort((a, b) => a - b);
  if (cpusSeen.length > 1) {
    const series: Series[] = [];
    for (const mode of RX_MODES) {
      for (const routing of ROUTINGS) {
        const rows = rep.rows.filter((r) => r.mode === mode && r.routing === routing && r.cpus <= rep.cores);
        if (rows.length === 0) continue;
        const points: [number, number][] = [];
        for (const c of cpusSeen) {
          const at = rows.filter((r) => r.cpus === c);
          if (at.length > 0) points.push([c, Math.max(...at.map((r) => r.deliveredPps))]);
        }
        series.push({ name: `${mode} (${routing})`, points, color: MODE_COLORS[mode] ?? '#333', dash: ROUTING_DASH[routing] });
      }
    }
    // Linear scaling from the best 1-CPU figure, for reference.
    const best1 = Math.max(0, ...series.map((x) => x.points.find((p) => p[0] === 1)?.[1] ?? 0));
    if (best1 > 0)
      series.push({
        name: 'linear (best 1-CPU × n)',
        points: cpusSeen.filter((c) => c <= rep.cores).map((c) => [c, best1 * c]),
        color: '#9a9a9a',
        dash: '2 4',
      });
    out.push({
      file: 'scaling-cpus.svg',
      svg: lineChart({
        title: 'Receive throughput against CPUs',
        subtitle: work,
        xLabel: 'CPUs (worker threads)',
        yLabel: 'packets delivered per second (best load)',
        series,
        xIntegers: true,
      }),
    });
  }
  // 2. Delivered against offered load, per mode, one chart per CPU count.
  for (const c of cpusSeen) {
    const at = rep.rows.filter((r) => r.cpus === c);
    if (new Set(at.map((r) => r.loadSpec)).size < 2) continue;
    const series: Series[] = [];
    for (const mode of RX_MODES) {
      const routing = (['affinity', 'rr', 'cpu0'] as const).find((x) => at.some((r) => r.mode === mode && r.routing === x));
      if (!routing) continue;
      const rows = at.filter((r) => r.mode === mode && r.routing === routing);
      series.push({
        name: `${mode} (${routing})`,
        points: rows.map((r) => [r.offeredPps, r.deliveredPps]),
        color: MODE_COLORS[mode] ?? '#333',
      });
    }
    out.push({
      file: `scaling-load-${c}cpu.svg`,
      svg: lineChart({
        title: `Delivered against offered load, ${c} CPU${c > 1 ? 's' : ''} (receive livelock)`,
        subtitle: work,
        xLabel: 'packets offered per second',
        yLabel: 'packets delivered per second',
        series,
        diagonal: true,
      }),
    });
  }
  return out;
}
