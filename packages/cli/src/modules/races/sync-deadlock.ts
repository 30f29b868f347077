/**
 * sync-deadlock — SEMANTICS.md R-3 / S-TIME-13(b): del_timer_sync() called
 * while holding a lock that the timer function takes.
 *
 * A driver's periodic timer reads its device, then takes the driver lock to
 * update the statistics and decide whether to re-arm. The remove path takes
 * the same lock to mark the device as shutting down, quiesces the hardware
 * under it, and — the bug — calls del_timer_sync() before dropping it. If
 * the function has started and not yet taken the lock, each CPU waits for
 * the other forever:
 *
 *     CPU 0 (remove, process context)      CPU 1 (TIMER_SOFTIRQ)
 *     -------------------------------      ---------------------
 *                                          dl_timer_fn(t): read the device
 *     spin_lock_bh(&race_dl_lock)
 *     obj->shutting = 1
 *                                          spin_lock(&race_dl_lock)  // spins
 *     del_timer_sync(t)  // spins until
 *                        // dl_timer_fn returns
 *
 * kdefer reports the lockup ("BUG: spinlock lockup suspected" naming the lock,
 * its owner CPU 0 and the spinning CPU 1 — or del_timer_sync's own lockup
 * report) after the machine's spinLockupMs, and the machine stops: it does
 * not hang. The fix drops the lock before the sync delete: the flag set
 * under the lock keeps the function from re-arming.
 *
 * Entry points (CPU 0): trial(api, seed) — natural; forced(api) — the
 * interleaving of the diagram. A trial that hits stops the machine.
 */
import {
  defineModule,
  shared_int32,
  defineStruct,
  DEFINE_SPINLOCK,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  spin_lockup_ms,
  kmalloc,
  kfree,
  GFP_KERNEL,
  timer_setup,
  add_timer_on,
  mod_timer,
  del_timer_sync,
  from_timer,
  get_jiffies_64,
  jiffies,
  cpu_relax,
  registerFunction,
  type TimerList,
  type SlabObject,
} from '@kdefer/core';
import {
  CTL_WORDS,
  FIRST_FREE,
  GATE_ARM,
  GATE_INSIDE,
  GATE_GO,
  GATE_TIMEOUT,
  RUNS,
  RUNNING,
  gate_reset,
  gate_hold,
  gate_irq_init,
  gate_where,
  open_gate_inside_next_call,
  wait_until,
  spin_until,
  busy_us,
  prng,
  defineRace,
  raceApi,
} from '../racekit.js';
import { irqLine, irqLines } from '../irqs.js';

export const MODULE = 'race.sync-deadlock' as const;
/** The variants: the first is the bug. */
export const APIS = ['del_timer_sync (lock held)', 'del_timer_sync (lock dropped)'] as const;
export type Api = (typeof APIS)[number];
export const GATE_IRQ = irqLine(MODULE);

/** The case descriptor: what the race lab (and any other host) knows of this case. */
export const CASE = defineRace({
  name: 'sync-deadlock',
  statement: 'R-3',
  summary: 'del_timer_sync() under a lock the function takes: both CPUs spin, lockup',
  hit: 'the two CPUs deadlocked: a lockup report naming both CPUs (and the lock), and the machine stopped',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 8,
  // A short lockup bound, so that a hit costs little.
  boot: { spinLockupMs: 150 },
  irqs: irqLines(MODULE),
  url: import.meta.url,
});
/** The driver lock both sides take (named in the lockup report). */
export const LOCK_NAME = 'race_dl_lock';

/** How long the function reads the device before it takes the lock (µs): the deadlock window. */
const PRE_LOCK_US = 500;
/** How long the remove path quiesces the hardware under the lock before the sync delete (µs). */
const UNDER_LOCK_US = 200;
const PERIOD_US = 2000;

const LOCKING = FIRST_FREE; // CPU 1: about to take the lock (or spinning on it)

export interface Outcome {
  api: Api;
  ret: number;
  runs: number;
  gateWhere: string;
  gateTimeout: boolean;
}

