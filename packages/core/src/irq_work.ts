/**
 * irq_work.ts — struct irq_work: callbacks run in hardirq context from the
 * IRQ work self-interrupt, queueable from any context, NMI included.
 *
 * Follows kernel/irq_work.c (irq_work_claim, __irq_work_queue_local,
 * irq_work_queue, irq_work_queue_on, irq_work_single, irq_work_run_list,
 * irq_work_tick, irq_work_sync) and include/linux/irq_work.h (the flag bits
 * and IRQ_WORK_INIT*). An irq_work is a slot of the shared irq_work table
 * (layout.ts): its flags word (PENDING, BUSY, LAZY, HARD_IRQ) changed only by
 * Atomics read-modify-write, and its `next` link. Each CPU has two lock-free
 * llists in its per-CPU area, raised_list and lazy_list: any CPU pushes with
 * a compare-and-swap on the head (llist_add), only the owner takes the whole
 * list with an exchange (llist_del_all) — so queueing needs no lock and no
 * interrupt masking, which is why it is NMI-safe.
 *
 * A push that finds raised_list empty raises the self-interrupt
 * (arch_irq_work_raise): the REQ_IRQ_WORK bit, taken at the CPU's next
 * preemption point with interrupts on, counted in the IWI row of
 * /proc/interrupts. Lazy work waits for the CPU's next tick, which runs both
 * lists (irq_work_tick); a CPU with lazy work does not go NOHZ idle.
 *
 * Differs from Linux:
 * - an irq_work is named: IRQ_WORK_INIT / IRQ_WORK_INIT_LAZY /
 *   IRQ_WORK_INIT_HARD (and DEFINE_IRQ_WORK) take a name first, so every CPU
 *   resolves the same slot; init_irq_work re-initialises one. irq_works are
 *   module-declared objects; they are not embeddable in slab objects.
 * - irq_work_queue_on another CPU pushes onto that CPU's raised_list and
 *   sends it the IRQ work interrupt (IWI there); the kernel sends a
 *   function-call IPI through __smp_call_single_queue (CAL there).
 * - irq_work_sync spins (cpu_relax) as the kernel does for a hard irq_work
 *   on an architecture with the interrupt; waiting on the work from its own
 *   callback is reported and stops the machine instead of hanging.
 */
import { NMI_MASK } from './preempt_mask.js';
import { clock_now } from './clock.js';
import {
  IW_NEXT,
  IW_FLAGS,
  IW_FUNC,
  IW_NAME,
  IW_RUNS,
  IW_LAST_CPU,
  IW_SLOT,
  PC_IRQ_WORK_RAISED,
  PC_IRQ_WORK_LAZY,
  PC_IRQ_REQUEST,
  PC_IWI_COUNT,
  PC_CTX_NAME,
  REQ_IRQ_WORK,
  PC_PREEMPT_COUNT,
} from './layout.js';
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, registry_resolve, NAME_KIND_OBJECT } from './module.js';
import { printk, KERN_EMERG, WARN_ON_ONCE, dump_context, oops_end } from './printk.js';
import { irqs_disabled, in_interrupt } from './preempt.js';
import { irq_enter, irq_exit } from './softirq.js';
import { run_handler } from './oops.js';
import { SlotTable } from './slot.js';
import { registerUpcallChain } from './upcall.js';
import { spin_lockup_ms } from './spinlock.js';

/** Flag bits of an irq_work (include/linux/smp_types.h / irq_work.h). */
export const IRQ_WORK_PENDING = 1 << 0;
export const IRQ_WORK_BUSY = 1 << 1;
/** No IPI: the work runs from the next tick. */
export const IRQ_WORK_LAZY = 1 << 2;
/** Runs in hardirq context even on PREEMPT_RT (every irq_work does in kdefer). */
export const IRQ_WORK_HARD_IRQ = 1 << 3;
export const IRQ_WORK_CLAIMED = IRQ_WORK_PENDING | IRQ_WORK_BUSY;

