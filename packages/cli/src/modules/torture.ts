/**
 * torture.ts — a built-in kdefer module: lock torture, in the spirit of the
 * kernel's kernel/locking/locktorture.c.
 *
 * Writer and reader threads (tasks, several per CPU) take one lock over and
 * over until the host says stop, each counting its acquisitions in its own
 * slot; inside the critical section they check the lock's promise with
 * atomic counters of their own:
 *   - a writer that finds another writer inside, or a reader inside, is a
 *     failure (the lock let two in);
 *   - a reader that finds a writer inside is a failure.
 * Optionally a softirq writer on every CPU takes the lock too (raised by
 * the torture IRQ the host fires): the tasks then use the _bh variants, as
 * S-LOCK-6 prescribes for process context sharing with a softirq.
 *
 * As locktorture does, a writer now and then holds the lock much longer
 * (a "long hold"), to let contention build up.
 *
 * Differs from locktorture: no CPU hotplug, no priority boosting; threads
 * are kdefer tasks, which switch only where they yield (cond_resched every
 * BATCH acquisitions), so several threads of one CPU interleave by batches.
 */
import {
  defineModule,
  DEFINE_SPINLOCK,
  DEFINE_RWLOCK,
  shared_int32,
  shared_array,
  smp_processor_id,
  request_irq,
  IRQ_HANDLED,
  open_softirq,
  raise_softirq,
  IRQ_POLL_SOFTIRQ,
  cpu_relax,
  cond_resched,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  read_lock,
  read_unlock,
  read_lock_bh,
  read_unlock_bh,
  write_lock,
  write_unlock,
  write_lock_bh,
  write_unlock_bh,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

/** The module's name, for machine.call(cpu, TORTURE, entry, slot). */
export const TORTURE = 'torture';
/** The IRQ the host raises to run the softirq writers. */
export const TORTURE_IRQ = irqLine('torture');
/** Most threads (task writers, task readers, softirq writers) a run may have. */
export const TORTURE_MAX_THREADS = 256;
/** Acquisitions between two cond_resched() of a task thread. */
export const BATCH = 32;

/** Words of `torture.ctl` (host writes the setup before the threads start; Atomics for the rest). */
export const T_STOP = 0; //       host: 1 = stop (A)
export const T_RW = 1; //         1: rwlock, 0: spinlock (I)
export const T_BH = 2; //         1: tasks use the _bh variants, softirq writers run (I)
export const T_HOLD = 3; //       cpu_relax() inside a critical section (I)
export const T_LONG_EVERY = 4; // one writer acquisition in this many holds the lock LONG_HOLD times longer (I)
export const T_W_IN = 5; //       writers inside (A)
export const T_R_IN = 6; //       readers inside (A)
export const T_SIRQ_BASE = 7; //  slot of CPU 0's softirq writer (I)
export const T_SIRQ_BATCH = 8; // acquisitions per softirq run (I)
export const CTL_WORDS = 16;
/** How many times longer a long hold is. */
export const LONG_HOLD = 50;

export default defineModule(TORTURE, () => {
  const ctl = shared_int32('torture.ctl', CTL_WORDS);
  // [2 * slot] acquisitions, [2 * slot + 1] failures; each slot written by its own thread only.
  const stats = shared_array('torture.stats', Float64Array, 2 * TORTURE_MAX_THREADS);
  const spin = DEFINE_SPINLOCK('torture.spin_lock');
  const rw = DEFINE_RWLOCK('torture.rwlock');

  function write_one(slot: number, bh: boolean, long: boolean): void {
    const isRw = ctl[T_RW] !== 0;
    if (isRw) {
      if (bh) write_lock_bh(rw);
      else write_lock(rw);
    } else if (bh) spin_lock_bh(spin);
    else spin_lock(spin);
    let fail = 0;
    if (Atomics.add(ctl, T_W_IN, 1) !== 0) fail++;
    if (Atomics.load(ctl, T_R_IN) !== 0) fail++;
    const hold = ctl[T_HOLD]! * (long ? LONG_HOLD : 1);
    for (let k = 0; k < hold; k++) cpu_relax();
    Atomics.sub(ctl, T_W_IN, 1);
    if (isRw) {
      if (bh) write_unlock_bh(rw);
      else write_unlock(rw);
    } else if (bh) spin_unlock_bh(spin);
    else spin_unlock(spin);
    stats[2 * slot]!++;
    if (fail) stats[2 * slot + 1]! += fail;
  }

  function read_one(slot: number, bh: boolean): void {
    if (bh) read_lock_bh(rw);
    else read_lock(rw);
    Atomics.add(ctl, T_R_IN, 1);
    const fail = Atomics.load(ctl, T_W_IN) !== 0;
    const hold = ctl[T_HOLD]!;
    for (let k = 0; k < hold; k++) cpu_relax();
    Atomics.sub(ctl, T_R_IN, 1);
    if (bh) read_unlock_bh(rw);
    else read_unlock(rw);
    stats[2 * slot]!++;
    if (fail) stats[2 * slot + 1]!++;
  }

  open_softirq(IRQ_POLL_SOFTIRQ, function torture_softirq_writer() {
    if (Atomics.load(ctl, T_STOP) !== 0 || ctl[T_BH] === 0) return;
    const slot = ctl[T_SIRQ_BASE]! + smp_processor_id();
    for (let k = 0; k < ctl[T_SIRQ_BATCH]!; k++) write_one(slot, false, false);
  });
  request_irq(
    TORTURE_IRQ,
    function torture_interrupt() {
      raise_softirq(IRQ_POLL_SOFTIRQ);
      return IRQ_HANDLED;
    },
    0,
    'torture',
    null,
  );

  return {
    /** writer - a writer thread on this CPU until the host stops it. @returns its acquisitions. */
    async writer(slot: number): Promise<number> {
      const bh = ctl[T_BH] !== 0;
      const longEvery = ctl[T_LONG_EVERY]!;
      let n = 0;
      while (Atomics.load(ctl, T_STOP) === 0) {
        for (let k = 0; k < BATCH; k++) write_one(slot, bh, longEvery > 0 && ++n % longEvery === 0);
        await cond_resched();
      }
      return stats[2 * slot]!;
    },
    /** reader - a reader thread (rwlock only) on this CPU until the host stops it. @returns its acquisitions. */
    async reader(slot: number): Promise<number> {
      const bh = ctl[T_BH] !== 0;
      while (Atomics.load(ctl, T_STOP) === 0) {
        for (let k = 0; k < BATCH; k++) read_one(slot, bh);
        await cond_resched();
      }
      return stats[2 * slot]!;
    },
  };
});
