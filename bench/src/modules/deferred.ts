/**
 * deferred — the kernel side of bench/src/deferred.ts.
 *
 * Loaded on every CPU. Every loop runs INSIDE a CPU and stamps in shared
 * memory, so that what is measured is the deferral and not the comlink call
 * that started it.
 *
 *   tasklet, same CPU: (i) in a BH-disabled section, stamp, tasklet_schedule,
 *       local_bh_enable runs TASKLET_SOFTIRQ, the callback stamps; (ii) the
 *       driver path: a hardirq handler stamps and schedules the tasklet,
 *       irq_exit runs it.
 *   tasklet, other CPU: a tasklet runs on the CPU that schedules it, so CPU 0
 *       stamps and raises IRQ 41 (routed to CPU 1); CPU 1's handler stamps
 *       and schedules the tasklet; the callback on CPU 1 stamps.
 *   timer lateness: many timers armed at once on CPU 1 (add_timer_on); each
 *       function records get_jiffies_64() at entry, against its expires.
 *   mod_timer on a pending timer: a loop moving a far-future timer between
 *       two expiries (a real dequeue + enqueue each call), and the same-expiry
 *       fast path.
 *
 * Cross-CPU timestamps are `(performance.timeOrigin - hostOrigin) +
 * performance.now()` in ms, where the host puts its own timeOrigin in
 * ts[TS_HOST_ORIGIN] (see modules/primitives.ts for why).
 */
import {
  defineModule,
  shared_int32,
  shared_array,
  DECLARE_TASKLET,
  tasklet_schedule,
  request_irq,
  irq_set_affinity,
  raiseIrq,
  IRQ_HANDLED,
  local_bh_disable,
  local_bh_enable,
  DEFINE_TIMER,
  timer_setup,
  add_timer_on,
  mod_timer,
  del_timer_sync,
  defineStruct,
  kmalloc,
  kfree,
  GFP_KERNEL,
  from_timer,
  registerFunction,
  get_jiffies_64,
  cpu_relax,
  cond_resched,
  msleep,
  timerRuns,
  type TimerList,
  type SlabObject,
} from '@kdefer/core';

/** IRQ routed to CPU 0 (same-CPU driver path) and to CPU 1 (cross-CPU path). */
export const IRQ_SAME = 42;
export const IRQ_CROSS = 41;

// deferred.ctl (Int32Array): each word on its own 128-byte line.
export const CTL_TL_SEQ = 0; //    A: tasklet callback entries
export const CTL_IRQ_SEQ = 32; //  A: hardirq handler entries (cross path)
export const CTL_TIMERS = 64; //   A: lateness timers run
export const CTL_EARLY = 96; //    A: lateness timers run before their expires
export const CTL_WORDS = 128;
// deferred.ts (Float64Array), each slot on its own 128-byte line.
export const TS_HOST_ORIGIN = 0; // I: the host's performance.timeOrigin
export const TS_RAISE = 16; //     CPU 0: stamp before raiseIrq / tasklet_schedule
export const TS_IRQ = 32; //       handler entry stamp
export const TS_TL = 48; //        tasklet callback entry stamp
export const TS_SLOTS = 64;
/** The lateness timers: at most this many at once. */
export const MAX_LATE = 1024;

export interface TaskletSamples {
  /** schedule (or raise) → callback entry, µs */
  total: number[];
  /** cross: raise → handler entry on CPU 1, µs (empty for the same-CPU loops) */
  irq: number[];
  /** deliveries that never arrived (1 s) */
  lost: number;
}

export interface Lateness {
  /** run jiffies - expires, one per timer */
  late: number[];
  /** timers that ran before their expires (must be 0: S-TIME-16) */
  early: number;
  /** timers that did not run in time (not counted in `late`) */
  missing: number;
}

type LateObj = { idx: 'i32'; t: 'timer_list' };

