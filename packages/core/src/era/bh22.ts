/**
 * era/bh22.ts — Linux 2.2's old-style bottom halves (era '2.2').
 *
 * Follows 2.2.1's kernel/softirq.c (do_bottom_half, run_bottom_halves) and
 * include/asm-i386/softirq.h (init_bh, remove_bh, mark_bh, disable_bh,
 * enable_bh, start_bh_atomic, end_bh_atomic, synchronize_bh), as
 * shared/history.md reads them (H-22-2..H-22-6; the 2.2.1 tree is not in
 * kdefer's source index, so these rest on history.md's [T22]).
 *
 * 32 routines without an argument; `bh_active` (marked bits) and `bh_mask`
 * (enabled bits) are machine-wide words: mark_bh records no CPU. Whoever
 * gets to run bottom halves takes `global_bh_count` (one CPU on the whole
 * machine, for all 32 together) and needs `global_bh_lock` (the
 * start_bh_atomic counter) at 0; it snapshots `bh_active & bh_mask`,
 * clears those bits and calls the routines in bit order, TIMER_BH first.
 * A CPU that fails the trylock runs nothing and leaves the bits set.
 *
 *   CPU0                                CPU1
 *   irq exit: do_bottom_half            hardirq: mark_bh(NET_BH)
 *     global_bh_count taken             irq exit: do_bottom_half
 *     net_bh() ...                        global_bh_count taken: nothing runs
 *     global_bh_count released            (NET_BH stays set in bh_active)
 *     bh_active & bh_mask != 0: again   CPU1 goes on with its own work
 *     net_bh()
 *
 * Differs from Linux 2.2:
 * - run points: do_bottom_half is the action of HI_SOFTIRQ, which mark_bh
 *   raises on the marking CPU, so it runs at that CPU's interrupt exit (or
 *   from its ksoftirqd when marked from process context, where 2.2 ran it at
 *   ret_from_sys_call); schedule() runs it as in 2.2 (era/boot.ts). 2.2 left
 *   bits that found the lock taken for "next time around" — the next irq
 *   exit anywhere, at most a jiffy away since do_timer marks TIMER_BH every
 *   tick; kdefer's idle CPUs take no tick, so the CPU that releases
 *   global_bh_count looks again and runs what was marked meanwhile.
 * - no hardirq_trylock: kdefer has no global cli(), and a CPU in a hardirq
 *   handler does not hold off another CPU's bottom halves.
 * - a routine that throws is reported as an Oops; global_bh_count is released.
 * - timers: 2.2 ran one global wheel from TIMER_BH; kdefer keeps its per-CPU
 *   timer bases and makes each CPU's expiry pass take global_bh_count
 *   (bh22_timer_action), which gives 2.2's exclusion — one timer function at
 *   a time machine-wide, never beside another bottom half — with a busy
 *   retry where 2.2 had one CPU run everybody's timers.
 */
import { KdeferError, loading, shared_int32 } from '../module.js';
import { cpuId } from '../smp.js';
import { in_interrupt, local_irq_save, local_irq_restore } from '../preempt.js';
import { cpu_relax } from '../entry.js';
import {
  raiseSoftirqNocheck,
  __raise_softirq_irqoff,
  do_softirq,
  HI_SOFTIRQ,
  TIMER_SOFTIRQ,
  open_softirq,
  softirq_kernel_init,
} from '../softirq.js';
import { run_handler } from '../oops.js';
import { WARN_ONCE } from '../printk.js';

/** The 32 slots of bh_base (one bit each in bh_active / bh_mask). */
export const NR_BH = 32;

/** 2.2.1's bottom halves (include/linux/interrupt.h, H-22-1), in number order. */
export const BH22_NAMES = [
  'TIMER_BH',
  'CONSOLE_BH',
  'TQUEUE_BH',
  'DIGI_BH',
  'SERIAL_BH',
  'RISCOM8_BH',
  'SPECIALIX_BH',
  'ESP_BH',
  'NET_BH',
  'SCSI_BH',
  'IMMEDIATE_BH',
  'KEYBOARD_BH',
  'CYCLADES_BH',
  'CM206_BH',
  'JS_BH',
  'MACSERIAL_BH',
  'ISICOM_BH',
] as const;

