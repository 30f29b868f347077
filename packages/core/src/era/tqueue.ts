/**
 * era/tqueue.ts — task queues (include/linux/tqueue.h, kernel/softirq.c),
 * eras '2.2' and '2.4'.
 *
 * A `struct tq_struct` is a routine, its data and a `sync` bit; a task queue
 * is a list of them. queue_task sets `sync` with test-and-set and links the
 * task only if the bit was clear, under the one machine-wide `tqueue_lock`;
 * run_task_queue detaches the whole list under the lock, then for each task
 * reads routine and data, clears `sync` and calls the routine — which may
 * queue itself again, for the next run (H-TQ-2). 2.2 pushed at the head (the
 * header: tasks are "called in the reverse order"); 2.4 appends (FIFO).
 *
 * Who runs which queue (H-TQ-3): tq_timer by TQUEUE_BH, which do_timer marks
 * on every tick while tq_timer is not empty; tq_immediate by IMMEDIATE_BH,
 * which NOBODY marks for you (H-TQ-4: queue the task and forget
 * mark_bh(IMMEDIATE_BH), and it runs only when some unrelated code marks it
 * — and every queue_task of it until then is swallowed, `sync` still set);
 * tq_scheduler (2.2 only) by schedule(); tq_disk by whoever calls
 * run_task_queue(&tq_disk). era/boot.ts installs TQUEUE_BH and IMMEDIATE_BH.
 *
 * Sources: shared/history.md H-TQ-1..4 (2.2.1 not in kdefer's source index;
 * 2.4.0 interrupt.h checked there).
 *
 * Differs from Linux:
 * - a tq_struct is declared by name at module load (defineTqStruct), on
 *   every CPU, so that a task queued on one CPU can run on another: the
 *   list links live in shared memory, the routine in each CPU's copy.
 * - queue_task returns 1 / 0 in 2.2 too (2.2's returned nothing).
 */
import { KdeferError, loading, shared_int32 } from '../module.js';
import { DEFINE_SPINLOCK, spin_lock_irqsave, spin_unlock_irqrestore, type SpinlockT } from '../spinlock.js';

// Each tq_struct's words (shared array 'tq:<name>').
const TQ_SYNC = 0; //      A  the sync bit: set while queued
const TQ_NEXT = 1; //      L(tqueue_lock) next task's slot + 1, 0 = end
const TQ_SLOT = 2; //      A  this task's slot + 1 (assigned once)
const TQ_QUEUED = 3; //    A  queue_task calls that queued it
const TQ_SWALLOWED = 4; // A  queue_task calls that found it still queued (returned 0)
const TQ_RUNS = 5; //      A  times its routine ran
const TQ_WORDS = 8;

// The queues' heads (shared array 'era.tq_heads'): head, tail (slot + 1) per queue.
const MAX_QUEUES = 32;
const QH_USED = 0; //      A  queue heads handed out (beyond the built-in ones)
const QH_SLOTS_USED = 1; // A  tq_struct slots handed out
const QH_BASE = 2;

export type TqRoutine = (data: unknown) => void;

/** struct tq_struct: a routine, its data, the sync bit. */
export class TqStruct {
  constructor(
    readonly name: string,
    /** this CPU's copy of the routine */
    readonly routine: TqRoutine,
    readonly data: unknown,
    /** @internal the shared words */
    readonly w: Int32Array,
    readonly slot: number,
  ) {}
  /** Whether it is queued (its sync bit). */
  get sync(): number {
    return Atomics.load(this.w, TQ_SYNC);
  }
  /** queue_task calls that queued it. */
  get queued(): number {
    return Atomics.load(this.w, TQ_QUEUED);
  }
  /** queue_task calls swallowed because it was still queued. */
  get swallowed(): number {
    return Atomics.load(this.w, TQ_SWALLOWED);
  }
  /** Times its routine ran. */
  get runs(): number {
    return Atomics.load(this.w, TQ_RUNS);
  }
}

/** A task queue (2.2: `task_queue`, a list head; 2.4: a `struct list_head`). */
export class TaskQueue {
  constructor(
    readonly name: string,
    /** @internal index of its head in the heads array */
    readonly idx: number,
    /** @internal the eras that have it ('tq_scheduler' is 2.2's only) */
    readonly eras: readonly string[],
  ) {}
}

/** The built-in queues (H-TQ-1). */
export const tq_timer = new TaskQueue('tq_timer', 0, ['2.2', '2.4']);
export const tq_immediate = new TaskQueue('tq_immediate', 1, ['2.2', '2.4']);
export const tq_disk = new TaskQueue('tq_disk', 2, ['2.2', '2.4']);
export const tq_scheduler = new TaskQueue('tq_scheduler', 3, ['2.2']);
const BUILTIN_QUEUES = 4;

let heads: Int32Array = new Int32Array(QH_BASE + 2 * MAX_QUEUES);
let tqueue_lock: SpinlockT | null = null;
let lifo = true; // 2.2 pushes at the head; 2.4 appends
let era = '6.x';
const by_slot: (TqStruct | undefined)[] = [];

function check_queue(q: TaskQueue, who: string): void {
  if (!(q instanceof TaskQueue)) throw new KdeferError(`${who}: not a task queue`);
  if (!q.eras.includes(era)) {
    throw new KdeferError(
      `${who}(${q.name}): ${q.name} exists only in era ${q.eras.map((e) => `'${e}'`).join(', ')} (2.4.0 kept tq_timer, tq_immediate and tq_disk); this machine booted as '${era}'`,
    );
  }
}

