/**
 * preempt_mask.ts — the fields of preempt_count, as include/linux/preempt.h
 * lays them out: preemption depth (bits 0-7), softirq count (8-15), hardirq
 * count (16-19), NMI (20-23).
 *
 * In layer 1, apart from preempt.ts, so that the preemption point (entry.ts,
 * which preempt.ts itself calls) and every other reader of a preempt_count
 * word take the masks from here instead of writing them as literals.
 */
export const PREEMPT_BITS = 8;
export const SOFTIRQ_BITS = 8;
export const HARDIRQ_BITS = 4;
export const NMI_BITS = 4;
export const PREEMPT_SHIFT = 0;
export const SOFTIRQ_SHIFT = PREEMPT_SHIFT + PREEMPT_BITS;
export const HARDIRQ_SHIFT = SOFTIRQ_SHIFT + SOFTIRQ_BITS;
export const NMI_SHIFT = HARDIRQ_SHIFT + HARDIRQ_BITS;
export const PREEMPT_MASK = ((1 << PREEMPT_BITS) - 1) << PREEMPT_SHIFT; // 0x000000ff
export const SOFTIRQ_MASK = ((1 << SOFTIRQ_BITS) - 1) << SOFTIRQ_SHIFT; // 0x0000ff00
export const HARDIRQ_MASK = ((1 << HARDIRQ_BITS) - 1) << HARDIRQ_SHIFT; // 0x000f0000
export const NMI_MASK = ((1 << NMI_BITS) - 1) << NMI_SHIFT; //             0x00f00000
export const PREEMPT_OFFSET = 1 << PREEMPT_SHIFT;
export const SOFTIRQ_OFFSET = 1 << SOFTIRQ_SHIFT; //                        0x100
export const HARDIRQ_OFFSET = 1 << HARDIRQ_SHIFT; //                        0x10000
export const NMI_OFFSET = 1 << NMI_SHIFT; //                                0x100000
/** local_bh_disable() adds twice SOFTIRQ_OFFSET, so bit 8 alone means "serving a softirq". */
export const SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
export const PREEMPT_DISABLE_OFFSET = PREEMPT_OFFSET;
/** The offset spin_lock_bh adds: BH off plus the lock's preempt_disable. */
export const SOFTIRQ_LOCK_OFFSET = SOFTIRQ_DISABLE_OFFSET + PREEMPT_DISABLE_OFFSET;
