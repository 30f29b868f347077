/**
 * irq.ts — hardirq lines: descriptors, handlers, delivery, affinity.
 *
 * Follows kernel/irq/manage.c (__setup_irq, __free_irq, disable_irq_nosync,
 * enable_irq, synchronize_hardirq, irq_set_affinity, __irq_wake_thread,
 * irq_finalize_oneshot, irq_setup_forced_threading), kernel/irq/chip.c
 * (handle_edge_irq: a line raised while disabled is marked pending and
 * replayed on enable; the IRQS_ONESHOT mask of handle_fasteoi_irq),
 * kernel/irq/handle.c (__handle_irq_event_percpu), kernel/irq/spurious.c
 * (note_interrupt) and kernel/softirq.c (irq_enter, irq_exit). The parts
 * that create, wait for and stop the irq/N-name threads are tasks, so they
 * live a layer up, in irq_thread.ts (request_threaded_irq, request_irq,
 * free_irq, synchronize_irq, disable_irq).
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
 * - IRQF_ONESHOT masks the line (IRQD_MASKED) from the hardirq until the
 *   line's oneshot threads are done, as handle_fasteoi_irq does for a
 *   oneshot line; a raise while masked is held pending and replayed on
 *   unmask, as a level line would still be asserted.
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
  IRQD_THREADS_ACTIVE,
  IRQD_ACTION_THREAD_FN,
  IRQD_ACTION_SECONDARY_FN,
  IRQD_ACTION_PID,
  IRQD_ACTION_TFLAGS,
  IRQD_ACTION_FLAGS,
  IRQD_ACTION_CPU,
  IRQD_THREADS_ONESHOT,
  IRQD_MASKED,
  IRQD_IRQ_COUNT,
  IRQD_UNHANDLED,
  IRQD_LAST_UNHANDLED,
  IRQD_THREADS_HANDLED,
  IRQD_THREADS_HANDLED_LAST,
  IRQD_SPURIOUS_DISABLED,
  IRQ_ACTIONS,
  REQ_HARDIRQ,
  H_NR_CPUS,
  H_JIFFIES,
  H_HZ,
  H_THREADIRQS,
} from './layout.js';
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, loading, registerFunction } from './module.js';
import {
  WARN,
  WARN_ON_ONCE,
  pr_err,
  pr_emerg,
  printk,
  KERN_EMERG,
  KERN_ERR,
  KernelHalt,
  dump_context,
  call_trace,
  oops_end,
  machine_panicked,
} from './printk.js';
import { upcalls } from './upcall.js';
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
/** A threaded handler: runs in its irq/N-name kthread, may sleep (return a promise). */
export type IrqThreadFn = (irq: number, dev_id: unknown) => irqreturn_t | Promise<irqreturn_t>;

export const IRQF_SHARED = 0x00000080;
export const IRQF_PROBE_SHARED = 0x00000100;
export const IRQF_PERCPU = 0x00000400;
export const IRQF_ONESHOT = 0x00002000;
export const IRQF_NO_SUSPEND = 0x00004000;
export const IRQF_NO_THREAD = 0x00010000;
export const IRQF_NO_AUTOEN = 0x00080000;
export const IRQF_TRIGGER_RISING = 0x00000001;

