/**
 * entry.ts — preemption points: where interrupts land.
 *
 * Follows kernel/entry/common.c and arch/x86/entry: on a real CPU an
 * interrupt is taken between any two instructions while the IF flag is set.
 * JavaScript cannot stop a running function, so a kdefer CPU looks for
 * interrupts at PREEMPTION POINTS: every kernel API call, cpu_relax(),
 * cond_resched() and the idle loop. That keeps what matters: an interrupt
 * can land between any two kernel operations, never while interrupts are
 * disabled, never inside a hardirq handler.
 *
 * The fast path is one plain load of this CPU's request word and one
 * decrement of a round counter; everything else is in the slow path. The
 * load is plain because an Atomics.load costs ~10× more in V8 (a call, not
 * a mov) and the point is on every kernel call: a plain read that misses a
 * fresh bit only delays the interrupt to a later point, and the round
 * counter sends every TICK_CHECK_ROUNDS-th point to the slow path, which
 * reads the word with Atomics.load, so no request waits longer than that.
 *
 * Deterministic mode (det.ts): the round counter stays at 0, so every point
 * takes the slow path, and the slow path's first test (one load) sends it to
 * det_point, a step of the schedule. cpu_relax() marks its point a yield.
 *
 * Differs from Linux:
 * - the local timer tick is noticed by counting preemption points and then
 *   reading the clock (reading it at every point would cost 100-700 ns),
 *   so a CPU that makes no kernel calls takes no ticks — as a CPU with
 *   interrupts disabled would not.
 */
import { HARDIRQ_MASK, NMI_MASK } from './preempt_mask.js';
import { clock_now } from './clock.js';
import {
  H_STATE,
  H_AMPLIFY,
  H_SEED,
  PC_AMPLIFY_DELAYS,
  MACHINE_RUNNING,
  PC_IRQ_REQUEST,
  PC_IRQ_WORK_LAZY,
  REQ_IRQ_WORK,
  REQ_NMI,
  PC_IRQS_DISABLED,
  PC_PREEMPT_COUNT,
  PC_HALTED,
  REQ_HARDIRQ,
  REQ_RESCHED,
  REQ_STOP,
  REQ_CALL,
} from './layout.js';
import { i32, PCB, cpuId } from './smp.js';
import { KernelHalt, machine_panicked } from './printk.js';
import { upcalls } from './upcall.js';
import { xorshift32 } from './rand.js';
import { det_init_cpu, det_point, DP_POINT, DP_YIELD } from './det.js';

/** Preemption points between two looks at the clock for the local timer tick. */
export const TICK_CHECK_ROUNDS = 256;

/**
 * Race amplification (boot option `amplify`, in the spirit of KCSAN's delay
 * injection): at level L, about one preemption point in AMP_MEAN[L] busy-waits
 * a seeded random time up to AMP_MAX_US[L] µs, widening race windows. The
 * round counter of the tick check drives it, so the fast path is unchanged.
 */
export const AMP_MEAN = [0, 64, 16, 4];
export const AMP_MAX_US = [0, 20, 100, 300];
let amplify = 0;
let rng = 1;
function next_rand(): number {
  rng = xorshift32(rng);
  return rng >>> 0;
}
function amplify_delay(): void {
  const us = next_rand() % AMP_MAX_US[amplify]!;
  const t0 = clock_now();
  while (clock_now() - t0 < us / 1000) {
    /* widen the window: the other CPUs run meanwhile */
  }
  i32[PCB + PC_AMPLIFY_DELAYS]!++;
}

let REQ = 0;
let tickRounds = TICK_CHECK_ROUNDS;

let localTimerPending = false;
let det = false;
let relaxing = false;

/**
 * Bind this CPU's preemption point (its upward calls come through upcall.ts);
 * in deterministic mode, wait for the baton first (det_init_cpu).
 */
