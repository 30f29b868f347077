/**
 * wait.ts — wait queues: sleeping until a condition holds, across CPUs.
 *
 * Follows include/linux/wait.h (wait_event and its variants, wake_up,
 * wake_up_all) and kernel/sched/wait.c (prepare_to_wait_event, finish_wait,
 * __wake_up_common, autoremove_wake_function). A wait_queue_head lives in
 * the machine's table of wait objects; the wait_queue_entry of a sleeping
 * task lives in shared memory too, one per task-table slot, so that a
 * wake_up on CPU 0 finds a waiter that sleeps on CPU 1 and wakes it by pid
 * (through CPU 1's wake ring and a rescheduling IPI, sched.ts).
 *
 * The head's lock is a raw spinlock word held with local interrupts off;
 * completion.ts, mutex.ts and workqueue.ts build on the same helpers.
 *
 * Differs from Linux:
 * - a task is queued on at most one wait queue at a time (no poll tables):
 *   its single entry is its task slot's.
 * - there are no signals: the _interruptible and _killable variants never
 *   return -ERESTARTSYS; they sleep in TASK_INTERRUPTIBLE (ps shows S).
 * - every wake-up wakes the task whatever its sleep state:
 *   wake_up_interruptible is wake_up.
 * - called where sleeping is not allowed (hardirq, softirq, a spinlock held,
 *   BH or interrupts disabled), the sleeping variants report "BUG: sleeping
 *   function called from invalid context" and return at once, without
 *   sleeping, whether or not the condition holds.
 */
import { clock_now } from './clock.js';
import {
  H_STATE,
  MACHINE_RUNNING,
  PC_IRQS_DISABLED,
  WO_LOCK,
  WO_HEAD,
  WO_TAIL,
  WO_NR,
  WO_KIND,
  WO_NAME,
  WO_VAL,
  WO_OWNER_CPU,
  WO_CONTENDED,
  WO_KIND_WAITQ,
  WAITOBJ_RESERVED,
  WQG_WAITOBJ_USED,
  WT_NEXT,
  WT_PREV,
  WT_QUEUE,
  WT_FLAGS,
  WT_PID,
  WT_CPU,
} from './layout.js';
import { mem, i32, cpuId, PCB } from './smp.js';
import { preempt_point } from './entry.js';
import { registry_resolve, NAME_KIND_OBJECT, KdeferError } from './module.js';
import { BUG, KernelHalt, machine_panicked } from './printk.js';
import { spin_lockup_ms } from './spinlock.js';
import {
  type TaskStruct,
  current,
  schedule,
  schedule_timeout,
  set_current_state,
  might_sleep,
  wakeUpPid,
  TASK_RUNNING,
  TASK_UNINTERRUPTIBLE,
  TASK_INTERRUPTIBLE,
  MAX_SCHEDULE_TIMEOUT,
} from './sched.js';

/** wait_queue_entry flags. */
export const WQ_FLAG_EXCLUSIVE = 0x01;
export const WQ_FLAG_WOKEN = 0x02;
/** complete_all()'s "done" (UINT_MAX in the kernel; a 31-bit word here). */
export const COMPLETION_ALL = 0x7fffffff;

// ------------------------------------------------------------ the raw lock of a wait object (and a pool)

/**
 * Take the raw spinlock word `w` with local interrupts off (raw_spin_lock_irqsave).
 * @returns the interrupt state to hand back to raw_word_unlock_irqrestore.
 * Context: any; never held across a sleep.
 */
export function raw_word_lock_irqsave(w: number, what: string): number {
  const flags = i32[PCB + PC_IRQS_DISABLED]!;
  i32[PCB + PC_IRQS_DISABLED] = 1;
  if (Atomics.compareExchange(i32, w, 0, cpuId + 1) !== 0) raw_word_lock_slow(w, what);
  return flags;
}

/**
 * raw_word_unlock_irqrestore - release raw lock word `w` and restore the interrupt
 * state saved by raw_word_lock_irqsave.
 * @param w - the lock word.
 * @param flags - what raw_word_lock_irqsave returned.
 * Context: the holder of `w`. Does not sleep.
 */
