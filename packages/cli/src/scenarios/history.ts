/**
 * scenarios/history.ts — `kdefer history`: the seed paper's history (Wilcox,
 * "I'll Do It Later", OLS 2003) replayed on machines booted as each era,
 * with the figures each story turns on. Prints nothing: commands/history.ts
 * prints, bench/src/history.ts writes bench/results/history.json and the
 * charts. Facts and sources: shared/history.md (H-… statements).
 *
 * Stories so far: 3 the forgotten mark_bh, 1 Mindcraft's bottleneck, 5
 * timers, 2 the ping flood (shares and drops; no reordering count). A
 * speedup is only claimed for CPU counts up to the host's cores: above that
 * the CPU threads share cores and the figure says nothing about the kernel.
 */
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Machine } from '@kdefer/workers';
import { KdeferError, type Era, BH22_SHARED, BH24_SHARED, bh22_stats_of, bh24_timer_stats_of } from '@kdefer/core';
import {
  HISTORY,
  HISTORY_IRQ_A,
  HISTORY_IRQ_B,
  HISTORY_NAMES,
  HISTORY_SAMPLES,
  S_A_IRQS,
  S_A_QUEUED,
  S_A_SWALLOWED,
  S_A_RUNS,
  S_B_IRQS,
  S_LAT_N,
  S_MTR_N,
  S_WORDS,
  T_WORDS,
  TM_WORDS,
  TM_CPU_BASE,
  TM_STRIDE,
  TM_EXPIRED,
  TM_LATE,
  TM_LATE_BUCKETS,
  TM_MAX_CPUS,
  TM_PER_CPU,
} from '../modules/history.js';
import { runScalingOnce, calibrate, DEFAULT_WORKLOAD } from './scaling.js';
import { type RxMode } from '../modules/rx.js';
import { lineChart } from '../charts.js';

/** The module file, as Machine.boot loads it. */
export const historyModule = new URL('../modules/history.js', import.meta.url);

/** The stories, in the issue's numbering; `ready` ones run. */
export const STORIES = [
  { id: 'mindcraft', n: 1, title: "Mindcraft's bottleneck: NET_BH against softnet", section: '§3.1 (History), §3.5', ready: true },
  { id: 'pingflood', n: 2, title: 'The ping flood: round-robin interrupts', section: '§3.5 (Problems)', ready: true },
  { id: 'mark_bh', n: 3, title: 'The forgotten mark_bh', section: '§5 (Task and Work Queues)', ready: true },
  { id: 'scsi', n: 4, title: 'SCSI: SCSI_BH, the SCSI tasklet, SCSI_SOFTIRQ', section: '§6', ready: false },
  { id: 'timers', n: 5, title: 'Timers: TIMER_BH against per-CPU bases', section: '§4.1', ready: true },
  { id: 'workqueues', n: 6, title: 'Thread-per-CPU workqueues against cmwq', section: '§5', ready: false },
  { id: 'rt', n: 7, title: 'PREEMPT_RT', section: '(after the paper)', ready: false },
] as const;
export type StoryId = (typeof STORIES)[number]['id'];

/** The host's cores: the most CPUs a speedup may be claimed for. */
export function hostCores(): number {
  return availableParallelism();
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))]!;
}

// ------------------------------------------------------------ 3: the forgotten mark_bh

export type MarkBhVariant = 'forgets, alone' | 'forgets, next to a driver that marks' | 'marks IMMEDIATE_BH itself';
export const MARK_BH_VARIANTS: MarkBhVariant[] = ['forgets, alone', 'forgets, next to a driver that marks', 'marks IMMEDIATE_BH itself'];

export interface MarkBhRow {
  era: Era;
  variant: MarkBhVariant;
  /** driver A's interrupts, its queue_task calls that queued, and those swallowed (sync still set) */
  aIrqs: number;
  queued: number;
  swallowed: number;
  /** times A's task ran */
  runs: number;
  /** the other driver's interrupts (each marks IMMEDIATE_BH) */
  bIrqs: number;
  /** A's task, queued -> ran, ms (NaN: it never ran) */
  latencyP50Ms: number;
  latencyMaxMs: number;
  /** from the mark_bh(IMMEDIATE_BH) that ran A's task to the run, ms */
  markToRunP99Ms: number;
  markToRunMaxMs: number;
}