/** action->thread_flags bits (kernel/irq/internals.h IRQTF_*, as masks). */
export const IRQTF_RUNTHREAD = 1 << 0;
export const IRQTF_FORCED_THREAD = 1 << 3;
/** kdefer: free_irq asked the thread to stop (kthread_stop across CPUs). */
export const IRQTF_STOP = 1 << 8;
/** desc->threads_handled_last flag (spurious.c). */
const SPURIOUS_DEFERRED = 0x80000000 | 0;

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
  if (line_blocked(a, d)) {
    Atomics.store(a, d + IRQD_PENDING, 1);
    // enable_irq or the oneshot unmask may have run between our two reads: replay ourselves.
    if (line_blocked(a, d) || Atomics.exchange(a, d + IRQD_PENDING, 0) === 0) return -1;
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

/** Disabled (disable_irq) or masked (IRQF_ONESHOT): a raise is only marked pending. */
function line_blocked(a: Int32Array, d: number): boolean {
  return Atomics.load(a, d + IRQD_DEPTH) > 0 || Atomics.load(a, d + IRQD_MASKED) !== 0;
}

/**
 * handle_irq - run `irq`'s handlers here, in hardirq context, as handle_edge_irq does: a
 * line that is disabled or masked, or already running on another CPU, is only marked
 * pending — the CPU running it (or the unmask) replays it — so one line's handlers never
 * run on two CPUs at once. A line with IRQF_ONESHOT is masked while its handlers run and
 * stays masked until its woken threads are done (irq_finalize_oneshot).
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
    if (line_blocked(i32, d) || Atomics.load(i32, d + IRQD_INPROGRESS) !== 0) {
      // Disabled or masked (enable/unmask replays it) or running elsewhere (that CPU replays it).
      Atomics.store(i32, d + IRQD_PENDING, 1);
      desc_unlock(d);
    } else {
      Atomics.store(i32, d + IRQD_INPROGRESS, 1);
      i32[mem.kstatIrq(cpuId, irq)]!++;
      try {
        for (;;) {
          const oneshot = (i32[d + IRQD_FLAGS]! & IRQF_ONESHOT) !== 0;
          if (oneshot) Atomics.store(i32, d + IRQD_MASKED, 1); // mask_irq: IRQS_ONESHOT
          desc_unlock(d);
          let ran = 0;
          let retval = IRQ_NONE;
          for (let k = 0; k < IRQ_ACTIONS; k++) {
            const id = Atomics.load(i32, d + IRQD_ACTION_FN + k);
            if (id === 0) continue;
            ran++;
            retval |= run_action(irq, k, id - 1, d);
          }
          if (ran === 0) i32[PCB + PC_SPURIOUS]!++;
          else note_interrupt(irq, d, retval);
          desc_lock(d);
          // cond_unmask_eoi_irq: unmask unless a oneshot thread still has to run
          if (oneshot && Atomics.load(i32, d + IRQD_THREADS_ONESHOT) === 0 && Atomics.load(i32, d + IRQD_DEPTH) === 0) {
            Atomics.store(i32, d + IRQD_MASKED, 0);
          }
          if (!line_blocked(i32, d) && Atomics.exchange(i32, d + IRQD_PENDING, 0) !== 0) continue; // raised again while it ran: replay here
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

/** One action's primary handler (__handle_irq_event_percpu); @returns what it returned. */
function run_action(irq: number, k: number, id: number, d: number): number {
  const fn = fn_by_id(id) as IrqHandler | undefined;
  if (!fn) return IRQ_NONE; // registered on other CPUs only: cannot happen for load-time handlers
  const dev = irq_action_dev(irq, k);
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
    ret = IRQ_NONE;
  }
  trace_event(TP_IRQ_HANDLER_EXIT, irq, ret);
  if (i32[PCB + PC_IRQS_DISABLED] === 0) {
    WARN(true, `irq ${irq} handler ${fn_name(id)} enabled interrupts`);
    i32[PCB + PC_IRQS_DISABLED] = 1;
  }
  if (typeof ret !== 'number') ret = IRQ_NONE;
  if (ret === IRQ_WAKE_THREAD) {
    if (Atomics.load(i32, d + IRQD_ACTION_THREAD_FN + k) === 0) {
      WARN_ON_ONCE(
        true,
        `IRQ ${irq} device ${name_of(mem, i32[d + IRQD_ACTION_NAME + k]!)} returned IRQ_WAKE_THREAD but no thread function available.`,
      );
    } else {
      __irq_wake_thread(d, k);
    }
  }
  return ret;
}

/**
 * __irq_wake_thread - wake the thread of action `k` of descriptor word `d`:
 * set IRQTF_RUNTHREAD (once: a second wake before it ran is one run),
 * note it in threads_oneshot (a oneshot action) and threads_active.
 * Context: the line's hardirq (or irq_wake_thread under the desc lock). Does not sleep.
 */