export function raw_word_unlock_irqrestore(w: number, flags: number): void {
  Atomics.store(i32, w, 0);
  i32[PCB + PC_IRQS_DISABLED] = flags;
}

function raw_word_lock_slow(w: number, what: string): void {
  const me = cpuId + 1;
  if (Atomics.load(i32, w) === me) {
    BUG(`spinlock recursion on CPU#${cpuId}: ${what}`);
  }
  let spins = 0;
  let t0 = 0;
  for (;;) {
    while (Atomics.load(i32, w) !== 0) {
      // Interrupts are off here, but remote wake-ups must still drain (a
      // holder may be waiting for room in this CPU's wake ring) and a
      // stopped machine must unwind us: a preemption point does both.
      if ((++spins & 63) === 0) preempt_point();
      if ((spins & 1023) === 0) {
        // Never spin on a machine that stopped, nor past the lockup bound.
        if (Atomics.load(i32, H_STATE) !== MACHINE_RUNNING) {
          throw new KernelHalt(machine_panicked() ? 'machine panicked' : 'machine shut down');
        }
        if (t0 === 0) t0 = clock_now();
        else if (clock_now() - t0 > spin_lockup_ms()) {
          BUG(`spinlock lockup suspected on CPU#${cpuId}: ${what}, held by CPU#${Atomics.load(i32, w) - 1}`);
        }
      }
    }
    if (Atomics.compareExchange(i32, w, 0, me) === 0) return;
  }
}

// ------------------------------------------------------------ wait objects

/**
 * wait_object_alloc_locked - allocate a wait object (a wait queue, completion or mutex).
 * @param kind - its WO_KIND_*.
 * @param nameId - its interned name.
 * @param what - names the object in the table-full error.
 * Context: under the registry lock (inside a registry_resolve create); a KdeferError
 * when the table is full (boot option maxWaitObjects). Does not sleep.
 * @returns the object's id.
 */
export function wait_object_alloc_locked(kind: number, nameId: number, what: string): number {
  const a = mem.i32;
  const used = a[mem.wqGlobal(WQG_WAITOBJ_USED)]!;
  const id = Math.max(used, WAITOBJ_RESERVED);
  if (id >= mem.g.maxWaitObjects) {
    throw new KdeferError(
      `wait object table full: ${what} needs one, maxWaitObjects=${mem.g.maxWaitObjects} are in use (boot option maxWaitObjects)`,
    );
  }
  a[mem.wqGlobal(WQG_WAITOBJ_USED)] = id + 1;
  wait_object_reset(id, kind, nameId);
  return id;
}

function wait_object_reset(id: number, kind: number, nameId: number): void {
  const w = mem.waitObj(id);
  i32[w + WO_HEAD] = 0;
  i32[w + WO_TAIL] = 0;
  i32[w + WO_NR] = 0;
  i32[w + WO_KIND] = kind;
  i32[w + WO_NAME] = nameId;
  i32[w + WO_OWNER_CPU] = -1;
  Atomics.store(i32, w + WO_VAL, 0);
  Atomics.store(i32, w + WO_CONTENDED, 0);
  Atomics.store(i32, w + WO_LOCK, 0);
}

/**
 * wait_object_by_name - resolve `prefix + name` to a wait object of `kind`, creating it zeroed.
 * @param prefix - the kind's registry prefix ("waitq:", "completion:", "mutex:").
 * @param name - the object's name (non-empty).
 * @param kind - its WO_KIND_*.
 * Context: any; a KdeferError when the name is empty. Does not sleep.
 * @returns its id, and whether this call created it.
 */
export function wait_object_by_name(prefix: string, name: string, kind: number): { id: number; created: boolean } {
  if (typeof name !== 'string' || name.length === 0) throw new KdeferError(`${prefix}: a name is required`);
  const e = registry_resolve(
    mem,
    NAME_KIND_OBJECT,
    prefix + name,
    (nid) => ({ value: wait_object_alloc_locked(kind, nid, prefix + name), size: kind }),
    kind,
  );
  return { id: e.value, created: e.created };
}

