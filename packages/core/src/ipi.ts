/**
 * ipi.ts — inter-processor interrupts: the rescheduling IPI's accounting.
 *
 * Follows arch/x86/kernel/smp.c: a CPU that wakes a task on another CPU
 * sends it a rescheduling interrupt (RES in /proc/interrupts). In kdefer the
 * wake-up itself travels through the target's wake ring (sched.ts); this
 * file counts its arrival.
 */
import { PC_RES_COUNT } from './layout.js';
import { i32, PCB } from './smp.js';

/**
 * RES_ipi_count - count one rescheduling IPI's arrival on this CPU (RES in /proc/interrupts).
 * Context: this CPU, where it takes the wake-up from its wake ring. Does not sleep.
 */
export function RES_ipi_count(): void {
  i32[PCB + PC_RES_COUNT]!++;
}
