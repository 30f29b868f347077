/**
 * spinlock.ts — spinlock_t and rwlock_t on shared-memory words.
 *
 * Follows include/linux/spinlock.h, kernel/locking/spinlock.c (the _bh,
 * _irq and _irqsave variants as compositions of preempt/bh/irq disabling
 * with the raw lock) and kernel/locking/spinlock_debug.c (CONFIG_DEBUG_SPINLOCK
 * is always on: recursion, unlock of an unlocked lock, unlock on the wrong
 * CPU, and the old "lockup suspected" report for a spinner that waits past a
 * bound).
 *
 * A spinlock word holds 0 when free and owner CPU + 1 when held: one
 * compareExchange takes it, one store releases it. A rwlock word holds the
 * reader count, or RW_WRITER when a writer holds it.
 *
 * Differs from Linux:
 * - the lock is a test-and-set lock, not a queued (MCS) lock: no FIFO fairness.
 * - rwlocks prefer readers (the pre-qrwlock behaviour): a stream of readers
 *   can starve a writer.
 * - a deadlock is not left to spin: recursion is reported at once, and a
 *   spinner that waits longer than `spinLockupMs` (boot option, default 2 s)
 *   reports a lockup naming both CPUs; then the machine stops cleanly.
 * - spinning is a preemption point: interrupts still land while a CPU spins
 *   with interrupts enabled, as on real hardware. An uncontended lock is
 *   none (as preempt_disable checks nothing); its unlock is one (as
 *   preempt_enable checks for a pending reschedule).
 */
import { hex8 } from './printk.js';
import { clock_now } from './clock.js';
import {
  type Mem,
  LK_VAL,
  LK_OWNER_CPU,
  LK_OWNER_CTX,
  LK_OWNER_PID,
  LK_NAME,
  LK_KIND,
  LK_CONTENDED,
  LOCK_KIND_SPIN,
  LOCK_KIND_RW,
  H_LOCKS_USED,
  H_SPIN_LOCKUP_MS,
  PC_PREEMPT_COUNT,
  PC_CURRENT_PID,
  PC_SPINNING_ON,
} from './layout.js';
import { mem, i32, cpuId, PCB } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { registry_resolve, NAME_KIND_LOCK, KdeferError, name_of } from './module.js';
import { printk, KERN_EMERG, oops_end, call_trace } from './printk.js';
import {
  local_irq_disable,
  local_irq_enable,
  local_irq_save,
  local_irq_restore,
  __local_bh_enable_ip,
  SOFTIRQ_LOCK_OFFSET,
  context_name,
  in_interrupt,
} from './preempt.js';
import { commOfPid, current_comm } from './sched/task.js';
import { lockdep_init_cpu, lock_acquire, lock_release } from './lockdep.js';
import { trace_event, tracing_on, tracing_locks, traceTail, TP_LOCK_ACQUIRE, TP_LOCK_RELEASE, TP_LOCK_CONTENDED } from './trace.js';

// The validator's hooks: installed once at boot when lockdep is on (no branch in the hot path).
const noop = (): void => {};
let lockdep_acquire: (id: number, read: boolean, trylock: boolean) => void = noop;
let lockdep_release: (id: number) => void = noop;
let traceContended = false;

/**
 * spinlock_init_cpu - install this CPU's lock-validator and lock-tracing hooks (kdefer-only).
 * Called once per CPU at boot; with lockdep or lock tracing off the hooks stay no-ops,
 * so the lock fast path has no branch for them.
 * Context: CPU boot, before any lock is taken on this CPU. Does not sleep.
 */
export function spinlock_init_cpu(): void {
  const ld = lockdep_init_cpu();
  const tr = tracing_on() && tracing_locks();
  traceContended = tr;
  const nameOf = (id: number): number => i32[mem.lock(id, LK_NAME)]!;
  if (ld && tr) {
    lockdep_acquire = (id, read, trylock) => {
      lock_acquire(id, read, trylock);
      trace_event(TP_LOCK_ACQUIRE, id, nameOf(id));
    };
    lockdep_release = (id) => {
      lock_release(id);
      trace_event(TP_LOCK_RELEASE, id, nameOf(id));
    };
  } else if (ld) {
    lockdep_acquire = lock_acquire;
    lockdep_release = lock_release;
  } else if (tr) {
    lockdep_acquire = (id) => trace_event(TP_LOCK_ACQUIRE, id, nameOf(id));
    lockdep_release = (id) => trace_event(TP_LOCK_RELEASE, id, nameOf(id));
  } else {
    lockdep_acquire = noop;
    lockdep_release = noop;
  }
}

