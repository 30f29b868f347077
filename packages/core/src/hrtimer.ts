/**
 * hrtimer.ts — high-resolution timers: per-CPU queues ordered by expiry in
 * nanoseconds of CLOCK_MONOTONIC, hard callbacks from the local timer
 * interrupt, soft ones from HRTIMER_SOFTIRQ.
 *
 * Follows kernel/time/hrtimer.c (hrtimer_setup / __hrtimer_init,
 * hrtimer_start_range_ns, switch_hrtimer_base, lock_hrtimer_base,
 * remove_hrtimer, __run_hrtimer, __hrtimer_run_queues, hrtimer_interrupt,
 * hrtimer_run_softirq, hrtimer_try_to_cancel, hrtimer_cancel,
 * hrtimer_forward, hrtimer_active) and include/linux/hrtimer.h (the modes,
 * HRTIMER_RESTART/NORESTART). Each CPU has a hrtimer_cpu_base in shared
 * memory: a raw lock, two clock bases (hard and soft), each a queue of
 * timers in ascending expiry (a doubly linked list standing in for the
 * kernel's timerqueue rbtree) and its `running` timer, which
 * hrtimer_try_to_cancel and hrtimer_cancel look at.
 *
 * The CPU's clock event is programmed to the earliest expiry (the base's
 * expires_next): tick.ts takes the local timer interrupt when it has come and
 * calls hrtimer_interrupt, which runs the expired hard timers in hardirq
 * context and raises HRTIMER_SOFTIRQ for the expired soft ones. A timer never
 * runs before its expiry; how late it ran is recorded (hrtimer_lateness_ns).
 * An idle CPU sleeps no longer than its next hrtimer.
 *
 * Differs from Linux:
 * - an hrtimer is named: HRTIMER(name) declares the slot (every CPU resolves
 *   the same one), then hrtimer_setup or hrtimer_init + `.function` as in the
 *   kernel. hrtimers are module-declared; they are not embeddable in slab objects.
 * - only CLOCK_MONOTONIC and CLOCK_BOOTTIME (the same clock: kdefer never
 *   suspends); other clocks are refused.
 * - hrtimer_start queues on the calling CPU (or, while the callback runs, on
 *   the base where it runs, as switch_hrtimer_base keeps it); there is no
 *   migration to a busy CPU, so _PINNED changes nothing.
 * - hrtimer_cancel waits on a lockdep map of the timer, as del_timer_sync
 *   does (the kernel's hrtimer has none): cancelling under a lock the callback
 *   takes is reported as the deadlock it is; from the callback itself it is
 *   reported and the machine stops instead of spinning forever.
 * - a callback that returns neither HRTIMER_RESTART nor HRTIMER_NORESTART
 *   (in JavaScript, forgetting the return) warns and does not restart.
 */
import { hex8 } from './printk.js';
import { clock_now } from './clock.js';
import {
  HT_STATE,
  HT_MODE,
  HT_FUNC,
  HT_NAME,
  HT_BASE,
  HT_NEXT,
  HT_PREV,
  HT_RUNS,
  HT_SLOT,
  HT_LOCKDEP,
  HT_EXPIRES,
  HT_LATE,
  HB_LOCK,
  HB_RUNNING_HARD,
  HB_RUNNING_SOFT,
  HB_HEAD_HARD,
  HB_HEAD_SOFT,
  HB_SOFTIRQ_ACTIVATED,
  HB_EXPIRES_NEXT,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_CTX_NAME,
} from './layout.js';
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, registry_resolve, NAME_KIND_OBJECT } from './module.js';
import { printk, KERN_EMERG, KERN_WARNING, WARN, WARN_ON_ONCE, KernelHalt, dump_context, oops_end } from './printk.js';
import { in_interrupt, local_irq_save, local_irq_restore } from './preempt.js';
import { open_softirq, raiseSoftirqNocheck, HRTIMER_SOFTIRQ } from './softirq.js';
import { report_handler_oops, reportWaiterLockup } from './oops.js';
import { SlotTable } from './slot.js';
import { registerUpcalls, registerUpcallChain } from './upcall.js';
import { spin_lockup_ms, rawWordLock, rawWordUnlock } from './spinlock.js';
import { lockdep_depth, lockdep_check_return, lockdep_map, lockdep_enabled, lock_map_acquire, lock_map_release } from './lockdep.js';

// ------------------------------------------------------------ constants