/** A struct irq_work: a slot of the shared irq_work table. */
export class IrqWork {
  constructor(
    readonly id: number,
    readonly name: string,
  ) {}
  /** node.a_flags: IRQ_WORK_PENDING | BUSY | LAZY | HARD_IRQ. */
  get flags(): number {
    return Atomics.load(i32, mem.irqWork(this.id, IW_FLAGS));
  }
  /** Times the callback ran (kdefer statistics). */
  get runs(): number {
    return Atomics.load(i32, mem.irqWork(this.id, IW_RUNS));
  }
}
export type irq_work = IrqWork;
export type IrqWorkFunc = (work: IrqWork) => void;

const iw = (id: number, f: number): number => mem.irqWork(id, f);
const byId = new Map<number, IrqWork>();

function irq_work_by_id(id: number): IrqWork {
  let w = byId.get(id);
  if (!w) {
    w = new IrqWork(id, name_of(mem, i32[iw(id, IW_NAME)]!) || `irq_work#${id}`);
    byId.set(id, w);
  }
  return w;
}

/** The shared irq_work table's slots (slot.ts): claimed through IW_SLOT, never given back. */
const irqWorks = new SlotTable({ what: 'irq_work', size: 'maxIrqWorks', word: (m, id, f) => m.irqWork(id, f), claim: IW_SLOT, taken: 1 });
const slot_alloc = (): number => irqWorks.alloc();

function declare(name: string, func: IrqWorkFunc, flags: number): IrqWork {
  if (typeof name !== 'string' || name === '') throw new KdeferError('IRQ_WORK_INIT: the first argument must be a non-empty name');
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `irq_work:${name}`, () => ({ value: slot_alloc(), size: 0 }));
  const fid = fn_id(func as (...a: never[]) => unknown, `irq_work:${name}`);
  if (e.created) {
    i32[iw(e.value, IW_NAME)] = intern(name);
    i32[iw(e.value, IW_FUNC)] = fid + 1;
    Atomics.store(i32, iw(e.value, IW_FLAGS), flags);
  }
  return irq_work_by_id(e.value);
}

/**
 * IRQ_WORK_INIT - declare the irq_work named `name` calling `func(work)`.
 * Context: module load (every CPU resolves the name to the same irq_work).
 * @param name - the irq_work's name (non-empty).
 * @param func - its callback, run in hardirq context.
 * @returns the handle (the same slot for the same name on every CPU); a KdeferError when the table is full.
 */
export function IRQ_WORK_INIT(name: string, func: IrqWorkFunc): IrqWork {
  return declare(name, func, 0);
}
/**
 * IRQ_WORK_INIT_LAZY - as IRQ_WORK_INIT, with IRQ_WORK_LAZY: it runs from the next tick
 * (no self-IPI).
 * @param name - the irq_work's name.
 * @param func - its callback.
 * Context: module load.
 * @returns the handle.
 */
export function IRQ_WORK_INIT_LAZY(name: string, func: IrqWorkFunc): IrqWork {
  return declare(name, func, IRQ_WORK_LAZY);
}
/**
 * IRQ_WORK_INIT_HARD - as IRQ_WORK_INIT, with IRQ_WORK_HARD_IRQ: it runs in hardirq
 * context even where others would be deferred (the PREEMPT_RT flag; kdefer runs
 * every irq_work in hardirq context).
 * @param name - the irq_work's name.
 * @param func - its callback.
 * Context: module load.
 * @returns the handle.
 */
export function IRQ_WORK_INIT_HARD(name: string, func: IrqWorkFunc): IrqWork {
  return declare(name, func, IRQ_WORK_HARD_IRQ);
}
/** DEFINE_IRQ_WORK - the same as IRQ_WORK_INIT. */
export const DEFINE_IRQ_WORK = IRQ_WORK_INIT;

/**
 * init_irq_work - (re)initialise `work` to call `func`, flags cleared.
 * Context: while `work` is neither pending nor running.
 */
export function init_irq_work(work: IrqWork, func: IrqWorkFunc): void {
  check(work, 'init_irq_work');
  i32[iw(work.id, IW_FUNC)] = fn_id(func as (...a: never[]) => unknown, `irq_work:${work.name}`) + 1;
  Atomics.store(i32, iw(work.id, IW_FLAGS), 0);
}

function check(work: IrqWork, who: string): void {
  if (!(work instanceof IrqWork)) throw new KdeferError(`${who}: not a struct irq_work (declare one with IRQ_WORK_INIT)`);
}

