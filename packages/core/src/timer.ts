/**
 * timer.ts — kernel timers: the per-CPU timer wheel and the timer_list API.
 *
 * Follows kernel/time/timer.c (4.8+ non-cascading wheel, 6.2+ shutdown API)
 * and include/linux/timer.h. Each CPU has a timer base in shared memory: a
 * raw lock, `clk`, `next_expiry`, `running_timer` and LVL_DEPTH levels of 64
 * buckets. A timer is put in the bucket of its level rounded UP to the
 * level's granularity, so it may expire late but never early. The tick
 * (tick.ts) raises TIMER_SOFTIRQ on a CPU whose next_expiry has come;
 * run_timer_softirq runs the expired timers of THAT CPU's base, each with
 * the base lock dropped and running_timer set — which is what
 * del_timer_sync() waits on.
 *
 * Differs from Linux:
 * - mod_timer/add_timer enqueue on the calling CPU's base (or stay on the
 *   base where the function runs now, S-TIME-9); there is no NOHZ timer
 *   migration (S-TIME-19 allows this).
 * - deferrable timers share the wheel; an idle CPU does not wake up for a
 *   base that holds only deferrable timers.
 * - del_timer_sync() that would spin forever (called from the timer's own
 *   function, or waiting longer than spinLockupMs) reports and stops the
 *   machine instead of hanging.
 * - `expires` is kept relative to INITIAL_JIFFIES in a 32-bit word: timers
 *   more than 24 days (at HZ=1000) ahead are clamped.
 */
import { hex8 } from './printk.js';
import { clock_now } from './clock.js';
import {
  type Mem,
  TM_EXPIRES,
  TM_FLAGS,
  TM_FUNC,
  TM_NEXT,
  TM_PREV,
  TM_PENDING,
  TM_BASE,
  TM_NAME,
  TM_STATE,
  TM_OWNER,
  TM_RUNS,
  TM_LOCKDEP,
  TMS_ALLOCATED,
  TMS_INIT,
  TMS_SHUTDOWN,
  TB_LOCK,
  TB_CLK,
  TB_NEXT_EXPIRY,
  TB_NEXT_VALID,
  TB_RUNNING,
  TB_PENDING_COUNT,
  TB_BUCKETS,
  H_TIMERS_USED,
  H_HZ,
  PC_TIMER_CURRENT,
  PC_IRQS_DISABLED,
  PC_TIMERS_RUN,
} from './layout.js';
import { mem, i32, cpuId, PCB, nrCpus, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, registry_resolve, NAME_KIND_OBJECT } from './module.js';
import { printk, KERN_EMERG, KERN_WARNING, WARN, WARN_ON_ONCE, dump_context, oops_end } from './printk.js';
import { in_hardirq, in_interrupt, local_irq_save, local_irq_restore } from './preempt.js';
import { open_softirq, raiseSoftirqNocheck, TIMER_SOFTIRQ } from './softirq.js';
import { run_handler, reportWaiterLockup } from './oops.js';
import { jiffies, tick_update_jiffies, ms_until_jiffy, initial_jiffies, get_jiffies_64 } from './tick.js';
import { registerUpcallChain } from './upcall.js';
import { spin_lockup_ms, rawWordLock, rawWordUnlock } from './spinlock.js';
import { SlotTable } from './slot.js';
import { slab_obj, type SlabObject, type StructFields, registerFieldKind, embeddedStale, embeddedOwnerAlive } from './slab.js';

declare module './slab.js' {
  interface EmbeddedFieldTypes {
    /** a struct timer_list field (init_timers registers the kind) */
    timer_list: TimerList;
  }
  interface SlabObject<F extends StructFields = StructFields> {
    /**
     * The timer_list embedded as `field`. After free the access is reported
     * and the timer handed back carries this (stale) handle as its owner:
     * every timer API then refuses it with a KASAN report of its own, also
     * once the slot went to a new object, whose timer it never touches.
     */
    timer(field: keyof F & string): TimerList;
  }
}
import { trace_event, TP_TIMER_START, TP_TIMER_EXPIRE_ENTRY, TP_TIMER_EXPIRE_EXIT, TP_TIMER_CANCEL } from './trace.js';
import { lockdep_map, lockdep_enabled, lock_map_acquire, lock_map_release } from './lockdep.js';

// ------------------------------------------------------------ tunables

/** TIMER_CPUMASK: the base CPU in a timer's flags. */
export const TIMER_CPUMASK = 0x0003ffff;
export const TIMER_MIGRATING = 0x00040000;
export const TIMER_BASEMASK = TIMER_CPUMASK | TIMER_MIGRATING;
/** TIMER_DEFERRABLE: an idle CPU does not wake up for it. */
export const TIMER_DEFERRABLE = 0x00080000;
/** TIMER_PINNED: stays on the CPU where it was armed. */
export const TIMER_PINNED = 0x00100000;
/** TIMER_IRQSAFE: the function runs with interrupts disabled; del_timer_sync is then legal from hardirq. */
export const TIMER_IRQSAFE = 0x00200000;
export const TIMER_INIT_FLAGS = TIMER_DEFERRABLE | TIMER_PINNED | TIMER_IRQSAFE;
export const TIMER_ARRAYSHIFT = 22;