/** enum hrtimer_restart: what a callback returns. */
export const HRTIMER_NORESTART = 0;
export const HRTIMER_RESTART = 1;

/** enum hrtimer_mode (include/linux/hrtimer_defs.h). */
export const HRTIMER_MODE_ABS = 0x00;
export const HRTIMER_MODE_REL = 0x01;
export const HRTIMER_MODE_PINNED = 0x02;
export const HRTIMER_MODE_SOFT = 0x04;
export const HRTIMER_MODE_HARD = 0x08;
export const HRTIMER_MODE_ABS_PINNED = HRTIMER_MODE_ABS | HRTIMER_MODE_PINNED;
export const HRTIMER_MODE_REL_PINNED = HRTIMER_MODE_REL | HRTIMER_MODE_PINNED;
export const HRTIMER_MODE_ABS_SOFT = HRTIMER_MODE_ABS | HRTIMER_MODE_SOFT;
export const HRTIMER_MODE_REL_SOFT = HRTIMER_MODE_REL | HRTIMER_MODE_SOFT;
export const HRTIMER_MODE_ABS_PINNED_SOFT = HRTIMER_MODE_ABS_PINNED | HRTIMER_MODE_SOFT;
export const HRTIMER_MODE_REL_PINNED_SOFT = HRTIMER_MODE_REL_PINNED | HRTIMER_MODE_SOFT;
export const HRTIMER_MODE_ABS_HARD = HRTIMER_MODE_ABS | HRTIMER_MODE_HARD;
export const HRTIMER_MODE_REL_HARD = HRTIMER_MODE_REL | HRTIMER_MODE_HARD;
export const HRTIMER_MODE_ABS_PINNED_HARD = HRTIMER_MODE_ABS_PINNED | HRTIMER_MODE_HARD;
export const HRTIMER_MODE_REL_PINNED_HARD = HRTIMER_MODE_REL_PINNED | HRTIMER_MODE_HARD;
const MODE_ALL = 0x0f;

/** hrtimer state bit (timer->state). */
export const HRTIMER_STATE_INACTIVE = 0x00;
export const HRTIMER_STATE_ENQUEUED = 0x01;

/** clockid_t values accepted by hrtimer_setup. */
export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
export const CLOCK_BOOTTIME = 7;
export const CLOCK_TAI = 11;

/** ktime_t is a signed 64-bit count of nanoseconds; here a JS number of ns. */
export type ktime_t = number;
export const NSEC_PER_USEC = 1000;
export const NSEC_PER_MSEC = 1_000_000;
export const NSEC_PER_SEC = 1_000_000_000;
export const KTIME_MAX = Number.MAX_SAFE_INTEGER;

/**
 * ktime_get - CLOCK_MONOTONIC now, in ns since boot.
 * Context: any.
 * @returns the time in ns.
 */
export function ktime_get(): ktime_t {
  return Math.round((clock_now() - mem.bootTime()) * NSEC_PER_MSEC);
}
/**
 * ktime_set - `secs` s + `nsecs` ns as a ktime_t.
 * Context: any.
 * @returns ns.
 */
export const ktime_set = (secs: number, nsecs: number): ktime_t => secs * NSEC_PER_SEC + nsecs;
/**
 * ms_to_ktime.
 * Context: any.
 * @returns ns.
 */
export const ms_to_ktime = (ms: number): ktime_t => ms * NSEC_PER_MSEC;
/**
 * us_to_ktime.
 * Context: any.
 * @returns ns.
 */
export const us_to_ktime = (us: number): ktime_t => us * NSEC_PER_USEC;
/**
 * ns_to_ktime.
 * Context: any.
 * @returns ns.
 */
export const ns_to_ktime = (ns: number): ktime_t => ns;
/**
 * ktime_add.
 * Context: any.
 * @returns a + b.
 */
export const ktime_add = (a: ktime_t, b: ktime_t): ktime_t => a + b;
/**
 * ktime_add_ns.
 * Context: any.
 * @returns k + ns.
 */
export const ktime_add_ns = (k: ktime_t, ns: number): ktime_t => k + ns;
/**
 * ktime_sub.
 * Context: any.
 * @returns a - b.
 */
export const ktime_sub = (a: ktime_t, b: ktime_t): ktime_t => a - b;
/**
 * ktime_to_ns.
 * Context: any.
 * @returns ns.
 */