export const SPINLOCK_MAGIC = 0xdead4ead;
export const RWLOCK_MAGIC = 0xdeaf1eed;
const RW_WRITER = 1 << 30;

/** A spinlock_t: a word in the machine's lock table, found by name. */
export class SpinlockT {
  /** word index of the lock's slot */
  readonly w: number;
  constructor(
    readonly id: number,
    readonly name: string,
  ) {
    this.w = mem.lock(id);
  }
}
/** A rwlock_t. */
export class RwlockT extends SpinlockT {}
export type spinlock_t = SpinlockT;
export type rwlock_t = RwlockT;

/**
 * spin_lockup_ms - the spin bound after which a waiter reports "lockup suspected" (kdefer-only).
 * Context: any. Does not sleep.
 * @returns the boot option `spinLockupMs` in milliseconds, 2000 when it was not set.
 */
export function spin_lockup_ms(): number {
  return i32[H_SPIN_LOCKUP_MS]! || 2000;
}

/**
 * rawWordLock - kdefer-only: take the raw lock word `w` (0 free, owner CPU + 1
 * taken) of a lock no lock class covers, as the timer and hrtimer bases'
 * raw_spinlock_t are: spin until it is free. Taking it again on the CPU that
 * holds it is "BUG: <what> lock recursion"; spinning past spin_lockup_ms() is
 * "BUG: <what> lock of CPU#<cpu> lockup suspected"; both stop the machine.
 * @param w - the lock word (a word index of the memory map).
 * @param what - names the lock in the report ("timer base").
 * @param cpu - the CPU whose lock it is, for the report.
 * Context: any, with interrupts off (the caller's). Does not sleep.
 */
export function rawWordLock(w: number, what: string, cpu: number): void {
  if (Atomics.compareExchange(i32, w, 0, cpuId + 1) === 0) return;
  const t0 = clock_now();
  let spins = 0;
  while (Atomics.compareExchange(i32, w, 0, cpuId + 1) !== 0) {
    if (Atomics.load(i32, w) === cpuId + 1) {
      printk(KERN_EMERG + `BUG: ${what} lock recursion on CPU#${cpuId}`);
      oops_end(`${what} lock recursion`);
    }
    cpu_relax();
    if ((++spins & 1023) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      printk(KERN_EMERG + `BUG: ${what} lock of CPU#${cpu} lockup suspected on CPU#${cpuId}`);
      oops_end(`${what} lockup`);
    }
  }
}

/**
 * rawWordUnlock - kdefer-only: release a lock word taken with rawWordLock.
 * @param w - the lock word.
 * Context: the holder. Does not sleep.
 */
export function rawWordUnlock(w: number): void {
  Atomics.store(i32, w, 0);
}

function alloc_lock(name: string, kind: number): number {
  const e = registry_resolve(mem, NAME_KIND_LOCK, name, () => {
    const id = i32[H_LOCKS_USED]!;
    if (id >= mem.g.maxLocks)
      throw new KdeferError(`lock table full: maxLocks=${mem.g.maxLocks} locks are declared (boot option maxLocks)`);
    i32[H_LOCKS_USED] = id + 1;
    i32[mem.lock(id, LK_KIND)] = kind;
    i32[mem.lock(id, LK_NAME)] = 0;
    i32[mem.lock(id, LK_OWNER_CPU)] = -1;
    return { value: id, size: kind };
  });
  if (e.size !== kind) throw new KdeferError(`'${name}' is already declared as a ${e.size === LOCK_KIND_RW ? 'rwlock' : 'spinlock'}`);
  i32[mem.lock(e.value, LK_NAME)] = e.id;
  return e.value;
}

