/**
 * locking.ts — the locking matrix: who shares a counter, by the lock used,
 * each cell run for real and set against what the kernel's locking guide
 * prescribes (S-LOCK-6).
 *
 * Scenario, for every cell (row: a pair of contexts and their placement;
 * column: the lock variant side A uses — modules/stress.ts):
 *   1. configure the stress module's control array for the cell;
 *   2. start side B's polling task if B is a task, then side A on its CPU;
 *      A does N increments and triggers B once per increment — at a few
 *      seeded iterations between its read and its write (a forced window);
 *   3. wait until B has drained every request, stop B, quiesce;
 *   4. read the counter: expected = A's + B's increments; read the kernel
 *      log since the cell began: lockdep's reports, a spinlock BUG.
 *
 * Cells that may deadlock (a plain or _bh lock on the CPU the interrupting
 * side runs on) stop their machine: each runs on a fresh one. Every other
 * cell shares one machine; a cell that stops it anyway is recorded, and the
 * next one boots a fresh machine.
 *
 * This file prints nothing: it returns a LockingResult (commands/stress.ts
 * prints it), so that tests run the matrix in-process.
 */
import { availableParallelism } from 'node:os';
import { Machine, type MachineOptions } from '@kdefer/workers';
import { H_LOG_HEAD, KdeferError, MAX_CPUS } from '@kdefer/core';
import {
  STRESS,
  STRESS_IRQ,
  STRESS_ROWS,
  VARIANTS,
  CTX_NAMES,
  CTX_TASK,
  CTX_TIMER,
  CTX_HARDIRQ,
  V_NONE,
  V_SPIN,
  V_BH,
  V_IRQ,
  MAX_WINDOWS,
  S_LOCK,
  S_VA,
  S_VB,
  S_KA,
  S_KB,
  S_CPU_A,
  S_CPU_B,
  S_N,
  S_RELAX,
  S_COUNTER,
  S_A_DONE,
  S_B_DONE,
  S_STOP,
  S_OUTSIDE,
  S_WAIT_US,
  S_WINDOWS,
  S_WIN_HIT,
  S_NWIN,
  S_WIN_AT,
  S_POSTED,
  CTL_WORDS,
  cellLock,
  stressLockName,
  type Ctx,
  type Variant,
  type VariantName,
  type StressRow,
} from '../modules/stress.js';
import { defaultCpus } from '../options.js';
import { seededRandom, hashString, randomSeed } from '../seed.js';

/** The built-in stress module, as Machine.boot loads it. */
export const stressModule = new URL('../modules/stress.js', import.meta.url);

/**
 * The lockup bound of a machine of its own (a cell that may deadlock: the
 * report it expects is a recursion, at once) and of the shared machine
 * (where a spinner waits at most a window: WINDOW_GRACE_MS, or S_WAIT_US
 * when the other CPU starts late).
 */
export const STRESS_SPIN_LOCKUP_MS = 500;
export const SHARED_SPIN_LOCKUP_MS = 2000;
/** How long side A may take to finish its loop before the cell is declared stuck. */
const CELL_TIMEOUT_MS = 20_000;
/** How long side B may take to drain what A posted. */
const DRAIN_TIMEOUT_MS = 10_000;

// ------------------------------------------------------------ one cell on a machine

/** What one run of the stress module does (a matrix cell, a campaign trial). */
export interface CellSpec {
  /** index of the lock (cellLock / trialLock) */
  lock: number;
  a: Ctx;
  b: Ctx;
  va: Variant;
  vb: Variant;
  cpuA: number;
  cpuB: number;
  /** A's increments */
  n: number;
  /** cpu_relax() between the read and the write */
  relax: number;
  /** A's iterations that open a forced window (sorted, at most MAX_WINDOWS) */
  windowsAt: number[];
  /** trigger B after every other increment of A too (else only in windows) */
  outside: boolean;
  /** how long a window waits for B (µs) */
  waitUs: number;
}

