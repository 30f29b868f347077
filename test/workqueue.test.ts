// Workqueues (S-WQ-*). Work functions record what they saw in shared memory
// (the fixture's wq.s); tests hand off through it and the kworker table
// (machine.workers()), never through sleeps, and assert what must always hold.
import { describe, it, expect } from 'vitest';
import type { Machine } from '@kdefer/workers';
import { registryLookup, WK_DATA, WORK_STRUCT_PENDING, WORK_STRUCT_PWQ } from '@kdefer/core';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runWorkqueueDemo } from '@kdefer/cli';
import { withMachine, grep, until } from './helpers.js';

const S = (m: Machine): Int32Array => m.sharedArray('wq.s', Int32Array);

/** A seed for randomised tests: printed on failure, fixed with KDEFER_SEED. */
const seed = Number(process.env.KDEFER_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface Probe {
  ok: boolean;
  ran: number;
  cpu: number;
  in_task: number;
  count: number;
  cur: number;
  serving: number;
  irqsOff: number;
  kworker: number;
  highpri: number;
  unbound: number;
  me: number;
}

describe('workqueues: queueing and context', () => {
  it('S-WQ-22: a work function runs in process context on a kworker, preempt_count 0, interrupts on; current_work() is its work', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const p = await m.call<Probe>(0, 'wq', 'probeOn', 1, 'events');
      expect(p).toMatchObject({ ok: true, ran: 1, cpu: 1, in_task: 1, count: 0, cur: 1, serving: 0, irqsOff: 0, kworker: 1 });
    });
  });

  it('S-WQ-3: queueing a pending work returns false and adds no run; schedule_work queues on system_wq', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ a: boolean; b: boolean; pending: boolean; after: boolean }>(1, 'wq', 'scheduleTwice');
      expect(r).toEqual({ a: true, b: false, pending: true, after: false });
      expect(S(m)[0]).toBe(1);
    });
  });

  it('S-WQ-4: queue_work runs on the calling CPU for a bound workqueue; queue_work_on on the CPU named', async () => {
    await withMachine({ cpus: 3, fixtures: ['wq'] }, async (m) => {
      for (const me of [0, 1, 2]) {
        expect((await m.call<Probe>(me, 'wq', 'probeOn', -1, 'events')).cpu).toBe(me);
        expect((await m.call<Probe>(me, 'wq', 'probeOn', (me + 1) % 3, 'events')).cpu).toBe((me + 1) % 3);
      }
    });
  });

  it('S-WQ-2: a work queued again while it runs is queued (true) and runs exactly once more; a third queueing is absorbed', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      // 1. hold runs on CPU 1 and waits   2. CPU 0 queues it twice: true, false   3. release: exactly 2 runs
      expect(await m.call(0, 'wq', 'holdStart', 1)).toBe(true);
      await until(() => S(m)[33] === 1, 'the work to start');
      const r = await m.call<{ a: boolean; b: boolean; busy: number; runs: number }>(0, 'wq', 'holdRequeue', 1);
      expect(r.a).toBe(true);
      expect(r.b).toBe(false);
      expect(r.busy).toBe(3); // WORK_BUSY_PENDING | WORK_BUSY_RUNNING
      expect(r.runs).toBe(2);
      await m.quiesce();
      expect(S(m)[32]).toBe(2);
    });
  });

  it('S-WQ-1: work->data holds WORK_STRUCT_PENDING (bit 0) and WORK_STRUCT_PWQ (bit 2) while queued; all clear once it ran', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const e = registryLookup(m.mem, 'work:wq.hold')!;
      const data = (): number => Atomics.load(m.mem.i32, m.mem.work(e.value, WK_DATA));
      await m.call(0, 'wq', 'holdStart', 1);
      await until(() => S(m)[33] === 1, 'the work to start');
      expect(data()).toBe(0); // running: PENDING was cleared before the function was called
      expect(await m.call(0, 'wq', 'holdQueue', 1)).toBe(true);
      expect(data()).toBe(WORK_STRUCT_PENDING | WORK_STRUCT_PWQ);
      expect(await m.call(0, 'wq', 'release')).toBe(2);
      expect(data()).toBe(0);
    });
  });

  it('S-WQ-14: the system workqueues and their names', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      expect(await m.call(0, 'wq', 'systemNames')).toEqual([
        'events',
        'events_highpri',
        'events_long',
        'events_unbound',
        'events_bh',
        'events_bh_highpri',
      ]);
    });
  });
});