/**
 * defineTqStruct - declare a tq_struct (2.2: a static `struct tq_struct x = { NULL, 0, routine, data }`).
 * @param name - its name, the same on every CPU.
 * @param routine - called with `data` by run_task_queue, in the context of whoever runs the queue.
 * @param data - the routine's argument.
 * Context: module load (every CPU declares its copy).
 * @returns the tq_struct.
 */
export function tq22_define(name: string, routine: TqRoutine, data: unknown = null): TqStruct {
  if (typeof routine !== 'function') throw new KdeferError(`tq_struct '${name}': routine is not a function`);
  if (loading === null) throw new KdeferError(`tq_struct '${name}': declare it at module load, so that every CPU has the routine`);
  const w = shared_int32(`tq:${name}`, TQ_WORDS);
  if (Atomics.load(w, TQ_SLOT) === 0) {
    const slot = Atomics.add(heads, QH_SLOTS_USED, 1);
    if (Atomics.compareExchange(w, TQ_SLOT, 0, slot + 1) !== 0) Atomics.sub(heads, QH_SLOTS_USED, 1);
  }
  const slot = Atomics.load(w, TQ_SLOT) - 1;
  const t = new TqStruct(name, routine, data, w, slot);
  by_slot[slot] = t;
  return t;
}

/**
 * DECLARE_TASK_QUEUE - a private task queue (run it with run_task_queue).
 * @param name - its name, the same on every CPU.
 * Context: module load.
 * @returns the queue.
 */
export function tq22_declare_queue(name: string): TaskQueue {
  const w = shared_int32(`tqh:${name}`, 1);
  if (Atomics.load(w, 0) === 0) {
    const i = BUILTIN_QUEUES + Atomics.add(heads, QH_USED, 1);
    if (i >= MAX_QUEUES)
      throw new KdeferError(`DECLARE_TASK_QUEUE(${name}): no more than ${MAX_QUEUES - BUILTIN_QUEUES} private task queues`);
    if (Atomics.compareExchange(w, 0, 0, i + 1) !== 0) Atomics.sub(heads, QH_USED, 1);
  }
  return new TaskQueue(name, Atomics.load(w, 0) - 1, ['2.2', '2.4']);
}

/**
 * queue_task - put `t` on `q` unless it is already queued (somewhere).
 * @returns 1 if it was queued, 0 if it was already queued (the call is swallowed).
 * Context: any (tqueue_lock is taken irqsave).
 */
export function tq22_queue_task(t: TqStruct, q: TaskQueue): number {
  check_queue(q, 'queue_task');
  if (Atomics.compareExchange(t.w, TQ_SYNC, 0, 1) !== 0) {
    Atomics.add(t.w, TQ_SWALLOWED, 1);
    return 0;
  }
  const flags = spin_lock_irqsave(tqueue_lock!);
  const h = QH_BASE + 2 * q.idx;
  const me = t.slot + 1;
  if (lifo || heads[h] === 0) {
    t.w[TQ_NEXT] = heads[h]!;
    if (heads[h] === 0) heads[h + 1] = me;
    heads[h] = me;
  } else {
    t.w[TQ_NEXT] = 0;
    by_slot[heads[h + 1]! - 1]!.w[TQ_NEXT] = me;
    heads[h + 1] = me;
  }
  spin_unlock_irqrestore(tqueue_lock!, flags);
  Atomics.add(t.w, TQ_QUEUED, 1);
  return 1;
}

/**
 * run_task_queue - detach `q`'s tasks and run each once (clearing `sync` first,
 * so that a routine may queue its task again, for the next run).
 * Context: that of the queue's owner (a bottom half for tq_timer / tq_immediate,
 * process context for tq_disk / tq_scheduler). Returns nothing.
 */
export function tq22_run_task_queue(q: TaskQueue): void {
  check_queue(q, 'run_task_queue');
  const h = QH_BASE + 2 * q.idx;
  if (Atomics.load(heads, h) === 0) return;
  const flags = spin_lock_irqsave(tqueue_lock!);
  let next = heads[h]!;
  heads[h] = 0;
  heads[h + 1] = 0;
  spin_unlock_irqrestore(tqueue_lock!, flags);
  while (next !== 0) {
    const t = by_slot[next - 1];
    if (!t) throw new KdeferError(`run_task_queue(${q.name}): tq_struct slot ${next - 1} was not declared on this CPU`);
    next = t.w[TQ_NEXT]!;
    Atomics.store(t.w, TQ_SYNC, 0);
    Atomics.add(t.w, TQ_RUNS, 1);
    t.routine(t.data);
  }
}

/**
 * TQ_ACTIVE - whether `q` has tasks queued (2.4's macro; 2.2 tested `*q != NULL`).
 * Context: any. Does not sleep.
 * @returns true when the queue is not empty.
 */
export function tq22_active(q: TaskQueue): boolean {
  return Atomics.load(heads, QH_BASE + 2 * q.idx) !== 0;
}

/**
 * tqueue_init_cpu - bind the queues' shared words; `fifo` for 2.4's list_add_tail.
 * @param bootedEra - the era ('2.2' or '2.4').
 * Context: CPU bring-up (era/boot.ts). Does not sleep.
 */
export function tqueue_init_cpu(bootedEra: string): void {
  era = bootedEra;
  lifo = bootedEra === '2.2';
  heads = shared_int32('era.tq_heads', QH_BASE + 2 * MAX_QUEUES);
  tqueue_lock = DEFINE_SPINLOCK('tqueue_lock');
}