export interface MarkBhOptions {
  cpus: number;
  /** seconds per variant */
  seconds: number;
  /** A's interrupt period and the other driver's, ms */
  aPeriodMs?: number;
  bPeriodMs?: number;
  eras?: Era[];
  signal?: AbortSignal;
  onProgress?: (label: string) => void;
}

export interface MarkBhResult {
  rows: MarkBhRow[];
  aPeriodMs: number;
  bPeriodMs: number;
  jiffyMs: number;
  figures: {
    /** runs of the forgetful driver's task alone (2.2): 0 — it never runs */
    marked_bh_missing_runs: number;
    /** the same in 2.4 */
    marked_bh_missing_runs_24: number;
    /** queue_task calls swallowed alone (2.2): every one after the first */
    marked_bh_swallowed_alone: number;
    /** next to the marking driver (2.2): the mark -> run p99 and the queued -> ran max, ms */
    marked_bh_mark_to_run_p99_ms: number;
    marked_bh_latency_max_ms: number;
  };
}

/** Run one variant on a fresh machine. */
async function markBhOnce(era: Era, variant: MarkBhVariant, o: MarkBhOptions, aPeriod: number, bPeriod: number): Promise<MarkBhRow> {
  const m = await Machine.boot({ cpus: o.cpus, era, modules: [historyModule], lockdep: false });
  try {
    await m.call(0, HISTORY, 'setup', variant === 'marks IMMEDIATE_BH itself');
    m.setIrqAffinity(HISTORY_IRQ_A, [0]);
    m.setIrqAffinity(HISTORY_IRQ_B, [o.cpus > 1 ? 1 : 0]);
    const withB = variant === 'forgets, next to a driver that marks';
    const t0 = performance.now();
    let nextA = 0;
    let nextB = bPeriod / 2;
    for (;;) {
      const el = performance.now() - t0;
      if (el >= o.seconds * 1000 || o.signal?.aborted) break;
      if (el >= nextA) {
        m.raiseIrq(HISTORY_IRQ_A);
        nextA += aPeriod;
      }
      if (withB && el >= nextB) {
        m.raiseIrq(HISTORY_IRQ_B);
        nextB += bPeriod;
      }
      await sleep(Math.max(0, Math.min(nextA, withB ? nextB : Infinity) - (performance.now() - t0)));
    }
    await m.quiesce({ timeoutMs: 5000 });
    const s = m.sharedArray(HISTORY_NAMES.s, Int32Array, S_WORDS);
    const t = m.sharedArray(HISTORY_NAMES.t, Float64Array, T_WORDS);
    const lat = Array.from(t.subarray(8, 8 + Math.min(HISTORY_SAMPLES, Atomics.load(s, S_LAT_N))));
    const mtr = Array.from(t.subarray(8 + HISTORY_SAMPLES, 8 + HISTORY_SAMPLES + Math.min(HISTORY_SAMPLES, Atomics.load(s, S_MTR_N))));
    const reports = m.reports();
    if (reports.length > 0) throw new KdeferError(`history mark_bh (${era}, ${variant}): the kernel reported ${reports[0]!.title}`);
    return {
      era,
      variant,
      aIrqs: Atomics.load(s, S_A_IRQS),
      queued: Atomics.load(s, S_A_QUEUED),
      swallowed: Atomics.load(s, S_A_SWALLOWED),
      runs: Atomics.load(s, S_A_RUNS),
      bIrqs: Atomics.load(s, S_B_IRQS),
      latencyP50Ms: quantile(lat, 0.5),
      latencyMaxMs: lat.length ? Math.max(...lat) : NaN,
      markToRunP99Ms: quantile(mtr, 0.99),
      markToRunMaxMs: mtr.length ? Math.max(...mtr) : NaN,
    };
  } finally {
    await m.shutdown();
  }
}

