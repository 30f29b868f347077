/**
 * shutdown — SEMANTICS.md R-2 / S-TIME-12: a timer re-armed by another path
 * during teardown, and why timer_shutdown_sync() exists.
 *
 * A driver's watchdog timer defers its work to a work item (the timer
 * function only queues it), and the work function re-arms the timer when it
 * is done — the timer <-> work cycle of CVE-2023-4133 (cxgb4) and
 * CVE-2023-4134 (cyttsp4). The remove path stops the timer with
 * del_timer_sync(), cancels the work with cancel_work_sync(), frees the
 * object. del_timer_sync() guarantees only that the timer is not pending and
 * its function not running WHEN IT RETURNS: the work queued by the last run
 * can still re-arm it:
 *
 *     CPU 0 (remove)                       CPU 1
 *     --------------                       -----
 *                                          TIMER:   sd_timer_fn: schedule_work(w)
 *                                          kworker: sd_work_fn: working ...
 *     del_timer_sync(t)  // 0: idle
 *     cancel_work_sync(w) // waits for it: kworker: mod_timer(t, jiffies + 1)
 *     kfree(obj)
 *                                          TIMER:   sd_timer_fn: obj->wd++  <-- use-after-free
 *
 * timer_shutdown_sync() first makes every later arming a no-op, so the
 * work's mod_timer() is ignored (it returns 0) and the timer stays dead.
 *
 * The work item is the driver's one static work (kdefer's work items are
 * declared by name: they cannot be embedded in slab objects yet), and finds
 * the object through the driver's device pointer, a shared word.
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
  slab_obj,
  GFP_KERNEL,
  timer_setup,
  add_timer_on,
  mod_timer,
  del_timer_sync,
  timer_shutdown_sync,
  timer_pending,
  from_timer,
  DECLARE_WORK,
  schedule_work,
  cancel_work_sync,
  get_jiffies_64,
  jiffies,
  msleep,
  cpu_relax,
  registerFunction,
  get_current,
  PF_WQ_WORKER,
  type TimerList,
  type WorkStruct,
  type SlabObject,
} from '@kdefer/core';
import {
  CTL_WORDS,
  FIRST_FREE,
  GATE_ARM,
  GATE_INSIDE,
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
  GATE_LIMIT_MS,
  defineRace,
  raceApi,
} from '../racekit.js';
import { irqLine, irqLines } from '../irqs.js';

export const MODULE = 'race.shutdown' as const;
export const APIS = ['del_timer_sync', 'timer_shutdown_sync'] as const;
export type Api = (typeof APIS)[number];
export const GATE_IRQ = irqLine(MODULE);

/** The case descriptor: what the race lab (and any other host) knows of this case. */
export const CASE = defineRace({
  name: 'shutdown',
  statement: 'R-2',
  summary: 'timer -> work -> mod_timer: only timer_shutdown_sync() keeps it dead',
  hit: 'the work re-armed the timer after the stop call and it ran on the freed object (KASAN slab-use-after-free)',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 50,
  irqs: irqLines(MODULE),
  url: import.meta.url,
});

/** The timer function's work (µs). */
const TIMER_WORK_US = 200;
/** The work function's work before it re-arms the timer (µs). */
const WORK_WORK_US = 300;
const PERIOD_US = 2000;
/** How long the remove path watches after kfree for the timer to come back (ms). */
const SETTLE_MS = 6;

// control words beyond racekit's (RUNS/RUNNING count the timer function)
const WORK_RUNS = FIRST_FREE; // work function runs
const WORK_RUNNING = FIRST_FREE + 1;
const WORK_REARM_RET = FIRST_FREE + 2; // forced: the held work's mod_timer() return + 1
const WORK_PENDING_AFTER = FIRST_FREE + 3; // forced: timer_pending() after it, + 1
const FREED = FIRST_FREE + 4; // CPU 0: the object is freed
const HOLD_TIMER = FIRST_FREE + 5; // forced: the timer function's next run waits for FREED first
const RUNS_AFTER_FREE = FIRST_FREE + 6; // timer function runs that started after kfree
const DEVICE = FIRST_FREE + 7; // the driver's device pointer: the object's handle
const WORDS_USED = 8;

export interface Outcome {
  api: Api;
  ret: number;
  /** timer function runs in all, and those that started after kfree */
  runs: number;
  runsAfterFree: number;
  /** forced: what the work's mod_timer returned, and whether the timer was pending after it (-1: n/a) */
  rearmRet: number;
  pendingAfterRearm: number;
  gateWhere: string;
  gateTimeout: boolean;
}

