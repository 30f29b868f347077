import { describe, it, expect } from 'vitest';
import { withMachine } from './helpers.js';
import type { Probe } from './fixtures/dist/ctx.js';

describe('contexts and preempt_count', () => {
  it('S-CTX-3: plain process context is in_task, not atomic, with interrupts on', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const p = await m.call<Probe>(1, 'ctx', 'task');
      expect(p).toMatchObject({
        count: 0,
        in_task: true,
        in_interrupt: false,
        in_softirq: false,
        in_atomic: false,
        irqs_disabled: false,
        cpu: 1,
      });
    });
  });

  it('S-CTX-2/S-CTX-3: local_bh_disable adds SOFTIRQ_DISABLE_OFFSET; BH-disabled code is in_softirq but still in_task', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const p = await m.call<Probe>(0, 'ctx', 'bhDisabled');
      expect(p.count).toBe(0x200);
      expect(p).toMatchObject({ in_softirq: true, in_interrupt: true, in_serving_softirq: false, in_task: true, in_atomic: true });
      const [outer, inner] = await m.call<Probe[]>(0, 'ctx', 'nestedBh');
      expect([outer!.count, inner!.count]).toEqual([0x400, 0x200]);
    });
  });

  it('S-CTX-3/S-SIRQ-10: a softirq handler runs with SOFTIRQ_OFFSET (in_serving_softirq) and interrupts enabled', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const r = await m.call<{ softirq: Probe; after: number; before: number }>(0, 'ctx', 'bhEnableRuns');
      // run from local_bh_enable, which keeps one preempt level while softirqs run
      expect(r.softirq.count & 0xff00).toBe(0x100);
      expect(r.softirq).toMatchObject({
        in_serving_softirq: true,
        in_softirq: true,
        in_interrupt: true,
        in_task: false,
        in_hardirq: false,
        irqs_disabled: false,
        cpu: 0,
      });
    });
  });

  it('S-CTX-5: a hardirq handler runs with HARDIRQ_OFFSET and interrupts disabled', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const r = await m.call<{ before: number; after: number; hardirq: Probe }>(1, 'ctx', 'raiseIrqHere');
      expect(r.after).toBe(r.before + 1);
      expect(r.hardirq.count & 0xf0000).toBe(0x10000);
      expect(r.hardirq).toMatchObject({
        in_hardirq: true,
        in_irq: true,
        in_interrupt: true,
        in_task: false,
        irqs_disabled: true,
        in_nmi: false,
        cpu: 1,
      });
    });
  });

  it('S-CTX-4: local_irq_save/restore nest, local_irq_disable/enable do not', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const [saved, restored] = await m.call<Probe[]>(0, 'ctx', 'irqSaved');
      expect(saved!.irqs_disabled).toBe(true);
      expect(saved!.count).toBe(0); // the irq flag is not part of preempt_count
      expect(restored!.irqs_disabled).toBe(false);
      const r = await m.call<Record<string, boolean>>(0, 'ctx', 'saveNesting');
      expect(r).toEqual({ afterInner: true, afterOuter: false, naiveInner: false });
    });
  });

  it('S-CTX-10: preempt_disable nests by counting', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      expect(await m.call(0, 'ctx', 'preemptNest')).toEqual([2, 1, 0]);
    });
  });

  it('S-CTX-8: local_bh_enable runs the softirqs raised while BH was disabled, before it returns', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      const r = await m.call<{ before: number; stillBefore: number; after: number; inKsoftirqd: boolean }>(1, 'ctx', 'bhEnableRuns');
      expect(r.stillBefore).toBe(r.before);
      expect(r.after).toBe(r.before + 1);
      expect(r.inKsoftirqd).toBe(false);
    });
  });

  it('S-SIRQ-5/S-SIRQ-14: a softirq raised from plain task context runs in ksoftirqd/N, still in softirq context', async () => {
    await withMachine({ fixtures: ['ctx'] }, async (m) => {
      await m.call(1, 'ctx', 'raiseFromTask');
      await m.quiesce();
      const r = await m.call<{ softirq: Probe; inKsoftirqd: boolean; runs: number[] }>(1, 'ctx', 'results');
      expect(r.runs[0]).toBe(1);
      expect(r.inKsoftirqd).toBe(true);
      expect(r.softirq).toMatchObject({ in_serving_softirq: true, in_task: false, cpu: 1 });
    });
  });
});
