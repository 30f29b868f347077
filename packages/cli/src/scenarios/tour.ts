/**
 * tour.ts — the tour scenario: a network device under load, and the books
 * that must balance afterwards.
 *
 * Scenario:
 *   1. boot a machine with the built-in netdev module: one RX queue per CPU,
 *      queue q on IRQ 16+q with its affinity on CPU q;
 *   2. start a `writer` task on every CPU: process context hammering the
 *      shared counter under spin_lock_bh;
 *   3. for `seconds`, raise the queues' IRQs from the host at a steady pace
 *      (a burst every 1/rate s, round-robin over the queues): hardirqs land
 *      in the writers, raise NET_RX, and net_rx_action updates the same
 *      counter under spin_lock;
 *   4. stop the writers, quiesce, and check that every count agrees with
 *      every other: the module's own accounting, /proc/softirqs,
 *      /proc/interrupts and the shared counter (no lost update).
 *
 * A raise whose bit is still pending on the target CPU coalesces (IRQ lines
 * are edge-triggered), and several hardirqs may raise NET_RX before it runs
 * once, so raises, deliveries and NET_RX runs are NOT expected to be equal:
 * the checks compare only counts that must agree exactly.
 *
 * This file prints nothing: it returns a TourResult (commands/tour.ts
 * prints it), so that tests can run the tour in-process.
 */
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Machine } from '@kdefer/workers';
import { NET_RX_SOFTIRQ, MAX_CPUS, KdeferError } from '@kdefer/core';
import {
  IRQ_BASE,
  NETDEV,
  NETDEV_NAMES,
  STAT_TOTAL,
  STAT_CTL,
  PCPU_RX_RUNS,
  PCPU_RX_PACKETS,
  PCPU_BACKLOG,
  PCPU_WRITES,
  PCPU_WORDS,
} from '../modules/netdev.js';
import { FAMILY, FAMILY_IRQ, type FamilyStats } from '../modules/family.js';
import { defaultCpus } from '../options.js';

/** The built-in netdev module, as Machine.boot loads it. */
export const netdevModule = new URL('../modules/netdev.js', import.meta.url);
/** The built-in family module (issue 14: a threaded IRQ, an hrtimer, an irq_work). */
export const familyModule = new URL('../modules/family.js', import.meta.url);

/**
 * Bursts the host may fire at once to catch up after its timer fired late;
 * beyond that, missed bursts are dropped (counted in `burstsSkipped`) rather
 * than flooding the CPUs, so that the rate stays steady.
 */
const MAX_CATCH_UP = 4;
/** How long the writers may take to notice the stop word. */
const WRITER_STOP_TIMEOUT_MS = 10_000;
/** How long the machine may take to become quiet after the run. */
const QUIESCE_TIMEOUT_MS = 10_000;
/** How often the caller's onProgress is called. */
const PROGRESS_EVERY_MS = 100;

export interface TourOptions {
  /** simulated CPUs; default one per core, at least 2 */
  cpus?: number;
  /** how long to raise interrupts (default 2) */
  seconds?: number;
  /** tick rate (default 1000) */
  hz?: number;
  /** interrupt bursts per second; each burst raises every queue once (default 1000) */
  rate?: number;
  /** stop early (SIGINT): the run winds down, checks still run */
  signal?: AbortSignal;
  /** live numbers, about every 100 ms while interrupts are raised */
  onProgress?: (p: TourProgress) => void;
  /** called once the machine is up, before the run starts */
  onBoot?: (m: Machine) => void;
  /** record tracepoints and write them to this file as Chrome trace JSON */
  trace?: string;
}

export interface TourProgress {
  elapsedS: number;
  seconds: number;
  /** raiseIrq calls so far */
  raised: number;
  /** hardirqs delivered, all CPUs */
  delivered: number;
  /** NET_RX handler runs, all CPUs */
  netRx: number;
  /** writer updates of the shared counter, all CPUs */
  writes: number;
}

export interface TourCheck {
  name: string;
  pass: boolean;
  /** the numbers behind the verdict */
  detail: string;
}

