/**
 * irq.ts — hardirq lines: descriptors, handlers, delivery, affinity.
 *
 * Follows kernel/irq/manage.c (request_irq, free_irq, disable_irq,
 * enable_irq, synchronize_irq, irq_set_affinity), kernel/irq/chip.c
 * (handle_edge_irq: a line raised while disabled is marked pending and
 * replayed on enable) and kernel/softirq.c (irq_enter, irq_exit).
 *
 * Raising a line sets its bit in ONE target CPU's interrupt request
 * register (PC_IRR) — chosen from the line's affinity mask, round-robin by
 * default as the IO-APIC's lowest-priority delivery spread them — then rings
 * that CPU's doorbell. The CPU takes it at its next preemption point with
 * interrupts enabled (entry.ts).
 *
 * Differs from Linux:
 * - lines are edge-triggered: raising a line whose IRR bit is still set on
 *   the target coalesces with it (counted as "coalesced"), as a second edge
 *   does while the first is still pending in the local APIC.
 * - an IRQ handler must be seen at module load on every CPU (module.ts);
 *   its `dev` cookie is the object each CPU passed, or a string/number.
 * - there is no irq chip hierarchy; every line shows as "IO-APIC N-edge".
 */
import { hex8 } from './printk.js';
import { clock_now } from './clock.js';
import {
  type Mem,
  PC_IRR,
  PC_IRQ_REQUEST,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_IRQ_CURRENT,
  PC_SPURIOUS,
  IRQD_NR_ACTIONS,
  IRQD_LOCK,
  IRQD_DEPTH,
  IRQD_PENDING,
  IRQD_INPROGRESS,
  IRQD_AFFINITY,
  IRQD_RR,
  IRQD_FLAGS,
  IRQD_RAISED,
  IRQD_ACTION_FN,
  IRQD_ACTION_NAME,
  IRQD_ACTION_DEV,
  IRQD_ACTION_COUNT,
  IRQ_ACTIONS,
  REQ_HARDIRQ,
  H_NR_CPUS,
} from './layout.js';
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, loading } from './module.js';
import { WARN, pr_err, printk, KERN_EMERG, KernelHalt, dump_context, oops_end, machine_panicked } from './printk.js';
import { in_interrupt } from './preempt.js';
import { irq_enter, irq_exit } from './softirq.js';
import { spin_lockup_ms } from './spinlock.js';
import { run_handler } from './oops.js';
import { trace_event, TP_IRQ_HANDLER_ENTRY, TP_IRQ_HANDLER_EXIT } from './trace.js';

export const IRQ_NONE = 0;
export const IRQ_HANDLED = 1;
export const IRQ_WAKE_THREAD = 2;
export type irqreturn_t = number;
export type IrqHandler = (irq: number, dev_id: unknown) => irqreturn_t;

export const IRQF_SHARED = 0x00000080;
export const IRQF_PROBE_SHARED = 0x00000100;
export const IRQF_NO_SUSPEND = 0x00004000;
export const IRQF_NO_THREAD = 0x00010000;
export const IRQF_NO_AUTOEN = 0x00080000;
export const IRQF_TRIGGER_RISING = 0x00000001;

export const EINVAL = 22;
export const EBUSY = 16;
export const ENOENT = 2;

// ------------------------------------------------------------ descriptor helpers

function desc_lock(d: number): void {
  while (Atomics.compareExchange(i32, d + IRQD_LOCK, 0, cpuId + 1) !== 0) cpu_relax();
}
function desc_unlock(d: number): void {
  Atomics.store(i32, d + IRQD_LOCK, 0);
}

/**
 * The one IRQ range check (kdefer-only, host and CPU side).
 * @param m - the machine's memory.
 * @param irq - the line.
 * @param who - prefixes the message (the API that was called).
 * @returns null when `irq` is a line of machine `m`, else the message that names it.
 */
export function irqRangeError(m: Mem, irq: number, who: string): string | null {
  if (Number.isInteger(irq) && irq >= 0 && irq < m.g.nrIrqs) return null;
  return `${who}: IRQ ${String(irq)} does not exist (this machine has IRQs 0-${m.g.nrIrqs - 1}; boot option nrIrqs)`;
}

