/**
 * del-timer-uaf — SEMANTICS.md R-1: a timer freed while its function runs.
 *
 * A driver object from kmalloc embeds a timer whose function works on the
 * object. The remove path, in process context on CPU 0, stops the timer and
 * frees the object; the timer lives on CPU 1. del_timer() does not wait for
 * a function that is already running on another CPU:
 *
 *     CPU 0 (remove, process context)      CPU 1 (TIMER_SOFTIRQ)
 *     -------------------------------      ------------------------------
 *                                          uaf_timer_fn(t): obj = from_timer(t)
 *     del_timer(&obj->t)   // returns 0:   obj->hits++ ...
 *                          // not pending
 *     kfree(obj)
 *                                          obj->hits++   <-- use-after-free
 *
 * del_timer_sync() (and timer_shutdown_sync()) wait until the function has
 * returned, so the object is freed only after its last use.
 *
 * Entry points (CPU 0):
 * - trial(api, seed): one natural trial — arm the timer on CPU 1, let a
 *   seeded random time pass, tear down with `api`. No gate: whether the
 *   function is running at that moment is up to the two threads.
 * - forced(api): the interleaving of the diagram, forced with a gate.
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
  del_timer,
  del_timer_sync,
  timer_shutdown_sync,
  from_timer,
  get_jiffies_64,
  registerFunction,
  cpu_relax,
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
  DONE,
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

export const MODULE = 'race.del-timer-uaf' as const;
/** The API variants, in table order; the first is the buggy one. */
export const APIS = ['del_timer', 'del_timer_sync', 'timer_shutdown_sync'] as const;
export type Api = (typeof APIS)[number];
/** The gate IRQ (routed to CPU 0). */
export const GATE_IRQ = irqLine(MODULE);

/** The case descriptor: what the race lab (and any other host) knows of this case. */
export const CASE = defineRace({
  name: 'del-timer-uaf',
  statement: 'R-1',
  summary: 'del_timer() + kfree() while the function runs on another CPU: use-after-free',
  hit: 'the timer function touched the object after kfree (KASAN slab-use-after-free)',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 100,
  irqs: irqLines(MODULE),
  url: import.meta.url,
});

/** How long the function works on the object (µs): the race window. */
const WORK_US = 400;
/**
 * Natural trials: the timer is armed at a jiffy boundary for the next jiffy,
 * so its function starts about 2 jiffies later (level-0 timers expire one
 * jiffy after `expires`: never early). The teardown comes a seeded random
 * time after arming, spread around that moment.
 */
const DELAY_MIN_US = 1800;
const DELAY_SPAN_US = 1000;

// control words beyond racekit's
const TEARDOWN_DONE = FIRST_FREE; // CPU 0: 1 once the object is freed
const FN_SAW_FREED = FIRST_FREE + 1; // CPU 1: the function found the object freed

export interface Outcome {
  api: Api;
  /** the teardown call's return value */
  ret: number;
  /** the function's runs (0: the teardown came first and it never ran) */
  runs: number;
  /** the function had not returned when the teardown call returned */
  runningOnReturn: boolean;
  /** the function found the object freed under it */
  sawFreed: boolean;
  /** forced: where the gate IRQ landed ('' if not used) */
  gateWhere: string;
  gateTimeout: boolean;
  /** natural: µs from arming to the teardown call */
  delayUs: number;
}