/** Each level's clock runs 2^LVL_CLK_SHIFT = 8 times slower than the one below. */
export const LVL_CLK_SHIFT = 3;
export const LVL_CLK_DIV = 1 << LVL_CLK_SHIFT;
export const LVL_CLK_MASK = LVL_CLK_DIV - 1;
/** 2^LVL_BITS = 64 buckets per level. */
export const LVL_BITS = 6;
export const LVL_SIZE = 1 << LVL_BITS;
export const LVL_MASK = LVL_SIZE - 1;
/**
 * LVL_SHIFT - the bit shift of wheel level `n`'s granularity.
 * @param n - the level (0 .. LVL_DEPTH - 1).
 * Context: any (pure).
 * @returns n * LVL_CLK_SHIFT.
 */
export const LVL_SHIFT = (n: number): number => n * LVL_CLK_SHIFT;
/**
 * LVL_GRAN - the granularity, in jiffies, of one bucket of wheel level `n`.
 * @param n - the level.
 * Context: any (pure).
 * @returns 1 << LVL_SHIFT(n): 1, 8, 64, ... jiffies.
 */
export const LVL_GRAN = (n: number): number => 1 << LVL_SHIFT(n);
/**
 * LVL_START - the first delta (jiffies from now) that level `n` holds.
 * @param n - the level (>= 1).
 * Context: any (pure).
 * @returns (LVL_SIZE - 1) << ((n - 1) * LVL_CLK_SHIFT).
 */
export const LVL_START = (n: number): number => (LVL_SIZE - 1) * 2 ** ((n - 1) * LVL_CLK_SHIFT);
/**
 * LVL_OFFS - the index of level `n`'s first bucket in the wheel.
 * @param n - the level.
 * Context: any (pure).
 * @returns n * LVL_SIZE.
 */
export const LVL_OFFS = (n: number): number => n * LVL_SIZE;
/**
 * lvl_depth - LVL_DEPTH for a kernel built with `hz` ticks per second.
 * @param hz - the tick rate (boot option hz).
 * Context: any (pure).
 * @returns 9 levels at HZ > 100 (12 days at HZ=1000), 8 otherwise.
 */
export const lvl_depth = (hz: number): number => (hz > 100 ? 9 : 8);

export type TimerFunc = (t: TimerList) => void;

/** A timer_list: a slot of the shared timer table. */
export class TimerList {
  constructor(
    readonly id: number,
    readonly name: string,
    /** the slab object this handle's timer is embedded in (0: none), as the slot had it when the handle was made */
    readonly owner = 0,
  ) {}
  /** Absolute expiry in jiffies (set it before add_timer). */
  get expires(): number {
    return i32[mem.timer(this.id, TM_EXPIRES)]! + initial_jiffies(HZ_());
  }
  set expires(j: number) {
    i32[mem.timer(this.id, TM_EXPIRES)] = clampRel(j - initial_jiffies(HZ_()));
  }
  get flags(): number {
    return i32[mem.timer(this.id, TM_FLAGS)]!;
  }
}
export type timer_list = TimerList;

const HZ_ = (): number => i32[H_HZ]!;
const clampRel = (r: number): number => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.floor(r)));

// ------------------------------------------------------------ state accessors

let DEPTH = 9;
let CUTOFF = 0;
let TIMEOUT_MAX = 0;
let INITIAL = 0;

const tw = (id: number, f: number): number => mem.timer(id, f);
/** The shared timer table's slots (slot.ts): claimed through TM_STATE, owned by the embedding object. */
const timers = new SlotTable({
  what: 'timer',
  size: 'maxTimers',
  word: (m, id, f) => m.timer(id, f),
  claim: TM_STATE,
  taken: TMS_ALLOCATED,
  owner: TM_OWNER,
  used: H_TIMERS_USED,
});
const bw = (cpu: number, f: number): number => mem.timerCpu(cpu, f);
/** jiffies relative to INITIAL_JIFFIES (what the wheel stores). */
const rel = (j: number): number => j - INITIAL;

// One TimerList per slot and name: call_timer_fn hands one to every expiry.
const byId = new Map<number, TimerList>();

/**
 * timer_by_id - the TimerList of timer slot `id` (kdefer-only: handles travel between CPUs as slot numbers).
 * @param id - a slot of the shared timer table.
 * Context: any. Does not sleep.
 * @returns the same TimerList object for the same slot and name; throws a KdeferError if `id` is not a slot.
 */
export function timer_by_id(id: number): TimerList {
  if (!timers.has(id)) throw new KdeferError(`timer: ${id} is not a timer`);
  const name = name_of(mem, i32[tw(id, TM_NAME)]!) || `timer#${id}`;
  const owner = timers.owner(id);
  let t = byId.get(id);
  if (t === undefined || t.name !== name || t.owner !== owner) byId.set(id, (t = new TimerList(id, name, owner)));
  return t;
}

/**
 * kdefer: the timer of a stale handle (slab.ts): one whose slot may since
 * have gone to another object. Every API finds it stale (owner_stale).
 * @param id - the timer slot the handle named.
 * @param owner - the slab object the handle was made for.
 * @returns a TimerList for that slot and owner (slot 0 if `id` is out of range).
 */