/**
 * irq_work_is_pending - whether `work` is queued and its callback not yet started.
 * @param work - the irq_work.
 * Context: any. Does not sleep.
 * @returns true if IRQ_WORK_PENDING is set (a snapshot).
 */
export function irq_work_is_pending(work: IrqWork): boolean {
  return (work.flags & IRQ_WORK_PENDING) !== 0;
}
/**
 * irq_work_is_busy - whether `work` is queued or its callback is running.
 * @param work - the irq_work.
 * Context: any. Does not sleep.
 * @returns true if IRQ_WORK_BUSY is set (a snapshot).
 */
export function irq_work_is_busy(work: IrqWork): boolean {
  return (work.flags & IRQ_WORK_BUSY) !== 0;
}
/**
 * irq_work_is_hard - whether `work` was declared with IRQ_WORK_HARD_IRQ.
 * @param work - the irq_work.
 * Context: any. Does not sleep.
 * @returns true for IRQ_WORK_INIT_HARD's irq_works.
 */
export function irq_work_is_hard(work: IrqWork): boolean {
  return (work.flags & IRQ_WORK_HARD_IRQ) !== 0;
}

// ------------------------------------------------------------ queueing

/** Take PENDING|BUSY; false if someone else's PENDING already holds it (irq_work_claim). */
function claim(work: IrqWork): boolean {
  const old = Atomics.or(i32, iw(work.id, IW_FLAGS), IRQ_WORK_CLAIMED);
  return (old & IRQ_WORK_PENDING) === 0;
}

/** llist_add on `cpu`'s list word `f`: @returns true if the list was empty. */
function llist_add(cpu: number, f: number, id: number): boolean {
  const head = mem.cpu(cpu, f);
  for (;;) {
    const first = Atomics.load(i32, head);
    Atomics.store(i32, iw(id, IW_NEXT), first);
    if (Atomics.compareExchange(i32, head, first, id + 1) === first) return first === 0;
  }
}

function queue_local(work: IrqWork): void {
  const lazy = (work.flags & IRQ_WORK_LAZY) !== 0;
  if (lazy) {
    llist_add(cpuId, PC_IRQ_WORK_LAZY, work.id);
    return; // the next tick runs it
  }
  // The list was empty: raise the self-interrupt to start processing it.
  if (llist_add(cpuId, PC_IRQ_WORK_RAISED, work.id)) Atomics.or(i32, PCB + PC_IRQ_REQUEST, REQ_IRQ_WORK);
}

/**
 * irq_work_queue - queue `work` on this CPU; its callback runs here in
 * hardirq context: at the next preemption point with interrupts on, or, for
 * IRQ_WORK_LAZY, from the next tick. It can be queued again while its
 * callback runs.
 * @param work - the irq_work.
 * Context: any, NMI included. Does not sleep.
 * @returns true if queued; false if it was already pending.
 */
export function irq_work_queue(work: IrqWork): boolean {
  check(work, 'irq_work_queue');
  if (!claim(work)) return false;
  queue_local(work);
  preempt_point();
  return true;
}

/**
 * irq_work_queue_on - queue `work` on CPU `cpu`; it runs there in hardirq
 * context.
 * @param work - the irq_work.
 * @param cpu - the CPU to run it on.
 * Context: any but NMI for a remote CPU (the kernel warns, as here). Does not sleep.
 * @returns true if queued; false if it was already pending.
 */
export function irq_work_queue_on(work: IrqWork, cpu: number): boolean {
  check(work, 'irq_work_queue_on');
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= mem.g.cpus) {
    throw new KdeferError(`irq_work_queue_on(${work.name}): no CPU ${String(cpu)} (the machine has ${mem.g.cpus})`);
  }
  if (cpu === cpuId) return irq_work_queue(work);
  WARN_ON_ONCE(in_nmi_now(), 'irq_work_queue_on: remote queueing from NMI context');
  if (!claim(work)) return false;
  if (llist_add(cpu, PC_IRQ_WORK_RAISED, work.id)) kick_cpu(mem, cpu, REQ_IRQ_WORK);
  preempt_point();
  return true;
}

const in_nmi_now = (): boolean => (i32[PCB + PC_PREEMPT_COUNT]! & NMI_MASK) !== 0;

