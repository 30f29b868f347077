/**
 * nmi.ts — non-maskable interrupts: the host raises one on a CPU
 * (machine.raiseNmi), the CPU takes it at its next preemption point even
 * with interrupts disabled or inside a hardirq (entry.ts), never inside
 * another NMI (it stays latched until the first returns).
 *
 * Follows arch/x86/kernel/nmi.c (exc_nmi, default_do_nmi, nmi_handle,
 * register_nmi_handler, unregister_nmi_handler, unknown_nmi_error),
 * include/linux/hardirq.h (__nmi_enter / __nmi_exit: preempt_count gains
 * NMI_OFFSET + HARDIRQ_OFFSET) and include/linux/preempt.h (NMI_OFFSET
 * 0x00100000, in_nmi). printk from NMI context is kept on the CPU and
 * stored into the log by an IRQ work queued when the NMI returns, as
 * kernel/printk/printk_safe.c did (printk_nmi, __printk_safe_flush; an Oops
 * or panic flushes first, printk_safe_flush_on_panic).
 *
 * Differs from Linux:
 * - handlers are per CPU: register_nmi_handler at module load runs on
 *   every CPU, each keeps its own list (the kernel has one list per type).
 * - only NMI_LOCAL is raised (the host's raiseNmi); there is no NMI reason
 *   port, so an NMI no handler claims is "unknown" with reason 00.
 * - newer kernels store an NMI's printk in the lockless ring at once and
 *   defer only the console; kdefer has no console, so it keeps the
 *   printk_safe model, in which the deferral shows in dmesg.
 */
import {
  PC_NMI_COUNT,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_CTX_NAME,
  PC_NMI_REASON,
  PC_CURRENT_PID,
  NMI_REASON_WATCHDOG,
} from './layout.js';
import { mem, i32, PCB, cpuId } from './smp.js';
import { KdeferError, loading, registerFunction, intern } from './module.js';
import { printk, KERN_EMERG, KernelHalt, printk_nmi_pending, printk_nmi_flush, log_store, dump_context, call_trace } from './printk.js';
import { upcalls } from './upcall.js';
import { NMI_OFFSET, HARDIRQ_OFFSET } from './preempt_mask.js';
import { registerUpcalls } from './upcall.js';
import { report_handler_oops } from './oops.js';
import { type IrqWork, IRQ_WORK_INIT_HARD, irq_work_queue } from './irq_work.js';

/** NMI types (arch/x86/include/asm/nmi.h). */
export const NMI_LOCAL = 0;
export const NMI_UNKNOWN = 1;
export const NMI_SERR = 2;
export const NMI_IO_CHECK = 3;
const NMI_MAX = 4;
/** What a handler returns. */
export const NMI_DONE = 0;
export const NMI_HANDLED = 1;
/** register_nmi_handler flags. */
export const NMI_FLAG_FIRST = 1;

export type NmiHandler = (type: number, regs: unknown) => number;

const handlers: { name: string; fn: NmiHandler }[][] = Array.from({ length: NMI_MAX }, () => []);
let flushWork: IrqWork | null = null;

/**
 * register_nmi_handler - add `handler` to the NMI handlers of `type`
 * (NMI_FLAG_FIRST: at the head). It runs in NMI context: it must not sleep
 * nor take a lock the code it interrupted may hold; it may irq_work_queue.
 * @param type    NMI_LOCAL, NMI_UNKNOWN, NMI_SERR or NMI_IO_CHECK
 * @param handler `(type, regs) => NMI_HANDLED | NMI_DONE` (regs: null in kdefer)
 * @param flags   0 or NMI_FLAG_FIRST
 * @param name    names the handler (unregister_nmi_handler)
 * Context: module load (which runs it on every CPU).
 * @returns 0, or -EINVAL for a bad type or a handler that is not a function.
 */
export function register_nmi_handler(type: number, handler: NmiHandler, flags: number, name: string): number {
  if (!Number.isInteger(type) || type < 0 || type >= NMI_MAX || typeof handler !== 'function') return -22;
  if (loading === null) throw new KdeferError(`register_nmi_handler(${name}): call it at module load, so that every CPU has the handler`);
  const list = handlers[type]!;
  if (list.some((h) => h.name === name)) return -22;
  if (flags & NMI_FLAG_FIRST) list.unshift({ name, fn: handler });
  else list.push({ name, fn: handler });
  return 0;
}

