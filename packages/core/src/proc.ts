/**
 * proc.ts — /proc/softirqs, /proc/interrupts, /proc/stat-like counters.
 *
 * Follows fs/proc/softirqs.c (show_softirqs), kernel/irq/proc.c
 * (show_interrupts) and arch/x86/kernel/irq.c (arch_show_interrupts). These
 * are pure functions over the machine's memory: the host formats them
 * without asking the CPUs, so they work even when a CPU is stuck.
 *
 * Differs from Linux:
 * - every line is "IO-APIC N-edge" (kdefer has no irq chip hierarchy);
 * - of the x86 architecture rows, NMI, LOC, SPU, IWI, RES and CAL (in the
 *   kernel's order) carry real counts; ERR and MIS are printed as the kernel does.
 */
import {
  type Mem,
  PC_KSTAT_SOFTIRQS,
  PC_LOC_COUNT,
  PC_SPURIOUS,
  PC_RES_COUNT,
  PC_CAL_COUNT,
  PC_NMI_COUNT,
  PC_IWI_COUNT,
  IRQD_ACTION_FN,
  IRQ_ACTIONS,
} from './layout.js';
import { irq_action_names } from './irq.js';

const SOFTIRQ_NAMES = ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'];

const u32 = (v: number): number => v >>> 0;

/**
 * kstat_softirqs - per-CPU softirq counts: how many times each vector's handler ran.
 * @param m - the machine's memory.
 * Context: any thread, host side too: reads shared counters with Atomics.load, takes no lock. Does not sleep.
 * @returns counts[cpu][vec], as unsigned 32-bit values.
 */
export function kstat_softirqs(m: Mem): number[][] {
  const out: number[][] = [];
  for (let c = 0; c < m.g.cpus; c++) {
    const row: number[] = [];
    for (let v = 0; v < SOFTIRQ_NAMES.length; v++) row.push(u32(Atomics.load(m.i32, m.cpu(c, PC_KSTAT_SOFTIRQS + v))));
    out.push(row);
  }
  return out;
}

/**
 * procSoftirqs - /proc/softirqs, byte for byte as fs/proc/softirqs.c prints it.
 * @param m - the machine's memory.
 * Context: any thread, host side too: reads shared counters with Atomics.load, takes no lock. Does not sleep.
 * @returns the file's text.
 */
export function procSoftirqs(m: Mem): string {
  const counts = kstat_softirqs(m);
  let s = ' '.repeat(20);
  for (let c = 0; c < m.g.cpus; c++) s += `CPU${c}`.padEnd(11);
  s += '\n';
  for (let v = 0; v < SOFTIRQ_NAMES.length; v++) {
    s += `${SOFTIRQ_NAMES[v]!.padStart(12)}:`;
    for (let c = 0; c < m.g.cpus; c++) s += ' ' + String(counts[c]![v]).padStart(10);
    s += '\n';
  }
  return s;
}

/**
 * kstat_irqs - per-CPU delivery counts of one IRQ line.
 * @param m - the machine's memory.
 * @param irq - the line.
 * Context: any thread, host side too: reads shared counters with Atomics.load, takes no lock. Does not sleep.
 * @returns counts[cpu].
 */
export function kstat_irqs(m: Mem, irq: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < m.g.cpus; c++) out.push(u32(Atomics.load(m.i32, m.kstatIrq(c, irq))));
  return out;
}

function line_in_use(m: Mem, irq: number): boolean {
  for (let k = 0; k < IRQ_ACTIONS; k++) if (Atomics.load(m.i32, m.irq(irq, IRQD_ACTION_FN + k)) !== 0) return true;
  return kstat_irqs(m, irq).some((n) => n > 0);
}

/**
 * procInterrupts - /proc/interrupts, in the format of kernel/irq/proc.c and the x86 rows.
 * @param m - the machine's memory.
 * Context: any thread, host side too: reads shared counters with Atomics.load, takes no lock. Does not sleep.
 * @returns the file's text.
 */
export function procInterrupts(m: Mem): string {
  let prec = 3;
  for (let j = 1000; prec < 10 && j <= m.g.nrIrqs; prec++) j *= 10;
  const cpus = m.g.cpus;
  let s = ' '.repeat(prec + 8);
  for (let c = 0; c < cpus; c++) s += `CPU${c}`.padEnd(11);
  s += '\n';
  for (let irq = 0; irq < m.g.nrIrqs; irq++) {
    if (!line_in_use(m, irq)) continue;
    s += `${String(irq).padStart(prec)}: `;
    for (const n of kstat_irqs(m, irq)) s += String(n).padStart(10) + ' ';
    s += ' ' + 'IO-APIC'.padStart(8);
    s += ' ' + String(irq).padStart(prec);
    s += '-' + 'edge'.padEnd(8);
    const names = irq_action_names(m, irq);
    if (names.length > 0) s += '  ' + names.join(', ');
    s += '\n';
  }
  const arch = (name: string, f: number, desc: string): void => {
    s += `${name.padStart(prec)}: `;
    for (let c = 0; c < cpus; c++) s += String(u32(Atomics.load(m.i32, m.cpu(c, f)))).padStart(10) + ' ';
    s += `  ${desc}\n`;
  };
  arch('NMI', PC_NMI_COUNT, 'Non-maskable interrupts');
  arch('LOC', PC_LOC_COUNT, 'Local timer interrupts');
  arch('SPU', PC_SPURIOUS, 'Spurious interrupts');
  arch('IWI', PC_IWI_COUNT, 'IRQ work interrupts');
  arch('RES', PC_RES_COUNT, 'Rescheduling interrupts');
  arch('CAL', PC_CAL_COUNT, 'Function call interrupts');
  s += `${'ERR'.padStart(prec)}: ${String(0).padStart(10)}\n`;
  s += `${'MIS'.padStart(prec)}: ${String(0).padStart(10)}\n`;
  return s;
}