describe('workqueues: pools and workers', () => {
  it('S-WQ-6/S-WQ-7: per CPU a BH, BH highpri, normal and highpri pool, then the unbound pools; kworkers named kworker/N:M, kworker/N:MH, kworker/uP:M', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      await m.quiesce();
      const pools = m.workers();
      expect(pools.length).toBe(2 * 4 + 2);
      expect(pools.map((p) => [p.cpu, p.bh, p.highpri])).toEqual([
        [0, true, false],
        [0, true, true],
        [0, false, false],
        [0, false, true],
        [1, true, false],
        [1, true, true],
        [1, false, false],
        [1, false, true],
        [-1, false, false],
        [-1, false, true],
      ]);
      for (const p of pools.filter((q) => q.bh)) expect(p.workers).toEqual([]); // BH pools: the softirq is the worker
      for (const p of pools) p.workers = p.workers.filter((w) => !w.rescuer); // wq_reclaim's, listed with their CPU's pool
      expect(pools[2]!.workers.map((w) => w.comm)).toEqual(['kworker/0:0']);
      expect(pools[3]!.workers.map((w) => w.comm)).toEqual(['kworker/0:0H']);
      expect(pools[6]!.workers.map((w) => w.comm)).toEqual(['kworker/1:0']);
      expect(pools[7]!.workers.map((w) => w.comm)).toEqual(['kworker/1:0H']);
      expect(pools[8]!.workers.map((w) => w.comm).sort()).toEqual(['kworker/u8:0', 'kworker/u8:1']);
      expect(pools[9]!.workers.map((w) => w.comm).sort()).toEqual(['kworker/u9:0', 'kworker/u9:1']);
      expect(pools.flatMap((p) => p.workers).every((w) => w.state === 'idle' && w.work === null)).toBe(true);
      expect(m.ps()).toMatch(/\[kworker\/0:0H\]/);
      // highpri and unbound items run in their pools' kworkers
      expect(await m.call<Probe>(0, 'wq', 'probeOn', 1, 'events_highpri')).toMatchObject({ cpu: 1, highpri: 1 });
      expect(await m.call<Probe>(0, 'wq', 'probeOn', -1, 'events_unbound')).toMatchObject({ unbound: 1, ran: 1 });
    });
  });

  it('S-WQ-7: machine.workers() shows a kworker executing an item as running/sleeping "+events" with its work, then idle "-events"', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      await m.call(0, 'wq', 'holdStart', 1);
      await until(() => S(m)[33] === 1, 'the work to start');
      const holder = () =>
        m
          .workers()
          .flatMap((p) => p.workers)
          .find((w) => w.work === 'wq.hold');
      await until(() => holder()?.state === 'sleeping', 'the kworker to sleep in the work function');
      const busy = holder();
      expect(busy!.cpu).toBe(1);
      expect(busy!.comm).toMatch(/^kworker\/1:\d+\+events$/);
      expect(busy!.state).toBe('sleeping');
      expect(busy!.wq).toBe('events');
      expect(await m.call(0, 'wq', 'release')).toBe(1);
      await m.quiesce();
      const after = m
        .workers()
        .flatMap((p) => p.workers)
        .find((w) => w.pid === busy!.pid)!;
      expect(after.state).toBe('idle');
      expect(after.work).toBeNull();
      expect(after.comm).toMatch(/^kworker\/1:\d+-events$/);
    });
  });

  it('S-WQ-8: a work function that sleeps lets the next item of the same pool run on another kworker', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      // A sleeps on a completion only B completes; both on CPU 1's normal pool, queued from CPU 1
      // (so that both are on the worklist before a kworker runs: B can only start because A sleeps).
      const r = await m.call<{ pidA: number; pidB: number; aWait: number; bSawASleeping: number }>(1, 'wq', 'cmSleep', 1);
      expect(r.aWait).toBeGreaterThan(0); // B ran while A slept: A did not time out
      expect(r.bSawASleeping).toBe(1);
      expect(r.pidA).not.toBe(r.pidB);
      const pool = m.workers()[6]!;
      expect(pool.cmWakeups).toBeGreaterThanOrEqual(1);
      expect(pool.nrWorkers).toBeGreaterThanOrEqual(2);
    });
  });

  it('S-WQ-8: items that never sleep run one at a time per pool (nr_running stays 1), even when they yield the CPU', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ max: number; runs: number }>(0, 'wq', 'burnOn', 0, false); // all queued before any runs
      expect(r.runs).toBe(6);
      expect(r.max).toBe(1);
    });
  });

  it('S-WQ-10: WQ_CPU_INTENSIVE items do not count in nr_running: the next item starts while one runs', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ max: number; runs: number }>(0, 'wq', 'burnOn', 0, true);
      expect(r.runs).toBe(6);
      expect(r.max).toBeGreaterThanOrEqual(2);
    });
  });

  it('S-WQ-9: when every worker of a pool sleeps, new kworkers are created; idle ones beyond the spares are culled', async () => {
    await withMachine({ fixtures: ['wq'], wqIdleTimeoutMs: 50 }, async (m) => {
      const r = await m.call<{ max: number; runs: number }>(0, 'wq', 'sleepers', 1);
      expect(r.runs).toBe(6);
      expect(r.max).toBe(6); // all six slept at once, each on its own kworker
      expect(m.workers()[6]!.nrWorkers).toBeGreaterThanOrEqual(7);
      // too_many_workers: more than 2 idle with nobody busy -> culled down to 2
      await until(() => m.workers()[6]!.nrWorkers <= 2, 'idle kworkers to be culled');
      expect(m.workers()[6]!.nrIdle).toBe(2);
    });
  });

  it('S-WQ-12: WQ_UNBOUND items start at once on whichever CPU is free (two items that wait for each other both run)', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      await m.quiesce();
      await m.call(0, 'wq', 'unboundRendezvous');
      const r = await m.call<{ aSawB: number; bSawA: number; cpus: number[] }>(1, 'wq', 'unboundResult');
      expect(r.aSawB + r.bSawA).toBeGreaterThanOrEqual(1);
      expect(new Set(r.cpus).size).toBe(2);
    });
  });
});