/** Throw a KdeferError unless `irq` is a line of machine `m` (kdefer-only). */
export function checkIrq(m: Mem, irq: number, who: string): void {
  const err = irqRangeError(m, irq, who);
  if (err !== null) throw new KdeferError(err);
}

function check_irq(irq: number, who: string): void {
  checkIrq(mem, irq, who);
}

// Per-CPU: the dev object each CPU passed at load, by (irq, action slot).
const localDev = new Map<number, unknown>();

function dev_cookie(dev: unknown, irq: number, name: string): number {
  if (dev === null || dev === undefined) return 0;
  if (typeof dev === 'string' || typeof dev === 'number' || typeof dev === 'boolean' || typeof dev === 'bigint') {
    return intern(`dev:${typeof dev}:${String(dev)}`);
  }
  if (loading !== null) return intern(`dev:obj:${loading}:${irq}:${name}`);
  return -1; // an object at runtime: matched by identity on this CPU only
}

// ------------------------------------------------------------ raising (any thread: CPUs, host, devices)

/**
 * Assert IRQ line `irq` of machine `m`: pick the target CPU from the line's
 * affinity (round-robin among its CPUs), set the line's bit in that CPU's
 * IRR and ring it. Safe from any thread.
 * @param m - the machine's memory.
 * @param irq - the line (checked by the caller).
 * @returns the target CPU, or -1 if the line is disabled (it is then replayed by enable_irq).
 */
export function assertIrq(m: Mem, irq: number): number {
  const a = m.i32;
  const d = m.irq(irq);
  Atomics.add(a, d + IRQD_RAISED, 1);
  if (Atomics.load(a, d + IRQD_DEPTH) > 0) {
    Atomics.store(a, d + IRQD_PENDING, 1);
    // enable_irq may have dropped the depth between our two reads: replay ourselves.
    if (Atomics.load(a, d + IRQD_DEPTH) > 0 || Atomics.exchange(a, d + IRQD_PENDING, 0) === 0) return -1;
  }
  const target = irq_pick_target(m, irq);
  irqSetPendingOn(m, target, irq);
  return target;
}

/**
 * irq_pick_target - the CPU the next delivery of `irq` goes to (round-robin among
 * the CPUs of its affinity).
 * @param m - the machine's memory.
 * @param irq - the line.
 * Context: any thread, host and devices too. Does not sleep.
 * @returns the CPU number.
 */
export function irq_pick_target(m: Mem, irq: number): number {
  const a = m.i32;
  const d = m.irq(irq);
  const lo = Atomics.load(a, d + IRQD_AFFINITY) >>> 0;
  const hi = Atomics.load(a, d + IRQD_AFFINITY + 1) >>> 0;
  const n = popcount(lo) + popcount(hi);
  if (n === 1) return lo ? 31 - Math.clz32(lo) : 32 + 31 - Math.clz32(hi);
  let k = (Atomics.add(a, d + IRQD_RR, 1) >>> 0) % n;
  for (let c = 0; c < a[H_NR_CPUS]!; c++) {
    const set = c < 32 ? (lo >>> c) & 1 : (hi >>> (c - 32)) & 1;
    if (set && k-- === 0) return c;
  }
  return 0;
}

