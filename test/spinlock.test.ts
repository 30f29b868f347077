import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';

const LOCKS_IRQ = 7;

describe('spinlocks', () => {
  it('S-LOCK-2/S-LOCK-6: a spin_lock_bh-protected counter shared by process context and NET_RX on every CPU is exact over 200 000 updates', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      const N = 100_000;
      const work = Promise.all([m.call<number>(0, 'locks', 'bumpBh', N), m.call<number>(1, 'locks', 'bumpBh', N)]);
      // interrupts on both CPUs while they run: each raises NET_RX there
      let raised = 0;
      let done = false;
      void work.then(() => (done = true));
      while (!done && raised < 20_000) {
        m.raiseIrq(LOCKS_IRQ);
        raised++;
        if ((raised & 63) === 0) await new Promise((r) => setImmediate(r));
      }
      await work;
      await m.quiesce();
      const total = m.sharedArray('locks.total', Int32Array)[0]!;
      const rx = m.perCpuArray('locks.rx', Int32Array).map((a) => a[0]!);
      expect(rx[0]! + rx[1]!).toBeGreaterThan(0);
      expect(total).toBe(2 * N + rx[0]! + rx[1]!);
      expect(m.softirqCounts().map((c) => c[3])).toEqual(rx); // NET_RX runs = handler runs
      expect(grep(m, /BUG|Oops/)).toEqual([]);
    });
  });

  it('S-LOCK-3: spin_lock_irqsave excludes across CPUs: exact counts', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      await Promise.all([m.call(0, 'locks', 'bumpIrqsave', 50_000), m.call(1, 'locks', 'bumpIrqsave', 50_000)]);
      expect(m.sharedArray('locks.total', Int32Array)[0]).toBe(100_000);
    });
  });

  it('S-LOCK-1/S-LOCK-2/S-LOCK-3: each variant adds what it should to preempt_count and the irq flag', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      expect(await m.call(0, 'locks', 'variantsCounts')).toEqual([1, 0x201, 1, 1, 1, 1, 0, 0]);
    });
  });

  it('S-LOCK-7/S-LOCK-17: plain spin_lock shared with a softirq on the same CPU: "BUG: spinlock recursion", and the machine stops cleanly', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      await expect(m.call(1, 'locks', 'recursion')).rejects.toThrow();
      const bug = grep(m, /BUG: spinlock recursion on CPU#1/);
      expect(bug.length).toBe(1);
      expect(m.dmesg()).toMatch(/ lock: locks\.L, \.magic: dead4ead, \.owner: recursion\/\d+, \.owner_cpu: 1/);
      expect(m.dmesg()).toMatch(/Kernel panic - not syncing: Fatal exception in interrupt/);
      expect(m.panicked()).toBe(true);
    });
  });

  it('S-LOCK-2: the same program with spin_lock_bh holds the softirq off until spin_unlock_bh, which runs it', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      const r = await m.call<{ before: number; during: number; after: number }>(0, 'locks', 'noRecursionWithBh');
      expect(r.during).toBe(r.before);
      expect(r.after).toBe(r.before + 1);
      expect(grep(m, /BUG/)).toEqual([]);
    });
  });

  it('S-LOCK-17: a spinner that waits past the bound reports "spinlock lockup suspected" naming both CPUs, and the machine stops', async () => {
    await withMachine({ fixtures: ['locks'], spinLockupMs: 300 }, async (m) => {
      const holder = m.call(0, 'locks', 'holdUntilReleased');
      holder.catch(() => {});
      await m.call(1, 'locks', 'waitHolder');
      await expect(m.call(1, 'locks', 'takeL')).rejects.toThrow();
      await expect(holder).rejects.toThrow();
      const d = m.dmesg();
      expect(d).toMatch(/BUG: spinlock lockup suspected on CPU#1, takeL\/\d+/);
      expect(d).toMatch(/\.owner: holdUntilReleas\w*\/\d+, \.owner_cpu: 0/);
      expect(m.panicked()).toBe(true);
    });
  });

  it('S-LOCK-17: unlocking a lock that is not held reports "spinlock already unlocked" and goes on', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      expect(await m.call(0, 'locks', 'unlockUnlocked')).toBe(-1);
      expect(grep(m, /BUG: spinlock already unlocked on CPU#0/).length).toBe(1);
      expect(m.panicked()).toBe(false);
    });
  });

  it('S-LOCK-4: spin_trylock returns 1 or 0 and never spins; the _bh variant disables BH only when it succeeds', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      const r = await m.call(0, 'locks', 'trylocks');
      expect(r).toEqual({ a: 1, heldAfter: true, b: 0, c: 1, bhCount: 0x201, softirqOff: true, end: 0 });
    });
  });

  it('S-LOCK-5: rwlock readers never see a half-done write; writers exclude each other', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      const bad = await Promise.all([m.call(0, 'locks', 'rwMix', 40_000), m.call(1, 'locks', 'rwMix', 40_000)]);
      expect(bad).toEqual([0, 0]);
      const d = m.sharedArray('locks.rwdata', Int32Array);
      expect([d[0], d[1]]).toEqual([20_000, 20_000]);
    });
  });

  it("S-LOCK-17: read_lock under one's own write_lock is reported as rwlock recursion", async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      await expect(m.call(0, 'locks', 'rwRecursion')).rejects.toThrow();
      expect(grep(m, /BUG: rwlock recursion on CPU#0/).length).toBe(1);
    });
  });
});