/** A wait_queue_head_t: a queue of sleeping tasks, shared by every CPU. */
export class WaitQueueHead {
  /** word index of the object */
  readonly w: number;
  constructor(
    readonly id: number,
    readonly name: string,
  ) {
    this.w = mem.waitObj(id);
  }
}
export type wait_queue_head_t = WaitQueueHead;

/**
 * DECLARE_WAIT_QUEUE_HEAD - declare the wait queue named `name`; every CPU gets the same one.
 * Context: module load (or any: the name resolves to the same queue).
 * @returns the queue (the same slot for the same name on every CPU).
 */
export function DECLARE_WAIT_QUEUE_HEAD(name: string): WaitQueueHead {
  return new WaitQueueHead(wait_object_by_name('waitq:', name, WO_KIND_WAITQ).id, name);
}

/**
 * init_waitqueue_head - a wait queue by name (declared, empty the first
 * time), or re-initialise `wq` to empty (nobody may wait on it).
 * Context: any.
 * @returns the queue: the named one, or `wq` reset.
 */
export function init_waitqueue_head(wq: WaitQueueHead | string): WaitQueueHead {
  if (typeof wq === 'string') return DECLARE_WAIT_QUEUE_HEAD(wq);
  wait_object_reset(wq.id, WO_KIND_WAITQ, i32[wq.w + WO_NAME]!);
  return wq;
}

/**
 * wait_queue_by_id - a wait object given by id (the kernel's own queues: works, workqueue flushers).
 * @param id - the wait object.
 * @param name - its name, for reports.
 * Context: any. Does not sleep.
 * @returns a handle on it.
 */
export function wait_queue_by_id(id: number, name: string): WaitQueueHead {
  return new WaitQueueHead(id, name);
}

// ------------------------------------------------------------ the list of waiters (under the head's lock)

/**
 * __add_wait_queue_entry_tail - queue task `t` at the tail of queue `q` (word index),
 * unless it is on it already.
 * @param q - the queue's word index.
 * @param qid - the queue's id.
 * @param t - the task.
 * @param flags - WQ_FLAG_EXCLUSIVE or 0.
 * Context: the queue head's raw lock held, interrupts off. Does not sleep.
 */
export function __add_wait_queue_entry_tail(q: number, qid: number, t: TaskStruct, flags: number): void {
  const e = mem.waiter(t.slot);
  if (i32[e + WT_QUEUE] === qid + 1) {
    i32[e + WT_FLAGS] = flags;
    return;
  }
  i32[e + WT_FLAGS] = flags;
  i32[e + WT_PID] = t.pid;
  i32[e + WT_CPU] = t.cpu;
  i32[e + WT_NEXT] = 0;
  const tail = i32[q + WO_TAIL]!;
  i32[e + WT_PREV] = tail;
  if (tail === 0) i32[q + WO_HEAD] = t.slot + 1;
  else i32[mem.waiter(tail - 1, WT_NEXT)] = t.slot + 1;
  i32[q + WO_TAIL] = t.slot + 1;
  Atomics.store(i32, e + WT_QUEUE, qid + 1);
  Atomics.store(i32, q + WO_NR, i32[q + WO_NR]! + 1);
}

/**
 * __remove_wait_queue - unlink the waiter in task slot `slot` from queue `q`.
 * @param q - the queue's word index.
 * @param slot - the task's slot.
 * Context: the queue head's raw lock held, interrupts off. Does not sleep.
 */