export function timerOfStaleHandle(id: number, owner: number): TimerList {
  const ok = timers.has(id);
  return new TimerList(ok ? id : 0, ok ? name_of(mem, i32[tw(id, TM_NAME)]!) || `timer#${id}` : 'timer#stale', owner);
}

// ------------------------------------------------------------ slots

/**
 * timer_slot_alloc - take a free timer slot for a slab object that embeds a timer_list (kdefer-only, slab.ts).
 * @param owner - the handle of the embedding object (from_timer() returns it).
 * Context: any, from the allocator. Does not sleep.
 * @returns the slot; throws a KdeferError naming maxTimers when the table is full.
 */
export function timer_slot_alloc(owner: number): number {
  return timers.alloc(owner, (id) => {
    i32[tw(id, TM_FUNC)] = 0;
    i32[tw(id, TM_PENDING)] = 0;
    i32[tw(id, TM_NAME)] = 0;
    i32[tw(id, TM_LOCKDEP)] = 0;
    Atomics.store(i32, tw(id, TM_RUNS), 0);
    Atomics.store(i32, tw(id, TM_BASE), cpuId);
  });
}

/**
 * timer_slot_release - give a timer slot back once its object left the KASAN quarantine (kdefer-only, slab.ts).
 * @param id - the slot, taken with timer_slot_alloc().
 * Context: the slab allocator. Does not sleep.
 * @returns true if the slot is free again; false, leaving it taken for good, while the timer is pending or its function runs.
 */
export function timer_slot_release(id: number): boolean {
  const cpu = Atomics.load(i32, tw(id, TM_BASE));
  if (i32[tw(id, TM_PENDING)] !== 0 || (cpu >= 0 && cpu < nrCpus && Atomics.load(i32, bw(cpu, TB_RUNNING)) === id + 1)) return false; // leak it
  timers.release(id);
  return true;
}

// ------------------------------------------------------------ internal helpers

const base_lock = (cpu: number): void => rawWordLock(bw(cpu, TB_LOCK), 'timer base', cpu);
const base_unlock = (cpu: number): void => rawWordUnlock(bw(cpu, TB_LOCK));

/** lock_timer_base: lock the base the timer is on now (it may move while we wait). */
function lock_timer_base(id: number): number {
  for (;;) {
    const cpu = Atomics.load(i32, tw(id, TM_BASE));
    base_lock(cpu);
    if (Atomics.load(i32, tw(id, TM_BASE)) === cpu) return cpu;
    base_unlock(cpu);
  }
}

/** The bucket (index into the wheel) of a timer expiring at `expires` (relative), and the bucket's expiry. */
function calc_wheel_index(expires: number, clk: number): [number, number] {
  const delta = expires - clk;
  if (delta < 0) return [clk & LVL_MASK, clk];
  let lvl = 0;
  while (lvl < DEPTH - 1 && delta >= LVL_START(lvl + 1)) lvl++;
  if (lvl === DEPTH - 1 && delta >= CUTOFF) expires = clk + TIMEOUT_MAX;
  // never early: round up to the next granularity boundary of the level
  const shifted = Math.floor(expires / LVL_GRAN(lvl)) + 1;
  return [LVL_OFFS(lvl) + (shifted & LVL_MASK), shifted * LVL_GRAN(lvl)];
}

/**
 * forward_timer_base: a base whose CPU sat idle has a stale clk; bring it up
 * to now (never past its earliest pending bucket) before computing a new
 * timer's bucket, or the timer would land in a coarser level and run late.
 */
function forward_timer_base_locked(cpu: number): void {
  const clk = i32[bw(cpu, TB_CLK)]!;
  const jnow = rel(get_jiffies_64());
  if (jnow - clk <= 0) return;
  let next = jnow;
  if (i32[bw(cpu, TB_NEXT_VALID)] !== 0 && i32[bw(cpu, TB_NEXT_EXPIRY)]! - next < 0) next = i32[bw(cpu, TB_NEXT_EXPIRY)]!;
  if (next - clk > 0) i32[bw(cpu, TB_CLK)] = next;
}

function enqueue_timer_locked(cpu: number, id: number): void {
  forward_timer_base_locked(cpu);
  const clk = i32[bw(cpu, TB_CLK)]!;
  const expires = i32[tw(id, TM_EXPIRES)]!;
  const [idx, bucketExpiry] = calc_wheel_index(expires, clk);
  const head = bw(cpu, TB_BUCKETS + idx);
  const first = i32[head]!;
  i32[tw(id, TM_NEXT)] = first;
  i32[tw(id, TM_PREV)] = 0;
  if (first) i32[tw(first - 1, TM_PREV)] = id + 1;
  i32[head] = id + 1;
  Atomics.store(i32, tw(id, TM_PENDING), idx + 1);
  Atomics.store(i32, tw(id, TM_BASE), cpu);
  i32[tw(id, TM_FLAGS)] = (i32[tw(id, TM_FLAGS)]! & ~TIMER_CPUMASK & ((1 << TIMER_ARRAYSHIFT) - 1)) | cpu | (idx << TIMER_ARRAYSHIFT);
  i32[bw(cpu, TB_PENDING_COUNT)]!++;
  trace_event(TP_TIMER_START, (cpu << 24) | id, i32[tw(id, TM_NAME)]!);
  const wasValid = i32[bw(cpu, TB_NEXT_VALID)] !== 0;
  if (!wasValid || bucketExpiry - i32[bw(cpu, TB_NEXT_EXPIRY)]! < 0) {
    i32[bw(cpu, TB_NEXT_EXPIRY)] = bucketExpiry;
    i32[bw(cpu, TB_NEXT_VALID)] = 1;
    // A parked CPU sleeps until its old next event: let it look again.
    if (cpu !== cpuId) kick_cpu(mem, cpu, 0);
  }
}