// The machine-wide words (shared array 'era.bh22').
const W_ACTIVE = 0; //        A  bh_active: marked bits
const W_MASK = 1; //          A  bh_mask: enabled bits
const W_RUNNING = 2; //       A  global_bh_count: CPU + 1 running bottom halves, 0 none
const W_ATOMIC = 3; //        A  global_bh_lock: start_bh_atomic nesting, machine-wide
const W_BUSY = 4; //          A  do_bottom_half found global_bh_count or global_bh_lock taken
const W_PASSES = 5; //        A  run_bottom_halves passes
const W_INSIDE = 6; //        A  CPUs inside a routine (the exclusion check)
const W_OVERLAP = 7; //       A  a routine started while another ran (must stay 0)
const W_TIMER_BUSY = 8; //    A  timer expiry found global_bh_count taken (retried)
const W_TIMER_RUNS = 9; //    A  timer expiry passes run as TIMER_BH
const W_MASK_COUNT = 32; //   A  bh_mask_count[32]: disable_bh nesting
const W_RUNS = 64; //         A  runs per bottom half
const BH22_WORDS = 96;

export type BhRoutine = () => void;

let st: Int32Array = new Int32Array(BH22_WORDS);
const bh_base: (BhRoutine | null)[] = new Array<BhRoutine | null>(NR_BH).fill(null);

function check_nr(nr: number, who: string): void {
  if (!Number.isInteger(nr) || nr < 0 || nr >= NR_BH)
    throw new KdeferError(`${who}: bottom half ${String(nr)} does not exist (0-${NR_BH - 1})`);
}

/** Whether anything marked is enabled (2.2's get_active_bhs() != 0). */
function bh_pending(): boolean {
  return (Atomics.load(st, W_ACTIVE) & Atomics.load(st, W_MASK)) !== 0;
}

/** softirq_trylock: global_bh_count, then global_bh_lock must be 0 (H-22-5). */
function softirq_trylock(): boolean {
  if (Atomics.compareExchange(st, W_RUNNING, 0, cpuId + 1) !== 0) return false;
  if (Atomics.load(st, W_ATOMIC) === 0) return true;
  Atomics.store(st, W_RUNNING, 0);
  return false;
}

/** run_bottom_halves: snapshot and clear the active-and-enabled bits, call them in bit order. */
function run_bottom_halves(): void {
  const active = Atomics.load(st, W_ACTIVE) & Atomics.load(st, W_MASK);
  Atomics.and(st, W_ACTIVE, ~active);
  Atomics.add(st, W_PASSES, 1);
  let bits = active;
  while (bits !== 0) {
    const nr = 31 - Math.clz32(bits & -bits);
    bits &= bits - 1;
    const routine = bh_base[nr];
    if (!routine) continue;
    if (Atomics.add(st, W_INSIDE, 1) !== 0) Atomics.add(st, W_OVERLAP, 1);
    Atomics.add(st, W_RUNS + nr, 1);
    try {
      run_handler(routine, () => `bottom half ${nr} (${BH22_NAMES[nr] ?? 'unnamed'})`, `bottom half ${BH22_NAMES[nr] ?? nr}`);
    } finally {
      Atomics.sub(st, W_INSIDE, 1);
    }
  }
}

/**
 * do_bottom_half - run the marked bottom halves if no other CPU runs any and
 * nobody is inside start_bh_atomic; otherwise leave them marked.
 * Context: HI_SOFTIRQ's action in era 2.2 (softirq context). Does not sleep.
 */
function do_bottom_half(): void {
  if (!softirq_trylock()) {
    Atomics.add(st, W_BUSY, 1);
    return;
  }
  try {
    run_bottom_halves();
  } finally {
    Atomics.store(st, W_RUNNING, 0);
  }
  // What was marked meanwhile by CPUs that found global_bh_count taken.
  if (bh_pending()) raiseSoftirqNocheck(HI_SOFTIRQ);
}

