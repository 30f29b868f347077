/**
 * bh.ts — old-style bottom halves and task queues: the API, and the 2.4
 * back-end (the old BHs on top of tasklets).
 *
 * The API (init_bh, mark_bh, remove_bh, disable_bh, enable_bh,
 * start_bh_atomic, end_bh_atomic, synchronize_bh; queue_task,
 * run_task_queue, TQ_ACTIVE, DECLARE_TASK_QUEUE) calls through one table
 * that era/boot.ts fills at CPU bring-up from the booted era: era '2.2'
 * gets era/bh22.ts (one machine-wide bh_active word, global_bh_count), era
 * '2.4' the tasklet back-end below, and the later eras get functions that
 * throw the error naming the era that had the API (old-style bottom halves
 * were removed in 2.5.40, task queues replaced by work queues in 2.5.41).
 * The BH numbers are the booted era's (H-22-1, H-24-1): TIMER_BH .. are
 * live bindings set at bring-up, and a name the era lacks (NET_BH in 2.4)
 * is an error when used.
 *
 * The 2.4 back-end follows 2.4's kernel/softirq.c (bh_action, init_bh,
 * remove_bh, global_bh_lock) and include/linux/interrupt.h (mark_bh), the
 * 2.4.0 tree checked in kdefer's source index. 2.4 rebuilt the bottom
 * halves as 32 HI_SOFTIRQ tasklets whose action takes one global spinlock
 * with spin_trylock: a bottom half marked on a CPU while another CPU runs
 * one finds the lock taken, marks itself again and is retried by the
 * softirq restart loop (then ksoftirqd). So at most one bottom half runs at
 * a time, whatever the number of CPUs (H-24-2, H-24-3).
 *
 *   CPU0                                CPU1
 *   HI_SOFTIRQ: bh_action(TIMER_BH)
 *     spin_trylock(global_bh_lock) ok   hardirq: mark_bh(SCSI_BH)
 *     timer_bh() ...                    HI_SOFTIRQ: bh_action(SCSI_BH)
 *                                         spin_trylock fails: mark_bh again
 *     spin_unlock(global_bh_lock)       ... retried until the lock is free
 *
 * Differs from Linux 2.4:
 * - no hardirq_trylock: kdefer has no global cli() lock, so bh_action only
 *   takes global_bh_lock.
 * - init_bh runs at module load, on every CPU.
 * - a routine that throws is reported as an Oops and global_bh_lock is
 *   released (a 2.4 oops left it held).
 */
import { KdeferError, loading, registerFunction, shared_int32 } from './module.js';
import { raiseSoftirqNocheck, TIMER_SOFTIRQ } from './softirq.js';
import { DEFINE_SPINLOCK, spin_trylock, spin_unlock, type SpinlockT } from './spinlock.js';
import { DECLARE_TASKLET, tasklet_hi_schedule, tasklet_kill, type TaskletStruct } from './tasklet.js';
import { type TqStruct, type TaskQueue, type TqRoutine } from './era/tqueue.js';

export { NR_BH, BH22_NAMES, type BhRoutine, type Bh22Stats, bh22_stats_of, BH22_SHARED } from './era/bh22.js';
export { TqStruct, TaskQueue, type TqRoutine, tq_timer, tq_immediate, tq_disk, tq_scheduler } from './era/tqueue.js';
import { NR_BH, BH22_NAMES, type BhRoutine } from './era/bh22.js';

/** 2.4.0's bottom halves (include/linux/interrupt.h, H-24-1), in number order. */
export const BH24_NAMES = [
  'TIMER_BH',
  'TQUEUE_BH',
  'DIGI_BH',
  'SERIAL_BH',
  'RISCOM8_BH',
  'SPECIALIX_BH',
  'AURORA_BH',
  'ESP_BH',
  'SCSI_BH',
  'IMMEDIATE_BH',
  'CYCLADES_BH',
  'CM206_BH',
  'JS_BH',
  'MACSERIAL_BH',
  'ISICOM_BH',
] as const;

/** Every BH name of either era: the names TIMER_BH .. below. */
const ALL_BH_NAMES = [...new Set<string>([...BH22_NAMES, ...BH24_NAMES])];

