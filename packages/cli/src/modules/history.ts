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

export const HISTORY_NAMES = { s: 'history.s', t: 'history.t' } as const;

const now = (): number => performance.timeOrigin + performance.now();

export default defineModule(HISTORY, () => {
  const s = shared_int32(HISTORY_NAMES.s, S_WORDS);
  const t = shared_array(HISTORY_NAMES.t, Float64Array, T_WORDS);
  const era = booted_era();
  if (era !== '2.2' && era !== '2.4') return { setup: (): void => {} };

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
    /** Set whether driver A marks IMMEDIATE_BH itself (the correct driver). */
    setup(aMarks: boolean): void {
      Atomics.store(s, S_A_MARKS, aMarks ? 1 : 0);
    },
  };
});
