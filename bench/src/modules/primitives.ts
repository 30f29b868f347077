/**
 * primitives — the kernel side of bench/src/primitives.ts.
 *
 * Loaded on every CPU. Its entry points time loops INSIDE a CPU (with
 * performance.now(), in the CPU's own thread), so that what is measured is
 * the primitive and not the comlink call that started it; the bare baselines
 * run in the same entry, on the same thread, in the same JIT state.
 *
 * Cross-CPU timestamps are `(performance.timeOrigin - hostOrigin) +
 * performance.now()` in ms, where the host puts its own timeOrigin in
 * ts[TS_HOST_ORIGIN]: valid across threads whatever each thread's origin,
 * and without the 0.24 µs rounding of a raw epoch value (timeOrigin + now()
 * is ~1.8e12 ms, whose ulp is 2^-12 ms).
 */
import {
  defineModule,
  DEFINE_SPINLOCK,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  spin_lock_irqsave,
  spin_unlock_irqrestore,
  shared_int32,
  shared_array,
  request_irq,
  IRQ_HANDLED,
  irq_set_affinity,
  raiseIrq,
  open_softirq,
  raise_softirq,
  BLOCK_SOFTIRQ,
  NR_SOFTIRQS,
  local_bh_disable,
  local_bh_enable,
  cpu_relax,
  cond_resched,
} from '@kdefer/core';

/** The IRQ line the latency bench raises (nrIrqs defaults to 64). */
export const BENCH_IRQ = 40;
/** The softirq vector the bench raises: nothing else in a bench machine uses BLOCK. */
export const BENCH_SOFTIRQ = BLOCK_SOFTIRQ;

// primitives.ctl (Int32Array): each word on its own 128-byte line.
export const CTL_SEQ = 0; //          A: IRQ handler entries so far (the handler adds 1)
export const CTL_BUSY = 32; //        A: 1 while busyLoop spins on its CPU
export const CTL_STOP = 48; //        A: set to end busyLoop
export const CTL_WORDS = 64;
// primitives.ts (Float64Array), each slot on its own 128-byte line.
export const TS_RAISE = 0; //         sender: epoch ms just before raiseIrq
export const TS_IRQ_ENTRY = 16; //    target CPU: epoch ms at handler entry
export const TS_SOFTIRQ_ENTRY = 24; // raising CPU: performance.now() at softirq handler entry
export const TS_HOST_ORIGIN = 8; //   I: the host's performance.timeOrigin, the base of cross-CPU stamps
export const TS_SLOTS = 32;

/** How long a sender waits for one delivery before counting it lost (ms). */
const LOST_AFTER_MS = 1000;

export interface LockReps {
  /** ns per spin_lock+spin_unlock pair, one value per repetition */
  spin: number[];
  /** ns per bare compareExchange+store pair, one per repetition, measured right after `spin` */
  bare: number[];
  spinBh: number[];
  spinIrqsave: number[];
  /** bare pairs whose compareExchange found the word taken (must be 0) */
  bareMisses: number;
}

export interface LatencySamples {
  /** µs, or ns for the same-CPU softirq figures */
  samples: number[];
  /** the first delivery (before warm-up was discarded) */
  first: number;
  lost: number;
  /** irqLatency with a watched idle word: µs from the raise until the target left its park (NaN: not seen) */
  wake?: number[];
  /**
   * irqLatency: per sample, 1 if the sender's own spin stalled more than
   * PREEMPTED_GAP_US while it waited — the target thread ran on the sender's
   * core, preempting it — else 0.
   */
  preempted?: number[];
}

/** A stall of the sender's wait loop longer than this means its thread was preempted (µs). */
export const PREEMPTED_GAP_US = 5;