/** Set `irq`'s IRR bit on `cpu` and ring it. */
function irqSetPendingOn(m: Mem, cpu: number, irq: number): void {
  const a = m.i32;
  const bit = 1 << (irq & 31);
  Atomics.or(a, m.cpu(cpu, PC_IRR + (irq >> 5)), bit);
  kick_cpu(m, cpu, REQ_HARDIRQ);
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * affinity_words - parse an affinity: a CPU bitmask number, a bigint, or a list of CPU numbers.
 * @param nr - the machine's CPU count.
 * @param mask - the affinity.
 * Context: any (pure); a KdeferError naming a CPU that does not exist.
 * @returns the mask as two 32-bit words [CPUs 0-31, CPUs 32-63].
 */
export function affinity_words(nr: number, mask: number | readonly number[] | bigint): [number, number] {
  let lo = 0;
  let hi = 0;
  const add = (c: number): void => {
    if (!Number.isInteger(c) || c < 0 || c >= nr) throw new KdeferError(`irq affinity: CPU ${c} does not exist (CPUs 0-${nr - 1})`);
    if (c < 32) lo |= 1 << c;
    else hi |= 1 << (c - 32);
  };
  if (Array.isArray(mask)) for (const c of mask) add(c);
  else {
    const b = BigInt(mask as number | bigint);
    for (let c = 0; c < 64; c++) if ((b >> BigInt(c)) & 1n) add(c);
  }
  if (lo === 0 && hi === 0) throw new KdeferError('irq affinity: the mask names no CPU');
  return [lo, hi];
}

/**
 * irqSetAffinityMem - set `irq`'s affinity on machine `m` (host side or kernel side);
 * later deliveries follow it, one already in an IRR is not moved.
 * @param m - the machine's memory.
 * @param irq - the line.
 * @param mask - the affinity, as affinity_words takes it.
 * Context: any thread. Does not sleep.
 */
export function irqSetAffinityMem(m: Mem, irq: number, mask: number | readonly number[] | bigint): void {
  const [lo, hi] = affinity_words(m.g.cpus, mask);
  Atomics.store(m.i32, m.irq(irq, IRQD_AFFINITY), lo);
  Atomics.store(m.i32, m.irq(irq, IRQD_AFFINITY + 1), hi);
}

// ------------------------------------------------------------ delivery (on the CPU)

let IRR = 0;
let irrWords = 0;

/** Take every pending hardirq of this CPU, one at a time (entry.ts calls it). */
export function doIrqPending(): void {
  Atomics.and(i32, PCB + PC_IRQ_REQUEST, ~REQ_HARDIRQ);
  for (;;) {
    const irq = next_pending_irq();
    if (irq < 0) return;
    handle_irq(irq);
  }
}

function next_pending_irq(): number {
  for (let w = 0; w < irrWords; w++) {
    let v = Atomics.load(i32, IRR + w);
    while (v !== 0) {
      const bit = v & -v;
      const old = Atomics.and(i32, IRR + w, ~bit);
      if (old & bit) return w * 32 + 31 - Math.clz32(bit);
      v = Atomics.load(i32, IRR + w);
    }
  }
  return -1;
}

/**
 * handle_irq - run `irq`'s handlers here, in hardirq context, as handle_edge_irq does: a
 * line that is disabled, or already running on another CPU, is only marked
 * pending — the CPU running it replays it — so one line's handlers never
 * run on two CPUs at once.
 * @param irq - the line taken from this CPU's IRR.
 * Context: this CPU's interrupt entry (entry.ts), interrupts disabled by the entry. Does not sleep.
 */
export function handle_irq(irq: number): void {
  const d = mem.irq(irq);
  irq_enter();
  const prevIrq = i32[PCB + PC_IRQ_CURRENT]!;
  i32[PCB + PC_IRQ_CURRENT] = irq + 1;
  try {
    desc_lock(d);
    if (Atomics.load(i32, d + IRQD_DEPTH) > 0 || Atomics.load(i32, d + IRQD_INPROGRESS) !== 0) {
      // Disabled (enable_irq replays it) or running elsewhere (that CPU replays it).
      Atomics.store(i32, d + IRQD_PENDING, 1);
      desc_unlock(d);
    } else {
      Atomics.store(i32, d + IRQD_INPROGRESS, 1);
      desc_unlock(d);
      try {
        i32[mem.kstatIrq(cpuId, irq)]!++;
        for (;;) {
          let ran = 0;
          for (let k = 0; k < IRQ_ACTIONS; k++) {
            const id = Atomics.load(i32, d + IRQD_ACTION_FN + k);
            if (id === 0) continue;
            ran++;
            run_action(irq, k, id - 1, d);
          }
          if (ran === 0) i32[PCB + PC_SPURIOUS]!++;
          desc_lock(d);
          if (Atomics.load(i32, d + IRQD_DEPTH) === 0 && Atomics.exchange(i32, d + IRQD_PENDING, 0) !== 0) {
            desc_unlock(d);
            continue; // raised again while it ran: replay here
          }
          Atomics.store(i32, d + IRQD_INPROGRESS, 0);
          desc_unlock(d);
          break;
        }
      } catch (e) {
        Atomics.store(i32, d + IRQD_INPROGRESS, 0);
        throw e;
      }
    }
  } finally {
    i32[PCB + PC_IRQ_CURRENT] = prevIrq;
  }
  irq_exit();
}

function run_action(irq: number, k: number, id: number, d: number): void {
  const fn = fn_by_id(id) as IrqHandler | undefined;
  if (!fn) return; // registered on other CPUs only: cannot happen for load-time handlers
  const cookie = i32[d + IRQD_ACTION_DEV + k]!;
  const dev = localDev.has(irq * IRQ_ACTIONS + k) ? localDev.get(irq * IRQ_ACTIONS + k) : cookie_value(cookie);
  const before = i32[PCB + PC_PREEMPT_COUNT]!;
  trace_event(TP_IRQ_HANDLER_ENTRY, irq, i32[d + IRQD_ACTION_NAME + k]!);
  let ret = IRQ_NONE;
  const ok = run_handler(
    () => {
      ret = fn(irq, dev);
      if (ret === IRQ_HANDLED) Atomics.add(i32, d + IRQD_ACTION_COUNT, 1);
    },
    () => `irq ${irq} handler ${fn_name(id)} (${name_of(mem, i32[d + IRQD_ACTION_NAME + k]!)})`,
    `hardirq handler ${fn_name(id)}`,
  );
  if (!ok) {
    i32[PCB + PC_PREEMPT_COUNT] = before;
    i32[PCB + PC_IRQS_DISABLED] = 1;
  }
  trace_event(TP_IRQ_HANDLER_EXIT, irq, ret);
  if (i32[PCB + PC_IRQS_DISABLED] === 0) {
    WARN(true, `irq ${irq} handler ${fn_name(id)} enabled interrupts`);
    i32[PCB + PC_IRQS_DISABLED] = 1;
  }
}

function cookie_value(cookie: number): unknown {
  if (cookie <= 0) return null;
  const s = name_of(mem, cookie);
  const m = /^dev:(\w+):(.*)$/.exec(s);
  if (!m) return null;
  switch (m[1]) {
    case 'number':
      return Number(m[2]);
    case 'string':
      return m[2];
    case 'boolean':
      return m[2] === 'true';
    case 'bigint':
      return BigInt(m[2]!);
    default:
      return null;
  }
}

// ------------------------------------------------------------ public API

/**
 * request_irq - install `handler` on line `irq`.
 * @param irq     the line (0 .. nrIrqs-1)
 * @param handler `(irq, dev_id) => IRQ_HANDLED | IRQ_NONE`, run in hardirq
 *                context with interrupts disabled
 * @param flags   IRQF_SHARED to share the line, IRQF_NO_AUTOEN to leave it disabled
 * @param name    the name /proc/interrupts shows
 * @param dev     cookie passed to the handler and matched by free_irq
 * @returns 0 on success, -EINVAL for a bad line or handler, -EBUSY if the line
 *          is taken and not shareable.
 * Context: process context (module load runs it on every CPU: the first
 * installs the action, the others attach their own copy of the handler).
 */
export function request_irq(irq: number, handler: IrqHandler, flags: number, name: string, dev: unknown): number {
  preempt_point();
  const rangeError = irqRangeError(mem, irq, 'request_irq');
  if (rangeError !== null) {
    pr_err(rangeError);
    return -EINVAL;
  }
  if (typeof handler !== 'function') return -EINVAL;
  if (flags & IRQF_SHARED && (dev === null || dev === undefined)) return -EINVAL;
  const id = fn_id(handler, `irq${irq}:${name}`) + 1;
  const nameId = intern(name);
  const cookie = dev_cookie(dev, irq, name);
  const d = mem.irq(irq);
  desc_lock(d);
  try {
    const n = i32[d + IRQD_NR_ACTIONS]!;
    for (let k = 0; k < IRQ_ACTIONS; k++) {
      if (
        i32[d + IRQD_ACTION_FN + k] === id &&
        i32[d + IRQD_ACTION_NAME + k] === nameId &&
        (cookie < 0 || i32[d + IRQD_ACTION_DEV + k] === cookie)
      ) {
        if (loading !== null) {
          // Another CPU installed it while loading the same module: attach our copy.
          if (typeof dev === 'object' || typeof dev === 'function') localDev.set(irq * IRQ_ACTIONS + k, dev);
          return 0;
        }
        return -EBUSY;
      }
    }
    if (n > 0 && (!(flags & IRQF_SHARED) || !(i32[d + IRQD_FLAGS]! & IRQF_SHARED))) {
      pr_err(
        `genirq: Flags mismatch irq ${irq}. ${hex8(flags)} (${name}) vs. ${hex8(i32[d + IRQD_FLAGS]!)} (${name_of(mem, i32[d + IRQD_ACTION_NAME]!)})`,
      );
      return -EBUSY;
    }
    const k = [0, 1, 2, 3].find((s) => i32[d + IRQD_ACTION_FN + s] === 0);
    if (k === undefined) return -EBUSY;
    if (n === 0) {
      i32[d + IRQD_FLAGS] = flags;
      Atomics.store(i32, d + IRQD_DEPTH, flags & IRQF_NO_AUTOEN ? 1 : 0);
      Atomics.store(i32, d + IRQD_PENDING, 0);
    }
    i32[d + IRQD_ACTION_NAME + k] = nameId;
    i32[d + IRQD_ACTION_DEV + k] = Math.max(cookie, 0);
    Atomics.store(i32, d + IRQD_ACTION_COUNT + k, 0);
    if (typeof dev === 'object' || typeof dev === 'function') localDev.set(irq * IRQ_ACTIONS + k, dev);
    Atomics.store(i32, d + IRQD_ACTION_FN + k, id);
    i32[d + IRQD_NR_ACTIONS] = n + 1;
    return 0;
  } finally {
    desc_unlock(d);
  }
}

/**
 * free_irq - remove the handler installed with cookie `dev` from `irq`, after
 * waiting for any running instance of the line's handlers to finish.
 * @returns the name the handler was requested with, or null if none matched.
 * Context: process context; never from the line's own handler.
 */
export function free_irq(irq: number, dev: unknown): string | null {
  preempt_point();
  check_irq(irq, 'free_irq');
  if (WARN(in_interrupt(), `Trying to free IRQ ${irq} from IRQ context!`)) return null;
  const d = mem.irq(irq);
  let slot = -1;
  desc_lock(d);
  try {
    for (let k = 0; k < IRQ_ACTIONS; k++) {
      if (i32[d + IRQD_ACTION_FN + k] === 0) continue;
      const local = localDev.get(irq * IRQ_ACTIONS + k);
      const match =
        dev !== null && typeof dev === 'object' ? local === dev : i32[d + IRQD_ACTION_DEV + k] === Math.max(dev_cookie(dev, irq, ''), 0);
      if (match) {
        slot = k;
        break;
      }
    }
    if (slot < 0) {
      WARN(true, `Trying to free already-free IRQ ${irq}`);
      return null;
    }
    Atomics.store(i32, d + IRQD_ACTION_FN + slot, 0);
    i32[d + IRQD_NR_ACTIONS]!--;
  } finally {
    desc_unlock(d);
  }
  synchronize_irq(irq);
  localDev.delete(irq * IRQ_ACTIONS + slot);
  return name_of(mem, i32[d + IRQD_ACTION_NAME + slot]!);
}

/**
 * synchronize_irq - wait until no handler of `irq` runs on any CPU.
 * Context: process context, or atomic context that is not that line's handler.
 */
export function synchronize_irq(irq: number): void {
  check_irq(irq, 'synchronize_irq');
  const d = mem.irq(irq);
  const t0 = clock_now();
  let spins = 0;
  while (Atomics.load(i32, d + IRQD_INPROGRESS) !== 0) {
    if (i32[PCB + PC_IRQ_CURRENT] === irq + 1) {
      WARN(true, `synchronize_irq(${irq}) from its own handler would wait forever`);
      return;
    }
    cpu_relax();
    if ((++spins & 1023) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      printk(KERN_EMERG + `BUG: synchronize_irq(${irq}) waited ${spin_lockup_ms()} ms for a running handler on CPU#${cpuId}`);
      printk(KERN_EMERG + dump_context());
      oops_end(`synchronize_irq(${irq}) lockup`);
    }
    if (machine_panicked()) throw new KernelHalt('machine stopped');
  }
}

/**
 * disable_irq_nosync - disable `irq` (nests) without waiting for running handlers.
 * Context: any.
 */
export function disable_irq_nosync(irq: number): void {
  preempt_point();
  check_irq(irq, 'disable_irq_nosync');
  const d = mem.irq(irq);
  desc_lock(d);
  Atomics.add(i32, d + IRQD_DEPTH, 1);
  desc_unlock(d);
}

/**
 * disable_irq - disable `irq` (nests) and wait for running handlers to finish.
 * Context: process context, or atomic context other than the line's handler.
 */
export function disable_irq(irq: number): void {
  disable_irq_nosync(irq);
  synchronize_irq(irq);
}

/**
 * enable_irq - undo one disable_irq(); at depth 0 a raise that arrived while
 * disabled is replayed.
 * Context: any.
 */
export function enable_irq(irq: number): void {
  preempt_point();
  check_irq(irq, 'enable_irq');
  const d = mem.irq(irq);
  let replay = false;
  desc_lock(d);
  try {
    const depth = Atomics.load(i32, d + IRQD_DEPTH);
    if (depth === 0) {
      WARN(true, `Unbalanced enable for IRQ ${irq}`);
      return;
    }
    Atomics.store(i32, d + IRQD_DEPTH, depth - 1);
    if (depth === 1) replay = Atomics.exchange(i32, d + IRQD_PENDING, 0) !== 0;
  } finally {
    desc_unlock(d);
  }
  if (replay) irqSetPendingOn(mem, irq_pick_target(mem, irq), irq);
}

/**
 * irq_set_affinity - route `irq` to the CPUs in `mask` (a bitmask, or a list of CPUs).
 * Deliveries are spread round-robin among them.
 * @returns 0, or -EINVAL for an empty or impossible mask.
 * Context: any.
 */
export function irq_set_affinity(irq: number, mask: number | readonly number[]): number {
  preempt_point();
  check_irq(irq, 'irq_set_affinity');
  try {
    irqSetAffinityMem(mem, irq, mask);
    return 0;
  } catch {
    return -EINVAL;
  }
}

/**
 * raiseIrq - kdefer: assert line `irq` as a device would. The delivery goes
 * to one CPU of the line's affinity.
 * @returns the target CPU, or -1 if the line is disabled (replayed on enable).
 * Context: any.
 */
export function raiseIrq(irq: number): number {
  preempt_point();
  check_irq(irq, 'raiseIrq');
  return assertIrq(mem, irq);
}

/**
 * irq_action_names - the handler names of a line, for /proc/interrupts.
 * @param m - the machine's memory.
 * @param irq - the line.
 * Context: any thread, host side too; reads shared words with Atomics.load. Does not sleep.
 * @returns the names, in action-slot order.
 */
export function irq_action_names(m: Mem, irq: number): string[] {
  const d = m.irq(irq);
  const out: string[] = [];
  for (let k = 0; k < IRQ_ACTIONS; k++)
    if (Atomics.load(m.i32, d + IRQD_ACTION_FN + k) !== 0) out.push(name_of(m, m.i32[d + IRQD_ACTION_NAME + k]!));
  return out;
}

/** An irq_desc, read-only: what drivers may look at (desc->depth). */
export class IrqDesc {
  constructor(
    readonly irq: number,
    private readonly m: Mem,
  ) {}
  /** desc->depth: disable_irq nesting, 0 when the line is enabled. */
  get depth(): number {
    return Atomics.load(this.m.i32, this.m.irq(this.irq, IRQD_DEPTH));
  }
}

/**
 * irq_to_desc - the descriptor of line `irq`, a read-only view.
 * Context: any.
 * @returns the descriptor; a KdeferError when `irq` is not a line.
 */
export function irq_to_desc(irq: number): IrqDesc {
  check_irq(irq, 'irq_to_desc');
  return new IrqDesc(irq, mem);
}

/**
 * irq_init_cpu - bind this CPU's IRR words.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function irq_init_cpu(): void {
  IRR = PCB + PC_IRR;
  irrWords = mem.r.irrWords;
}
