import { describe, it, expect } from 'vitest';
import { Machine } from '@kdefer/workers';
import { ERAS, BH22_SHARED, bh22_stats_of, hostSharedArray } from '@kdefer/core';
import { withMachine, fixture } from './helpers.js';

const stats = (m: Machine): Promise<number[]> => m.call<number[]>(0, 'eras', 'stats');

describe('kernel eras: the boot option', () => {
  for (const era of ERAS) {
    it(`kdefer-only (eras): era '${era}' boots with the fixture loaded, runs its APIs and stops with no thread left`, async () => {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        expect(await m.call(1, 'eras', 'era')).toBe(era);
        if (era === '2.2' || era === '2.4') {
          await Promise.all([m.call(0, 'eras', 'storm', 50), m.call(1, 'eras', 'storm', 50)]);
          await m.quiesce();
          const s = await stats(m);
          expect(s[2]! + s[3]! + s[4]!).toBeGreaterThan(0);
        } else {
          await expect(m.call(0, 'eras', 'markAny')).rejects.toThrow(
            /mark_bh: old-style bottom halves were removed in 2\.5\.40; boot with era '2\.2' or '2\.4'/,
          );
        }
        expect(m.reports()).toEqual([]);
      });
    });
  }

  it('kdefer-only (eras): a module that declares a tasklet does not load in era 2.2 (tasklets came with softnet) and loads in 2.4', async () => {
    await expect(Machine.boot({ cpus: 2, era: '2.2', modules: [fixture('eras_tasklet')] })).rejects.toThrow(
      /DECLARE_TASKLET: softirqs and tasklets arrived with softnet in 2\.3\.43; boot with era '2\.4', '2\.6', '6\.x' or 'rt'/,
    );
    await withMachine({ era: '2.4', fixtures: ['eras_tasklet'] }, async (m) => {
      await m.call(0, 'eras_tasklet', 'schedule');
      await m.quiesce();
      expect(m.reports()).toEqual([]);
    });
  });

  it('kdefer-only (eras): a bad era is an error that lists the valid ones', async () => {
    await expect(Machine.boot({ cpus: 2, era: '2.3' as never })).rejects.toThrow(
      /era="2\.3" is not an era: use one of '6\.x', '2\.2', '2\.4', '2\.6', 'rt'/,
    );
  });

  it('kdefer-only (eras): APIs the era lacks name the era that has them (disable_bh in 2.4, task queues in 6.x)', async () => {
    await withMachine({ era: '2.4', fixtures: ['eras'] }, async (m) => {
      await expect(m.call(0, 'eras', 'disableAny')).rejects.toThrow(/disable_bh: removed in 2\.4\.0 .*boot with era '2\.2'/);
      await expect(m.call(0, 'eras', 'tqScheduler')).rejects.toThrow(/tq_scheduler exists only in era '2\.2'/);
    });
    await withMachine({ era: '6.x', fixtures: ['eras'] }, async (m) => {
      await expect(m.call(0, 'eras', 'disableAny')).rejects.toThrow(
        /disable_bh: old-style bottom halves were removed in 2\.5\.40; boot with era '2\.2'/,
      );
    });
  });
});