export const ktime_to_ns = (k: ktime_t): number => k;
/**
 * ktime_to_us.
 * Context: any.
 * @returns whole µs.
 */
export const ktime_to_us = (k: ktime_t): number => Math.trunc(k / NSEC_PER_USEC);
/**
 * ktime_to_ms.
 * Context: any.
 * @returns whole ms.
 */
export const ktime_to_ms = (k: ktime_t): number => Math.trunc(k / NSEC_PER_MSEC);

export type HrtimerFunc = (timer: Hrtimer) => number;

/** A struct hrtimer: a slot of the shared hrtimer table. */
export class Hrtimer {
  constructor(
    readonly id: number,
    readonly name: string,
  ) {}
  /** timer->function: set it after hrtimer_init (hrtimer_setup sets it). */
  get function(): HrtimerFunc | null {
    const f = i32[ht(this.id, HT_FUNC)]!;
    return f === 0 ? null : ((fn_by_id(f - 1) as HrtimerFunc | undefined) ?? null);
  }
  set function(fn: HrtimerFunc) {
    if (typeof fn !== 'function') throw new KdeferError(`hrtimer ${this.name}: .function must be a function`);
    i32[ht(this.id, HT_FUNC)] = fn_id(fn as (...a: never[]) => unknown, `hrtimer:${this.name}`) + 1;
  }
  /** timer->state: HRTIMER_STATE_ENQUEUED or INACTIVE. */
  get state(): number {
    return Atomics.load(i32, ht(this.id, HT_STATE));
  }
  /** Times the callback ran (kdefer statistics). */
  get runs(): number {
    return Atomics.load(i32, ht(this.id, HT_RUNS));
  }
}
export type hrtimer = Hrtimer;

const ht = (id: number, f: number): number => mem.hrtimer(id, f);
const hb = (cpu: number, f: number): number => mem.hrtimerCpu(cpu, f);
const getF = (w: number): number => mem.f64[w / 2]!;
const setF = (w: number, v: number): void => {
  mem.f64[w / 2] = v;
};
const expiresOf = (id: number): number => getF(ht(id, HT_EXPIRES));
const isSoft = (id: number): boolean => (i32[ht(id, HT_MODE)]! & HRTIMER_MODE_SOFT) !== 0;
const nameOf = (id: number): string => name_of(mem, i32[ht(id, HT_NAME)]!) || `hrtimer#${id}`;

const byId = new Map<number, Hrtimer>();
function hrtimer_by_id(id: number): Hrtimer {
  let t = byId.get(id);
  if (!t) {
    t = new Hrtimer(id, nameOf(id));
    byId.set(id, t);
  }
  return t;
}

/** The shared hrtimer table's slots (slot.ts): claimed through HT_SLOT, never given back. */
const hrtimers = new SlotTable({ what: 'hrtimer', size: 'maxHrtimers', word: (m, id, f) => m.hrtimer(id, f), claim: HT_SLOT, taken: 1 });

function slot_alloc(): number {
  return hrtimers.alloc(0, (id) => Atomics.store(i32, ht(id, HT_BASE), 0));
}

/**
 * HRTIMER - declare the hrtimer named `name` (kdefer-only: every CPU resolves
 * the same slot); set it up with hrtimer_setup (or hrtimer_init + .function).
 * Context: module load.
 * @returns the hrtimer, inactive.
 */
export function HRTIMER(name: string): Hrtimer {
  if (typeof name !== 'string' || name === '') throw new KdeferError('HRTIMER: the argument must be a non-empty name');
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `hrtimer:${name}`, () => ({ value: slot_alloc(), size: 0 }));
  if (e.created) i32[ht(e.value, HT_NAME)] = intern(name);
  return hrtimer_by_id(e.value);
}

function check(t: Hrtimer, who: string): void {
  if (!(t instanceof Hrtimer)) throw new KdeferError(`${who}: not a struct hrtimer (declare one with HRTIMER)`);
}

/**
 * hrtimer_init - initialise `timer` on clock `clock_id` in `mode` (the older
 * name; set `timer.function` afterwards). HRTIMER_MODE_SOFT makes it a soft
 * timer (HRTIMER_SOFTIRQ), otherwise it expires in hardirq context.
 * Context: while the timer is neither queued nor running.
 */
