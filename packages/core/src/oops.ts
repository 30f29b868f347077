/**
 * oops.ts — the Oops a handler's exception becomes: the report printed
 * when a function run in atomic context (a hardirq, softirq, tasklet or
 * timer handler, a work item, a NAPI poll) throws.
 *
 * Follows the shape of arch/x86/kernel/dumpstack.c's die()/oops_end(): the
 * Oops line, the CPU and task, the context and preempt_count, the
 * exception, the call trace, then a panic when panicOnOops is set. Where it
 * differs from Linux: the "exception" is a JavaScript exception, and without
 * panicOnOops the handler simply counts as returned. It sits in layer 2 (it
 * names the context from preempt.ts) so that every mechanism above, from
 * softirq up, can report through it without importing irq.ts.
 */
import { PC_PREEMPT_COUNT, H_PANIC_ON_OOPS } from './layout.js';
import { i32, PCB } from './smp.js';
import { printk, KERN_EMERG, dump_context, call_trace, oops_end } from './printk.js';
import { context_name } from './preempt.js';

/**
 * Report an exception thrown by a handler running in atomic context as an
 * Oops; with panicOnOops the machine then panics ("Fatal exception in
 * interrupt"), otherwise the handler counts as returned and work goes on.
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
