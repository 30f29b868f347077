import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';
import type { Machine } from '@kdefer/workers';

/** The HRTIMER row of /proc/softirqs, summed over CPUs. */
function hrtimerSoftirqs(m: Machine): number {
  const row = m
    .procSoftirqs()
    .split('\n')
    .find((l) => /^\s*HRTIMER:/.test(l));
  if (!row) throw new Error('no HRTIMER row in /proc/softirqs');
  return row
    .replace(/^\s*HRTIMER:/, '')
    .trim()
    .split(/\s+/)
    .map(Number)
    .reduce((a, b) => a + b, 0);
}

describe('hrtimer', () => {
  it('S-HRT-1/S-HRT-2/S-HRT-3: HRTIMER_MODE_REL expires at now + tim, never early; a hard callback runs in hardirq with interrupts off, a soft one from HRTIMER_SOFTIRQ with them on (counted in /proc/softirqs)', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      const before = hrtimerSoftirqs(m);
      const r = await m.call(0, 'hrt', 'hardSoft');
      expect(r).toEqual({
        ok: true,
        relOk: true,
        hardNotEarly: true,
        softNotEarly: true,
        lateness: true,
        hardirq: 1,
        irqsOff: 1,
        softirq: 1,
        irqsOn: 1,
        early: 0,
        active: false,
      });
      expect(hrtimerSoftirqs(m) - before).toBeGreaterThanOrEqual(1);
    });
  });

  it('S-HRT-4: timers queued out of order on one CPU run in order of expiry (HRTIMER_MODE_ABS)', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      expect(await m.call(0, 'hrt', 'order')).toEqual([0, 1, 2]);
    });
  });

  it('S-HRT-5: a callback returning HRTIMER_RESTART after hrtimer_forward_now runs again; HRTIMER_NORESTART leaves it inactive; never early', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      expect(await m.call(0, 'hrt', 'periodic')).toEqual({ runs: 5, active: false, early: 0, lateOk: true });
    });
  });

  it('S-HRT-6: hrtimer_forward adds whole intervals until the expiry is after now and returns how many; 0 when already after now', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      expect(await m.call(0, 'hrt', 'forward')).toEqual({ orun: 4, afterMs: 2, again: 0 });
    });
  });

  it('S-HRT-7: hrtimer_try_to_cancel returns 0 on an inactive timer and 1 on a queued one; hrtimer_cancel on an inactive one returns 0', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      expect(await m.call(0, 'hrt', 'tryCancel')).toEqual({ inactive: 0, queued: true, ret: 1, after: false, cancelAgain: 0 });
    });
  });

  it('S-HRT-8: while the callback runs on another CPU, hrtimer_callback_running and hrtimer_active are true, hrtimer_try_to_cancel returns -1 and hrtimer_cancel waits for it to finish', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      await m.call(1, 'hrt', 'startSlow');
      expect(await m.call(0, 'hrt', 'cancelSlow')).toEqual({
        running: true,
        active: true,
        tryRet: -1,
        ret: 0,
        done: 1,
        cpu: 1,
        activeAfter: false,
      });
    });
  });

  it('S-HRT-9: hrtimer_init with .function set afterwards (the older name) works as hrtimer_setup; hrtimer_start on a queued timer moves it (it runs once, at the new expiry)', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      expect(await m.call(0, 'hrt', 'legacyRun')).toBe(1);
      const r = await m.call<{ runs: number; afterMs: number }>(0, 'hrt', 'restartMoves');
      expect(r.runs).toBe(1);
      expect(r.afterMs).toBeGreaterThanOrEqual(20);
    });
  });

  it("S-HRT-10: hrtimer_cancel from the timer's own callback is reported as del_timer_sync's is, and the machine stops instead of hanging", async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      await m.call(0, 'hrt', 'selfCancel').catch(() => 0);
      await m.quiesce().catch(() => 0);
      expect(m.dmesg()).toMatch(/possible recursive locking detected/);
      expect(grep(m, /BUG: hrtimer_cancel\(\) called from the callback of hrtimer hrt\.self/).length).toBe(1);
      expect(m.panicked()).toBe(true);
    });
  });

  it('S-HRT-11: hrtimer_cancel under a lock the callback takes is a circular dependency with the timer, reported without the race happening', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      await m.call(1, 'hrt', 'lockedOnce'); // (&hrt.locked) -> hrt.L
      await m.call(1, 'hrt', 'cancelUnderLock'); // hrt.L -> (&hrt.locked)
      const d = m.dmesg();
      expect(d).toMatch(/possible circular locking dependency detected/);
      expect(d).toMatch(/\(&hrt\.locked\)/);
      expect(m.panicked()).toBe(false);
    });
  });

  it('S-HRT-12: a clock other than CLOCK_MONOTONIC/CLOCK_BOOTTIME is refused; hrtimer_start whose _SOFT bit differs from hrtimer_setup warns once', async () => {
    await withMachine({ fixtures: ['hrt'] }, async (m) => {
      await expect(m.call(0, 'hrt', 'badClock')).rejects.toThrow(/clock 0 is not supported/);
      expect(await m.call(0, 'hrt', 'softMismatch')).toBe(1);
      expect(grep(m, /hrtimer_start\(hrt\.soft\): mode without HRTIMER_MODE_SOFT on a soft hrtimer/).length).toBe(1);
    });
  });
});
