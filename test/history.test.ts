import { describe, it, expect } from 'vitest';
import { runForgottenMarkBh, runTimers } from '@kdefer/cli';
import { runKdefer } from './helpers.js';

// Correctness of `kdefer history`'s stories, never their speed.
describe('kdefer history', () => {
  it('H-TQ-4: the forgotten mark_bh — alone the task never runs and every queue_task after the first is swallowed; next to a driver that marks IMMEDIATE_BH it runs; fixed, it runs every time', async () => {
    const r = await runForgottenMarkBh({ cpus: 2, seconds: 0.2, eras: ['2.2', '2.4'] });
    for (const era of ['2.2', '2.4'] as const) {
      const [alone, next, fixed] = r.rows.filter((x) => x.era === era);
      expect(alone!.runs).toBe(0);
      expect(alone!.aIrqs).toBeGreaterThan(1);
      expect(alone!.queued).toBe(1);
      expect(alone!.swallowed).toBe(alone!.aIrqs - 1);
      expect(next!.bIrqs).toBeGreaterThan(0);
      expect(next!.runs).toBeGreaterThan(0);
      expect(next!.runs).toBeLessThanOrEqual(next!.bIrqs); // only a mark runs it
      expect(next!.queued + next!.swallowed).toBe(next!.aIrqs);
      expect(fixed!.runs).toBeGreaterThan(0);
    }
    expect(r.figures.marked_bh_missing_runs).toBe(0);
  });

  it('H-TMR-3/H-TMR-5: the timers story runs in 2.4 (TIMER_BH) and 2.6 (per-CPU bases) on 1 and 2 CPUs, every CPU expiring timers, with no kernel report', async () => {
    const r = await runTimers({ maxCpus: 2, seconds: 0.2, eras: ['2.4', '2.6'], perCpu: 4, cost: 1000 });
    expect(r.rows.map((x) => `${x.era}/${x.cpus}`)).toEqual(['2.4/1', '2.4/2', '2.6/1', '2.6/2']);
    for (const x of r.rows) {
      expect(x.expirationsPerS).toBeGreaterThan(0);
      expect(x.perCpu.every((v) => v > 0)).toBe(true);
    }
  });

  it('kdefer-only (cli): `kdefer history` refuses an unknown story and a story not built yet, naming the stories', async () => {
    const bad = await runKdefer(['history', 'nosuch'], 20_000);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown story 'nosuch': one of 1 mindcraft, 2 pingflood, 3 mark_bh/);
    const later = await runKdefer(['history', 'rt'], 20_000);
    expect(later.code).not.toBe(0);
    expect(later.stderr).toMatch(/story 7 \(rt\) is not built yet; built: mindcraft, pingflood, mark_bh, timers/);
  });
});
