/**
 * det.ts — deterministic mode: one CPU at a time on a seeded schedule.
 *
 * Boot option `schedule` turns it on. The CPU threads are the same worker
 * threads as in the free-running mode, but only the holder of the BATON
 * runs kernel code. At every preemption point (entry.ts) the holder takes a
 * STEP: the step counter moves, the virtual clock advances by DET_STEP_COST_MS,
 * and the strategy decides which runnable CPU runs next. A switch stores the
 * target's baton word and notifies it (only if it parked), then the giver
 * spins briefly and parks in Atomics.wait on its own word: one futex wake per
 * real switch, none when the strategy keeps the same CPU (Coyote's design).
 *
 * Virtual time: clock_now() reads H_DET_VCLOCK, so jiffies, printk stamps,
 * the watchdogs, MAX_SOFTIRQ_TIME and the lockup bounds advance with the
 * schedule, never with the wall clock. Math.random, Date.now and
 * performance.now are replaced on CPU threads by seeded / virtual ones.
 *
 * Runnable: a CPU at a preemption point (DS_RUN), or an idle CPU that was
 * kicked since it went idle (its doorbell PC_WAKE moved) or whose next event
 * (PC_DET_DEADLINE) is due. An idle CPU with no runnable CPU left hands the
 * baton to the host (the host pump in packages/workers), which applies host
 * operations and jumps virtual time to the next deadline.
 *
 * The record: every switch the strategy chose where it had a choice, as
 * (step, cpu), -1 the host. Replay feeds them back: strict replay stops
 * following a schedule that cannot happen and reports where (the run goes
 * on leniently, so it ends); lenient replay (shrinking) skips such entries.
 *
 * Layer 2 (with entry.ts, its only caller on the CPU side). Kernel-only,
 * with host-side helpers for the pump.
 */
import {
  type Mem,
  H_DET_MODE,
  H_DET_HOLDER,
  H_DET_STEP,
  H_DET_HOST_BATON,
  H_DET_FPRINT,
  H_DET_VCLOCK,
  H_DET_RNG,
  H_DET_SWITCHES,
  H_DET_FLAGS,
  H_DET_DIVERGED,
  H_SEED,
  DET_OFF,
  DET_ON,
  DET_ENDING,
  DETF_LENIENT,
  DETF_CHOICES,
  DS_BOOT,
  DS_RUN,
  DS_IDLE,
  DS_GONE,
  PC_DET_STATE,
  PC_DET_WAKESEQ,
  PC_DET_DEADLINE,
  PC_DET_PARKED,
  PC_DET_BATON,
  PC_WAKE,
  PC_PREEMPT_COUNT,
  PC_CURRENT_PID,
  DT_STRATEGY,
  DT_P,
  DT_DEPTH,
  DT_K,
  DT_COUNTED,
  DT_CURSOR,
  DT_NREPLAY,
  DT_CAP,
  DT_DIV_EXPECT,
  DT_DIV_ACTUAL,
  DT_DIV_WHY,
  DT_YIELD_LOW,
  DT_OVERFLOW,
  DT_PRIO,
  DT_CHANGE,
  DT_MAX_CHANGES,
  DT_TABLES,
  DT_ENTRY,
  DT_HAS_FP,
  STRAT_RANDOM,
  STRAT_PCT,
  STRAT_REPLAY,
  det_region_words,
} from './layout.js';
import { mem, cpuId } from './smp.js';
import { clock_bind } from './clock.js';
import { xorshift32 } from './rand.js';

/** Virtual time one step (one preemption point) costs: 1 µs. */
export const DET_STEP_COST_MS = 0.001;
/**
 * Virtual time a spin-wait's pause (cpu_relax, a yield) costs: 50 µs, the
 * time a waiter spends before the CPU it waits for gets somewhere; so that
 * the lockup bounds (2 s for a spinlock) come after tens of thousands of
 * yields, not millions, when two CPUs wait on each other.
 */
export const DET_YIELD_COST_MS = 0.05;
/** The virtual epoch a deterministic machine boots at (2026-01-01T00:00:00Z). */
export const DET_EPOCH_MS = Date.UTC(2026, 0, 1);
/** The host, as a baton holder or a switch target. */
export const DET_HOST = -1;

