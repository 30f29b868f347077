/**
 * tick.ts — jiffies and the local timer tick.
 *
 * Follows kernel/time/tick-common.c, tick-sched.c (NOHZ idle) and
 * include/linux/jiffies.h. Every busy CPU takes a local timer interrupt
 * (LOC in /proc/interrupts) once per jiffy; it advances `jiffies` (as the
 * tick_do_timer_cpu does) and runs the tick chain (upcall.ts) — run_local_timers raises
 * TIMER_SOFTIRQ when a timer is due. An idle CPU takes no tick (NOHZ idle)
 * and sleeps until its next timer event; on waking it catches jiffies up.
 *
 * jiffies starts at INITIAL_JIFFIES = 2^32 - 300*HZ, as on a 64-bit kernel,
 * so the 32-bit jiffies wraps 5 minutes after boot; compare with
 * time_after()/time_before().
 *
 * The local timer interrupt is also the hrtimer interrupt: as a kernel in
 * high-resolution mode programs the clock event device for the earliest of
 * the next tick and the next hrtimer, a CPU takes the interrupt when either
 * has come (the upcalls hrtimerNextEvent and hrtimerInterrupt: hrtimer.ts's
 * next event and its hrtimer_interrupt). LOC counts every local timer interrupt; jiffies and the
 * tick hooks run only in those where a new jiffy started.
 *
 * Differs from Linux:
 * - jiffies is derived from the monotonic clock at each tick (any CPU's tick
 *   moves the shared value forward); between ticks a CPU's `jiffies` is its
 *   last tick's value, as in the kernel.
 */
import { type Mem, H_JIFFIES, H_HZ, PC_LOC_COUNT } from './layout.js';
import { clock_now } from './clock.js';
import { mem, i32, PCB } from './smp.js';
import { irq_enter, irq_exit } from './softirq.js';
import { trace_event, TP_LOCAL_TIMER_ENTRY, TP_LOCAL_TIMER_EXIT } from './trace.js';
import { upcalls, upcallChains } from './upcall.js';

/**
 * initial_jiffies - the jiffies at boot, as 64-bit kernels define INITIAL_JIFFIES
 * (300 s before the 32-bit wrap, so wrap bugs show early).
 * @param hz - the tick rate.
 * Context: any (pure).
 * @returns 2^32 - 300 * hz.
 */
export function initial_jiffies(hz: number): number {
  return 2 ** 32 - 300 * hz;
}

/** jiffies as of this CPU's last tick. */
export let jiffies = 0;
/** HZ of this machine. */
export let HZ = 1000;

let msPerJiffy = 1;
let bootMs = 0;
let nextTickAt = 0; // clock_now() at which the next jiffy starts
// The tick's work of the mechanisms above (run_local_timers, the IRQ work
// tick, the watchdog): the upcall chain `tick`, filled at init. The hrtimer
// clock event (when the next hrtimer is due, and its interrupt handler) is
// upcalls.hrtimerNextEvent / hrtimerInterrupt.
const tickHooks = upcallChains.tick;

/**
 * jiffiesAt - the jiffies value the clock gives at `epochMs`, without waiting for a tick.
 * @param m - the machine's memory.
 * @param epochMs - the clock reading (default: clock_now()).
 * Context: any, host side too (reads only words written once at boot). Does not sleep.
 * @returns initial_jiffies(HZ) plus the whole ticks since boot.
 */
export function jiffiesAt(m: Mem, epochMs: number = clock_now()): number {
  const hz = m.i32[H_HZ]!;
  return initial_jiffies(hz) + Math.floor(((epochMs - m.bootTime()) * hz) / 1000);
}

/**
 * get_jiffies_64 - jiffies read from the clock now (does not wait for a tick).
 * Context: any CPU context. Does not sleep.
 * @returns the current jiffies (a double: no 64-bit split as on 32-bit kernels).
 */
export function get_jiffies_64(): number {
  return jiffiesAt(mem);
}

/**
 * tick_check - whether a new jiffy started since this CPU's last tick (entry.ts asks).
 * Context: any, on this CPU. Does not sleep.
 * @returns true when the clock has reached this CPU's next tick.
 */
export function tick_check(): boolean {
  const now = clock_now();
  return now >= nextTickAt || now >= upcalls.hrtimerNextEvent();
}

/**
 * tick_update_jiffies - catch this CPU's jiffies up with the clock and move the
 * shared low word forward (a monotonic max by compare-exchange).
 * Context: this CPU, normally from the tick with interrupts off. Does not sleep.
 * @returns the new jiffies.
 */