describe('workqueues: guarantees under load', () => {
  it(`S-WQ-5: non-reentrancy under a storm of queue_work_on from every CPU to every CPU; every successful queueing runs exactly once (seed ${seed})`, async () => {
    await withMachine({ cpus: 3, fixtures: ['wq'] }, async (m) => {
      const queued = await Promise.all([0, 1, 2].map((c) => m.call<number>(c, 'wq', 'storm', 600, seed + c)));
      const r = await m.call<{ runs: number; queued: number; violations: number }>(0, 'wq', 'stormSettle');
      expect(r.violations, `seed ${seed}`).toBe(0);
      expect(r.queued).toBe(queued.reduce((a, b) => a + b, 0));
      expect(r.runs, `seed ${seed}`).toBe(r.queued);
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it(`S-WQ-8: no lost wake-up — bursts of remote queue_work_on with pauses around the kworker's idle poll all run, both ways at once (seed ${seed})`, async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      type Bursts = { stalledAt: number; expected: number; ran: number; refused: number };
      const r = await Promise.all([m.call<Bursts>(0, 'wq', 'bursts', 1, 600, seed), m.call<Bursts>(1, 'wq', 'bursts', 0, 600, seed + 1)]);
      for (const b of r) {
        expect(b.stalledAt, `seed ${seed}: burst never finished (${b.ran}/${b.expected} ran)`).toBe(-1);
        expect(b.refused).toBe(0); // every item had run (PENDING clear) before it was queued again
        expect(b.ran).toBe(b.expected);
      }
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it('S-WQ-11: max_active is never exceeded (per CPU for a bound workqueue, per pool_workqueue for an unbound one)', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      await Promise.all([m.call(0, 'wq', 'maxActive'), m.call(1, 'wq', 'maxActive')]);
      const s = S(m);
      expect(s[146]).toBe(32);
      // Items sleep until the limit is reached (bounded): it is reached, never passed.
      expect([s[136], s[137]]).toEqual([2, 2]);
      expect(s[145]).toBe(3);
    });
  });

  it('S-WQ-13: an ordered workqueue runs one item at a time, exactly in queueing order', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ log: number[]; overlaps: number }>(1, 'wq', 'ordered');
      expect(r.log).toEqual(Array.from({ length: 32 }, (_, k) => k));
      expect(r.overlaps).toBe(0);
    });
  });

  it(`S-WQ-16: flush_work returns after the last queueing's execution finished; true if it waited, false when idle (seed ${seed})`, async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ violations: number; waited: number; idleFlush: boolean; runs: number }>(0, 'wq', 'flushLast', 1, 60, seed);
      expect(r.violations, `seed ${seed}`).toBe(0);
      expect(r.waited).toBeGreaterThan(0);
      expect(r.idleFlush).toBe(false);
    });
  });

  it('S-WQ-18: cancel_work_sync returns with a self-requeueing work neither pending nor running; disable_work_sync too while another CPU keeps queueing it', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      for (let round = 0; round < 8; round++) {
        // 1. the work runs and re-queues itself on the other CPU   2. cancel: nothing pending or running on return.
        // Odd rounds: CPU 1 hammers queue_work_on meanwhile; disable_work_sync keeps that racer out until the check.
        const hammering = round % 2 === 1;
        await m.call(0, 'wq', 'selfStart');
        const base = S(m)[289]!;
        await until(() => S(m)[289]! >= base + 10, 'the work to run a few times');
        const hammer = hammering ? m.call<number>(1, 'wq', 'selfHammer', 200) : Promise.resolve(0);
        const r = await m.call<{ ret: boolean; inside: number; pending: boolean; running: number }>(0, 'wq', 'selfCancelSync', hammering);
        expect(r.inside, `round ${round}`).toBe(0);
        expect(r.running, `round ${round}`).toBe(0);
        if (!hammering) expect(r.pending, `round ${round}`).toBe(false);
        await hammer;
        if (hammering) {
          // the racer stopped: still disabled, so nothing pending or running
          expect(await m.call(0, 'wq', 'selfCheckEnable'), `round ${round}`).toEqual({ inside: 0, pending: false, busy: 0 });
        }
      }
      expect(await m.call(0, 'wq', 'selfStop')).toBe(0); // never ran twice at once
    });
  });

  it('S-WQ-18: cancel_work returns true for a pending work (which then never runs), false for an idle one; cancel_work_sync likewise', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call(0, 'wq', 'cancelValues');
      expect(r).toEqual({ q: true, c1: true, c2: false, q2: true, c3: true, c4: false, ran: 0 });
    });
  });

  it('S-WQ-19: a disabled work cannot be queued; enable_work returns true when the count drops to 0', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call(1, 'wq', 'disableEnable');
      expect(r).toEqual({ d1: false, q1: false, d2: false, e1: false, q2: false, e2: true, q3: true });
    });
  });
});

