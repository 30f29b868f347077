/**
 * softirq.ts — softirq vectors, __do_softirq, irq_enter and irq_exit.
 *
 * Follows kernel/softirq.c (6.x, non-PREEMPT_RT): ten statically numbered
 * vectors whose number is their priority; a per-CPU pending mask that only
 * the CPU itself sets (there is no way to raise a softirq on another CPU);
 * pending softirqs run at irq_exit, at local_bh_enable, or in ksoftirqd/N;
 * __do_softirq restarts while handlers keep raising work, within
 * MAX_SOFTIRQ_TIME / MAX_SOFTIRQ_RESTART / need_resched, then hands the rest
 * to ksoftirqd/N — a process-context task on the same CPU that still runs
 * the handlers in softirq context (the thread itself is ksoftirqd.ts: it is
 * a task, and the scheduler sits above this layer).
 *
 * Differs from Linux:
 * - MAX_SOFTIRQ_TIME is measured with the monotonic clock (2 ms), not in
 *   jiffies: kdefer's jiffies only advance at preemption points.
 * - the 4.10-6.4 "let ksoftirqd do its job" deferral (S-SIRQ-13) is not
 *   modelled: as mainline since 6.5, irq_exit always runs softirqs inline.
 * - open_softirq() must run at module load, so that every CPU has the action.
 */
import { hex8 } from './printk.js';
import { clock_now } from './clock.js';
import {
  PC_SOFTIRQ_PENDING,
  PC_KSTAT_SOFTIRQS,
  PC_SOFTIRQ_RESTARTS,
  PC_RAISES,
  PC_SOFTIRQ_CURRENT,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_IRQ_DEPTH,
} from './layout.js';
import { i32, PCB } from './smp.js';
import { KdeferError, loading } from './module.js';
import { pr_err } from './printk.js';
import {
  SOFTIRQ_OFFSET,
  HARDIRQ_OFFSET,
  NMI_MASK,
  HARDIRQ_MASK,
  SOFTIRQ_MASK,
  need_resched,
  in_interrupt,
  local_irq_save,
  local_irq_restore,
  local_irq_enable,
  local_irq_disable,
  __irq_flag_set,
} from './preempt.js';
import { run_handler } from './oops.js';
import { trace_event, TP_SOFTIRQ_RAISE, TP_SOFTIRQ_ENTRY, TP_SOFTIRQ_EXIT } from './trace.js';
import { upcalls } from './upcall.js';

export const HI_SOFTIRQ = 0;
export const TIMER_SOFTIRQ = 1;
export const NET_TX_SOFTIRQ = 2;
export const NET_RX_SOFTIRQ = 3;
export const BLOCK_SOFTIRQ = 4;
export const IRQ_POLL_SOFTIRQ = 5;
export const TASKLET_SOFTIRQ = 6;
export const SCHED_SOFTIRQ = 7;
export const HRTIMER_SOFTIRQ = 8;
export const RCU_SOFTIRQ = 9;
export const NR_SOFTIRQS = 10;

/** The names /proc/softirqs prints, in vector order. */
export const softirq_to_name: readonly string[] = [
  'HI',
  'TIMER',
  'NET_TX',
  'NET_RX',
  'BLOCK',
  'IRQ_POLL',
  'TASKLET',
  'SCHED',
  'HRTIMER',
  'RCU',
];

/**
 * MAX_SOFTIRQ_TIME: one __do_softirq invocation stops restarting after 2 ms
 * (msecs_to_jiffies(2) in the kernel), so that a softirq flood cannot starve
 * the interrupted task; the rest goes to ksoftirqd.
 */
export const MAX_SOFTIRQ_TIME_MS = 2;
/** MAX_SOFTIRQ_RESTART: at most 10 passes per invocation, for the same reason. */
export const MAX_SOFTIRQ_RESTART = 10;

export type SoftirqAction = () => void;

// This CPU's copy of the actions (every CPU ran the same open_softirq at load).
const softirq_vec: (SoftirqAction | null)[] = new Array<SoftirqAction | null>(NR_SOFTIRQS).fill(null);
const softirq_action_name: string[] = new Array<string>(NR_SOFTIRQS).fill('');
// who opened each vector: 'kernel' (timers, tasklets) or a module's name
const softirq_owner: string[] = new Array<string>(NR_SOFTIRQS).fill('');

let PENDING = 0;

// ------------------------------------------------------------ helpers

function check_nr(nr: number, who: string): void {
  if (!Number.isInteger(nr) || nr < 0 || nr >= NR_SOFTIRQS) {
    throw new KdeferError(`${who}: unknown softirq number ${String(nr)} (0-${NR_SOFTIRQS - 1}: ${softirq_to_name.join(', ')})`);
  }
}

