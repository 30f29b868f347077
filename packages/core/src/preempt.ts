/**
 * preempt.ts — preempt_count, the irq flag, and the context predicates.
 *
 * Follows include/linux/preempt.h, include/linux/irqflags.h and
 * include/linux/bottom_half.h with kernel/softirq.c's __local_bh_enable_ip.
 * The count is this CPU's PC_PREEMPT_COUNT word in shared memory (so other
 * CPUs and the host can read what a CPU is doing); the irq flag is
 * PC_IRQS_DISABLED. Only the owning CPU writes either, with plain stores.
 *
 * Differs from Linux:
 * - PREEMPT_NEED_RESCHED is not folded into the count; it is PC_NEED_RESCHED.
 * - enabling interrupts or preemption is a preemption point: a pending
 *   hardirq is delivered right there, as `sti` would let it in.
 * - local_irq_save() returns X86_EFLAGS_IF (0x200) when interrupts were on,
 *   0 when they were off, as x86's arch_local_save_flags does.
 */
import { PC_PREEMPT_COUNT, PC_IRQS_DISABLED, PC_SOFTIRQ_PENDING, PC_NEED_RESCHED } from './layout.js';
import { i32, PCB } from './smp.js';
import { preempt_point } from './entry.js';
import { upcalls } from './upcall.js';
import { WARN_ON_ONCE } from './printk.js';

export * from './preempt_mask.js';
import {
  SOFTIRQ_SHIFT,
  HARDIRQ_SHIFT,
  SOFTIRQ_MASK,
  HARDIRQ_MASK,
  NMI_MASK,
  PREEMPT_OFFSET,
  SOFTIRQ_OFFSET,
  SOFTIRQ_DISABLE_OFFSET,
} from './preempt_mask.js';
export const X86_EFLAGS_IF = 0x200;

const PC = (): number => PCB + PC_PREEMPT_COUNT;

// ------------------------------------------------------------ state accessors

/**
 * preempt_count - this CPU's preempt_count.
 * Context: any, on this CPU. Does not sleep.
 * @returns the count: preemption, softirq, hardirq and NMI fields (preempt_mask.ts).
 */
export function preempt_count(): number {
  return i32[PCB + PC_PREEMPT_COUNT]!;
}
/**
 * __preempt_count_add - add `v` to preempt_count with no preemption point (entry and softirq core).
 * @param v - the offset (PREEMPT_OFFSET, SOFTIRQ_OFFSET, HARDIRQ_OFFSET, ...).
 * Context: any, on this CPU. Does not sleep.
 */
export function __preempt_count_add(v: number): void {
  i32[PCB + PC_PREEMPT_COUNT]! += v;
}
/**
 * __preempt_count_sub - subtract `v` from preempt_count with no preemption point.
 * @param v - the offset added before.
 * Context: any, on this CPU. Does not sleep.
 */
export function __preempt_count_sub(v: number): void {
  i32[PCB + PC_PREEMPT_COUNT]! -= v;
}
/**
 * preempt_count_set - overwrite the count (used to repair it after a handler leaked, as the kernel does).
 * @param v - the new count.
 * Context: any, on this CPU. Does not sleep.
 */
export function preempt_count_set(v: number): void {
  i32[PCB + PC_PREEMPT_COUNT] = v;
}

/**
 * hardirq_count - the hardirq nesting field of preempt_count.
 * Context: any, on this CPU. Does not sleep.
 * @returns preempt_count() & HARDIRQ_MASK (0 outside hardirq).
 */
export const hardirq_count = (): number => preempt_count() & HARDIRQ_MASK;
/**
 * softirq_count - the softirq field of preempt_count: serving (SOFTIRQ_OFFSET) and BH-disable levels.
 * Context: any, on this CPU. Does not sleep.
 * @returns preempt_count() & SOFTIRQ_MASK.
 */
export const softirq_count = (): number => preempt_count() & SOFTIRQ_MASK;
/**
 * irq_count - the NMI, hardirq and softirq fields of preempt_count.
 * Context: any, on this CPU. Does not sleep.
 * @returns their bits (0: task context with bottom halves enabled).
 */
export const irq_count = (): number => preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK);

/**
 * in_nmi - whether this CPU is in NMI context.
 * Context: any, on this CPU. Does not sleep.
 * @returns true in an NMI handler.
 */
export const in_nmi = (): boolean => (preempt_count() & NMI_MASK) !== 0;
/**
 * in_hardirq - whether this CPU is in hardirq context (a handler of request_irq runs).
 * Context: any, on this CPU. Does not sleep.
 * @returns true in hardirq (or NMI nested in it).
 */
export const in_hardirq = (): boolean => (preempt_count() & HARDIRQ_MASK) !== 0;
/** Deprecated name of in_hardirq(). */
export const in_irq = in_hardirq;
/**
 * in_softirq - serving a softirq OR bottom halves disabled (ambiguous, deprecated: prefer in_serving_softirq).
 * Context: any, on this CPU. Does not sleep.
 * @returns true if the softirq field is non-zero.
 */