/** Kinds of preemption point. */
export const DP_POINT = 0; //  a kernel call: the CPU may go on
export const DP_YIELD = 1; //  cpu_relax() in a spin-wait: switch away if anyone else can run
export const DP_IDLE = 2; //   the idle loop: this CPU has nothing to run

/** Why a replay left its schedule (DT_DIV_WHY). */
export const DIV_NOT_RUNNABLE = 1; // the recorded target could not run at that step
export const DIV_UNRECORDED = 2; //   a switch happened that the schedule does not have
export const DIV_LEFTOVER = 3; //     the run ended with recorded switches not taken
export const DIV_PATH = 4; //         the run reached a recorded switch in another state (fingerprint)

/** The strategies a schedule names. */
export type DetStrategy = 'random' | 'pct' | 'replay';

/** Boot option `schedule`: deterministic mode. */
export interface ScheduleOptions {
  /** random: switch at a point with probability p; pct: PCT of depth d; replay: follow `switches` */
  strategy: DetStrategy;
  /** the strategy's seed (default 1) */
  seed?: number;
  /** random: the probability of a switch at a preemption point (default 0.05) */
  p?: number;
  /** pct: the bug depth d (default 3): d-1 priority change points */
  depth?: number;
  /** pct: the number of steps (with a choice) the change points are drawn over (default 5000) */
  steps?: number;
  /** replay: the recorded switches, [step, cpu] or [step, cpu, fingerprint] (cpu -1: the host) */
  switches?: number[][];
  /** replay: skip recorded switches that cannot happen instead of reporting a divergence */
  lenient?: boolean;
  /** replay: also log every point where another CPU could run (DetRecord.choices; exhaustive exploration) */
  logChoices?: boolean;
  /** capacity of the record (default 65 536 switches) */
  maxSwitches?: number;
}

const STRATEGIES: Record<DetStrategy, number> = { random: STRAT_RANDOM, pct: STRAT_PCT, replay: STRAT_REPLAY };

function bad(what: string): never {
  throw new RangeError(`kdefer: boot option schedule: ${what}`);
}

/**
 * det_check_options - validate boot option `schedule` and size its region.
 * @param s - the option as given.
 * @param cpus - the machine's CPUs.
 * Context: host, setup; throws a RangeError naming what is wrong.
 * @returns the words the deterministic-mode region needs.
 */
export function det_check_options(s: ScheduleOptions, cpus: number): number {
  if (typeof s !== 'object' || s === null) bad(`expected an object { strategy, seed, ... }, got ${String(s)}`);
  if (!(s.strategy in STRATEGIES)) bad(`unknown strategy ${JSON.stringify(s.strategy)} (expected random, pct or replay)`);
  if (s.seed !== undefined && !Number.isInteger(s.seed)) bad(`seed=${String(s.seed)} must be an integer`);
  if (s.p !== undefined && !(typeof s.p === 'number' && s.p >= 0 && s.p <= 1)) bad(`p=${String(s.p)} must be a probability in [0, 1]`);
  if (s.depth !== undefined && !(Number.isInteger(s.depth) && s.depth >= 1 && s.depth <= DT_MAX_CHANGES + 1))
    bad(`depth=${String(s.depth)} must be an integer in [1, ${DT_MAX_CHANGES + 1}]`);
  if (s.steps !== undefined && !(Number.isInteger(s.steps) && s.steps >= 1)) bad(`steps=${String(s.steps)} must be a positive integer`);
  const cap = s.maxSwitches ?? 1 << 16;
  if (!Number.isInteger(cap) || cap < 16 || cap > 1 << 22) bad(`maxSwitches=${String(cap)} must be an integer in [16, ${1 << 22}]`);
  let n = 0;
  if (s.strategy === 'replay') {
    if (!Array.isArray(s.switches)) bad('strategy replay needs switches: [[step, cpu], ...]');
    let last = -1;
    for (const [i, e] of s.switches.entries()) {
      if (!Array.isArray(e) || (e.length !== 2 && e.length !== 3) || !e.every((x) => Number.isInteger(x)))
        bad(`switches[${i}] = ${JSON.stringify(e)} is not [step, cpu] or [step, cpu, fingerprint]`);
      const [step, cpu] = e as [number, number];
      if (step < last) bad(`switches[${i}]: step ${step} comes after step ${last} (switches must be in step order)`);
      if (cpu < DET_HOST || cpu >= cpus) bad(`switches[${i}]: CPU ${cpu} does not exist (CPUs 0-${cpus - 1}, -1 the host)`);
      last = step;
    }
    n = s.switches.length;
  } else if (s.switches !== undefined) bad(`switches are only for strategy replay (strategy is ${s.strategy})`);
  return det_region_words(n, cap);
}