// The booted era's numbers (era/boot.ts sets them; until then 2.2.1's). A
// name the era lacks holds -1 - its index in ALL_BH_NAMES, so the error can name it.
export let TIMER_BH = 0;
export let CONSOLE_BH = 1;
export let TQUEUE_BH = 2;
export let DIGI_BH = 3;
export let SERIAL_BH = 4;
export let RISCOM8_BH = 5;
export let SPECIALIX_BH = 6;
export let AURORA_BH = -1 - ALL_BH_NAMES.indexOf('AURORA_BH');
export let ESP_BH = 7;
export let NET_BH = 8;
export let SCSI_BH = 9;
export let IMMEDIATE_BH = 10;
export let KEYBOARD_BH = 11;
export let CYCLADES_BH = 12;
export let CM206_BH = 13;
export let JS_BH = 14;
export let MACSERIAL_BH = 15;
export let ISICOM_BH = 16;

/**
 * bh_set_numbers - give TIMER_BH .. the numbers of an era's enum.
 * @param names - the era's BH names in number order (2.2.1's or 2.4.0's).
 * @param era - the era, for the error of a missing name.
 * Context: CPU bring-up (era/boot.ts). Does not sleep.
 */
export function bh_set_numbers(names: readonly string[], era: string): void {
  bootedEra = era;
  const nr = (n: string): number => (names.includes(n) ? names.indexOf(n) : -1 - ALL_BH_NAMES.indexOf(n));
  TIMER_BH = nr('TIMER_BH');
  CONSOLE_BH = nr('CONSOLE_BH');
  TQUEUE_BH = nr('TQUEUE_BH');
  DIGI_BH = nr('DIGI_BH');
  SERIAL_BH = nr('SERIAL_BH');
  RISCOM8_BH = nr('RISCOM8_BH');
  SPECIALIX_BH = nr('SPECIALIX_BH');
  AURORA_BH = nr('AURORA_BH');
  ESP_BH = nr('ESP_BH');
  NET_BH = nr('NET_BH');
  SCSI_BH = nr('SCSI_BH');
  IMMEDIATE_BH = nr('IMMEDIATE_BH');
  KEYBOARD_BH = nr('KEYBOARD_BH');
  CYCLADES_BH = nr('CYCLADES_BH');
  CM206_BH = nr('CM206_BH');
  JS_BH = nr('JS_BH');
  MACSERIAL_BH = nr('MACSERIAL_BH');
  ISICOM_BH = nr('ISICOM_BH');
}
let bootedEra = '6.x';

function check_nr(nr: number, who: string): void {
  if (Number.isInteger(nr) && nr < 0 && nr >= -ALL_BH_NAMES.length) {
    throw new KdeferError(`${who}: ${ALL_BH_NAMES[-1 - nr]} does not exist in era '${bootedEra}'`);
  }
  if (!Number.isInteger(nr) || nr < 0 || nr >= NR_BH)
    throw new KdeferError(`${who}: bottom half ${String(nr)} does not exist (0-${NR_BH - 1})`);
}

// ------------------------------------------------------------ the switch table

/** What each era provides for the old-style API (era/boot.ts installs one at bring-up). */
export interface BhOps {
  init_bh: (nr: number, routine: BhRoutine) => void;
  mark_bh: (nr: number) => void;
  remove_bh: (nr: number) => void | Promise<void>;
  disable_bh: (nr: number) => void;
  enable_bh: (nr: number) => void;
  start_bh_atomic: () => void;
  end_bh_atomic: () => void;
  synchronize_bh: () => void;
  defineTqStruct: (name: string, routine: TqRoutine, data?: unknown) => TqStruct;
  DECLARE_TASK_QUEUE: (name: string) => TaskQueue;
  queue_task: (t: TqStruct, q: TaskQueue) => number;
  run_task_queue: (q: TaskQueue) => void;
  TQ_ACTIVE: (q: TaskQueue) => boolean;
}

const unbooted = (): never => {
  throw new KdeferError('bottom halves: the CPU has not been brought up');
};
let ops: BhOps = {
  init_bh: unbooted,
  mark_bh: unbooted,
  remove_bh: unbooted,
  disable_bh: unbooted,
  enable_bh: unbooted,
  start_bh_atomic: unbooted,
  end_bh_atomic: unbooted,
  synchronize_bh: unbooted,
  defineTqStruct: unbooted,
  DECLARE_TASK_QUEUE: unbooted,
  queue_task: unbooted,
  run_task_queue: unbooted,
  TQ_ACTIVE: unbooted,
};

/**
 * bh_install_ops - install the booted era's back-end of the old-style API.
 * @param o - the era's table.
 * Context: CPU bring-up (era/boot.ts), before any module loads. Does not sleep.
 */
export function bh_install_ops(o: BhOps): void {
  ops = o;
}

