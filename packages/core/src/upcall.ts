/**
 * upcall.ts — the one way a lower layer of the core calls into a higher one.
 *
 * Models the kernel's registration-at-init pattern (open_softirq,
 * register_cpu_notifier): the preemption point (entry.ts, layer 2) must take
 * hardirqs and ticks and act on IPIs, and local_bh_enable (preempt.ts, layer
 * 2) must run pending softirqs, softirq.ts (layer 4) must wake ksoftirqd
 * (a task, layer 5), irq.ts (layer 4) must wake an irq/N-name thread, and the tasklet softirqs (layer 5) run the BH
 * workqueues (layer 6) first, yet those mechanisms live in layers above.
 * Likewise printk (layer 1) names the current task that the scheduler
 * (layer 5) knows, the tick (layer 4) runs the timer wheel, the IRQ work
 * tick and the watchdog and hands its event to the hrtimers (layer 5), the
 * scheduler tells the workqueues' concurrency management (layer 6) when a
 * kworker sleeps, and the idle wait asks the timers how long it may sleep.
 * Rather than import upward (an import cycle), the lower layer calls through
 * this table, which init.ts (and each mechanism's own init) fills once per
 * CPU at boot, before any module code runs. There is no kernel counterpart:
 * Linux links everything into one image and calls directly. Only slow paths
 * call through it (a request bit set, softirqs pending, a softirq action
 * running, a tick, a context switch of a kworker, a report); the fast paths
 * of preempt_point and local_bh_enable never touch it.
 *
 * Two kinds of entry: `upcalls`, one function per entry, which the last
 * registration sets (registerUpcalls); and `upcallChains`, the entries
 * several mechanisms fill, called in registration order, as a notifier
 * chain is (registerUpcallChain).
 */
import { cpuId } from './smp.js';

/** A task as the scheduler hands it up (sched.ts's TaskStruct; named here without importing the scheduler). */
export interface UpcallTask {
  readonly pid: number;
}

/** Every upward call the lower layers make; each defaults to doing nothing. */
export interface Upcalls {
  /** Take the pending hardirqs (irq.ts). */
  hardirq: () => void;
  /** Whether the clock says the local tick is due (tick.ts). */
  tickCheck: () => boolean;
  /** The local timer interrupt (tick.ts). */
  tick: () => void;
  /** A reschedule IPI (sched.ts). */
  resched: () => void;
  /** A function-call IPI. */
  call: () => void;
  /** A stop request that is not a halt. */
  stop: () => void;
  /** The IRQ work self-interrupt (irq_work.ts), taken as a hardirq is. */
  irqWork: () => void;
  /** local_bh_enable's path: run the pending softirqs (softirq.ts). */
  bhEnablePending: () => void;
  /** An NMI (nmi.ts), taken at any preemption point outside an NMI, even with interrupts off. */
  nmi: () => void;
  /** Wake the task `pid` on CPU `cpu` (sched.ts wakeUpPid), for irq.ts: a hardirq wakes its irq/N-name thread. */
  wakePid: (pid: number, cpu: number) => void;
  /** Wake this CPU's ksoftirqd (ksoftirqd.ts), for softirq.ts. */
  wakeupSoftirqd: () => void;
  /** The BH workqueues' pass, run first in TASKLET_SOFTIRQ / HI_SOFTIRQ (workqueue.ts), for tasklet.ts. */
  bhWork: (highpri: boolean) => void;
  /** The top of schedule() (era 2.2 runs bottom halves and tq_scheduler there: era/boot.ts). */
  schedule: () => void;
  /** The caller's context level (task, softirq, hardirq, NMI) for a log record (sched.ts), for printk.ts. */
  contextLevel: () => number;
  /** The "CPU: ... PID: ... Comm: ..." header of a report (sched.ts), for printk.ts's dump_context. */
  describeCurrent: () => string;
  /** A kworker (PF_WQ_WORKER) goes to sleep: wq_worker_sleeping (workqueue.ts), for sched.ts. */
  wqWorkerSleeping(t: UpcallTask): void;
  /** A kworker runs again: wq_worker_running (workqueue.ts), for sched.ts. */
  wqWorkerRunning(t: UpcallTask): void;
  /** When this CPU's next hrtimer is due, clock_now() ms, Infinity: none (hrtimer.ts), for tick.ts. */
  hrtimerNextEvent: () => number;
  /** The hrtimer clock event's handler, run in every local timer interrupt after the tick's work (hrtimer.ts), for tick.ts. */
  hrtimerInterrupt: () => void;
}

const nothing = (): void => {};

/** The table the lower layers call through (filled by registerUpcalls at init). */
export const upcalls: Upcalls = {
  hardirq: nothing,
  tickCheck: () => false,
  tick: nothing,
  resched: nothing,
  call: nothing,
  stop: nothing,
  irqWork: nothing,
  bhEnablePending: nothing,
  wakePid: nothing,
  nmi: nothing,
  wakeupSoftirqd: nothing,
  bhWork: nothing,
  schedule: nothing,
  contextLevel: () => 0,
  describeCurrent: () => `CPU: ${cpuId} PID: 0 Comm: swapper/${cpuId}`,
  wqWorkerSleeping: nothing,
  wqWorkerRunning: nothing,
  hrtimerNextEvent: () => Infinity,
  hrtimerInterrupt: nothing,
};

/**
 * registerUpcalls - install upward calls (each replaces the entry's
 * default); init.ts and the mechanisms' inits call it once per CPU at boot.
 * @param u - the entries to set.
 * Context: CPU init, before any module code runs. Does not sleep.
 */
export function registerUpcalls(u: Partial<Upcalls>): void {
  for (const k of Object.keys(u) as (keyof Upcalls)[]) {
    const fn = u[k];
    if (typeof fn !== 'function') throw new Error(`registerUpcalls: ${k} is not a function`);
    (upcalls as unknown as Record<string, unknown>)[k] = fn;
  }
}

/** The upward calls several mechanisms register at one point, each called in registration order. */
export interface UpcallChains {
  /** Every tick of this CPU in which a new jiffy started, in hardirq context (tick.ts calls them): the IRQ work tick, the watchdog, run_local_timers. */
  tick: (() => void)[];
  /** Milliseconds until each mechanism's next timed event, for the idle wait's bound (sched.ts asks): timer.ts, hrtimer.ts. */
  idleTimeout: (() => number)[];
}

/** The chains the lower layers call through (filled by registerUpcallChain at init). */
export const upcallChains: UpcallChains = { tick: [], idleTimeout: [] };

/**
 * registerUpcallChain - add `fn` to the end of chain `k` (the kernel's
 * notifier-chain registration); each CPU registers its own.
 * @param k - the chain.
 * @param fn - what it calls.
 * Context: CPU init, before any module code runs. Does not sleep.
 */
export function registerUpcallChain<K extends keyof UpcallChains>(k: K, fn: UpcallChains[K][number]): void {
  if (typeof fn !== 'function') throw new Error(`registerUpcallChain: ${k} needs a function`);
  (upcallChains[k] as unknown[]).push(fn);
}
