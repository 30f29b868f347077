/**
 * history.ts — a built-in kdefer module: the drivers of `kdefer history`'s
 * stories that are not the receive path (that one is rx.ts).
 *
 * The forgotten mark_bh (seed paper §5; shared/history.md H-TQ-4): driver
 * A's interrupt handler queues its tq_struct on tq_immediate and — the bug
 * — never calls mark_bh(IMMEDIATE_BH); driver B, unrelated, queues its own
 * task on tq_immediate and does mark it. A's task runs only when B's
 * interrupt happens to mark IMMEDIATE_BH; meanwhile every queue_task of it
 * is swallowed (its sync bit is still set). With `aMarks` A is the correct
 * driver, for contrast.
 *
 * Timers (seed paper §4.1; H-TMR-3, H-TMR-5): M timers per CPU, each doing
 * a fixed amount of work and re-arming for the next jiffy; counted per CPU
 * with how many jiffies late each expired. In 2.2 and 2.4 they run as
 * TIMER_BH, one at a time on the machine; from 2.6 on each CPU's base.
 *
 * Times are epoch milliseconds (performance.timeOrigin + now), the same on
 * every CPU thread.
 *
 * Differs from a real driver: the handlers touch no device; the host raises
 * the two IRQ lines at the rates of the story.
 */
import {
  defineModule,
  shared_int32,
  shared_array,
  request_irq,
  IRQ_HANDLED,
  defineTqStruct,
  queue_task,
  tq_immediate,
  mark_bh,
  IMMEDIATE_BH,
  booted_era,
  pr_err,
  DEFINE_TIMER,
  mod_timer,
  jiffies,
  smp_processor_id,
  num_possible_cpus,
  type TimerList,
} from '@kdefer/core';
import { irqLines } from './irqs.js';

export const HISTORY = 'history';
/** The forgetful driver's line and the unrelated driver's line. */
export const [HISTORY_IRQ_A, HISTORY_IRQ_B] = irqLines('history') as [number, number];
/** Latency samples kept (the first ones). */
export const HISTORY_SAMPLES = 8192;

// Counters ('history.s').
export const S_A_IRQS = 0;
export const S_A_QUEUED = 1;
export const S_A_SWALLOWED = 2;
export const S_A_RUNS = 3;
export const S_B_IRQS = 4;
export const S_B_RUNS = 5;
export const S_A_MARKS = 6; //     configuration: A marks IMMEDIATE_BH itself
export const S_LAT_N = 7; //       samples in T_LAT
export const S_MTR_N = 8; //       samples in T_MTR
export const S_WORDS = 16;
// Times and samples ('history.t', float64).
const T_A_QUEUED_AT = 0;
const T_LAST_MARK = 1;
const T_LAT = 8; //                A's task: queued -> ran, ms
const T_MTR = T_LAT + HISTORY_SAMPLES; // A's task: the mark that ran it -> ran, ms
export const T_WORDS = T_MTR + HISTORY_SAMPLES;

// Timers story ('history.tm'): configuration, then per CPU TM_STRIDE words.
export const TM_RUN = 0; //         1 while the timers re-arm
export const TM_COST = 1; //        iterations of work per timer function
export const TM_CPU_BASE = 32;
export const TM_STRIDE = 32;
export const TM_EXPIRED = 0; //     expirations on this CPU
export const TM_LATE = 1; //        histogram: jiffies late 0..TM_LATE_BUCKETS-1 (the last: that many or more)
export const TM_LATE_BUCKETS = 16;
/** Timers per CPU the module declares (and the most the story arms). */
export const TM_PER_CPU = 32;
/** CPUs the timers story can drive. */
export const TM_MAX_CPUS = 8;
export const TM_WORDS = TM_CPU_BASE + TM_MAX_CPUS * TM_STRIDE;

export const HISTORY_NAMES = { s: 'history.s', t: 'history.t', tm: 'history.tm' } as const;

const now = (): number => performance.timeOrigin + performance.now();