export function entry_init(): void {
  REQ = PCB + PC_IRQ_REQUEST;
  amplify = Math.max(0, Math.min(3, i32[H_AMPLIFY]! | 0));
  rng = (i32[H_SEED]! ^ Math.imul(cpuId + 1, 0x9e3779b9)) >>> 0 || 1;
  det = det_init_cpu();
  if (det) {
    amplify = 0;
    tickRounds = 0;
  }
}

/**
 * A preemption point: take any pending interrupt this CPU may take now.
 * Kernel API functions call it (a lock pair once, at the unlock, as the
 * kernel's preempt_enable checks and its preempt_disable does not); module
 * code may call cpu_relax().
 */
export function preempt_point(): void {
  if (i32[REQ] !== 0 || --tickRounds < 0) preempt_point_slow();
}

/** Force the next preemption point to look at the clock. */
export function entry_check_tick_soon(): void {
  tickRounds = 0;
}

function preempt_point_slow(): void {
  if (det) {
    det_point(relaxing ? DP_YIELD : DP_POINT);
    relaxing = false;
    tickRounds = -1; // look at the clock at every point: virtual time moves at every step
  }
  if (tickRounds < 0) {
    if (det) tickRounds = 0;
    else if (amplify !== 0) {
      tickRounds = next_rand() % (2 * AMP_MEAN[amplify]!);
      amplify_delay();
    } else tickRounds = TICK_CHECK_ROUNDS;
    if (upcalls.tickCheck()) localTimerPending = true;
  }
  const req = Atomics.load(i32, REQ);
  if (req & REQ_STOP) {
    // A panic elsewhere, or shutdown: unwind this CPU to its loop.
    if (Atomics.load(i32, H_STATE) !== MACHINE_RUNNING) {
      i32[PCB + PC_HALTED] = 1;
      throw new KernelHalt(machine_panicked() ? 'machine panicked' : 'machine shut down');
    }
    Atomics.and(i32, REQ, ~REQ_STOP);
    upcalls.stop();
  }
  if (req & REQ_RESCHED) {
    Atomics.and(i32, REQ, ~REQ_RESCHED);
    upcalls.resched();
  }
  if (req & REQ_CALL) {
    Atomics.and(i32, REQ, ~REQ_CALL);
    upcalls.call();
  }
  // An NMI is taken even with IF clear, and inside a hardirq; not inside another NMI (latched until it returns).
  if (req & REQ_NMI && (i32[PCB + PC_PREEMPT_COUNT]! & NMI_MASK) === 0) {
    Atomics.and(i32, REQ, ~REQ_NMI);
    upcalls.nmi();
  }
  // Interrupts are taken only with IF set and outside a hardirq handler.
  if (i32[PCB + PC_IRQS_DISABLED] !== 0 || (i32[PCB + PC_PREEMPT_COUNT]! & HARDIRQ_MASK) !== 0) return;
  if (localTimerPending) {
    localTimerPending = false;
    upcalls.tick();
  }
  if (req & REQ_IRQ_WORK) upcalls.irqWork();
  if (req & REQ_HARDIRQ) upcalls.hardirq();
}

/**
 * cpu_relax - a pause in a busy-wait loop; a preemption point. In
 * deterministic mode a yield: another runnable CPU runs (the one this CPU
 * waits for, as often as not), or a spinning baton holder would livelock.
 * Context: any.
 */
export function cpu_relax(): void {
  relaxing = true;
  preempt_point();
}

/**
 * Whether a hardirq or tick would be taken at the next preemption point (idle
 * loop). Lazy irq_work keeps the CPU out of NOHZ idle until its next tick
 * runs it, as irq_work_needs_cpu() keeps the kernel's tick running.
 */
export function entry_work_pending(): boolean {
  return (
    (Atomics.load(i32, REQ) & (REQ_HARDIRQ | REQ_RESCHED | REQ_CALL | REQ_STOP | REQ_IRQ_WORK | REQ_NMI)) !== 0 ||
    localTimerPending ||
    Atomics.load(i32, PCB + PC_IRQ_WORK_LAZY) !== 0
  );
}