export const in_softirq = (): boolean => (preempt_count() & SOFTIRQ_MASK) !== 0;
/**
 * in_serving_softirq - whether a softirq handler (tasklet, timer callback, BH work) is running now.
 * Context: any, on this CPU. Does not sleep.
 * @returns true while SOFTIRQ_OFFSET is in the count.
 */
export const in_serving_softirq = (): boolean => (preempt_count() & SOFTIRQ_OFFSET) !== 0;
/**
 * in_interrupt - NMI, hardirq, softirq, or bottom halves disabled (deprecated).
 * Context: any, on this CPU. Does not sleep.
 * @returns true if any of those fields is non-zero.
 */
export const in_interrupt = (): boolean => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) !== 0;
/**
 * in_task - process context: not NMI, not hardirq, not serving a softirq (BH-disabled code is still in_task).
 * Context: any, on this CPU. Does not sleep.
 * @returns true in process context.
 */
export const in_task = (): boolean => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)) === 0;
/**
 * in_atomic - any preemption-disabling state (CONFIG_PREEMPT_COUNT: held spinlocks count).
 * Context: any, on this CPU. Does not sleep.
 * @returns true if preempt_count() is non-zero (local_irq_disable alone does not count).
 */
export const in_atomic = (): boolean => preempt_count() !== 0;
/**
 * irqs_disabled - whether local interrupts are disabled on this CPU.
 * Context: any, on this CPU. Does not sleep.
 * @returns true if they are.
 */
export const irqs_disabled = (): boolean => i32[PCB + PC_IRQS_DISABLED] !== 0;
/**
 * preemptible - whether the caller may be preempted (and so may sleep, if it is a task).
 * Context: any, on this CPU. Does not sleep.
 * @returns true if preempt_count() is 0 and interrupts are enabled.
 */
export const preemptible = (): boolean => preempt_count() === 0 && !irqs_disabled();
/**
 * need_resched - whether this CPU's TIF_NEED_RESCHED is set (a wake-up asked for a switch).
 * Context: any, on this CPU. Does not sleep.
 * @returns true if set.
 */
export const need_resched = (): boolean => i32[PCB + PC_NEED_RESCHED] !== 0;

/**
 * interrupt_context_level - the depth of the interrupt context this CPU is in.
 * Context: any, on this CPU. Does not sleep.
 * @returns 0 task, 1 softirq (serving), 2 hardirq, 3 NMI.
 */
export function interrupt_context_level(): number {
  const c = preempt_count();
  return (c & NMI_MASK ? 1 : 0) + (c & (NMI_MASK | HARDIRQ_MASK) ? 1 : 0) + (c & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET) ? 1 : 0);
}

/**
 * context_name - a word for the context of preempt_count `count`.
 * @param count - a preempt_count (default: this CPU's).
 * Context: any (pure over `count`). Does not sleep.
 * @returns "task", "softirq", "hardirq", "nmi" or "task (BH disabled)".
 */
export function context_name(count = preempt_count()): string {
  if (count & NMI_MASK) return 'nmi';
  if (count & HARDIRQ_MASK) return 'hardirq';
  if (count & SOFTIRQ_OFFSET) return 'softirq';
  if (count & SOFTIRQ_MASK) return 'task (BH disabled)';
  return 'task';
}

/**
 * irq_context_summary - lockdep's context summary of this CPU.
 * Context: any, on this CPU. Does not sleep.
 * @returns a string such as "[HC0[0]:SC1[1]:HE1:SE0]".
 */
export function irq_context_summary(): string {
  const c = preempt_count();
  const hc = (c & HARDIRQ_MASK) >> HARDIRQ_SHIFT;
  const sc = (c & SOFTIRQ_MASK) >> SOFTIRQ_SHIFT;
  return `[HC${hc ? 1 : 0}[${hc}]:SC${c & SOFTIRQ_OFFSET ? 1 : 0}[${sc & 1}]:HE${irqs_disabled() ? 0 : 1}:SE${sc ? 0 : 1}]`;
}

// ------------------------------------------------------------ preemption

/**
 * preempt_disable - disable kernel preemption on this CPU (nests, 255 deep).
 * Context: any.
 */
export function preempt_disable(): void {
  preempt_point();
  i32[PCB + PC_PREEMPT_COUNT]! += PREEMPT_OFFSET;
}

/**
 * preempt_enable - undo one preempt_disable().
 * Context: any; must pair with preempt_disable().
 */
export function preempt_enable(): void {
  const c = PC();
  i32[c]! -= PREEMPT_OFFSET;
  preempt_point();
}
/**
 * preempt_enable_no_resched - undo one preempt_disable() without a preemption point
 * (the caller reschedules or is about to).
 * Context: any; must pair with preempt_disable(). Does not sleep.
 */
export const preempt_enable_no_resched = (): void => {
  i32[PC()]! -= PREEMPT_OFFSET;
};

