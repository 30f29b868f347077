import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';
import type { Machine } from '@kdefer/workers';

/** The IWI row of /proc/interrupts, per CPU. */
function iwi(m: Machine): number[] {
  const row = m
    .procInterrupts()
    .split('\n')
    .find((l) => /^\s*IWI:/.test(l));
  if (!row) throw new Error('no IWI row in /proc/interrupts');
  return row
    .replace(/^\s*IWI:/, '')
    .trim()
    .split(/\s+/)
    .slice(0, m.cpus)
    .map(Number);
}

describe('irq_work', () => {
  it('S-IRQW-1/S-IRQW-2: irq_work_queue on a pending irq_work returns false; it runs once, in hardirq context with interrupts off, when interrupts come back on', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      const r = await m.call(0, 'iw', 'pending');
      expect(r).toEqual({ q1: true, q2: false, pend: true, before: 0, after: 1, notHardirq: 0, irqsOn: 0 });
    });
  });

  it('S-IRQW-3: the IRQ work self-interrupt is counted in the IWI row of /proc/interrupts, between SPU and RES', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      const before = iwi(m);
      await m.call(1, 'iw', 'pending');
      const after = iwi(m);
      expect(after[0]).toBe(before[0]);
      expect(after[1]! - before[1]!).toBe(1);
      const rows = m
        .procInterrupts()
        .split('\n')
        .map((l) => l.trim().split(':')[0])
        .filter((n) => /^[A-Z]{3}$/.test(n!));
      expect(rows).toEqual(['NMI', 'LOC', 'SPU', 'IWI', 'RES', 'CAL', 'ERR', 'MIS']);
    });
  });

  it('S-IRQW-4: irq_work_queue_on runs the callback on the CPU named', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      expect(await m.call(0, 'iw', 'queueOn', 1)).toEqual({ q: true, ranOn: 1, runs: 1 });
      await expect(m.call(0, 'iw', 'queueOn', 7)).rejects.toThrow(/no CPU 7/);
    });
  });

  it('S-IRQW-5: an IRQ_WORK_LAZY irq_work raises no self-interrupt; the next tick runs it, in hardirq context', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      const before = iwi(m);
      expect(await m.call(0, 'iw', 'lazy')).toEqual({ q: true, runs: 1, notHardirq: 0 });
      expect(iwi(m)[0]).toBe(before[0]);
    });
  });

  it('S-IRQW-6: irq_work_sync returns only when the callback running on another CPU has finished', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      await m.call(0, 'iw', 'startSlow', 1);
      expect(await m.call(0, 'iw', 'syncSlow')).toEqual({ done: 1 });
    });
  });

  it('S-IRQW-7: an irq_work queued again from its own callback is accepted (PENDING is clear while it runs) and runs once more', async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      expect(await m.call(0, 'iw', 'requeue')).toEqual({ runs: 2, requeued: 1 });
    });
  });

  it("S-IRQW-8: irq_work_sync from the irq_work's own callback is reported (it would wait for itself forever)", async () => {
    await withMachine({ fixtures: ['iw'] }, async (m) => {
      await m.call(0, 'iw', 'selfSync').catch(() => 0);
      await m.quiesce().catch(() => 0);
      expect(grep(m, /BUG: irq_work iw.selfsync waits for itself/).length).toBe(1);
    });
  });

  it('S-IRQW-9 (stress): one irq_work queued on every CPU from every CPU (2 × 20 000 queues) runs exactly once per successful queue, always in hardirq context', async () => {
    await withMachine({ cpus: 3, fixtures: ['iw'] }, async (m) => {
      const N = 20_000;
      const oks = await Promise.all([m.call<number>(0, 'iw', 'storm', N, 3), m.call<number>(1, 'iw', 'storm', N, 3)]);
      await m.quiesce();
      const st = await m.call<{ runs: number; overlaps: number; notHardirq: number }>(2, 'iw', 'stormStats');
      expect(oks[0]! + oks[1]!).toBeGreaterThan(0);
      expect(st.runs).toBe(oks[0]! + oks[1]!);
      expect(st.notHardirq).toBe(0);
      // (not asserted: no overlap — queued again while it runs, an irq_work may
      // run on another CPU at the same time, as the kernel allows)
      expect(grep(m, /BUG|Oops|WARNING/)).toEqual([]);
    });
  });
});