/**
 * bh22_timer_action - `run` (this CPU's timer expiry) as TIMER_BH: under
 * global_bh_count, so one timer function at a time machine-wide and never
 * beside another bottom half (H-TMR-3). A CPU that finds it taken raises
 * TIMER_SOFTIRQ again and retries (the restart loop, then ksoftirqd).
 * @param run - timer.ts's run_timer_softirq.
 * Context: era bring-up; the result is TIMER_SOFTIRQ's action.
 * @returns the action.
 */
export function bh22_timer_action(run: () => void): () => void {
  return function timer_bh(): void {
    if (!softirq_trylock()) {
      Atomics.add(st, W_BUSY, 1);
      Atomics.add(st, W_TIMER_BUSY, 1);
      raiseSoftirqNocheck(TIMER_SOFTIRQ);
      return;
    }
    if (Atomics.add(st, W_INSIDE, 1) !== 0) Atomics.add(st, W_OVERLAP, 1);
    Atomics.add(st, W_TIMER_RUNS, 1);
    try {
      run();
    } finally {
      Atomics.sub(st, W_INSIDE, 1);
      Atomics.store(st, W_RUNNING, 0);
    }
    if (bh_pending()) raiseSoftirqNocheck(HI_SOFTIRQ);
  };
}

/** Get bottom halves run soon on this CPU (after enable_bh / end_bh_atomic / schedule). */
function kick(): void {
  if (bh_pending()) raiseSoftirqNocheck(HI_SOFTIRQ);
}

// ------------------------------------------------------------ the API (era 2.2)

/**
 * init_bh - install `routine` as bottom half `nr` and enable it.
 * @param nr - TIMER_BH .. (0-31).
 * @param routine - runs in bottom-half context, one bottom half at a time machine-wide.
 * Context: module load (every CPU installs its copy). Returns nothing.
 */
export function bh22_init_bh(nr: number, routine: BhRoutine): void {
  check_nr(nr, 'init_bh');
  if (typeof routine !== 'function') throw new KdeferError(`init_bh(${nr}): routine is not a function`);
  if (loading === null) throw new KdeferError(`init_bh(${nr}): call it at module load, so that every CPU has the routine`);
  bh22_install(nr, routine);
}

/**
 * bh22_install - init_bh without the load-time check (the kernel's own
 * TQUEUE_BH and IMMEDIATE_BH, installed at bring-up).
 * Context: CPU bring-up or module load. Does not sleep.
 */
export function bh22_install(nr: number, routine: BhRoutine): void {
  bh_base[nr] = routine;
  Atomics.store(st, W_MASK_COUNT + nr, 0);
  Atomics.or(st, W_MASK, 1 << nr);
}

/**
 * remove_bh - disable bottom half `nr` and forget its routine on this CPU.
 * Context: module unload, process context. Returns nothing.
 */
export function bh22_remove_bh(nr: number): void {
  check_nr(nr, 'remove_bh');
  Atomics.and(st, W_MASK, ~(1 << nr));
  bh_base[nr] = null;
}

/**
 * mark_bh - mark bottom half `nr` for running: one machine-wide bit, no CPU recorded.
 * Context: any (usually a hardirq handler). Returns nothing.
 */
export function bh22_mark_bh(nr: number): void {
  if (nr >>> 0 >= NR_BH) check_nr(nr, 'mark_bh');
  Atomics.or(st, W_ACTIVE, 1 << nr);
  raiseSoftirqNocheck(HI_SOFTIRQ);
}

/**
 * synchronize_bh - wait until no CPU runs bottom halves (a no-op in interrupt context).
 * Context: process context (spins; does not sleep).
 */
export function bh22_synchronize_bh(): void {
  if (in_interrupt()) return;
  while (Atomics.load(st, W_RUNNING) !== 0) cpu_relax();
}

/**
 * disable_bh - keep bottom half `nr` from starting (nests), then wait out a running one.
 * Context: process context (synchronize_bh spins).
 */
export function bh22_disable_bh(nr: number): void {
  check_nr(nr, 'disable_bh');
  Atomics.and(st, W_MASK, ~(1 << nr));
  Atomics.add(st, W_MASK_COUNT + nr, 1);
  bh22_synchronize_bh();
}

