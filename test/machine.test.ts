import { describe, it, expect } from 'vitest';
import { availableParallelism } from 'node:os';
import { Machine } from '@kdefer/workers';
import { withMachine, fixture, grep, until } from './helpers.js';

describe('the machine (host face)', () => {
  it('S-PROC-3, kdefer-only (machine): boots one CPU per core by default (at least 2), lists ksoftirqd/N per CPU, and shutdown leaves no thread', async () => {
    const m = await Machine.boot({ modules: [fixture('misc')] });
    try {
      expect(m.cpus).toBe(Math.min(64, Math.max(2, availableParallelism())));
      const ks = m.threads().filter((t) => t.kthread && t.comm.startsWith('ksoftirqd/'));
      expect(ks.map((t) => t.comm)).toEqual(Array.from({ length: m.cpus }, (_, c) => `ksoftirqd/${c}`));
      expect(ks.every((t, c) => t.cpu === c && t.state === 'S')).toBe(true);
      expect(m.ps()).toMatch(/\[ksoftirqd\/0\]/);
      expect(await m.call(1, 'misc', 'whoami')).toEqual({ comm: 'whoami', cpu: 1 });
    } finally {
      await m.shutdown();
    }
    expect(m.liveThreads()).toBe(0);
  });

  it('kdefer-only (machine): shutdown stops a CPU that is busy in a task, and one that never reaches a preemption point', async () => {
    const m = await Machine.boot({ cpus: 2, modules: [fixture('misc')] });
    const a = m.call(0, 'misc', 'spinForever');
    const b = m.call(1, 'misc', 'stuck');
    a.catch(() => {});
    b.catch(() => {});
    // Both tasks must really be running (their counters move) before the shutdown.
    const x = m.sharedArray('misc.x', Int32Array);
    await until(() => x[0]! > 0 && x[2]! > 0, 'spinForever and stuck to start');
    await m.shutdown(500);
    expect(m.liveThreads()).toBe(0);
    await expect(a).rejects.toThrow();
  });

  it('kdefer-only (machine): a CPU answers the host while another task of it only yields with cond_resched', async () => {
    await withMachine({ fixtures: ['misc'] }, async (m) => {
      const y = m.call(0, 'misc', 'yieldForever');
      y.catch(() => {});
      // The yielding task must be running before the call, else the call proves nothing.
      const x = m.sharedArray('misc.x', Int32Array);
      await until(() => x[1]! > 0, 'yieldForever to start');
      expect(await m.call(0, 'misc', 'whoami')).toEqual({ comm: 'whoami', cpu: 0 });
    });
  });

  it('kdefer-only (machine): a CPU left idle for over a second after loading modules still takes an interrupt and answers a call (no lost wake-up)', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      await new Promise((r) => setTimeout(r, 1300));
      m.setIrqAffinity(9, [1]);
      m.raiseIrq(9);
      const c = await m.call<number[]>(1, 'irqs', 'counts');
      expect(c[1]).toBe(1);
    });
  });

  it('kdefer-only (machine): msleep sleeps at least the time asked, and the CPU is idle meanwhile', async () => {
    await withMachine({ fixtures: ['misc'] }, async (m) => {
      const took = await m.call<number>(1, 'misc', 'sleepy', 20);
      expect(took).toBeGreaterThanOrEqual(20);
    });
  });

  it('kdefer-only (machine, bad input): bad input: unknown module or entry, a name redeclared with another kind, a full table, a bad CPU', async () => {
    await withMachine({ fixtures: ['misc'], maxLocks: 8 }, async (m) => {
      await expect(m.call(0, 'nosuch', 'x')).rejects.toThrow(/no module 'nosuch' is loaded/);
      await expect(m.call(0, 'misc', 'nosuch')).rejects.toThrow(/has no entry point 'nosuch'/);
      await expect(m.call(0, 'misc', 'redeclare')).rejects.toThrow(/'misc.x' is already declared as shared data, not as lock/);
      await expect(m.call(0, 'misc', 'manyLocks', 20)).rejects.toThrow(/lock table full: maxLocks=8/);
      await expect(m.call(5, 'misc', 'whoami')).rejects.toThrow(/CPU 5 does not exist/);
      await expect(m.call(0, 'misc', 'throws')).rejects.toThrow(/entry point failed on purpose/);
      expect(grep(m, /task throws\/\d+ on CPU#0 ended with RangeError/).length).toBe(1);
    });
    await expect(Machine.boot({ cpus: 0 })).rejects.toThrow(/cpus=0/);
  });

  it('kdefer-only (machine): a task that awaits a promise that is not a kernel primitive is reported, and the CPU goes on', async () => {
    await withMachine({ fixtures: ['misc'] }, async (m) => {
      const f = m.call(0, 'misc', 'foreign');
      f.catch(() => {});
      expect(await m.call(0, 'misc', 'whoami')).toMatchObject({ cpu: 0 });
      expect(grep(m, /awaited a promise that is not a kernel primitive/).length).toBe(1);
    });
  });

  it('kdefer-only (printk): dmesg lines carry time and caller, as CONFIG_PRINTK_CALLER prints them', async () => {
    await withMachine({ fixtures: ['misc'] }, async (m) => {
      await m.call(0, 'misc', 'throws').catch(() => {});
      const line = grep(m, /ended with RangeError/)[0]!;
      expect(line).toMatch(/^\[\s*\d+\.\d{6}\]\[\s*T\d+\] kdefer: task throws/);
    });
  });
});