/** What happened. */
export interface CellRun {
  outcome: 'correct' | 'lost' | 'deadlock' | 'report' | 'error';
  /** updates lost (null when the machine stopped: the count means nothing then) */
  lost: number | null;
  counter: number;
  aDone: number;
  bDone: number;
  windows: number;
  windowsHit: number;
  /** the BUG line of a deadlock report */
  deadlock: string | null;
  /** lockdep's report headlines ("inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.") */
  reports: string[];
  errors: string[];
  /** the kernel log of the cell */
  dmesg: string[];
  /** the machine stopped (it cannot run another cell) */
  stopped: boolean;
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A bound that does not keep the process alive once everything else is done. */
const bound = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Run one cell on `m` (booted with the stress module); the machine is left as it is. */
export async function runCell(m: Machine, spec: CellSpec): Promise<CellRun> {
  const t0 = performance.now();
  const s = m.sharedArray('stress.ctl', Int32Array, CTL_WORDS);
  for (let k = 0; k < CTL_WORDS; k++) Atomics.store(s, k, 0);
  const windowsAt = spec.windowsAt.slice(0, MAX_WINDOWS);
  const set: [number, number][] = [
    [S_LOCK, spec.lock],
    [S_VA, spec.va],
    [S_VB, spec.vb],
    [S_KA, spec.a],
    [S_KB, spec.b],
    [S_CPU_A, spec.cpuA],
    [S_CPU_B, spec.cpuB],
    [S_N, spec.n],
    [S_RELAX, spec.relax],
    [S_OUTSIDE, spec.outside ? 1 : 0],
    [S_WAIT_US, spec.waitUs],
    [S_NWIN, windowsAt.length],
  ];
  for (const [k, v] of set) Atomics.store(s, k, v);
  windowsAt.forEach((it, k) => Atomics.store(s, S_WIN_AT + k, it));
  m.setIrqAffinity(STRESS_IRQ, [spec.cpuB]);
  const logFrom = Atomics.load(m.mem.i32, H_LOG_HEAD);
  const errors: string[] = [];

  // 2. B's polling task (a task side needs no trigger), then A.
  const bTask =
    spec.b === CTX_TASK ? m.call<number>(spec.cpuB, STRESS, 'runB').catch((e: unknown) => void errors.push(`side B: ${msg(e)}`)) : null;
  let timedOut = false;
  const aRun = m.call<number>(spec.cpuA, STRESS, 'runA');
  const aDone = await Promise.race([
    aRun.then(
      () => true,
      (e: unknown) => (errors.push(`side A: ${msg(e)}`), true),
    ),
    bound(CELL_TIMEOUT_MS).then(() => false),
  ]);
  if (!aDone) {
    timedOut = true;
    aRun.catch(() => {});
    errors.push(`side A did not finish in ${CELL_TIMEOUT_MS} ms`);
  }

  // 3. B drains what A posted.
  if (!m.panicked() && !timedOut) {
    const until = performance.now() + DRAIN_TIMEOUT_MS;
    while (Atomics.load(s, S_B_DONE) < Atomics.load(s, S_POSTED) && !m.panicked() && performance.now() < until) await sleep(1);
    if (Atomics.load(s, S_B_DONE) < Atomics.load(s, S_POSTED) && !m.panicked()) {
      errors.push(`side B did ${Atomics.load(s, S_B_DONE)} of ${Atomics.load(s, S_POSTED)} increments in ${DRAIN_TIMEOUT_MS} ms`);
    }
  }
  Atomics.store(s, S_STOP, 1);
  if (bTask) await Promise.race([bTask, bound(DRAIN_TIMEOUT_MS)]);
  if (!m.panicked() && !timedOut) {
    try {
      await m.quiesce({ timeoutMs: 10_000 });
    } catch (e) {
      errors.push(msg(e));
    }
  }

  // 4. The books and the log.
  const counter = Atomics.load(s, S_COUNTER);
  const a = Atomics.load(s, S_A_DONE);
  const b = Atomics.load(s, S_B_DONE);
  const stopped = m.panicked() || timedOut;
  const reps = m.reports(logFrom);
  const deadlock =
    reps.find((r) => /^BUG: (spinlock|rwlock) (recursion|lockup suspected)/.test(r.title))?.title ??
    (m.panicked() ? (reps[0]?.title ?? 'machine panicked') : null);
  // lockdep's reports, named by their most telling line ("inconsistent {A} -> {B} usage." for an inconsistent state).
  const reports = reps
    .filter((r) => r.kind === 'lockdep')
    .map((r) =>
      r.title === 'WARNING: inconsistent lock state'
        ? (r.text.split('\n').find((l) => l.startsWith('inconsistent {')) ?? r.title)
        : r.title,
    );
  const otherBugs = reps.filter((r) => r.kind !== 'lockdep' && r.title !== deadlock).map((r) => r.title);
  const lost = stopped ? null : a + b - counter;
  if (deadlock === null) errors.push(...otherBugs);
  // After a deadlock report the sides' calls fail because the machine stopped: that is the report, not another error.
  else errors.splice(0, errors.length, ...errors.filter((e) => !/^side [AB]: /.test(e)));
  let outcome: CellRun['outcome'];
  if (deadlock !== null) outcome = 'deadlock';
  else if (errors.length > 0) outcome = 'error';
  else if (lost !== null && lost !== 0) outcome = 'lost';
  else if (reports.length > 0) outcome = 'report';
  else outcome = 'correct';
  return {
    outcome,
    lost,
    counter,
    aDone: a,
    bDone: b,
    windows: Atomics.load(s, S_WINDOWS),
    windowsHit: Atomics.load(s, S_WIN_HIT),
    deadlock,
    reports,
    errors,
    dmesg: m.dmesgRecords(logFrom).map((r) => r.text),
    stopped,
    ms: performance.now() - t0,
  };
}

// ------------------------------------------------------------ the guide

/** Whether lock variant `v`, held by the other side, keeps a `ctx` on the same CPU out. */
export function excludes(v: Variant, ctx: Ctx): boolean {
  if (ctx === CTX_HARDIRQ) return v >= V_IRQ;
  if (ctx === CTX_TASK) return v >= V_SPIN;
  return v >= V_BH;
}

/** The guide's verdict on a cell: the variant is at least the one it prescribes. */
export const guideSaysCorrect = (row: StressRow, v: Variant): boolean => v >= row.min;

/** Whether a cell may stop its machine: an interrupting side on A's CPU that A's lock does not keep out. */
export const mayStop = (row: StressRow, v: Variant): boolean => row.sameCpu && !row.peer && v !== V_NONE && !excludes(v, row.b);

/**
 * How long a window waits for B to begin an increment: an interrupt on A's
 * CPU lands at once (or is held off by A's lock); a timer waits for a tick;
 * another CPU may start late on a loaded host, and waiting for it costs
 * nothing when it comes (a window then closes WINDOW_GRACE_MS after B's
 * attempt, or when B is done).
 */
function waitUsFor(row: StressRow, hz: number): number {
  // The same tasklet, the same IRQ line: B cannot begin while A runs — only a bug would let it. The
  // tasklet's other CPU is busy re-polling it, so it would begin at once; the IRQ's other CPU may be parked.
  if (row.peer && row.min === V_NONE) return row.b === CTX_HARDIRQ ? 100_000 : 20_000;
  if (row.sameCpu) return row.b === CTX_TIMER ? Math.max(20_000, Math.ceil(4e6 / hz)) : 500;
  return 200_000;
}

/** The seeded iterations of a cell's forced windows: `count` distinct ones in [1, n). */
export function pickWindows(seed: number, n: number, count: number): number[] {
  const rnd = seededRandom(seed);
  const want = Math.min(count, Math.max(0, n - 1), MAX_WINDOWS);
  const set = new Set<number>();
  while (set.size < want) set.add(1 + Math.floor(rnd() * (n - 1)));
  return [...set].sort((x, y) => x - y);
}

// ------------------------------------------------------------ the matrix

export interface LockingOptions {
  /** CPUs of each machine (2 at least for the other-CPU rows; default one per core, at least 2) */
  cpus?: number;
  /** increments of side A per cell (default 1000) */
  iterations?: number;
  /** forced windows per cell (default 3; 0: only the races that happen by themselves) */
  windows?: number;
  /** cpu_relax() between read and write (default 3) */
  relax?: number;
  /** boot option amplify, 0-3 (default 0) */
  amplify?: number;
  /** seed: machine seed and the windows' placement (default random) */
  seed?: number;
  /** the lock validator (default on) */
  lockdep?: boolean;
  /** only these rows (ids of STRESS_ROWS) */
  rows?: string[];
  /** only these variants */
  variants?: VariantName[];
  /** tick rate (default 1000) */
  hz?: number;
  signal?: AbortSignal;
  /** after each cell */
  onCell?: (done: number, total: number, cell: CellResult) => void;
}

export interface CellResult {
  row: string;
  a: string;
  b: string;
  sameCpu: boolean;
  variant: VariantName;
  /** the variant side B used */
  bVariant: VariantName;
  /** what S-LOCK-6 prescribes for side A */
  guide: string;
  prescribed: VariantName;
  /** this column is the prescribed variant */
  isPrescribed: boolean;
  /** the guide's verdict: "correct" (no loss, no report) or "bug" (a loss, a report or a deadlock) */
  expected: 'correct' | 'bug';
  outcome: CellRun['outcome'] | 'skipped';
  /** why the cell was not run */
  skipped?: string;
  agrees: boolean;
  lost: number | null;
  counter: number;
  aDone: number;
  bDone: number;
  windows: number;
  windowsHit: number;
  deadlock: string | null;
  reports: string[];
  errors: string[];
  /** ran on a machine of its own */
  ownMachine: boolean;
  ms: number;
}

export interface LockingResult {
  seed: number;
  amplify: number;
  cpus: number;
  iterations: number;
  windows: number;
  relax: number;
  lockdep: boolean;
  hz: number;
  node: string;
  cores: number;
  cells: CellResult[];
  /** cells run, and how many agree with the guide */
  run: number;
  agree: number;
  /** prescribed-variant cells that lost an update or reported */
  prescribedFailures: number;
  machinesBooted: number;
  aborted: boolean;
  elapsedMs: number;
  /** no prescribed-variant cell failed */
  ok: boolean;
}

/** Run the matrix. Machines are always shut down before this settles. */
export async function runStressLocking(opts: LockingOptions = {}): Promise<LockingResult> {
  const t0 = performance.now();
  const cpus = opts.cpus ?? defaultCpus();
  const iterations = opts.iterations ?? 1000;
  const windows = opts.windows ?? 3;
  const relax = opts.relax ?? 3;
  const amplify = opts.amplify ?? 0;
  const seed = (opts.seed ?? randomSeed()) >>> 0;
  const lockdep = opts.lockdep ?? true;
  const hz = opts.hz ?? 1000;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS)
    throw new KdeferError(`stress locking: cpus must be an integer from 1 to ${MAX_CPUS}, not ${cpus}`);
  if (!Number.isInteger(iterations) || iterations < 2)
    throw new KdeferError(`stress locking: iterations must be an integer of at least 2, not ${iterations}`);
  if (!Number.isInteger(windows) || windows < 0 || windows > MAX_WINDOWS)
    throw new KdeferError(`stress locking: windows must be from 0 to ${MAX_WINDOWS}`);
  for (const r of opts.rows ?? [])
    if (!STRESS_ROWS.some((x) => x.id === r))
      throw new KdeferError(`stress locking: no row '${r}' (rows: ${STRESS_ROWS.map((x) => x.id).join(', ')})`);
  for (const v of opts.variants ?? [])
    if (!VARIANTS.includes(v)) throw new KdeferError(`stress locking: no variant '${v}' (variants: ${VARIANTS.join(', ')})`);

