/**
 * rearm — a timer function that re-arms its own timer (SEMANTICS.md
 * S-TIME-10/11/12, the self re-arming half of R-1).
 *
 * A driver polls its device with a timer whose function re-arms itself every
 * 2 jiffies. The remove path stops the timer, waits a few periods, and frees
 * the object. del_timer() removes a PENDING timer; if the function is
 * running on CPU 1 at that moment, it re-arms the timer after del_timer()
 * returned, and the timer keeps running — into the freed object:
 *
 *     CPU 0 (remove)                       CPU 1 (TIMER_SOFTIRQ)
 *     --------------                       ---------------------
 *                                          rearm_timer_fn(t): poll the device
 *     del_timer(t)   // 0: not pending
 *                                          mod_timer(t, jiffies + 1)
 *     ... the timer fires again, and again ...
 *     kfree(obj)
 *                                          rearm_timer_fn(t): obj->polls++  <-- use-after-free
 *
 * del_timer_sync() waits for the running function and then deletes the
 * timer it re-armed; timer_shutdown_sync() also makes the re-arm a no-op.
 *
 * Entry points (CPU 0): trial(api, seed) — natural; forced(api) — the
 * interleaving of the diagram.
 */
import {
  defineModule,
  shared_int32,
  defineStruct,
  kmalloc,
  kfree,
  GFP_KERNEL,
  timer_setup,
  add_timer_on,
  mod_timer,
  del_timer,
  del_timer_sync,
  timer_shutdown_sync,
  timer_pending,
  from_timer,
  get_jiffies_64,
  jiffies,
  msleep,
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
  busy_us,
  prng,
  defineRace,
  raceApi,
} from '../racekit.js';
import { irqLine, irqLines } from '../irqs.js';

export const MODULE = 'race.rearm' as const;
export const APIS = ['del_timer', 'del_timer_sync', 'timer_shutdown_sync'] as const;
export type Api = (typeof APIS)[number];
export const GATE_IRQ = irqLine(MODULE);

/** The case descriptor: what the race lab (and any other host) knows of this case. */
export const CASE = defineRace({
  name: 'rearm',
  statement: 'S-TIME-11',
  summary: 'a self re-arming timer outlives del_timer() and runs on the freed object',
  hit: 'the timer re-armed itself after the stop call and ran on the freed object (KASAN slab-use-after-free)',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 50,
  irqs: irqLines(MODULE),
  url: import.meta.url,
});

/** How long one run polls the device (µs): the window in which del_timer misses. */
const WORK_US = 500;
/** One period: re-armed for jiffies + 1, a level-0 timer runs 2 jiffies later (HZ=1000). */
const PERIOD_US = 2000;
/** How long the remove path watches the timer after stopping it, and after freeing (ms). */
const SETTLE_MS = 6;

const FREED = FIRST_FREE; // CPU 0: the object is freed
const SAW_FREED = FIRST_FREE + 1; // CPU 1: a run found the object freed (its KASAN report is printed)

export interface Outcome {
  api: Api;
  ret: number;
  /** the function's runs when the stop call returned */
  runsAtStop: number;
  /** ... SETTLE_MS later (more: it kept running after the stop call) */
  runsAfterSettle: number;
  /** ... SETTLE_MS after kfree (forced del_timer: once a run has found the object freed) */
  runsAfterFree: number;
  /** a run found the object freed (and KASAN reported it) */
  sawFreed: boolean;
  /** the timer was pending right after the stop call returned */
  pendingAfterStop: boolean;
  /** forced, timer_shutdown_sync: what a later mod_timer returned (0: ignored); -1 otherwise */
  rearmAfterStop: number;
  gateWhere: string;
  gateTimeout: boolean;
}

