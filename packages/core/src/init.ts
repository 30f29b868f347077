/**
 * init.ts — bringing up a machine's memory (host) and a CPU (its thread).
 *
 * Follows init/main.c (start_kernel) and kernel/smpboot.c in spirit: the
 * host lays out the shared memory once; each CPU thread then binds to its
 * per-CPU area, installs the entry hooks, starts its ksoftirqd, and the
 * built-in mechanisms open their softirq vectors (as init_timers opens
 * TIMER_SOFTIRQ).
 */
import { clock_now } from './clock.js';
import {
  type Geometry,
  Mem,
  DEFAULT_GEOMETRY,
  H_PANIC_ON_OOPS,
  H_SPIN_LOCKUP_MS,
  H_SOFTLOCKUP_MS,
  H_SEED,
  H_STATE,
  H_INITIAL_JIFFIES,
  H_LOCKDEP,
  H_THREADIRQS,
  H_TRACE_FLAGS,
  H_TRACE_RECORDS,
  H_RCU_STALL_MS,
  H_AMPLIFY,
  H_HUNG_TASK_MS,
  H_HARDLOCKUP_MS,
  H_ERA,
  MACHINE_RUNNING,
} from './layout.js';
import { era_code, type Era } from './era/era.js';
import { era_init_cpu } from './era/boot.js';
import { smp_init_cpu } from './smp.js';
import { entry_init } from './entry.js';
import { registerUpcalls, registerUpcallChain } from './upcall.js';
import { irq_init_cpu, doIrqPending } from './irq.js';
import { softirq_init_cpu, softirq_kernel_init, doSoftirqFromBhEnable } from './softirq.js';
import { irq_thread_init_cpu } from './irq_thread.js';
import { nmi_init_cpu } from './nmi.js';
import { spawn_ksoftirqd } from './ksoftirqd.js';
import { irq_work_interrupt, irq_work_init_cpu } from './irq_work.js';
import { hrtimers_init_cpu } from './hrtimer.js';
import { tick_init_cpu, tick_check, local_timer_interrupt, initial_jiffies } from './tick.js';
import { sched_init_cpu, sched_ipi } from './sched.js';
import { RES_ipi_count } from './ipi.js';
import { tasklet_init_cpu } from './tasklet.js';
import { init_timers } from './timer.js';
import { slab_init_cpu } from './slab.js';
import { rcu_init } from './rcu.js';
import { spinlock_init_cpu } from './spinlock.js';
import { workqueue_init_early, workqueue_init_cpu } from './workqueue.js';
import { watchdog_init_cpu, watchdog_timer_fn } from './watchdog.js';
import { printk } from './printk.js';
import { det_check_options, det_setup, type ScheduleOptions } from './det.js';
import { trace_init_cpu, trace_ring_words, TRACE_RECORDS, TRACE_ON, TRACE_LOCKS } from './trace.js';

/** Boot options beyond the table capacities. */
export interface BootOptions extends Partial<Geometry> {
  cpus: number;
  /** an Oops or BUG stops the whole machine (default true) */
  panicOnOops?: boolean;
  /** a spinner waiting this long reports "spinlock lockup suspected" (default 2000 ms) */
  spinLockupMs?: number;
  /** soft lockup threshold: a CPU that does not schedule this long (default 20 000 ms, 2 × watchdog_thresh) */
  softLockupMs?: number;
  /** machine seed (race amplification, randomised tests) */
  seed?: number;
  /** the lock validator (default on; switch it off for benchmarks) */
  lockdep?: boolean;
  /** idle kworkers beyond the pool's spares are culled after this long (default: the kernel's 300 s) */
  wqIdleTimeoutMs?: number;
  /** record tracepoints into per-CPU rings (default off) */
  trace?: boolean;
  /** records per CPU trace ring, a power of two (default 65 536: the most recent events are kept) */
  traceRecords?: number;
  /** trace lock_acquire / lock_release too (default true when tracing; they flood the ring) */
  traceLocks?: boolean;
  /** race amplification level 0-3: seeded random delays at preemption points (default 0) */
  amplify?: number;
  /** a task asleep in TASK_UNINTERRUPTIBLE this long is reported (default 120 000 ms) */
  hungTaskMs?: number;
  /** a busy CPU that takes no interrupt this long is a hard lockup (host NMI watchdog, default 10 000 ms) */
  hardLockupMs?: number;
  /** RCU CPU stall timeout: a grace period older than this is reported (rcu_cpu_stall_timeout, default 21 000 ms) */
  rcuStallMs?: number;
  /** force threading of every interrupt line not marked IRQF_NO_THREAD, as the kernel parameter threadirqs (default off) */
  threadirqs?: boolean;
  /** the kernel era to boot as (era/era.ts): '2.2', '2.4', '2.6', '6.x' (default) or 'rt' */
  era?: Era;
  /**
   * deterministic mode: one CPU at a time on a seeded schedule, virtual time
   * (det.ts); absent: the free-running parallel mode
   */
  schedule?: ScheduleOptions;
}

/**
 * setup_machine_memory - host side: allocate and fill a machine's shared memory
 * from its boot options (geometry, tunables, the trace rings), before any CPU starts.
 * @param opts - the boot options.
 * Context: the host thread, before the CPU threads start; throws a RangeError
 * naming the option when traceRecords is not a power of two >= 64.
 * @returns the machine's memory.
 */
