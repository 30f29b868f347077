/**
 * bh.ts — old-style bottom halves, as Linux 2.4 kept them on top of tasklets.
 *
 * Follows kernel/softirq.c of 2.4 (bh_action, init_bh, remove_bh,
 * global_bh_lock) and include/linux/interrupt.h (mark_bh). Linux 2.2 ran
 * its 18 bottom halves one at a time on the whole machine. 2.4 rebuilt
 * them as 32 HI_SOFTIRQ tasklets whose action takes one global spinlock
 * with spin_trylock: a bottom half marked on a CPU while another CPU runs
 * one finds the lock taken, marks itself again and is retried by the
 * softirq restart loop (then ksoftirqd). So at most one bottom half runs
 * at a time, whatever the number of CPUs — what kept the 2.2 network stack
 * (NET_BH) from scaling, and what the softnet work replaced with per-CPU
 * softirqs.
 *
 *   CPU0                                CPU1
 *   HI_SOFTIRQ: bh_action(NET_BH)
 *     spin_trylock(global_bh_lock) ok   hardirq: mark_bh(NET_BH)
 *     net_bh() ...                      HI_SOFTIRQ: bh_action(NET_BH)
 *                                         spin_trylock fails: mark_bh again
 *     spin_unlock(global_bh_lock)       ... retried until the lock is free
 *
 * Differs from Linux 2.4:
 * - no hardirq_trylock: kdefer has no global cli() lock, so bh_action only
 *   takes global_bh_lock.
 * - the numbers are 2.2's and include NET_BH (2.4 had already turned the
 *   network receive path into NET_RX_SOFTIRQ); init_bh runs at module
 *   load, on every CPU.
 * - a routine that throws is reported as an Oops and global_bh_lock is
 *   released (a 2.4 oops left it held).
 */
import { KdeferError, loading } from './module.js';
import { DEFINE_SPINLOCK, spin_trylock, spin_unlock, type SpinlockT } from './spinlock.js';
import { DECLARE_TASKLET, tasklet_hi_schedule, tasklet_kill, type TaskletStruct } from './tasklet.js';

/** The bottom halves of Linux 2.2 (include/linux/interrupt.h), in its order. */
export const TIMER_BH = 0;
export const CONSOLE_BH = 1;
export const TQUEUE_BH = 2;
export const DIGI_BH = 3;
export const SERIAL_BH = 4;
export const RISCOM8_BH = 5;
export const SPECIALIX_BH = 6;
export const AURORA_BH = 7;
export const ESP_BH = 8;
export const NET_BH = 9;
export const SCSI_BH = 10;
export const IMMEDIATE_BH = 11;
export const KEYBOARD_BH = 12;
export const CYCLADES_BH = 13;
export const CM206_BH = 14;
export const JS_BH = 15;
export const MACSERIAL_BH = 16;
export const ISICOM_BH = 17;
/** bh_base has 32 slots (one bit each in 2.2's bh_active / bh_mask). */
export const NR_BH = 32;

export type BhRoutine = () => void;

// This CPU's bh_base and bh_task_vec (every CPU ran the same init_bh at load).
const bh_base: (BhRoutine | null)[] = new Array<BhRoutine | null>(NR_BH).fill(null);
const bh_task_vec: (TaskletStruct | null)[] = new Array<TaskletStruct | null>(NR_BH).fill(null);
const nr_of = new Map<number, number>(); // tasklet id -> bottom half number

/**
 * global_bh_lock - the one lock that serialises every old-style bottom
 * half on the machine (null until the first init_bh).
 */
export let global_bh_lock: SpinlockT | null = null;

function check_nr(nr: number, who: string): void {
  if (!Number.isInteger(nr) || nr < 0 || nr >= NR_BH)
    throw new KdeferError(`${who}: bottom half ${String(nr)} does not exist (0-${NR_BH - 1})`);
}

/** The tasklet of every bottom half: run it under global_bh_lock, or retry later. */
function bh_action(t: TaskletStruct): void {
  const nr = nr_of.get(t.id)!;
  const lock = global_bh_lock!;
  if (!spin_trylock(lock)) {
    mark_bh(nr);
    return;
  }
  try {
    const routine = bh_base[nr];
    if (routine) routine();
  } finally {
    spin_unlock(lock);
  }
}

/**
 * init_bh - install `routine` as bottom half `nr`.
 * Context: module load (every CPU installs its copy).
 */
export function init_bh(nr: number, routine: BhRoutine): void {
  check_nr(nr, 'init_bh');
  if (typeof routine !== 'function') throw new KdeferError(`init_bh(${nr}): routine is not a function`);
  if (loading === null) throw new KdeferError(`init_bh(${nr}): call it at module load, so that every CPU has the routine`);
  global_bh_lock ??= DEFINE_SPINLOCK('global_bh_lock');
  const t = DECLARE_TASKLET(`bh:${nr}`, bh_action);
  nr_of.set(t.id, nr);
  bh_task_vec[nr] = t;
  bh_base[nr] = routine;
}

/**
 * mark_bh - ask for bottom half `nr` to run: schedules its HI tasklet on
 * this CPU (a no-op if it is already scheduled somewhere).
 * Context: any (usually a hardirq handler).
 */
export function mark_bh(nr: number): void {
  const t = bh_task_vec[nr];
  if (!t) {
    check_nr(nr, 'mark_bh');
    throw new KdeferError(`mark_bh(${nr}): no bottom half ${nr} was installed (init_bh at module load)`);
  }
  tasklet_hi_schedule(t);
}

/**
 * remove_bh - wait until bottom half `nr` is neither scheduled nor running,
 * then uninstall it on this CPU.
 * Context: process context (await it).
 */
export async function remove_bh(nr: number): Promise<void> {
  check_nr(nr, 'remove_bh');
  const t = bh_task_vec[nr];
  if (t) await tasklet_kill(t);
  bh_base[nr] = null;
}