function detach_timer_locked(cpu: number, id: number): boolean {
  const idx = Atomics.load(i32, tw(id, TM_PENDING)) - 1;
  if (idx < 0) return false;
  const next = i32[tw(id, TM_NEXT)]!;
  const prev = i32[tw(id, TM_PREV)]!;
  if (prev) i32[tw(prev - 1, TM_NEXT)] = next;
  else i32[bw(cpu, TB_BUCKETS + idx)] = next;
  if (next) i32[tw(next - 1, TM_PREV)] = prev;
  i32[tw(id, TM_NEXT)] = 0;
  i32[tw(id, TM_PREV)] = 0;
  Atomics.store(i32, tw(id, TM_PENDING), 0);
  i32[bw(cpu, TB_PENDING_COUNT)]!--;
  if (i32[bw(cpu, TB_PENDING_COUNT)] === 0) i32[bw(cpu, TB_NEXT_VALID)] = 0;
  return true;
}

/** __next_timer_interrupt: the earliest bucket expiry of the base (relative), or null. */
function next_expiry_locked(cpu: number): number | null {
  if (i32[bw(cpu, TB_PENDING_COUNT)] === 0) return null;
  const clk = i32[bw(cpu, TB_CLK)]!;
  let best: number | null = null;
  for (let lvl = 0; lvl < DEPTH; lvl++) {
    const pos = Math.floor(clk / LVL_GRAN(lvl));
    const start = lvl === 0 ? 0 : 1;
    for (let k = start; k < start + LVL_SIZE; k++) {
      const b = (pos + k) & LVL_MASK;
      if (i32[bw(cpu, TB_BUCKETS + LVL_OFFS(lvl) + b)] !== 0) {
        const e = (pos + k) * LVL_GRAN(lvl);
        if (best === null || e < best) best = e;
        break;
      }
    }
  }
  return best;
}

function check_owner(id: number): boolean {
  return embeddedOwnerAlive(timers.owner(id));
}

/**
 * Whether `t` is a stale handle: its slot now belongs to another object
 * (or to none) than the one it was taken from. One load and a compare; the
 * use is reported as KASAN's use-after-free in `who`, every time, and the
 * slot (the new object's timer) is left alone.
 */
function owner_stale(t: TimerList, who: string): boolean {
  return embeddedStale(timers.owner(t.id), t.owner, who);
}

function check_timer(t: TimerList, who: string): number {
  if (!(t instanceof TimerList)) throw new KdeferError(`${who}: not a timer_list`);
  const st = Atomics.load(i32, tw(t.id, TM_STATE));
  if (!(st & TMS_INIT)) {
    throw new KdeferError(`${who}: timer '${t.name}' was never set up (call timer_setup() or DEFINE_TIMER first)`);
  }
  return st;
}

// ------------------------------------------------------------ the core loop

// The timer whose function runs now on this CPU (call_timer_fn's lockdep map).
let runningHere = -1;

/** call_timer_fn: run one expired timer's function, the base lock dropped. */
function call_timer_fn(cpu: number, id: number): void {
  const fid = i32[tw(id, TM_FUNC)]! - 1;
  const fn = fn_by_id(fid) as TimerFunc | undefined;
  const irqsafe = (i32[tw(id, TM_FLAGS)]! & TIMER_IRQSAFE) !== 0;
  Atomics.store(i32, bw(cpu, TB_RUNNING), id + 1);
  base_unlock(cpu);
  const prevRunning = runningHere;
  runningHere = id;
  i32[PCB + PC_TIMER_CURRENT] = id + 1;
  const map = i32[tw(id, TM_LOCKDEP)]! - 1;
  // irqs are enabled while the function runs, except for TIMER_IRQSAFE timers
  try {
    run_handler(
      () => {
        // the timer's lockdep map is held around the function (del_timer_sync's check)
        if (map >= 0) lock_map_acquire(map);
        trace_event(TP_TIMER_EXPIRE_ENTRY, id, i32[tw(id, TM_NAME)]!);
        if (!irqsafe) i32[PCB + PC_IRQS_DISABLED] = 0;
        // An interrupt (or, in deterministic mode, another CPU) may come in
        // between the base lock's release and the function's first statement.
        preempt_point();
        try {
          i32[PCB + PC_TIMERS_RUN]!++;
          Atomics.add(i32, tw(id, TM_RUNS), 1);
          if (fn) fn(timer_by_id(id));
        } finally {
          trace_event(TP_TIMER_EXPIRE_EXIT, id, i32[tw(id, TM_NAME)]!);
          if (map >= 0) lock_map_release(map);
        }
      },
      () => `timer ${name_of(mem, i32[tw(id, TM_NAME)]!) || `#${id}`} function ${fn_name(fid)}`,
      `timer function ${fn_name(fid)}`,
      (entry, exit) => WARN(true, `timer: ${fn_name(fid)} preempt leak: ${hex8(entry)} -> ${hex8(exit)}`),
    );
  } finally {
    runningHere = prevRunning;
    i32[PCB + PC_TIMER_CURRENT] = prevRunning + 1;
  }
  i32[PCB + PC_IRQS_DISABLED] = 1;
  base_lock(cpu);
  Atomics.store(i32, bw(cpu, TB_RUNNING), 0);
}

