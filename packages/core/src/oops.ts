/**
 * oops.ts — the Oops a handler's exception becomes: the report printed
 * when a function run in atomic context (a hardirq, softirq, tasklet or
 * timer handler, a work item, a NAPI poll) throws.
 *
 * Follows the shape of arch/x86/kernel/dumpstack.c's die()/oops_end(): the
 * Oops line, the CPU and task, the context and preempt_count, the
 * exception, the call trace, then a panic when panicOnOops is set. Where it
 * differs from Linux: the "exception" is a JavaScript exception, and without
 * panicOnOops the handler simply counts as returned.
 *
 * run_handler is the one guard every handler runs under (hardirq, softirq,
 * tasklet, timer, irq_work, NAPI poll): the Oops, the lockdep held-lock
 * depth and the preempt_count checks. It sits in layer 3 (it needs
 * lockdep's depth check), below softirq, so that every mechanism from
 * softirq up runs its handlers through it without importing irq.ts.
 */
import { PC_PREEMPT_COUNT, H_PANIC_ON_OOPS } from './layout.js';
import { i32, PCB } from './smp.js';
import { printk, KERN_EMERG, dump_context, call_trace, oops_end, KernelHalt } from './printk.js';
import { context_name, in_interrupt } from './preempt.js';
import { lockdep_depth, lockdep_check_return } from './lockdep.js';

/**
 * report_handler_oops - report an exception thrown by a handler running in atomic
 * context as an Oops; with panicOnOops the machine then panics ("Fatal exception
 * in interrupt"), otherwise the handler counts as returned and work goes on.
 * @param e - what the handler threw.
 * @param where - names the handler in the Oops line.
 * Context: the handler's (hardirq, softirq, tasklet, timer, work, NAPI poll). Does
 * not sleep; with panicOnOops it does not return (oops_end halts the CPU).
 */
export function report_handler_oops(e: unknown, where: string): void {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const count = i32[PCB + PC_PREEMPT_COUNT]!;
  printk(KERN_EMERG + `Oops: exception in ${where} [#1] SMP`);
  printk(KERN_EMERG + dump_context());
  printk(KERN_EMERG + `Context: ${context_name(count)}, preempt_count: ${(count >>> 0).toString(16).padStart(8, '0')}`);
  printk(KERN_EMERG + `Exception: ${msg}`);
  printk(KERN_EMERG + 'Call Trace:');
  for (const l of call_trace(e, 8)) printk(KERN_EMERG + l);
  if (i32[H_PANIC_ON_OOPS] !== 0) oops_end(`Oops in ${where}`, true);
}

/**
 * run_handler - run one handler in atomic context under the checks every
 * handler gets: an exception becomes an Oops naming `oopsWhere()` (a
 * KernelHalt passes through), the handler must return holding no lock it
 * did not hold on entry (lockdep's "lock held when returning" report names
 * `lockdepWhat`), and, when `preemptLeak` is given, preempt_count must come
 * back as it was: `preemptLeak(entry, exit)` reports it, then the count is
 * restored.
 * @param call        the handler call
 * @param oopsWhere   names the handler in the Oops (called only if it throws)
 * @param lockdepWhat names it in lockdep's report; null: no lock check
 * @param preemptLeak reports a preempt_count leak; omitted: no count check
 * Context: hardirq or softirq context (the caller's).
 * @returns true if the handler returned, false if it threw (Oops reported).
 */
export function run_handler(
  call: () => void,
  oopsWhere: () => string,
  lockdepWhat: string | null,
  preemptLeak?: (entry: number, exit: number) => void,
): boolean {
  const PC = PCB + PC_PREEMPT_COUNT;
  const count = i32[PC]!;
  const held = lockdep_depth();
  let ok = true;
  try {
    call();
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_handler_oops(e, oopsWhere());
    ok = false;
  }
  if (lockdepWhat !== null) lockdep_check_return(held, lockdepWhat);
  if (preemptLeak !== undefined && i32[PC] !== count) {
    preemptLeak(count, i32[PC]!);
    i32[PC] = count;
  }
  return ok;
}

/**
 * reportWaiterLockup - kdefer-only: a CPU that waits for a callback running
 * on another CPU (del_timer_sync, hrtimer_cancel) waited past
 * spin_lockup_ms(): print `headline` ("BUG: ... lockup suspected ..."), the
 * waiter's CPU and task, its context and call trace, then stop it as an
 * Oops does (oops_end).
 * @param headline - the report's first line, without the log level.
 * @param reason - the Oops reason oops_end records ("del_timer_sync lockup").
 * Context: the waiter's. Does not return.
 * @returns never: oops_end halts this CPU.
 */
export function reportWaiterLockup(headline: string, reason: string): never {
  printk(KERN_EMERG + headline);
  printk(KERN_EMERG + dump_context());
  printk(KERN_EMERG + `Context of the waiter: ${context_name()}`);
  printk(KERN_EMERG + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_EMERG + l);
  return oops_end(reason, in_interrupt());
}