describe('workqueues: delayed work', () => {
  it('S-WQ-15: a delayed work is pending while its timer is armed (queueing again returns false) and runs on the CPU asked, never early', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ a: boolean; b: boolean; pendingEarly: boolean; ranEarly: number; runs: number; cpu: number; late: boolean }>(
        0,
        'wq',
        'delayed',
        1,
        100,
      );
      expect(r).toEqual({ a: true, b: false, pendingEarly: true, ranEarly: 0, runs: 1, cpu: 1, late: true });
    });
  });

  it('S-WQ-15/16/18: mod_delayed_work, cancel_delayed_work(_sync) and flush_delayed_work return values', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call(0, 'wq', 'delayedMod');
      expect(r).toEqual({
        m1: false,
        m2: true,
        c1: true,
        c2: false,
        q: true,
        f: true,
        runsAfterFlush: 1,
        q2: true,
        cs: true,
        m3: false,
        runs: 2,
        pending: false,
      });
    });
  });
});

describe('workqueues: flush, drain, destroy', () => {
  it('S-WQ-17: flush_workqueue waits for every item queued before it', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      expect(await m.call(1, 'wq', 'flushWq')).toBe(8);
    });
  });

  it(`S-WQ-17: flush_workqueue under load — two CPUs stream items onto one workqueue and flush it; every item queued before a flush has run when it returns (seed ${seed})`, async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      type Fs = { early: number; queued: number; ran: number };
      const r = await Promise.all([m.call<Fs>(0, 'wq', 'flushStorm', 300, seed), m.call<Fs>(1, 'wq', 'flushStorm', 300, seed + 1)]);
      for (const x of r) {
        expect(x.early, `seed ${seed}`).toBe(0);
        expect(x.ran).toBe(x.queued);
      }
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it('S-WQ-17: drain_workqueue lets the workqueue\'s own items chain and warns "cannot queue" for anyone else', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      // 1. CPU 0 drains wq_drain while its item re-queues itself   2. once the second run waits,
      // CPU 1 queues a foreign item: refused   3. the drain ends after the fifth chained run
      const d = m.call(0, 'wq', 'drain');
      await until(() => S(m)[336]! >= 2, 'the second chained run');
      expect(await m.call(1, 'wq', 'queueForeign')).toBe(false);
      expect(await d).toEqual({ chained: 5, foreignRan: 0, pending: false });
      expect(grep(m, /workqueue: cannot queue \S+ on wq wq_drain/).length).toBe(1);
    });
  });

  it('S-WQ-17/R-9: queueing on a destroyed workqueue is reported as a use-after-free', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call(0, 'wq', 'destroyThenQueue');
      expect(r).toEqual({ after: false, pending: false });
      expect(grep(m, /BUG: KASAN: slab-use-after-free in __queue_work/).length).toBe(1);
    });
  });

  it('S-WQ-20 (direct case): flush_work of a work from its own function is reported instead of deadlocking', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      expect(await m.call(0, 'wq', 'selfFlush')).toBe(2);
      expect(grep(m, /WARNING: possible recursive locking detected/).length).toBeGreaterThanOrEqual(1);
      expect(grep(m, /\(\(work_completion\)\(wq\.selfflush\)\)/).length).toBeGreaterThanOrEqual(1);
    });
  });

  it('S-WQ-21: a work function that returns with preempt_count raised is reported, repaired, and the pool goes on', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call(1, 'wq', 'leakThenProbe');
      expect(r).toEqual({ leakRuns: 1, probeRan: 1, count: 0 });
      expect(grep(m, /BUG: workqueue leaked atomic, lock or RCU: kworker\/1:\d+\[\d+\]/).length).toBe(1);
      expect(grep(m, /preempt=0x00000001 .*workfn=leak_fn/).length).toBe(1);
    });
  });
});