/**
 * det_setup - host side: write the strategy, its seeded state and the replay
 * table into a new machine's memory (after det_check_options sized it).
 * @param m - the machine's memory.
 * @param s - the validated option.
 * Context: host, setup, before any CPU starts.
 */
export function det_setup(m: Mem, s: ScheduleOptions): void {
  const a = m.i32;
  const d = (f: number): number => m.det(f);
  const cpus = m.g.cpus;
  a[d(DT_STRATEGY)] = STRATEGIES[s.strategy];
  let rng = (s.seed ?? 1) >>> 0 || 0x9e3779b9;
  rng = xorshift32(xorshift32(rng));
  const next = (): number => (rng = xorshift32(rng)) >>> 0;
  a[d(DT_P)] = Math.min(0xffffffff, Math.floor((s.p ?? 0.05) * 0x100000000)) | 0;
  const depth = s.depth ?? 3;
  const k = s.steps ?? 5000;
  a[d(DT_DEPTH)] = depth;
  a[d(DT_K)] = k;
  // PCT: distinct initial priorities depth..depth+cpus-1 in a random order
  // (Fisher-Yates), and depth-1 change points uniform over 1..k.
  const prio = Array.from({ length: cpus }, (_, i) => depth + i);
  for (let i = cpus - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [prio[i], prio[j]] = [prio[j]!, prio[i]!];
  }
  for (let c = 0; c < cpus; c++) a[d(DT_PRIO + c)] = prio[c]!;
  for (let i = 0; i < depth - 1; i++) a[d(DT_CHANGE + i)] = 1 + (next() % k);
  a[d(DT_YIELD_LOW)] = 0;
  const sw = s.switches ?? [];
  a[d(DT_NREPLAY)] = sw.length;
  for (const [i, e] of sw.entries()) {
    a[d(DT_TABLES + DT_ENTRY * i)] = e[0]!;
    a[d(DT_TABLES + DT_ENTRY * i + 1)] = e[1]!;
    a[d(DT_TABLES + DT_ENTRY * i + 2)] = e[2] ?? 0;
  }
  a[d(DT_HAS_FP)] = sw.length > 0 && sw.every((e) => e.length === 3) ? 1 : 0;
  a[d(DT_CAP)] = (m.g.detWords - DT_TABLES) / DT_ENTRY - sw.length;
  a[H_DET_RNG] = next() | 1;
  a[H_DET_FPRINT] = 0x811c9dc5 | 0;
  a[H_DET_FLAGS] = (s.lenient ? DETF_LENIENT : 0) | (s.logChoices ? DETF_CHOICES : 0);
  a[H_DET_HOLDER] = DET_HOST;
  a[H_DET_HOST_BATON] = 1;
  m.setBootTime(DET_EPOCH_MS);
  m.f64[H_DET_VCLOCK / 2] = DET_EPOCH_MS;
  Atomics.store(a, H_DET_MODE, DET_ON);
}

// ---------------------------------------------------------------- both sides

/**
 * det_runnable - whether CPU `c` can run now (det mode).
 * @param m - the machine's memory.
 * @param c - the CPU.
 * Context: the baton holder (a CPU or the host).
 * @returns true for a CPU at a preemption point, or an idle CPU that was kicked or whose next event is due.
 */
