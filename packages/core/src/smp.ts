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

/**
 * smp_init_cpu - bind this thread to CPU `cpu` of the machine whose memory is `m`.
 * @param m - the machine's memory.
 * @param cpu - the CPU this thread plays.
 * Context: CPU bring-up, once, before any other kernel code runs on this thread.
 */
export function smp_init_cpu(m: Mem, cpu: number): void {
  mem = m;
  i32 = m.i32;
  cpuId = cpu;
  PCB = m.cpu(cpu);
  nrCpus = m.g.cpus;
}

/**
 * smp_processor_id - the number of the CPU the caller runs on.
 * Context: any; no preemption check is needed, since a kdefer task never migrates. Does not sleep.
 * @returns the CPU number, 0 .. num_online_cpus() - 1.
 */
export function smp_processor_id(): number {
  return cpuId;
}
/**
 * raw_smp_processor_id - the same as smp_processor_id(): kdefer tasks never migrate.
 * Context: any. Does not sleep.
 * @returns the CPU number.
 */
export const raw_smp_processor_id = smp_processor_id;

/**
 * num_online_cpus - the number of CPUs the machine booted with (nr_cpu_ids; no hotplug).
 * Context: any. Does not sleep.
 * @returns the CPU count.
 */
export function num_online_cpus(): number {
  return nrCpus;
}
/**
 * num_possible_cpus - the same as num_online_cpus(): kdefer has no CPU hotplug.
 * Context: any. Does not sleep.
 * @returns the CPU count.
 */
export const num_possible_cpus = num_online_cpus;

/**
 * machine_running - whether the machine is running (not booting, panicked or shut down).
 * @param m - the machine's memory (default: this CPU's).
 * Context: any thread, host side too. Does not sleep.
 * @returns true while the machine state word is MACHINE_RUNNING.
 */
export function machine_running(m: Mem = mem): boolean {
  return Atomics.load(m.i32, H_STATE) === MACHINE_RUNNING;
}

/**
 * kick_cpu - ring CPU `cpu`'s doorbell after setting `reqBits` in its request word:
 * the order (bits, then seq, then notify) is what makes a parked CPU never
 * miss a wake-up (it reads seq before it checks for work).
 * @param m - the machine's memory.
 * @param cpu - the CPU to wake.
 * @param reqBits - request bits to set first (0: none).
 * Context: any thread, host side too. Does not sleep.
 */
export function kick_cpu(m: Mem, cpu: number, reqBits: number): void {
  const a = m.i32;
  const base = m.r.cpuBase + cpu * CPU_STRIDE;
  if (reqBits !== 0) Atomics.or(a, base + PC_IRQ_REQUEST, reqBits);
  Atomics.add(a, base + PC_WAKE, 1);
  // every waiter: the CPU thread, and any async waiter it left behind
  Atomics.notify(a, base + PC_WAKE);
}

/**
 * kick_cpu_control - host side: flag control messages for `cpu` and ring its doorbell.
 * @param m - the machine's memory.
 * @param cpu - the CPU.
 * Context: the host thread. Does not sleep.
 */
export function kick_cpu_control(m: Mem, cpu: number): void {
  const a = m.i32;
  const base = m.r.cpuBase + cpu * CPU_STRIDE;
  Atomics.store(a, base + PC_CONTROL_HOST, 1);
  Atomics.add(a, base + PC_WAKE, 1);
  Atomics.notify(a, base + PC_WAKE);
}

/**
 * Host side: the machine's geometry, with the CPU count the machine booted with.
 * @param m - the machine's memory.
 * @returns a copy of the geometry.
 */
export function geometryOf(m: Mem): Geometry {
  return { ...m.g, cpus: m.i32[H_NR_CPUS]! };
}
