/**
 * mutex.ts — sleeping locks, across CPUs.
 *
 * Follows kernel/locking/mutex.c with CONFIG_DEBUG_MUTEXES: the owner word
 * holds the owning task (its pid) and is taken with one compareExchange on
 * the fast path; a contended locker queues itself on the mutex's wait list
 * and really sleeps, so its CPU runs other tasks, softirqs and interrupts
 * meanwhile. mutex_unlock hands the lock straight to the first waiter
 * (the kernel's MUTEX_FLAG_HANDOFF, used here always), which makes the
 * mutex FIFO-fair. Unlocking a mutex the caller does not own is reported
 * as DEBUG_MUTEXES reports it, and the mutex is released anyway, as the
 * kernel does.
 *
 * Differs from Linux:
 * - no optimistic spinning (osq): a contended locker sleeps at once.
 * - always hand-off, never lock stealing by a newcomer while waiters queue.
 * - no signals: mutex_lock_interruptible/_killable return 0.
 * - the owner is a pid; code with no task (a hardirq on an idle CPU) owns a
 *   mutex it trylocks as -(cpu + 1).
 * - mutex_lock in atomic context reports "BUG: sleeping function called
 *   from invalid context" and does not sleep: it takes a free mutex, and
 *   on a held one reports "BUG: scheduling while atomic" and returns
 *   WITHOUT the lock (the kernel would sleep there and could deadlock).
 * - recursive locking is reported (lockdep's "possible recursive locking
 *   detected") and then deadlocks, as it would in the kernel: the task
 *   sleeps for good; the rest of the machine goes on.
 */
import { lockdep_map_of, lock_map_acquire, lock_map_release, lock_map_acquire_try } from './lockdep.js';
import { WO_LOCK, WO_VAL, WO_OWNER_CPU, WO_HEAD, WO_CONTENDED, WO_KIND_MUTEX, WT_PID, WT_CPU, WT_QUEUE } from './layout.js';
import { mem, i32, cpuId } from './smp.js';
import { preempt_point } from './entry.js';
import { KdeferError } from './module.js';
import { printk, KERN_WARNING, WARN, call_trace } from './printk.js';
import {
  current,
  schedule,
  set_current_state,
  might_sleep,
  wakeUpPid,
  __schedule_bug,
  commOfPid,
  current_comm,
  current_pid,
  TASK_UNINTERRUPTIBLE,
  TASK_INTERRUPTIBLE,
  TASK_RUNNING,
} from './sched.js';
import {
  WQ_FLAG_EXCLUSIVE,
  raw_word_lock_irqsave,
  raw_word_unlock_irqrestore,
  wait_object_by_name,
  __add_wait_queue_entry_tail,
  __remove_wait_queue,
} from './wait.js';

/** A struct mutex in shared memory. */
export class Mutex {
  /** word index of the object */
  readonly w: number;
  constructor(
    readonly id: number,
    readonly name: string,
  ) {
    this.w = mem.waitObj(id);
  }
}
export type mutex = Mutex;

/**
 * DEFINE_MUTEX - declare the mutex named `name` (unlocked); every CPU gets the same one.
 * Context: module load (or any: the name resolves to the same mutex).
 * @returns the handle (the same slot for the same name on every CPU).
 */
export function DEFINE_MUTEX(name: string): Mutex {
  return new Mutex(wait_object_by_name('mutex:', name, WO_KIND_MUTEX).id, name);
}

/**
 * mutex_init - a mutex by name (declared unlocked the first time), or
 * re-initialise `lock` to unlocked.
 * Context: any; nobody may hold or wait for a mutex being re-initialised.
 * @returns the mutex: the named one, or `lock` reset.
 */
export function mutex_init(lock: Mutex | string): Mutex {
  if (typeof lock === 'string') return DEFINE_MUTEX(lock);
  if (!(lock instanceof Mutex)) throw new KdeferError('mutex_init: not a mutex');
  Atomics.store(i32, lock.w + WO_VAL, 0);
  i32[lock.w + WO_OWNER_CPU] = -1;
  return lock;
}