/**
 * Story 3: a driver queues on tq_immediate and forgets mark_bh(IMMEDIATE_BH)
 * — alone, next to an unrelated driver that marks it, and fixed.
 */
export async function runForgottenMarkBh(o: MarkBhOptions): Promise<MarkBhResult> {
  const aPeriod = o.aPeriodMs ?? 1;
  const bPeriod = o.bPeriodMs ?? 10;
  const rows: MarkBhRow[] = [];
  for (const era of o.eras ?? (['2.2', '2.4'] as Era[]))
    for (const v of MARK_BH_VARIANTS) {
      if (o.signal?.aborted) break;
      o.onProgress?.(`mark_bh: ${era}, ${v}`);
      rows.push(await markBhOnce(era, v, o, aPeriod, bPeriod));
    }
  const row = (era: Era, v: MarkBhVariant): MarkBhRow | undefined => rows.find((r) => r.era === era && r.variant === v);
  const alone = row('2.2', 'forgets, alone');
  const next = row('2.2', 'forgets, next to a driver that marks');
  return {
    rows,
    aPeriodMs: aPeriod,
    bPeriodMs: bPeriod,
    jiffyMs: 1,
    figures: {
      marked_bh_missing_runs: alone?.runs ?? NaN,
      marked_bh_missing_runs_24: row('2.4', 'forgets, alone')?.runs ?? NaN,
      marked_bh_swallowed_alone: alone?.swallowed ?? NaN,
      marked_bh_mark_to_run_p99_ms: next?.markToRunP99Ms ?? NaN,
      marked_bh_latency_max_ms: next?.latencyMaxMs ?? NaN,
    },
  };
}

// ------------------------------------------------------------ 1: Mindcraft

export interface MindcraftPath {
  id: string;
  era: Era;
  mode: RxMode;
  label: string;
}
/** The three receive paths of the story: 2.2's NET_BH, 2.4's softnet, 2.4.20's NAPI. */
export const MINDCRAFT_PATHS: MindcraftPath[] = [
  { id: 'bh22', era: '2.2', mode: 'bh', label: '2.2 NET_BH' },
  { id: 'softnet24', era: '2.4', mode: 'softirq', label: '2.4 softnet' },
  { id: 'napi24', era: '2.4', mode: 'napi', label: '2.4 + NAPI' },
];

export interface MindcraftRow {
  path: string;
  era: Era;
  mode: RxMode;
  cpus: number;
  /** the best delivered packets/s over the offered loads */
  deliveredPps: number;
  offeredPps: number;
  /** peak(cpus) / peak(1); null when cpus exceeds the host's cores */
  speedup: number | null;
  /** 2.2: do_bottom_half calls per second that found another CPU running bottom halves */
  bhBusyPerS: number;
  drops: number;
}

export interface MindcraftOptions {
  /** CPUs 1..maxCpus */
  maxCpus: number;
  seconds: number;
  /** offered loads as multiples of cpus × the 1-CPU NAPI capacity */
  loads?: number[];
  signal?: AbortSignal;
  onProgress?: (label: string) => void;
}

export interface MindcraftResult {
  rows: MindcraftRow[];
  capacityPps: number;
  cores: number;
  figures: {
    softnet24_speedup_2cpu: number | null;
    bh22_speedup_2cpu: number | null;
    napi24_speedup_2cpu: number | null;
  };
}