/**
 * init_bh - install `routine` as bottom half `nr` (2.2 also enables it).
 * Context: module load (every CPU installs its copy). Eras '2.2' and '2.4'.
 */
export function init_bh(nr: number, routine: BhRoutine): void {
  check_nr(nr, 'init_bh');
  ops.init_bh(nr, routine);
}

/**
 * mark_bh - ask for bottom half `nr` to run: 2.2 sets its machine-wide
 * bh_active bit; 2.4 schedules its HI tasklet on this CPU (a no-op if it is
 * already scheduled somewhere).
 * Context: any (usually a hardirq handler). Eras '2.2' and '2.4'.
 */
export function mark_bh(nr: number): void {
  ops.mark_bh(nr);
}

/**
 * remove_bh - uninstall bottom half `nr` (2.4: after waiting until it is
 * neither scheduled nor running).
 * Context: process context (await it). Eras '2.2' and '2.4'.
 * @returns when it is gone.
 */
export async function remove_bh(nr: number): Promise<void> {
  check_nr(nr, 'remove_bh');
  await ops.remove_bh(nr);
}

/**
 * disable_bh - keep bottom half `nr` from starting (nests); waits out a running one.
 * Context: process context. Era '2.2' (2.4 has tasklet_disable / local_bh_disable).
 */
export function disable_bh(nr: number): void {
  check_nr(nr, 'disable_bh');
  ops.disable_bh(nr);
}

/**
 * enable_bh - undo one disable_bh.
 * Context: any. Era '2.2'.
 */
export function enable_bh(nr: number): void {
  check_nr(nr, 'enable_bh');
  ops.enable_bh(nr);
}

/**
 * start_bh_atomic - no bottom half may start on any CPU until end_bh_atomic.
 * Context: process context (spins). Era '2.2'.
 */
export function start_bh_atomic(): void {
  ops.start_bh_atomic();
}

/**
 * end_bh_atomic - undo one start_bh_atomic.
 * Context: process context. Era '2.2'.
 */
export function end_bh_atomic(): void {
  ops.end_bh_atomic();
}

/**
 * synchronize_bh - wait until no CPU runs a bottom half (nothing in interrupt context).
 * Context: process context (spins). Era '2.2'.
 */
export function synchronize_bh(): void {
  ops.synchronize_bh();
}

/**
 * defineTqStruct - declare a `struct tq_struct` (routine, data, sync bit) by name.
 * Context: module load, on every CPU. Eras '2.2' and '2.4'.
 * @returns the task.
 */
export function defineTqStruct(name: string, routine: TqRoutine, data?: unknown): TqStruct {
  return ops.defineTqStruct(name, routine, data);
}

/**
 * DECLARE_TASK_QUEUE - a private task queue, run with run_task_queue.
 * Context: module load. Eras '2.2' and '2.4'.
 * @returns the queue.
 */
export function DECLARE_TASK_QUEUE(name: string): TaskQueue {
  return ops.DECLARE_TASK_QUEUE(name);
}

/**
 * queue_task - link `t` on `q` unless it is already queued (its sync bit set).
 * Context: any. Eras '2.2' and '2.4' (tq_scheduler: '2.2').
 * @returns 1 if it was queued, 0 if it was already queued: the call is swallowed.
 */
export function queue_task(t: TqStruct, q: TaskQueue): number {
  return ops.queue_task(t, q);
}

/**
 * run_task_queue - run every task on `q` once (each sync bit cleared before its routine).
 * Context: that of the queue's owner. Eras '2.2' and '2.4'.
 */
export function run_task_queue(q: TaskQueue): void {
  ops.run_task_queue(q);
}

/**
 * TQ_ACTIVE - whether `q` holds tasks.
 * Context: any. Eras '2.2' and '2.4'.
 * @returns true when it is not empty.
 */
export function TQ_ACTIVE(q: TaskQueue): boolean {
  return ops.TQ_ACTIVE(q);
}

// ------------------------------------------------------------ the 2.4 back-end

// This CPU's bh_base and bh_task_vec (every CPU ran the same init_bh at load).
const bh_base: (BhRoutine | null)[] = new Array<BhRoutine | null>(NR_BH).fill(null);
const bh_task_vec: (TaskletStruct | null)[] = new Array<TaskletStruct | null>(NR_BH).fill(null);
const nr_of = new Map<number, number>(); // tasklet id -> bottom half number

/**
 * global_bh_lock - the one lock that serialises every old-style bottom
 * half on the machine (2.4; null until the first init_bh).
 */
export let global_bh_lock: SpinlockT | null = null;
let bh_action_registered = false;

