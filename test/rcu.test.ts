import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';
import { rcu_stats } from '@kdefer/core';

const RCU = 9;

describe('RCU', () => {
  it('S-RCU-5: a call_rcu callback runs after a grace period, from RCU_SOFTIRQ on the CPU that queued it (/proc/softirqs counts RCU there)', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      for (const cpu of [1, 0]) {
        const before = m.softirqCounts()[cpu]![RCU]!;
        expect(await m.call(cpu, 'rcut', 'basic')).toEqual({ runs: 1, sameCpu: 1, inSoftirq: 1 });
        expect(m.softirqCounts()[cpu]![RCU]!).toBeGreaterThan(before);
      }
      const st = rcu_stats(m.mem)!;
      expect(st.gps).toBeGreaterThanOrEqual(2);
      expect(st.cpus.map((c) => c.pending)).toEqual([0, 0]);
    });
  });

  it('S-RCU-3: synchronize_rcu returns only after a reader that was inside its section when it was called has left it', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      for (let i = 0; i < 3; i++) {
        const [, r] = await Promise.all([m.call(1, 'rcut', 'reader', 30), m.call(0, 'rcut', 'syncAfterReader')]);
        expect(r).toEqual({ leftBeforeReturn: 1 });
      }
      expect(m.reports()).toEqual([]);
    });
  });

  it('S-RCU-8: a task that sleeps inside rcu_read_lock() is reported ("Voluntary context switch within RCU read-side critical section!") and still holds up the grace period until it leaves', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      const [, r] = await Promise.all([m.call(1, 'rcut', 'sleepInReader', 30), m.call(0, 'rcut', 'syncAfterSleeper')]);
      expect(r).toEqual({ leftBeforeReturn: 1 });
      expect(grep(m, /Voluntary context switch within RCU read-side critical section!/).length).toBe(1);
    });
  });

  it('S-RCU-7: synchronize_rcu inside a read-side section reports "suspicious RCU usage"; in atomic context "sleeping function called from invalid context"; both return', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      expect(await m.call(0, 'rcut', 'syncInReader')).toBe(true);
      expect(grep(m, /\] WARNING: suspicious RCU usage$/).length).toBe(1);
      expect(grep(m, /Illegal synchronize_rcu\(\) in RCU read-side critical section!/).length).toBe(1);
      expect(await m.call(1, 'rcut', 'syncAtomic')).toBe(true);
      expect(grep(m, /BUG: sleeping function called from invalid context at synchronize_rcu/).length).toBe(1);
    });
  });

  it('S-RCU-9: rcu_read_unlock without rcu_read_lock is lockdep\'s "bad unlock balance" for rcu_read_lock; the count stays balanced after', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      expect(await m.call(0, 'rcut', 'unbalanced')).toBe(true);
      expect(grep(m, /\] WARNING: bad unlock balance detected!$/).length).toBe(1);
      expect(grep(m, /is trying to release lock \(rcu_read_lock\) at:/).length).toBe(1);
      expect(await m.call(0, 'rcut', 'basic')).toEqual({ runs: 1, sameCpu: 1, inSoftirq: 1 });
    });
  });

  it('S-RCU-4: rcu_assign_pointer publishes a slab object in a shared slot; rcu_dereference outside a read-side section is "suspicious rcu_dereference_check() usage"', async () => {
    await withMachine({ fixtures: ['rcut'] }, async (m) => {
      expect(await m.call(1, 'rcut', 'derefOutside')).toBe(7);
      expect(grep(m, /suspicious rcu_dereference_check\(\) usage!/).length).toBe(1);
    });
  });

  it('S-RCU-6: rcu_barrier waits for every callback queued before it, on every CPU', async () => {
    await withMachine({ cpus: 3, fixtures: ['rcut'] }, async (m) => {
      await Promise.all([m.call(0, 'rcut', 'queueMany', 25), m.call(1, 'rcut', 'queueMany', 40), m.call(2, 'rcut', 'queueMany', 7)]);
      expect(await m.call(1, 'rcut', 'barrierCount')).toEqual([25, 40, 7]);
    });
  });

  it('S-RCU-10: a CPU that stays in a read-side section past the stall bound self-reports "rcu: INFO: rcu_preempt self-detected stall on CPU"', async () => {
    await withMachine({ fixtures: ['rcut'], rcuStallMs: 100 }, async (m) => {
      await Promise.all([m.call(1, 'rcut', 'stallSelf', 400), m.call(0, 'rcut', 'busyWithCallback', 0)]);
      await m.quiesce();
      expect(grep(m, /\] rcu: INFO: rcu_preempt self-detected stall on CPU$/).length).toBeGreaterThanOrEqual(1);
      expect(grep(m, /\] rcu: \t1-\.\.\.\.: \(\d+ ticks this GP\)/).length).toBeGreaterThanOrEqual(1);
      expect(m.reports().some((r) => r.kind === 'INFO')).toBe(true);
    });
  });

  it('S-RCU-10: a CPU stuck in a read-side section with interrupts off is reported by another: "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"', async () => {
    await withMachine({ fixtures: ['rcut'], rcuStallMs: 100 }, async (m) => {
      await Promise.all([m.call(1, 'rcut', 'stallQuiet', 400), m.call(0, 'rcut', 'busyWithCallback', 500)]);
      expect(grep(m, /\] rcu: INFO: rcu_preempt detected stalls on CPUs\/tasks:$/).length).toBeGreaterThanOrEqual(1);
      expect(grep(m, /\] rcu: \t\(detected by 0, t=\d+ jiffies, g=-?\d+, q=\d+ ncpus=2\)$/).length).toBeGreaterThanOrEqual(1);
      await m.quiesce();
    });
  });

  it('S-RCU-11: a reader holding an object freed with plain kfree is a KASAN use-after-free; kfree_rcu and synchronize_rcu + kfree close it (forced)', async () => {
    for (const api of ['kfree', 'kfree_rcu', 'synchronize_rcu+kfree']) {
      await withMachine({ fixtures: ['rcut'] }, async (m) => {
        await m.call(0, 'rcut', 'uafPublish');
        const [seen] = await Promise.all([m.call<number>(1, 'rcut', 'uafReader'), m.call(0, 'rcut', 'uafUpdater', api)]);
        await m.quiesce();
        if (api === 'kfree') {
          expect(m.kasanReports()).toBe(1);
          expect(grep(m, /BUG: KASAN: slab-use-after-free in uafReader/).length).toBe(1);
          expect(seen).toBe(0x6b6b6b6b);
        } else {
          expect(m.kasanReports()).toBe(0);
          expect(seen).toBe(42);
        }
      });
    }
  });

  it('S-RCU-12 (stress): no callback runs before every reader that was inside its section at call_rcu time has left it; kfree_rcu never frees under a reader', async () => {
    const seed = Number(process.env.RCU_SEED ?? 20261204);
    await withMachine({ cpus: 3, fixtures: ['rcut'] }, async (m) => {
      const readers = [0, 1, 2].map((c) => m.call<number>(c, 'rcut', 'stressReader', seed + c));
      const r = await m.call<{ violations: number; callbacks: number; reads: number; badValues: number; updates: number }>(
        0,
        'rcut',
        'stressUpdater',
        400,
        3,
      );
      const n = await Promise.all(readers);
      const msg = `seed ${seed}: ${JSON.stringify(r)} sections ${n.join(',')}`;
      expect(r.violations, msg).toBe(0);
      expect(r.badValues, msg).toBe(0);
      expect(r.callbacks, msg).toBe(399);
      expect(m.kasanReports(), msg).toBe(0);
      expect(r.reads, msg).toBeGreaterThan(0);
      expect(m.reports(), msg).toEqual([]);
    });
  });
});