/** __run_timers: run every timer of this CPU's base whose bucket has expired. */
function __run_timers(): void {
  const cpu = cpuId;
  const now = rel(tick_update_jiffies());
  const flags = local_irq_save();
  base_lock(cpu);
  try {
    for (;;) {
      const next = next_expiry_locked(cpu);
      if (next === null) {
        i32[bw(cpu, TB_CLK)] = Math.max(i32[bw(cpu, TB_CLK)]!, now + 1);
        i32[bw(cpu, TB_NEXT_VALID)] = 0;
        break;
      }
      if (now - next < 0) {
        i32[bw(cpu, TB_NEXT_EXPIRY)] = next;
        i32[bw(cpu, TB_NEXT_VALID)] = 1;
        if (now + 1 - i32[bw(cpu, TB_CLK)]! > 0 && now + 1 <= next) i32[bw(cpu, TB_CLK)] = now + 1;
        break;
      }
      // collect_expired_timers at clk = next
      let clk = next;
      const lists: number[] = [];
      for (let lvl = 0; lvl < DEPTH; lvl++) {
        const idx = LVL_OFFS(lvl) + (clk & LVL_MASK);
        const h = i32[bw(cpu, TB_BUCKETS + idx)]!;
        if (h !== 0) lists.push(idx);
        if (clk & LVL_CLK_MASK) break;
        clk = Math.floor(clk / LVL_CLK_DIV);
      }
      i32[bw(cpu, TB_CLK)] = next + 1;
      for (const idx of lists) {
        // expire_timers: detach each, run it with the lock dropped
        for (let h = i32[bw(cpu, TB_BUCKETS + idx)]!; h !== 0; h = i32[bw(cpu, TB_BUCKETS + idx)]!) {
          const id = h - 1;
          detach_timer_locked(cpu, id);
          if (i32[tw(id, TM_FUNC)] === 0) continue; // shut down while queued
          call_timer_fn(cpu, id);
        }
      }
    }
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
}

/**
 * run_timer_softirq - TIMER_SOFTIRQ's action: expire this CPU's due timers
 * (era/boot.ts wraps it for the eras that ran timers from TIMER_BH).
 * Context: softirq context on this CPU. Does not sleep.
 */
export function run_timer_softirq(): void {
  __run_timers();
}

/** run_local_timers: from the tick (hardirq), raise TIMER_SOFTIRQ if this base has a timer due. */
function run_local_timers(): void {
  const base = bw(cpuId, 0);
  if (i32[base + TB_NEXT_VALID] !== 0 && rel(jiffies) - i32[base + TB_NEXT_EXPIRY]! >= 0) raiseSoftirqNocheck(TIMER_SOFTIRQ);
}

/** How long this CPU may sleep before its next (non-deferrable) timer. */
function idle_timeout_ms(): number {
  const base = bw(cpuId, 0);
  if (i32[base + TB_NEXT_VALID] === 0) return Infinity;
  return ms_until_jiffy(i32[base + TB_NEXT_EXPIRY]! + INITIAL);
}

// ------------------------------------------------------------ the API

function alloc_named(name: string): number {
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `timer:${name}`, () => ({ value: timer_slot_alloc(0), size: 0 }));
  if (e.created) i32[tw(e.value, TM_NAME)] = intern(name);
  return e.value;
}

/**
 * timer_setup - initialise timer `t` to call `fn(t)` on expiry; must precede any other use (S-TIME-3).
 * @param t - the timer.
 * @param fn - the timer function; it runs in TIMER_SOFTIRQ on the timer's base CPU.
 * @param flags - TIMER_DEFERRABLE | TIMER_PINNED | TIMER_IRQSAFE (others are refused with a clear error).
 * Context: any; `fn` must have been seen at module load on every CPU. The timer must not be pending. Does not sleep.
 */
export function timer_setup(t: TimerList, fn: TimerFunc, flags: number): void {
  if (flags & ~TIMER_INIT_FLAGS)
    throw new KdeferError(`timer_setup(${t.name}): flags 0x${(flags & ~TIMER_INIT_FLAGS).toString(16)} may not be passed`);
  if (owner_stale(t, 'timer_setup')) return;
  const id = t.id;
  if (!(Atomics.load(i32, tw(id, TM_STATE)) & TMS_ALLOCATED)) throw new KdeferError(`timer_setup: timer ${id} is not allocated`);
  const fid = fn_id(fn as (...a: never[]) => unknown, `timer:${t.name}`) + 1;
  const cpu = lock_timer_base(id);
  try {
    if (i32[tw(id, TM_PENDING)] !== 0) detach_timer_locked(cpu, id);
    i32[tw(id, TM_FUNC)] = fid;
    i32[tw(id, TM_FLAGS)] = flags | cpuId;
    if (lockdep_enabled()) i32[tw(id, TM_LOCKDEP)] = lockdep_map(`(&${t.name.startsWith('timer#') ? fn_name(fid - 1) : t.name})`) + 1;
    Atomics.store(i32, tw(id, TM_BASE), cpu);
    Atomics.and(i32, tw(id, TM_STATE), ~TMS_SHUTDOWN);
    Atomics.or(i32, tw(id, TM_STATE), TMS_INIT);
  } finally {
    base_unlock(cpu);
  }
}