function __irq_wake_thread(d: number, k: number): void {
  const tf = d + IRQD_ACTION_TFLAGS + k;
  if (Atomics.load(i32, tf) & IRQTF_STOP) return; // the thread is exiting (PF_EXITING)
  if (Atomics.or(i32, tf, IRQTF_RUNTHREAD) & IRQTF_RUNTHREAD) return;
  // Serialised against irq_finalize_oneshot by IRQD_INPROGRESS, as in the kernel.
  if (i32[d + IRQD_ACTION_FLAGS + k]! & IRQF_ONESHOT) Atomics.or(i32, d + IRQD_THREADS_ONESHOT, 1 << k);
  Atomics.add(i32, d + IRQD_THREADS_ACTIVE, 1);
  upcalls.wakePid(Atomics.load(i32, d + IRQD_ACTION_PID + k), i32[d + IRQD_ACTION_CPU + k]!);
}

/**
 * note_interrupt - the spurious-interrupt detector (kernel/irq/spurious.c):
 * a line whose handlers all returned IRQ_NONE for more than 99 900 of 100 000
 * interrupts (counting from the first unhandled one; an unhandled one more
 * than HZ/10 after the last restarts the count) is reported ("nobody cared")
 * and disabled. IRQ_WAKE_THREAD alone is judged by whether the threads
 * handled something since the last time (SPURIOUS_DEFERRED).
 * Context: the line's hardirq, IRQD_INPROGRESS held (one CPU at a time).
 */
