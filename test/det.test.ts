// Deterministic mode (issue 12): one CPU at a time on a seeded schedule,
// virtual time, record and replay.
import { describe, it, expect } from 'vitest';
import { Machine, type MachineOptions } from '@kdefer/workers';
import type { ScheduleOptions } from '@kdefer/core';
import { withMachine, fixture } from './helpers.js';

interface Run {
  dmesg: string;
  softirqs: string;
  interrupts: string;
  steps: number;
  switches: number[][];
  results: unknown[];
  divergence: string | null;
}

/** The scenario every determinism test runs: two CPUs contending a lock, softirqs, a timer. */
async function scenario(schedule: ScheduleOptions, extra: Partial<MachineOptions> = {}): Promise<Run> {
  return withMachine({ fixtures: ['locks', 'timers'], schedule, ...extra }, async (m) => {
    const results: unknown[] = [];
    results.push(await Promise.all([m.call(0, 'locks', 'bumpBh', 300), m.call(1, 'locks', 'bumpBh', 300)]));
    for (let i = 0; i < 5; i++) m.raiseIrq(10);
    await m.quiesce();
    results.push(await m.call(1, 'timers', 'armIn', 3));
    results.push(m.sharedArray('locks.total', Int32Array, 4)[0]);
    await m.quiesce();
    const { record, divergence } = m.scheduleRecord();
    return {
      dmesg: m.dmesg(),
      softirqs: m.procSoftirqs(),
      interrupts: m.procInterrupts(),
      steps: record.steps,
      switches: record.switches,
      results,
      divergence: divergence?.message ?? null,
    };
  });
}

describe('deterministic mode', () => {
  for (const schedule of [
    { strategy: 'random', seed: 7, p: 0.1 },
    { strategy: 'pct', seed: 3, depth: 3, steps: 2000 },
  ] as ScheduleOptions[]) {
    it(`kdefer-only (det): the same ${schedule.strategy} schedule and seed twice give the same steps, switches, dmesg and /proc`, async () => {
      const a = await scenario(schedule);
      const b = await scenario(schedule);
      expect(a.results[0]).toEqual([300, 300]);
      expect(a.results[2]).toBe(600); // the lock held: no update lost
      expect(a.steps).toBeGreaterThan(600);
      expect(a.switches.length).toBeGreaterThan(0);
      expect(b.steps).toBe(a.steps);
      expect(b.switches).toEqual(a.switches);
      expect(b.dmesg).toBe(a.dmesg);
      expect(b.softirqs).toBe(a.softirqs);
      expect(b.interrupts).toBe(a.interrupts);
      expect(b.results).toEqual(a.results);
    });
  }

  it('kdefer-only (det): another seed gives another interleaving', async () => {
    const a = await scenario({ strategy: 'random', seed: 1, p: 0.2 });
    const b = await scenario({ strategy: 'random', seed: 2, p: 0.2 });
    expect(b.switches).not.toEqual(a.switches);
  });

  it('kdefer-only (det): a recorded schedule replays to the same run, with no divergence', async () => {
    const a = await scenario({ strategy: 'random', seed: 11, p: 0.1 });
    const r = await scenario({ strategy: 'replay', switches: a.switches });
    expect(r.divergence).toBeNull();
    expect(r.steps).toBe(a.steps);
    expect(r.switches).toEqual(a.switches);
    expect(r.dmesg).toBe(a.dmesg);
    expect(r.softirqs).toBe(a.softirqs);
  });

  it('kdefer-only (det): a schedule that cannot happen stops matching with a message naming the step', async () => {
    const a = await scenario({ strategy: 'random', seed: 5, p: 0.1 });
    // Move one switch to a step where its target cannot be the one asked for.
    const bad = a.switches.map((e) => e.slice());
    const i = Math.floor(bad.length / 2);
    bad.splice(i, 1);
    const r = await scenario({ strategy: 'replay', switches: bad });
    expect(r.divergence).toMatch(
      /^replay diverged at step \d+: (expected (CPU \d|the host)|the run got there by another path|the run ended with)/,
    );
  });

  it('kdefer-only (det): virtual time: timers fire, jiffies advance with the schedule, no wall clock', async () => {
    await withMachine({ fixtures: ['timers'], schedule: { strategy: 'random', seed: 1 } }, async (m) => {
      const j0 = m.jiffies();
      const r = await m.call<{ early: number; ranAt: number; expires: number }>(0, 'timers', 'armIn', 200);
      expect(r.early).toBe(0);
      expect(r.ranAt).toBeGreaterThanOrEqual(r.expires);
      expect(m.jiffies() - j0).toBeGreaterThanOrEqual(200);
      await m.advance(1000);
      expect(m.jiffies() - j0).toBeGreaterThanOrEqual(1200);
    });
  });

  it('kdefer-only (det): a call that can never return is rejected with a clear error, and the machine stops with no threads left', async () => {
    const m = await Machine.boot({ cpus: 2, modules: [fixture('sync')], schedule: { strategy: 'pct', seed: 1 } });
    try {
      await expect(m.call(0, 'sync', 'waitDone')).rejects.toThrow(/deterministic mode: .*host call\(s\) never returned/);
    } finally {
      await m.shutdown();
    }
    expect(m.liveThreads()).toBe(0);
  });

  it('kdefer-only (det): bad schedules are clear errors naming what is wrong', async () => {
    const boot = (schedule: unknown, extra: Partial<MachineOptions> = {}): Promise<Machine> =>
      Machine.boot({ cpus: 2, schedule: schedule as ScheduleOptions, ...extra });
    await expect(boot({ strategy: 'fair' })).rejects.toThrow(/unknown strategy "fair" \(expected random, pct or replay\)/);
    await expect(boot({ strategy: 'random', p: 2 })).rejects.toThrow(/p=2 must be a probability/);
    await expect(boot({ strategy: 'pct', depth: 0 })).rejects.toThrow(/depth=0 must be an integer/);
    await expect(boot({ strategy: 'replay' })).rejects.toThrow(/strategy replay needs switches/);
    await expect(
      boot({
        strategy: 'replay',
        switches: [
          [5, 0],
          [3, 1],
        ],
      }),
    ).rejects.toThrow(/step 3 comes after step 5/);
    await expect(boot({ strategy: 'replay', switches: [[5, 7]] })).rejects.toThrow(/CPU 7 does not exist/);
    await expect(boot({ strategy: 'replay', switches: ['x'] })).rejects.toThrow(/switches\[0\] = "x" is not \[step, cpu\]/);
    await expect(boot({ strategy: 'random' }, { amplify: 2 })).rejects.toThrow(/amplify and schedule exclude each other/);
  });

  it('kdefer-only (det): scheduleRecord on a free-running machine says it is not deterministic', async () => {
    await withMachine({}, async (m) => {
      expect(m.deterministic).toBe(false);
      expect(() => m.scheduleRecord()).toThrow(/booted without a schedule/);
    });
  });
});
