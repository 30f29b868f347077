/**
 * family — issue 14's deferred-work family on one machine:
 *
 *   (a) hardirq → threaded handler entry (IRQ_WAKE_THREAD → thread_fn in
 *       irq/N-name) against hardirq → tasklet entry (tasklet_schedule in the
 *       handler → TASKLET_SOFTIRQ in irq_exit), same machine, same line
 *       routing (raised by CPU 0, delivered on CPU 1); ratio
 *       threaded_vs_tasklet_latency = threaded median / tasklet median;
 *   (b) hrtimer lateness: a hard hrtimer on CPU 1, restarted from its
 *       callback at 200-1200 µs intervals; median and p99 in µs, early
 *       expiries counted (must be 0: S-HRT-1).
 *
 * (RCU grace periods and the cpuDown+cpuUp cycle join here from their lane.)
 * KDEFER_BENCH_QUICK=1 shrinks the sample counts for a smoke run.
 * The machine boots with lockdep off (a debugging option).
 */
import { availableParallelism } from 'node:os';
import { Machine } from '@kdefer/workers';
import { type BenchResult, type Result, ratio, summarize } from './lib/harness.js';
import { TS_HOST_ORIGIN } from './modules/family.js';

const MODULE = new URL('./modules/family.js', import.meta.url);
const QUICK = process.env.KDEFER_BENCH_QUICK === '1';
const LAT_SAMPLES = QUICK ? 100 : 2000;
const LAT_WARMUP = QUICK ? 20 : 200;
const HRT_SAMPLES = QUICK ? 100 : 2000;

export async function run(): Promise<BenchResult> {
  const results: Result[] = [];
  const ratios: Record<string, number> = {};
  const notes: string[] = [
    `${availableParallelism()} cores (os.availableParallelism); machine shared with other work: figures are medians with p99`,
  ];
  const m = await Machine.boot({ cpus: 2, hz: 1000, lockdep: false, modules: [MODULE] });
  try {
    m.sharedArray('family.ts', Float64Array)[TS_HOST_ORIGIN] = performance.timeOrigin;

    // ------------------------------------------------------------ (a)
    const thr = await m.call<number[]>(0, 'family', 'latency', 'threaded', LAT_SAMPLES, LAT_WARMUP);
    const tsk = await m.call<number[]>(0, 'family', 'latency', 'tasklet', LAT_SAMPLES, LAT_WARMUP);
    const rThr = summarize('hardirq → threaded handler entry (IRQ_WAKE_THREAD → thread_fn in irq/44-fam-thr)', thr, 'us', { p99: true });
    const rTsk = summarize('hardirq → tasklet entry (tasklet_schedule in the handler → irq_exit)', tsk, 'us', { p99: true });
    results.push(rThr, rTsk);
    ratios.threaded_vs_tasklet_latency = ratio(rThr.median, rTsk.median);
    const thrCpu = m.threads().find((t) => t.comm === 'irq/44-fam-thr')?.cpu;
    notes.push(
      `(a) ${LAT_SAMPLES} samples each after ${LAT_WARMUP} warm-up; the line is delivered on CPU 1, the thread lives on CPU ${thrCpu ?? '?'} (the CPU that installed the action); the driver on CPU 0 yields while it waits`,
    );

    // ------------------------------------------------------------ (b)
    const lateNs = await m.call<number[]>(1, 'family', 'hrtimerLateness', HRT_SAMPLES);
    const early = lateNs.filter((x) => x < 0).length;
    results.push(
      summarize(
        'hrtimer lateness (ktime_get() - expiry at callback entry, hard, CPU 1)',
        lateNs.map((x) => x / 1000),
        'us',
        { p99: true },
      ),
    );
    results.push({ name: 'hrtimer expiries before their time', median: early, unit: 'count', samples: lateNs.length });
    notes.push(`(b) ${HRT_SAMPLES} expiries of one hrtimer restarted from its callback (hrtimer_forward_now, 200-1200 µs)`);
  } finally {
    await m.shutdown();
  }
  return { results, ratios, notes };
}