/**
 * enable_bh - undo one disable_bh; the last one re-enables the bottom half.
 * Context: any. An enable_bh without a disable_bh is a WARN and does nothing.
 */
export function bh22_enable_bh(nr: number): void {
  check_nr(nr, 'enable_bh');
  const before = Atomics.sub(st, W_MASK_COUNT + nr, 1);
  if (before <= 0) {
    Atomics.add(st, W_MASK_COUNT + nr, 1);
    WARN_ONCE(true, `enable_bh(${nr}): bottom half ${nr} was not disabled`);
    return;
  }
  if (before === 1) {
    Atomics.or(st, W_MASK, 1 << nr);
    kick();
  }
}

/**
 * start_bh_atomic - no bottom half may start on any CPU until end_bh_atomic;
 * waits out one that runs now.
 * Context: process context (spins).
 */
export function bh22_start_bh_atomic(): void {
  Atomics.add(st, W_ATOMIC, 1);
  bh22_synchronize_bh();
}

/**
 * end_bh_atomic - undo one start_bh_atomic.
 * Context: process context. Unbalanced: a WARN, nothing changes.
 */
export function bh22_end_bh_atomic(): void {
  if (Atomics.sub(st, W_ATOMIC, 1) <= 0) {
    Atomics.add(st, W_ATOMIC, 1);
    WARN_ONCE(true, 'end_bh_atomic without start_bh_atomic');
    return;
  }
  kick();
}

/**
 * bh22_schedule_hook - the top of 2.2's schedule(): run pending bottom halves.
 * Context: process context, about to sleep or yield. Does not sleep.
 */
export function bh22_schedule_hook(): void {
  if (!bh_pending()) return;
  const flags = local_irq_save();
  __raise_softirq_irqoff(HI_SOFTIRQ);
  local_irq_restore(flags);
  do_softirq();
}

/** The machine-wide counters of the 2.2 bottom halves (tests, `kdefer history`). */
export interface Bh22Stats {
  /** do_bottom_half calls that found another CPU running bottom halves (or start_bh_atomic held) */
  busy: number;
  /** run_bottom_halves passes */
  passes: number;
  /** a routine started while another ran: the exclusion broken (always 0) */
  overlap: number;
  /** runs per bottom half number */
  runs: number[];
  /** timer expiry passes that found global_bh_count taken, and those that ran */
  timerBusy: number;
  timerRuns: number;
  active: number;
  mask: number;
}

/**
 * bh22_stats_of - read the 2.2 bottom halves' counters from shared memory.
 * @param a - the 'era.bh22' shared array (hostSharedArray or this CPU's view).
 * Context: the host or any CPU. Does not sleep.
 * @returns the counters.
 */
export function bh22_stats_of(a: Int32Array): Bh22Stats {
  const runs: number[] = [];
  for (let nr = 0; nr < NR_BH; nr++) runs.push(Atomics.load(a, W_RUNS + nr));
  return {
    busy: Atomics.load(a, W_BUSY),
    timerBusy: Atomics.load(a, W_TIMER_BUSY),
    timerRuns: Atomics.load(a, W_TIMER_RUNS),
    passes: Atomics.load(a, W_PASSES),
    overlap: Atomics.load(a, W_OVERLAP),
    runs,
    active: Atomics.load(a, W_ACTIVE),
    mask: Atomics.load(a, W_MASK),
  };
}

/** The shared array's name (hostSharedArray(m, BH22_SHARED, Int32Array)). */
export const BH22_SHARED = 'era.bh22';

/**
 * bh22_init_cpu - era 2.2 bring-up on this CPU: bind the machine-wide words
 * and make do_bottom_half HI_SOFTIRQ's action (there are no tasklets in 2.2).
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function bh22_init_cpu(): void {
  st = shared_int32(BH22_SHARED, BH22_WORDS);
  softirq_kernel_init(true);
  try {
    open_softirq(HI_SOFTIRQ, do_bottom_half);
  } finally {
    softirq_kernel_init(false);
  }
}