export function hrtimer_init(timer: Hrtimer, clock_id: number, mode: number): void {
  check(timer, 'hrtimer_init');
  if (clock_id !== CLOCK_MONOTONIC && clock_id !== CLOCK_BOOTTIME) {
    throw new KdeferError(`hrtimer_init(${timer.name}): clock ${String(clock_id)} is not supported (CLOCK_MONOTONIC or CLOCK_BOOTTIME)`);
  }
  if (!Number.isInteger(mode) || mode & ~MODE_ALL) throw new KdeferError(`hrtimer_init(${timer.name}): bad mode ${String(mode)}`);
  if (Atomics.load(i32, ht(timer.id, HT_STATE)) & HRTIMER_STATE_ENQUEUED) {
    WARN(true, `hrtimer_init(${timer.name}) on a queued hrtimer`);
    hrtimer_try_to_cancel(timer);
  }
  i32[ht(timer.id, HT_MODE)] = mode;
  if (lockdep_enabled() && i32[ht(timer.id, HT_LOCKDEP)] === 0) i32[ht(timer.id, HT_LOCKDEP)] = lockdep_map(`(&${timer.name})`) + 1;
}

/**
 * hrtimer_setup - initialise `timer` to call `fn(timer)` on clock `clock_id`
 * in `mode` (HRTIMER_MODE_SOFT: from HRTIMER_SOFTIRQ; otherwise hardirq).
 * `fn` returns HRTIMER_RESTART (after hrtimer_forward) or HRTIMER_NORESTART.
 * Context: while the timer is neither queued nor running; `fn` must be seen
 * at module load on every CPU.
 */
export function hrtimer_setup(timer: Hrtimer, fn: HrtimerFunc, clock_id: number, mode: number): void {
  check(timer, 'hrtimer_setup');
  if (typeof fn !== 'function') throw new KdeferError(`hrtimer_setup(${timer.name}): the function is not a function`);
  hrtimer_init(timer, clock_id, mode);
  timer.function = fn;
}

// ------------------------------------------------------------ the base lock and queues

const base_lock = (cpu: number): void => rawWordLock(hb(cpu, HB_LOCK), 'hrtimer base', cpu);
const base_unlock = (cpu: number): void => rawWordUnlock(hb(cpu, HB_LOCK));

/** lock_hrtimer_base: lock the base the timer is on now (it may be migrating: -1). */
function lock_hrtimer_base(id: number): number {
  for (;;) {
    const cpu = Atomics.load(i32, ht(id, HT_BASE));
    if (cpu < 0) {
      cpu_relax();
      continue;
    }
    base_lock(cpu);
    if (Atomics.load(i32, ht(id, HT_BASE)) === cpu) return cpu;
    base_unlock(cpu);
  }
}

const headField = (soft: boolean): number => (soft ? HB_HEAD_SOFT : HB_HEAD_HARD);
const runningField = (soft: boolean): number => (soft ? HB_RUNNING_SOFT : HB_RUNNING_HARD);

/** hrtimer_update_next_event: the earliest expiry of both queues, as clock_now ms. */
function update_next_event_locked(cpu: number): void {
  let next = Infinity;
  const h = i32[hb(cpu, HB_HEAD_HARD)]!;
  if (h !== 0) next = expiresOf(h - 1);
  const s = i32[hb(cpu, HB_HEAD_SOFT)]!;
  if (s !== 0 && i32[hb(cpu, HB_SOFTIRQ_ACTIVATED)] === 0) next = Math.min(next, expiresOf(s - 1));
  setF(hb(cpu, HB_EXPIRES_NEXT), next === Infinity ? Infinity : mem.bootTime() + next / NSEC_PER_MSEC);
}

/** enqueue_hrtimer: insert in ascending expiry, after timers of the same expiry (FIFO). */
function enqueue_locked(cpu: number, id: number): void {
  const head = hb(cpu, headField(isSoft(id)));
  const exp = expiresOf(id);
  let prev = 0;
  let n = i32[head]!;
  while (n !== 0 && expiresOf(n - 1) <= exp) {
    prev = n;
    n = i32[ht(n - 1, HT_NEXT)]!;
  }
  i32[ht(id, HT_NEXT)] = n;
  i32[ht(id, HT_PREV)] = prev;
  if (prev === 0) i32[head] = id + 1;
  else i32[ht(prev - 1, HT_NEXT)] = id + 1;
  if (n !== 0) i32[ht(n - 1, HT_PREV)] = id + 1;
  Atomics.store(i32, ht(id, HT_STATE), HRTIMER_STATE_ENQUEUED);
  update_next_event_locked(cpu);
}