/**
 * DEFINE_SPINLOCK - declare the spinlock named `name`; every CPU gets the same lock.
 * @param name - the lock's name: the same name always resolves to the same lock word.
 * Context: module load (or any: the name resolves to the same lock). Does not sleep.
 * @returns the lock. Throws a KdeferError if `name` is already a rwlock, or the lock table (boot option maxLocks) is full.
 */
export function DEFINE_SPINLOCK(name: string): SpinlockT {
  return new SpinlockT(alloc_lock(name, LOCK_KIND_SPIN), name);
}
/**
 * DEFINE_RWLOCK - declare the rwlock named `name`; every CPU gets the same lock.
 * @param name - the lock's name: the same name always resolves to the same lock word.
 * Context: module load (or any: the name resolves to the same lock). Does not sleep.
 * @returns the lock. Throws a KdeferError if `name` is already a spinlock, or the lock table is full.
 */
export function DEFINE_RWLOCK(name: string): RwlockT {
  return new RwlockT(alloc_lock(name, LOCK_KIND_RW), name);
}
/**
 * spin_lock_init - (re)initialise a lock to unlocked.
 * @param lock - the lock.
 * Context: nobody may hold or use the lock. Does not sleep.
 */
export function spin_lock_init(lock: SpinlockT): void {
  Atomics.store(i32, lock.w + LK_VAL, 0);
  i32[lock.w + LK_OWNER_CPU] = -1;
}
export const rwlock_init = spin_lock_init;

// ------------------------------------------------------------ reports

/**
 * The CPU holding the lock at word `w`, -1 if none. A spinlock's word is its
 * owner CPU + 1 (CONFIG_DEBUG_SPINLOCK's separate owner_cpu store would
 * repeat it); a rwlock's writer is in LK_OWNER_CPU.
 */
function owner_cpu(m: Mem, w: number): number {
  if (m.i32[w + LK_KIND] === LOCK_KIND_RW) return Atomics.load(m.i32, w + LK_OWNER_CPU);
  return Atomics.load(m.i32, w + LK_VAL) - 1;
}

function owner_desc(m: Mem, w: number): string {
  const cpu = owner_cpu(m, w);
  if (cpu < 0) return '.owner: <none>/-1, .owner_cpu: -1';
  const pid = m.i32[w + LK_OWNER_PID]!;
  return `.owner: ${commOfPid(m, pid)}/${pid}, .owner_cpu: ${cpu}`;
}

function spin_dump(lock: SpinlockT, msg: string, rw: boolean): void {
  const pid = i32[PCB + PC_CURRENT_PID]!;
  const kind = rw ? 'rwlock' : 'spinlock';
  printk(KERN_EMERG + `BUG: ${kind} ${msg} on CPU#${cpuId}, ${current_comm()}/${pid}`);
  printk(KERN_EMERG + ` lock: ${lock.name}, .magic: ${(rw ? RWLOCK_MAGIC : SPINLOCK_MAGIC).toString(16)}, ${owner_desc(mem, lock.w)}`);
  const ownerCpu = owner_cpu(mem, lock.w);
  if (ownerCpu >= 0) {
    const oc = i32[lock.w + LK_OWNER_CTX]!;
    printk(KERN_EMERG + ` owner: CPU#${ownerCpu} took it in ${context_name(oc)} context (preempt_count ${hex8(oc)})`);
  }
  const me = i32[PCB + PC_PREEMPT_COUNT]!;
  printk(KERN_EMERG + ` this:  CPU#${cpuId} wants it in ${context_name(me)} context (preempt_count ${hex8(me)})`);
  printk(KERN_EMERG + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_EMERG + l);
  if (tracing_on()) {
    for (const c of ownerCpu >= 0 && ownerCpu !== cpuId ? [cpuId, ownerCpu] : [cpuId]) {
      printk(KERN_EMERG + `Last trace events of CPU#${c}:`);
      for (const l of traceTail(mem, c, 8)) printk(KERN_EMERG + l);
    }
  }
}

