/**
 * torture.ts — the lock-torture scenario (`kdefer stress torture`), after
 * kernel/locking/locktorture.c.
 *
 * Scenario:
 *   1. boot a machine with the torture module;
 *   2. start `writers` writer tasks and (rwlock only) `readers` reader tasks
 *      on every CPU; with `softirq`, the tasks use the _bh variants and the
 *      host fires the torture IRQ at every CPU `softirqRate` times a second,
 *      whose softirq takes the lock as a writer too;
 *   3. after `seconds` (the time bound), tell every thread to stop, wait for
 *      them (bounded), quiesce;
 *   4. per thread: acquisitions and failures (a writer that found another
 *      writer or a reader inside, a reader that found a writer inside); the
 *      totals, acquisitions per second, and max/min per thread — the
 *      fairness figure locktorture prints — plus any kernel report.
 *
 * A spinner waiting past the lockup bound (writer starvation under the
 * reader-preferring rwlock, say) is a kernel report and stops the machine:
 * the run ends there and says so.
 *
 * This file prints nothing: it returns a TortureResult (commands/stress.ts
 * prints it).
 */
import { availableParallelism } from 'node:os';
import { Machine } from '@kdefer/workers';
import { KdeferError, MAX_CPUS } from '@kdefer/core';
import {
  TORTURE,
  TORTURE_IRQ,
  TORTURE_MAX_THREADS,
  T_STOP,
  T_RW,
  T_BH,
  T_HOLD,
  T_LONG_EVERY,
  T_SIRQ_BASE,
  T_SIRQ_BATCH,
  CTL_WORDS,
} from '../modules/torture.js';
import { defaultCpus } from '../options.js';
import { randomSeed } from '../seed.js';

/** The built-in torture module. */
export const tortureModule = new URL('../modules/torture.js', import.meta.url);

/** How long the threads may take to notice the stop word. */
const STOP_TIMEOUT_MS = 10_000;
const PROGRESS_EVERY_MS = 100;

export type TortureLock = 'spin' | 'rw';

export interface TortureOptions {
  /** CPUs (default one per core, at least 2) */
  cpus?: number;
  /** the time bound (default 2 s) */
  seconds?: number;
  /** writer tasks per CPU (default 2) */
  writers?: number;
  /** reader tasks per CPU, rwlock only (default 2 with --lock rw) */
  readers?: number;
  /** spin: spinlock_t; rw: rwlock_t (default spin) */
  lock?: TortureLock;
  /** a softirq writer on every CPU too; the tasks then use _bh (default off) */
  softirq?: boolean;
  /** torture IRQs per second per CPU when `softirq` (default 2000) */
  softirqRate?: number;
  /** cpu_relax() inside a critical section (default 4) */
  hold?: number;
  /** the lockup bound (ms) of spinners (default 2000) */
  spinLockupMs?: number;
  amplify?: number;
  seed?: number;
  lockdep?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TortureProgress) => void;
}

export interface TortureProgress {
  elapsedS: number;
  seconds: number;
  writes: number;
  reads: number;
}

export interface TortureThread {
  /** "w" writer task, "r" reader task, "s" softirq writer */
  kind: 'w' | 'r' | 's';
  cpu: number;
  /** index among its CPU's threads of its kind */
  n: number;
  acquisitions: number;
  failures: number;
}

export interface TortureSide {
  total: number;
  max: number;
  min: number;
  fail: number;
  /** acquisitions per second */
  perSecond: number;
  /** locktorture's "???": the busiest thread got more than twice the least busy one's share */
  unfair: boolean;
  threads: number;
}

