import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';

describe('timers', () => {
  it('S-TIME-14/S-TIME-16: a timer runs in TIMER_SOFTIRQ with interrupts on, on the CPU it was queued on, never early', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      for (const cpu of [0, 1]) {
        const r = await m.call<Record<string, number>>(cpu, 'timers', 'armIn', 5);
        expect(r.cpu).toBe(cpu);
        expect(r.ranAt).toBeGreaterThanOrEqual(r.expires!);
        expect(r.early).toBe(0);
        expect(r.notServing).toBe(0);
        expect(r.irqsOn).toBeGreaterThan(0);
      }
      expect(m.softirqCounts().every((c) => c[1]! > 0)).toBe(true);
    });
  });

  it('S-TIME-6: add_timer_on runs the function on the named CPU', async () => {
    await withMachine({ cpus: 3, fixtures: ['timers'] }, async (m) => {
      expect(await m.call(0, 'timers', 'armOn', 2, 3)).toEqual({ cpu: 2, early: 0 });
      expect(await m.call(2, 'timers', 'armOn', 1, 0)).toEqual({ cpu: 1, early: 0 });
    });
  });

  it('S-TIME-16/S-TIME-15: 40 timers spread over wheel levels 0-2 on two CPUs: each runs exactly once, none early (seeded, KDEFER_SEED)', async () => {
    const seed = Number(process.env.KDEFER_SEED ?? 12345);
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      const r = await m.call(1, 'timers', 'many', 40, 700, seed);
      expect(r, `seed ${seed}`).toEqual({ ran: 40, early: 0, double: 0 });
    });
  });

  it('S-TIME-15: a timer armed on a CPU that sat idle goes by its delta from now (forward_timer_base), not from the stale base clock', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await new Promise((r) => setTimeout(r, 300)); // CPU 1's base clock stands still meanwhile
      expect(await m.call(1, 'timers', 'levelOf', 5)).toBe(0); // 5 jiffies: level 0 (0-63)
      expect(await m.call(1, 'timers', 'levelOf', 100)).toBe(1); // level 1 (64-511)
      expect(await m.call(1, 'timers', 'levelOf', 1000)).toBe(2); // level 2 (512-4095)
    });
  });

  it('S-TIME-7/S-TIME-8/S-TIME-10: mod_timer, mod_timer_pending, timer_reduce and del_timer return what the kernel returns', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      expect(await m.call(0, 'timers', 'returns')).toEqual([0, 0, 0, 0, 1, 1, 2000, 1, 500, 1, 0, 0]);
    });
  });

  it('S-TIME-10/R-1: del_timer returns while the function still runs on another CPU', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await m.call(0, 'timers', 'armSlowOn', 1);
      const r = await m.call<Record<string, number>>(0, 'timers', 'deleteWhileRunning', false);
      expect(r).toEqual({ ret: 0, doneOnReturn: 0, runningOnReturn: 1 });
    });
  });

  it('S-TIME-11: del_timer_sync returns only when the function is not running on any CPU; try_to_del_timer_sync says -1 meanwhile', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await m.call(0, 'timers', 'armSlowOn', 1);
      expect(await m.call(0, 'timers', 'tryWhileRunning')).toBe(-1);
      const r = await m.call<Record<string, number>>(0, 'timers', 'deleteWhileRunning', true);
      expect(r).toEqual({ ret: 0, doneOnReturn: 1, runningOnReturn: 0 });
    });
  });

  it('S-TIME-11/S-TIME-12: a self re-arming timer keeps running after del_timer; del_timer_sync and timer_shutdown_sync stop it, and a shut-down timer cannot be re-armed', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await m.call(1, 'timers', 'startRearm');
      const a = await m.call<Record<string, number | boolean>>(0, 'timers', 'stopRearm', 'del_timer');
      expect(a.later as number).toBeGreaterThan(a.at as number); // del_timer did not stop it (it re-armed)
      const s = await m.call<Record<string, number | boolean>>(0, 'timers', 'stopRearm', 'del_timer_sync');
      expect(s.later).toBe(s.at);
      expect(s.pending).toBe(false);
      await m.call(1, 'timers', 'startRearm');
      const b = await m.call<Record<string, number | boolean>>(0, 'timers', 'stopRearm', 'timer_shutdown_sync');
      expect(b.later).toBe(b.at);
      expect(b.rearmAfter).toBe(0);
      expect(b.pending).toBe(false);
      expect(b.final).toBe(b.at);
    });
  });

  it("S-TIME-13(a): del_timer_sync from the timer's own function is reported and the machine stops instead of hanging", async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await expect(m.call(0, 'timers', 'selfDelete')).rejects.toThrow();
      expect(m.dmesg()).toMatch(/possible recursive locking detected/);
      expect(m.dmesg()).toMatch(/BUG: del_timer_sync\(\) called from the function of timer timers\.selfdel/);
      expect(m.panicked()).toBe(true);
    });
  });

  it('S-TIME-13(c)/S-TIME-18: del_timer_sync from hardirq is a WARN without TIMER_IRQSAFE; an IRQSAFE function runs with interrupts off', async () => {
    await withMachine({ fixtures: ['timers'] }, async (m) => {
      await m.call(0, 'timers', 'delSyncFromHardirq');
      expect(grep(m, /del_timer_sync\(timers\.t1\) from hardirq context on a timer without TIMER_IRQSAFE/).length).toBe(1);
      expect(await m.call(1, 'timers', 'irqsafe')).toBe(1);
    });
  });
});
