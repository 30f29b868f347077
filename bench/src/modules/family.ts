/**
 * The module bench/src/family.ts loads: issue 14's deferred-work family.
 *
 *   latency(which, n, warmup): CPU 0 raises a line routed to CPU 1 and
 *   waits for the deferred part to start; samples are hardirq entry (the
 *   handler's first stamp, on CPU 1) → deferred entry:
 *     'threaded': request_threaded_irq's primary returns IRQ_WAKE_THREAD →
 *                 thread_fn entry in irq/44-fam-thr (a task);
 *     'tasklet':  request_irq's handler tasklet_schedule()s → the tasklet's
 *                 entry (TASKLET_SOFTIRQ in irq_exit on CPU 1).
 *   hrtimerLateness(n): one hard hrtimer on CPU 1 restarted from its own
 *   callback with HRTIMER_MODE_REL-like intervals of 200-1200 µs
 *   (hrtimer_forward_now); each sample is ktime_get() - the expiry at
 *   callback entry, in ns (never negative: S-HRT-1).
 *
 * Cross-CPU stamps are `(performance.timeOrigin - hostOrigin) +
 * performance.now()` in ms, the host's timeOrigin in ts[0] (as in
 * modules/deferred.ts).
 */
import {
  defineModule,
  shared_array,
  shared_int32,
  request_irq,
  request_threaded_irq,
  irq_set_affinity,
  raiseIrq,
  IRQ_HANDLED,
  IRQ_WAKE_THREAD,
  DECLARE_TASKLET,
  tasklet_schedule,
  HRTIMER,
  hrtimer_setup,
  hrtimer_start,
  hrtimer_forward_now,
  hrtimer_get_expires,
  ktime_get,
  us_to_ktime,
  CLOCK_MONOTONIC,
  HRTIMER_MODE_REL,
  HRTIMER_RESTART,
  HRTIMER_NORESTART,
  cpu_relax,
  cond_resched,
  msleep,
} from '@kdefer/core';

export const IRQ_THR = 44;
export const IRQ_TSK = 45;
export const TS_HOST_ORIGIN = 0;
const TS_T0 = 1; //   hardirq entry stamp (ms)
const TS_T1 = 2; //   deferred entry stamp (ms)
const MAX_LATE = 100_000;

export default defineModule('family', () => {
  const ts = shared_array('family.ts', Float64Array, 4);
  const flag = shared_int32('family.flag', 4); // [0] deferred part ran, [1] hrtimer samples taken, [2] wanted
  const late = shared_array('family.late', Float64Array, MAX_LATE);
  const origin = performance.timeOrigin;
  const stamp = (): number => origin - ts[TS_HOST_ORIGIN]! + performance.now();

  request_threaded_irq(
    IRQ_THR,
    function fam_thr_primary() {
      ts[TS_T0] = stamp();
      return IRQ_WAKE_THREAD;
    },
    function fam_thr_thread() {
      ts[TS_T1] = stamp();
      Atomics.store(flag, 0, 1);
      return IRQ_HANDLED;
    },
    0,
    'fam-thr',
    'thr',
  );
  const tsk = DECLARE_TASKLET('family.tasklet', function fam_tasklet() {
    ts[TS_T1] = stamp();
    Atomics.store(flag, 0, 1);
  });
  request_irq(
    IRQ_TSK,
    function fam_tsk_irq() {
      ts[TS_T0] = stamp();
      tasklet_schedule(tsk);
      return IRQ_HANDLED;
    },
    0,
    'fam-tsk',
    'tsk',
  );

  const timer = HRTIMER('family.hrt');
  let interval = 200;
  hrtimer_setup(
    timer,
    function fam_hrt(t) {
      const n = Atomics.load(flag, 1);
      late[n] = ktime_get() - hrtimer_get_expires(t);
      Atomics.store(flag, 1, n + 1);
      if (n + 1 >= Atomics.load(flag, 2)) return HRTIMER_NORESTART;
      interval = 200 + ((interval * 7 + 131) % 1000); // 200-1200 µs, varied
      hrtimer_forward_now(t, us_to_ktime(interval));
      return HRTIMER_RESTART;
    },
    CLOCK_MONOTONIC,
    HRTIMER_MODE_REL,
  );

  return {
    async latency(which: 'threaded' | 'tasklet', n: number, warmup: number) {
      const irq = which === 'threaded' ? IRQ_THR : IRQ_TSK;
      irq_set_affinity(irq, [1]);
      const out: number[] = [];
      for (let i = 0; i < n + warmup; i++) {
        Atomics.store(flag, 0, 0);
        raiseIrq(irq);
        // the thread may live on this CPU: let it run
        for (let spins = 0; Atomics.load(flag, 0) === 0; spins++) {
          cpu_relax();
          if ((spins & 63) === 63) await cond_resched();
        }
        if (i >= warmup) out.push((ts[TS_T1]! - ts[TS_T0]!) * 1000);
        if ((i & 31) === 31) await cond_resched();
      }
      return out;
    },
    /** On the CPU that calls it: n hrtimer expiries; @returns the lateness samples in ns. */
    async hrtimerLateness(n: number) {
      n = Math.min(n, MAX_LATE);
      Atomics.store(flag, 1, 0);
      Atomics.store(flag, 2, n);
      hrtimer_start(timer, us_to_ktime(500), HRTIMER_MODE_REL);
      while (Atomics.load(flag, 1) < n) await msleep(5);
      return [...late.subarray(0, n)];
    },
  };
});
