import { describe, it, expect } from 'vitest';
import { withMachine } from './helpers.js';

const NET_TX = 2,
  BLOCK = 4,
  IRQ_POLL = 5,
  SCHED = 7,
  HRTIMER = 8;

describe('softirqs', () => {
  it('S-SIRQ-10(3)/S-SIRQ-1: pending softirqs run lowest vector first', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      // HRTIMER_SOFTIRQ belongs to the kernel's hrtimers: raised too (its action runs, nothing expired), not logged
      const order = await m.call<number[]>(0, 'sirq', 'raiseMany', [HRTIMER, SCHED, BLOCK, NET_TX, IRQ_POLL]);
      expect(order).toEqual([NET_TX, BLOCK, IRQ_POLL, SCHED]);
      expect(m.softirqCounts()[0]![HRTIMER]).toBe(1);
    });
  });

  it('S-SIRQ-3/S-SIRQ-8: a softirq runs on the CPU that raised it', async () => {
    await withMachine({ cpus: 3, fixtures: ['sirq'] }, async (m) => {
      for (const cpu of [2, 0, 1]) {
        const r = await m.call<{ ranOn: number; me: number }>(cpu, 'sirq', 'raiseHere', BLOCK);
        expect(r).toEqual({ ranOn: cpu, me: cpu });
      }
    });
  });

  it('S-SIRQ-7: raising a pending vector again is idempotent: three raises, one run', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      expect(await m.call(1, 'sirq', 'raiseTwiceRunsOnce', IRQ_POLL)).toBe(1);
    });
  });

  it('S-SIRQ-8: the same softirq runs on two CPUs at the same time', async () => {
    await withMachine({ fixtures: ['sirqconc'] }, async (m) => {
      const [a, b] = await Promise.all([m.call<number>(0, 'sirqconc', 'run'), m.call<number>(1, 'sirqconc', 'run')]);
      expect(Math.max(a, b)).toBe(2);
    });
  });

  it('S-SIRQ-11/R-10: a self-raising softirq restarts at most MAX_SOFTIRQ_RESTART times, then ksoftirqd/N takes over', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      const r = await m.call<{
        firstBurst: number;
        pendingAfter: number;
        fromIrqExit: number;
        inKsoftirqd: number;
        notServing: number;
        max: number;
      }>(1, 'sirq', 'floodViaIrq', 200);
      expect(r.max).toBe(10);
      expect(r.firstBurst).toBeGreaterThanOrEqual(1);
      expect(r.firstBurst).toBeLessThanOrEqual(10);
      expect(r.pendingAfter & (1 << SCHED)).not.toBe(0); // left for ksoftirqd
      expect(r.fromIrqExit + r.inKsoftirqd).toBe(200);
      expect(r.inKsoftirqd).toBeGreaterThan(0);
      expect(r.notServing).toBe(0); // ksoftirqd still runs them in softirq context
      const ps = m.threads().filter((t) => t.comm.startsWith('ksoftirqd/'));
      expect(ps.map((t) => [t.comm, t.cpu])).toEqual([
        ['ksoftirqd/0', 0],
        ['ksoftirqd/1', 1],
      ]);
    });
  });

  it('S-SIRQ-4/S-SIRQ-5: __raise_softirq_irqoff and raise_softirq_irqoff only set the bit with interrupts off', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      const pending = await m.call<number>(0, 'sirq', 'irqoffVariants', IRQ_POLL);
      expect(pending & (1 << IRQ_POLL)).not.toBe(0);
      await m.quiesce();
      expect(m.softirqCounts()[0]![IRQ_POLL]).toBe(1);
    });
  });

  it('S-PROC-1: /proc/softirqs counts handler runs per CPU, in the kernel format', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      await m.call(0, 'sirq', 'raiseHere', BLOCK);
      await m.call(1, 'sirq', 'raiseHere', BLOCK);
      await m.call(1, 'sirq', 'raiseHere', BLOCK);
      const lines = m.procSoftirqs().split('\n');
      expect(lines[0]).toBe(' '.repeat(20) + 'CPU0       CPU1       ');
      expect(lines.slice(1, 11).map((l) => l.slice(0, 13))).toEqual(
        ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'].map((n) => n.padStart(12) + ':'),
      );
      expect(lines[5]).toBe('       BLOCK:          1          2');
    });
  });

  it('S-SIRQ-1, bad input: bad input: an unknown softirq number and a vector with no action are clear errors', async () => {
    await withMachine({ fixtures: ['sirq'] }, async (m) => {
      await expect(m.call(0, 'sirq', 'badRaise', 10)).rejects.toThrow(/unknown softirq number 10/);
      await expect(m.call(0, 'sirq', 'badRaise', 3)).rejects.toThrow(/softirq 3 \(NET_RX\) has no action/);
    });
  });
});

describe('softirq vectors and their owners', () => {
  it('S-SIRQ-2: a module cannot replace the action of a vector a built-in mechanism or another module opened', async () => {
    const { Machine } = await import('@kdefer/workers');
    const { fixture } = await import('./helpers.js');
    // ctx and sirq both open BLOCK_SOFTIRQ: the second load is refused with the owner's name
    await expect(Machine.boot({ cpus: 2, modules: [fixture('ctx'), fixture('sirq')] })).rejects.toThrow(
      /open_softirq\(BLOCK_SOFTIRQ\): the vector belongs to ctx/,
    );
  });
});