export function det_runnable(m: Mem, c: number): boolean {
  const a = m.i32;
  const st = Atomics.load(a, m.cpu(c, PC_DET_STATE));
  if (st === DS_RUN) return true;
  if (st !== DS_IDLE) return false;
  return (
    Atomics.load(a, m.cpu(c, PC_WAKE)) !== a[m.cpu(c, PC_DET_WAKESEQ)] || m.f64[m.cpu(c, PC_DET_DEADLINE) / 2]! <= m.f64[H_DET_VCLOCK / 2]!
  );
}

/**
 * det_vclock - the virtual clock.
 * @param m - the machine's memory.
 * Context: any (exact for the baton holder).
 * @returns virtual epoch milliseconds.
 */
export function det_vclock(m: Mem): number {
  return m.f64[H_DET_VCLOCK / 2]!;
}

/**
 * det_next_deadline - the earliest next event of an idle CPU.
 * @param m - the machine's memory.
 * Context: the host, holding the baton.
 * @returns virtual epoch ms, Infinity when no idle CPU has a timed event.
 */
export function det_next_deadline(m: Mem): number {
  let t = Infinity;
  for (let c = 0; c < m.g.cpus; c++) {
    if (Atomics.load(m.i32, m.cpu(c, PC_DET_STATE)) !== DS_IDLE) continue;
    t = Math.min(t, m.f64[m.cpu(c, PC_DET_DEADLINE) / 2]!);
  }
  return t;
}

/**
 * det_advance_clock - host side: jump the virtual clock forward to `t` (never back).
 * @param m - the machine's memory.
 * @param t - virtual epoch ms.
 * Context: the host, holding the baton.
 */
export function det_advance_clock(m: Mem, t: number): void {
  if (t > m.f64[H_DET_VCLOCK / 2]!) m.f64[H_DET_VCLOCK / 2] = t;
}

/** A replay's departure from its schedule. */
export interface DetDivergence {
  step: number;
  expected: number; // the recorded target (-1 host, -2 none recorded)
  actual: number; // the CPU that ran instead (-1 host)
  message: string;
}

function cpuName(c: number): string {
  return c === DET_HOST ? 'the host' : `CPU ${c}`;
}

/**
 * det_divergence - the first point where a strict replay left its schedule.
 * @param m - the machine's memory.
 * Context: host, any time.
 * @returns the divergence with its message, or null while the run follows its schedule.
 */
export function det_divergence(m: Mem): DetDivergence | null {
  const a = m.i32;
  const s = a[H_DET_DIVERGED]!;
  if (s === 0) return null;
  const step = s - 1;
  const expected = a[m.det(DT_DIV_EXPECT)]!;
  const actual = a[m.det(DT_DIV_ACTUAL)]!;
  const why = a[m.det(DT_DIV_WHY)]!;
  const message =
    why === DIV_NOT_RUNNABLE
      ? `replay diverged at step ${step}: expected ${cpuName(expected)}, ${cpuName(actual)} ran (${cpuName(expected)} was not runnable)`
      : why === DIV_UNRECORDED
        ? `replay diverged at step ${step}: expected ${cpuName(expected)} to go on (no switch recorded here), ${cpuName(actual)} ran`
        : why === DIV_PATH
          ? `replay diverged at step ${step}: the run got there by another path than the recorded one (its fingerprint differs; the schedule switches to ${cpuName(expected)} here)`
          : `replay diverged at step ${step}: the run ended with ${expected} recorded switches not taken`;
  return { step, expected, actual, message };
}

/**
 * det_finish_replay - host side, at the end of a strict replay: a schedule
 * with switches left over diverged too (the run took a different path).
 * @param m - the machine's memory.
 * Context: the host, holding the baton.
 */
export function det_finish_replay(m: Mem): void {
  const a = m.i32;
  if (a[m.det(DT_STRATEGY)] !== STRAT_REPLAY || a[H_DET_DIVERGED] !== 0 || (a[H_DET_FLAGS]! & DETF_LENIENT) !== 0) return;
  const left = a[m.det(DT_NREPLAY)]! - a[m.det(DT_CURSOR)]!;
  if (left > 0) diverge(m, a[H_DET_STEP]!, left, DET_HOST, DIV_LEFTOVER);
}

