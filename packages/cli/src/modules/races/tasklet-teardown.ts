/**
 * tasklet-teardown — SEMANTICS.md R-8 / S-TASK-9: a tasklet killed while
 * its interrupt can still schedule it.
 *
 * A device interrupts on IRQ 52 (routed to CPU 1); its handler counts the
 * interrupt in the driver's private object and schedules the driver's
 * tasklet, which then works on the object. The remove path kills the
 * tasklet, frees the object, and only then frees the IRQ. tasklet_kill()
 * waits for a scheduled or running tasklet, but nothing stops the device
 * from scheduling it again right after:
 *
 *     CPU 0 (remove)                       CPU 1
 *     --------------                       -----
 *     tasklet_kill(&priv->bh) // idle now
 *                                          IRQ 52: ttd_interrupt: tasklet_schedule(&priv->bh)
 *                                          TASKLET: ttd_tasklet_fn: working on priv ...
 *     kfree(priv)
 *                                          TASKLET: priv->work++   <-- use-after-free
 *     free_irq(52, priv)
 *
 * (or the interrupt itself lands after kfree and touches priv.) Freeing the
 * IRQ first — free_irq() waits for running handlers, and no handler runs
 * afterwards — then killing the tasklet closes the window.
 *
 * The line is shared (IRQF_SHARED) with a sibling device whose handler only
 * counts: a reproducer sees through it that an interrupt was delivered even
 * after the driver's handler is gone.
 *
 * Entry points: device(seed) on CPU 1 — the device: it waits for the next
 * trial to request the IRQ, then raises it at seeded random intervals until
 * that trial stops it; trial(api, seed) on
 * CPU 0 — one natural trial (start `device` on CPU 1 first); forced(api) on
 * CPU 0 — the interleaving of the diagram.
 */