export interface TortureResult {
  lock: TortureLock;
  /** the kernel type tortured, as locktorture names it */
  torture: string;
  cpus: number;
  writersPerCpu: number;
  readersPerCpu: number;
  softirq: boolean;
  seconds: number;
  elapsedMs: number;
  seed: number;
  amplify: number;
  lockdep: boolean;
  node: string;
  cores: number;
  threads: TortureThread[];
  /** writer tasks, reader tasks, softirq writers */
  writes: TortureSide;
  reads: TortureSide;
  softirqWrites: TortureSide;
  /** torture IRQs the host raised (each runs the softirq writer of the CPU it lands on) */
  irqsRaised: number;
  /** kernel reports (BUG, WARNING, Oops) */
  reports: string[];
  /** threads that did not stop, or failed */
  errors: string[];
  aborted: boolean;
  /** no failure, no report, no error */
  ok: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A bound that does not keep the process alive once everything else is done. */
const bound = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Run the torture on a fresh machine; it is always shut down before this settles. */
export async function runTorture(opts: TortureOptions = {}): Promise<TortureResult> {
  const cpus = opts.cpus ?? defaultCpus();
  const seconds = opts.seconds ?? 2;
  const lock = opts.lock ?? 'spin';
  const writers = opts.writers ?? 2;
  const readers = lock === 'rw' ? (opts.readers ?? 2) : 0;
  const softirq = opts.softirq ?? false;
  const softirqRate = opts.softirqRate ?? 2000;
  const hold = opts.hold ?? 4;
  const amplify = opts.amplify ?? 0;
  const seed = (opts.seed ?? randomSeed()) >>> 0;
  const lockdep = opts.lockdep ?? true;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS)
    throw new KdeferError(`stress torture: cpus must be an integer from 1 to ${MAX_CPUS}, not ${cpus}`);
  if (!(seconds > 0)) throw new KdeferError(`stress torture: seconds must be positive, not ${seconds}`);
  if (lock !== 'spin' && lock !== 'rw') throw new KdeferError(`stress torture: lock must be spin or rw, not '${String(lock)}'`);
  if (!Number.isInteger(writers) || writers < 0 || !Number.isInteger(readers) || readers < 0)
    throw new KdeferError('stress torture: writers and readers must be non-negative integers');
  const nThreads = cpus * (writers + readers) + (softirq ? cpus : 0);
  if (nThreads === 0) throw new KdeferError('stress torture: no threads (writers and readers are both 0)');
  if (nThreads > TORTURE_MAX_THREADS) throw new KdeferError(`stress torture: ${nThreads} threads, at most ${TORTURE_MAX_THREADS}`);

  // Slots: writer tasks, then reader tasks, then softirq writers.
  const threads: TortureThread[] = [];
  for (let c = 0; c < cpus; c++) for (let j = 0; j < writers; j++) threads.push({ kind: 'w', cpu: c, n: j, acquisitions: 0, failures: 0 });
  for (let c = 0; c < cpus; c++) for (let j = 0; j < readers; j++) threads.push({ kind: 'r', cpu: c, n: j, acquisitions: 0, failures: 0 });
  const sirqBase = threads.length;
  if (softirq) for (let c = 0; c < cpus; c++) threads.push({ kind: 's', cpu: c, n: 0, acquisitions: 0, failures: 0 });

