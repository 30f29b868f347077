import { describe, it, expect } from 'vitest';
import { withMachine } from './helpers.js';

describe('watchdogs and race amplification', () => {
  it('kdefer-only (watchdog): soft lockup: a CPU stuck in softirq context past the threshold is reported with what it was doing', async () => {
    await withMachine({ fixtures: ['watchdogs'], softLockupMs: 150 }, async (m) => {
      await m.call(1, 'watchdogs', 'stuckInSoftirq', 400);
      const d = m.dmesg();
      expect(d).toMatch(/watchdog: BUG: soft lockup - CPU#1 stuck for 0s! \[stuckInSoftirq:\d+\]/);
      expect(d).toMatch(/doing: softirq, serving softirq BLOCK/);
      expect(d).toMatch(/wd_busy_softirq/); // its stack
      expect(m.panicked()).toBe(false);
    });
  });

  it('kdefer-only (watchdog): hard lockup: a CPU that takes no interrupt (interrupts off) is reported by the NMI watchdog on the host', async () => {
    await withMachine({ fixtures: ['watchdogs'], hardLockupMs: 200 }, async (m) => {
      await m.call(0, 'watchdogs', 'irqsOff', 700);
      expect(m.dmesg()).toMatch(/\]\[\s+C0\] NMI watchdog: Watchdog detected hard LOCKUP on cpu 0/);
    });
  });

  it('kdefer-only (watchdog): hung task: a task asleep in TASK_UNINTERRUPTIBLE past the threshold is "INFO: task ... blocked for more than"', async () => {
    await withMachine({ fixtures: ['watchdogs'], hungTaskMs: 150 }, async (m) => {
      void m.call(1, 'watchdogs', 'sleepForever').catch(() => {});
      const t0 = performance.now();
      while (!/INFO: task/.test(m.dmesg()) && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      expect(m.dmesg()).toMatch(/INFO: task sleepForever:\d+ blocked for more than 0 seconds\./);
      expect(m.dmesg()).toMatch(/hung_task_timeout_secs" disables this message/);
    });
  });

  it('kdefer-only (race amplification): race amplification: the level and seed are in the log, delays are injected, and a lock still gives exact counts', async () => {
    await withMachine({ fixtures: ['watchdogs'], amplify: 2, seed: 77 }, async (m) => {
      await Promise.all([m.call(0, 'watchdogs', 'lockedIncrements', 3000), m.call(1, 'watchdogs', 'lockedIncrements', 3000)]);
      const c = await m.call<number[]>(0, 'watchdogs', 'counters');
      expect(c[5]).toBe(6000);
      expect(m.dmesg()).toMatch(/kdefer: race amplification level 2, seed 77/);
    });
    await expect(withMachine({ amplify: 7 }, async () => 0)).rejects.toThrow(/amplify=7/);
  });

  it('kdefer-only (race amplification): race amplification makes an unprotected read-modify-write lose updates within bounded trials', async () => {
    let lost = 0;
    for (let trial = 0; trial < 5 && lost === 0; trial++) {
      await withMachine({ fixtures: ['watchdogs'], amplify: 3, seed: 1000 + trial }, async (m) => {
        await Promise.all([m.call(0, 'watchdogs', 'racyIncrements', 2000), m.call(1, 'watchdogs', 'racyIncrements', 2000)]);
        const c = await m.call<number[]>(0, 'watchdogs', 'counters');
        lost = 4000 - c[4]!;
      });
    }
    expect(lost).toBeGreaterThan(0);
  });
});
