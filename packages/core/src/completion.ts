/**
 * completion.ts — completions: "this has happened", counted, across CPUs.
 *
 * Follows kernel/sched/completion.c and include/linux/completion.h: a
 * completion is a `done` counter and a queue of exclusive waiters under
 * one raw lock. complete() adds one and wakes one waiter; complete_all()
 * sets done to "infinity" and wakes everyone; wait_for_completion()
 * sleeps until done > 0 and consumes one. Both live in the machine's
 * table of wait objects (wait.ts), so the waiter and the completer may be
 * on different CPUs.
 *
 * Differs from Linux:
 * - complete_all()'s done is 0x7fffffff (a 31-bit word), not UINT_MAX.
 * - there are no signals: wait_for_completion_interruptible/_killable
 *   return 0 (or the jiffies left), never -ERESTARTSYS.
 * - a completion is declared by name (DECLARE_COMPLETION('drv.done')).
 * - a sleeping wait in atomic context reports "BUG: sleeping function
 *   called from invalid context" and returns at once (consuming a done
 *   count if there is one) instead of sleeping.
 */
import { WO_LOCK, WO_VAL, WO_KIND_COMPLETION } from './layout.js';
import { mem, i32 } from './smp.js';
import { preempt_point } from './entry.js';
import { KdeferError } from './module.js';
import {
  current,
  schedule,
  schedule_timeout,
  set_current_state,
  might_sleep,
  TASK_UNINTERRUPTIBLE,
  TASK_INTERRUPTIBLE,
  MAX_SCHEDULE_TIMEOUT,
} from './sched.js';
import {
  COMPLETION_ALL,
  WQ_FLAG_EXCLUSIVE,
  raw_word_lock_irqsave,
  raw_word_unlock_irqrestore,
  wait_object_by_name,
  __add_wait_queue_entry_tail,
  __wake_up_common,
  __finish_wait_id,
} from './wait.js';

/** A struct completion in shared memory. */
export class Completion {
  /** word index of the object */
  readonly w: number;
  constructor(
    readonly id: number,
    readonly name: string,
  ) {
    this.w = mem.waitObj(id);
  }
}
export type completion = Completion;

/**
 * DECLARE_COMPLETION - declare the completion named `name` (not done);
 * every CPU gets the same one.
 * Context: module load (or any: the name resolves to the same completion).
 * @returns the handle (the same slot for the same name on every CPU).
 */
export function DECLARE_COMPLETION(name: string): Completion {
  return new Completion(wait_object_by_name('completion:', name, WO_KIND_COMPLETION).id, name);
}

/**
 * init_completion - a completion by name (declared, not done, the first
 * time), or reset `x` to not done with no waiters.
 * Context: any; nobody may wait on a completion being re-initialised.
 * @returns the completion: the named one, or `x` reset.
 */
export function init_completion(x: Completion | string): Completion {
  if (typeof x === 'string') return DECLARE_COMPLETION(x);
  if (!(x instanceof Completion)) throw new KdeferError('init_completion: not a completion');
  const f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  Atomics.store(i32, x.w + WO_VAL, 0);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
  return x;
}

/**
 * reinit_completion - mark `x` not done again, keeping its waiters.
 * Context: any; the caller makes sure nobody completes it meanwhile.
 */
export function reinit_completion(x: Completion): void {
  Atomics.store(i32, x.w + WO_VAL, 0);
}

/**
 * complete - signal one waiter: done is incremented and the first waiter
 * (if any) is woken, on whatever CPU it sleeps. Each call lets exactly one
 * wait_for_completion() through.
 * Context: any, hardirq included.
 */
export function complete(x: Completion): void {
  preempt_point();
  const f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  const done = i32[x.w + WO_VAL]!;
  if (done !== COMPLETION_ALL) Atomics.store(i32, x.w + WO_VAL, done + 1);
  __wake_up_common(x.w, 1);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
}

/**
 * complete_all - signal every waiter, now and later: done becomes
 * "infinite" until reinit_completion().
 * Context: any.
 */
export function complete_all(x: Completion): void {
  preempt_point();
  const f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  Atomics.store(i32, x.w + WO_VAL, COMPLETION_ALL);
  __wake_up_common(x.w, 0);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
}

/** Consume one done count, under the lock. */
function consume(x: Completion): void {
  const d = i32[x.w + WO_VAL]!;
  if (d !== COMPLETION_ALL) Atomics.store(i32, x.w + WO_VAL, d - 1);
}