export interface TourResult {
  /** events written to the --trace file, if one was asked for */
  traceEvents?: number;
  cpus: number;
  hz: number;
  seconds: number;
  rate: number;
  node: string;
  cores: number;
  /** how long interrupts were raised (ms) */
  elapsedMs: number;
  /** stopped early by the signal */
  aborted: boolean;
  /** raiseIrq calls, and bursts dropped because the host timer was late */
  raised: number;
  bursts: number;
  burstsSkipped: number;
  /** per CPU: hardirqs the netdev handler counted */
  hardirqs: number[];
  /** per CPU: NET_RX runs the module counted, and /proc/softirqs' NET_RX */
  netRxRuns: number[];
  procNetRx: number[];
  /** per CPU: packets drained by NET_RX (one per hardirq) */
  rxPackets: number[];
  /** per CPU: what each writer returned (-1 if it failed) */
  writerUpdates: number[];
  /** the shared counter */
  total: number;
  procSoftirqs: string;
  procInterrupts: string;
  /** `ps` taken at the end of the run, while the writers were still running */
  ps: string;
  dmesg: string;
  /** errors met on the way (a writer that failed, a machine that would not quiesce) */
  errors: string[];
  checks: TourCheck[];
  /** every check passed */
  ok: boolean;
}

/** Run the tour on a fresh machine; the machine is always shut down before this settles. */
export async function runTour(opts: TourOptions = {}): Promise<TourResult> {
  const cpus = opts.cpus ?? defaultCpus();
  const seconds = opts.seconds ?? 2;
  const hz = opts.hz ?? 1000;
  const rate = opts.rate ?? 1000;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS)
    throw new KdeferError(`tour: cpus must be an integer from 1 to ${MAX_CPUS}, not ${cpus}`);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new KdeferError(`tour: seconds must be a positive number, not ${seconds}`);
  if (!(rate > 0) || !Number.isFinite(rate)) throw new KdeferError(`tour: rate must be a positive number, not ${rate}`);

  const m = await Machine.boot({
    cpus,
    hz,
    nrIrqs: Math.max(64, IRQ_BASE + cpus),
    modules: [netdevModule, familyModule],
    trace: opts.trace !== undefined,
    traceLocks: false,
  });
  let shutDown = false;
  try {
    opts.onBoot?.(m);
    await m.call(0, FAMILY, 'start');
    const result = await drive(m, { cpus, seconds, hz, rate, signal: opts.signal, onProgress: opts.onProgress });
    result.checks.push(...(await familyChecks(m)));
    if (opts.trace !== undefined) result.traceEvents = await m.writeTrace(opts.trace);
    await m.shutdown();
    shutDown = true;
    const live = m.liveThreads();
    result.checks.push({ name: 'no thread left after shutdown', pass: live === 0, detail: `${live} CPU threads alive` });
    result.ok = result.checks.every((c) => c.pass);
    return result;
  } finally {
    if (!shutDown) await m.shutdown();
  }
}

/**
 * The newer deferred work (issue 14) beside the device: the threaded line is
 * raised a few times, then the hrtimer that ran all along is stopped.
 */
async function familyChecks(m: Machine): Promise<TourCheck[]> {
  for (let i = 0; i < 20; i++) {
    m.raiseIrq(FAMILY_IRQ);
    await sleep(1);
  }
  await m.quiesce({ timeoutMs: QUIESCE_TIMEOUT_MS });
  const f = await m.call<FamilyStats>(0, FAMILY, 'stats');
  const thread = m.threads().find((t) => t.comm === `irq/${FAMILY_IRQ}-family`);
  return [
    {
      name: `threaded IRQ: every IRQ_WAKE_THREAD ran thread_fn once, in irq/${FAMILY_IRQ}-family (process context)`,
      pass: f.wakes > 0 && f.threadRuns === f.wakes && f.threadCtxBad === 0 && thread !== undefined,
      detail: `${f.wakes} wake-ups, ${f.threadRuns} thread runs, thread ${thread ? `pid ${thread.pid} on CPU ${thread.cpu}` : 'missing'}`,
    },
    {
      name: 'hrtimer: restarted every 500 us, never early',
      pass: f.hrtRuns > 0 && f.hrtEarly === 0,
      detail: `${f.hrtRuns} expiries, ${f.hrtEarly} early, lateness mean ${f.hrtLateMeanUs} us, max ${f.hrtLateMaxUs} us`,
    },
    {
      name: 'irq_work: every queued work ran once, in hardirq context',
      pass: f.iwQueued > 0 && f.iwRuns === f.iwQueued && f.iwCtxBad === 0,
      detail: `${f.iwQueued} queued, ${f.iwRuns} ran`,
    },
  ];
}

interface DriveOptions {
  cpus: number;
  seconds: number;
  hz: number;
  rate: number;
  signal: AbortSignal | undefined;
  onProgress: ((p: TourProgress) => void) | undefined;
}