export default defineModule(HISTORY, () => {
  const s = shared_int32(HISTORY_NAMES.s, S_WORDS);
  const t = shared_array(HISTORY_NAMES.t, Float64Array, T_WORDS);
  const era = booted_era();
  const tm = shared_int32(HISTORY_NAMES.tm, TM_WORDS);

  // ---------------------------------------------------------- the timers story
  function history_timer_fn(t: TimerList): void {
    const cpu = smp_processor_id();
    const b = TM_CPU_BASE + cpu * TM_STRIDE;
    const late = Math.max(0, jiffies - t.expires);
    Atomics.add(tm, b + TM_LATE + Math.min(late, TM_LATE_BUCKETS - 1), 1);
    let x = t.id | 1;
    const n = tm[TM_COST]!;
    for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
    tm[b + TM_STRIDE - 1] = x; // keep the work
    Atomics.add(tm, b + TM_EXPIRED, 1);
    if (Atomics.load(tm, TM_RUN) !== 0) mod_timer(t, jiffies + 1);
  }
  const timers: TimerList[] = [];
  const cpus = Math.min(TM_MAX_CPUS, num_possible_cpus());
  for (let i = 0; i < cpus * TM_PER_CPU; i++) timers.push(DEFINE_TIMER(`history.timer${i}`, history_timer_fn));
  const timerEntries = {
    /** arm `m` timers on this CPU, each doing `cost` iterations and re-arming every jiffy */
    timersStart(m: number, cost: number): void {
      const cpu = smp_processor_id();
      Atomics.store(tm, TM_COST, cost);
      Atomics.store(tm, TM_RUN, 1);
      for (let k = 0; k < Math.min(m, TM_PER_CPU); k++) mod_timer(timers[cpu * TM_PER_CPU + k]!, jiffies + 1);
    },
    timersStop(): void {
      Atomics.store(tm, TM_RUN, 0);
    },
  };
  if (era !== '2.2' && era !== '2.4') return { setup: (): void => {}, ...timerEntries };

  const a_task = defineTqStruct('history.a_task', function a_bh_work() {
    const at = now();
    Atomics.add(s, S_A_RUNS, 1);
    const n = Atomics.add(s, S_LAT_N, 1);
    if (n < HISTORY_SAMPLES) t[T_LAT + n] = at - t[T_A_QUEUED_AT]!;
    const mark = t[T_LAST_MARK]!;
    if (mark >= t[T_A_QUEUED_AT]!) {
      const k = Atomics.add(s, S_MTR_N, 1);
      if (k < HISTORY_SAMPLES) t[T_MTR + k] = at - mark;
    }
  });
  const b_task = defineTqStruct('history.b_task', function b_bh_work() {
    Atomics.add(s, S_B_RUNS, 1);
  });

  function a_interrupt(): number {
    Atomics.add(s, S_A_IRQS, 1);
    if (a_task.sync === 0) t[T_A_QUEUED_AT] = now();
    if (queue_task(a_task, tq_immediate)) Atomics.add(s, S_A_QUEUED, 1);
    else Atomics.add(s, S_A_SWALLOWED, 1);
    if (Atomics.load(s, S_A_MARKS) !== 0) {
      t[T_LAST_MARK] = now();
      mark_bh(IMMEDIATE_BH);
    }
    return IRQ_HANDLED;
  }
  function b_interrupt(): number {
    Atomics.add(s, S_B_IRQS, 1);
    queue_task(b_task, tq_immediate);
    t[T_LAST_MARK] = now();
    mark_bh(IMMEDIATE_BH);
    return IRQ_HANDLED;
  }
  for (const [irq, fn, name] of [
    [HISTORY_IRQ_A, a_interrupt, 'forgetful'],
    [HISTORY_IRQ_B, b_interrupt, 'serial'],
  ] as const) {
    const ret = request_irq(irq, fn, 0, name, null);
    if (ret !== 0) pr_err(`history: request_irq(${irq}) failed: ${ret}`);
  }

  return {
    ...timerEntries,
    /** Set whether driver A marks IMMEDIATE_BH itself (the correct driver). */
    setup(aMarks: boolean): void {
      Atomics.store(s, S_A_MARKS, aMarks ? 1 : 0);
    },
  };
});