export function tick_update_jiffies(): number {
  const now = clock_now();
  const j = jiffiesAt(mem, now);
  jiffies = j;
  // Shared low word: a monotonic max that other CPUs and the host may read.
  const lo = j | 0;
  for (;;) {
    const cur = Atomics.load(i32, H_JIFFIES);
    if (((lo - cur) | 0) <= 0 || Atomics.compareExchange(i32, H_JIFFIES, cur, lo) === cur) break;
  }
  nextTickAt = clock_now() + (msPerJiffy - ((now - bootMs) % msPerJiffy));
  return j;
}

/**
 * local_timer_interrupt - the local timer interrupt: irq_enter(), jiffies, the
 * tick chain (upcallChains.tick: run_local_timers and kin), irq_exit() (which may run softirqs).
 * Context: this CPU's preemption point, with interrupts enabled. Does not sleep.
 */
export function local_timer_interrupt(): void {
  irq_enter();
  trace_event(TP_LOCAL_TIMER_ENTRY, 0, 0);
  i32[PCB + PC_LOC_COUNT]!++;
  if (clock_now() >= nextTickAt) {
    tick_update_jiffies();
    for (const h of tickHooks) h();
  }
  upcalls.hrtimerInterrupt();
  trace_event(TP_LOCAL_TIMER_EXIT, 0, 0);
  irq_exit();
}

/**
 * ms_until_jiffy - milliseconds until the clock reaches jiffy `j` (for the idle loop's sleep).
 * @param j - the jiffy.
 * Context: any, on this CPU. Does not sleep.
 * @returns the wait in ms, 0 if `j` has passed.
 */
export function ms_until_jiffy(j: number): number {
  const target = bootMs + ((j - initial_jiffies(HZ)) * 1000) / HZ;
  return Math.max(0, target - clock_now());
}

/**
 * time_after - whether jiffies `a` is later than `b`.
 * @param a - a jiffies value.
 * @param b - a jiffies value.
 * Context: any (pure).
 * @returns true if a is after b.
 */
export const time_after = (a: number, b: number): boolean => b - a < 0;
/**
 * time_before - whether jiffies `a` is earlier than `b`.
 * @param a - a jiffies value.
 * @param b - a jiffies value.
 * Context: any (pure).
 * @returns true if a is before b.
 */
export const time_before = (a: number, b: number): boolean => a - b < 0;
/**
 * time_after_eq - whether jiffies `a` is later than or equal to `b`.
 * @param a - a jiffies value.
 * @param b - a jiffies value.
 * Context: any (pure).
 * @returns true if a is at or after b.
 */
export const time_after_eq = (a: number, b: number): boolean => a - b >= 0;
/**
 * time_before_eq - whether jiffies `a` is earlier than or equal to `b`.
 * @param a - a jiffies value.
 * @param b - a jiffies value.
 * Context: any (pure).
 * @returns true if a is at or before b.
 */
export const time_before_eq = (a: number, b: number): boolean => b - a >= 0;
/**
 * msecs_to_jiffies - convert milliseconds to jiffies, rounding up
 * (2 ms at HZ=250 is 1 jiffy, 1 ms at HZ=100 is 1 jiffy).
 * @param ms - the duration.
 * Context: any, after boot (reads this CPU's HZ).
 * @returns the duration in whole jiffies.
 */
export const msecs_to_jiffies = (ms: number): number => Math.ceil((ms * HZ) / 1000);
/**
 * usecs_to_jiffies - convert microseconds to jiffies, rounding up.
 * @param us - the duration.
 * Context: any, after boot (reads this CPU's HZ).
 * @returns the duration in whole jiffies.
 */
export const usecs_to_jiffies = (us: number): number => Math.ceil((us * HZ) / 1e6);
/**
 * jiffies_to_msecs - convert jiffies to milliseconds.
 * @param j - the duration in jiffies.
 * Context: any, after boot (reads this CPU's HZ).
 * @returns the duration in ms (not rounded).
 */
export const jiffies_to_msecs = (j: number): number => (j * 1000) / HZ;

/**
 * tick_init_cpu - read HZ and the boot time, and take the first jiffies reading.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function tick_init_cpu(): void {
  HZ = i32[H_HZ]!;
  msPerJiffy = 1000 / HZ;
  bootMs = mem.bootTime();
  tick_update_jiffies();
}