  const boot: MachineOptions = { cpus, hz, lockdep, modules: [stressModule], ...(amplify > 0 ? { amplify } : {}), seed };
  let booted = 0;
  const bootOne = async (own: boolean): Promise<Machine> => {
    booted++;
    return Machine.boot({ ...boot, spinLockupMs: own ? STRESS_SPIN_LOCKUP_MS : SHARED_SPIN_LOCKUP_MS });
  };

  // Plan: every (row, variant), in print order; who runs where.
  interface Planned {
    rowIndex: number;
    row: StressRow;
    v: Variant;
    skip: string | null;
    own: boolean;
  }
  const plan: Planned[] = [];
  STRESS_ROWS.forEach((row, rowIndex) => {
    if (opts.rows && !opts.rows.includes(row.id)) return;
    for (let v = V_NONE as Variant; v <= 4; v = (v + 1) as Variant) {
      if (opts.variants && !opts.variants.includes(VARIANTS[v])) continue;
      const skip = row.skip?.[v] ?? (!row.sameCpu && cpus < 2 ? 'needs 2 CPUs' : null);
      plan.push({ rowIndex, row, v, skip, own: mayStop(row, v) });
    }
  });
  const cells: CellResult[] = new Array<CellResult>(plan.length);
  const total = plan.length;
  let done = 0;
  let aborted = false;

