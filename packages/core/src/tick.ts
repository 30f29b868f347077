/**
 * tick.ts — jiffies and the local timer tick.
 *
 * Follows kernel/time/tick-common.c, tick-sched.c (NOHZ idle) and
 * include/linux/jiffies.h. Every busy CPU takes a local timer interrupt
 * (LOC in /proc/interrupts) once per jiffy; it advances `jiffies` (as the
 * tick_do_timer_cpu does) and runs the tick hooks — run_local_timers raises
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
 * has come (tick_set_event_source: hrtimer.ts's next event and its
 * hrtimer_interrupt). LOC counts every local timer interrupt; jiffies and the
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
import { irq_enter, irq_exit } from './irq.js';
import { trace_event, TP_LOCAL_TIMER_ENTRY, TP_LOCAL_TIMER_EXIT } from './trace.js';

/** The jiffies at boot, as 64-bit kernels define INITIAL_JIFFIES. */
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
const tickHooks: (() => void)[] = [];
// The hrtimer clock event: when the next hrtimer is due (clock_now ms), and its interrupt handler.
let nextEvent: () => number = () => Infinity;
let eventHandler: () => void = () => {};

/** jiffies computed now from the clock (host side too). */
export function jiffies_at(m: Mem, epochMs: number = clock_now()): number {
  const hz = m.i32[H_HZ]!;
  return initial_jiffies(hz) + Math.floor(((epochMs - m.bootTime()) * hz) / 1000);
}

/** get_jiffies_64 - jiffies read from the clock now (does not wait for a tick). */
export function get_jiffies_64(): number {
  return jiffies_at(mem);
}

/** Whether a new jiffy started since this CPU's last tick (entry.ts asks). */
export function tick_check(): boolean {
  const now = clock_now();
  return now >= nextTickAt || now >= nextEvent();
}

/**
 * tick_set_event_source - the hrtimer clock event of this CPU: `next()` is
 * when its next hrtimer is due (clock_now ms, Infinity none); `handler` runs
 * in every local timer interrupt, after the tick's work (hrtimer.ts).
 * Context: CPU boot.
 */
export function tick_set_event_source(next: () => number, handler: () => void): void {
  nextEvent = next;
  eventHandler = handler;
}

/** Catch jiffies up with the clock; returns the new value. */
export function tick_update_jiffies(): number {
  const now = clock_now();
  const j = jiffies_at(mem, now);
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

/** The local timer interrupt: hardirq context, jiffies, tick hooks (run_local_timers). */
export function local_timer_interrupt(): void {
  irq_enter();
  trace_event(TP_LOCAL_TIMER_ENTRY, 0, 0);
  i32[PCB + PC_LOC_COUNT]!++;
  if (clock_now() >= nextTickAt) {
    tick_update_jiffies();
    for (const h of tickHooks) h();
  }
  eventHandler();
  trace_event(TP_LOCAL_TIMER_EXIT, 0, 0);
  irq_exit();
}

/** Run `fn` in every tick of this CPU, in hardirq context (timer.ts's run_local_timers). */
export function tick_register_hook(fn: () => void): void {
  tickHooks.push(fn);
}

/** Milliseconds until the clock reaches jiffy `j` (for the idle loop's sleep). */
export function ms_until_jiffy(j: number): number {
  const target = bootMs + ((j - initial_jiffies(HZ)) * 1000) / HZ;
  return Math.max(0, target - clock_now());
}

/** time_after(a, b): a is later than b. */
export const time_after = (a: number, b: number): boolean => b - a < 0;
/** time_before(a, b): a is earlier than b. */
export const time_before = (a: number, b: number): boolean => a - b < 0;
export const time_after_eq = (a: number, b: number): boolean => a - b >= 0;
export const time_before_eq = (a: number, b: number): boolean => b - a >= 0;
/** msecs_to_jiffies - rounds up: 2 ms at HZ=250 is 1 jiffy, 1 ms at HZ=100 is 1 jiffy. */
export const msecs_to_jiffies = (ms: number): number => Math.ceil((ms * HZ) / 1000);
export const usecs_to_jiffies = (us: number): number => Math.ceil((us * HZ) / 1e6);
export const jiffies_to_msecs = (j: number): number => (j * 1000) / HZ;

export function tick_init_cpu(): void {
  HZ = i32[H_HZ]!;
  msPerJiffy = 1000 / HZ;
  bootMs = mem.bootTime();
  tick_update_jiffies();
}
