/**
 * deferred — how long does deferred work wait, and what does re-arming a
 * timer cost?
 *
 *   (a) tasklet_schedule → callback entry on the same CPU: (i) scheduled in
 *       a BH-disabled section, run by local_bh_enable; (ii) the driver path,
 *       scheduled by a hardirq handler and run by irq_exit;
 *   (b) on another CPU: a tasklet runs on the CPU that schedules it, so CPU 0
 *       raises IRQ 41, routed to CPU 1, whose handler schedules the tasklet:
 *       CPU 0's raise → the callback's entry on CPU 1, with CPU 1 idle
 *       (parked) and busy; the hardirq delivery part is given too;
 *       → ratio tasklet_cross_vs_same_cpu (idle target over the driver path);
 *   (c) timer lateness at HZ=1000: run jiffies - expires over many timers
 *       armed at once on an idle CPU 1, short ones (wheel level 0: less
 *       than LVL_START(1) = 63 jiffies ahead, 1-jiffy granularity) and
 *       longer ones (level 1: 63 to LVL_START(2) - 1 = 503 jiffies, 8-jiffy
 *       granularity); median and p99; early runs counted (S-TIME-16);
 *   (d) mod_timer on a pending timer, ns per call: moving it (dequeue +
 *       enqueue) and re-arming it at the same expiry (the fast path).
 *
 * The machine boots with lockdep off (a debugging option; the kernel's fast
 * paths have none).
 */
import { availableParallelism } from 'node:os';
import { Machine } from '@kdefer/workers';
import { type BenchResult, type Result, median, ratio, summarize, percentile, sig } from './lib/harness.js';
import { type TaskletSamples, type Lateness, TS_HOST_ORIGIN } from './modules/deferred.js';

const MODULE = new URL('./modules/deferred.js', import.meta.url);

// (a) same-CPU samples are a few µs each; the warm-up lets the path reach optimised code.
const SAME_SAMPLES = 5000;
const SAME_WARMUP = 5000;
// (b) 1 ms before each idle sample is ~20× what CPU 1 needs to park.
const CROSS_SAMPLES = 400;
const CROSS_WARMUP = 40;
const IDLE_GAP_US = 1000;
const BUSY_GAP_US = 50;
// (c) timers per round, rounds; a round waits for its last timer (level 1: ~0.6 s).
const LATE_TIMERS = 250;
const LATE_ROUNDS = 2;
/** How long CPU 1's timer base sits idle before the stale-clock row. */
const STALE_IDLE_MS = 1000;
// (d) calls per repetition, repetitions.
const MOD_CALLS = 100_000;
const MOD_REPS = 9;