export function __remove_wait_queue(q: number, slot: number): void {
  const e = mem.waiter(slot);
  const next = i32[e + WT_NEXT]!;
  const prev = i32[e + WT_PREV]!;
  if (prev === 0) i32[q + WO_HEAD] = next;
  else i32[mem.waiter(prev - 1, WT_NEXT)] = next;
  if (next === 0) i32[q + WO_TAIL] = prev;
  else i32[mem.waiter(next - 1, WT_PREV)] = prev;
  i32[e + WT_NEXT] = 0;
  i32[e + WT_PREV] = 0;
  Atomics.store(i32, e + WT_QUEUE, 0);
  Atomics.store(i32, q + WO_NR, i32[q + WO_NR]! - 1);
}

/**
 * __wake_up_common - wake the waiters of `q` from the head: every
 * non-exclusive one, and up to `nr_exclusive` exclusive ones (0: all).
 * Each woken entry leaves the queue (autoremove_wake_function).
 * @returns the number of tasks woken.
 * Context: the head's lock held.
 */
export function __wake_up_common(q: number, nr_exclusive: number): number {
  let slot = i32[q + WO_HEAD]!;
  let woken = 0;
  while (slot !== 0) {
    const e = mem.waiter(slot - 1);
    const next = i32[e + WT_NEXT]!;
    const flags = i32[e + WT_FLAGS]!;
    const pid = i32[e + WT_PID]!;
    const cpu = i32[e + WT_CPU]!;
    i32[e + WT_FLAGS] = flags | WQ_FLAG_WOKEN;
    __remove_wait_queue(q, slot - 1);
    wakeUpPid(pid, cpu);
    woken++;
    if ((flags & WQ_FLAG_EXCLUSIVE) !== 0 && --nr_exclusive === 0) break;
    slot = next;
  }
  return woken;
}

/**
 * __finish_wait_id - set `t` running and take it off queue `qid` if a waker has not
 * already (finish_wait's careful check: a lockless look, then under the lock).
 * @param qid - the queue's id.
 * @param t - the current task.
 * Context: process context, the current task. Does not sleep.
 */
export function __finish_wait_id(qid: number, t: TaskStruct): void {
  set_current_state(TASK_RUNNING);
  const e = mem.waiter(t.slot);
  if (Atomics.load(i32, e + WT_QUEUE) !== qid + 1) return;
  const q = mem.waitObj(qid);
  const f = raw_word_lock_irqsave(q + WO_LOCK, 'wait queue');
  if (i32[e + WT_QUEUE] === qid + 1) __remove_wait_queue(q, t.slot);
  raw_word_unlock_irqrestore(q + WO_LOCK, f);
}

// ------------------------------------------------------------ waiting

/**
 * prepare_to_wait_event - queue the current task on `wq` (if it is not
 * already) and set its state, before it checks its condition.
 * Context: process context.
 */
export function prepare_to_wait_event(wq: WaitQueueHead, state: number, exclusive = false): void {
  const t = current;
  if (t === null) throw new KdeferError('prepare_to_wait_event: not called from a task');
  const f = raw_word_lock_irqsave(wq.w + WO_LOCK, wq.name);
  __add_wait_queue_entry_tail(wq.w, wq.id, t, exclusive ? WQ_FLAG_EXCLUSIVE : 0);
  set_current_state(state);
  raw_word_unlock_irqrestore(wq.w + WO_LOCK, f);
}

/**
 * prepare_to_wait - as prepare_to_wait_event, as a non-exclusive waiter.
 * @param wq - the queue.
 * @param state - TASK_INTERRUPTIBLE or TASK_UNINTERRUPTIBLE.
 * Context: process context (a task); a KdeferError outside a task. Does not sleep.
 */
export const prepare_to_wait = (wq: WaitQueueHead, state: number): void => {
  prepare_to_wait_event(wq, state, false);
};
/**
 * prepare_to_wait_exclusive - queue as an exclusive waiter (wake_up wakes one of those).
 * @param wq - the queue.
 * @param state - TASK_INTERRUPTIBLE or TASK_UNINTERRUPTIBLE.
 * Context: process context (a task); a KdeferError outside a task. Does not sleep.
 */
export const prepare_to_wait_exclusive = (wq: WaitQueueHead, state: number): void => {
  prepare_to_wait_event(wq, state, true);
};