/** A deadlock that would spin forever: report and stop cleanly. */
function spin_bug_fatal(lock: SpinlockT, msg: string, rw: boolean): never {
  spin_dump(lock, msg, rw);
  return oops_end(`${rw ? 'rwlock' : 'spinlock'} ${msg}: ${lock.name}`, in_interrupt());
}

/** A recoverable misuse (unlock of an unlocked lock...): report and go on. */
function spin_bug(lock: SpinlockT, msg: string, rw: boolean): void {
  spin_dump(lock, msg, rw);
}

// ------------------------------------------------------------ the raw lock

function set_owner(w: number): void {
  i32[w + LK_OWNER_CTX] = i32[PCB + PC_PREEMPT_COUNT]!;
  i32[w + LK_OWNER_PID] = i32[PCB + PC_CURRENT_PID]!;
}

/**
 * do_raw_spin_lock: take the lock word, spinning (with interrupts as they
 * are) if needed. The fast path is the floor the kernel has: one
 * compareExchange, then the owner stores of CONFIG_DEBUG_SPINLOCK (the owner
 * CPU is the lock word itself, owner_cpu). The owner fields are plain
 * stores: only the holder writes them (rule C), and the other CPUs read them
 * only to describe the holder in a report, after the lock word (written by
 * the compareExchange, which orders every store before it) told them it is
 * held; a report that reads the fields of a holder that just let go names
 * the previous holder, which the kernel's spin_dump may print as well.
 */
function do_raw_spin_lock(lock: SpinlockT): void {
  lockdep_acquire(lock.id, false, false);
  const a = i32;
  const w = lock.w;
  if (Atomics.compareExchange(a, w, 0, cpuId + 1) !== 0) spin_slow(lock);
  const p = PCB;
  a[w + LK_OWNER_CTX] = a[p + PC_PREEMPT_COUNT]!;
  a[w + LK_OWNER_PID] = a[p + PC_CURRENT_PID]!;
}

function spin_slow(lock: SpinlockT): void {
  const w = lock.w;
  const me = cpuId + 1;
  if (Atomics.load(i32, w) === me) spin_bug_fatal(lock, 'recursion', false);
  Atomics.add(i32, w + LK_CONTENDED, 1);
  if (traceContended) trace_event(TP_LOCK_CONTENDED, lock.id, i32[w + LK_NAME]!);
  i32[PCB + PC_SPINNING_ON] = lock.id + 1;
  const t0 = clock_now();
  const bound = spin_lockup_ms();
  let spins = 0;
  try {
    for (;;) {
      cpu_relax(); // a yield in deterministic mode: the holder must run
      if (Atomics.load(i32, w) === 0 && Atomics.compareExchange(i32, w, 0, me) === 0) return;
      if ((++spins & 255) === 0 && clock_now() - t0 > bound) spin_bug_fatal(lock, 'lockup suspected', false);
    }
  } finally {
    i32[PCB + PC_SPINNING_ON] = 0;
  }
}

/**
 * do_raw_spin_unlock: the debug checks, then the release store. The lock
 * word is read with a plain load: when this CPU holds the lock it wrote the
 * word itself, and a thread always sees its own writes; when it does not,
 * any value but ours is a bug to report, and a stale one names it no worse.
 */
function do_raw_spin_unlock(lock: SpinlockT): void {
  lockdep_release(lock.id);
  const a = i32;
  const w = lock.w;
  const v = a[w]!;
  if (v !== cpuId + 1) {
    spin_bug(lock, v === 0 ? 'already unlocked' : 'wrong CPU', false);
    if (v === 0) return;
  }
  Atomics.store(a, w, 0);
}

function do_raw_spin_trylock(lock: SpinlockT): boolean {
  if (Atomics.compareExchange(i32, lock.w, 0, cpuId + 1) === 0) {
    set_owner(lock.w);
    lockdep_acquire(lock.id, false, true);
    return true;
  }
  return false;
}

// ------------------------------------------------------------ spinlock API

/**
 * spin_lock - acquire `lock`, busy-waiting while another CPU holds it.
 * Disables preemption. Not recursive: taking it again on the same CPU (for
 * example from a softirq that interrupted the holder) is a BUG ("spinlock recursion").
 * @param lock - the lock.
 * Context: any; data shared with softirqs or hardirqs needs the _bh/_irq variants.
 * Must not sleep while holding it.
 */