  const record = (i: number, run: CellRun | null, skip: string | null): void => {
    const { row, v, own } = plan[i]!;
    const expected = guideSaysCorrect(row, v) ? 'correct' : 'bug';
    const outcome = run ? run.outcome : 'skipped';
    const agrees =
      run === null
        ? true
        : expected === 'correct'
          ? outcome === 'correct'
          : outcome === 'lost' || outcome === 'deadlock' || outcome === 'report';
    cells[i] = {
      row: row.id,
      a: CTX_NAMES[row.a],
      b: CTX_NAMES[row.b],
      sameCpu: row.sameCpu,
      variant: VARIANTS[v],
      bVariant: VARIANTS[bVariant(row, v)],
      guide: row.guide,
      prescribed: VARIANTS[row.min],
      isPrescribed: v === row.min,
      expected,
      outcome,
      ...(skip !== null ? { skipped: skip } : {}),
      agrees,
      lost: run?.lost ?? null,
      counter: run?.counter ?? 0,
      aDone: run?.aDone ?? 0,
      bDone: run?.bDone ?? 0,
      windows: run?.windows ?? 0,
      windowsHit: run?.windowsHit ?? 0,
      deadlock: run?.deadlock ?? null,
      reports: run?.reports ?? [],
      errors: run?.errors ?? [],
      ownMachine: own,
      ms: run?.ms ?? 0,
    };
    done++;
    opts.onCell?.(done, total, cells[i]!);
  };