describe('eras 2.2 and 2.4: old-style bottom halves', () => {
  for (const era of ['2.2', '2.4'] as const)
    it(`${era === '2.2' ? 'H-22-5' : 'H-24-3'} (${era}): no two bottom halves run at once anywhere, under a storm of mark_bh from both CPUs (20 000 marks)`, async () => {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        await Promise.all([m.call(0, 'eras', 'storm', 10_000), m.call(1, 'eras', 'storm', 10_000)]);
        await m.quiesce();
        const s = await stats(m);
        expect(s[1]).toBe(0); // the routines saw no other routine inside
        if (era === '2.2') {
          const b = bh22_stats_of(hostSharedArray(m.mem, BH22_SHARED, Int32Array));
          expect(b.overlap).toBe(0);
          expect(b.active & b.mask).toBe(0); // nothing marked is left behind
        }
        expect(s[5]).toBe(0); // H-22-4: always in bottom-half (softirq) context
        expect(s[2]! + s[3]! + s[4]!).toBeGreaterThan(0);
        expect(s[2]! + s[3]! + s[4]!).toBeLessThanOrEqual(20_000); // a bit, not a counter
      });
    });

  it('H-22-3: disable_bh keeps a marked bottom half from running (the bit stays set); enable_bh lets it run', async () => {
    await withMachine({ era: '2.2', fixtures: ['eras'] }, async (m) => {
      await m.call(0, 'eras', 'disableSerial');
      const before = (await stats(m))[2]!;
      await m.call(1, 'eras', 'markSerial');
      await m.quiesce();
      expect((await stats(m))[2]).toBe(before);
      await m.call(0, 'eras', 'enableSerial');
      await m.quiesce();
      expect((await stats(m))[2]).toBe(before + 1);
    });
  });

  it('H-22-3/H-22-5: while start_bh_atomic is held no bottom half starts on any CPU; end_bh_atomic lets them run', async () => {
    await withMachine({ era: '2.2', fixtures: ['eras'] }, async (m) => {
      await m.call(0, 'eras', 'atomicBegin');
      await m.call(1, 'eras', 'storm', 30);
      await m.quiesce();
      const held = await stats(m);
      expect(held[2]! + held[3]! + held[4]!).toBe(0);
      await m.call(0, 'eras', 'atomicEnd');
      await m.quiesce();
      const s = await stats(m);
      expect(s[13]).toBe(0);
      expect(s[2]! + s[3]! + s[4]!).toBeGreaterThan(0);
    });
  });
});

describe('timers by era', () => {
  for (const era of ['2.2', '2.4'] as const)
    it(`H-TMR-3 (${era}): timers run as TIMER_BH — no timer function runs beside another or beside a bottom half, on 2 CPUs with timers and a mark_bh storm on both`, async () => {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        await Promise.all([m.call(0, 'eras', 'armTimers', 400), m.call(1, 'eras', 'armTimers', 400)]);
        await Promise.all([m.call(0, 'eras', 'storm', 5000), m.call(1, 'eras', 'storm', 5000)]);
        const t0 = performance.now();
        while ((await m.call<number>(0, 'eras', 'timersLeft')) > 0 && performance.now() - t0 < 10_000)
          await new Promise((r) => setTimeout(r, 5));
        await m.quiesce();
        const s = await stats(m);
        expect(s[16]).toBeGreaterThan(0); // timers ran
        expect(s[1]).toBe(0); // no overlap among timers and bottom halves
        expect(s[5]).toBe(0);
        expect(m.reports()).toEqual([]);
      });
    });
});

describe('task queues', () => {
  for (const era of ['2.2', '2.4'] as const) {
    it(`H-TQ-4 (${era}): a task queued on tq_immediate without mark_bh(IMMEDIATE_BH) does not run, and queue_task of it is swallowed until someone marks IMMEDIATE_BH`, async () => {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        expect(await m.call(0, 'eras', 'queue')).toBe(1);
        expect(await m.call(1, 'eras', 'queue')).toBe(0); // sync still set: swallowed
        await new Promise((r) => setTimeout(r, 30));
        await m.quiesce();
        expect((await stats(m))[6]).toBe(0);
        await m.call(1, 'eras', 'mark'); // an unrelated driver marks it
        await m.quiesce();
        expect((await stats(m))[6]).toBe(1);
        expect(await m.call(0, 'eras', 'queue')).toBe(1); // sync was cleared before the routine ran
      });
    });
  }

  it('H-TQ-2: 2.2 runs a queue in reverse order of queueing (LIFO), 2.4 in order (FIFO)', async () => {
    for (const [era, want] of [
      ['2.2', [2, 1]],
      ['2.4', [1, 2]],
    ] as const) {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        expect(await m.call(0, 'eras', 'order')).toEqual(want);
      });
    }
  });

  it('H-TQ-3: a task on tq_timer runs from TQUEUE_BH within a few ticks, without anyone marking it', async () => {
    for (const era of ['2.2', '2.4'] as const) {
      await withMachine({ era, fixtures: ['eras'] }, async (m) => {
        expect(await m.call(1, 'eras', 'queueTimer')).toBe(1);
        const t0 = performance.now();
        while ((await stats(m))[12] === 0 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 2));
        expect((await stats(m))[12]).toBe(1);
      });
    }
  });
});