describe('workqueues: works embedded in slab objects', () => {
  it("S-WQ-1, embedded: a work_struct field of a kmalloc'd object: INIT_WORK, queue, container_of in the function; queueing it before INIT_WORK is an error naming it", async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ early: string; queued: boolean; runs: number; n: number; cpu: number; name: string }>(
        0,
        'wq',
        'devWork',
        1,
        41,
      );
      expect(r.early).toMatch(/queue_work_on: work '&wq_dev->w' was never set up \(INIT_WORK it first\)/);
      expect([r.queued, r.runs, r.n, r.cpu, r.name]).toEqual([true, 1, 41, 1, '&wq_dev->w']);
      // the slot is reused by the next object once the first left the quarantine; either way it works again
      const r2 = await m.call<{ runs: number; n: number }>(1, 'wq', 'devWork', 0, 42);
      expect([r2.runs, r2.n]).toEqual([2, 42]);
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it('S-WQ-15 in an object: a delayed_work field — never set up is an error naming it; queued with a delay it runs once on the CPU asked; mod_delayed_work and cancel_delayed_work_sync return values', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      type R = {
        early: string;
        queued: boolean;
        pendingAfter: boolean;
        ran: number;
        n: number;
        cpu: number;
        requeued: boolean;
        cancelled: boolean;
        name: string;
        late: number;
      };
      const r = await m.call<R>(0, 'wq', 'devDelayed', 1, 7);
      expect(r.early).toMatch(/queue_delayed_work_on: work '&\(&wq_dev->dw\)->work' was never set up \(INIT_DELAYED_WORK it first\)/);
      expect([r.queued, r.pendingAfter, r.ran, r.n, r.cpu]).toEqual([true, true, 1, 7, 1]);
      expect(r.late).toBeGreaterThanOrEqual(3); // never early (S-TIMER)
      expect([r.requeued, r.cancelled]).toEqual([false, true]); // idle when modded: false; pending when cancelled: true
      const r2 = await m.call<R>(1, 'wq', 'devDelayed', 0, 8);
      expect([r2.ran, r2.n, r2.cpu]).toEqual([1, 8, 0]);
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it("R-1, a stale handle: a work handle — its object freed, its slot since given to a new object — is reported when queued, and does not queue the new object's work", async () => {
    await withMachine({ fixtures: ['wq'], slabWords: 4096 }, async (m) => {
      const r = await m.call<{ reused: boolean; stale: boolean; gone: string; fresh: boolean; ran: number; n: number }>(
        0,
        'wq',
        'devStale',
        300,
      );
      expect(r.reused).toBe(true); // the precondition: the slot did go to the new object
      expect(r.stale).toBe(false);
      expect(r.gone).toMatch(/was freed and its memory reused: its work_struct 'w' is gone/);
      expect([r.fresh, r.ran, r.n]).toEqual([true, 1, 99]); // only the new object's own queueing ran
      expect(grep(m, /BUG: KASAN: slab-use-after-free in __queue_work/).length).toBeGreaterThanOrEqual(1);
    });
  });

  it("R-1, a stale handle, every other API: cancel, disable, enable, flush and INIT_WORK through a stale work or delayed_work handle are KASAN reports in that API, and leave the new object's disabled work and armed delayed work alone", async () => {
    await withMachine({ fixtures: ['wq'], slabWords: 4096 }, async (m) => {
      const r = await m.call<Record<string, unknown>>(0, 'wq', 'devStaleOps', 300);
      expect(r.reused).toBe(true); // the precondition: both slots did go to the new object
      expect(r.armed).toBe(true);
      expect(r.stale).toEqual([false, false, false, false, false, false, false, false, false]);
      // The new object's work kept its one disable (not enabled, reset or disabled again by the stale calls).
      expect([r.stillDisabled, r.enabled, r.queued, r.ran, r.n]).toEqual([true, true, true, 1, 77]);
      // Its delayed work's timer is still armed (not cancelled through the stale handle).
      expect([r.stillArmed, r.cancelled]).toEqual([true, true]);
      for (const api of [
        'enable_work',
        'cancel_work',
        'disable_work',
        'cancel_work_sync',
        'flush_work',
        'cancel_delayed_work',
        'disable_delayed_work',
        'cancel_delayed_work_sync',
        'flush_delayed_work',
        'INIT_WORK',
        'INIT_DELAYED_WORK',
      ])
        expect(grep(m, new RegExp(`BUG: KASAN: slab-use-after-free in ${api}$`)), api).toHaveLength(1);
      expect(m.dmesg()).not.toMatch(/Oops|BUG: (?!KASAN)|WARNING/);
    });
  });

  it('R-1, with a work for the timer: kfree of the object while its work is queued — the kworker reports the use-after-free instead of running it, and queueing it again is refused', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      const r = await m.call<{ ran: number; again: boolean }>(0, 'wq', 'devFreeWhilePending');
      expect(r).toEqual({ ran: 0, again: false });
      // KASAN reports an object once
      expect(grep(m, /BUG: KASAN: slab-use-after-free/)).toEqual([expect.stringMatching(/slab-use-after-free in process_one_work$/)]);
      expect(m.dmesg()).toMatch(/Freed by task/);
    });
  });
});