  const specOf = (p: Planned): CellSpec => ({
    lock: cellLock(p.rowIndex, p.v),
    a: p.row.a,
    b: p.row.b,
    va: p.v,
    vb: bVariant(p.row, p.v),
    cpuA: 0,
    cpuB: p.row.sameCpu ? 0 : 1,
    n: iterations,
    relax,
    windowsAt: pickWindows((seed ^ hashString(stressLockName(cellLock(p.rowIndex, p.v)))) >>> 0, iterations, windows),
    outside: true,
    waitUs: waitUsFor(p.row, hz),
  });

  let shared: Machine | null = null;
  try {
    // Cells that cannot stop the machine share one; the others get one each.
    for (const pass of [false, true]) {
      for (let i = 0; i < plan.length; i++) {
        const p = plan[i]!;
        if (p.own !== pass) continue;
        if (p.skip !== null || opts.signal?.aborted) {
          if (opts.signal?.aborted) aborted = true;
          record(i, null, p.skip ?? 'interrupted');
          continue;
        }
        if (p.own) {
          const m = await bootOne(true);
          try {
            record(i, await runCell(m, specOf(p)), null);
          } finally {
            await m.shutdown();
          }
        } else {
          shared ??= await bootOne(false);
          const run = await runCell(shared, specOf(p));
          record(i, run, null);
          if (run.stopped) {
            await shared.shutdown();
            shared = null;
          }
        }
      }
    }
  } finally {
    if (shared) await shared.shutdown();
  }

  const ran = cells.filter((c) => c.outcome !== 'skipped');
  const prescribedFailures = ran.filter((c) => c.isPrescribed && c.outcome !== 'correct').length;
  return {
    seed,
    amplify,
    cpus,
    iterations,
    windows,
    relax,
    lockdep,
    hz,
    node: process.version,
    cores: availableParallelism(),
    cells,
    run: ran.length,
    agree: ran.filter((c) => c.agrees).length,
    prescribedFailures,
    machinesBooted: booted,
    aborted,
    elapsedMs: performance.now() - t0,
    ok: prescribedFailures === 0 && !aborted,
  };
}

/** The variant side B uses: A's for peers, else plain spin_lock (none in the none column). */
export function bVariant(row: StressRow, v: Variant): Variant {
  if (row.peer) return v;
  return v === V_NONE ? V_NONE : V_SPIN;
}