export function setup_machine_memory(opts: BootOptions): Mem {
  const g: Geometry = { ...DEFAULT_GEOMETRY, ...stripUndefined(opts), cpus: opts.cpus };
  const records = opts.traceRecords ?? TRACE_RECORDS;
  if (opts.trace) {
    if (!Number.isInteger(records) || records < 64 || (records & (records - 1)) !== 0) {
      throw new RangeError(`kdefer: boot option traceRecords=${String(records)} must be a power of two, at least 64`);
    }
    g.dataWords += opts.cpus * trace_ring_words(records); // the rings live in the arena
  }
  g.detWords = 0;
  delete (g as Partial<BootOptions>).schedule; // the geometry travels to every CPU; the schedule's tables are in memory
  if (opts.schedule !== undefined) {
    if (opts.amplify) {
      throw new RangeError(
        'kdefer: boot options amplify and schedule exclude each other (amplify widens race windows with wall-clock delays; a schedule decides the interleaving itself)',
      );
    }
    g.detWords = det_check_options(opts.schedule, opts.cpus);
  }
  const m = Mem.create(g);
  const a = m.i32;
  a[H_PANIC_ON_OOPS] = opts.panicOnOops === false ? 0 : 1;
  a[H_SPIN_LOCKUP_MS] = opts.spinLockupMs ?? 2000;
  a[H_SOFTLOCKUP_MS] = opts.softLockupMs ?? 20_000;
  a[H_HUNG_TASK_MS] = opts.hungTaskMs ?? 120_000;
  a[H_HARDLOCKUP_MS] = opts.hardLockupMs ?? 10_000;
  if (opts.rcuStallMs !== undefined && (!Number.isInteger(opts.rcuStallMs) || opts.rcuStallMs < 1)) {
    throw new RangeError(`kdefer: boot option rcuStallMs=${String(opts.rcuStallMs)} must be a positive integer (milliseconds)`);
  }
  a[H_RCU_STALL_MS] = opts.rcuStallMs ?? 0;
  if (opts.amplify !== undefined && (!Number.isInteger(opts.amplify) || opts.amplify < 0 || opts.amplify > 3)) {
    throw new RangeError(`kdefer: boot option amplify=${String(opts.amplify)} must be 0, 1, 2 or 3`);
  }
  a[H_AMPLIFY] = opts.amplify ?? 0;
  a[H_ERA] = era_code(opts.era);
  a[H_SEED] = opts.seed ?? 0;
  a[H_LOCKDEP] = opts.lockdep === false ? 0 : 1;
  a[H_THREADIRQS] = opts.threadirqs === true ? 1 : 0;
  a[H_TRACE_FLAGS] = opts.trace ? TRACE_ON | (opts.traceLocks === false ? 0 : TRACE_LOCKS) : 0;
  a[H_TRACE_RECORDS] = records;
  a[H_INITIAL_JIFFIES] = initial_jiffies(g.hz) | 0;
  workqueue_init_early(m, opts.wqIdleTimeoutMs ?? 0);
  m.setBootTime(clock_now());
  if (opts.schedule !== undefined) det_setup(m, opts.schedule); // virtual boot time, the baton with the host
  Atomics.store(a, H_STATE, MACHINE_RUNNING);
  return m;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * start_cpu - CPU side: bind this thread to CPU `cpu` and bring it up
 * (memory, entry, upcalls, every mechanism's per-CPU init; everything but its loop).
 * @param sab - the machine's shared buffer.
 * @param g - its geometry.
 * @param cpu - the CPU this thread plays.
 * Context: the CPU thread, once, at its start, before any kernel code runs on it.
 * @returns this CPU's view of the machine's memory.
 */
export function start_cpu(sab: SharedArrayBuffer, g: Geometry, cpu: number): Mem {
  const m = new Mem(sab, g);
  smp_init_cpu(m, cpu);
  entry_init();
  registerUpcalls({
    bhEnablePending: doSoftirqFromBhEnable,
    hardirq: doIrqPending,
    tickCheck: tick_check,
    tick: local_timer_interrupt,
    irqWork: irq_work_interrupt,
    resched: () => {
      RES_ipi_count();
      sched_ipi();
    },
  });
  irq_init_cpu();
  softirq_init_cpu();
  tick_init_cpu();
  irq_work_init_cpu();
  nmi_init_cpu();
  sched_init_cpu();
  trace_init_cpu();
  spinlock_init_cpu();
  watchdog_init_cpu();
  registerUpcallChain('tick', watchdog_timer_fn);
  if (cpu === 0 && m.i32[H_AMPLIFY]) printk(`kdefer: race amplification level ${m.i32[H_AMPLIFY]}, seed ${m.i32[H_SEED]}`);
  softirq_kernel_init(true);
  try {
    // Built-in mechanisms open their vectors here, as init_timers and softirq_init do.
    tasklet_init_cpu();
    init_timers();
    hrtimers_init_cpu();
    slab_init_cpu();
    rcu_init();
  } finally {
    softirq_kernel_init(false);
  }
  era_init_cpu();
  spawn_ksoftirqd();
  irq_thread_init_cpu();
  workqueue_init_cpu();
  return m;
}