export function spin_lock(lock: SpinlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  do_raw_spin_lock(lock);
}

/**
 * spin_unlock - release `lock` and re-enable preemption.
 * @param lock - the lock, held by the caller.
 * Context: the holder, on the CPU that took it (else "wrong CPU" is reported). Does not sleep.
 */
export function spin_unlock(lock: SpinlockT): void {
  do_raw_spin_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  preempt_point();
}

/**
 * spin_lock_bh - disable bottom halves on this CPU, then acquire `lock`.
 * @param lock - the lock.
 * Context: process context sharing data with softirqs, tasklets or timers. Must not sleep while holding it.
 */
export function spin_lock_bh(lock: SpinlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += SOFTIRQ_LOCK_OFFSET;
  do_raw_spin_lock(lock);
}

/**
 * spin_unlock_bh - release `lock`, re-enable bottom halves; pending softirqs
 * run before it returns (as local_bh_enable).
 * @param lock - the lock, taken with spin_lock_bh().
 * Context: the holder, with interrupts enabled (softirqs may run here). Does not sleep.
 */
export function spin_unlock_bh(lock: SpinlockT): void {
  do_raw_spin_unlock(lock);
  __local_bh_enable_ip(SOFTIRQ_LOCK_OFFSET);
}

/**
 * spin_lock_irq - disable interrupts on this CPU, then acquire `lock`.
 * @param lock - the lock.
 * Context: code that knows interrupts are enabled (spin_unlock_irq re-enables them unconditionally).
 * Must not sleep while holding it.
 */
export function spin_lock_irq(lock: SpinlockT): void {
  local_irq_disable();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  do_raw_spin_lock(lock);
}

/**
 * spin_unlock_irq - release `lock` and enable interrupts unconditionally.
 * @param lock - the lock, taken with spin_lock_irq().
 * Context: the holder; interrupts were enabled before spin_lock_irq(). Does not sleep.
 */
export function spin_unlock_irq(lock: SpinlockT): void {
  do_raw_spin_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_enable();
}

/**
 * spin_lock_irqsave - save the interrupt state, disable interrupts, acquire `lock`.
 * @param lock - the lock.
 * Context: any, including hardirq. Must not sleep while holding it.
 * @returns the saved flags, for spin_unlock_irqrestore().
 */
export function spin_lock_irqsave(lock: SpinlockT): number {
  const flags = local_irq_save();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  do_raw_spin_lock(lock);
  return flags;
}

/**
 * spin_unlock_irqrestore - release `lock` and restore the saved interrupt state.
 * @param lock - the lock, taken with spin_lock_irqsave().
 * @param flags - what spin_lock_irqsave() returned.
 * Context: the holder. Does not sleep.
 */
export function spin_unlock_irqrestore(lock: SpinlockT, flags: number): void {
  do_raw_spin_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_restore(flags);
}

/**
 * spin_trylock - acquire `lock` if it is free, without spinning.
 * @param lock - the lock.
 * Context: any. Does not sleep.
 * @returns 1 if acquired (preemption disabled, release with spin_unlock()), 0 if another CPU holds it (nothing changed).
 */
export function spin_trylock(lock: SpinlockT): number {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  if (do_raw_spin_trylock(lock)) return 1;
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  preempt_point();
  return 0;
}

/**
 * spin_trylock_bh - as spin_trylock, with bottom halves disabled when it succeeds.
 * @param lock - the lock.
 * Context: process or softirq context. Does not sleep.
 * @returns 1 if acquired (release with spin_unlock_bh()), 0 if not (bottom halves as before).
 */
export function spin_trylock_bh(lock: SpinlockT): number {
  i32[PCB + PC_PREEMPT_COUNT]! += SOFTIRQ_LOCK_OFFSET;
  if (do_raw_spin_trylock(lock)) return 1;
  __local_bh_enable_ip(SOFTIRQ_LOCK_OFFSET);
  return 0;
}