/**
 * DEFINE_TIMER - declare the timer named `name` (the same on every CPU) and set it up.
 * @param name - the timer's name (reports and traces use it).
 * @param fn - the timer function.
 * @param flags - as timer_setup().
 * Context: module load. Does not sleep.
 * @returns the timer, not pending.
 */
export function DEFINE_TIMER(name: string, fn: TimerFunc, flags = 0): TimerList {
  const t = new TimerList(alloc_named(name), name);
  const fid = fn_id(fn as (...a: never[]) => unknown, `timer:${name}`) + 1;
  if (!(Atomics.load(i32, tw(t.id, TM_STATE)) & TMS_INIT)) timer_setup(t, fn, flags);
  else if (i32[tw(t.id, TM_FUNC)] !== fid && i32[tw(t.id, TM_FUNC)] !== 0)
    throw new KdeferError(`DEFINE_TIMER(${name}): declared twice with different functions`);
  return t;
}

/**
 * from_timer / timer_container_of - the slab object that embeds `t`.
 * @param t - a timer embedded in a slab object (a 'timer_list' field).
 * Context: any, typically the timer function. Does not sleep.
 * @returns the embedding object; throws a KdeferError if `t` is not embedded in one.
 */
export function from_timer<F extends StructFields>(t: TimerList): SlabObject<F> {
  // the handle's own object (a stale handle's is freed: its accesses report), never the slot's new owner
  const owner = t.owner;
  if (owner === 0) throw new KdeferError(`from_timer(${t.name}): this timer is not embedded in a slab object`);
  return slab_obj<F>(owner);
}
export const timer_container_of = from_timer;

/**
 * timer_pending - whether `t` is queued on some base (S-TIME-4).
 * @param t - the timer.
 * Context: any; a snapshot unless the caller serialises with every arming path. Does not sleep.
 * @returns true if pending; false if not, also while its function runs unless it re-armed itself.
 */
export function timer_pending(t: TimerList): boolean {
  return Atomics.load(i32, tw(t.id, TM_PENDING)) !== 0;
}

function __mod_timer(t: TimerList, expires: number, mode: 'mod' | 'pending' | 'reduce', cpuOn = -1): number {
  preempt_point();
  if (!(t instanceof TimerList)) throw new KdeferError(`mod_timer: not a timer_list`);
  if (owner_stale(t, mode === 'mod' ? 'mod_timer' : mode === 'pending' ? 'mod_timer_pending' : 'timer_reduce')) return 0;
  check_timer(t, 'mod_timer');
  const id = t.id;
  if (!check_owner(id)) return 0;
  const flags = local_irq_save();
  let cpu = lock_timer_base(id);
  try {
    // timer_shutdown: function is NULL, arming is silently ignored
    if (i32[tw(id, TM_FUNC)] === 0) return 0;
    const r = clampRel(rel(expires));
    const pending = i32[tw(id, TM_PENDING)] !== 0;
    if (mode === 'pending' && !pending) return 0;
    if (pending && cpuOn < 0) {
      if (i32[tw(id, TM_EXPIRES)] === r) return 1;
      if (mode === 'reduce' && r - i32[tw(id, TM_EXPIRES)]! >= 0) return 1;
    }
    const ret = detach_timer_locked(cpu, id) ? 1 : 0;
    // A timer whose function runs now stays on that base (S-TIME-9).
    let target = cpuOn >= 0 ? cpuOn : cpuId;
    if (cpuOn < 0 && Atomics.load(i32, bw(cpu, TB_RUNNING)) === id + 1) target = cpu;
    if (target !== cpu) {
      Atomics.store(i32, tw(id, TM_BASE), target);
      base_unlock(cpu);
      cpu = target;
      base_lock(cpu);
    }
    i32[tw(id, TM_EXPIRES)] = r;
    enqueue_timer_locked(cpu, id);
    return ret;
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
}

/**
 * mod_timer - (re)arm `t` to expire at `expires` (absolute jiffies), as one atomic del + add (S-TIME-7).
 * @param t - the timer, set up.
 * @param expires - the absolute expiry in jiffies.
 * Context: any; takes the timer base lock with interrupts disabled. Does not sleep.
 * The one safe way to re-arm a timer that several contexts touch.
 * @returns 0 if the timer was inactive (or shut down: then nothing happens),
 *          1 if it was pending and has been modified.
 */
export function mod_timer(t: TimerList, expires: number): number {
  return __mod_timer(t, expires, 'mod');
}

/**
 * mod_timer_pending - modify the expiry of `t` only if it is pending; an inactive timer is not started (S-TIME-8).
 * @param t - the timer, set up.
 * @param expires - the new absolute expiry in jiffies.
 * Context: any; takes the timer base lock with interrupts disabled. Does not sleep.
 * @returns 1 if it was pending and has been modified, 0 if it was not pending (or shut down): nothing done.
 */
export function mod_timer_pending(t: TimerList, expires: number): number {
  return __mod_timer(t, expires, 'pending');
}

/**
 * timer_reduce - start `t` at `expires`, or move a pending `t` earlier; a pending timer is never moved later.
 * @param t - the timer, set up.
 * @param expires - the absolute expiry in jiffies.
 * Context: any; takes the timer base lock with interrupts disabled. Does not sleep.
 * @returns 0 if the timer was inactive (now started) or shut down (nothing done);
 *          1 if it was pending (moved earlier, or left where it was because it already expires sooner).
 */
export function timer_reduce(t: TimerList, expires: number): number {
  return __mod_timer(t, expires, 'reduce');
}

/**
 * add_timer - start `t` at its `expires` on this CPU's base (S-TIME-5).
 * @param t - the timer, set up and not pending (WARN otherwise, and nothing is done).
 * Context: any. Does not sleep.
 */
export function add_timer(t: TimerList): void {
  if (WARN_ON_ONCE(timer_pending(t), `add_timer: timer ${t.name} is already pending`)) return;
  __mod_timer(t, t.expires, 'mod');
}

/**
 * add_timer_on - start `t` on CPU `cpu`'s base: its function runs in that CPU's TIMER softirq (S-TIME-6).
 * @param t - the timer, set up and not pending.
 * @param cpu - the CPU whose base gets it (a bad CPU is a clear error).
 * Context: any. Does not sleep.
 */
export function add_timer_on(t: TimerList, cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= nrCpus) throw new KdeferError(`add_timer_on(${t.name}): CPU ${cpu} does not exist`);
  if (WARN_ON_ONCE(timer_pending(t), `add_timer_on: timer ${t.name} is already pending`)) return;
  __mod_timer(t, t.expires, 'mod', cpu);
}

