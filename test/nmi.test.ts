import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';
import type { Machine } from '@kdefer/workers';

const MODE = 0,
  RAN = 1,
  IN_NMI = 2,
  PC = 3,
  IRQS_OFF = 4,
  WAITING = 5,
  GO = 6,
  IW_RAN = 7,
  IW_IN_NMI = 8,
  IW_HARDIRQ = 9,
  IW_CPU = 10;
const MODE_PRINT = 1,
  MODE_LOCK = 2,
  MODE_IRQWORK = 3,
  MODE_UNCLAIMED = 4;

const state = (m: Machine): Promise<number[]> => m.call<number[]>(0, 'nmis', 'state');
async function until(m: Machine, cond: (s: number[]) => boolean, what: string, ms = 10_000): Promise<number[]> {
  const t0 = performance.now();
  for (;;) {
    const s = await state(m);
    if (cond(s)) return s;
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
/** The NMI row of /proc/interrupts, per CPU. */
const nmiRow = (m: Machine): number[] =>
  m
    .procInterrupts()
    .split('\n')
    .find((l) => /^\s*NMI:/.test(l))!
    .replace(/^\s*NMI:/, '')
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .map(Number);

describe('NMIs', () => {
  it('S-NMI-1/S-NMI-2/S-NMI-6: raiseNmi is taken at the next preemption point with interrupts off; in_nmi() is true and preempt_count carries NMI_OFFSET (0x00100000) + HARDIRQ_OFFSET; /proc/interrupts counts it in the NMI row', async () => {
    await withMachine({ fixtures: ['nmis'] }, async (m) => {
      const window = m.call<{ ranWhileOff: number }>(1, 'nmis', 'irqsOffWindow');
      await until(m, (s) => s[WAITING] === 1, 'CPU 1 to disable interrupts');
      m.raiseNmi(1);
      const s = await until(m, (x) => x[RAN] === 1, 'the NMI');
      expect([s[IN_NMI], s[IRQS_OFF]]).toEqual([1, 1]);
      expect(s[PC]! & 0x00f00000).toBe(0x00100000);
      expect(s[PC]! & 0x000f0000).toBe(0x00010000);
      await m.call(0, 'nmis', 'set', GO, 1);
      expect((await window).ranWhileOff).toBe(1);
      expect(nmiRow(m)).toEqual([0, 1]);
      expect(() => m.raiseNmi(5)).toThrow(/raiseNmi: CPU 5 does not exist/);
    });
  });

  it('S-NMI-3: an NMI handler that takes a spinlock the interrupted code holds deadlocks; kdefer reports it and stops instead of hanging', async () => {
    await withMachine({ fixtures: ['nmis'] }, async (m) => {
      await m.call(0, 'nmis', 'set', MODE, MODE_LOCK);
      const hold = m.call(1, 'nmis', 'holdLock').catch(() => 'stopped');
      await until(m, (s) => s[WAITING] === 1, 'CPU 1 to take the lock');
      m.raiseNmi(1);
      await hold;
      await m.quiesce().catch(() => 0);
      expect(m.dmesg()).toMatch(/BUG: spinlock recursion on CPU#1|possible recursive locking detected/);
      expect(m.dmesg()).toMatch(/nmis\.L/);
      expect(m.panicked()).toBe(true);
    });
  });

  it('S-NMI-4/S-IRQW-10: irq_work_queue from the NMI is the way out: the callback runs later on that CPU, in hardirq context, not NMI, once interrupts are on', async () => {
    await withMachine({ fixtures: ['nmis'] }, async (m) => {
      await m.call(0, 'nmis', 'set', MODE, MODE_IRQWORK);
      const window = m.call<{ ranWhileOff: number; iwWhileOff: number; iwAfter: number }>(1, 'nmis', 'irqsOffWindow');
      await until(m, (s) => s[WAITING] === 1, 'CPU 1 to disable interrupts');
      m.raiseNmi(1);
      await until(m, (x) => x[RAN] === 1, 'the NMI');
      await m.call(0, 'nmis', 'set', GO, 1);
      expect(await window).toEqual({ ranWhileOff: 1, iwWhileOff: 0, iwAfter: 1 });
      const s = await state(m);
      expect([s[IW_RAN], s[IW_IN_NMI], s[IW_HARDIRQ], s[IW_CPU]]).toEqual([1, 0, 1, 1]);
    });
  });

  it('S-NMI-5: printk from NMI works, deferred: the line reaches the log from an IRQ work after the NMI, once interrupts are on', async () => {
    await withMachine({ fixtures: ['nmis'] }, async (m) => {
      await m.call(0, 'nmis', 'set', MODE, MODE_PRINT);
      const window = m.call(1, 'nmis', 'irqsOffWindow');
      await until(m, (s) => s[WAITING] === 1, 'CPU 1 to disable interrupts');
      m.raiseNmi(1);
      await until(m, (x) => x[RAN] === 1, 'the NMI');
      expect(grep(m, /nmis: hello from NMI on CPU 1/).length).toBe(0); // not yet: interrupts are still off
      await m.call(0, 'nmis', 'set', GO, 1);
      await window;
      await m.quiesce();
      expect(grep(m, /nmis: hello from NMI on CPU 1/).length).toBe(1);
    });
  });

  it('S-NMI-7: an NMI no handler claims is reported as the kernel reports an unknown NMI, and the machine goes on', async () => {
    await withMachine({ fixtures: ['nmis'] }, async (m) => {
      await m.call(0, 'nmis', 'set', MODE, MODE_UNCLAIMED);
      m.raiseNmi(0);
      await until(m, (x) => x[RAN] === 1, 'the NMI');
      await m.quiesce();
      expect(grep(m, /Uhhuh\. NMI received for unknown reason 00 on CPU 0\./).length).toBe(1);
      expect(grep(m, /Dazed and confused, but trying to continue/).length).toBe(1);
      expect(m.panicked()).toBe(false);
    });
  });
});

describe('NMI watchdog', () => {
  it('S-NMI-8: the hard-lockup watchdog reuses the NMI: the CPU stuck with interrupts off takes it and prints its own backtrace (NMI backtrace for cpu N), counted in the NMI row', async () => {
    await withMachine({ fixtures: ['nmis'], hardLockupMs: 200 }, async (m) => {
      const window = m.call(1, 'nmis', 'irqsOffWindow');
      await until(m, (s) => s[WAITING] === 1, 'CPU 1 to disable interrupts');
      const t0 = performance.now();
      while (!/NMI backtrace for cpu 1/.test(m.dmesg()) && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      await m.call(0, 'nmis', 'set', GO, 1);
      await window;
      expect(grep(m, /NMI watchdog: Watchdog detected hard LOCKUP on cpu 1/).length).toBe(1);
      const d = m.dmesg();
      expect(d).toMatch(/NMI backtrace for cpu 1/);
      expect(d.slice(d.indexOf('NMI backtrace for cpu 1'))).toMatch(/irqsOffWindow|waitGo/);
      expect(nmiRow(m)[1]).toBeGreaterThanOrEqual(1);
      expect((await state(m))[RAN]).toBeGreaterThanOrEqual(1); // the module's NMI_LOCAL handler saw it too
    });
  });
});