/**
 * spin_trylock_irq - as spin_trylock, with interrupts disabled when it succeeds.
 * @param lock - the lock.
 * Context: code that knows interrupts are enabled. Does not sleep.
 * @returns 1 if acquired (release with spin_unlock_irq()), 0 if not (interrupts enabled again).
 */
export function spin_trylock_irq(lock: SpinlockT): number {
  local_irq_disable();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  if (do_raw_spin_trylock(lock)) return 1;
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_enable();
  return 0;
}

/**
 * spin_trylock_irqsave - as spin_trylock, saving and disabling interrupts when it succeeds.
 * kdefer returns the flags instead of writing them through a pointer.
 * @param lock - the lock.
 * Context: any, including hardirq. Does not sleep.
 * @returns the saved flags (>= 0) if acquired, for spin_unlock_irqrestore(); -1 if not (interrupt state unchanged).
 */
export function spin_trylock_irqsave(lock: SpinlockT): number {
  const flags = local_irq_save();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  if (do_raw_spin_trylock(lock)) return flags;
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_restore(flags);
  return -1;
}

/**
 * spin_is_locked - whether someone holds `lock`.
 * @param lock - the lock.
 * Context: any; the answer is a racy snapshot, fit for assertions only. Does not sleep.
 * @returns true if some CPU holds it, false if it is free.
 */
export function spin_is_locked(lock: SpinlockT): boolean {
  return Atomics.load(i32, lock.w + LK_VAL) !== 0;
}

/**
 * assert_spin_locked - BUG unless `lock` is held (by any CPU, as the kernel checks it).
 * @param lock - the lock.
 * Context: any. Does not sleep; a failed assertion stops the machine.
 */
export function assert_spin_locked(lock: SpinlockT): void {
  if (!spin_is_locked(lock)) spin_bug_fatal(lock, 'not held (assert_spin_locked)', false);
}

// ------------------------------------------------------------ rwlock

function rw_slow(lock: RwlockT, tryTake: () => boolean, writer: boolean): void {
  const w = lock.w;
  Atomics.add(i32, w + LK_CONTENDED, 1);
  i32[PCB + PC_SPINNING_ON] = lock.id + 1;
  const t0 = clock_now();
  const bound = spin_lockup_ms();
  let spins = 0;
  try {
    for (;;) {
      const v = Atomics.load(i32, w);
      if (v & RW_WRITER && Atomics.load(i32, w + LK_OWNER_CPU) === cpuId) spin_bug_fatal(lock, 'recursion', true);
      preempt_point();
      if (tryTake()) return;
      if ((++spins & 255) === 0 && clock_now() - t0 > bound)
        spin_bug_fatal(lock, `lockup suspected (${writer ? 'writer' : 'reader'})`, true);
    }
  } finally {
    i32[PCB + PC_SPINNING_ON] = 0;
  }
}

function try_read(lock: RwlockT): boolean {
  const v = Atomics.load(i32, lock.w);
  return (v & RW_WRITER) === 0 && Atomics.compareExchange(i32, lock.w, v, v + 1) === v;
}
function try_write(lock: RwlockT): boolean {
  if (Atomics.compareExchange(i32, lock.w, 0, RW_WRITER) === 0) {
    i32[lock.w + LK_OWNER_CPU] = cpuId;
    set_owner(lock.w);
    return true;
  }
  return false;
}
function raw_read_lock(lock: RwlockT): void {
  lockdep_acquire(lock.id, true, false);
  if (!try_read(lock)) rw_slow(lock, () => try_read(lock), false);
}
function raw_write_lock(lock: RwlockT): void {
  lockdep_acquire(lock.id, false, false);
  if (!try_write(lock)) rw_slow(lock, () => try_write(lock), true);
}
function raw_read_unlock(lock: RwlockT): void {
  lockdep_release(lock.id);
  const v = Atomics.load(i32, lock.w);
  if ((v & ~RW_WRITER) === 0 || v & RW_WRITER) {
    spin_bug(lock, 'wrong owner (read_unlock of a lock not read-held)', true);
    return;
  }
  Atomics.sub(i32, lock.w, 1);
}
function raw_write_unlock(lock: RwlockT): void {
  lockdep_release(lock.id);
  const v = Atomics.load(i32, lock.w);
  if (!(v & RW_WRITER)) {
    spin_bug(lock, 'wrong owner (write_unlock of a lock not write-held)', true);
    return;
  }
  if (Atomics.load(i32, lock.w + LK_OWNER_CPU) !== cpuId) spin_bug(lock, 'wrong CPU', true);
  i32[lock.w + LK_OWNER_CPU] = -1;
  Atomics.store(i32, lock.w, 0);
}