export default defineModule('primitives', () => {
  const lock = DEFINE_SPINLOCK('primitives.lock');
  const bare = shared_int32('primitives.bare', 32);
  const ctl = shared_int32('primitives.ctl', CTL_WORDS);
  const ts = shared_array('primitives.ts', Float64Array, TS_SLOTS);
  // The whole machine memory, read-only, for irqLatency's idle-word diagnostic.
  const machineWords = new Int32Array(ctl.buffer);
  // This thread's epoch origin, read once: the getter is not free.
  const origin = performance.timeOrigin;
  /** A timestamp (ms) comparable across threads; see the file comment. */
  const stamp = (): number => origin - ts[TS_HOST_ORIGIN]! + performance.now();

  request_irq(
    BENCH_IRQ,
    function bench_irq_handler() {
      ts[TS_IRQ_ENTRY] = stamp();
      Atomics.add(ctl, CTL_SEQ, 1);
      return IRQ_HANDLED;
    },
    0,
    'bench',
    null,
  );
  function bench_softirq_action(): void {
    ts[TS_SOFTIRQ_ENTRY] = performance.now();
  }
  open_softirq(BENCH_SOFTIRQ, bench_softirq_action);
  // The bare baseline of (b): the same handler in a table shaped as
  // softirq.ts's softirq_vec (one slot per vector, null where none is open),
  // called by vector number.
  const callVec: ((() => void) | null)[] = new Array<(() => void) | null>(NR_SOFTIRQS).fill(null);
  callVec[BENCH_SOFTIRQ] = bench_softirq_action;
  function call_vec(nr: number): void {
    callVec[nr]!();
  }

  // ---------------------------------------------------------------- (a) locks
  // Separate functions, so that each loop is optimised on its own.

  function spinPairs(n: number): number {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      spin_lock(lock);
      spin_unlock(lock);
    }
    return ((performance.now() - t0) * 1e6) / n;
  }

  let bareMisses = 0;
  function barePairs(n: number): number {
    const a = bare;
    let misses = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (Atomics.compareExchange(a, 0, 0, 1) !== 0) misses++;
      Atomics.store(a, 0, 0);
    }
    const dt = performance.now() - t0;
    bareMisses += misses;
    return (dt * 1e6) / n;
  }

  function spinBhPairs(n: number): number {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      spin_lock_bh(lock);
      spin_unlock_bh(lock);
    }
    return ((performance.now() - t0) * 1e6) / n;
  }

  function spinIrqsavePairs(n: number): number {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const flags = spin_lock_irqsave(lock);
      spin_unlock_irqrestore(lock, flags);
    }
    return ((performance.now() - t0) * 1e6) / n;
  }

  // ---------------------------------------------------------------- helpers

  /** Busy-wait `us` microseconds with preemption points (this CPU keeps taking interrupts). */
  function pauseUs(us: number): void {
    const end = performance.now() + us / 1000;
    while (performance.now() < end) cpu_relax();
  }

  /** Wait until ctl[word] !== value, spinning with cpu_relax and yielding now and then. */
  async function waitWhile(word: number, value: number, limitMs: number): Promise<boolean> {
    const start = performance.now();
    let spins = 0;
    while (Atomics.load(ctl, word) === value) {
      cpu_relax();
      if ((++spins & 1023) === 0) {
        await cond_resched();
        if (performance.now() - start > limitMs) return false;
      }
    }
    return true;
  }

  return {
    /** Nothing: the host-side comlink round trip. */
    async nop() {
      return 0;
    },

    /**
     * (a) `reps` repetitions of `n` uncontended lock pairs; each repetition
     * times the kernel loop and then the bare loop back to back.
     */
    async lockLoop(n: number, reps: number): Promise<LockReps> {
      const out: LockReps = { spin: [], bare: [], spinBh: [], spinIrqsave: [], bareMisses: 0 };
      // Warm-up: let every loop reach its optimised code before timing.
      for (let w = 0; w < 3; w++) {
        spinPairs(n);
        barePairs(n);
        spinBhPairs(n);
        spinIrqsavePairs(n);
        await cond_resched();
      }
      bareMisses = 0;
      for (let r = 0; r < reps; r++) {
        out.spin.push(spinPairs(n));
        out.bare.push(barePairs(n));
        out.spinBh.push(spinBhPairs(n));
        out.spinIrqsave.push(spinIrqsavePairs(n));
        await cond_resched();
      }
      out.bareMisses = bareMisses;
      return out;
    },

    /** performance.now() called back to back: the floor under every in-CPU sample (ns). */
    async clockFloor(n: number): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const a = performance.now();
        const b = performance.now();
        out.push((b - a) * 1e6);
      }
      return out;
    },

    /**
     * (b) raise_softirq to handler entry on this CPU, in ns: with bottom
     * halves disabled, raise; the handler runs inside local_bh_enable().
     * Each sample is followed by a bare one: the same handler called through
     * a table of the vectors' actions, timed the same way (`call`).
     */
    async softirqBh(n: number, warmup: number): Promise<LatencySamples & { call: number[] }> {
      const samples: number[] = [];
      const call: number[] = [];
      let first = NaN;
      for (let i = 0; i < warmup + n; i++) {
        ts[TS_SOFTIRQ_ENTRY] = NaN;
        local_bh_disable();
        const t0 = performance.now();
        raise_softirq(BENCH_SOFTIRQ);
        local_bh_enable();
        const dt = (ts[TS_SOFTIRQ_ENTRY]! - t0) * 1e6;
        ts[TS_SOFTIRQ_ENTRY] = NaN;
        const t1 = performance.now();
        call_vec(BENCH_SOFTIRQ);
        const dc = (ts[TS_SOFTIRQ_ENTRY]! - t1) * 1e6;
        if (i === 0) first = dt;
        if (i >= warmup) {
          samples.push(dt);
          call.push(dc);
        }
        if ((i & 1023) === 1023) await cond_resched();
      }
      return { samples, call, first, lost: samples.filter((x) => !Number.isFinite(x)).length };
    },

    /**
     * The whole local_bh_disable + raise_softirq + local_bh_enable round, ns
     * per round (`soft`), and the bare call of the handler through the table
     * (`call`), ns per call: `reps` reps of `n` each, the two loops back to back.
     */
    async softirqBhLoop(n: number, reps: number): Promise<{ soft: number[]; call: number[] }> {
      const round = (k: number): number => {
        const t0 = performance.now();
        for (let i = 0; i < k; i++) {
          local_bh_disable();
          raise_softirq(BENCH_SOFTIRQ);
          local_bh_enable();
        }
        return ((performance.now() - t0) * 1e6) / k;
      };
      const calls = (k: number): number => {
        const t0 = performance.now();
        for (let i = 0; i < k; i++) call_vec(BENCH_SOFTIRQ);
        return ((performance.now() - t0) * 1e6) / k;
      };
      round(n);
      calls(n);
      const out = { soft: [] as number[], call: [] as number[] };
      for (let r = 0; r < reps; r++) {
        out.soft.push(round(n));
        out.call.push(calls(n));
        await cond_resched();
      }
      return out;
    },

    /**
     * raise_softirq from plain task context: it wakes ksoftirqd/N, which
     * runs the handler when this task yields (cond_resched). ns.
     */
    async softirqTask(n: number, warmup: number): Promise<LatencySamples> {
      const samples: number[] = [];
      let first = NaN;
      for (let i = 0; i < warmup + n; i++) {
        ts[TS_SOFTIRQ_ENTRY] = NaN;
        const t0 = performance.now();
        raise_softirq(BENCH_SOFTIRQ);
        await cond_resched();
        const dt = (ts[TS_SOFTIRQ_ENTRY]! - t0) * 1e6;
        if (i === 0) first = dt;
        if (i >= warmup) samples.push(dt);
      }
      return { samples, first, lost: samples.filter((x) => !Number.isFinite(x)).length };
    },

    /**
     * (c) Cross-CPU hardirq delivery, µs: raise BENCH_IRQ routed to `target`,
     * from this CPU, and wait for the handler there to run. Before each
     * sample, pause `gapUs` (long enough for an idle target to park). With
     * `busyTarget`, first wait for busyLoop to spin there, and stop it at
     * the end. With `idleWord` >= 0 (the word index of the target's PC_IDLE,
     * which the host reads from the memory map), also stamp when the target
     * leaves its park: the delivery then splits into the futex wake-up and
     * kdefer's own path from park to handler. (Watching that word shares a
     * cache line with the target's hot per-CPU words: diagnostic runs only.)
     */
    async irqLatency(
      target: number,
      n: number,
      warmup: number,
      gapUs: number,
      busyTarget: boolean,
      idleWord = -1,
    ): Promise<LatencySamples> {
      irq_set_affinity(BENCH_IRQ, [target]);
      if (busyTarget && !(await waitWhile(CTL_BUSY, 0, 10_000))) return { samples: [], first: NaN, lost: n };
      const samples: number[] = [];
      const wake: number[] = [];
      const preempted: number[] = [];
      let first = NaN;
      let lost = 0;
      try {
        for (let i = 0; i < warmup + n; i++) {
          pauseUs(gapUs);
          const seq = Atomics.load(ctl, CTL_SEQ);
          const t0 = stamp();
          ts[TS_RAISE] = t0;
          raiseIrq(BENCH_IRQ);
          // Wait for the handler; note when the target leaves its park, and
          // the longest stall of this loop (a stall: this thread lost its core).
          const start = performance.now();
          let prev = start;
          let maxGap = 0;
          let tWake = NaN;
          let spins = 0;
          let ok = true;
          while (Atomics.load(ctl, CTL_SEQ) === seq) {
            if (idleWord >= 0 && tWake !== tWake && Atomics.load(machineWords, idleWord) === 0) tWake = stamp();
            cpu_relax();
            const now = performance.now();
            if (now - prev > maxGap) maxGap = now - prev;
            prev = now;
            if ((++spins & 1023) === 0) {
              await cond_resched();
              prev = performance.now();
              if (prev - start > LOST_AFTER_MS) {
                ok = false;
                break;
              }
            }
          }
          if (!ok) {
            lost++;
            continue;
          }
          const us = (ts[TS_IRQ_ENTRY]! - t0) * 1e3;
          if (i === 0) first = us;
          if (i >= warmup) {
            samples.push(us);
            preempted.push(maxGap * 1e3 > PREEMPTED_GAP_US ? 1 : 0);
            if (idleWord >= 0) wake.push((tWake - t0) * 1e3);
          }
        }
      } finally {
        if (busyTarget) Atomics.store(ctl, CTL_STOP, 1);
      }
      return idleWord >= 0 ? { samples, first, lost, preempted, wake } : { samples, first, lost, preempted };
    },

    /** Keep this CPU busy in a cpu_relax() loop until ctl[CTL_STOP] is set. */
    async busyLoop(): Promise<number> {
      let spins = 0;
      Atomics.store(ctl, CTL_BUSY, 1);
      while (Atomics.load(ctl, CTL_STOP) === 0) {
        cpu_relax();
        spins++;
      }
      Atomics.store(ctl, CTL_BUSY, 0);
      Atomics.store(ctl, CTL_STOP, 0);
      return spins;
    },
  };
});