/**
 * __remove_hrtimer: unlink;
 * @returns whether it was queued.
 */
function remove_locked(cpu: number, id: number): boolean {
  if (!(Atomics.load(i32, ht(id, HT_STATE)) & HRTIMER_STATE_ENQUEUED)) return false;
  const head = hb(cpu, headField(isSoft(id)));
  const prev = i32[ht(id, HT_PREV)]!;
  const next = i32[ht(id, HT_NEXT)]!;
  if (prev === 0) i32[head] = next;
  else i32[ht(prev - 1, HT_NEXT)] = next;
  if (next !== 0) i32[ht(next - 1, HT_PREV)] = prev;
  i32[ht(id, HT_NEXT)] = 0;
  i32[ht(id, HT_PREV)] = 0;
  Atomics.store(i32, ht(id, HT_STATE), HRTIMER_STATE_INACTIVE);
  update_next_event_locked(cpu);
  return true;
}

const running_on = (cpu: number, id: number): boolean => i32[hb(cpu, runningField(isSoft(id)))] === id + 1;

// ------------------------------------------------------------ the API

/**
 * hrtimer_start - (re)arm `timer` to expire at `tim` ns (HRTIMER_MODE_ABS, on
 * CLOCK_MONOTONIC) or `tim` ns from now (HRTIMER_MODE_REL); a queued timer is
 * moved. The _SOFT bit must match hrtimer_setup's mode (warned otherwise, as
 * the kernel does). The callback never runs before the expiry.
 * Context: any. Does not sleep.
 */