function note_interrupt(irq: number, d: number, ret: number): void {
  if (ret & ~(IRQ_HANDLED | IRQ_WAKE_THREAD)) {
    printk(KERN_ERR + `irq event ${irq}: bogus return value ${(ret >>> 0).toString(16)}`);
    return;
  }
  if (ret & IRQ_WAKE_THREAD) {
    if (ret === IRQ_WAKE_THREAD) {
      const last = i32[d + IRQD_THREADS_HANDLED_LAST]!;
      if (!(last & SPURIOUS_DEFERRED)) {
        i32[d + IRQD_THREADS_HANDLED_LAST] = last | SPURIOUS_DEFERRED;
        return;
      }
      const handled = Atomics.load(i32, d + IRQD_THREADS_HANDLED) | SPURIOUS_DEFERRED;
      if (handled !== last) {
        ret = IRQ_HANDLED;
        i32[d + IRQD_THREADS_HANDLED_LAST] = handled;
      } else {
        ret = IRQ_NONE;
      }
    } else {
      i32[d + IRQD_THREADS_HANDLED_LAST] = i32[d + IRQD_THREADS_HANDLED_LAST]! & ~SPURIOUS_DEFERRED;
    }
  }
  if (ret === IRQ_NONE) {
    const now = Atomics.load(i32, H_JIFFIES);
    if (now - i32[d + IRQD_LAST_UNHANDLED]! > Math.floor(i32[H_HZ]! / 10)) i32[d + IRQD_UNHANDLED] = 1;
    else i32[d + IRQD_UNHANDLED]!++;
    i32[d + IRQD_LAST_UNHANDLED] = now;
  }
  if (i32[d + IRQD_UNHANDLED] === 0) return;
  if (++i32[d + IRQD_IRQ_COUNT]! < 100_000) return;
  i32[d + IRQD_IRQ_COUNT] = 0;
  if (i32[d + IRQD_UNHANDLED]! > 99_900) {
    printk(KERN_ERR + `irq ${irq}: nobody cared (try booting with the "irqpoll" option)`);
    printk(KERN_ERR + dump_context());
    printk(KERN_ERR + 'Call Trace:');
    for (const l of call_trace(undefined, 6)) printk(KERN_ERR + l);
    printk(KERN_ERR + 'handlers:');
    for (let k = 0; k < IRQ_ACTIONS; k++) {
      const id = Atomics.load(i32, d + IRQD_ACTION_FN + k);
      if (id === 0) continue;
      const t = Atomics.load(i32, d + IRQD_ACTION_THREAD_FN + k);
      printk(KERN_ERR + `[<${hex8(id - 1)}>] ${fn_name(id - 1)}` + (t ? ` threaded [<${hex8(t - 1)}>] ${fn_name(t - 1)}` : ''));
    }
    pr_emerg(`Disabling IRQ #${irq}`);
    desc_lock(d);
    i32[d + IRQD_SPURIOUS_DISABLED] = 1;
    Atomics.add(i32, d + IRQD_DEPTH, 1);
    desc_unlock(d);
  }
  i32[d + IRQD_UNHANDLED] = 0;
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

/**
 * irq_action_dev - the dev_id this CPU passes to action `k` of `irq` (its own
 * object, or the value of a string/number cookie).
 * @param irq - the line.
 * @param k - the action slot.
 * Context: any, on this CPU. Does not sleep.
 * @returns the dev_id.
 */
export function irq_action_dev(irq: number, k: number): unknown {
  const key = irq * IRQ_ACTIONS + k;
  return localDev.has(key) ? localDev.get(key) : cookie_value(i32[mem.irq(irq, IRQD_ACTION_DEV + k)]!);
}

// ------------------------------------------------------------ threaded handlers (the descriptor side)

/** The default primary handler of a threaded request with handler == NULL. */
function irq_default_primary_handler(_irq: number, _dev: unknown): irqreturn_t {
  return IRQ_WAKE_THREAD;
}
let defaultPrimaryId = -1;

/**
 * irq_thread_take - the thread of action `k` of `irq` is about to run its
 * thread_fn: take IRQTF_RUNTHREAD (test_and_clear_bit).
 * @param irq - the line.
 * @param k - the action slot.
 * Context: the irq/N-name thread. Does not sleep.
 * @returns whether it was set (the thread has work), and whether the thread must stop.
 */
export function irq_thread_take(irq: number, k: number): { run: boolean; stop: boolean } {
  const tf = mem.irq(irq, IRQD_ACTION_TFLAGS + k);
  const run = (Atomics.and(i32, tf, ~IRQTF_RUNTHREAD) & IRQTF_RUNTHREAD) !== 0;
  return { run, stop: (Atomics.load(i32, tf) & IRQTF_STOP) !== 0 };
}

/**
 * irq_thread_fns - the functions the thread of action `k` runs: thread_fn
 * (after forced threading, the original primary handler) and, for a forced
 * request that had both, the original thread_fn.
 * @param irq - the line.
 * @param k - the action slot.
 * Context: the irq/N-name thread. Does not sleep.
 * @returns the functions (null when this CPU does not know one), and whether the thread is forced.
 */
export function irq_thread_fns(irq: number, k: number): { fn: IrqThreadFn | null; secondary: IrqThreadFn | null; forced: boolean } {
  const d = mem.irq(irq);
  const t = i32[d + IRQD_ACTION_THREAD_FN + k]!;
  const s2 = i32[d + IRQD_ACTION_SECONDARY_FN + k]!;
  return {
    fn: t ? ((fn_by_id(t - 1) as IrqThreadFn | undefined) ?? null) : null,
    secondary: s2 ? ((fn_by_id(s2 - 1) as IrqThreadFn | undefined) ?? null) : null,
    forced: (Atomics.load(i32, d + IRQD_ACTION_TFLAGS + k) & IRQTF_FORCED_THREAD) !== 0,
  };
}

/**
 * irq_thread_handled - count one IRQ_HANDLED of a thread (desc->threads_handled).
 * @param irq - the line.
 * Context: the irq/N-name thread. Does not sleep.
 */
export function irq_thread_handled(irq: number): void {
  Atomics.add(i32, mem.irq(irq, IRQD_THREADS_HANDLED), 1);
}

/**
 * irq_finalize_oneshot - a oneshot thread of `irq` is done: clear its bit of
 * threads_oneshot and, when none is left and the line is not disabled,
 * unmask it, replaying a raise that came while it was masked. Waits (spins)
 * while the hardirq runs on another CPU, as the kernel does.
 * @param irq - the line.
 * @param k - the action slot.
 * Context: the irq/N-name thread. Does not sleep.
 */
export function irq_finalize_oneshot(irq: number, k: number): void {
  const d = mem.irq(irq);
  if (!(i32[d + IRQD_ACTION_FLAGS + k]! & IRQF_ONESHOT)) return;
  for (;;) {
    desc_lock(d);
    if (Atomics.load(i32, d + IRQD_INPROGRESS) === 0) break;
    desc_unlock(d);
    cpu_relax();
  }
  let replay = false;
  // Woken again meanwhile: the bit stays, the next run finalizes.
  if (!(Atomics.load(i32, d + IRQD_ACTION_TFLAGS + k) & IRQTF_RUNTHREAD)) {
    const left = Atomics.and(i32, d + IRQD_THREADS_ONESHOT, ~(1 << k)) & ~(1 << k);
    if (left === 0 && Atomics.load(i32, d + IRQD_DEPTH) === 0 && Atomics.load(i32, d + IRQD_MASKED) !== 0) {
      Atomics.store(i32, d + IRQD_MASKED, 0); // unmask_threaded_irq
      replay = Atomics.exchange(i32, d + IRQD_PENDING, 0) !== 0;
    }
  }
  desc_unlock(d);
  if (replay) irqSetPendingOn(mem, irq_pick_target(mem, irq), irq);
}

/**
 * irq_thread_done - a thread of `irq` finished one run: drop threads_active.
 * @param irq - the line.
 * Context: the irq/N-name thread. Does not sleep.
 * @returns true when it was the last active one (wake the synchronize_irq waiters).
 */
export function irq_thread_done(irq: number): boolean {
  return Atomics.sub(i32, mem.irq(irq, IRQD_THREADS_ACTIVE), 1) === 1;
}

/**
 * irq_thread_exited - the thread of action `k` of `irq` exited: its slot may be reused.
 * @param irq - the line.
 * @param k - the action slot.
 * Context: the irq/N-name thread, as it exits. Does not sleep.
 */
export function irq_thread_exited(irq: number, k: number): void {
  const d = mem.irq(irq);
  Atomics.store(i32, d + IRQD_ACTION_TFLAGS + k, 0);
  Atomics.store(i32, d + IRQD_ACTION_PID + k, 0);
  localDev.delete(irq * IRQ_ACTIONS + k);
}

/**
 * irq_threads_active - desc->threads_active of `irq`.
 * @param m - the machine's memory.
 * @param irq - the line.
 * Context: any thread. Does not sleep.
 * @returns how many threads of the line were woken and are not done.
 */
export function irq_threads_active(m: Mem, irq: number): number {
  return Atomics.load(m.i32, m.irq(irq, IRQD_THREADS_ACTIVE));
}

/**
 * irq_action_pid - the pid of the irq/N-name thread of action `k` of `irq`.
 * @param m - the machine's memory.
 * @param irq - the line.
 * @param k - the action slot.
 * Context: any thread. Does not sleep.
 * @returns the pid, 0 when the action has no thread (or it exited).
 */
export function irq_action_pid(m: Mem, irq: number, k: number): number {
  return Atomics.load(m.i32, m.irq(irq, IRQD_ACTION_PID + k));
}

// ------------------------------------------------------------ setup and teardown (the descriptor side)

/** What __setup_irq needs from the layer that owns tasks: create the thread, stopped. */
export type IrqThreadCreate = (irq: number, k: number, comm: string) => { pid: number; cpu: number };

/**
 * __setup_irq - install an action on `irq` (request_threaded_irq's body): the
 * default primary handler for a NULL `handler`, forced threading under boot
 * option threadirqs, the IRQF_ONESHOT rule, sharing, and the thread, which
 * `create` makes (the CPU that installs the action owns it).
 * @param irq - the line.
 * @param handler - the primary handler, or null (the default one: wake the thread).
 * @param thread_fn - the threaded handler, or null.
 * @param flags - IRQF_*.
 * @param name - the name /proc/interrupts and the thread show.
 * @param dev - the dev_id cookie.
 * @param create - creates the irq/N-name thread.
 * Context: process context or module load. Does not sleep.
 * @returns 0, -EINVAL (bad line or handlers, or a thread with no primary handler and no IRQF_ONESHOT), -EBUSY.
 */
export function __setup_irq(
  irq: number,
  handler: IrqHandler | null,
  thread_fn: IrqThreadFn | null,
  flags: number,
  name: string,
  dev: unknown,
  create: IrqThreadCreate,
): number {
  preempt_point();
  const rangeError = irqRangeError(mem, irq, 'request_irq');
  if (rangeError !== null) {
    pr_err(rangeError);
    return -EINVAL;
  }
  if (handler !== null && typeof handler !== 'function') return -EINVAL;
  if (thread_fn !== null && typeof thread_fn !== 'function') return -EINVAL;
  if (handler === null) {
    if (thread_fn === null) return -EINVAL;
    handler = irq_default_primary_handler;
  }
  if (flags & IRQF_SHARED && (dev === null || dev === undefined)) return -EINVAL;
  let tflags = 0;
  let secondary: IrqThreadFn | null = null;
  // irq_setup_forced_threading
  if (i32[H_THREADIRQS] === 1 && !(flags & (IRQF_NO_THREAD | IRQF_PERCPU | IRQF_ONESHOT)) && handler !== irq_default_primary_handler) {
    flags |= IRQF_ONESHOT;
    secondary = thread_fn;
    tflags = IRQTF_FORCED_THREAD;
    thread_fn = handler;
    handler = irq_default_primary_handler;
  }
  if (!(flags & IRQF_ONESHOT) && handler === irq_default_primary_handler) {
    pr_err(`genirq: Threaded irq requested with handler=NULL and !ONESHOT for ${name} (irq ${irq})`);
    return -EINVAL;
  }
  const id = (handler === irq_default_primary_handler ? defaultPrimaryId : fn_id(handler, `irq${irq}:${name}`)) + 1;
  const tid = thread_fn ? fn_id(thread_fn as (...a: never[]) => unknown, `irq${irq}:${name}:thread`) + 1 : 0;
  const sid = secondary ? fn_id(secondary as (...a: never[]) => unknown, `irq${irq}:${name}:thread`) + 1 : 0;
  const nameId = intern(name);
  const cookie = dev_cookie(dev, irq, name);
  const d = mem.irq(irq);
  desc_lock(d);
  try {
    const n = i32[d + IRQD_NR_ACTIONS]!;
    for (let k = 0; k < IRQ_ACTIONS; k++) {
      if (
        i32[d + IRQD_ACTION_FN + k] === id &&
        i32[d + IRQD_ACTION_THREAD_FN + k] === tid &&
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
    if (n > 0 && (!(flags & IRQF_SHARED) || !(i32[d + IRQD_FLAGS]! & IRQF_SHARED) || (i32[d + IRQD_FLAGS]! ^ flags) & IRQF_ONESHOT)) {
      pr_err(
        `genirq: Flags mismatch irq ${irq}. ${hex8(flags)} (${name}) vs. ${hex8(i32[d + IRQD_FLAGS]!)} (${name_of(mem, i32[d + IRQD_ACTION_NAME]!)})`,
      );
      return -EBUSY;
    }
    // a slot whose thread still exits (free_irq) is not free yet
    const k = [0, 1, 2, 3].find((s) => i32[d + IRQD_ACTION_FN + s] === 0 && Atomics.load(i32, d + IRQD_ACTION_PID + s) === 0);
    if (k === undefined) return -EBUSY;
    if (n === 0) {
      i32[d + IRQD_FLAGS] = flags;
      Atomics.store(i32, d + IRQD_DEPTH, flags & IRQF_NO_AUTOEN ? 1 : 0);
      Atomics.store(i32, d + IRQD_PENDING, 0);
      Atomics.store(i32, d + IRQD_MASKED, 0);
      Atomics.store(i32, d + IRQD_THREADS_ONESHOT, 0);
      i32[d + IRQD_SPURIOUS_DISABLED] = 0;
      i32[d + IRQD_UNHANDLED] = 0;
      i32[d + IRQD_IRQ_COUNT] = 0;
      i32[d + IRQD_THREADS_HANDLED_LAST] = 0;
    }
    i32[d + IRQD_ACTION_NAME + k] = nameId;
    i32[d + IRQD_ACTION_DEV + k] = Math.max(cookie, 0);
    i32[d + IRQD_ACTION_FLAGS + k] = flags;
    i32[d + IRQD_ACTION_THREAD_FN + k] = tid;
    i32[d + IRQD_ACTION_SECONDARY_FN + k] = sid;
    Atomics.store(i32, d + IRQD_ACTION_TFLAGS + k, tflags);
    Atomics.store(i32, d + IRQD_ACTION_COUNT + k, 0);
    if (typeof dev === 'object' || typeof dev === 'function') localDev.set(irq * IRQ_ACTIONS + k, dev);
    if (tid !== 0) {
      // setup_irq_thread: irq/N-name (the comm is cut to the kernel's 15 characters)
      const t = create(irq, k, `irq/${irq}-${name}`.slice(0, 15));
      i32[d + IRQD_ACTION_CPU + k] = t.cpu;
      Atomics.store(i32, d + IRQD_ACTION_PID + k, t.pid);
    }
    Atomics.store(i32, d + IRQD_ACTION_FN + k, id);
    i32[d + IRQD_NR_ACTIONS] = n + 1;
    return 0;
  } finally {
    desc_unlock(d);
  }
}

/**
 * __free_irq - take the action installed with cookie `dev` off `irq` and wait
 * for the line's hardirq handlers (synchronize_hardirq); its thread, if any,
 * is asked to stop (IRQTF_STOP) and left for the caller to wait on.
 * @param irq - the line.
 * @param dev - the dev_id the action was requested with.
 * Context: process context; never from the line's own handler.
 * @returns the name, the slot and the thread's pid and CPU (pid 0: none), or null if none matched.
 */
export function __free_irq(irq: number, dev: unknown): { name: string; k: number; pid: number; cpu: number } | null {
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
  synchronize_hardirq(irq);
  const pid = Atomics.load(i32, d + IRQD_ACTION_PID + slot);
  if (pid !== 0) Atomics.or(i32, d + IRQD_ACTION_TFLAGS + slot, IRQTF_STOP);
  else localDev.delete(irq * IRQ_ACTIONS + slot);
  return { name: name_of(mem, i32[d + IRQD_ACTION_NAME + slot]!), k: slot, pid, cpu: i32[d + IRQD_ACTION_CPU + slot]! };
}

/**
 * synchronize_hardirq - wait until no hardirq handler of `irq` runs on any CPU
 * (the threads are not waited for: synchronize_irq does that).
 * @param irq - the line.
 * Context: any context that is not that line's handler. Spins, does not sleep.
 * @returns false if a threaded handler of the line is active, true otherwise.
 */
export function synchronize_hardirq(irq: number): boolean {
  check_irq(irq, 'synchronize_hardirq');
  const d = mem.irq(irq);
  const t0 = clock_now();
  let spins = 0;
  while (Atomics.load(i32, d + IRQD_INPROGRESS) !== 0) {
    if (i32[PCB + PC_IRQ_CURRENT] === irq + 1) {
      WARN(true, `synchronize_irq(${irq}) from its own handler would wait forever`);
      return Atomics.load(i32, d + IRQD_THREADS_ACTIVE) === 0;
    }
    cpu_relax();
    if ((++spins & 1023) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      printk(KERN_EMERG + `BUG: synchronize_irq(${irq}) waited ${spin_lockup_ms()} ms for a running handler on CPU#${cpuId}`);
      printk(KERN_EMERG + dump_context());
      oops_end(`synchronize_irq(${irq}) lockup`);
    }
    if (machine_panicked()) throw new KernelHalt('machine stopped');
  }
  return Atomics.load(i32, d + IRQD_THREADS_ACTIVE) === 0;
}

/**
 * disable_irq_nosync - disable `irq` (nests) without waiting for running handlers or threads.
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
 * disable_hardirq - disable `irq` (nests) and wait for its running hardirq handlers only.
 * Context: any context that is not the line's handler. Spins, does not sleep.
 * @returns false if a threaded handler of the line is still active.
 */
export function disable_hardirq(irq: number): boolean {
  disable_irq_nosync(irq);
  return synchronize_hardirq(irq);
}

/**
 * enable_irq - undo one disable_irq(); at depth 0 the line is unmasked (unless a
 * oneshot thread is still running) and a raise that arrived meanwhile is replayed.
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
    if (depth === 1) {
      i32[d + IRQD_SPURIOUS_DISABLED] = 0;
      if (Atomics.load(i32, d + IRQD_THREADS_ONESHOT) === 0) Atomics.store(i32, d + IRQD_MASKED, 0);
      if (Atomics.load(i32, d + IRQD_MASKED) === 0) replay = Atomics.exchange(i32, d + IRQD_PENDING, 0) !== 0;
    }
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
  defaultPrimaryId = registerFunction('irq_default_primary_handler', irq_default_primary_handler);
}