export default defineModule('deferred', () => {
  const ctl = shared_int32('deferred.ctl', CTL_WORDS);
  const ts = shared_array('deferred.ts', Float64Array, TS_SLOTS);
  const late = shared_array('deferred.late', Float64Array, 2 * MAX_LATE); // [2i] expires, [2i+1] ran at
  const origin = performance.timeOrigin;
  const stamp = (): number => origin - ts[TS_HOST_ORIGIN]! + performance.now();

  const tl = DECLARE_TASKLET('deferred.tl', function deferred_tasklet_fn() {
    ts[TS_TL] = stamp();
    Atomics.add(ctl, CTL_TL_SEQ, 1);
  });
  // same CPU, driver path: the handler stamps and schedules, irq_exit runs the tasklet
  request_irq(
    IRQ_SAME,
    function deferred_same_irq() {
      ts[TS_RAISE] = stamp();
      tasklet_schedule(tl);
      return IRQ_HANDLED;
    },
    0,
    'deferred-same',
    null,
  );
  irq_set_affinity(IRQ_SAME, [0]);
  // other CPU: CPU 0 raises, CPU 1's handler schedules
  request_irq(
    IRQ_CROSS,
    function deferred_cross_irq() {
      ts[TS_IRQ] = stamp();
      Atomics.add(ctl, CTL_IRQ_SEQ, 1);
      tasklet_schedule(tl);
      return IRQ_HANDLED;
    },
    0,
    'deferred-cross',
    null,
  );
  irq_set_affinity(IRQ_CROSS, [1]);

  const LateT = defineStruct('deferred_late', { idx: 'i32', t: 'timer_list' });
  function deferred_late_fn(t: TimerList): void {
    const now = get_jiffies_64();
    const o = from_timer<LateObj>(t);
    const i = o.get('idx');
    late[2 * i + 1] = now;
    if (now < late[2 * i]!) Atomics.add(ctl, CTL_EARLY, 1);
    Atomics.add(ctl, CTL_TIMERS, 1);
  }
  registerFunction('deferred.late_fn', deferred_late_fn);
  const far = DEFINE_TIMER('deferred.far', function deferred_far_fn() {});
  const probe = DEFINE_TIMER('deferred.probe', function deferred_probe_fn() {});

  function pauseUs(us: number): void {
    const end = performance.now() + us / 1000;
    while (performance.now() < end) cpu_relax();
  }

  /** Spin (with preemption points) until ctl[word] moves past `seq`; false after 1 s. */
  function waitPast(word: number, seq: number): boolean {
    const give = performance.now() + 1000;
    while (Atomics.load(ctl, word) === seq) {
      cpu_relax();
      if (performance.now() > give) return false;
    }
    return true;
  }

  return {
    /** (i) stamp; tasklet_schedule inside local_bh_disable; the callback runs in local_bh_enable. */
    async sameBh(samples: number, warmup: number): Promise<TaskletSamples> {
      const out: TaskletSamples = { total: [], irq: [], lost: 0 };
      for (let i = 0; i < warmup + samples; i++) {
        const seq = Atomics.load(ctl, CTL_TL_SEQ);
        local_bh_disable();
        const t0 = stamp();
        tasklet_schedule(tl);
        local_bh_enable();
        const ok = Atomics.load(ctl, CTL_TL_SEQ) !== seq;
        if (!ok) out.lost++;
        if (i >= warmup) out.total.push(ok ? (ts[TS_TL]! - t0) * 1000 : NaN);
        if ((i & 255) === 0) await cond_resched();
      }
      return out;
    },

    /** (ii) raise IRQ_SAME on this CPU: the handler stamps and schedules, irq_exit runs the callback. */
    async sameIrq(samples: number, warmup: number): Promise<TaskletSamples> {
      const out: TaskletSamples = { total: [], irq: [], lost: 0 };
      for (let i = 0; i < warmup + samples; i++) {
        const seq = Atomics.load(ctl, CTL_TL_SEQ);
        raiseIrq(IRQ_SAME);
        const ok = waitPast(CTL_TL_SEQ, seq);
        if (!ok) out.lost++;
        if (i >= warmup) out.total.push(ok ? (ts[TS_TL]! - ts[TS_RAISE]!) * 1000 : NaN);
        if ((i & 255) === 0) await cond_resched();
      }
      return out;
    },

    /**
     * CPU 0: `gapUs` of pause (CPU 1 parks when idle), stamp, raise IRQ_CROSS
     * (routed to CPU 1), spin until the callback ran there.
     */
    async cross(samples: number, warmup: number, gapUs: number): Promise<TaskletSamples> {
      const out: TaskletSamples = { total: [], irq: [], lost: 0 };
      for (let i = 0; i < warmup + samples; i++) {
        pauseUs(gapUs);
        const seq = Atomics.load(ctl, CTL_TL_SEQ);
        const t0 = stamp();
        raiseIrq(IRQ_CROSS);
        const ok = waitPast(CTL_TL_SEQ, seq);
        if (!ok) out.lost++;
        if (i >= warmup) {
          out.total.push(ok ? (ts[TS_TL]! - t0) * 1000 : NaN);
          out.irq.push(ok ? (ts[TS_IRQ]! - t0) * 1000 : NaN);
        }
        if ((i & 63) === 0) await cond_resched();
      }
      return out;
    },

    /** Keep this CPU busy (cpu_relax loop) until ctl[CTL_EARLY + 16] is set. */
    async busy(): Promise<number> {
      let n = 0;
      while (Atomics.load(ctl, CTL_EARLY + 16) === 0) {
        cpu_relax();
        if ((++n & 0xffff) === 0) await cond_resched();
      }
      return n;
    },
    async stopBusy(v: number): Promise<number> {
      Atomics.store(ctl, CTL_EARLY + 16, v);
      return 0;
    },

    /**
     * Arm `n` timers at once on `cpu`, expiring `minDelta + [0, span)` jiffies
     * from now (seeded), and wait until all ran (or `limitMs`).
     * @param freshen first run one timer on `cpu`, so that its timer base's
     *        clock is current: kdefer's wheel does not forward an idle
     *        base's clock on enqueue (the kernel's forward_timer_base), and a
     *        timer armed on a base idle for long lands in a coarser level
     */
    async lateness(
      cpu: number,
      n: number,
      minDelta: number,
      span: number,
      seed: number,
      limitMs: number,
      freshen: boolean,
    ): Promise<Lateness> {
      n = Math.min(n, MAX_LATE);
      if (freshen) {
        const before = timerRuns(probe);
        probe.expires = get_jiffies_64();
        add_timer_on(probe, cpu);
        const give = performance.now() + limitMs;
        while (timerRuns(probe) === before && performance.now() < give) await msleep(1);
      }
      let x = seed >>> 0 || 1;
      const rnd = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
      Atomics.store(ctl, CTL_TIMERS, 0);
      Atomics.store(ctl, CTL_EARLY, 0);
      const objs: SlabObject<LateObj>[] = [];
      for (let i = 0; i < n; i++) {
        const o = kmalloc(LateT, GFP_KERNEL);
        o.set('idx', i);
        timer_setup(o.timer('t'), deferred_late_fn, 0);
        objs.push(o);
      }
      for (let i = 0; i < n; i++) {
        const t = objs[i]!.timer('t');
        const e = get_jiffies_64() + minDelta + Math.floor(rnd() * span);
        late[2 * i] = e;
        late[2 * i + 1] = NaN;
        t.expires = e;
        add_timer_on(t, cpu);
      }
      const give = performance.now() + limitMs;
      while (Atomics.load(ctl, CTL_TIMERS) < n && performance.now() < give) await msleep(5);
      const out: Lateness = { late: [], early: Atomics.load(ctl, CTL_EARLY), missing: 0 };
      for (let i = 0; i < n; i++) {
        const ran = late[2 * i + 1]!;
        if (Number.isNaN(ran)) out.missing++;
        else out.late.push(ran - late[2 * i]!);
      }
      for (const o of objs) {
        del_timer_sync(o.timer('t'));
        kfree(o);
      }
      return out;
    },

    /**
     * mod_timer on a pending far-future timer: `n` calls alternating between
     * two expiries (dequeue + enqueue each), then `n` with the same expiry
     * (the fast path). @returns ns per call, [moved, same]
     */
    async modTimer(n: number, reps: number): Promise<{ moved: number[]; same: number[] }> {
      const base = get_jiffies_64() + 100_000;
      far.expires = base;
      mod_timer(far, base);
      const moved: number[] = [];
      const same: number[] = [];
      const loopMoved = (): number => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) mod_timer(far, base + (i & 1));
        return ((performance.now() - t0) * 1e6) / n;
      };
      const loopSame = (): number => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) mod_timer(far, base);
        return ((performance.now() - t0) * 1e6) / n;
      };
      for (let w = 0; w < 3; w++) {
        loopMoved();
        loopSame();
        await cond_resched();
      }
      for (let r = 0; r < reps; r++) {
        moved.push(loopMoved());
        same.push(loopSame());
        await cond_resched();
      }
      del_timer_sync(far);
      return { moved, same };
    },
  };
});