/**
 * finish_wait - set the current task running and take it off `wq` if it is still queued.
 * Context: process context.
 */
export function finish_wait(wq: WaitQueueHead): void {
  const t = current;
  if (t === null) return;
  __finish_wait_id(wq.id, t);
}

/**
 * The loop of every wait_event variant: queue, set the state, check,
 * sleep, until `condition` holds or `timeout` jiffies pass.
 * @returns the jiffies left (at least 1 if the condition held), 0 on timeout.
 */
async function ___wait_event(
  wq: WaitQueueHead,
  condition: () => boolean,
  state: number,
  exclusive: boolean,
  timeout: number,
): Promise<number> {
  const forever = timeout >= MAX_SCHEDULE_TIMEOUT;
  let left = timeout;
  Atomics.add(i32, wq.w + WO_CONTENDED, 1);
  try {
    for (;;) {
      prepare_to_wait_event(wq, state, exclusive);
      if (condition()) break;
      if (forever) {
        await schedule();
      } else {
        left = await schedule_timeout(left);
        if (left === 0) break;
      }
    }
  } finally {
    finish_wait(wq);
  }
  if (forever) return MAX_SCHEDULE_TIMEOUT;
  // ___wait_cond_timeout: a condition that came true as time ran out still counts (1).
  return left === 0 ? (condition() ? 1 : 0) : left;
}

/**
 * wait_event - sleep (TASK_UNINTERRUPTIBLE) until `condition` is true.
 * The condition is checked each time the queue is woken; wake_up(wq)
 * must follow any change that can make it true.
 * Context: process context; may sleep. In atomic context it reports and
 * returns at once.
 */
export async function wait_event(wq: WaitQueueHead, condition: () => boolean): Promise<void> {
  if (!might_sleep('wait_event')) return;
  if (condition()) return;
  await ___wait_event(wq, condition, TASK_UNINTERRUPTIBLE, false, MAX_SCHEDULE_TIMEOUT);
}

/**
 * wait_event_timeout - sleep until `condition` is true or `timeout` jiffies pass.
 * @returns 0 if the condition was false when the timeout elapsed, 1 if it
 *   was true when it elapsed, else the jiffies left (at least 1).
 * Context: process context; may sleep.
 */
export async function wait_event_timeout(wq: WaitQueueHead, condition: () => boolean, timeout: number): Promise<number> {
  if (!might_sleep('wait_event_timeout')) return condition() ? Math.max(1, timeout) : 0;
  if (condition()) return Math.max(1, timeout);
  return ___wait_event(wq, condition, TASK_UNINTERRUPTIBLE, false, Math.max(0, timeout));
}

/**
 * wait_event_interruptible - sleep (TASK_INTERRUPTIBLE) until `condition` is true.
 * @returns 0 (-ERESTARTSYS when a signal interrupts the sleep: kdefer has no signals).
 * Context: process context; may sleep.
 */
export async function wait_event_interruptible(wq: WaitQueueHead, condition: () => boolean): Promise<number> {
  if (!might_sleep('wait_event_interruptible')) return 0;
  if (condition()) return 0;
  await ___wait_event(wq, condition, TASK_INTERRUPTIBLE, false, MAX_SCHEDULE_TIMEOUT);
  return 0;
}

/**
 * wait_event_interruptible_timeout - as wait_event_timeout, sleeping interruptibly.
 * @param wq - the queue.
 * @param condition - checked before each sleep and after each wake-up.
 * @param timeout - the most jiffies to wait (negative counts as 0).
 * Context: process context; may sleep.
 * @returns as wait_event_timeout (never -ERESTARTSYS).
 */
export async function wait_event_interruptible_timeout(wq: WaitQueueHead, condition: () => boolean, timeout: number): Promise<number> {
  if (!might_sleep('wait_event_interruptible_timeout')) return condition() ? Math.max(1, timeout) : 0;
  if (condition()) return Math.max(1, timeout);
  return ___wait_event(wq, condition, TASK_INTERRUPTIBLE, false, Math.max(0, timeout));
}

