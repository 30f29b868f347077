/**
 * wqdemo.ts — the module `kdefer workqueue` loads: a tasklet and a BH work
 * item side by side, and three items on one CPU's events pool.
 *
 * Part 1, bottom halves. One interrupt handler (IRQ WQDEMO_IRQ) schedules the
 * same job twice, the old way and the new: tasklet_schedule() of a tasklet,
 * and queue_work() of a work item on system_bh_wq — the kernel's
 * replacement for tasklets (6.9+). Both callbacks record where and how they
 * ran: CPU, softirq context or not, what current_work() says.
 *
 * Part 2, concurrency management. Three items queued on CPU `cpu`'s normal
 * pool (system_wq): A sleeps on a wait queue until the host releases it
 * (releaseA), B and C do not sleep. While A sleeps, the pool wakes another
 * kworker to run B and C (S-WQ-8): each item records its kworker's pid and
 * whether A was asleep when it started.
 *
 * Everything recorded lives in the shared array `wqdemo.s` (layout below),
 * read by the host after the run.
 */
import {
  defineModule,
  shared_int32,
  DECLARE_TASKLET,
  DECLARE_WORK,
  type WorkStruct,
  tasklet_schedule,
  queue_work,
  queue_work_on,
  flush_work,
  system_bh_wq,
  system_wq,
  request_irq,
  IRQ_HANDLED,
  smp_processor_id,
  in_serving_softirq,
  in_task,
  current_work,
  current_pid,
  DECLARE_WAIT_QUEUE_HEAD,
  wait_event,
  wake_up,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

export const WQDEMO = 'wqdemo';
/** The interrupt line of part 1. */
export const WQDEMO_IRQ = irqLine('wqdemo');

// wqdemo.s (Int32Array)
export const S_NR_BH = 0; //        part 1: callbacks recorded
export const S_BH_REC = 8; //       part 1: records of BH_REC_WORDS each, in the order they ran
export const BH_REC_WORDS = 8;
export const BH_REC_MAX = 8;
//   record: who (REC_*), cpu, in_serving_softirq, in_task, current_work() is the item (1) / null (0) / other (-1)
export const REC_BH_WORK = 1;
export const REC_TASKLET = 2;
export const S_HARDIRQS = 80; //    part 1: handler runs
export const S_ITEMS = 96; //       part 2: per item A, B, C (ITEM_WORDS each)
export const ITEM_WORDS = 8;
//   item: pid, cpu, started (1), finished (1), saw A asleep at start (1)
export const S_A_ASLEEP = 128; //   part 2: 1 while A sleeps
export const S_RELEASE_A = 129; //  part 2: the host's go for A (releaseA)
export const S_WORDS = 160;

export default defineModule(WQDEMO, () => {
  const s = shared_int32('wqdemo.s', S_WORDS);

  function record(who: number, cur: number): void {
    const k = Atomics.add(s, S_NR_BH, 1);
    if (k >= BH_REC_MAX) return;
    const b = S_BH_REC + k * BH_REC_WORDS;
    s[b] = who;
    s[b + 1] = smp_processor_id();
    s[b + 2] = in_serving_softirq() ? 1 : 0;
    s[b + 3] = in_task() ? 1 : 0;
    s[b + 4] = cur;
  }

  // ---- part 1: the same job, as a tasklet and as BH work
  const bh = DECLARE_WORK('wqdemo.bh', function wqdemo_bh_fn(w: WorkStruct) {
    const cw = current_work();
    record(REC_BH_WORK, cw === w ? 1 : cw === null ? 0 : -1);
  });
  const tl = DECLARE_TASKLET('wqdemo.tasklet', function wqdemo_tasklet_fn() {
    record(REC_TASKLET, current_work() === null ? 0 : -1);
  });
  request_irq(
    WQDEMO_IRQ,
    function wqdemo_interrupt() {
      Atomics.add(s, S_HARDIRQS, 1);
      tasklet_schedule(tl); // the old way
      queue_work(system_bh_wq, bh); // the new way: runs in this CPU's softirq too
      return IRQ_HANDLED;
    },
    0,
    'wqdemo',
    null,
  );

  // ---- part 2: three items on one pool; A sleeps
  const item = (k: number): number => S_ITEMS + k * ITEM_WORDS;
  function begin(k: number): void {
    s[item(k)] = current_pid();
    s[item(k) + 1] = smp_processor_id();
    s[item(k) + 4] = Atomics.load(s, S_A_ASLEEP);
    Atomics.store(s, item(k) + 2, 1);
  }
  const aq = DECLARE_WAIT_QUEUE_HEAD('wqdemo.aq');
  const a = DECLARE_WORK('wqdemo.A', async function wqdemo_a_fn() {
    begin(0);
    Atomics.store(s, S_A_ASLEEP, 1);
    await wait_event(aq, () => Atomics.load(s, S_RELEASE_A) === 1);
    Atomics.store(s, S_A_ASLEEP, 0);
    Atomics.store(s, item(0) + 3, 1);
  });
  const b = DECLARE_WORK('wqdemo.B', function wqdemo_b_fn() {
    begin(1);
    Atomics.store(s, item(1) + 3, 1);
  });
  const c = DECLARE_WORK('wqdemo.C', function wqdemo_c_fn() {
    begin(2);
    Atomics.store(s, item(2) + 3, 1);
  });

  return {
    /** Part 2: queue A, B, C on CPU `cpu`'s events pool; returns at once. */
    async queueItems(cpu: number) {
      return [queue_work_on(cpu, system_wq, a), queue_work_on(cpu, system_wq, b), queue_work_on(cpu, system_wq, c)];
    },
    /** Part 2: let A return from its sleep. */
    async releaseA() {
      Atomics.store(s, S_RELEASE_A, 1);
      wake_up(aq);
      return 0;
    },
    /** Part 2: wait until A, B and C ran. */
    async flushItems() {
      await flush_work(a);
      await flush_work(b);
      await flush_work(c);
      return 0;
    },
  };
});
