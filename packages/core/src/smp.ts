/**
 * smp.ts — the identity of the CPU this thread simulates.
 *
 * Follows include/linux/smp.h and arch/x86's per-CPU area: each CPU thread
 * holds, in module-level bindings, a view of the machine's memory and the
 * word index of its own per-CPU area. Every other mechanism reads them from
 * here; `cpu_init` (called once by the CPU worker) sets them.
 *
 * Differs from Linux:
 * - one CPU per thread, for the thread's whole life: there is no CPU hotplug.
 * - `smp_processor_id()` needs no preemption check: a task never migrates.
 */
import { type Geometry, Mem, CPU_STRIDE, H_STATE, H_NR_CPUS, MACHINE_RUNNING, PC_WAKE, PC_IRQ_REQUEST, PC_CONTROL_HOST } from './layout.js';

/** The machine's memory, seen from this CPU (set by cpu_init). */
export let mem: Mem = undefined as unknown as Mem;
/** `mem.i32`, hoisted: the hot paths index it directly. */
export let i32: Int32Array = new Int32Array(0);
/** This CPU's number. */
export let cpuId = -1;
/** Word index of this CPU's per-CPU area. */
export let PCB = 0;
/** Number of CPUs in the machine. */
export let nrCpus = 0;

/** Bind this thread to CPU `cpu` of the machine whose memory is `m`. */
export function smp_init_cpu(m: Mem, cpu: number): void {
  mem = m;
  i32 = m.i32;
  cpuId = cpu;
  PCB = m.cpu(cpu);
  nrCpus = m.g.cpus;
}

/** The number of the CPU the caller runs on. Context: any. */
export function smp_processor_id(): number {
  return cpuId;
}
/** Same as smp_processor_id(); kdefer tasks never migrate. */
export const raw_smp_processor_id = smp_processor_id;

/** Number of CPUs the machine booted with (nr_cpu_ids). */
export function num_online_cpus(): number {
  return nrCpus;
}
export const num_possible_cpus = num_online_cpus;

/** Whether the machine is running (not booting, panicked or shut down). */
export function machine_running(m: Mem = mem): boolean {
  return Atomics.load(m.i32, H_STATE) === MACHINE_RUNNING;
}

/**
 * Ring CPU `cpu`'s doorbell after setting `reqBits` in its request word:
 * the order (bits, then seq, then notify) is what makes a parked CPU never
 * miss a wake-up (it reads seq before it checks for work).
 */
export function kick_cpu(m: Mem, cpu: number, reqBits: number): void {
  const a = m.i32;
  const base = m.r.cpuBase + cpu * CPU_STRIDE;
  if (reqBits !== 0) Atomics.or(a, base + PC_IRQ_REQUEST, reqBits);
  Atomics.add(a, base + PC_WAKE, 1);
  // every waiter: the CPU thread, and any async waiter it left behind
  Atomics.notify(a, base + PC_WAKE);
}

/** Host side: flag control messages for `cpu` and ring its doorbell. */
export function kick_cpu_control(m: Mem, cpu: number): void {
  const a = m.i32;
  const base = m.r.cpuBase + cpu * CPU_STRIDE;
  Atomics.store(a, base + PC_CONTROL_HOST, 1);
  Atomics.add(a, base + PC_WAKE, 1);
  Atomics.notify(a, base + PC_WAKE);
}

export function geometryOf(m: Mem): Geometry {
  return { ...m.g, cpus: m.i32[H_NR_CPUS]! };
}