/** do_wait_for_common: @returns jiffies left (at least 1) when done, 0 on timeout. */
async function wait_for_common(x: Completion, timeout: number, state: number, who: string): Promise<number> {
  if (!might_sleep(who)) {
    // Atomic context: no sleeping; let a done count through if there is one.
    return try_wait_for_completion(x) ? Math.max(1, Math.min(timeout, MAX_SCHEDULE_TIMEOUT)) : 0;
  }
  const t = current!;
  const forever = timeout >= MAX_SCHEDULE_TIMEOUT;
  let left = timeout;
  let f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  if (i32[x.w + WO_VAL] === 0) {
    do {
      __add_wait_queue_entry_tail(x.w, x.id, t, WQ_FLAG_EXCLUSIVE);
      set_current_state(state);
      raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
      if (forever) await schedule();
      else left = await schedule_timeout(left);
      f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
    } while (i32[x.w + WO_VAL] === 0 && left > 0);
    raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
    __finish_wait_id(x.id, t);
    f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
    if (i32[x.w + WO_VAL] === 0) {
      raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
      return 0;
    }
  }
  consume(x);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
  return forever ? MAX_SCHEDULE_TIMEOUT : Math.max(1, left);
}

/**
 * wait_for_completion - sleep until `x` is completed, and consume one completion.
 * Context: process context; may sleep (uninterruptibly, ps shows D).
 */
export async function wait_for_completion(x: Completion): Promise<void> {
  await wait_for_common(x, MAX_SCHEDULE_TIMEOUT, TASK_UNINTERRUPTIBLE, 'wait_for_completion');
}

/**
 * wait_for_completion_timeout - as wait_for_completion, for at most `timeout` jiffies.
 * @returns 0 if it timed out, else the jiffies left (at least 1).
 * Context: process context; may sleep.
 */
export function wait_for_completion_timeout(x: Completion, timeout: number): Promise<number> {
  return wait_for_common(x, Math.max(0, timeout), TASK_UNINTERRUPTIBLE, 'wait_for_completion_timeout');
}

/**
 * wait_for_completion_interruptible - as wait_for_completion, sleeping interruptibly.
 * @param x - the completion.
 * Context: process context; may sleep.
 * @returns 0 (-ERESTARTSYS on a signal: kdefer has none).
 */
export async function wait_for_completion_interruptible(x: Completion): Promise<number> {
  await wait_for_common(x, MAX_SCHEDULE_TIMEOUT, TASK_INTERRUPTIBLE, 'wait_for_completion_interruptible');
  return 0;
}

/**
 * wait_for_completion_interruptible_timeout - as wait_for_completion_timeout, sleeping interruptibly.
 * @param x - the completion.
 * @param timeout - the most jiffies to wait (negative counts as 0).
 * Context: process context; may sleep.
 * @returns 0 if it timed out, else the jiffies left (at least 1); kdefer has no signals, so never -ERESTARTSYS.
 */
export function wait_for_completion_interruptible_timeout(x: Completion, timeout: number): Promise<number> {
  return wait_for_common(x, Math.max(0, timeout), TASK_INTERRUPTIBLE, 'wait_for_completion_interruptible_timeout');
}

/** wait_for_completion_killable - as wait_for_completion_interruptible. */
export const wait_for_completion_killable = wait_for_completion_interruptible;

/**
 * try_wait_for_completion - consume a completion if one is there, without sleeping.
 * @returns true if one was consumed, false if `x` is not done.
 * Context: any.
 */
export function try_wait_for_completion(x: Completion): boolean {
  if (Atomics.load(i32, x.w + WO_VAL) === 0) return false;
  const f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  const ok = i32[x.w + WO_VAL] !== 0;
  if (ok) consume(x);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
  return ok;
}

/**
 * completion_done - whether `x` has completions nobody consumed yet (a
 * wait_for_completion now would not sleep).
 * Context: any.
 * @returns true if a wait_for_completion() now would return at once.
 */
export function completion_done(x: Completion): boolean {
  if (Atomics.load(i32, x.w + WO_VAL) === 0) return false;
  // Wait for a complete() still inside its lock to finish waking, as the kernel does.
  const f = raw_word_lock_irqsave(x.w + WO_LOCK, x.name);
  raw_word_unlock_irqrestore(x.w + WO_LOCK, f);
  return true;
}