// ------------------------------------------------------------ interrupts

/**
 * local_irq_disable - disable interrupts on this CPU (not nestable: pair
 * with local_irq_enable, or use local_irq_save/restore).
 * Context: any.
 */
export function local_irq_disable(): void {
  preempt_point();
  i32[PCB + PC_IRQS_DISABLED] = 1;
}

/**
 * local_irq_enable - enable interrupts on this CPU unconditionally; a
 * pending interrupt is delivered at once.
 * Context: any except hardirq.
 */
export function local_irq_enable(): void {
  i32[PCB + PC_IRQS_DISABLED] = 0;
  preempt_point();
}

/**
 * local_irq_save - disable interrupts and return the previous state.
 * @returns X86_EFLAGS_IF if interrupts were enabled, 0 if not; pass it to local_irq_restore().
 * Context: any.
 */
export function local_irq_save(): number {
  preempt_point();
  const was = i32[PCB + PC_IRQS_DISABLED] === 0 ? X86_EFLAGS_IF : 0;
  i32[PCB + PC_IRQS_DISABLED] = 1;
  return was;
}

/**
 * local_irq_restore - restore the interrupt state saved by local_irq_save().
 * @param flags the value local_irq_save() returned.
 * Context: any.
 */
export function local_irq_restore(flags: number): void {
  i32[PCB + PC_IRQS_DISABLED] = flags & X86_EFLAGS_IF ? 0 : 1;
  preempt_point();
}

/**
 * irqs_disabled_flags - whether saved `flags` say interrupts were disabled.
 * @param flags - a value from local_irq_save() or spin_lock_irqsave().
 * Context: any (pure).
 * @returns true if X86_EFLAGS_IF is clear.
 */
export const irqs_disabled_flags = (flags: number): boolean => (flags & X86_EFLAGS_IF) === 0;

/**
 * __irq_flag_set - raw interrupt-flag write without a preemption point (entry code, softirq core).
 * @param disabled - the new state.
 * Context: this CPU's entry and softirq code only; a pending interrupt is not delivered here. Does not sleep.
 */
export function __irq_flag_set(disabled: boolean): void {
  i32[PCB + PC_IRQS_DISABLED] = disabled ? 1 : 0;
}

// ------------------------------------------------------------ bottom halves

/**
 * local_bh_disable - disable softirq processing on this CPU (nests).
 * Hardirqs still arrive; softirqs raised meanwhile run at local_bh_enable().
 * Context: any except hardirq.
 */
export function local_bh_disable(): void {
  preempt_point();
  i32[PCB + PC_PREEMPT_COUNT]! += SOFTIRQ_DISABLE_OFFSET;
}

/**
 * __local_bh_disable_ip - add `cnt` to the count, with no preemption point.
 * @param cnt - SOFTIRQ_OFFSET to serve softirqs, SOFTIRQ_DISABLE_OFFSET to disable them.
 * Context: any except hardirq. Does not sleep.
 */
export function __local_bh_disable_ip(cnt: number): void {
  i32[PCB + PC_PREEMPT_COUNT]! += cnt;
}

/**
 * _local_bh_enable - drop one BH-disable level without running pending softirqs.
 * Context: process or softirq context; a WARN in hardirq. Does not sleep.
 */
export function _local_bh_enable(): void {
  WARN_ON_ONCE(in_hardirq(), '_local_bh_enable() in hardirq context');
  i32[PCB + PC_PREEMPT_COUNT]! -= SOFTIRQ_DISABLE_OFFSET;
}

/**
 * __local_bh_enable_ip - drop `cnt` from the softirq count; when that ends
 * the last BH-disable level outside interrupt context, run the pending
 * softirqs here, before returning (S-CTX-8).
 * @param cnt - the offset added by __local_bh_disable_ip.
 * Context: process or softirq context with interrupts enabled; WARNs in
 * hardirq or with interrupts disabled. Does not sleep.
 */
export function __local_bh_enable_ip(cnt: number): void {
  const c = PCB + PC_PREEMPT_COUNT;
  WARN_ON_ONCE(in_hardirq() || irqs_disabled(), 'local_bh_enable() with hardirqs disabled or in hardirq context');
  // Keep preemption disabled until softirq processing is done.
  i32[c]! -= cnt - 1;
  // The pending mask is set by this CPU only (raise_softirq is local): a plain read sees every bit it set.
  if ((i32[c]! & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) === 0 && i32[PCB + PC_SOFTIRQ_PENDING] !== 0) {
    upcalls.bhEnablePending();
  }
  i32[c]! -= 1;
  preempt_point();
}

/**
 * local_bh_enable - undo one local_bh_disable(); if this re-enables bottom
 * halves and softirqs are pending, they run now, before it returns.
 * Context: process or softirq context with interrupts enabled; never hardirq.
 */
export function local_bh_enable(): void {
  __local_bh_enable_ip(SOFTIRQ_DISABLE_OFFSET);
}