describe('kdefer workqueue (the user-facing example)', () => {
  it('S-WQ-23/S-WQ-8: a tasklet and BH work from one interrupt run on its CPU in softirq context, the BH work first; a sleeping item lets B and C run on another kworker; every check passes', async () => {
    const r = await runWorkqueueDemo({ cpus: 2, irqs: 3 });
    const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    expect(failed).toEqual([]);
    expect(r.bh.map((x) => x.who)).toEqual(['BH work', 'tasklet', 'BH work', 'tasklet', 'BH work', 'tasklet']);
    expect(r.procSoftirqs).toMatch(/^ +TASKLET: +0 +3 *$/m);
    expect(r.threadsAfterShutdown).toBe(0);
  });

  it('S-WQ-23/S-WQ-8: the built command runs it — through the kdefer executable npm links (bin/kdefer.js): kdefer wq exits 0 and prints the checks', async () => {
    const main = fileURLToPath(new URL('../packages/cli/bin/kdefer.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [main, 'wq', '--cpus', '2', '--irqs', '2']);
    expect(stdout).toMatch(/^workqueue: 10 of 10 checks passed$/m);
    expect(stdout).toMatch(/kworker\/1:\d+\+events +wqdemo\.A/);
  });
});

describe('workqueues: BH', () => {
  it('S-WQ-23: BH work runs in softirq context on the queueing CPU; current_work() is its work', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      for (const cpu of [0, 1]) {
        const r = await m.call(cpu, 'wq', 'bhHere');
        expect(r).toEqual({ q: true, ran: 1, cpu, serving: 1, cur: 1, me: cpu });
      }
      expect(m.softirqCounts()[0]![6]).toBeGreaterThanOrEqual(1); // TASKLET_SOFTIRQ ran it
    });
  });

  it("S-WQ-23: queue_work_on(cpu, system_bh_wq / system_bh_highpri_wq) runs the item in that CPU's softirq", async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      expect(await m.call(0, 'wq', 'bhOn', 1, false)).toEqual({ q: true, ran: 1, cpu: 1, serving: 1 });
      expect(await m.call(0, 'wq', 'bhOn', 1, true)).toEqual({ q: true, ran: 1, cpu: 1, serving: 1 });
      expect(m.softirqCounts()[1]![0]).toBeGreaterThanOrEqual(1); // HI_SOFTIRQ on CPU 1
    });
  });

  it('S-WQ-23: BH items run FIFO in TASKLET_SOFTIRQ, before the tasklets of the same softirq run', async () => {
    await withMachine({ fixtures: ['wq'] }, async (m) => {
      expect(await m.call(0, 'wq', 'bhOrderWithTasklet')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 101]);
    });
  });
});