/** What a deterministic run recorded. */
export interface DetRecord {
  steps: number;
  vclockMs: number;
  /** [step, cpu, fingerprint] */
  switches: [number, number, number][];
  /** logChoices: [step, mask of the other CPUs that could run] at each point where the CPU could go on */
  choices: [number, number][];
  /** pct: points where more than one CPU could run (PCT's k) */
  choicePoints: number;
  overflow: boolean;
}

/**
 * det_read_record - the switches recorded so far and the run's counters.
 * @param m - the machine's memory.
 * Context: host, any time (exact while the host holds the baton).
 * @returns the record.
 */
export function det_read_record(m: Mem): DetRecord {
  const a = m.i32;
  const n = Math.min(a[H_DET_SWITCHES]!, a[m.det(DT_CAP)]!);
  const base = m.det(DT_TABLES + DT_ENTRY * a[m.det(DT_NREPLAY)]!);
  const switches: [number, number, number][] = [];
  const choices: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const e = base + DT_ENTRY * i;
    // a choice log entry has cpu -2 - mask
    if (a[e + 1]! <= -2) choices.push([a[e]!, -2 - a[e + 1]!]);
    else switches.push([a[e]!, a[e + 1]!, a[e + 2]!]);
  }
  return {
    steps: a[H_DET_STEP]!,
    vclockMs: m.f64[H_DET_VCLOCK / 2]! - m.bootTime(),
    switches,
    choices,
    choicePoints: a[m.det(DT_COUNTED)]!,
    overflow: a[m.det(DT_OVERFLOW)] !== 0,
  };
}

function record(m: Mem, step: number, cpu: number): void {
  const a = m.i32;
  const n = a[H_DET_SWITCHES]!;
  if (n >= a[m.det(DT_CAP)]!) {
    a[m.det(DT_OVERFLOW)] = 1;
    return;
  }
  const base = m.det(DT_TABLES + DT_ENTRY * (a[m.det(DT_NREPLAY)]! + n));
  a[base] = step;
  a[base + 1] = cpu;
  a[base + 2] = a[H_DET_FPRINT]!;
  a[H_DET_SWITCHES] = n + 1;
}

function diverge(m: Mem, step: number, expected: number, actual: number, why: number): void {
  const a = m.i32;
  if (a[H_DET_DIVERGED] === 0) {
    a[m.det(DT_DIV_EXPECT)] = expected;
    a[m.det(DT_DIV_ACTUAL)] = actual;
    a[m.det(DT_DIV_WHY)] = why;
    a[H_DET_DIVERGED] = step + 1;
  }
  a[H_DET_FLAGS] = a[H_DET_FLAGS]! | DETF_LENIENT; // finish the run leniently
}

function rand(a: Int32Array): number {
  const r = xorshift32(a[H_DET_RNG]!);
  a[H_DET_RNG] = r;
  return r >>> 0;
}

const cands: number[] = [];

/**
 * det_choose - the strategy's decision at a point of `me` (a CPU, or the host
 * granting the baton), recorded when there was a choice.
 * @param m - the machine's memory.
 * @param me - the deciding CPU, DET_HOST for the host.
 * @param kind - DP_POINT (me may go on), DP_YIELD, or DP_IDLE (me cannot run; always for the host).
 * @param step - the step counter now.
 * Context: the baton holder.
 * @returns the CPU to run next: me, another CPU, or DET_HOST when nothing can run.
 */
