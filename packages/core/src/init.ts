/**
 * init.ts — bringing up a machine's memory (host) and a CPU (its thread).
 *
 * Follows init/main.c (start_kernel) and kernel/smpboot.c in spirit: the
 * host lays out the shared memory once; each CPU thread then binds to its
 * per-CPU area, installs the entry hooks, starts its ksoftirqd, and the
 * built-in mechanisms open their softirq vectors (as init_timers opens
 * TIMER_SOFTIRQ).
 */
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
  MACHINE_RUNNING,
} from './layout.js';
import { smp_init_cpu } from './smp.js';
import { entry_init } from './entry.js';
import { irq_init_cpu, do_IRQ_pending } from './irq.js';
import { softirq_init_cpu, spawn_ksoftirqd, softirq_kernel_init } from './softirq.js';
import { tick_init_cpu, tick_check, local_timer_interrupt, initial_jiffies } from './tick.js';
import { sched_init_cpu, sched_ipi } from './sched.js';
import { RES_ipi_count } from './ipi.js';
import { tasklet_init_cpu } from './tasklet.js';
import { init_timers } from './timer.js';
import { slab_init_cpu } from './slab.js';
import { spinlock_init_cpu } from './spinlock.js';

/** Boot options beyond the table capacities. */
export interface BootOptions extends Partial<Geometry> {
  cpus: number;
  /** an Oops or BUG stops the whole machine (default true) */
  panicOnOops?: boolean;
  /** a spinner waiting this long reports "spinlock lockup suspected" (default 2000 ms) */
  spinLockupMs?: number;
  /** soft lockup threshold (default 5000 ms) */
  softLockupMs?: number;
  /** machine seed (race amplification, randomised tests) */
  seed?: number;
  /** the lock validator (default on; switch it off for benchmarks) */
  lockdep?: boolean;
}

/** Host side: allocate and fill a machine's shared memory. */
export function setup_machine_memory(opts: BootOptions): Mem {
  const g: Geometry = { ...DEFAULT_GEOMETRY, ...stripUndefined(opts), cpus: opts.cpus };
  const m = Mem.create(g);
  const a = m.i32;
  a[H_PANIC_ON_OOPS] = opts.panicOnOops === false ? 0 : 1;
  a[H_SPIN_LOCKUP_MS] = opts.spinLockupMs ?? 2000;
  a[H_SOFTLOCKUP_MS] = opts.softLockupMs ?? 5000;
  a[H_SEED] = opts.seed ?? 0;
  a[H_LOCKDEP] = opts.lockdep === false ? 0 : 1;
  a[H_INITIAL_JIFFIES] = initial_jiffies(g.hz) | 0;
  m.setBootTime(performance.timeOrigin + performance.now());
  Atomics.store(a, H_STATE, MACHINE_RUNNING);
  return m;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** CPU side: bind this thread to CPU `cpu` and bring it up (everything but its loop). */
export function start_cpu(sab: SharedArrayBuffer, g: Geometry, cpu: number): Mem {
  const m = new Mem(sab, g);
  smp_init_cpu(m, cpu);
  entry_init({
    hardirq: do_IRQ_pending,
    tickCheck: tick_check,
    tick: local_timer_interrupt,
    resched: () => {
      RES_ipi_count();
      sched_ipi();
    },
  });
  irq_init_cpu();
  softirq_init_cpu();
  tick_init_cpu();
  sched_init_cpu();
  spinlock_init_cpu();
  softirq_kernel_init(true);
  try {
    // Built-in mechanisms open their vectors here, as init_timers and softirq_init do.
    tasklet_init_cpu();
    init_timers();
    slab_init_cpu();
  } finally {
    softirq_kernel_init(false);
  }
  spawn_ksoftirqd();
  return m;
}