/** The tasklet of every bottom half: run it under global_bh_lock, or retry later. */
function bh_action(t: TaskletStruct): void {
  const nr = nr_of.get(t.id)!;
  const lock = global_bh_lock!;
  if (!spin_trylock(lock)) {
    bh24_mark_bh(nr);
    return;
  }
  try {
    const routine = bh_base[nr];
    if (routine) routine();
  } finally {
    spin_unlock(lock);
  }
}

/** 2.4's counters ('era.bh24'): timer expiry passes that found global_bh_lock taken, and those that ran. */
export const BH24_SHARED = 'era.bh24';
const W24_TIMER_BUSY = 0;
const W24_TIMER_RUNS = 1;
let st24: Int32Array = new Int32Array(8);

/**
 * bh24_timer_action - `run` (this CPU's timer expiry) as 2.4's TIMER_BH:
 * under global_bh_lock, so one timer function at a time machine-wide and
 * never beside another bottom half (H-TMR-3); a CPU that finds the lock
 * taken raises TIMER_SOFTIRQ again and retries, as bh_action re-marks.
 * @param run - timer.ts's run_timer_softirq.
 * Context: era bring-up; the result is TIMER_SOFTIRQ's action.
 * @returns the action.
 */
export function bh24_timer_action(run: () => void): () => void {
  st24 = shared_int32(BH24_SHARED, 8);
  global_bh_lock ??= DEFINE_SPINLOCK('global_bh_lock');
  const lock = global_bh_lock;
  return function timer_bh(): void {
    if (!spin_trylock(lock)) {
      Atomics.add(st24, W24_TIMER_BUSY, 1);
      raiseSoftirqNocheck(TIMER_SOFTIRQ);
      return;
    }
    Atomics.add(st24, W24_TIMER_RUNS, 1);
    try {
      run();
    } finally {
      spin_unlock(lock);
    }
  };
}

/**
 * bh24_timer_stats_of - 2.4's timer counters from shared memory.
 * @param a - the 'era.bh24' shared array.
 * Context: the host or any CPU. Does not sleep.
 * @returns passes that found global_bh_lock taken, and passes that ran.
 */
export function bh24_timer_stats_of(a: Int32Array): { timerBusy: number; timerRuns: number } {
  return { timerBusy: Atomics.load(a, W24_TIMER_BUSY), timerRuns: Atomics.load(a, W24_TIMER_RUNS) };
}

/**
 * bh24_install - 2.4's init_bh without the load-time check (the kernel's own
 * TQUEUE_BH and IMMEDIATE_BH, installed at bring-up).
 * Context: CPU bring-up or module load. Does not sleep.
 */
export function bh24_install(nr: number, routine: BhRoutine): void {
  if (!bh_action_registered) {
    bh_action_registered = true;
    global_bh_lock ??= DEFINE_SPINLOCK('global_bh_lock');
    registerFunction('kernel.bh.bh_action', bh_action as (...a: never[]) => unknown);
  }
  if (!bh_task_vec[nr]) {
    const t = DECLARE_TASKLET(`bh:${nr}`, bh_action);
    nr_of.set(t.id, nr);
    bh_task_vec[nr] = t;
  }
  bh_base[nr] = routine;
}

/**
 * bh24_init_bh - 2.4's init_bh (H-24-4: just stores the routine).
 * Context: module load.
 */
export function bh24_init_bh(nr: number, routine: BhRoutine): void {
  if (typeof routine !== 'function') throw new KdeferError(`init_bh(${nr}): routine is not a function`);
  if (loading === null) throw new KdeferError(`init_bh(${nr}): call it at module load, so that every CPU has the routine`);
  bh24_install(nr, routine);
}

/**
 * bh24_mark_bh - 2.4's mark_bh: tasklet_hi_schedule(bh_task_vec + nr) (H-24-2).
 * Context: any.
 */
export function bh24_mark_bh(nr: number): void {
  const t = bh_task_vec[nr];
  if (!t) {
    check_nr(nr, 'mark_bh');
    throw new KdeferError(`mark_bh(${nr}): no bottom half ${nr} was installed (init_bh at module load)`);
  }
  tasklet_hi_schedule(t);
}

/**
 * bh24_remove_bh - 2.4's remove_bh: tasklet_kill, then forget the routine (H-24-4).
 * Context: process context.
 * @returns when the tasklet is neither scheduled nor running.
 */
export async function bh24_remove_bh(nr: number): Promise<void> {
  const t = bh_task_vec[nr];
  if (t) await tasklet_kill(t);
  bh_base[nr] = null;
}