/** wait_event_killable - as wait_event_interruptible; returns 0. */
export const wait_event_killable = wait_event_interruptible;

/**
 * wait_event_interruptible_exclusive - sleep as an EXCLUSIVE waiter:
 * wake_up() wakes one exclusive waiter, not all of them.
 * @param wq - the queue.
 * @param condition - checked before each sleep and after each wake-up.
 * Context: process context; may sleep.
 * @returns 0.
 */
export async function wait_event_interruptible_exclusive(wq: WaitQueueHead, condition: () => boolean): Promise<number> {
  if (!might_sleep('wait_event_interruptible_exclusive')) return 0;
  if (condition()) return 0;
  await ___wait_event(wq, condition, TASK_INTERRUPTIBLE, true, MAX_SCHEDULE_TIMEOUT);
  return 0;
}

// ------------------------------------------------------------ waking

/**
 * __wake_up - wake non-exclusive waiters and `nr_exclusive` exclusive ones (0: all).
 * @param wq - the queue.
 * @param nr_exclusive - how many exclusive waiters to wake (0: all).
 * Context: any, hardirq included; takes the head's raw lock with interrupts off. Does not sleep.
 * @returns the number of tasks woken.
 */
export function __wake_up(wq: WaitQueueHead, nr_exclusive: number): number {
  preempt_point();
  if (Atomics.load(i32, wq.w + WO_NR) === 0) return 0;
  const f = raw_word_lock_irqsave(wq.w + WO_LOCK, wq.name);
  const n = __wake_up_common(wq.w, nr_exclusive);
  raw_word_unlock_irqrestore(wq.w + WO_LOCK, f);
  return n;
}

/**
 * wake_up - wake the tasks sleeping on `wq` (all non-exclusive waiters and
 * one exclusive waiter), on whatever CPU they sleep.
 * Context: any, hardirq included.
 */
export function wake_up(wq: WaitQueueHead): void {
  __wake_up(wq, 1);
}
/**
 * wake_up_all - wake every task sleeping on `wq`.
 * @param wq - the queue.
 * Context: any, hardirq included. Does not sleep.
 */
export function wake_up_all(wq: WaitQueueHead): void {
  __wake_up(wq, 0);
}
/**
 * wake_up_nr - wake the non-exclusive waiters and up to `nr` exclusive ones.
 * @param wq - the queue.
 * @param nr - how many exclusive waiters (0: all).
 * Context: any, hardirq included. Does not sleep.
 */
export function wake_up_nr(wq: WaitQueueHead, nr: number): void {
  __wake_up(wq, nr);
}
/** wake_up_interruptible - as wake_up (kdefer wakes any sleeper). */
export const wake_up_interruptible = wake_up;
/** wake_up_interruptible_all - as wake_up_all. */
export const wake_up_interruptible_all = wake_up_all;

/**
 * waitqueue_active - whether anyone waits on `wq` (lockless; the caller
 * orders it against its condition update, as the kernel's callers must).
 * Context: any.
 * @returns true if a task is queued (a snapshot).
 */
export function waitqueue_active(wq: WaitQueueHead): boolean {
  return Atomics.load(i32, wq.w + WO_NR) !== 0;
}

/**
 * wait_queue_waiters - host side: the waiters queued on wait object `id`, as (pid, cpu).
 * @param id - the wait object.
 * Context: host or diagnostics; walks the list without its lock (a snapshot that may tear). Does not sleep.
 * @returns the waiters, head first.
 */
export function wait_queue_waiters(id: number): { pid: number; cpu: number }[] {
  const q = mem.waitObj(id);
  const out: { pid: number; cpu: number }[] = [];
  for (let s = i32[q + WO_HEAD]!; s !== 0; s = i32[mem.waiter(s - 1, WT_NEXT)]!) {
    out.push({ pid: i32[mem.waiter(s - 1, WT_PID)]!, cpu: i32[mem.waiter(s - 1, WT_CPU)]! });
  }
  return out;
}