export function det_choose(m: Mem, me: number, kind: number, step: number): number {
  const a = m.i32;
  const n = m.g.cpus;
  cands.length = 0;
  // Others in cyclic order after me: the lenient default is the next CPU round.
  for (let i = 1; i <= n; i++) {
    const c = (me + i + n) % n;
    if (c !== me && det_runnable(m, c)) cands.push(c);
  }
  if (me === DET_HOST && cands.length > 0 && cands[0] !== 0) {
    // the host's cyclic order starts at CPU 0
    cands.sort((x, y) => x - y);
  }
  const selfOk = kind !== DP_IDLE;
  if (cands.length === 0) return selfOk ? me : DET_HOST;
  const strat = a[m.det(DT_STRATEGY)]!;
  let next: number;
  if (strat === STRAT_REPLAY) return replay_choice(m, me, kind, step, selfOk);
  if (strat === STRAT_PCT) {
    next = pct_choice(m, me, kind, selfOk);
  } else if (kind === DP_POINT && rand(a) >= a[m.det(DT_P)]! >>> 0) {
    next = me;
  } else {
    next = cands[rand(a) % cands.length]!;
  }
  if (next !== me && (selfOk || cands.length > 1)) record(m, step, next);
  return next;
}

function pct_choice(m: Mem, me: number, kind: number, selfOk: boolean): number {
  const a = m.i32;
  const counted = ++a[m.det(DT_COUNTED)]!;
  if (me !== DET_HOST) {
    if (kind === DP_YIELD) a[m.det(DT_PRIO + me)] = a[m.det(DT_YIELD_LOW)]!--;
    const depth = a[m.det(DT_DEPTH)]!;
    for (let i = 0; i < depth - 1; i++) if (a[m.det(DT_CHANGE + i)] === counted) a[m.det(DT_PRIO + me)] = depth - 1 - i;
  }
  let best = selfOk ? me : cands[0]!;
  for (const c of cands) if (a[m.det(DT_PRIO + c)]! > a[m.det(DT_PRIO + best)]!) best = c;
  return best;
}

function replay_choice(m: Mem, me: number, kind: number, step: number, selfOk: boolean): number {
  const a = m.i32;
  const lenient = (a[H_DET_FLAGS]! & DETF_LENIENT) !== 0;
  const nrep = a[m.det(DT_NREPLAY)]!;
  const cw = m.det(DT_CURSOR);
  let cur = a[cw]!;
  const entry = (i: number): number => a[m.det(DT_TABLES + DT_ENTRY * i)]!;
  const target = (i: number): number => a[m.det(DT_TABLES + DT_ENTRY * i + 1)]!;
  const fprint = (i: number): number => a[m.det(DT_TABLES + DT_ENTRY * i + 2)]!;
  if ((a[H_DET_FLAGS]! & DETF_CHOICES) !== 0 && kind === DP_POINT && me !== DET_HOST) {
    let mask = 0;
    for (const c of cands) mask |= 1 << c;
    record(m, step, -2 - mask);
  }
  if (lenient) while (cur < nrep && entry(cur) < step) cur++;
  let next = -2;
  if (cur < nrep && entry(cur) === step) {
    const t = target(cur);
    if (!lenient && a[m.det(DT_HAS_FP)] === 1 && fprint(cur) !== a[H_DET_FPRINT]) diverge(m, step, t, me, DIV_PATH);
    cur++;
    if (t !== me && t !== DET_HOST && cands.includes(t)) next = t;
    else if (!lenient) diverge(m, step, t, selfOk ? me : cands[0]!, DIV_NOT_RUNNABLE);
  }
  a[cw] = cur;
  if (next === -2) {
    if (selfOk && kind === DP_POINT) return me;
    // No choice (idle, one CPU can run): not a decision, not recorded.
    if (!selfOk && cands.length === 1) return cands[0]!;
    // a switch the schedule does not name (idle with a choice, or a spin-wait yielding)
    if (!lenient && a[H_DET_DIVERGED] === 0) diverge(m, step, me, cands[0]!, DIV_UNRECORDED);
    next = cands[0]!;
  }
  record(m, step, next);
  return next;
}

/**
 * det_give - hand the baton to CPU `c`: store its baton word, wake it if it parked.
 * @param m - the machine's memory.
 * @param c - the CPU.
 * Context: the baton holder, which stops running kernel code after this.
 */
export function det_give(m: Mem, c: number): void {
  const a = m.i32;
  a[H_DET_HOLDER] = c;
  const w = m.cpu(c, PC_DET_BATON);
  Atomics.store(a, w, 1);
  if (Atomics.load(a, m.cpu(c, PC_DET_PARKED)) !== 0) Atomics.notify(a, w);
}