/**
 * local_softirq_pending - this CPU's pending mask.
 * Context: any, on this CPU. Does not sleep.
 * @returns the mask, bit `nr` for vector `nr`.
 */
export function local_softirq_pending(): number {
  return Atomics.load(i32, PENDING);
}

/**
 * wakeup_softirqd - wake this CPU's ksoftirqd, if it is not already running
 * or runnable. The thread is a task, so the scheduler's layer owns it
 * (ksoftirqd.ts, registered at init through upcall.ts).
 * Context: any on this CPU.
 */
export function wakeup_softirqd(): void {
  upcalls.wakeupSoftirqd();
}

// ------------------------------------------------------------ the core loop

/**
 * __do_softirq - run this CPU's pending softirqs in priority order, in
 * softirq context, restarting while handlers raise more work (S-SIRQ-10);
 * past MAX_SOFTIRQ_TIME_MS, MAX_SOFTIRQ_RESTART passes or need_resched() it wakes ksoftirqd.
 * Context: interrupts disabled, not in softirq context already; returns with them
 * disabled. Handlers run with interrupts enabled and must not sleep.
 */
export function __do_softirq(): void {
  const PC = PCB + PC_PREEMPT_COUNT;
  const end = clock_now() + MAX_SOFTIRQ_TIME_MS;
  let max_restart = MAX_SOFTIRQ_RESTART;
  let pending = Atomics.load(i32, PENDING);
  i32[PC]! += SOFTIRQ_OFFSET;
  const prevVec = i32[PCB + PC_SOFTIRQ_CURRENT]!;
  try {
    for (;;) {
      // With interrupts off nobody else can raise here: clearing is safe.
      Atomics.store(i32, PENDING, 0);
      local_irq_enable();
      let bits = pending;
      while (bits !== 0) {
        const nr = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        i32[PCB + PC_KSTAT_SOFTIRQS + nr]!++;
        i32[PCB + PC_SOFTIRQ_CURRENT] = nr + 1;
        const h = softirq_vec[nr];
        trace_event(TP_SOFTIRQ_ENTRY, nr, 0);
        if (h) {
          run_handler(
            h,
            () => `softirq ${nr} ${softirq_to_name[nr]} handler ${softirq_action_name[nr]}`,
            `softirq handler ${softirq_action_name[nr]}`,
            (entry, exit) =>
              pr_err(
                `huh, entered softirq ${nr} ${softirq_to_name[nr]} ${softirq_action_name[nr]} with preempt_count ${hex8(entry)}, exited with ${hex8(exit)}?`,
              ),
          );
        }
        trace_event(TP_SOFTIRQ_EXIT, nr, 0);
        if (i32[PCB + PC_IRQS_DISABLED] !== 0) __irq_flag_set(false);
      }
      i32[PCB + PC_SOFTIRQ_CURRENT] = prevVec;
      local_irq_disable();
      pending = Atomics.load(i32, PENDING);
      if (pending === 0) break;
      if (clock_now() < end && !need_resched() && --max_restart > 0) {
        i32[PCB + PC_SOFTIRQ_RESTARTS]!++;
        continue;
      }
      wakeup_softirqd();
      break;
    }
  } finally {
    i32[PCB + PC_SOFTIRQ_CURRENT] = prevVec;
    i32[PC]! -= SOFTIRQ_OFFSET;
  }
}

// ------------------------------------------------------------ hardirq entry and exit

/**
 * irq_enter - enter hardirq context: interrupts off (the CPU cleared IF),
 * HARDIRQ_OFFSET added.
 * Context: the start of a hardirq (handle_irq, the tick, the IRQ work interrupt).
 */
export function irq_enter(): void {
  i32[PCB + PC_IRQS_DISABLED] = 1;
  i32[PCB + PC_PREEMPT_COUNT]! += HARDIRQ_OFFSET;
  i32[PCB + PC_IRQ_DEPTH]!++;
}

/**
 * irq_exit - leave hardirq context; run pending softirqs if the interrupted
 * code was not itself in interrupt context or BH-disabled (S-SIRQ-9a).
 * Interrupts are back on afterwards (iret restores IF).
 * Context: the end of a hardirq, paired with irq_enter.
 */
export function irq_exit(): void {
  i32[PCB + PC_PREEMPT_COUNT]! -= HARDIRQ_OFFSET;
  i32[PCB + PC_IRQ_DEPTH]!--;
  if (
    (i32[PCB + PC_PREEMPT_COUNT]! & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) === 0 &&
    Atomics.load(i32, PCB + PC_SOFTIRQ_PENDING) !== 0
  ) {
    invoke_softirq();
  }
  i32[PCB + PC_IRQS_DISABLED] = 0;
}

/**
 * invoke_softirq - irq_exit's path: run softirqs inline.
 * Context: irq_exit, interrupts disabled, leaving the outermost hardirq. Does not sleep.
 */