describe('workqueues: WQ_MEM_RECLAIM', () => {
  it("S-WQ-9: when a pool cannot create a worker, the rescuer kworker/R-<wq> runs the workqueue's items", async () => {
    await withMachine({ fixtures: ['wq'], maxTasks: 40 }, async (m) => {
      const rescuers = m
        .workers()
        .flatMap((p) => p.workers)
        .filter((w) => w.rescuer);
      expect(rescuers.map((w) => w.comm).sort()).toEqual(['kworker/R-wq_reclaim', 'kworker/R-wq_reclaim']);
      // 1. P (system_wq) runs on CPU 0 and sleeps until R (wq_reclaim) completes it; the pool keeps one idle spare
      // 2. the task table fills up   3. R is queued: the spare wakes to run it but cannot create a new spare
      //    (the manager fails) and summons the rescuer, which runs R: P wakes
      await m.quiesce();
      expect(await m.call(1, 'wq', 'rescueStart', 0)).toBe(1);
      await m.quiesce();
      expect(await m.call(1, 'wq', 'fillTasks', 200)).toBeGreaterThan(0);
      const r = await m.call<{ runs: number; rBy: number; pWait: number }>(1, 'wq', 'rescue', 0);
      expect(r.runs).toBe(2);
      expect(r.pWait).toBeGreaterThan(0);
      expect(r.rBy).toBe(2); // R ran on the rescuer
      expect(m.workers()[2]!.maydays).toBeGreaterThanOrEqual(1);
      expect(grep(m, /workqueue: Failed to create a worker thread/).length).toBeGreaterThanOrEqual(1);
      await m.call(1, 'wq', 'unfill');
    });
  });
});