/** Story 1: the rx workload on 1..N CPUs through each era's receive path. */
export async function runMindcraft(o: MindcraftOptions): Promise<MindcraftResult> {
  const cores = hostCores();
  const loads = o.loads ?? [1.1, 2];
  o.onProgress?.('mindcraft: calibration (napi, 1 CPU)');
  const capacity = await calibrate({}, o.seconds, o.signal);
  const rows: MindcraftRow[] = [];
  for (const p of MINDCRAFT_PATHS)
    for (let cpus = 1; cpus <= o.maxCpus; cpus++) {
      let best: MindcraftRow | null = null;
      for (const f of loads) {
        if (o.signal?.aborted) break;
        o.onProgress?.(`mindcraft: ${p.label}, ${cpus} CPU${cpus > 1 ? 's' : ''}, load ${f} × capacity per CPU`);
        const r = await runScalingOnce({
          ...DEFAULT_WORKLOAD,
          mode: p.mode,
          era: p.era,
          routing: 'affinity',
          cpus,
          queues: Math.max(2, Math.min(4, cpus)),
          load: f * capacity * cpus,
          seconds: o.seconds,
          warmupSeconds: Math.min(0.5, o.seconds),
          signal: o.signal,
        });
        if (r.kernelReports.length > 0) throw new KdeferError(`history mindcraft (${p.label}, ${cpus} CPUs): ${r.kernelReports[0]}`);
        const row: MindcraftRow = {
          path: p.id,
          era: p.era,
          mode: p.mode,
          cpus,
          deliveredPps: r.deliveredPps,
          offeredPps: r.offeredPps,
          speedup: null,
          bhBusyPerS: r.bhBusy / (r.seconds + Math.min(0.5, o.seconds)),
          drops: r.drops,
        };
        if (!best || row.deliveredPps > best.deliveredPps) best = row;
      }
      if (best) rows.push(best);
    }
  for (const r of rows) {
    const base = rows.find((x) => x.path === r.path && x.cpus === 1);
    r.speedup = base && base.deliveredPps > 0 && r.cpus <= cores ? r.deliveredPps / base.deliveredPps : null;
  }
  const sp = (id: string): number | null => rows.find((r) => r.path === id && r.cpus === 2)?.speedup ?? null;
  return {
    rows,
    capacityPps: capacity,
    cores,
    figures: { softnet24_speedup_2cpu: sp('softnet24'), bh22_speedup_2cpu: sp('bh22'), napi24_speedup_2cpu: sp('napi24') },
  };
}

// ------------------------------------------------------------ 2: the ping flood

export interface PingFloodRow {
  path: string;
  routing: 'affinity' | 'rr';
  cpus: number;
  deliveredPps: number;
  /** each CPU's share of the packets delivered, % */
  sharePct: number[];
  /** CPUs that delivered at least 1 % of the one flow's packets: above 1, its packets may be reordered */
  flowCpus: number;
  dropsPerS: number;
  irqsPerPacket: number;
}

export interface PingFloodResult {
  rows: PingFloodRow[];
  capacityPps: number;
  loadPps: number;
}

/**
 * Story 2: one flow (one RX queue) flooded at twice the 1-CPU capacity, its
 * interrupt routed to one CPU (affinity) or round-robin over all (rr, the
 * IO-APIC default the paper names), through each era's receive path.
 * Reordering and cache-line transfers are not counted: the rows give each
 * CPU's share of the flow, which is where they come from.
 */
export async function runPingFlood(o: {
  cpus: number;
  seconds: number;
  signal?: AbortSignal;
  onProgress?: (l: string) => void;
}): Promise<PingFloodResult> {
  o.onProgress?.('pingflood: calibration (napi, 1 CPU)');
  const capacity = await calibrate({}, o.seconds, o.signal);
  const load = 2 * capacity;
  const rows: PingFloodRow[] = [];
  for (const p of MINDCRAFT_PATHS)
    for (const routing of ['affinity', 'rr'] as const) {
      if (o.signal?.aborted) break;
      o.onProgress?.(`pingflood: ${p.label}, ${routing}, ${o.cpus} CPUs`);
      const r = await runScalingOnce({
        ...DEFAULT_WORKLOAD,
        mode: p.mode,
        era: p.era,
        routing,
        cpus: o.cpus,
        queues: 1,
        load,
        seconds: o.seconds,
        warmupSeconds: Math.min(0.5, o.seconds),
        signal: o.signal,
      });
      if (r.kernelReports.length > 0) throw new KdeferError(`history pingflood (${p.label}, ${routing}): ${r.kernelReports[0]}`);
      const total = r.deliveredPpsPerCpu.reduce((a, b) => a + b, 0);
      const share = r.deliveredPpsPerCpu.map((x) => (total > 0 ? (100 * x) / total : 0));
      rows.push({
        path: p.id,
        routing,
        cpus: o.cpus,
        deliveredPps: r.deliveredPps,
        sharePct: share,
        flowCpus: share.filter((x) => x >= 1).length,
        dropsPerS: r.dropPps,
        irqsPerPacket: r.irqsPerPacket,
      });
    }
  return { rows, capacityPps: capacity, loadPps: load };
}

