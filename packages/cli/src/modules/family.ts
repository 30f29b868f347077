/**
 * family.ts — the built-in module `kdefer tour` loads beside netdev to show
 * issue 14's newer deferred work on the same machine:
 *
 *   - a threaded interrupt (request_threaded_irq, IRQF_ONESHOT): the primary
 *     handler returns IRQ_WAKE_THREAD, thread_fn runs in irq/N-family, a
 *     task (process context);
 *   - a hard hrtimer restarted from its callback every 500 µs
 *     (hrtimer_forward_now), its lateness measured (never early);
 *   - an irq_work queued by every 10th hrtimer callback (hardirq → the IRQ
 *     work self-interrupt).
 *
 * stats() returns the counts the tour checks.
 */
import {
  defineModule,
  shared_int32,
  request_threaded_irq,
  IRQ_HANDLED,
  IRQ_WAKE_THREAD,
  IRQF_ONESHOT,
  in_hardirq,
  in_interrupt,
  HRTIMER,
  hrtimer_setup,
  hrtimer_start,
  hrtimer_cancel,
  hrtimer_forward_now,
  hrtimer_get_expires,
  ktime_get,
  us_to_ktime,
  CLOCK_MONOTONIC,
  HRTIMER_MODE_REL,
  HRTIMER_RESTART,
  HRTIMER_NORESTART,
  IRQ_WORK_INIT,
  irq_work_queue,
  irq_work_sync,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

export const FAMILY = 'family';
/** The threaded line. */
export const FAMILY_IRQ = irqLine('family');

// words of the stats array
const WAKES = 0,
  THREAD_RUNS = 1,
  THREAD_CTX_BAD = 2,
  HRT_RUNS = 3,
  HRT_EARLY = 4,
  HRT_LATE_MAX_US = 5,
  HRT_STOP = 6,
  IW_QUEUED = 7,
  IW_RUNS = 8,
  IW_CTX_BAD = 9,
  HRT_LATE_SUM_US = 10;

export interface FamilyStats {
  wakes: number;
  threadRuns: number;
  threadCtxBad: number;
  hrtRuns: number;
  hrtEarly: number;
  hrtLateMaxUs: number;
  hrtLateMeanUs: number;
  iwQueued: number;
  iwRuns: number;
  iwCtxBad: number;
}

export default defineModule(FAMILY, () => {
  const s = shared_int32('family.stats', 16);

  request_threaded_irq(
    FAMILY_IRQ,
    function family_primary() {
      Atomics.add(s, WAKES, 1);
      return IRQ_WAKE_THREAD;
    },
    function family_thread() {
      if (in_interrupt()) Atomics.add(s, THREAD_CTX_BAD, 1);
      Atomics.add(s, THREAD_RUNS, 1);
      return IRQ_HANDLED;
    },
    IRQF_ONESHOT,
    'family',
    'family',
  );

  const work = IRQ_WORK_INIT('family.iw', function family_iw() {
    if (!in_hardirq()) Atomics.add(s, IW_CTX_BAD, 1);
    Atomics.add(s, IW_RUNS, 1);
  });

  const timer = HRTIMER('family.hrt');
  hrtimer_setup(
    timer,
    function family_hrt(t) {
      const late = ktime_get() - hrtimer_get_expires(t);
      if (late < 0) Atomics.add(s, HRT_EARLY, 1);
      const us = Math.max(0, Math.round(late / 1000));
      Atomics.add(s, HRT_LATE_SUM_US, us);
      if (us > Atomics.load(s, HRT_LATE_MAX_US)) Atomics.store(s, HRT_LATE_MAX_US, us);
      const n = Atomics.add(s, HRT_RUNS, 1) + 1;
      if (n % 10 === 0 && irq_work_queue(work)) Atomics.add(s, IW_QUEUED, 1);
      if (Atomics.load(s, HRT_STOP) !== 0) return HRTIMER_NORESTART;
      hrtimer_forward_now(t, us_to_ktime(500));
      return HRTIMER_RESTART;
    },
    CLOCK_MONOTONIC,
    HRTIMER_MODE_REL,
  );

  return {
    /** Start the hrtimer on the calling CPU. */
    async start() {
      hrtimer_start(timer, us_to_ktime(500), HRTIMER_MODE_REL);
    },
    /** Stop the hrtimer, wait for the irq_work; @returns the counts. */
    async stats(): Promise<FamilyStats> {
      Atomics.store(s, HRT_STOP, 1);
      hrtimer_cancel(timer);
      irq_work_sync(work);
      const runs = Atomics.load(s, HRT_RUNS);
      return {
        wakes: Atomics.load(s, WAKES),
        threadRuns: Atomics.load(s, THREAD_RUNS),
        threadCtxBad: Atomics.load(s, THREAD_CTX_BAD),
        hrtRuns: runs,
        hrtEarly: Atomics.load(s, HRT_EARLY),
        hrtLateMaxUs: Atomics.load(s, HRT_LATE_MAX_US),
        hrtLateMeanUs: runs ? Math.round(Atomics.load(s, HRT_LATE_SUM_US) / runs) : 0,
        iwQueued: Atomics.load(s, IW_QUEUED),
        iwRuns: Atomics.load(s, IW_RUNS),
        iwCtxBad: Atomics.load(s, IW_CTX_BAD),
      };
    },
  };
});