/**
 * Deactivate `t` under its base lock; with `unlessRunning`, leave it alone
 * and return -1 while its function runs (try_to_del_timer_sync).
 */
function __try_to_del(t: TimerList, shutdown: boolean, unlessRunning: boolean): number {
  preempt_point();
  const who = shutdown ? 'timer_shutdown' : unlessRunning ? 'try_to_del_timer_sync' : 'del_timer';
  if (!(t instanceof TimerList)) throw new KdeferError(`${who}: not a timer_list`);
  if (owner_stale(t, who)) return 0;
  check_timer(t, who);
  const id = t.id;
  check_owner(id);
  const flags = local_irq_save();
  const cpu = lock_timer_base(id);
  try {
    if (unlessRunning && Atomics.load(i32, bw(cpu, TB_RUNNING)) === id + 1) return -1;
    const ret = detach_timer_locked(cpu, id) ? 1 : 0;
    if (ret) trace_event(TP_TIMER_CANCEL, id, i32[tw(id, TM_NAME)]!);
    if (shutdown) {
      i32[tw(id, TM_FUNC)] = 0;
      Atomics.or(i32, tw(id, TM_STATE), TMS_SHUTDOWN);
    }
    return ret;
  } finally {
    base_unlock(cpu);
    local_irq_restore(flags);
  }
}

function __timer_delete(t: TimerList, shutdown: boolean): number {
  return __try_to_del(t, shutdown, false);
}

/**
 * del_timer / timer_delete - deactivate `t` if pending (S-TIME-10). Does NOT wait for its
 * function running on another CPU, and does not stop a later re-arm.
 * @param t - the timer.
 * Context: any. Does not sleep.
 * @returns 1 if it was pending, 0 if not.
 */
export function timer_delete(t: TimerList): number {
  return __timer_delete(t, false);
}
export const del_timer = timer_delete;

/**
 * try_to_del_timer_sync / timer_delete_sync_try - deactivate `t` unless its function runs now (S-TIME-11).
 * @param t - the timer.
 * @param shutdown - kdefer-internal: also make later arming a no-op (timer_shutdown_sync's loop).
 * Context: any. Does not sleep or wait.
 * @returns -1 if the function is running on some CPU (nothing done), 1 if it was pending and is now deactivated, 0 if it was not pending.
 */
export function try_to_del_timer_sync(t: TimerList, shutdown = false): number {
  return __try_to_del(t, shutdown, true);
}
export const timer_delete_sync_try = try_to_del_timer_sync;