import {
  defineModule,
  shared_int32,
  defineStruct,
  kmalloc,
  kfree,
  slab_obj,
  GFP_KERNEL,
  tasklet_setup,
  tasklet_schedule,
  tasklet_kill,
  from_tasklet,
  request_irq,
  free_irq,
  synchronize_irq,
  irq_set_affinity,
  raiseIrq,
  IRQ_HANDLED,
  IRQF_SHARED,
  msleep,
  cpu_relax,
  registerFunction,
  KdeferError,
  type TaskletStruct,
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
import { irqLines } from '../irqs.js';

export const MODULE = 'race.tasklet-teardown' as const;
export const APIS = ['tasklet_kill; kfree; free_irq', 'free_irq; tasklet_kill; kfree'] as const;
export type Api = (typeof APIS)[number];
/** The device's line (shared with the sibling), routed to CPU 1. */
export const [DEV_IRQ, GATE_IRQ] = irqLines(MODULE) as [number, number];

/** The case descriptor: what the race lab (and any other host) knows of this case. */
export const CASE = defineRace({
  name: 'tasklet-teardown',
  statement: 'R-8',
  summary: 'tasklet_kill() + kfree() while the IRQ can reschedule it: use-after-free',
  hit: 'the interrupt or the tasklet it scheduled touched the freed object (KASAN slab-use-after-free)',
  buggy: APIS.slice(0, 1),
  fixed: APIS.slice(1),
  defaultTrials: 100,
  // The device raises its interrupt from CPU 1 while CPU 0 tears down.
  natural: [
    { cpu: 1, entry: 'device', api: false, seedXor: 0x5bd1e995 },
    { cpu: 0, entry: 'trial', api: true },
  ],
  irqs: irqLines(MODULE),
  url: import.meta.url,
});

/** The tasklet's work on the object (µs). */
const TASKLET_WORK_US = 50;
/** The device raises its IRQ every DEVICE_MIN_US + [0, DEVICE_SPAN_US) µs. */
const DEVICE_MIN_US = 40;
const DEVICE_SPAN_US = 200;
/** Natural trials: the device runs this long (plus a seeded part as long again) before the remove path (µs). */
const RUN_US = 500;

// control words beyond racekit's (RUNS/RUNNING count the tasklet)
const ARMED = FIRST_FREE; // CPU 0: the IRQ is requested, the device may start (cleared when the trial ends)
const STOP = FIRST_FREE + 1; // CPU 0: the device must stop (cleared when a trial starts)
const DEVICE_ON = FIRST_FREE + 2; // CPU 1: the device loop runs
const RAISES = FIRST_FREE + 3; // CPU 1: IRQs raised by the device
const HANDLED = FIRST_FREE + 4; // the driver's handler ran
const SIBLING = FIRST_FREE + 5; // the sibling's handler ran

export interface Outcome {
  api: Api;
  /** tasklet runs, and the driver handler's runs */
  runs: number;
  handled: number;
  gateWhere: string;
  gateTimeout: boolean;
}

type Priv = { irqs: 'i32'; work: 'i32'; bh: 'tasklet_struct' };

export default defineModule(MODULE, () => {
  const s = shared_int32(`${MODULE}.s`, CTL_WORDS);
  const PrivT = defineStruct('race_ttd_priv', { irqs: 'i32', work: 'i32', bh: 'tasklet_struct' });

  function ttd_interrupt(_irq: number, dev: unknown): number {
    Atomics.add(s, HANDLED, 1);
    const priv = slab_obj<Priv>(dev as number);
    priv.add('irqs', 1);
    tasklet_schedule(priv.tasklet('bh'));
    return IRQ_HANDLED;
  }

  function ttd_tasklet_fn(bh: TaskletStruct): void {
    Atomics.store(s, RUNNING, 1);
    Atomics.add(s, RUNS, 1);
    const priv = from_tasklet<Priv>(bh);
    priv.get('irqs');
    gate_hold(s);
    const end = performance.now() + TASKLET_WORK_US / 1000;
    do {
      priv.add('work', 1);
      cpu_relax();
    } while (performance.now() < end);
    Atomics.store(s, RUNNING, 0);
  }

  registerFunction(`${MODULE}.irq`, ttd_interrupt);
  registerFunction(`${MODULE}.tasklet`, ttd_tasklet_fn);
  request_irq(
    DEV_IRQ,
    function ttd_sibling() {
      Atomics.add(s, SIBLING, 1);
      return IRQ_HANDLED;
    },
    IRQF_SHARED,
    'ttd-sibling',
    'ttd-sibling',
  );
  irq_set_affinity(DEV_IRQ, [1]);
  gate_irq_init(GATE_IRQ, s, 'ttd');

  function race_ttd_probe(): SlabObject<Priv> {
    const priv = kmalloc(PrivT, GFP_KERNEL);
    tasklet_setup(priv.tasklet('bh'), ttd_tasklet_fn);
    const err = request_irq(DEV_IRQ, ttd_interrupt, IRQF_SHARED, 'ttd', priv.handle);
    if (err !== 0) throw new KdeferError(`${MODULE}: request_irq(${DEV_IRQ}) failed: ${err}`);
    return priv;
  }

  /** The buggy remove: the tasklet first, the interrupt last. `between` runs after tasklet_kill. */
  async function race_ttd_remove_late_irq(priv: SlabObject<Priv>, between: () => Promise<void>): Promise<void> {
    const handle = priv.handle;
    await tasklet_kill(priv.tasklet('bh'));
    await between();
    kfree(priv);
    Atomics.store(s, GATE_GO, 1);
    await free_irq(DEV_IRQ, handle);
  }

  /** The fixed remove: the interrupt first, then the tasklet, then the memory. `between` runs after free_irq. */
  async function race_ttd_remove(priv: SlabObject<Priv>, between: () => Promise<void>): Promise<void> {
    const bh = priv.tasklet('bh');
    await free_irq(DEV_IRQ, priv.handle);
    await between();
    await tasklet_kill(bh);
    kfree(priv);
  }

  const check = (api: string): Api => raceApi(MODULE, APIS, api);

  function reset(): void {
    gate_reset(s);
    for (let k = FIRST_FREE; k < FIRST_FREE + 6; k++) if (k !== DEVICE_ON) Atomics.store(s, k, 0);
  }

  async function finish(api: Api): Promise<Outcome> {
    await wait_until(() => Atomics.load(s, RUNNING) === 0, 'the tasklet to return');
    return {
      api,
      runs: Atomics.load(s, RUNS),
      handled: Atomics.load(s, HANDLED),
      gateWhere: gate_where(s),
      gateTimeout: Atomics.load(s, GATE_TIMEOUT) === 1,
    };
  }

  /** Raise the device IRQ and wait until CPU 1 has handled it (the sibling saw it, no handler runs). */
  async function fire_and_wait(): Promise<void> {
    const before = Atomics.load(s, SIBLING);
    raiseIrq(DEV_IRQ);
    await wait_until(() => Atomics.load(s, SIBLING) > before, 'the device interrupt to be delivered on CPU 1');
    await synchronize_irq(DEV_IRQ);
  }

  return {
    /**
     * The device: once a trial has requested the IRQ, raise it every
     * DEVICE_MIN_US + a seeded part of DEVICE_SPAN_US, until the trial says
     * stop. Context: process, CPU 1 (the IRQ lands here, between raises).
     * @returns the interrupts raised
     */
    async device(seed: number): Promise<number> {
      const rnd = prng(seed);
      await wait_until(() => Atomics.load(s, ARMED) === 1, 'a trial to request the IRQ');
      Atomics.store(s, DEVICE_ON, 1);
      try {
        while (Atomics.load(s, STOP) === 0) {
          raiseIrq(DEV_IRQ);
          Atomics.add(s, RAISES, 1);
          busy_us(DEVICE_MIN_US + rnd() * DEVICE_SPAN_US);
        }
        return Atomics.load(s, RAISES);
      } finally {
        Atomics.store(s, DEVICE_ON, 0);
      }
    },

    /**
     * One natural trial: request the IRQ, let the device (started on CPU 1
     * by the caller) run for a seeded time, run the remove path of `api`,
     * stop the device. Context: process, CPU 0.
     */
    async trial(api: string, seed: number): Promise<Outcome> {
      const a = check(api);
      const rnd = prng(seed);
      reset();
      const priv = race_ttd_probe();
      Atomics.store(s, ARMED, 1);
      try {
        await wait_until(() => Atomics.load(s, DEVICE_ON) === 1, 'the device to run on CPU 1');
        busy_us(RUN_US + rnd() * RUN_US);
        if (a === APIS[0]) await race_ttd_remove_late_irq(priv, async () => {});
        else await race_ttd_remove(priv, async () => {});
      } finally {
        Atomics.store(s, STOP, 1);
        Atomics.store(s, ARMED, 0);
      }
      await wait_until(() => Atomics.load(s, DEVICE_ON) === 0, 'the device to stop');
      await msleep(1);
      return finish(a);
    },

    /**
     * R-8, forced. Context: process, CPU 0; the device is CPU 0 raising the
     * line (routed to CPU 1) at the chosen moments.
     *
     * tasklet_kill; kfree; free_irq:
     *   1. tasklet_kill returns (the tasklet is idle).
     *   2. The device interrupts: CPU 1's handler schedules the tasklet, which
     *      starts and waits at the gate.
     *   3. kfree; the gate opens: the tasklet works on the freed object.
     *   4. free_irq.
     * free_irq; tasklet_kill; kfree (the same device, and worse):
     *   1. The device interrupts before the remove path: the tasklet is
     *      running (held at the gate) when the remove path starts.
     *   2. free_irq returns (no handler is running).
     *   3. The device interrupts again: delivered on CPU 1, the sibling sees
     *      it, no driver handler runs.
     *   4. tasklet_kill: the gate IRQ lands inside it and opens the gate;
     *      the tasklet finishes on the live object; tasklet_kill returns.
     *   5. kfree.
     */
    async forced(api: string): Promise<Outcome> {
      const a = check(api);
      reset();
      const priv = race_ttd_probe();
      if (a === APIS[0]) {
        await race_ttd_remove_late_irq(priv, async () => {
          Atomics.store(s, GATE_ARM, 1);
          raiseIrq(DEV_IRQ);
          await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the rescheduled tasklet to reach the gate on CPU 1');
        });
      } else {
        Atomics.store(s, GATE_ARM, 1);
        raiseIrq(DEV_IRQ);
        await wait_until(() => Atomics.load(s, GATE_INSIDE) === 1, 'the tasklet to reach the gate on CPU 1');
        await race_ttd_remove(priv, async () => {
          await fire_and_wait();
          open_gate_inside_next_call(GATE_IRQ);
        });
      }
      await msleep(2);
      return finish(a);
    },
  };
});
