import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';

const IRQ_A = 9,
  IRQ_SLOW = 10;

describe('hardirqs', () => {
  it('S-CTX-4/S-CTX-5: an interrupt is never delivered while the target CPU has interrupts disabled, and is taken as soon as they are enabled', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      for (const cpu of [0, 1]) {
        const r = await m.call<Record<string, number>>(cpu, 'irqs', 'disabledWindow', 0);
        expect(r.during).toBe(r.before);
        expect(r.after).toBe(r.before! + 1);
        expect(r.duringSave).toBe(r.after);
        expect(r.afterRestore).toBe(r.after! + 1);
      }
      const c = await m.call<number[]>(0, 'irqs', 'counts');
      expect(c[9]).toBe(0); // every handler ran in hardirq context with interrupts off
      expect(c[8]).toBe(0); // and never nested
    });
  });

  it('S-NAPI-8: deliveries spread round-robin over the affinity mask, or go to the one CPU it names', async () => {
    await withMachine({ cpus: 3, fixtures: ['irqs'] }, async (m) => {
      for (let i = 0; i < 30; i++) {
        m.raiseIrq(IRQ_A);
        await m.quiesce();
      }
      expect(m.irqCounts(IRQ_A)).toEqual([10, 10, 10]);
      m.setIrqAffinity(IRQ_A, [2]);
      for (let i = 0; i < 5; i++) {
        expect(m.raiseIrq(IRQ_A)).toBe(2);
        await m.quiesce();
      }
      expect(m.irqCounts(IRQ_A)).toEqual([10, 10, 15]);
      const row = m
        .procInterrupts()
        .split('\n')
        .find((l) => l.startsWith('  9:'));
      expect(row).toBe('  9:         10         10         15   IO-APIC   9-edge      irqs-a');
    });
  });

  it('kdefer-only (irq lines): disable_irq holds a raised line back; enable_irq replays it once', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      const r = await m.call<Record<string, number>>(1, 'irqs', 'replay');
      expect(r.target).toBe(-1);
      expect(r.during).toBe(r.before);
      expect(r.after).toBe(r.before! + 1);
      await m.call(1, 'irqs', 'unbalancedEnable');
      expect(grep(m, /Unbalanced enable for IRQ 9/).length).toBe(1);
    });
  });

  it('kdefer-only (irq lines): free_irq waits for a handler still running on another CPU', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      const freeing = m.call<{ name: string; doneWhenFreed: number }>(0, 'irqs', 'freeWhileRunning');
      await m.call(0, 'irqs', 'raiseSlowOn', 1);
      const r = await freeing;
      expect(r).toEqual({ name: 'irqs-slow', doneWhenFreed: 1 });
      expect(m.procInterrupts()).not.toMatch(/irqs-slow/);
      // the line has no handler now: a raise is spurious
      m.raiseIrq(IRQ_SLOW);
      await m.quiesce();
    });
  });

  it('kdefer-only (irq lines, bad input): request_irq: a busy line is -EBUSY, a line that does not exist -EINVAL; raiseIrq on it is a clear error', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      expect(await m.call(0, 'irqs', 'busy')).toBe(-16);
      expect(await m.call(0, 'irqs', 'invalid')).toEqual([-22, 16, 22]);
      expect(() => m.raiseIrq(999)).toThrow(/IRQ 999 does not exist/);
      await expect(m.call(0, 'irqs', 'unseenHandler')).rejects.toThrow(/was not seen at module load/);
    });
  });

  it('kdefer-only (Oops): a handler that throws is an Oops naming CPU, context and handler; the machine stops cleanly', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      await expect(m.call(1, 'irqs', 'raiseOops')).rejects.toThrow();
      const d = m.dmesg();
      expect(d).toMatch(/Oops: exception in irq 12 handler irq_oops \(irqs-oops\)/);
      expect(d).toMatch(/CPU: 1 PID: \d+ Comm: raiseOops/);
      expect(d).toMatch(/Context: hardirq/);
      expect(d).toMatch(/TypeError: cannot read properties of undefined/);
      expect(d).toMatch(/Kernel panic - not syncing: Fatal exception in interrupt/);
      expect(m.panicked()).toBe(true);
    });
  });

  it('kdefer-only (Oops): with panicOnOops: false the Oops is reported and the machine goes on', async () => {
    await withMachine({ fixtures: ['irqs'], panicOnOops: false }, async (m) => {
      expect(await m.call(1, 'irqs', 'raiseOops')).toBe(0);
      expect(grep(m, /Oops: exception in irq 12/).length).toBe(1);
      expect(m.panicked()).toBe(false);
      expect(await m.call(1, 'irqs', 'setAffinity', [0, 1])).toBe(0);
    });
  });
});