/**
 * read_lock - acquire rwlock `lock` shared (many readers, no writer); readers may nest, also from interrupts.
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: any; data shared with softirqs or hardirqs needs the _bh/_irq variants. Must not sleep while holding it.
 */
export function read_lock(lock: RwlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_read_lock(lock);
}
/**
 * read_unlock - release rwlock `lock` (read-held) and re-enable preemption.
 * An unlock of a lock not read-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with read_lock().
 * Context: the holder. Does not sleep.
 */
export function read_unlock(lock: RwlockT): void {
  raw_read_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  preempt_point();
}
/**
 * write_lock - acquire rwlock `lock` exclusively (one writer, no readers).
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: any; data shared with softirqs or hardirqs needs the _bh/_irq variants. Must not sleep while holding it.
 */
export function write_lock(lock: RwlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_write_lock(lock);
}
/**
 * write_unlock - release rwlock `lock` (write-held) and re-enable preemption.
 * An unlock of a lock not write-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with write_lock().
 * Context: the holder, on the CPU that took it. Does not sleep.
 */
export function write_unlock(lock: RwlockT): void {
  raw_write_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  preempt_point();
}
/**
 * read_lock_bh - disable bottom halves on this CPU, then acquire rwlock `lock` shared (many readers, no writer); readers may nest, also from interrupts.
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: process context sharing the data with softirqs, tasklets or timers. Must not sleep while holding it.
 */
export function read_lock_bh(lock: RwlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += SOFTIRQ_LOCK_OFFSET;
  raw_read_lock(lock);
}
/**
 * read_unlock_bh - release rwlock `lock` (read-held) and re-enable bottom halves; pending softirqs run before it returns.
 * An unlock of a lock not read-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with read_lock_bh().
 * Context: the holder. Does not sleep.
 */
export function read_unlock_bh(lock: RwlockT): void {
  raw_read_unlock(lock);
  __local_bh_enable_ip(SOFTIRQ_LOCK_OFFSET);
}
/**
 * write_lock_bh - disable bottom halves on this CPU, then acquire rwlock `lock` exclusively (one writer, no readers).
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: process context sharing the data with softirqs, tasklets or timers. Must not sleep while holding it.
 */
export function write_lock_bh(lock: RwlockT): void {
  i32[PCB + PC_PREEMPT_COUNT]! += SOFTIRQ_LOCK_OFFSET;
  raw_write_lock(lock);
}
/**
 * write_unlock_bh - release rwlock `lock` (write-held) and re-enable bottom halves; pending softirqs run before it returns.
 * An unlock of a lock not write-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with write_lock_bh().
 * Context: the holder, on the CPU that took it. Does not sleep.
 */
export function write_unlock_bh(lock: RwlockT): void {
  raw_write_unlock(lock);
  __local_bh_enable_ip(SOFTIRQ_LOCK_OFFSET);
}
/**
 * read_lock_irq - disable interrupts on this CPU, then acquire rwlock `lock` shared (many readers, no writer); readers may nest, also from interrupts.
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: code that knows interrupts are enabled (the _irq unlock re-enables them unconditionally). Must not sleep while holding it.
 */
export function read_lock_irq(lock: RwlockT): void {
  local_irq_disable();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_read_lock(lock);
}
/**
 * read_unlock_irq - release rwlock `lock` (read-held) and enable interrupts unconditionally.
 * An unlock of a lock not read-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with read_lock_irq().
 * Context: the holder. Does not sleep.
 */