export async function run(): Promise<BenchResult> {
  const results: Result[] = [];
  const ratios: Record<string, number> = {};
  const notes: string[] = [
    `${availableParallelism()} cores (os.availableParallelism); machine shared with other work: figures are medians, with p99 where samples are many`,
  ];
  const m = await Machine.boot({ cpus: 2, hz: 1000, lockdep: false, modules: [MODULE] });
  try {
    m.sharedArray('deferred.ts', Float64Array)[TS_HOST_ORIGIN] = performance.timeOrigin;
    let lost = 0;

    // ------------------------------------------------------------ (a)
    const bh = await m.call<TaskletSamples>(0, 'deferred', 'sameBh', SAME_SAMPLES, SAME_WARMUP);
    const sameIrq = await m.call<TaskletSamples>(0, 'deferred', 'sameIrq', SAME_SAMPLES, SAME_WARMUP);
    lost += bh.lost + sameIrq.lost;
    const rBh = summarize('tasklet_schedule → callback entry, same CPU (BH disabled; runs in local_bh_enable)', bh.total, 'us', {
      p99: true,
    });
    const rSame = summarize('tasklet_schedule in a hardirq handler → callback entry, same CPU (runs in irq_exit)', sameIrq.total, 'us', {
      p99: true,
    });
    results.push(rBh, rSame);
    notes.push(
      `(a) ${SAME_SAMPLES} samples each after ${SAME_WARMUP} warm-up, on CPU 0; stamps are taken in the CPU's own thread (performance.now(), ~50 ns each)`,
    );

    // ------------------------------------------------------------ (b)
    await m.call(0, 'deferred', 'cross', 20, 0, 200); // the first deliveries run cold code
    const idle = await m.call<TaskletSamples>(0, 'deferred', 'cross', CROSS_SAMPLES, CROSS_WARMUP, IDLE_GAP_US);
    await m.call(0, 'deferred', 'stopBusy', 0);
    const spinning = m.call<number>(1, 'deferred', 'busy');
    let busy: TaskletSamples;
    try {
      busy = await m.call<TaskletSamples>(0, 'deferred', 'cross', CROSS_SAMPLES, CROSS_WARMUP, BUSY_GAP_US);
    } finally {
      await m.call(0, 'deferred', 'stopBusy', 1);
      await spinning;
    }
    lost += idle.lost + busy.lost;
    const rIdle = summarize(
      'CPU0 raises IRQ → CPU1 handler schedules tasklet → callback entry on CPU1, CPU1 idle (parked)',
      idle.total,
      'us',
      { p99: true },
    );
    const rBusy = summarize(
      'CPU0 raises IRQ → CPU1 handler schedules tasklet → callback entry on CPU1, CPU1 busy (cpu_relax loop)',
      busy.total,
      'us',
      { p99: true },
    );
    results.push(
      rIdle,
      summarize('  of which: raise → handler entry on CPU1 (hardirq delivery), CPU1 idle', idle.irq, 'us', { p99: true }),
      rBusy,
      summarize('  of which: raise → handler entry on CPU1 (hardirq delivery), CPU1 busy', busy.irq, 'us', { p99: true }),
    );
    ratios.tasklet_cross_vs_same_cpu = ratio(rIdle.median, rSame.median);
    ratios.tasklet_cross_busy_vs_same_cpu = ratio(rBusy.median, rSame.median);
    notes.push(
      `(b) ${CROSS_SAMPLES} samples after ${CROSS_WARMUP} warm-up; CPU 0 pauses ${IDLE_GAP_US} µs (idle: CPU 1 parks) or ${BUSY_GAP_US} µs (busy: CPU 1 spins in a task) before each raise; stamps are (timeOrigin - hostOrigin) + now() on each thread; tasklet_cross_vs_same_cpu divides the idle figure by the same-CPU driver path (a)(ii)`,
    );
    if (lost > 0) notes.push(`(a)(b) ANOMALY: ${lost} tasklet runs did not happen within 1 s`);
    if (rBusy.median > 100) {
      notes.push(
        `(b) ANOMALY: with CPU 1 busy the median is ${rBusy.median} µs: CPU 0's and CPU 1's threads did not run at the same time (the host's cores were taken by other processes), so the figure measures the OS's time slices, not the delivery`,
      );
    }

    // ------------------------------------------------------------ (c)
    const lvl0: Lateness = { late: [], early: 0, missing: 0 };
    const lvl1: Lateness = { late: [], early: 0, missing: 0 };
    for (let r = 0; r < LATE_ROUNDS; r++) {
      for (const [acc, min, span] of [
        [lvl0, 1, 62],
        [lvl1, 64, 440],
      ] as const) {
        const l = await m.call<Lateness>(0, 'deferred', 'lateness', 1, LATE_TIMERS, min, span, 1000 + r, 5000, true);
        acc.late.push(...l.late);
        acc.early += l.early;
        acc.missing += l.missing;
      }
    }
    // The same short timers on a base left idle: CPU 1 runs no timer for STALE_IDLE_MS first.
    await new Promise((r) => setTimeout(r, STALE_IDLE_MS));
    const stale = await m.call<Lateness>(0, 'deferred', 'lateness', 1, LATE_TIMERS, 1, 62, 2000, 5000, false);
    for (const [label, l] of [
      ['1-62 jiffies ahead (wheel level 0)', lvl0],
      ['64-503 jiffies ahead (wheel level 1)', lvl1],
      [`1-62 jiffies ahead, armed after CPU1's timer base sat idle ${STALE_IDLE_MS} ms`, stale],
    ] as const) {
      results.push(summarize(`timer lateness, run jiffies - expires, HZ=1000, ${label}, CPU1 idle`, l.late, 'jiffies', { p99: true }));
      results.push({
        name: `timers run before their expires, ${label} (S-TIME-16: must be 0)`,
        median: l.early,
        unit: 'count',
        samples: l.late.length,
      });
    }
    notes.push(
      `(c) ${LATE_ROUNDS} rounds of ${LATE_TIMERS} timers armed at once with add_timer_on(CPU 1) per range, expiries spread uniformly (seeded); run jiffies is get_jiffies_64() at the function's entry. The wheel rounds a timer's bucket UP (calc_index: the next granularity boundary strictly above expires), so a level-0 timer runs 1 jiffy after its expires at the earliest, a level-1 timer 1-8 jiffies after; the rest is CPU 1 waking from its park and the tick`,
      `(c) the last row arms timers after CPU 1's base ran no timer for ${STALE_IDLE_MS} ms: timer.ts forwards an idle base's clock on enqueue (the kernel's forward_timer_base), so they land by their distance from now, as the others do`,
    );
    const missing = lvl0.missing + lvl1.missing + stale.missing;
    if (missing > 0) notes.push(`(c) ANOMALY: ${missing} timers had not run 5 s after arming`);
    notes.push(
      `(c) p99 over ${lvl0.late.length} / ${lvl1.late.length} samples; max lateness: ${sig(percentile(lvl0.late, 100))} / ${sig(percentile(lvl1.late, 100))} jiffies`,
    );

    // ------------------------------------------------------------ (d)
    const mod = await m.call<{ moved: number[]; same: number[] }>(0, 'deferred', 'modTimer', MOD_CALLS, MOD_REPS);
    const rMoved = summarize('mod_timer on a pending timer, new expiry (dequeue + enqueue)', mod.moved, 'ns');
    const rFast = summarize('mod_timer on a pending timer, same expiry (fast path: returns 1)', mod.same, 'ns');
    results.push(rMoved, rFast);
    ratios.mod_timer_moved_vs_same_expiry = ratio(median(mod.moved.map((x, i) => x / mod.same[i]!)), 1);
    notes.push(
      `(d) ${MOD_REPS} reps × ${MOD_CALLS / 1000}k calls on CPU 0 after 3 warm-up reps, on a timer 100 000 jiffies ahead (wheel level 4) that stays pending on CPU 0's base; each call is a preemption point and takes the base lock with interrupts off`,
    );
  } finally {
    await m.shutdown();
  }
  return { results, ratios, notes };
}