async function drive(m: Machine, o: DriveOptions): Promise<TourResult> {
  const { cpus } = o;
  const nQueues = cpus;
  const stats = m.sharedArray(NETDEV_NAMES.stats, Int32Array);
  const pcpu = m.perCpuArray(NETDEV_NAMES.pcpu, Int32Array, PCPU_WORDS);
  const hardirqsByQueue = m.perCpuArray(NETDEV_NAMES.hardirqs, Int32Array, nQueues);
  const errors: string[] = [];
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

  // 2. A writer on every CPU, until the host sets the control word.
  Atomics.store(stats, STAT_CTL, 0);
  const writerUpdates: number[] = new Array<number>(cpus).fill(-1);
  const writers = Promise.all(
    Array.from({ length: cpus }, (_, cpu) =>
      m.call<number>(cpu, NETDEV, 'writer', Number.MAX_SAFE_INTEGER).then(
        (n) => {
          writerUpdates[cpu] = n;
        },
        (e: unknown) => {
          errors.push(`writer on CPU ${cpu} failed: ${e instanceof Error ? e.message : String(e)}`);
        },
      ),
    ),
  );

  // 3. Paced interrupts: burst k is due at t0 + k / rate.
  const periodMs = 1000 / o.rate;
  const durationMs = o.seconds * 1000;
  let raised = 0;
  let bursts = 0;
  let burstsSkipped = 0;
  let cursor = 0;
  let lastProgress = -Infinity;
  const progress = (elapsedMs: number): void => {
    if (!o.onProgress) return;
    const counts = m.softirqCounts();
    o.onProgress({
      elapsedS: Math.min(elapsedMs, durationMs) / 1000,
      seconds: o.seconds,
      raised,
      delivered: deliveredNow(m, nQueues),
      netRx: sum(counts.map((row) => row[NET_RX_SOFTIRQ]!)),
      writes: sum(pcpu.map((a) => Atomics.load(a, PCPU_WRITES))),
    });
  };
  const t0 = performance.now();
  let elapsedMs = 0;
  while (!o.signal?.aborted && errors.length === 0) {
    elapsedMs = performance.now() - t0;
    if (elapsedMs >= durationMs) break;
    let due = Math.floor(elapsedMs / periodMs) + 1 - bursts;
    if (due > MAX_CATCH_UP) {
      burstsSkipped += due - MAX_CATCH_UP;
      bursts += due - MAX_CATCH_UP;
      due = MAX_CATCH_UP;
    }
    for (; due > 0; due--, bursts++) {
      for (let k = 0; k < nQueues; k++) {
        m.raiseIrq(IRQ_BASE + cursor);
        cursor = (cursor + 1) % nQueues;
        raised++;
      }
    }
    if (elapsedMs - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = elapsedMs;
      progress(elapsedMs);
    }
    const wait = t0 + bursts * periodMs - performance.now();
    await sleep(Math.max(0, wait));
  }
  elapsedMs = Math.min(performance.now() - t0, durationMs);
  const aborted = o.signal?.aborted === true;
  // The task list while the writers still run (afterwards only kthreads are left).
  const ps = m.ps();

  // 4. Wind down: stop the writers, let the last softirqs run, read the books.
  Atomics.store(stats, STAT_CTL, 1);
  const stopped = await Promise.race([writers.then(() => true), sleep(WRITER_STOP_TIMEOUT_MS, false, { ref: false })]);
  if (!stopped) errors.push(`writers did not stop within ${WRITER_STOP_TIMEOUT_MS} ms:\n${m.cpuStatus()}`);
  try {
    await m.quiesce({ timeoutMs: QUIESCE_TIMEOUT_MS });
  } catch (e) {
    errors.push(e instanceof Error ? e.message : String(e));
  }
  progress(elapsedMs);

  const softirqs = m.softirqCounts();
  const procNetRx = softirqs.map((row) => row[NET_RX_SOFTIRQ]!);
  const netRxRuns = pcpu.map((a) => Atomics.load(a, PCPU_RX_RUNS));
  const rxPackets = pcpu.map((a) => Atomics.load(a, PCPU_RX_PACKETS));
  const backlog = pcpu.map((a) => Atomics.load(a, PCPU_BACKLOG));
  const writes = pcpu.map((a) => Atomics.load(a, PCPU_WRITES));
  const hardirqs = hardirqsByQueue.map((a) => sum(Array.from(a)));
  const irqCounts = Array.from({ length: nQueues }, (_, q) => m.irqCounts(IRQ_BASE + q)); // [queue][cpu]
  const total = Atomics.load(stats, STAT_TOTAL);
  const dmesg = m.dmesg();

  const checks: TourCheck[] = [];
  const check = (name: string, pass: boolean, detail: string): void => {
    checks.push({ name, pass, detail });
  };
  const list = (xs: readonly number[]): string => `[${xs.join(', ')}]`;

  check('tour ran without errors', errors.length === 0, errors.length === 0 ? 'none' : errors.join('; '));

  const writerSum = sum(writerUpdates.filter((n) => n >= 0));
  const rxSum = sum(netRxRuns);
  check(
    'no lost update: shared counter = writer updates + NET_RX runs',
    total === writerSum + rxSum && writerUpdates.every((n) => n >= 0),
    `${total} ${total === writerSum + rxSum ? '=' : '!='} ${writerSum} + ${rxSum}`,
  );
  check(
    'writers: updates returned = updates counted per CPU',
    writerUpdates.every((n, c) => n === writes[c]),
    `returned ${list(writerUpdates)}, counted ${list(writes)}`,
  );
  check(
    'NET_RX runs per CPU = /proc/softirqs NET_RX',
    netRxRuns.every((n, c) => n === procNetRx[c]),
    `module ${list(netRxRuns)}, /proc/softirqs ${list(procNetRx)}`,
  );
  const mismatches: string[] = [];
  for (let q = 0; q < nQueues; q++) {
    for (let c = 0; c < cpus; c++) {
      const mine = hardirqsByQueue[c]![q]!;
      const proc = irqCounts[q]![c]!;
      if (mine !== proc) mismatches.push(`IRQ ${IRQ_BASE + q} CPU${c}: ${mine} != ${proc}`);
    }
  }
  const procPerCpu = Array.from({ length: cpus }, (_, c) => sum(irqCounts.map((row) => row[c]!)));
  check(
    'hardirqs per CPU = /proc/interrupts',
    mismatches.length === 0,
    mismatches.length === 0 ? `handler ${list(hardirqs)}, /proc/interrupts ${list(procPerCpu)}` : mismatches.slice(0, 4).join('; '),
  );
  const stray: string[] = [];
  for (let q = 0; q < nQueues; q++) {
    for (let c = 0; c < cpus; c++) if (c !== q && irqCounts[q]![c]! !== 0) stray.push(`eth0-rx-${q} on CPU${c}: ${irqCounts[q]![c]}`);
  }
  check(
    'affinity: queue q interrupts only CPU q',
    stray.length === 0,
    stray.length === 0 ? `${nQueues} queues, 0 strays` : stray.slice(0, 4).join('; '),
  );
  check(
    'no packet lost: NET_RX drained one packet per hardirq',
    rxPackets.every((n, c) => n === hardirqs[c]) && backlog.every((n) => n === 0),
    `drained ${list(rxPackets)}, hardirqs ${list(hardirqs)}, backlog ${list(backlog)}`,
  );
  const idleCpus = Array.from({ length: cpus }, (_, c) => c).filter((c) => !(hardirqs[c]! > 0 && netRxRuns[c]! > 0 && writes[c]! > 0));
  check(
    'every CPU took interrupts, ran NET_RX and wrote',
    idleCpus.length === 0,
    idleCpus.length === 0 ? `${cpus} of ${cpus} CPUs` : `CPUs ${idleCpus.join(', ')} did not`,
  );
  const bad = m.reports().map((r) => r.title);
  check(
    'dmesg: no BUG, Oops or WARNING',
    bad.length === 0 && !m.panicked() && m.oopses() === 0,
    bad.length === 0 ? `${dmesg.split('\n').filter((l) => l.length > 0).length} lines, oopses ${m.oopses()}` : bad.slice(0, 2).join(' | '),
  );

  return {
    cpus,
    hz: o.hz,
    seconds: o.seconds,
    rate: o.rate,
    node: process.version,
    cores: availableParallelism(),
    elapsedMs,
    aborted,
    raised,
    bursts,
    burstsSkipped,
    hardirqs,
    netRxRuns,
    procNetRx,
    rxPackets,
    writerUpdates,
    total,
    procSoftirqs: m.procSoftirqs(),
    procInterrupts: m.procInterrupts(),
    ps,
    dmesg,
    errors,
    checks,
    ok: checks.every((c) => c.pass),
  };
}

function deliveredNow(m: Machine, nQueues: number): number {
  let n = 0;
  for (let q = 0; q < nQueues; q++) for (const c of m.irqCounts(IRQ_BASE + q)) n += c;
  return n;
}