function __timer_delete_sync(t: TimerList, shutdown: boolean): number {
  const who = shutdown ? 'timer_shutdown_sync' : 'del_timer_sync';
  if (!(t instanceof TimerList)) throw new KdeferError(`${who}: not a timer_list`);
  if (owner_stale(t, who)) return 0;
  check_timer(t, who);
  const id = t.id;
  // S-TIME-13(c): not from hardirq unless TIMER_IRQSAFE
  WARN(
    in_hardirq() && !(i32[tw(id, TM_FLAGS)]! & TIMER_IRQSAFE),
    `${who}(${t.name}) from hardirq context on a timer without TIMER_IRQSAFE`,
  );
  // S-TIME-13(a): from the timer's own function it would spin forever
  if (runningHere === id || i32[PCB + PC_TIMER_CURRENT] === id + 1) {
    const lines = [
      '============================================',
      'WARNING: possible recursive locking detected',
      '--------------------------------------------',
      `${dump_context().split('\n')[0]}`,
      `is trying to acquire lock:`,
      ` ((&${t.name})), at: ${who}`,
      'but task is already holding lock:',
      ` ((&${t.name})), at: call_timer_fn`,
      '',
      ' Possible unsafe locking scenario:',
      '       CPU0',
      '       ----',
      `  lock((&${t.name}));`,
      `  lock((&${t.name}));`,
      '',
      ' *** DEADLOCK ***',
      '',
      ` May be due to missing lock nesting notation`,
    ];
    for (const l of lines) printk(KERN_WARNING + l);
    printk(KERN_EMERG + `BUG: ${who}() called from the function of timer ${t.name} on CPU#${cpuId}: it would wait for itself forever`);
    return oops_end(`${who} from its own timer function`, in_interrupt());
  }
  // S-TIME-13(b): waiting for the function is "taking" its map: a lock the
  // function takes, held here, closes a cycle the validator reports.
  const map = i32[tw(id, TM_LOCKDEP)]! - 1;
  if (map >= 0) {
    // with interrupts off, as the kernel does: the map is also taken in softirq context
    const flags = local_irq_save();
    lock_map_acquire(map);
    lock_map_release(map);
    local_irq_restore(flags);
  }
  const t0 = clock_now();
  let spins = 0;
  for (;;) {
    const ret = try_to_del_timer_sync(t, shutdown);
    if (ret >= 0) return ret;
    cpu_relax();
    if ((++spins & 255) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      const runCpu = Atomics.load(i32, tw(id, TM_BASE));
      return reportWaiterLockup(
        `BUG: ${who}() lockup suspected on CPU#${cpuId}: the function of timer ${t.name} has run on CPU#${runCpu} for ${Math.round(clock_now() - t0)} ms`,
        `${who} lockup`,
      );
    }
  }
}

/**
 * del_timer_sync / timer_delete_sync - deactivate `t` and wait until its
 * function is not running on any CPU (S-TIME-13).
 * @param t - the timer.
 * Context: any context that can wait: never from the timer's own function,
 * never while holding a lock the function takes, never from hardirq unless
 * TIMER_IRQSAFE (each is reported; a wait that cannot end stops the machine).
 * Spins, it does not sleep. A function that re-arms its timer can still re-arm it:
 * use timer_shutdown_sync for teardown.
 * @returns 1 if it was pending, 0 if not.
 */
export function timer_delete_sync(t: TimerList): number {
  return __timer_delete_sync(t, false);
}
export const del_timer_sync = timer_delete_sync;

/**
 * timer_shutdown - deactivate `t` and make every later arming a no-op until timer_setup() (S-TIME-12).
 * Does not wait for a running function.
 * @param t - the timer.
 * Context: any. Does not sleep.
 * @returns 1 if it was pending, 0 if not.
 */
export function timer_shutdown(t: TimerList): number {
  return __timer_delete(t, true);
}

/**
 * timer_shutdown_sync - as timer_delete_sync, and arming `t` is ignored
 * afterwards until timer_setup() again: the teardown API (S-TIME-12).
 * @param t - the timer.
 * Context: as timer_delete_sync.
 * @returns 1 if it was pending, 0 if not.
 */
export function timer_shutdown_sync(t: TimerList): number {
  return __timer_delete_sync(t, true);
}

/**
 * How many times `t`'s function ran.
 * @param t - the timer.
 * @returns the run count (an Atomics.load of the shared word).
 */
export function timerRuns(t: TimerList): number {
  return Atomics.load(i32, tw(t.id, TM_RUNS));
}

/**
 * Host side: the pending state, base CPU and run count of timer slot `id`.
 * @param m - the machine's memory.
 * @param id - the timer slot.
 * @returns pending, the base CPU it is queued on (or last was), its run count.
 */
export function hostTimerInfo(m: Mem, id: number): { pending: boolean; base: number; runs: number } {
  return {
    pending: Atomics.load(m.i32, m.timer(id, TM_PENDING)) !== 0,
    base: Atomics.load(m.i32, m.timer(id, TM_BASE)),
    runs: Atomics.load(m.i32, m.timer(id, TM_RUNS)),
  };
}

/**
 * init_timers - set up this CPU's timer base and open TIMER_SOFTIRQ's action.
 * Context: CPU boot, once per CPU, before any timer is armed on it. Does not sleep.
 */
export function init_timers(): void {
  const hz = i32[H_HZ]!;
  DEPTH = lvl_depth(hz);
  CUTOFF = LVL_START(DEPTH);
  TIMEOUT_MAX = CUTOFF - LVL_GRAN(DEPTH - 1);
  INITIAL = initial_jiffies(hz);
  const b = bw(cpuId, 0);
  i32[b + TB_CLK] = rel(jiffies);
  open_softirq(TIMER_SOFTIRQ, run_timer_softirq);
  registerUpcallChain('tick', run_local_timers);
  registerUpcallChain('idleTimeout', idle_timeout_ms);
  registerFieldKind('timer_list', {
    accessor: 'timer',
    alloc: (owner) => timer_slot_alloc(owner),
    release: (id) => void timer_slot_release(id),
    lookup: (id, obj, _field, freed) => (freed ? timerOfStaleHandle(id, obj.handle) : timer_by_id(id)),
  });
}