  const m = await Machine.boot({
    cpus,
    hz: 1000,
    lockdep,
    seed,
    ...(amplify > 0 ? { amplify } : {}),
    spinLockupMs: opts.spinLockupMs ?? 2000,
    modules: [tortureModule],
  });
  const errors: string[] = [];
  let irqsRaised = 0;
  let aborted = false;
  const t0 = performance.now();
  let elapsedMs = 0;
  let reportTitles: string[] = [];
  try {
    const ctl = m.sharedArray('torture.ctl', Int32Array, CTL_WORDS);
    const stats = m.sharedArray('torture.stats', Float64Array, 2 * TORTURE_MAX_THREADS);
    const set: [number, number][] = [
      [T_RW, lock === 'rw' ? 1 : 0],
      [T_BH, softirq ? 1 : 0],
      [T_HOLD, hold],
      [T_LONG_EVERY, 1000],
      [T_SIRQ_BASE, sirqBase],
      [T_SIRQ_BATCH, 4],
    ];
    for (const [k, v] of set) Atomics.store(ctl, k, v);
    m.setIrqAffinity(
      TORTURE_IRQ,
      Array.from({ length: cpus }, (_, c) => c),
    );

    // 2. The threads.
    const running = threads.map((t, slot) =>
      t.kind === 's'
        ? Promise.resolve()
        : m.call<number>(t.cpu, TORTURE, t.kind === 'w' ? 'writer' : 'reader', slot).then(
            () => {},
            (e: unknown) => void errors.push(`${threadName(t)}: ${e instanceof Error ? e.message : String(e)}`),
          ),
    );
    // Writes: task and softirq writers; reads: reader tasks.
    const sum = (kind: 'w' | 'r'): number =>
      threads.reduce((a, t, slot) => a + (t.kind === kind || (kind === 'w' && t.kind === 's') ? stats[2 * slot]! : 0), 0);

    // 3. The time bound, with softirq writers fired meanwhile.
    let lastProgress = -Infinity;
    let nextIrq = t0;
    while (performance.now() - t0 < seconds * 1000 && !m.panicked()) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      const now = performance.now();
      if (softirq) {
        // cpus raises per period, round-robin over the CPUs; a late host catches up a little only.
        let burst = 0;
        while (nextIrq <= now && burst++ < 32 * cpus) {
          m.raiseIrq(TORTURE_IRQ);
          irqsRaised++;
          nextIrq += 1000 / (softirqRate * cpus);
        }
        if (nextIrq < now) nextIrq = now;
      }
      if (now - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = now;
        opts.onProgress?.({ elapsedS: (now - t0) / 1000, seconds, writes: sum('w'), reads: sum('r') });
      }
      await sleep(softirq ? 1 : 10);
    }
    elapsedMs = performance.now() - t0;
    Atomics.store(ctl, T_STOP, 1);
    const stopped = await Promise.race([Promise.all(running).then(() => true), bound(STOP_TIMEOUT_MS).then(() => false)]);
    if (!stopped) errors.push(`threads did not stop within ${STOP_TIMEOUT_MS} ms of the stop word`);
    if (!m.panicked() && stopped) {
      try {
        await m.quiesce({ timeoutMs: 10_000 });
      } catch (e) {
        errors.push(e instanceof Error ? e.message : String(e));
      }
    }
    opts.onProgress?.({ elapsedS: Math.min(seconds, elapsedMs / 1000), seconds, writes: sum('w'), reads: sum('r') });

    // 4. The books.
    threads.forEach((t, slot) => {
      t.acquisitions = stats[2 * slot]!;
      t.failures = stats[2 * slot + 1]!;
    });
  } finally {
    reportTitles = m.reports().map((r) => r.title);
    await m.shutdown();
  }
  const reports = reportTitles;
  const side = (kinds: TortureThread['kind'][]): TortureSide => {
    const ts = threads.filter((t) => kinds.includes(t.kind));
    const acq = ts.map((t) => t.acquisitions);
    const max = acq.length ? Math.max(...acq) : 0;
    const min = acq.length ? Math.min(...acq) : 0;
    const total = acq.reduce((a, b) => a + b, 0);
    return {
      total,
      max,
      min,
      fail: ts.reduce((a, t) => a + t.failures, 0),
      perSecond: elapsedMs > 0 ? total / (elapsedMs / 1000) : 0,
      unfair: ts.length > 0 && max / 2 > min,
      threads: ts.length,
    };
  };
  const writes = side(['w']);
  const reads = side(['r']);
  const softirqWrites = side(['s']);
  return {
    lock,
    torture: lock === 'rw' ? 'rw_lock' : 'spin_lock',
    cpus,
    writersPerCpu: writers,
    readersPerCpu: readers,
    softirq,
    seconds,
    elapsedMs,
    seed,
    amplify,
    lockdep,
    node: process.version,
    cores: availableParallelism(),
    threads,
    writes,
    reads,
    softirqWrites,
    irqsRaised,
    reports,
    errors,
    aborted,
    ok: writes.fail === 0 && reads.fail === 0 && softirqWrites.fail === 0 && reports.length === 0 && errors.length === 0,
  };
}

/** "cpu1/w0" */
export function threadName(t: TortureThread): string {
  return `cpu${t.cpu}/${t.kind === 's' ? 'softirq' : `${t.kind}${t.n}`}`;
}