export function hrtimer_start(timer: Hrtimer, tim: ktime_t, mode: number): void {
  check(timer, 'hrtimer_start');
  if (typeof tim !== 'number' || Number.isNaN(tim)) throw new KdeferError(`hrtimer_start(${timer.name}): the time must be a number of ns`);
  if (!Number.isInteger(mode) || mode & ~MODE_ALL) throw new KdeferError(`hrtimer_start(${timer.name}): bad mode ${String(mode)}`);
  const id = timer.id;
  if (i32[ht(id, HT_FUNC)] === 0) throw new KdeferError(`hrtimer_start(${timer.name}): no function (hrtimer_setup first)`);
  WARN_ON_ONCE(
    ((mode & HRTIMER_MODE_SOFT) !== 0) !== isSoft(id),
    `hrtimer_start(${timer.name}): mode ${isSoft(id) ? 'without' : 'with'} HRTIMER_MODE_SOFT on a ${isSoft(id) ? 'soft' : 'hard'} hrtimer`,
  );
  const flags = local_irq_save();
  let cpu = lock_hrtimer_base(id);
  try {
    remove_locked(cpu, id);
    if (mode & HRTIMER_MODE_REL) tim = tim + ktime_get();
    setF(ht(id, HT_EXPIRES), Math.min(tim, KTIME_MAX));
    // switch_hrtimer_base: to this CPU, unless the callback runs on the old base now.
    if (cpu !== cpuId && !running_on(cpu, id)) {
      Atomics.store(i32, ht(id, HT_BASE), -1);
      base_unlock(cpu);
      cpu = cpuId;
      base_lock(cpu);
      Atomics.store(i32, ht(id, HT_BASE), cpu);
    }
    enqueue_locked(cpu, id);
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
  // Stayed on another CPU's base: ring it, so that it looks at its next event.
  if (cpu !== cpuId) kick_cpu(mem, cpu, 0);
  preempt_point();
}

/**
 * hrtimer_start_expires - (re)arm `timer` at the expiry it holds (after hrtimer_forward).
 * Context: any.
 */
export function hrtimer_start_expires(timer: Hrtimer, mode: number): void {
  hrtimer_start(timer, hrtimer_get_expires(timer), mode & ~HRTIMER_MODE_REL);
}

/**
 * hrtimer_restart - hrtimer_start_expires in HRTIMER_MODE_ABS.
 * Context: any.
 */
export function hrtimer_restart(timer: Hrtimer): void {
  hrtimer_start_expires(timer, isSoft(timer.id) ? HRTIMER_MODE_ABS_SOFT : HRTIMER_MODE_ABS);
}

/**
 * hrtimer_get_expires - the expiry, ns of CLOCK_MONOTONIC.
 * Context: any.
 * @returns ns.
 */
export function hrtimer_get_expires(timer: Hrtimer): ktime_t {
  check(timer, 'hrtimer_get_expires');
  return expiresOf(timer.id);
}

/**
 * hrtimer_set_expires - set the expiry without queueing.
 * Context: the timer is not queued.
 */
export function hrtimer_set_expires(timer: Hrtimer, time: ktime_t): void {
  check(timer, 'hrtimer_set_expires');
  setF(ht(timer.id, HT_EXPIRES), time);
}

/**
 * hrtimer_get_remaining - ns until the expiry (negative: past).
 * Context: any.
 * @returns ns.
 */
export function hrtimer_get_remaining(timer: Hrtimer): ktime_t {
  return hrtimer_get_expires(timer) - ktime_get();
}

/**
 * hrtimer_forward - move the expiry of `timer` forward by whole `interval`s
 * until it is after `now`.
 * Context: the timer is not queued (its callback, or
 * after a cancel).
 * @returns the overrun count: how many intervals were added (0 if the expiry
 * is already after `now`).
 */
export function hrtimer_forward(timer: Hrtimer, now: ktime_t, interval: ktime_t): number {
  check(timer, 'hrtimer_forward');
  const id = timer.id;
  let exp = expiresOf(id);
  const delta = now - exp;
  if (delta < 0) return 0;
  if (WARN((Atomics.load(i32, ht(id, HT_STATE)) & HRTIMER_STATE_ENQUEUED) !== 0, `hrtimer_forward(${timer.name}) on a queued hrtimer`))
    return 0;
  if (!(interval >= 1)) interval = 1; // hrtimer_resolution: 1 ns in high-resolution mode
  let orun = 1;
  if (delta >= interval) {
    orun = Math.floor(delta / interval);
    exp += orun * interval;
    if (exp > now) {
      setF(ht(id, HT_EXPIRES), exp);
      return orun;
    }
    orun++;
  }
  setF(ht(id, HT_EXPIRES), exp + interval);
  return orun;
}

/**
 * hrtimer_forward_now - hrtimer_forward to after the current time.
 * Context: as hrtimer_forward.
 * @returns the overrun count.
 */
export function hrtimer_forward_now(timer: Hrtimer, interval: ktime_t): number {
  return hrtimer_forward(timer, ktime_get(), interval);
}

/**
 * hrtimer_try_to_cancel - dequeue `timer` unless its callback runs now.
 * Context: any. Does not wait.
 * @returns -1 while the callback runs (nothing done), 1 if it was queued
 * (now inactive), 0 if it was inactive.
 */
export function hrtimer_try_to_cancel(timer: Hrtimer): number {
  check(timer, 'hrtimer_try_to_cancel');
  const id = timer.id;
  const flags = local_irq_save();
  const cpu = lock_hrtimer_base(id);
  try {
    if (running_on(cpu, id)) return -1;
    return remove_locked(cpu, id) ? 1 : 0;
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
}

let runningHere = -1; // the hrtimer whose callback runs on this CPU now

/**
 * hrtimer_cancel - dequeue `timer` and wait until its callback is not running.
 * Context: any context that can wait; never from the timer's own callback,
 * never holding a lock the callback takes (each is reported; the first stops
 * the machine). Spins, does not sleep.
 * @returns 1 if it was queued, 0 if not.
 */
export function hrtimer_cancel(timer: Hrtimer): number {
  check(timer, 'hrtimer_cancel');
  const id = timer.id;
  if (runningHere === id) {
    const lines = [
      '============================================',
      'WARNING: possible recursive locking detected',
      '--------------------------------------------',
      `${dump_context().split('\n')[0]}`,
      `is trying to acquire lock:`,
      ` ((&${timer.name})), at: hrtimer_cancel`,
      'but task is already holding lock:',
      ` ((&${timer.name})), at: __run_hrtimer`,
      '',
      ' Possible unsafe locking scenario:',
      '       CPU0',
      '       ----',
      `  lock((&${timer.name}));`,
      `  lock((&${timer.name}));`,
      '',
      ' *** DEADLOCK ***',
      '',
      ` May be due to missing lock nesting notation`,
    ];
    for (const l of lines) printk(KERN_WARNING + l);
    printk(
      KERN_EMERG +
        `BUG: hrtimer_cancel() called from the callback of hrtimer ${timer.name} on CPU#${cpuId}: it would wait for itself forever`,
    );
    return oops_end('hrtimer_cancel from its own callback', in_interrupt());
  }
  // Waiting for the callback "takes" its map: a lock the callback takes, held here, closes a cycle.
  const map = i32[ht(id, HT_LOCKDEP)]! - 1;
  if (map >= 0) {
    const flags = local_irq_save();
    lock_map_acquire(map);
    lock_map_release(map);
    local_irq_restore(flags);
  }
  const t0 = clock_now();
  let spins = 0;
  for (;;) {
    const ret = hrtimer_try_to_cancel(timer);
    if (ret >= 0) return ret;
    cpu_relax();
    if ((++spins & 255) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      const runCpu = Atomics.load(i32, ht(id, HT_BASE));
      return reportWaiterLockup(
        `BUG: hrtimer_cancel() lockup suspected on CPU#${cpuId}: the callback of hrtimer ${timer.name} has run on CPU#${runCpu} for ${Math.round(clock_now() - t0)} ms`,
        'hrtimer_cancel lockup',
      );
    }
  }
}

/**
 * hrtimer_callback_running - whether the callback of `timer` runs now (on any CPU).
 * Context: any.
 * @returns true while it runs.
 */
export function hrtimer_callback_running(timer: Hrtimer): boolean {
  check(timer, 'hrtimer_callback_running');
  const cpu = Atomics.load(i32, ht(timer.id, HT_BASE));
  return cpu >= 0 && Atomics.load(i32, hb(cpu, runningField(isSoft(timer.id)))) === timer.id + 1;
}

/**
 * hrtimer_active - queued, or its callback running.
 * Context: any.
 * @returns true if either.
 */
export function hrtimer_active(timer: Hrtimer): boolean {
  check(timer, 'hrtimer_active');
  return (Atomics.load(i32, ht(timer.id, HT_STATE)) & HRTIMER_STATE_ENQUEUED) !== 0 || hrtimer_callback_running(timer);
}

/**
 * hrtimer_is_queued - queued (HRTIMER_STATE_ENQUEUED).
 * Context: any.
 * @returns true if queued.
 */
export function hrtimer_is_queued(timer: Hrtimer): boolean {
  check(timer, 'hrtimer_is_queued');
  return (Atomics.load(i32, ht(timer.id, HT_STATE)) & HRTIMER_STATE_ENQUEUED) !== 0;
}

/**
 * hrtimer_lateness_ns - kdefer statistics: how late (ns after its expiry)
 * the callback of `timer` last started; never negative.
 * Context: any.
 * @returns ns.
 */
export function hrtimer_lateness_ns(timer: Hrtimer): number {
  check(timer, 'hrtimer_lateness_ns');
  return getF(ht(timer.id, HT_LATE));
}

// ------------------------------------------------------------ expiry

/** __run_hrtimer: dequeue, run the callback with the base lock dropped, requeue on RESTART. */
function run_hrtimer(cpu: number, id: number, now: number, soft: boolean): void {
  const rf = hb(cpu, runningField(soft));
  i32[rf] = id + 1;
  remove_locked(cpu, id);
  setF(ht(id, HT_LATE), Math.max(0, now - expiresOf(id)));
  base_unlock(cpu);
  const fid = i32[ht(id, HT_FUNC)]! - 1;
  const fn = fn_by_id(fid) as HrtimerFunc | undefined;
  const prevRun = runningHere;
  const prevCtx = i32[PCB + PC_CTX_NAME]!;
  runningHere = id;
  i32[PCB + PC_CTX_NAME] = i32[ht(id, HT_NAME)]!;
  const count = i32[PCB + PC_PREEMPT_COUNT]!;
  const map = i32[ht(id, HT_LOCKDEP)]! - 1;
  const held = lockdep_depth();
  if (map >= 0) lock_map_acquire(map);
  // a soft callback runs with interrupts on (hrtimer_run_softirq restores them); a hard one with them off
  if (soft) i32[PCB + PC_IRQS_DISABLED] = 0;
  let restart: unknown = HRTIMER_NORESTART;
  try {
    Atomics.add(i32, ht(id, HT_RUNS), 1);
    if (fn) restart = fn(hrtimer_by_id(id));
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_handler_oops(e, `hrtimer ${nameOf(id)} callback ${fn_name(fid)}`);
  } finally {
    runningHere = prevRun;
    i32[PCB + PC_CTX_NAME] = prevCtx;
  }
  if (map >= 0) lock_map_release(map);
  lockdep_check_return(held, `hrtimer callback ${fn_name(fid)}`);
  if (i32[PCB + PC_PREEMPT_COUNT] !== count) {
    WARN(true, `hrtimer: ${fn_name(fid)} preempt leak: ${hex8(count)} -> ${hex8(i32[PCB + PC_PREEMPT_COUNT]!)}`);
    i32[PCB + PC_PREEMPT_COUNT] = count;
  }
  i32[PCB + PC_IRQS_DISABLED] = 1;
  if (restart !== HRTIMER_RESTART && restart !== HRTIMER_NORESTART) {
    WARN_ON_ONCE(
      true,
      `hrtimer ${nameOf(id)}: callback ${fn_name(fid)} returned ${String(restart)}, not HRTIMER_RESTART or HRTIMER_NORESTART`,
    );
    restart = HRTIMER_NORESTART;
  }
  base_lock(cpu);
  // hrtimer_start from the callback already queued it: leave it there.
  if (restart === HRTIMER_RESTART && !(Atomics.load(i32, ht(id, HT_STATE)) & HRTIMER_STATE_ENQUEUED)) enqueue_locked(cpu, id);
  i32[rf] = 0;
}

/** The most callbacks one pass runs (a callback restarting itself in the past would loop forever). */
const MAX_RUNS_PER_PASS = 10_000;

/** __hrtimer_run_queues for one clock base, lock held. */
function run_queue_locked(cpu: number, soft: boolean, now: number): void {
  const head = hb(cpu, headField(soft));
  let runs = 0;
  for (let h = i32[head]!; h !== 0 && expiresOf(h - 1) <= now; h = i32[head]!) {
    if (++runs > MAX_RUNS_PER_PASS) {
      WARN_ON_ONCE(true, `hrtimer: interrupt ran ${MAX_RUNS_PER_PASS} callbacks (${nameOf(h - 1)} restarted in the past?)`);
      break;
    }
    run_hrtimer(cpu, h - 1, now, soft);
  }
}

/** hrtimer_interrupt: from the local timer interrupt (hardirq, irqs off). */
function hrtimer_interrupt(): void {
  const cpu = cpuId;
  if (i32[hb(cpu, HB_HEAD_HARD)] === 0 && i32[hb(cpu, HB_HEAD_SOFT)] === 0) return;
  const now = ktime_get();
  base_lock(cpu);
  try {
    const s = i32[hb(cpu, HB_HEAD_SOFT)]!;
    if (s !== 0 && i32[hb(cpu, HB_SOFTIRQ_ACTIVATED)] === 0 && expiresOf(s - 1) <= now) {
      i32[hb(cpu, HB_SOFTIRQ_ACTIVATED)] = 1;
      raiseSoftirqNocheck(HRTIMER_SOFTIRQ);
    }
    run_queue_locked(cpu, false, now);
    update_next_event_locked(cpu);
  } finally {
    base_unlock(cpu);
  }
}

/** hrtimer_run_softirq: HRTIMER_SOFTIRQ's action, the expired soft timers of this CPU. */
function hrtimer_run_softirq(): void {
  const cpu = cpuId;
  const flags = local_irq_save();
  base_lock(cpu);
  try {
    const now = ktime_get();
    i32[hb(cpu, HB_SOFTIRQ_ACTIVATED)] = 0;
    run_queue_locked(cpu, true, now);
    update_next_event_locked(cpu);
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
}

/** This CPU's next hrtimer event, clock_now ms (tick.ts asks at each tick check). */
function next_event_ms(): number {
  return getF(hb(cpuId, HB_EXPIRES_NEXT));
}

/**
 * hrtimers_init_cpu - set up this CPU's hrtimer_cpu_base, open HRTIMER_SOFTIRQ
 * and program the local timer interrupt for hrtimers.
 * Context: CPU boot, inside the kernel's open_softirq window.
 */
export function hrtimers_init_cpu(): void {
  runningHere = -1;
  setF(hb(cpuId, HB_EXPIRES_NEXT), Infinity);
  open_softirq(HRTIMER_SOFTIRQ, hrtimer_run_softirq);
  registerUpcalls({ hrtimerNextEvent: next_event_ms, hrtimerInterrupt: hrtimer_interrupt });
  registerUpcallChain('idleTimeout', () => Math.max(0, next_event_ms() - clock_now()));
}