/**
 * unregister_nmi_handler - remove the handler `name` of `type` from this CPU's list.
 * Context: process context (module unload).
 */
export function unregister_nmi_handler(type: number, name: string): void {
  const list = handlers[type];
  if (!list) return;
  const k = list.findIndex((h) => h.name === name);
  if (k >= 0) list.splice(k, 1);
}

/** nmi_handle: run every handler of `type`; @returns how many said NMI_HANDLED. */
function nmi_handle(type: number): number {
  let handled = 0;
  for (const h of [...handlers[type]!]) {
    let r = NMI_DONE;
    const prevCtx = i32[PCB + PC_CTX_NAME]!;
    i32[PCB + PC_CTX_NAME] = intern(h.name);
    try {
      r = h.fn(type, null);
    } catch (e) {
      if (e instanceof KernelHalt) throw e;
      report_handler_oops(e, `NMI handler ${h.name}`);
    } finally {
      i32[PCB + PC_CTX_NAME] = prevCtx;
    }
    if (r === NMI_HANDLED) handled++;
  }
  return handled;
}

/**
 * nmi_cpu_backtrace: the hard-lockup watchdog's NMI (watchdog_overflow_callback's
 * trigger_allbutcpu / nmi_cpu_backtrace): this CPU's context and stack, stored in
 * the log at once: a hard-locked CPU may never enable interrupts again to run the
 * IRQ work that stores deferred NMI printk (the kernel's triggering CPU flushes it).
 */
function nmi_cpu_backtrace(): void {
  const ctx = upcalls.contextLevel();
  const pid = i32[PCB + PC_CURRENT_PID]!;
  const say = (l: string): void => log_store(mem, cpuId, ctx, pid, 4, l);
  say(`NMI backtrace for cpu ${cpuId}`);
  for (const l of dump_context().split('\n')) say(l);
  say('Call Trace:');
  // the interrupted code's frames, below the NMI entry
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const here = new Error('NMI');
  Error.stackTraceLimit = limit;
  const frames = call_trace(here, 40).filter((l) => !/\[(nmi|entry|upcall)\.js:/.test(l));
  for (const l of frames.slice(0, 12)) say(l);
}

/** exc_nmi / default_do_nmi: the NMI, on this CPU (entry.ts through the upcall). */
function do_nmi(): void {
  i32[PCB + PC_NMI_COUNT]!++;
  const count = i32[PCB + PC_PREEMPT_COUNT]!;
  const irqsOff = i32[PCB + PC_IRQS_DISABLED]!;
  // __nmi_enter
  i32[PCB + PC_PREEMPT_COUNT] = count + NMI_OFFSET + HARDIRQ_OFFSET;
  i32[PCB + PC_IRQS_DISABLED] = 1;
  try {
    let handled = 0;
    if (Atomics.exchange(i32, PCB + PC_NMI_REASON, 0) & NMI_REASON_WATCHDOG) {
      nmi_cpu_backtrace();
      handled++;
    }
    handled += nmi_handle(NMI_LOCAL);
    if (handled === 0 && nmi_handle(NMI_UNKNOWN) === 0) {
      // unknown_nmi_error, with panic_on_unrecovered_nmi off
      printk(KERN_EMERG + `Uhhuh. NMI received for unknown reason 00 on CPU ${cpuId}.`);
      printk(KERN_EMERG + 'Dazed and confused, but trying to continue');
    }
  } finally {
    // __nmi_exit
    i32[PCB + PC_PREEMPT_COUNT] = count;
    i32[PCB + PC_IRQS_DISABLED] = irqsOff;
  }
  if (printk_nmi_pending() && flushWork) irq_work_queue(flushWork);
}

/**
 * nmi_init_cpu - this CPU's NMI entry and the IRQ work that stores NMI printk output.
 * Context: CPU init (start_cpu), once per CPU.
 */
export function nmi_init_cpu(): void {
  for (const l of handlers) l.length = 0;
  const flush = function printk_nmi_flush_work(): void {
    printk_nmi_flush();
  };
  registerFunction(`printk_nmi_flush/${cpuId}`, flush);
  flushWork = IRQ_WORK_INIT_HARD(`printk_nmi_flush/${cpuId}`, flush);
  registerUpcalls({ nmi: do_nmi });
}