type Obj = { stat: 'i32'; shutting: 'i32'; t: 'timer_list' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const ObjT = defineStruct('race_dl_obj', { stat: 'i32', shutting: 'i32', t: 'timer_list' });
  const lock = DEFINE_SPINLOCK(LOCK_NAME);

  function dl_timer_fn(t: TimerList): void {
    Atomics.store(s, RUNNING, 1);
    Atomics.add(s, RUNS, 1);
    const obj = from_timer<Obj>(t);
    gate_hold(s);
    const end = performance.now() + PRE_LOCK_US / 1000;
    do {
      obj.get('stat');
      cpu_relax();
    } while (performance.now() < end);
    Atomics.store(s, LOCKING, 1);
    spin_lock(lock);
    Atomics.store(s, LOCKING, 0);
    obj.add('stat', 1);
    const rearm = obj.get('shutting') === 0;
    spin_unlock(lock);
    if (rearm) mod_timer(t, jiffies + 1);
    Atomics.store(s, RUNNING, 0);
  }
  registerFunction(`${MODULE}.fn`, dl_timer_fn);
  gate_irq_init(GATE_IRQ, s, 'dl');

  function race_dl_probe(): SlabObject<Obj> {
    const obj = kmalloc(ObjT, GFP_KERNEL);
    timer_setup(obj.timer('t'), dl_timer_fn, 0);
    return obj;
  }

  /** The buggy remove: the sync delete under the lock the function takes. */
  function race_dl_remove_locked(obj: SlabObject<Obj>, t: TimerList, underLock: () => void): number {
    spin_lock_bh(lock);
    obj.set('shutting', 1);
    underLock();
    const ret = del_timer_sync(t);
    spin_unlock_bh(lock);
    kfree(obj);
    return ret;
  }

  /** The fixed remove: mark it under the lock, drop the lock, then wait for the timer. */
  function race_dl_remove(obj: SlabObject<Obj>, t: TimerList, beforeSync: () => void): number {
    spin_lock_bh(lock);
    obj.set('shutting', 1);
    spin_unlock_bh(lock);
    beforeSync();
    const ret = del_timer_sync(t);
    kfree(obj);
    return ret;
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  function start(): { obj: SlabObject<Obj>; t: TimerList } {
    const obj = race_dl_probe();
    const t = obj.timer('t');
    t.expires = get_jiffies_64();
    add_timer_on(t, 1);
    return { obj, t };
  }

  function outcome(api: Api, ret: number): Outcome {
    return { api, ret, runs: Atomics.load(s, RUNS), gateWhere: gate_where(s), gateTimeout: Atomics.load(s, GATE_TIMEOUT) === 1 };
  }

  return {
    /**
     * One natural trial: the timer runs on CPU 1 every period; at a seeded
     * random point of a period CPU 0 runs the remove path of `api`.
     * Context: process, CPU 0. A hit stops the machine (the call rejects).
     */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      gate_reset(s);
      Atomics.store(s, LOCKING, 0);
      const { obj, t } = start();
      await wait_until(() => Atomics.load(s, RUNS) >= 2, 'the timer to run twice on CPU 1');
      busy_us(rnd() * PERIOD_US);
      const ret = a === APIS[0] ? race_dl_remove_locked(obj, t, () => busy_us(UNDER_LOCK_US)) : race_dl_remove(obj, t, () => {});
      return outcome(a, ret);
    },

    /**
     * R-3, forced. Context: process, CPU 0.
     *
     *   1. CPU 0 arms the timer on CPU 1, expiring now, with the gate armed.
     *   2. CPU 1: the function starts and waits at the gate.
     *   3. CPU 0 takes the lock (spin_lock_bh) and marks the device as
     *      shutting down. Then:
     *      - lock held: opens the gate; CPU 1 reads the device and spins on
     *        the lock; CPU 0, once it sees CPU 1 at the lock, quiesces the
     *        hardware for a third of spinLockupMs (so that CPU 1's spin is
     *        the older one and its lockup report comes first) and calls
     *        del_timer_sync: both CPUs spin; the lockup report stops the
     *        machine and this call rejects.
     *      - lock dropped: drops the lock; the gate IRQ lands inside
     *        del_timer_sync; the function takes the free lock, sees the flag,
     *        does not re-arm, returns; del_timer_sync returns; kfree.
     */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      gate_reset(s);
      Atomics.store(s, LOCKING, 0);
      Atomics.store(s, GATE_ARM, 1);
      const { obj, t } = start();
      await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the timer function to reach the gate on CPU 1');
      let ret: number;
      if (a === APIS[0]) {
        ret = race_dl_remove_locked(obj, t, () => {
          Atomics.store(s, GATE_GO, 1);
          spin_until(() => Atomics.load(s, LOCKING) === 1, 'the timer function to reach the lock');
          busy_us((spin_lockup_ms() * 1000) / 3);
        });
      } else {
        ret = race_dl_remove(obj, t, () => open_gate_inside_next_call(GATE_IRQ));
      }
      await wait_until(() => Atomics.load(s, RUNNING) === 0, 'the timer function to return');
      return outcome(a, ret);
    },
  };
});