type Obj = { state: 'i32'; hits: 'i32'; t: 'timer_list' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const ObjT = defineStruct('race_uaf_obj', { state: 'i32', hits: 'i32', t: 'timer_list' });

  function uaf_timer_fn(t: TimerList): void {
    Atomics.store(s, RUNNING, 1);
    Atomics.add(s, RUNS, 1);
    const obj = from_timer<Obj>(t);
    obj.get('state');
    gate_hold(s);
    // work on the object for WORK_US (a KASAN report names this function)
    const end = performance.now() + WORK_US / 1000;
    do {
      obj.add('hits', 1);
      cpu_relax();
    } while (performance.now() < end);
    if (Atomics.load(s, TEARDOWN_DONE) === 1) Atomics.store(s, FN_SAW_FREED, 1);
    Atomics.add(s, DONE, 1);
    Atomics.store(s, RUNNING, 0);
  }
  registerFunction(`${MODULE}.fn`, uaf_timer_fn);
  gate_irq_init(GATE_IRQ, s, 'uaf');

  /** The driver's probe: the object and its timer. */
  function race_uaf_probe(): SlabObject<Obj> {
    const obj = kmalloc(ObjT, GFP_KERNEL);
    obj.set('state', 1);
    timer_setup(obj.timer('t'), uaf_timer_fn, 0);
    return obj;
  }

  /** The driver's remove: stop the timer with `api`, free the object. */
  function race_uaf_remove(api: Api, obj: SlabObject<Obj>): { ret: number; runningOnReturn: boolean } {
    const t = obj.timer('t');
    const ret = api === 'del_timer' ? del_timer(t) : api === 'del_timer_sync' ? del_timer_sync(t) : timer_shutdown_sync(t);
    const runningOnReturn = Atomics.load(s, RUNNING) === 1;
    kfree(obj);
    Atomics.store(s, TEARDOWN_DONE, 1);
    return { ret, runningOnReturn };
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  function outcome(api: Api, ret: number, runningOnReturn: boolean, delayUs: number): Outcome {
    return {
      api,
      ret,
      runs: Atomics.load(s, RUNS),
      runningOnReturn,
      sawFreed: Atomics.load(s, FN_SAW_FREED) === 1,
      gateWhere: gate_where(s),
      gateTimeout: Atomics.load(s, GATE_TIMEOUT) === 1,
      delayUs,
    };
  }

  return {
    /** One natural trial of `api`. Context: process, CPU 0; the timer runs on CPU 1. */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      gate_reset(s);
      Atomics.store(s, TEARDOWN_DONE, 0);
      Atomics.store(s, FN_SAW_FREED, 0);
      const obj = race_uaf_probe();
      const t = obj.timer('t');
      const j = get_jiffies_64();
      spin_until(() => get_jiffies_64() !== j, 'the next jiffy');
      const t0 = performance.now();
      t.expires = get_jiffies_64() + 1;
      add_timer_on(t, 1);
      busy_us(DELAY_MIN_US + rnd() * DELAY_SPAN_US);
      const delayUs = (performance.now() - t0) * 1000;
      const { ret, runningOnReturn } = race_uaf_remove(a, obj);
      return outcome(a, ret, runningOnReturn, delayUs);
    },

    /**
     * The R-1 interleaving, forced. Context: process, CPU 0.
     *
     *   1. CPU 0 arms the timer on CPU 1, expiring now, with the gate armed.
     *   2. CPU 1: the function starts, reads the object, waits at the gate.
     *   3. CPU 0, the function inside: the teardown call.
     *      - del_timer: returns at once (0: not pending); kfree; open the gate.
     *      - del_timer_sync / timer_shutdown_sync: the gate IRQ lands inside
     *        the call and opens the gate; the call returns once the function
     *        has; kfree.
     *   4. CPU 1: the function goes on using the object; CPU 0 waits for it.
     */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      gate_reset(s);
      Atomics.store(s, TEARDOWN_DONE, 0);
      Atomics.store(s, FN_SAW_FREED, 0);
      const obj = race_uaf_probe();
      const t = obj.timer('t');
      Atomics.store(s, GATE_ARM, 1);
      t.expires = get_jiffies_64();
      add_timer_on(t, 1);
      await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the timer function to reach the gate on CPU 1');
      if (a !== 'del_timer') open_gate_inside_next_call(GATE_IRQ);
      const { ret, runningOnReturn } = race_uaf_remove(a, obj);
      if (a === 'del_timer') Atomics.store(s, GATE_GO, 1);
      await wait_until(() => Atomics.load(s, DONE) === 1, 'the timer function to return');
      return outcome(a, ret, runningOnReturn, 0);
    },
  };
});