const owner_id = (): number => (current !== null ? current.pid : -(cpuId + 1));

function owner_desc(owner: number): string {
  if (owner === 0) return '(none)';
  if (owner < 0) return `(no task, CPU#${-owner - 1})`;
  return `${commOfPid(mem, owner)}/${owner}`;
}

function set_owner(lock: Mutex, me: number): void {
  i32[lock.w + WO_OWNER_CPU] = cpuId;
  void me;
}

// ------------------------------------------------------------ reports

function report_recursive(lock: Mutex): void {
  printk(KERN_WARNING + '');
  printk(KERN_WARNING + '============================================');
  printk(KERN_WARNING + 'WARNING: possible recursive locking detected');
  printk(KERN_WARNING + '6.12.0-kdefer #1 Not tainted');
  printk(KERN_WARNING + '--------------------------------------------');
  printk(KERN_WARNING + `${current_comm()}/${current_pid()} is trying to acquire lock:`);
  printk(KERN_WARNING + ` (${lock.name}){+.+.}-{4:4}, at: mutex_lock`);
  printk(KERN_WARNING + '');
  printk(KERN_WARNING + 'but task is already holding lock:');
  printk(KERN_WARNING + ` (${lock.name}){+.+.}-{4:4}`);
  printk(KERN_WARNING + '');
  printk(KERN_WARNING + ' *** DEADLOCK ***');
  printk(KERN_WARNING + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_WARNING + l);
}

// ------------------------------------------------------------ locking

/** The slow path: queue, retry under the wait lock, sleep until handed the lock. */
async function __mutex_lock_slowpath(lock: Mutex, state: number): Promise<void> {
  const t = current!;
  const me = t.pid;
  if (Atomics.load(i32, lock.w + WO_VAL) === me) report_recursive(lock);
  Atomics.add(i32, lock.w + WO_CONTENDED, 1);
  let f = raw_word_lock_irqsave(lock.w + WO_LOCK, lock.name);
  __add_wait_queue_entry_tail(lock.w, lock.id, t, WQ_FLAG_EXCLUSIVE);
  for (;;) {
    if (Atomics.compareExchange(i32, lock.w + WO_VAL, 0, me) === 0) {
      if (i32[mem.waiter(t.slot, WT_QUEUE)] === lock.id + 1) __remove_wait_queue(lock.w, t.slot);
      break;
    }
    // mutex_unlock handed it to us (and took us off the list).
    if (Atomics.load(i32, lock.w + WO_VAL) === me && i32[mem.waiter(t.slot, WT_QUEUE)] !== lock.id + 1) break;
    set_current_state(state);
    raw_word_unlock_irqrestore(lock.w + WO_LOCK, f);
    await schedule();
    f = raw_word_lock_irqsave(lock.w + WO_LOCK, lock.name);
  }
  set_owner(lock, me);
  raw_word_unlock_irqrestore(lock.w + WO_LOCK, f);
  set_current_state(TASK_RUNNING);
}

function mutex_lock_common(lock: Mutex, state: number, who: string): Promise<void> {
  if (!(lock instanceof Mutex)) throw new KdeferError(`${who}: not a mutex`);
  if (!might_sleep(who)) {
    // Atomic context: no sleeping. A free mutex is taken; a held one cannot be waited for.
    const me = owner_id();
    if (Atomics.compareExchange(i32, lock.w + WO_VAL, 0, me) === 0) set_owner(lock, me);
    else __schedule_bug();
    return Promise.resolve();
  }
  const me = current!.pid;
  // the validator sees the acquisition before any wait, as mutex_acquire does
  const map = lockdep_map_of(`(${lock.name})`);
  if (map >= 0) lock_map_acquire(map);
  if (Atomics.compareExchange(i32, lock.w + WO_VAL, 0, me) === 0) {
    set_owner(lock, me);
    return Promise.resolve();
  }
  return __mutex_lock_slowpath(lock, state);
}