type Obj = { polls: 'i32'; t: 'timer_list' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const ObjT = defineStruct('race_rearm_obj', { polls: 'i32', t: 'timer_list' });

  function rearm_timer_fn(t: TimerList): void {
    Atomics.store(s, RUNNING, 1);
    Atomics.add(s, RUNS, 1);
    const obj = from_timer<Obj>(t);
    obj.get('polls');
    gate_hold(s);
    const end = performance.now() + WORK_US / 1000;
    do {
      obj.add('polls', 1);
      cpu_relax();
    } while (performance.now() < end);
    mod_timer(t, jiffies + 1);
    // Freed before mod_timer: a touch or mod_timer itself reported it, and
    // the timer is not re-armed. Freed after: it is, and the next run reports.
    if (!obj.alive()) Atomics.store(s, SAW_FREED, 1);
    Atomics.store(s, RUNNING, 0);
  }
  registerFunction(`${MODULE}.fn`, rearm_timer_fn);
  gate_irq_init(GATE_IRQ, s, 'rearm');

  function race_rearm_probe(): SlabObject<Obj> {
    const obj = kmalloc(ObjT, GFP_KERNEL);
    timer_setup(obj.timer('t'), rearm_timer_fn, 0);
    return obj;
  }

  function race_rearm_stop(api: Api, t: TimerList): number {
    return api === 'del_timer' ? del_timer(t) : api === 'del_timer_sync' ? del_timer_sync(t) : timer_shutdown_sync(t);
  }

  function race_rearm_free(obj: SlabObject<Obj>): void {
    kfree(obj);
    Atomics.store(s, FREED, 1);
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  function start(hold: boolean): { obj: SlabObject<Obj>; t: TimerList } {
    gate_reset(s);
    Atomics.store(s, GATE_ARM, hold ? 1 : 0);
    Atomics.store(s, FREED, 0);
    Atomics.store(s, SAW_FREED, 0);
    const obj = race_rearm_probe();
    const t = obj.timer('t');
    t.expires = get_jiffies_64();
    add_timer_on(t, 1);
    return { obj, t };
  }

  return {
    /**
     * One natural trial: the timer runs on CPU 1 every period; at a seeded
     * random point of a period CPU 0 stops it with `api`, watches it for
     * SETTLE_MS, frees the object and watches again.
     * Context: process, CPU 0.
     */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      const { obj, t } = start(false);
      await wait_until(() => Atomics.load(s, RUNS) >= 2, 'the timer to run twice on CPU 1');
      busy_us(rnd() * PERIOD_US);
      const ret = race_rearm_stop(a, t);
      const runsAtStop = Atomics.load(s, RUNS);
      const pendingAfterStop = timer_pending(t);
      await msleep(SETTLE_MS);
      const runsAfterSettle = Atomics.load(s, RUNS);
      race_rearm_free(obj);
      await msleep(SETTLE_MS);
      await wait_until(() => Atomics.load(s, RUNNING) === 0, 'the timer function to return');
      return {
        api: a,
        ret,
        runsAtStop,
        runsAfterSettle,
        runsAfterFree: Atomics.load(s, RUNS),
        sawFreed: Atomics.load(s, SAW_FREED) === 1,
        pendingAfterStop,
        rearmAfterStop: -1,
        gateWhere: '',
        gateTimeout: false,
      };
    },

    /**
     * The re-arm race, forced. Context: process, CPU 0.
     *
     *   1. CPU 0 arms the timer on CPU 1, expiring now, with the gate armed.
     *   2. CPU 1: the function starts and waits at the gate, before its re-arm.
     *   3. CPU 0, the function inside, stops the timer:
     *      - del_timer: returns 0 (not pending); then the gate opens; the
     *        function re-arms its timer; CPU 0 waits until it has run twice
     *        more — it keeps running;
     *      - del_timer_sync / timer_shutdown_sync: the gate IRQ lands inside
     *        the call; the function re-arms (ignored after shutdown) and
     *        returns; the call deletes what it re-armed. timer_shutdown_sync:
     *        a later mod_timer is ignored too. CPU 0 watches for SETTLE_MS.
     *   4. CPU 0 frees the object: del_timer — CPU 0 waits until a run has
     *      found the object freed (and KASAN has reported it); the others —
     *      it watches for SETTLE_MS.
     */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      const { obj, t } = start(true);
      await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the timer function to reach the gate on CPU 1');
      let ret: number;
      if (a === 'del_timer') {
        ret = race_rearm_stop(a, t);
        Atomics.store(s, GATE_GO, 1);
      } else {
        open_gate_inside_next_call(GATE_IRQ);
        ret = race_rearm_stop(a, t);
      }
      const runsAtStop = Atomics.load(s, RUNS);
      const pendingAfterStop = timer_pending(t);
      let rearmAfterStop = -1;
      if (a === 'del_timer') {
        await wait_until(() => Atomics.load(s, RUNS) >= runsAtStop + 2, 'the re-armed timer to run twice more');
      } else {
        await msleep(SETTLE_MS);
        if (a === 'timer_shutdown_sync') {
          rearmAfterStop = mod_timer(t, get_jiffies_64() + 1);
          await msleep(SETTLE_MS);
        }
      }
      const runsAfterSettle = Atomics.load(s, RUNS);
      race_rearm_free(obj);
      if (a === 'del_timer') await wait_until(() => Atomics.load(s, SAW_FREED) === 1, 'the timer to run on the freed object');
      else await msleep(SETTLE_MS);
      await wait_until(() => Atomics.load(s, RUNNING) === 0, 'the timer function to return');
      return {
        api: a,
        ret,
        runsAtStop,
        runsAfterSettle,
        runsAfterFree: Atomics.load(s, RUNS),
        sawFreed: Atomics.load(s, SAW_FREED) === 1,
        pendingAfterStop,
        rearmAfterStop,
        gateWhere: gate_where(s),
        gateTimeout: Atomics.load(s, GATE_TIMEOUT) === 1,
      };
    },
  };
});