export function invoke_softirq(): void {
  __do_softirq();
}

/**
 * do_softirq - run pending softirqs now, from process context.
 * Context: process context; does nothing in interrupt context.
 */
export function do_softirq(): void {
  if (in_interrupt()) return;
  const flags = local_irq_save();
  if (Atomics.load(i32, PENDING) !== 0) __do_softirq();
  local_irq_restore(flags);
}

/** local_bh_enable's path (the count still holds one preempt level). */
export function doSoftirqFromBhEnable(): void {
  const flags = local_irq_save();
  if (Atomics.load(i32, PENDING) !== 0) __do_softirq();
  local_irq_restore(flags);
}

// ------------------------------------------------------------ public API

/**
 * open_softirq - install the handler of softirq vector `nr` on this CPU.
 * @param nr     HI_SOFTIRQ .. RCU_SOFTIRQ
 * @param action run in softirq context on the CPU that raised it; must not sleep
 * Context: module load (which runs it on every CPU). There is no unregistration.
 */
export function open_softirq(nr: number, action: SoftirqAction): void {
  check_nr(nr, 'open_softirq');
  if (typeof action !== 'function') throw new KdeferError(`open_softirq(${softirq_to_name[nr]}): action is not a function`);
  if (loading === null && !kernelInit) {
    throw new KdeferError(`open_softirq(${softirq_to_name[nr]}): call it at module load, so that every CPU has the action`);
  }
  const owner = softirq_owner[nr];
  if (owner && owner !== (loading ?? 'kernel')) {
    throw new KdeferError(
      `open_softirq(${softirq_to_name[nr]}_SOFTIRQ): the vector belongs to ${owner}; a second action would replace its handler`,
    );
  }
  softirq_owner[nr] = loading ?? 'kernel';
  softirq_vec[nr] = action;
  softirq_action_name[nr] = action.name || `${softirq_to_name[nr]!.toLowerCase()}_action`;
}

let kernelInit = false;
/**
 * softirq_kernel_init - mark (or unmark) the stretch of CPU init in which built-in
 * mechanisms open their vectors, outside any module (their owner is "kernel").
 * @param on - true while the built-ins open their vectors.
 * Context: CPU init. Does not sleep.
 */
export function softirq_kernel_init(on: boolean): void {
  kernelInit = on;
}

/**
 * __raise_softirq_irqoff - mark vector `nr` pending on this CPU; wakes nobody.
 * Context: interrupts disabled; the caller relies on a later irq_exit,
 * local_bh_enable or restart pass to run it.
 */
export function __raise_softirq_irqoff(nr: number): void {
  trace_event(TP_SOFTIRQ_RAISE, nr, 0);
  Atomics.or(i32, PENDING, 1 << nr);
  i32[PCB + PC_RAISES]!++;
}

/**
 * raise_softirq_irqoff - mark `nr` pending; from plain process context
 * (nothing will run it soon) also wake ksoftirqd.
 * Context: interrupts disabled.
 */
export function raise_softirq_irqoff(nr: number): void {
  check_raise(nr, 'raise_softirq_irqoff');
  __raise_softirq_irqoff(nr);
  if ((i32[PCB + PC_PREEMPT_COUNT]! & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) === 0) wakeup_softirqd();
}

function check_raise(nr: number, who: string): void {
  if (softirq_vec[nr] === undefined || softirq_vec[nr] === null) {
    check_nr(nr, who);
    throw new KdeferError(
      `${who}: softirq ${nr} (${softirq_to_name[nr]}) has no action: open_softirq(${softirq_to_name[nr]}_SOFTIRQ, ...) was never called`,
    );
  }
}

/**
 * raise_softirq - mark softirq `nr` pending on THIS CPU; it runs on this CPU.
 * Raising a pending vector again does nothing (a bit, not a counter).
 * Context: any except NMI.
 */
export function raise_softirq(nr: number): void {
  check_raise(nr, 'raise_softirq');
  const flags = local_irq_save();
  __raise_softirq_irqoff(nr);
  if ((i32[PCB + PC_PREEMPT_COUNT]! & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) === 0) wakeup_softirqd();
  local_irq_restore(flags);
}

/** Kernel-internal raise without the action check (vectors opened at init). */
export function raiseSoftirqNocheck(nr: number): void {
  const flags = local_irq_save();
  __raise_softirq_irqoff(nr);
  if ((i32[PCB + PC_PREEMPT_COUNT]! & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) === 0) wakeup_softirqd();
  local_irq_restore(flags);
}

/**
 * softirq_init_cpu - bind this CPU's pending word.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function softirq_init_cpu(): void {
  PENDING = PCB + PC_SOFTIRQ_PENDING;
}