/**
 * mutex_lock - acquire the mutex, sleeping until it is free.
 * Context: process context; may sleep. Not recursive: the owner must
 * release it, exactly once.
 * @returns a promise that resolves once the caller holds the mutex.
 */
export function mutex_lock(lock: Mutex): Promise<void> {
  return mutex_lock_common(lock, TASK_UNINTERRUPTIBLE, 'mutex_lock');
}

/**
 * mutex_lock_interruptible - acquire the mutex, sleeping interruptibly.
 * @returns 0 once acquired (-EINTR on a signal: kdefer has none).
 * Context: process context; may sleep.
 */
export async function mutex_lock_interruptible(lock: Mutex): Promise<number> {
  await mutex_lock_common(lock, TASK_INTERRUPTIBLE, 'mutex_lock_interruptible');
  return 0;
}
/** mutex_lock_killable - as mutex_lock_interruptible. */
export const mutex_lock_killable = mutex_lock_interruptible;

/**
 * mutex_trylock - take the mutex if it is free, without sleeping.
 * @returns 1 if it was acquired, 0 if it is held.
 * Context: process context (not from interrupts, as in the kernel).
 */
export function mutex_trylock(lock: Mutex): number {
  preempt_point();
  const me = owner_id();
  if (Atomics.compareExchange(i32, lock.w + WO_VAL, 0, me) !== 0) return 0;
  set_owner(lock, me);
  const map = lockdep_map_of(`(${lock.name})`);
  if (map >= 0) lock_map_acquire_try(map);
  return 1;
}

/**
 * mutex_unlock - release the mutex; the first waiter (on any CPU) gets it
 * and is woken. Releasing a mutex the caller does not own is reported
 * (DEBUG_LOCKS_WARN_ON) and the mutex is released anyway.
 * Context: process context; does not sleep.
 */
export function mutex_unlock(lock: Mutex): void {
  if (!(lock instanceof Mutex)) throw new KdeferError('mutex_unlock: not a mutex');
  preempt_point();
  const me = owner_id();
  const owner = Atomics.load(i32, lock.w + WO_VAL);
  if (owner !== me) {
    WARN(true, 'DEBUG_LOCKS_WARN_ON(__owner_task(owner) != current)');
    printk(
      KERN_WARNING + `mutex ${lock.name}: released by ${current_comm()}/${current_pid()} on CPU#${cpuId}, owner: ${owner_desc(owner)}`,
    );
  }
  const map = lockdep_map_of(`(${lock.name})`);
  if (map >= 0) lock_map_release(map);
  const f = raw_word_lock_irqsave(lock.w + WO_LOCK, lock.name);
  const head = i32[lock.w + WO_HEAD]!;
  if (head !== 0) {
    // Hand-off: the first waiter owns it before it even runs.
    const e = mem.waiter(head - 1);
    const pid = i32[e + WT_PID]!;
    const cpu = i32[e + WT_CPU]!;
    __remove_wait_queue(lock.w, head - 1);
    Atomics.store(i32, lock.w + WO_VAL, pid);
    i32[lock.w + WO_OWNER_CPU] = cpu;
    wakeUpPid(pid, cpu);
  } else {
    Atomics.store(i32, lock.w + WO_VAL, 0);
    i32[lock.w + WO_OWNER_CPU] = -1;
  }
  raw_word_unlock_irqrestore(lock.w + WO_LOCK, f);
}

/**
 * mutex_is_locked - whether somebody holds the mutex.
 * Context: any.
 * @returns true if it is held (a snapshot: it may change at once).
 */
export function mutex_is_locked(lock: Mutex): boolean {
  return Atomics.load(i32, lock.w + WO_VAL) !== 0;
}

/**
 * mutex_owner - host side and diagnostics: who holds the mutex.
 * @param lock - the mutex.
 * Context: any, host side too. Does not sleep.
 * @returns the owner's id (0: unlocked); a snapshot.
 */
export function mutex_owner(lock: Mutex): number {
  return Atomics.load(i32, lock.w + WO_VAL);
}
