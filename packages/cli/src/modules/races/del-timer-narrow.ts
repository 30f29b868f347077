/**
 * del-timer-narrow — SEMANTICS.md R-1 with the window real code has: a timer
 * freed while its function runs, where the function checks its object and
 * touches it in the very next statement, with no widening delay.
 *
 *     CPU 0 (remove, process context)      CPU 1 (TIMER_SOFTIRQ)
 *     -------------------------------      ------------------------------
 *                                          expire_timers: detach t (not pending)
 *     del_timer(&obj->t)   // returns 0
 *     kfree(obj)
 *                                          narrow_timer_fn(t):
 *                                            if (obj->state == ALIVE)  <-- use-after-free
 *                                                    obj->hits++;
 *
 * The window is the few hundred nanoseconds between the timer's detach and
 * the function's first access: natural trials in the free-running mode
 * almost never hit it (kdefer race del-timer-narrow measures how rarely).
 * Deterministic mode's schedules reach it: kdefer explore del-timer-narrow
 * --strategy pct finds it, kdefer replay reproduces it every time.
 *
 * Entry points (CPU 0):
 * - trial(api, seed): arm the timer on CPU 1 two jiffies ahead, sleep a
 *   seeded 1-3 ms so that the teardown comes around the expiry, tear down
 *   with `api`; then wait a few jiffies for a late function.
 * - forced(api): the interleaving above, forced: the teardown runs while the
 *   function is held at its start.
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
  msleep,
  registerFunction,
  type TimerList,
  type SlabObject,
} from '@kdefer/core';
import {
  CTL_WORDS,
  FIRST_FREE,
  RUNS,
  DONE,
  gate_reset,
  gate_hold,
  GATE_ARM,
  GATE_INSIDE,
  GATE_GO,
  wait_until,
  prng,
  defineRace,
  raceApi,
} from '../racekit.js';
import { irqLines } from '../irqs.js';

export const MODULE = 'race.del-timer-narrow' as const;
/** The API variants, in table order; the first is the buggy one. */
export const APIS = ['del_timer', 'del_timer_sync', 'timer_shutdown_sync'] as const;
export type Api = (typeof APIS)[number];

/** The case descriptor. */
export const CASE = defineRace({
  name: 'del-timer-narrow',
  statement: 'R-1',
  summary: 'del_timer() + kfree() in the narrow window before the function touches its object: use-after-free, rarely hit',
  hit: 'the timer function read the object after kfree (KASAN slab-use-after-free)',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 200,
  irqs: irqLines(MODULE),
  url: import.meta.url,
});

const ALIVE = 1;
const TEARDOWN_DONE = FIRST_FREE; // 1 once the object is freed

export interface Outcome {
  api: Api;
  ret: number;
  runs: number;
}

type Obj = { state: 'i32'; hits: 'i32'; t: 'timer_list' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const ObjT = defineStruct('race_narrow_obj', { state: 'i32', hits: 'i32', t: 'timer_list' });

  function narrow_timer_fn(t: TimerList): void {
    Atomics.add(s, RUNS, 1);
    gate_hold(s); // forced(): held here; a natural trial passes at once
    const obj = from_timer<Obj>(t);
    if (obj.get('state') === ALIVE) obj.add('hits', 1);
    Atomics.add(s, DONE, 1);
  }
  registerFunction(`${MODULE}.fn`, narrow_timer_fn);

  function probe(): SlabObject<Obj> {
    const obj = kmalloc(ObjT, GFP_KERNEL);
    obj.set('state', ALIVE);
    timer_setup(obj.timer('t'), narrow_timer_fn, 0);
    return obj;
  }

  function remove(api: Api, obj: SlabObject<Obj>): number {
    const t = obj.timer('t');
    const ret = api === 'del_timer' ? del_timer(t) : api === 'del_timer_sync' ? del_timer_sync(t) : timer_shutdown_sync(t);
    kfree(obj);
    Atomics.store(s, TEARDOWN_DONE, 1);
    return ret;
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  return {
    /** One natural trial of `api`. Context: process, CPU 0; the timer runs on CPU 1. */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      gate_reset(s);
      Atomics.store(s, TEARDOWN_DONE, 0);
      const obj = probe();
      const t = obj.timer('t');
      t.expires = get_jiffies_64() + 2;
      add_timer_on(t, 1);
      await msleep(1 + Math.floor(rnd() * 3));
      const ret = remove(a, obj);
      await msleep(4); // a function still to come runs before the trial ends
      return { api: a, ret, runs: Atomics.load(s, RUNS) };
    },

    /** The interleaving, forced: the function is held before its first access while CPU 0 tears down. */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      gate_reset(s);
      Atomics.store(s, TEARDOWN_DONE, 0);
      const obj = probe();
      const t = obj.timer('t');
      Atomics.store(s, GATE_ARM, 1);
      t.expires = get_jiffies_64();
      add_timer_on(t, 1);
      await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the timer function to start on CPU 1');
      if (a === 'del_timer') {
        const ret = remove(a, obj);
        Atomics.store(s, GATE_GO, 1);
        await wait_until(() => Atomics.load(s, DONE) === 1, 'the timer function to return');
        return { api: a, ret, runs: Atomics.load(s, RUNS) };
      }
      Atomics.store(s, GATE_GO, 1); // the _sync variants would wait for the held function: let it go first
      const ret = remove(a, obj);
      return { api: a, ret, runs: Atomics.load(s, RUNS) };
    },
  };
});