type Obj = { wd: 'i32'; t: 'timer_list' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const ObjT = defineStruct('race_sd_obj', { wd: 'i32', t: 'timer_list' });

  function sd_timer_fn(t: TimerList): void {
    // forced: the run the work re-armed must wait for kfree — but if its tick
    // landed on top of the kworker still finishing that very work item (this
    // CPU), spinning here would wait for itself: cancel_work_sync, and so the
    // kfree, wait for that work to return. Come back one jiffy later instead.
    if (Atomics.load(s, HOLD_TIMER) === 1 && ((get_current()?.flags ?? 0) & PF_WQ_WORKER) !== 0) {
      mod_timer(t, jiffies + 1);
      return;
    }
    Atomics.store(s, RUNNING, 1);
    Atomics.add(s, RUNS, 1);
    // forced: a run the work re-armed does not start before the remove
    // path is over — however late CPU 0 gets there
    if (Atomics.compareExchange(s, HOLD_TIMER, 1, 0) === 1)
      spin_until(() => Atomics.load(s, FREED) === 1, 'the object to be freed', GATE_LIMIT_MS);
    if (Atomics.load(s, FREED) === 1) Atomics.add(s, RUNS_AFTER_FREE, 1);
    const obj = from_timer<Obj>(t);
    const end = performance.now() + TIMER_WORK_US / 1000;
    do {
      obj.add('wd', 1);
      cpu_relax();
    } while (performance.now() < end);
    schedule_work(work);
    Atomics.store(s, RUNNING, 0);
  }

  async function sd_work_fn(_w: WorkStruct): Promise<void> {
    const dev = Atomics.load(s, DEVICE);
    if (dev === 0) return; // no device (between trials)
    Atomics.store(s, WORK_RUNNING, 1);
    Atomics.add(s, WORK_RUNS, 1);
    const obj = slab_obj<Obj>(dev);
    obj.get('wd');
    const held = Atomics.load(s, GATE_ARM) === 1;
    gate_hold(s);
    const end = performance.now() + WORK_WORK_US / 1000;
    do {
      obj.get('wd');
      cpu_relax();
    } while (performance.now() < end);
    const t = obj.timer('t');
    const r = mod_timer(t, jiffies + 1);
    if (held) {
      Atomics.store(s, WORK_REARM_RET, r + 1);
      Atomics.store(s, WORK_PENDING_AFTER, (timer_pending(t) ? 1 : 0) + 1);
    }
    Atomics.store(s, WORK_RUNNING, 0);
  }
  registerFunction(`${MODULE}.timer_fn`, sd_timer_fn);
  const work = DECLARE_WORK(`${MODULE}.work`, sd_work_fn);
  gate_irq_init(GATE_IRQ, s, 'sd');

  function race_sd_probe(): SlabObject<Obj> {
    const obj = kmalloc(ObjT, GFP_KERNEL);
    timer_setup(obj.timer('t'), sd_timer_fn, 0);
    Atomics.store(s, DEVICE, obj.handle);
    return obj;
  }

  /** The remove path: stop the timer with `api`, cancel the work, free the object. */
  async function race_sd_remove(api: Api, obj: SlabObject<Obj>, beforeCancel: () => void): Promise<number> {
    const t = obj.timer('t');
    const ret = api === 'del_timer_sync' ? del_timer_sync(t) : timer_shutdown_sync(t);
    beforeCancel();
    await cancel_work_sync(work);
    kfree(obj);
    Atomics.store(s, FREED, 1);
    return ret;
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  function start(hold: boolean): SlabObject<Obj> {
    gate_reset(s);
    for (let k = FIRST_FREE; k < FIRST_FREE + WORDS_USED; k++) Atomics.store(s, k, 0);
    Atomics.store(s, GATE_ARM, hold ? 1 : 0);
    const obj = race_sd_probe();
    const t = obj.timer('t');
    t.expires = get_jiffies_64();
    add_timer_on(t, 1);
    return obj;
  }

  async function finish(api: Api, ret: number): Promise<Outcome> {
    await wait_until(() => Atomics.load(s, RUNNING) === 0 && Atomics.load(s, WORK_RUNNING) === 0, 'the timer and work functions to return');
    return {
      api,
      ret,
      runs: Atomics.load(s, RUNS),
      runsAfterFree: Atomics.load(s, RUNS_AFTER_FREE),
      rearmRet: Atomics.load(s, WORK_REARM_RET) - 1,
      pendingAfterRearm: Atomics.load(s, WORK_PENDING_AFTER) - 1,
      gateWhere: gate_where(s),
      gateTimeout: Atomics.load(s, GATE_TIMEOUT) === 1,
    };
  }

  return {
    /**
     * One natural trial: timer and work cycle on CPU 1; at a seeded random
     * point of a period CPU 0 runs the remove path, then watches SETTLE_MS.
     * Context: process, CPU 0.
     */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      const obj = start(false);
      await wait_until(() => Atomics.load(s, WORK_RUNS) >= 2, 'the timer/work cycle to run twice on CPU 1');
      busy_us(rnd() * PERIOD_US);
      const ret = await race_sd_remove(a, obj, () => {});
      await msleep(SETTLE_MS);
      return finish(a, ret);
    },

    /**
     * R-2, forced. Context: process, CPU 0.
     *
     *   1. CPU 0 arms the timer on CPU 1, expiring now, with the gate armed.
     *   2. CPU 1: the timer function queues the work and returns; a kworker
     *      runs the work function, which waits at the gate, before its
     *      mod_timer.
     *   3. CPU 0 stops the timer (del_timer_sync or timer_shutdown_sync):
     *      it is neither pending nor running, the call returns at once.
     *   4. CPU 0 cancels the work; the gate IRQ lands inside cancel_work_sync
     *      and opens the gate; the work re-arms the timer — for real after
     *      del_timer_sync, ignored after timer_shutdown_sync — and returns;
     *      cancel_work_sync returns; kfree.
     *   5. del_timer_sync: the re-armed timer runs — held at its entry until
     *      the kfree of step 4, however late that comes — on the freed
     *      object (and queues the work again, which finds it freed too);
     *      CPU 0 waits for it. timer_shutdown_sync: CPU 0 watches SETTLE_MS.
     */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      const obj = start(true);
      await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the work function to reach the gate on CPU 1');
      Atomics.store(s, HOLD_TIMER, 1);
      const ret = await race_sd_remove(a, obj, () => open_gate_inside_next_call(GATE_IRQ));
      if (a === 'del_timer_sync')
        await wait_until(() => Atomics.load(s, RUNS_AFTER_FREE) > 0, 'the re-armed timer to run on the freed object');
      else await msleep(SETTLE_MS);
      return finish(a, ret);
    },
  };
});
