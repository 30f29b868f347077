/**
 * upcall.ts — the one way a lower layer of the core calls into a higher one.
 *
 * Models the kernel's registration-at-init pattern (open_softirq,
 * register_cpu_notifier): the preemption point (entry.ts, layer 2) must take
 * hardirqs and ticks and act on IPIs, and local_bh_enable (preempt.ts, layer
 * 2) must run pending softirqs, softirq.ts (layer 4) must wake ksoftirqd
 * (a task, layer 5), irq.ts (layer 4) must wake an irq/N-name thread, and the tasklet softirqs (layer 5) run the BH
 * workqueues (layer 6) first, yet those mechanisms live in layers above.
 * Rather than import upward (an import cycle), the lower layer calls through
 * this table, which init.ts (and, for ksoftirqd and the BH workqueues, the
 * mechanism's own init) fills once per CPU at boot, before any module code
 * runs. There is no kernel counterpart: Linux links everything into one
 * image and calls directly. Only slow paths call through it (a request bit
 * set, softirqs pending, a softirq action running); the fast paths of
 * preempt_point and local_bh_enable never touch it.
 */

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
  /** Wake the task `pid` on CPU `cpu` (sched.ts wakeUpPid), for irq.ts: a hardirq wakes its irq/N-name thread. */
  wakePid: (pid: number, cpu: number) => void;
  /** Wake this CPU's ksoftirqd (ksoftirqd.ts), for softirq.ts. */
  wakeupSoftirqd: () => void;
  /** The BH workqueues' pass, run first in TASKLET_SOFTIRQ / HI_SOFTIRQ (workqueue.ts), for tasklet.ts. */
  bhWork: (highpri: boolean) => void;
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
  wakeupSoftirqd: nothing,
  bhWork: nothing,
};

/** Install upward calls; init.ts calls it once per CPU at boot. */
export function registerUpcalls(u: Partial<Upcalls>): void {
  for (const k of Object.keys(u) as (keyof Upcalls)[]) {
    const fn = u[k];
    if (typeof fn !== 'function') throw new Error(`registerUpcalls: ${k} is not a function`);
    (upcalls as unknown as Record<string, unknown>)[k] = fn;
  }
}