/**
 * det_host_holds - whether the host holds the baton.
 * @param m - the machine's memory.
 * Context: host.
 * @returns true while the host holds it (no CPU runs kernel code).
 */
export function det_host_holds(m: Mem): boolean {
  return Atomics.load(m.i32, H_DET_HOST_BATON) === 1;
}

/**
 * det_host_grant - host side: give the baton to CPU `c` and drop the host's.
 * @param m - the machine's memory.
 * @param c - the CPU.
 * Context: the host, holding the baton.
 */
export function det_host_grant(m: Mem, c: number): void {
  Atomics.store(m.i32, H_DET_HOST_BATON, 0);
  det_give(m, c);
}

/**
 * det_end - host side, at shutdown: leave deterministic mode; every parked
 * CPU wakes and runs free so that it can stop.
 * @param m - the machine's memory.
 * Context: host.
 */
export function det_end(m: Mem): void {
  const a = m.i32;
  if (Atomics.load(a, H_DET_MODE) === DET_OFF) return;
  Atomics.store(a, H_DET_MODE, DET_ENDING);
  for (let c = 0; c < m.g.cpus; c++) {
    Atomics.store(a, m.cpu(c, PC_DET_BATON), 1);
    Atomics.notify(a, m.cpu(c, PC_DET_BATON));
  }
  Atomics.store(a, H_DET_HOST_BATON, 1);
  Atomics.notify(a, H_DET_HOST_BATON);
}

/**
 * det_cpu_booting - whether CPU `c` waits for the host to let it boot.
 * @param m - the machine's memory.
 * @param c - the CPU.
 * Context: host.
 * @returns true once its thread reached det_init_cpu and parked.
 */
export function det_cpu_booting(m: Mem, c: number): boolean {
  return Atomics.load(m.i32, m.cpu(c, PC_DET_PARKED)) === 1 && Atomics.load(m.i32, m.cpu(c, PC_DET_STATE)) === DS_BOOT;
}

// ---------------------------------------------------------------- CPU side

let on = false;
let i32: Int32Array = new Int32Array(0);
let f64: Float64Array = new Float64Array(0);
let PCB = 0;
let foreignProbe: () => boolean = () => false;
const SPIN = 4000;

/**
 * det_on - whether this machine runs in deterministic mode.
 * Context: any, on a CPU thread after det_init_cpu.
 * @returns true in deterministic mode until shutdown begins.
 */
export function det_on(): boolean {
  return on && Atomics.load(i32, H_DET_MODE) === DET_ON;
}

/**
 * det_set_foreign_probe - tell det mode how to see that this CPU awaits a
 * host operation (a module import): points are not counted then, and the CPU
 * keeps the baton, as the wait's length is the wall clock's.
 * @param fn - returns true while such an operation is in flight.
 * Context: CPU init.
 */
export function det_set_foreign_probe(fn: () => boolean): void {
  foreignProbe = fn;
}

/**
 * det_init_cpu - CPU side: in deterministic mode, bind the virtual clock,
 * replace the thread's nondeterministic globals, and wait for the host to
 * hand this CPU the baton (boot is serialised).
 * Context: the CPU thread, in start_cpu right after smp_init_cpu.
 * @returns true in deterministic mode.
 */
export function det_init_cpu(): boolean {
  i32 = mem.i32;
  f64 = mem.f64;
  PCB = mem.cpu(cpuId, 0);
  if (Atomics.load(i32, H_DET_MODE) !== DET_ON) return false;
  on = true;
  const vc = H_DET_VCLOCK / 2;
  clock_bind(() => f64[vc]!);
  const origin = performance.timeOrigin;
  let r = (i32[H_SEED]! ^ Math.imul(cpuId + 1, 0x9e3779b9) ^ 0x5bd1e995) >>> 0 || 1;
  Math.random = (): number => ((r = xorshift32(r)) >>> 0) / 0x100000000;
  Date.now = (): number => Math.floor(f64[vc]!);
  Object.defineProperty(performance, 'now', { value: (): number => f64[vc]! - origin, configurable: true, writable: true });
  Atomics.store(i32, PCB + PC_DET_STATE, DS_BOOT);
  park();
  return true;
}