/** The ping flood table, as text. */
export function formatPingFlood(r: PingFloodResult): string {
  const lines = ['PATH          ROUTING   DELIVERED/s  SHARE BY CPU (%)     FLOW ON CPUS  DROPS/s  IRQS/PACKET'];
  for (const x of r.rows) {
    const label = MINDCRAFT_PATHS.find((p) => p.id === x.path)!.label;
    lines.push(
      `${label.padEnd(13)} ${x.routing.padEnd(8)} ${x.deliveredPps.toFixed(0).padStart(12)}  ${x.sharePct
        .map((v) => v.toFixed(0))
        .join(' / ')
        .padEnd(20)} ${String(x.flowCpus).padStart(12)} ${x.dropsPerS.toFixed(0).padStart(8)} ${x.irqsPerPacket.toFixed(3).padStart(12)}`,
    );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------ 5: timers

export interface TimersRow {
  era: Era;
  cpus: number;
  /** timer expirations per second, all CPUs */
  expirationsPerS: number;
  /** expirations per second by CPU */
  perCpu: number[];
  /** jiffies late: median, p99, max bucket (the last bucket means "at least") */
  lateP50: number;
  lateP99: number;
  /** 2.2/2.4: expiry passes per second that found the global bottom-half lock taken (retried) */
  busyPerS: number;
  /** peak(cpus) / 1-CPU of the same era; null above the host's cores */
  speedup: number | null;
}

export interface TimersOptions {
  maxCpus: number;
  seconds: number;
  /** timers per CPU (default 32) and work per timer function, iterations (default 20 000, ~40 µs) */
  perCpu?: number;
  cost?: number;
  eras?: Era[];
  signal?: AbortSignal;
  onProgress?: (label: string) => void;
}

export interface TimersResult {
  rows: TimersRow[];
  cores: number;
  perCpu: number;
  cost: number;
  figures: { timers26_speedup_2cpu: number | null; timers24_speedup_2cpu: number | null; timers22_speedup_2cpu: number | null };
}

function histQuantile(h: number[], q: number): number {
  const n = h.reduce((a, b) => a + b, 0);
  if (n === 0) return NaN;
  let acc = 0;
  for (let i = 0; i < h.length; i++) {
    acc += h[i]!;
    if (acc >= q * n) return i;
  }
  return h.length - 1;
}

async function timersOnce(era: Era, cpus: number, o: TimersOptions, perCpu: number, cost: number): Promise<TimersRow> {
  const m = await Machine.boot({ cpus, era, modules: [historyModule], lockdep: false });
  try {
    const tm = m.sharedArray(HISTORY_NAMES.tm, Int32Array, TM_WORDS);
    const read = (): { exp: number[]; late: number[][] } => ({
      exp: Array.from({ length: cpus }, (_, c) => Atomics.load(tm, TM_CPU_BASE + c * TM_STRIDE + TM_EXPIRED)),
      late: Array.from({ length: cpus }, (_, c) =>
        Array.from({ length: TM_LATE_BUCKETS }, (_, b) => Atomics.load(tm, TM_CPU_BASE + c * TM_STRIDE + TM_LATE + b)),
      ),
    });
    const busy = (): number =>
      era === '2.2'
        ? bh22_stats_of(m.sharedArray(BH22_SHARED, Int32Array)).timerBusy
        : era === '2.4'
          ? bh24_timer_stats_of(m.sharedArray(BH24_SHARED, Int32Array)).timerBusy
          : 0;
    await Promise.all(Array.from({ length: cpus }, (_, c) => m.call(c, HISTORY, 'timersStart', perCpu, cost)));
    await sleep(Math.min(300, o.seconds * 500)); // warm-up
    const a = read();
    const b0 = busy();
    const t0 = performance.now();
    await sleep(o.seconds * 1000, undefined, { signal: o.signal }).catch(() => {});
    const win = (performance.now() - t0) / 1000;
    const b = read();
    const b1 = busy();
    await m.call(0, HISTORY, 'timersStop');
    await m.quiesce({ timeoutMs: 10_000 });
    const reports = m.reports();
    if (reports.length > 0) throw new KdeferError(`history timers (${era}, ${cpus} CPUs): the kernel reported ${reports[0]!.title}`);
    const perCpuRate = b.exp.map((x, c) => (x - a.exp[c]!) / win);
    const hist = Array.from({ length: TM_LATE_BUCKETS }, (_, k) => b.late.reduce((acc, h, c) => acc + h[k]! - a.late[c]![k]!, 0));
    return {
      era,
      cpus,
      expirationsPerS: perCpuRate.reduce((x, y) => x + y, 0),
      perCpu: perCpuRate,
      lateP50: histQuantile(hist, 0.5),
      lateP99: histQuantile(hist, 0.99),
      busyPerS: (b1 - b0) / win,
      speedup: null,
    };
  } finally {
    await m.shutdown();
  }
}

/**
 * Story 5: M timers per CPU with fixed-cost functions, on 1..N CPUs, in 2.2
 * and 2.4 (TIMER_BH: one timer at a time on the machine) and 2.6 (per-CPU
 * bases).
 */
export async function runTimers(o: TimersOptions): Promise<TimersResult> {
  const cores = hostCores();
  const perCpu = Math.min(TM_PER_CPU, o.perCpu ?? 32);
  const cost = o.cost ?? 20_000;
  if (o.maxCpus > TM_MAX_CPUS) throw new KdeferError(`history timers: at most ${TM_MAX_CPUS} CPUs`);
  const rows: TimersRow[] = [];
  for (const era of o.eras ?? (['2.2', '2.4', '2.6'] as Era[]))
    for (let cpus = 1; cpus <= o.maxCpus; cpus++) {
      if (o.signal?.aborted) break;
      o.onProgress?.(`timers: ${era}, ${cpus} CPU${cpus > 1 ? 's' : ''}, ${perCpu} timers per CPU`);
      rows.push(await timersOnce(era, cpus, o, perCpu, cost));
    }
  for (const r of rows) {
    const base = rows.find((x) => x.era === r.era && x.cpus === 1);
    r.speedup = base && base.expirationsPerS > 0 && r.cpus <= cores ? r.expirationsPerS / base.expirationsPerS : null;
  }
  const sp = (era: Era): number | null => rows.find((r) => r.era === era && r.cpus === 2)?.speedup ?? null;
  return {
    rows,
    cores,
    perCpu,
    cost,
    figures: { timers26_speedup_2cpu: sp('2.6'), timers24_speedup_2cpu: sp('2.4'), timers22_speedup_2cpu: sp('2.2') },
  };
}

/** The timers table, as text. */
export function formatTimers(r: TimersResult): string {
  const lines = ['ERA  CPUS  EXPIRATIONS/s  PER CPU             SPEEDUP            LATE p50/p99 (jiffies)  BUSY/s (BH lock taken)'];
  for (const x of r.rows) {
    const sp = x.speedup === null ? (x.cpus > r.cores ? `n/a (> ${r.cores} cores)` : '-') : `${x.speedup.toFixed(2)}x`;
    lines.push(
      `${x.era.padEnd(4)} ${String(x.cpus).padStart(4)} ${x.expirationsPerS.toFixed(0).padStart(14)}  ${x.perCpu
        .map((v) => v.toFixed(0))
        .join(' / ')
        .padEnd(
          19,
        )} ${sp.padEnd(18)} ${`${x.lateP50}/${x.lateP99}`.padStart(22)}  ${(x.era === '2.6' ? '-' : x.busyPerS.toFixed(0)).padStart(22)}`,
    );
  }
  return lines.join('\n');
}

// ------------------------------------------------------------ presenting

/** What each story shows and what the paper says, in kdefer's words, with the section. */
export const EXPLANATIONS: Record<'mindcraft' | 'mark_bh' | 'timers' | 'pingflood', string> = {
  pingflood:
    "One flow floods one receive queue. With its interrupt pinned (affinity) one CPU takes the flow. Round-robin delivery sends each interrupt to the next CPU: in 2.4's softnet each CPU then queues the flow's packets on its own backlog, so one flow is processed on several CPUs at once (where reordering and stolen cache lines come from); in 2.2 the CPUs only meet again at NET_BH; NAPI's poll keeps the device on one CPU until the ring is empty and takes few interrupts. The paper (§3.5) names exactly this: with round-robin IO-APIC delivery a ping flood is the worst case, CPUs steal cache lines from each other, and NAPI's interrupt mitigation is the answer. Reordering and cache-line transfers are not counted here; the share columns show where they would come from.",
  timers:
    "Every CPU arms the same number of timers, each doing a fixed amount of work and re-arming every jiffy, more than a CPU can expire in time. In 2.2 and 2.4 timers ran from TIMER_BH, so one timer function ran at a time on the whole machine, never beside another bottom half: a second CPU adds nothing, it mostly finds the lock taken ('busy/s') and its timers run late. 2.6's per-CPU timer bases let every CPU expire its own timers at once. The paper (§4.1) tells how softnet left timers in their bottom half, so only one timer could run at a time, until 2.5.40 let them run on several CPUs (a per-CPU tasklet, then TIMER_SOFTIRQ in 2.5.48).",
  mindcraft:
    "In 2.2 every packet's protocol work ran in NET_BH, and only one bottom half ran at a time on the whole machine, so a second CPU can take interrupts but not share the receive work: 2.2's line stays flat, and the CPUs that find NET_BH taken are counted in 'busy/s'. Softnet (2.3.43, in 2.4) gave each CPU its own backlog and NET_RX_SOFTIRQ, so the work spreads over the CPUs; NAPI (2.4.20) keeps that and polls under load. The paper (§3.1) tells it as the Mindcraft benchmark of April 1999 exposing the single-threaded bottom half, and softnet multithreading it.",
  mark_bh:
    "queue_task on tq_immediate only links the task; it runs when some code, anyone, marks IMMEDIATE_BH. Alone, the forgetful driver's task never runs and every later queue_task of it is swallowed, its sync bit still set; next to an unrelated driver that marks IMMEDIATE_BH it runs, late by up to that driver's period, and within a jiffy of each mark. The paper (§5) calls tq_immediate's interface awful for exposing this detail: some drivers missed mark_bh() and their processing waited until something else marked the bottom half.",
};

/** The story's table, as text. */
export function formatMarkBh(r: MarkBhResult): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const lines = [
    `ERA  DRIVER A                               IRQS  QUEUED  SWALLOWED  RUNS  OTHER-IRQS  LAT-P50  LAT-MAX  MARK->RUN-P99  MARK->RUN-MAX (ms)`,
  ];
  for (const x of r.rows)
    lines.push(
      `${x.era.padEnd(4)} ${x.variant.padEnd(38)} ${String(x.aIrqs).padStart(5)} ${String(x.queued).padStart(7)} ${String(x.swallowed).padStart(10)} ${String(x.runs).padStart(5)} ${String(x.bIrqs).padStart(11)} ${f(x.latencyP50Ms).padStart(8)} ${f(x.latencyMaxMs).padStart(8)} ${f(x.markToRunP99Ms).padStart(14)} ${f(x.markToRunMaxMs).padStart(14)}`,
    );
  return lines.join('\n');
}

/** The Mindcraft table, as text. */
export function formatMindcraft(r: MindcraftResult): string {
  const lines = ['PATH          CPUS  DELIVERED/s  OFFERED/s  SPEEDUP  BUSY/s (2.2: NET_BH taken)  DROPS'];
  for (const x of r.rows) {
    const label = MINDCRAFT_PATHS.find((p) => p.id === x.path)!.label;
    const sp = x.speedup === null ? (x.cpus > r.cores ? `n/a (> ${r.cores} cores)` : '-') : `${x.speedup.toFixed(2)}x`;
    lines.push(
      `${label.padEnd(13)} ${String(x.cpus).padStart(4)} ${x.deliveredPps.toFixed(0).padStart(12)} ${x.offeredPps.toFixed(0).padStart(10)}  ${sp.padEnd(7)} ${(x.era === '2.2' ? x.bhBusyPerS.toFixed(0) : '-').padStart(26)} ${String(x.drops).padStart(6)}`,
    );
  }
  return lines.join('\n');
}

/** The charts of the stories that ran, as SVG files. */
export function historyCharts(r: {
  mindcraft?: MindcraftResult;
  mark_bh?: MarkBhResult;
  timers?: TimersResult;
}): { file: string; svg: string }[] {
  const out: { file: string; svg: string }[] = [];
  const colors: Record<string, string> = { bh22: '#d62728', softnet24: '#ff7f0e', napi24: '#1f77b4' };
  if (r.mindcraft) {
    out.push({
      file: 'history-mindcraft.svg',
      svg: lineChart({
        title: "Mindcraft's bottleneck: receive throughput against CPUs",
        subtitle: `kdefer history mindcraft; host cores: ${r.mindcraft.cores} (no speedup is claimed past them)`,
        xLabel: 'CPUs',
        yLabel: 'packets delivered per second',
        xIntegers: true,
        series: MINDCRAFT_PATHS.map((p) => ({
          name: p.label,
          color: colors[p.id]!,
          points: r.mindcraft!.rows.filter((x) => x.path === p.id).map((x) => [x.cpus, x.deliveredPps] as [number, number]),
        })),
      }),
    });
  }
  if (r.timers) {
    const ec: Record<string, string> = { '2.2': '#d62728', '2.4': '#ff7f0e', '2.6': '#1f77b4' };
    const eras = [...new Set(r.timers.rows.map((x) => x.era))];
    out.push({
      file: 'history-timers.svg',
      svg: lineChart({
        title: 'Timers: expirations per second against CPUs',
        subtitle: `${r.timers.perCpu} timers per CPU, each re-arming every jiffy; host cores: ${r.timers.cores}`,
        xLabel: 'CPUs',
        yLabel: 'timer expirations per second',
        xIntegers: true,
        series: eras.map((e) => ({
          name: e === '2.6' ? '2.6 per-CPU bases' : `${e} TIMER_BH`,
          color: ec[e] ?? '#777777',
          points: r.timers!.rows.filter((x) => x.era === e).map((x) => [x.cpus, x.expirationsPerS] as [number, number]),
        })),
      }),
    });
  }
  if (r.mark_bh) {
    const rows = r.mark_bh.rows.filter((x) => x.era === '2.2');
    out.push({
      file: 'history-mark_bh.svg',
      svg: lineChart({
        title: 'The forgotten mark_bh (2.2): runs of the task against queue_task calls',
        subtitle: 'x: variant (1 alone, 2 next to a marking driver, 3 fixed); runs and swallowed queue_task calls',
        xLabel: 'variant',
        yLabel: 'count',
        xIntegers: true,
        series: [
          { name: 'task runs', color: '#1f77b4', points: rows.map((x, k) => [k + 1, x.runs] as [number, number]) },
          { name: 'queue_task swallowed', color: '#d62728', points: rows.map((x, k) => [k + 1, x.swallowed] as [number, number]) },
        ],
      }),
    });
  }
  return out;
}
