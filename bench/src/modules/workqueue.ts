/**
 * workqueue — the kernel side of bench/src/workqueue.ts.
 *
 * Loaded on every CPU. The producer loops run INSIDE a CPU (CPU 0) and queue
 * on another CPU's pool (CPU 1) with queue_work_on; the work functions count
 * and stamp in shared memory, so that what is measured is the workqueue and
 * not the comlink call that started the loop.
 *
 * Cross-CPU timestamps are `performance.timeOrigin + performance.now()`:
 * every thread has its own performance.now() origin.
 */
import {
  defineModule,
  shared_int32,
  shared_array,
  DECLARE_WORK,
  type WorkStruct,
  alloc_workqueue,
  queue_work_on,
  cpu_relax,
  cond_resched,
  smp_processor_id,
  WQ_MAX_ACTIVE,
} from '@kdefer/core';

/** Distinct trivial work items the throughput loop cycles through (a pending one cannot be queued again). */
export const NR_WORKS = 512;
/**
 * Items the producer may have queued and not yet seen executed. Half the
 * works: the work queued next last ran WINDOW items before the one that
 * just ran, so the producer never touches the line of the item the kworker
 * is finishing.
 */
export const WINDOW = NR_WORKS / 2;
// wqbench.ctl (Int32Array): each word on its own 128-byte line.
export const CTL_EXECUTED = 0; //  A: trivial items executed
export const CTL_LAT_SEQ = 32; //  A: latency items executed
export const CTL_WORDS = 64;
// wqbench.ts (Float64Array)
export const TS_ENTRY = 0; //      target CPU: epoch ms at the latency item's entry
export const TS_SLOTS = 16;

export interface Throughput {
  /** ms from the first queue_work_on to the last item's execution */
  ms: number;
  items: number;
  /** queue_work_on calls that found the item still pending (it ran, but its execution had not finished) */
  busy: number;
}

export default defineModule('wqbench', () => {
  const ctl = shared_int32('wqbench.ctl', CTL_WORDS);
  const ts = shared_array('wqbench.ts', Float64Array, TS_SLOTS);
  const wq = alloc_workqueue('wqbench', 0, WQ_MAX_ACTIVE)!;
  const works: WorkStruct[] = [];
  for (let k = 0; k < NR_WORKS; k++)
    works.push(
      DECLARE_WORK(`wqbench.w${k}`, function trivial_fn() {
        Atomics.add(ctl, CTL_EXECUTED, 1);
      }),
    );
  const lat = DECLARE_WORK('wqbench.lat', function lat_fn() {
    ts[TS_ENTRY] = performance.timeOrigin + performance.now();
    Atomics.add(ctl, CTL_LAT_SEQ, 1);
  });

  return {
    /** Queue `n` trivial items on CPU `target`, one queue_work_on each; wait until all ran. */
    async throughput(target: number, n: number): Promise<Throughput> {
      const c0 = Atomics.load(ctl, CTL_EXECUTED);
      let busy = 0;
      const t0 = performance.now();
      // At most WINDOW items in flight: the next work to queue has run (and
      // so is no longer pending). The count is re-read only when the window
      // looks full, and then until a quarter of it is free again, with a
      // pause between looks: each look takes the counter's line away from
      // the CPU that runs the items, so the harness looks as little as it can.
      let done = 0;
      for (let q = 0; q < n;) {
        if (q - done >= WINDOW) {
          while (q - (done = Atomics.load(ctl, CTL_EXECUTED) - c0) > WINDOW - WINDOW / 4) {
            for (let k = 0; k < 16; k++) cpu_relax();
          }
          continue;
        }
        if (queue_work_on(target, wq, works[q & (NR_WORKS - 1)]!)) q++;
        else busy++;
      }
      while (Atomics.load(ctl, CTL_EXECUTED) - c0 < n) cpu_relax();
      return { ms: performance.now() - t0, items: n, busy };
    },
    /**
     * Same-CPU cost: queue `n` items (in batches of NR_WORKS) on this CPU's
     * pool, then yield until its kworker ran them all. @returns ns per item.
     */
    async local(n: number): Promise<number> {
      const me = smp_processor_id();
      const c0 = Atomics.load(ctl, CTL_EXECUTED);
      const t0 = performance.now();
      for (let q = 0; q < n;) {
        const batch = Math.min(NR_WORKS, n - q);
        for (let k = 0; k < batch; k++) queue_work_on(me, wq, works[k]!);
        q += batch;
        while (Atomics.load(ctl, CTL_EXECUTED) - c0 < q) await cond_resched();
      }
      return ((performance.now() - t0) * 1e6) / n;
    },
    /**
     * `samples` times: wait `gapUs` (the target parks meanwhile), stamp,
     * queue_work_on(target), spin until the item ran. Returns µs to work entry.
     */
    async latency(target: number, samples: number, gapUs: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < samples; i++) {
        const until = performance.now() + gapUs / 1000;
        while (performance.now() < until) cpu_relax();
        const seq = Atomics.load(ctl, CTL_LAT_SEQ);
        const t0 = performance.timeOrigin + performance.now();
        queue_work_on(target, wq, lat);
        const give = performance.now() + 1000;
        while (Atomics.load(ctl, CTL_LAT_SEQ) === seq && performance.now() < give) cpu_relax();
        out.push(Atomics.load(ctl, CTL_LAT_SEQ) === seq ? NaN : (ts[TS_ENTRY]! - t0) * 1000);
      }
      return out;
    },
  };
});