export function read_unlock_irq(lock: RwlockT): void {
  raw_read_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_enable();
}
/**
 * write_lock_irq - disable interrupts on this CPU, then acquire rwlock `lock` exclusively (one writer, no readers).
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: code that knows interrupts are enabled (the _irq unlock re-enables them unconditionally). Must not sleep while holding it.
 */
export function write_lock_irq(lock: RwlockT): void {
  local_irq_disable();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_write_lock(lock);
}
/**
 * write_unlock_irq - release rwlock `lock` (write-held) and enable interrupts unconditionally.
 * An unlock of a lock not write-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with write_lock_irq().
 * Context: the holder, on the CPU that took it. Does not sleep.
 */
export function write_unlock_irq(lock: RwlockT): void {
  raw_write_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_enable();
}
/**
 * read_lock_irqsave - save the interrupt state, disable interrupts, then acquire rwlock `lock` shared (many readers, no writer); readers may nest, also from interrupts.
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: any, including hardirq. Must not sleep while holding it.
 * @returns the saved flags, for read_unlock_irqrestore().
 */
export function read_lock_irqsave(lock: RwlockT): number {
  const flags = local_irq_save();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_read_lock(lock);
  return flags;
}
/**
 * read_unlock_irqrestore - release rwlock `lock` (read-held) and restore the saved interrupt state.
 * An unlock of a lock not read-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with read_lock_irqsave().
 * @param flags - what read_lock_irqsave() returned.
 * Context: the holder. Does not sleep.
 */
export function read_unlock_irqrestore(lock: RwlockT, flags: number): void {
  raw_read_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_restore(flags);
}
/**
 * write_lock_irqsave - save the interrupt state, disable interrupts, then acquire rwlock `lock` exclusively (one writer, no readers).
 * Spins while it is unavailable; readers are preferred, so a stream of readers can starve a writer.
 * @param lock - the rwlock.
 * Context: any, including hardirq. Must not sleep while holding it.
 * @returns the saved flags, for write_unlock_irqrestore().
 */
export function write_lock_irqsave(lock: RwlockT): number {
  const flags = local_irq_save();
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  raw_write_lock(lock);
  return flags;
}
/**
 * write_unlock_irqrestore - release rwlock `lock` (write-held) and restore the saved interrupt state.
 * An unlock of a lock not write-held is reported (spinlock debug) and ignored.
 * @param lock - the rwlock, taken with write_lock_irqsave().
 * @param flags - what write_lock_irqsave() returned.
 * Context: the holder, on the CPU that took it. Does not sleep.
 */
export function write_unlock_irqrestore(lock: RwlockT, flags: number): void {
  raw_write_unlock(lock);
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  local_irq_restore(flags);
}
/**
 * read_trylock - acquire rwlock `lock` shared if no writer holds it, without spinning.
 * @param lock - the rwlock.
 * Context: any. Does not sleep.
 * @returns 1 if read-acquired (release with read_unlock()), 0 if a writer holds it.
 */
export function read_trylock(lock: RwlockT): number {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  if (try_read(lock)) {
    lockdep_acquire(lock.id, true, true);
    return 1;
  }
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  return 0;
}
/**
 * write_trylock - acquire rwlock `lock` exclusively if it is free, without spinning.
 * @param lock - the rwlock.
 * Context: any. Does not sleep.
 * @returns 1 if write-acquired (release with write_unlock()), 0 if a reader or writer holds it.
 */
export function write_trylock(lock: RwlockT): number {
  i32[PCB + PC_PREEMPT_COUNT]! += 1;
  if (try_write(lock)) {
    lockdep_acquire(lock.id, false, true);
    return 1;
  }
  i32[PCB + PC_PREEMPT_COUNT]! -= 1;
  return 0;
}

/**
 * lock_name - the name lock `id` was declared with (kdefer-only: reports and host readers).
 * @param m - the machine's shared memory (a CPU's or the host's view).
 * @param id - the lock's index in the lock table.
 * Context: any, host side too. Does not sleep.
 * @returns the name given to DEFINE_SPINLOCK()/DEFINE_RWLOCK().
 */
export function lock_name(m: Mem, id: number): string {
  return name_of(m, m.i32[m.lock(id, LK_NAME)]!);
}