// ------------------------------------------------------------ running

let runningId = -1;

/** irq_work_single: clear PENDING, run the callback, then drop BUSY unless re-claimed meanwhile. */
function run_single(id: number): void {
  const work = irq_work_by_id(id);
  const flags = Atomics.and(i32, iw(id, IW_FLAGS), ~IRQ_WORK_PENDING) & ~IRQ_WORK_PENDING;
  const fid = i32[iw(id, IW_FUNC)]! - 1;
  const fn = fn_by_id(fid) as IrqWorkFunc | undefined;
  const prevRun = runningId;
  const prevCtx = i32[PCB + PC_CTX_NAME]!;
  runningId = id;
  i32[PCB + PC_CTX_NAME] = i32[iw(id, IW_NAME)]!;
  Atomics.add(i32, iw(id, IW_RUNS), 1);
  Atomics.store(i32, iw(id, IW_LAST_CPU), cpuId);
  try {
    if (fn)
      run_handler(
        () => fn(work),
        () => `irq_work ${work.name} callback ${fn_name(fid)}`,
        `irq_work ${work.name}`,
      );
  } finally {
    runningId = prevRun;
    i32[PCB + PC_CTX_NAME] = prevCtx;
  }
  // Queued again while it ran: PENDING is set and the flags differ; leave them.
  Atomics.compareExchange(i32, iw(id, IW_FLAGS), flags, flags & ~IRQ_WORK_BUSY);
}

/** irq_work_run_list: take the whole list, oldest push last in the llist — run in queueing order. */
function run_list(f: number): void {
  const first = Atomics.exchange(i32, PCB + f, 0);
  if (first === 0) return;
  const ids: number[] = [];
  for (let n = first; n !== 0; n = Atomics.load(i32, iw(n - 1, IW_NEXT))) ids.push(n - 1);
  for (let k = ids.length - 1; k >= 0; k--) run_single(ids[k]!);
}

/**
 * irq_work_interrupt - the IRQ work interrupt (sysvec_irq_work): clears the request,
 * enters hardirq, counts IWI, runs this CPU's raised list; entry.ts takes it.
 * Context: this CPU's preemption point, interrupts enabled. Does not sleep.
 */
export function irq_work_interrupt(): void {
  Atomics.and(i32, PCB + PC_IRQ_REQUEST, ~REQ_IRQ_WORK);
  irq_enter();
  i32[PCB + PC_IWI_COUNT]!++;
  run_list(PC_IRQ_WORK_RAISED);
  irq_exit();
}

/** irq_work_tick - from the local timer interrupt: the raised list (if missed) and the lazy list. */
function irq_work_tick(): void {
  run_list(PC_IRQ_WORK_RAISED);
  run_list(PC_IRQ_WORK_LAZY);
}

/**
 * irq_work_sync - wait until `work`'s callback is not running (BUSY clear).
 * Context: process context with interrupts on (the kernel's
 * lockdep_assert_irqs_enabled); never from `work`'s own callback.
 */
export function irq_work_sync(work: IrqWork): void {
  check(work, 'irq_work_sync');
  WARN_ON_ONCE(irqs_disabled(), `irq_work_sync(${work.name}) with interrupts disabled`);
  if (runningId === work.id) {
    printk(KERN_EMERG + `BUG: irq_work ${work.name} waits for itself (irq_work_sync from its own callback) on CPU#${cpuId}`);
    printk(KERN_EMERG + dump_context());
    oops_end('irq_work waits for itself', in_interrupt());
  }
  const t0 = clock_now();
  let spins = 0;
  while (Atomics.load(i32, iw(work.id, IW_FLAGS)) & IRQ_WORK_BUSY) {
    cpu_relax();
    if ((++spins & 1023) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      printk(KERN_EMERG + `BUG: irq_work_sync(${work.name}) lockup suspected on CPU#${cpuId}: busy for ${Math.round(clock_now() - t0)} ms`);
      oops_end('irq_work_sync lockup', in_interrupt());
    }
  }
}

/**
 * irq_work_init_cpu - boot: this CPU's tick runs the lazy list (and a raised list it missed).
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function irq_work_init_cpu(): void {
  runningId = -1;
  registerUpcallChain('tick', irq_work_tick);
}
