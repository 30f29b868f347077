/**
 * clock.ts — the one time source of kernel code: every reading of "now" in
 * packages/core (jiffies, MAX_SOFTIRQ_TIME, the watchdogs, the lockup bounds
 * of the spin-waits, printk and trace timestamps, the hung-task detector)
 * goes through clock_now().
 *
 * Layer 1. In the free-running parallel mode it is the wall clock; in
 * deterministic mode init binds it to the machine's virtual clock (a word
 * of shared memory that advances with the schedule), so that no kernel
 * path reads the wall clock behind the schedule's back.
 */

const wall = (): number => performance.timeOrigin + performance.now();

let source: () => number = wall;

/**
 * clock_now - the current time in epoch milliseconds (fractional).
 * Context: any. Relative uses (t0 = clock_now(); clock_now() - t0) and
 * absolute ones (against the machine's boot time) read the same clock. Does not sleep.
 * @returns milliseconds since the Unix epoch, wall or virtual.
 */
export function clock_now(): number {
  return source();
}

/**
 * clock_bind - make clock_now() read `fn` (deterministic mode's virtual
 * clock) or, with no argument, the wall clock again.
 *
 * Context: init, before any kernel code runs on this thread.
 */
export function clock_bind(fn?: () => number): void {
  source = fn ?? wall;
}

/**
 * clock_is_wall - whether clock_now() reads the wall clock.
 * Context: any. Does not sleep.
 * @returns false in deterministic mode (a virtual clock is bound), true otherwise.
 */
export function clock_is_wall(): boolean {
  return source === wall;
}