/**
 * det_exit_cpu - CPU side: this CPU's loop ended; it never runs again.
 * Context: the CPU thread, leaving cpu_startup_entry.
 */
export function det_exit_cpu(): void {
  if (on) Atomics.store(i32, PCB + PC_DET_STATE, DS_GONE);
}

function park(): void {
  const w = PCB + PC_DET_BATON;
  let got = false;
  for (let i = 0; i < SPIN; i++) {
    if (Atomics.load(i32, w) !== 0) {
      got = true;
      break;
    }
  }
  if (!got) {
    Atomics.store(i32, PCB + PC_DET_PARKED, 1);
    while (Atomics.load(i32, w) === 0 && Atomics.load(i32, H_DET_MODE) === DET_ON) Atomics.wait(i32, w, 0, 100);
    Atomics.store(i32, PCB + PC_DET_PARKED, 0);
  }
  Atomics.store(i32, PCB + PC_DET_STATE, DS_RUN);
}

/** Fold this step into the run's fingerprint: which CPU, what kind of point, in which context and task (FNV-1a steps). */
function fingerprint(kind: number): void {
  let h = i32[H_DET_FPRINT]!;
  h = Math.imul(h ^ (cpuId | (kind << 8)), 16777619);
  h = Math.imul(h ^ i32[PCB + PC_PREEMPT_COUNT]!, 16777619);
  h = Math.imul(h ^ i32[PCB + PC_CURRENT_PID]!, 16777619);
  i32[H_DET_FPRINT] = h;
}

function switch_to(next: number): void {
  Atomics.store(i32, PCB + PC_DET_BATON, 0);
  if (next === DET_HOST) {
    i32[H_DET_HOLDER] = DET_HOST;
    Atomics.store(i32, H_DET_HOST_BATON, 1);
    Atomics.notify(i32, H_DET_HOST_BATON);
  } else det_give(mem, next);
  park();
}

/**
 * det_point - a deterministic step at a preemption point: count it, advance
 * virtual time, and let the strategy pick who runs next; returns when this
 * CPU holds the baton again.
 * @param kind - DP_POINT or DP_YIELD (a spin-wait's cpu_relax).
 * Context: any, on a CPU thread, from the preemption point's slow path.
 */
export function det_point(kind: number): void {
  if (Atomics.load(i32, H_DET_MODE) !== DET_ON || foreignProbe()) return;
  const step = ++i32[H_DET_STEP]!;
  f64[H_DET_VCLOCK / 2]! += kind === DP_YIELD ? DET_YIELD_COST_MS : DET_STEP_COST_MS;
  fingerprint(kind);
  const next = det_choose(mem, cpuId, kind, step);
  if (next !== cpuId) switch_to(next);
}

/**
 * det_idle - the idle loop's wait in deterministic mode: publish idle, the
 * doorbell value and the next event's virtual time, and pass the baton
 * (to the host when no CPU can run); returns when this CPU has it again.
 * @param seq - PC_WAKE as read before the idle loop checked for work.
 * @param timeoutMs - virtual ms to this CPU's next timed event (Infinity: none).
 * Context: the idle loop, nothing to run, no host operation in flight.
 */
export function det_idle(seq: number, timeoutMs: number): void {
  i32[PCB + PC_DET_WAKESEQ] = seq;
  f64[(PCB + PC_DET_DEADLINE) / 2] = f64[H_DET_VCLOCK / 2]! + Math.max(0, timeoutMs);
  Atomics.store(i32, PCB + PC_DET_STATE, DS_IDLE);
  const step = ++i32[H_DET_STEP]!;
  f64[H_DET_VCLOCK / 2]! += DET_STEP_COST_MS;
  fingerprint(DP_IDLE);
  const next = det_choose(mem, cpuId, DP_IDLE, step);
  if (next === cpuId) {
    Atomics.store(i32, PCB + PC_DET_STATE, DS_RUN);
    return;
  }
  switch_to(next);
}
