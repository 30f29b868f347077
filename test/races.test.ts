// The del_timer race lab (issue 3): deterministic reproducers of SEMANTICS.md
// and the self re-arming timer, each interleaving forced
// with shared-memory gates by the race module's `forced` entry point (see the
// numbered scenario in each module), then the lab itself (scenarios/race.ts)
// and the `kdefer race` command.
//
// Machines boot with lockdep off, as the lab does: it counts races that
// happen, while lockdep would also report the deadlocks it predicts (those
// are covered by test/lockdep.test.ts).
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Machine } from '@kdefer/workers';
import { runRace, RACE_CASES } from '@kdefer/cli';
import { withMachine } from './helpers.js';

const race = (name: string): URL => new URL(`../packages/cli/dist/modules/races/${name}.js`, import.meta.url);
const BOOT = { cpus: 2, lockdep: false, slabWords: 1 << 14 };

/** dmesg since the last call, and the titles of the reports (machine.reports()) in it. */
function logReader(m: Machine): () => { text: string; reports: string[] } {
  let next = 0;
  return () => {
    const from = next;
    const recs = m.dmesgRecords(from);
    if (recs.length > 0) next = recs[recs.length - 1]!.seq + 1;
    const reports = m
      .reports(from)
      .filter((r) => r.seq < next)
      .map((r) => r.title);
    return { text: recs.map((r) => r.text).join('\n'), reports };
  };
}

type Outcome = Record<string, number | string | boolean>;

describe('the del_timer race lab: forced interleavings', () => {
  it('R-1: del_timer then kfree while the function runs on another CPU is a KASAN use-after-free in the function; del_timer_sync and timer_shutdown_sync wait for it: no report', async () => {
    await withMachine({ ...BOOT, modules: [race('del-timer-uaf')] }, async (m) => {
      const log = logReader(m);
      const bug = await m.call<Outcome>(0, 'race.del-timer-uaf', 'forced', 'del_timer');
      await m.quiesce();
      const d = log();
      expect(bug).toMatchObject({ ret: 0, runs: 1, runningOnReturn: true, sawFreed: true, gateTimeout: false });
      expect(d.reports).toEqual(['BUG: KASAN: slab-use-after-free in uaf_timer_fn']);
      // (the idle task swapper/1 runs CPU 1's softirqs, or ksoftirqd/1 when they were handed over)
      expect(d.text).toMatch(/Write of size 4 at addr 0xffff888[0-9a-f]+ by task \S+\/\d+\n field 'hits' of struct race_uaf_obj/);
      expect(d.text).toMatch(/CPU: 1 PID: \d+ Comm: \S+/);
      expect(d.text).toMatch(/Allocated by task \d+ on cpu 0 in task context:\n race_uaf_probe/);
      expect(d.text).toMatch(/Freed by task \d+ on cpu 0 in task context:\n race_uaf_remove/);
      for (const api of ['del_timer_sync', 'timer_shutdown_sync']) {
        const ok = await m.call<Outcome>(0, 'race.del-timer-uaf', 'forced', api);
        await m.quiesce();
        // the gate opened inside the call: it was called while the function ran, and returned after it
        expect(ok, api).toMatchObject({
          ret: 0,
          runs: 1,
          runningOnReturn: false,
          sawFreed: false,
          gateWhere: api === 'del_timer_sync' ? 'timer_delete_sync' : api,
          gateTimeout: false,
        });
        expect(log().reports, api).toEqual([]);
      }
      expect(m.panicked()).toBe(false);
    });
  });

  it('S-TIME-11/S-TIME-12: a function that re-arms its timer keeps running after del_timer, into the freed object; del_timer_sync and timer_shutdown_sync stop it for good', async () => {
    await withMachine({ ...BOOT, modules: [race('rearm')] }, async (m) => {
      const log = logReader(m);
      const bug = await m.call<Outcome>(0, 'race.rearm', 'forced', 'del_timer');
      await m.quiesce();
      expect(bug).toMatchObject({ ret: 0, pendingAfterStop: false, sawFreed: true, gateTimeout: false }); // 0: not pending, it was running
      expect(bug.runsAfterSettle as number).toBeGreaterThanOrEqual((bug.runsAtStop as number) + 2); // it re-armed and kept running
      const d = log();
      // the run that found the object freed touched it (or, freed just before its re-arm, mod_timer did)
      expect(d.reports).toHaveLength(1);
      expect(d.reports[0]).toMatch(/^BUG: KASAN: slab-use-after-free in /);
      expect(d.text).toMatch(/Call Trace:\n(?:.*\n){0,5}.*rearm_timer_fn/);
      expect(d.text).toMatch(/Freed by task \d+ on cpu 0 in task context:\n race_rearm_free/);
      for (const api of ['del_timer_sync', 'timer_shutdown_sync']) {
        const ok = await m.call<Outcome>(0, 'race.rearm', 'forced', api);
        await m.quiesce();
        expect(ok.gateWhere, api).toBe(api === 'del_timer_sync' ? 'timer_delete_sync' : api);
        expect(ok.pendingAfterStop, api).toBe(false);
        expect(ok.runsAfterSettle, api).toBe(ok.runsAtStop);
        expect(ok.runsAfterFree, api).toBe(ok.runsAtStop);
        expect(ok.rearmAfterStop, api).toBe(api === 'timer_shutdown_sync' ? 0 : -1); // mod_timer after shutdown: ignored
        expect(ok.gateTimeout, api).toBe(false);
        expect(log().reports, api).toEqual([]);
      }
    });
  });

  it('R-3: del_timer_sync under a spinlock the function takes deadlocks: the lockup report names both CPUs and the lock, and the machine stops instead of hanging', async () => {
    await withMachine({ ...BOOT, spinLockupMs: 300, modules: [race('sync-deadlock')] }, async (m) => {
      await expect(m.call(0, 'race.sync-deadlock', 'forced', 'del_timer_sync (lock held)')).rejects.toThrow();
      expect(m.panicked()).toBe(true);
      const d = m.dmesg();
      expect(d).toMatch(
        /BUG: spinlock lockup suspected on CPU#1, \S+\/\d+\n.* lock: race_dl_lock, \.magic: dead4ead, \.owner: forced\/\d+, \.owner_cpu: 0\n.* owner: CPU#0 took it in task \(BH disabled\) context.*\n.* this: +CPU#1 wants it in softirq context/,
      );
      expect(d).toMatch(/Call Trace:\n.*dl_timer_fn/);
      expect(d).toMatch(/Kernel panic - not syncing/);
    });
  });

  it('R-3: with the lock dropped before del_timer_sync (the flag set under it), the same interleaving ends cleanly', async () => {
    await withMachine({ ...BOOT, spinLockupMs: 300, modules: [race('sync-deadlock')] }, async (m) => {
      const log = logReader(m);
      const ok = await m.call<Outcome>(0, 'race.sync-deadlock', 'forced', 'del_timer_sync (lock dropped)');
      await m.quiesce();
      expect(ok).toMatchObject({ ret: 0, runs: 1, gateWhere: 'timer_delete_sync', gateTimeout: false });
      expect(log().reports).toEqual([]);
      expect(m.panicked()).toBe(false);
    });
  });

  it('R-2: a work item that re-arms the timer during teardown defeats del_timer_sync + cancel_work_sync (use-after-free after kfree); after timer_shutdown_sync its mod_timer is ignored and the timer stays dead', async () => {
    await withMachine({ ...BOOT, modules: [race('shutdown')] }, async (m) => {
      const log = logReader(m);
      const bug = await m.call<Outcome>(0, 'race.shutdown', 'forced', 'del_timer_sync');
      await m.quiesce();
      expect(bug).toMatchObject({
        ret: 0,
        rearmRet: 0,
        pendingAfterRearm: 1,
        runs: 2,
        runsAfterFree: 1,
        gateWhere: 'cancel_work_sync',
        gateTimeout: false,
      }); // it came back after kfree
      expect(log().reports).toEqual(['BUG: KASAN: slab-use-after-free in sd_timer_fn']);
      const ok = await m.call<Outcome>(0, 'race.shutdown', 'forced', 'timer_shutdown_sync');
      await m.quiesce();
      expect(ok).toMatchObject({
        ret: 0,
        rearmRet: 0,
        pendingAfterRearm: 0,
        runs: 1,
        runsAfterFree: 0,
        gateWhere: 'cancel_work_sync',
        gateTimeout: false,
      });
      expect(log().reports).toEqual([]);
    });
  });

  it('R-8: an interrupt between tasklet_kill and free_irq reschedules the tasklet onto the freed object; free_irq first, then tasklet_kill, leaves it nothing to run on', async () => {
    await withMachine({ ...BOOT, modules: [race('tasklet-teardown')] }, async (m) => {
      const log = logReader(m);
      const bug = await m.call<Outcome>(0, 'race.tasklet-teardown', 'forced', 'tasklet_kill; kfree; free_irq');
      await m.quiesce();
      expect(bug).toMatchObject({ runs: 1, handled: 1, gateTimeout: false });
      const d = log();
      expect(d.reports).toContain('BUG: KASAN: slab-use-after-free in ttd_tasklet_fn');
      expect(d.text).toMatch(/field 'work' of struct race_ttd_priv/);
      const ok = await m.call<Outcome>(0, 'race.tasklet-teardown', 'forced', 'free_irq; tasklet_kill; kfree');
      await m.quiesce();
      // the first interrupt was handled by the driver; the second, after free_irq, only by the sibling on the line
      expect(ok).toMatchObject({ runs: 1, handled: 1, gateWhere: 'tasklet_kill', gateTimeout: false });
      expect(log().reports).toEqual([]);
    });
  });
});

describe('the del_timer race lab: natural trials and the command', () => {
  it('kdefer-only (race lab): runRace: every case runs its trials per variant; the fixed variants never produce a report (hit rates are measured, not asserted)', async () => {
    for (const c of RACE_CASES) {
      const r = await runRace({ case: c.name, cpus: 2, trials: 3, seed: 7 });
      expect(
        r.rows.map((x) => x.api),
        c.name,
      ).toEqual(c.variants.map((v) => v.api));
      for (const row of r.rows) {
        expect(row.trials, `${c.name} ${row.api}`).toBe(3);
        expect(row.hits, `${c.name} ${row.api}`).toBeLessThanOrEqual(row.reports);
        if (row.fixed) expect({ reports: row.reports, errors: row.errors }, `${c.name} ${row.api}`).toEqual({ reports: 0, errors: [] });
      }
      expect(r.ok, c.name).toBe(true);
    }
  });

  it('kdefer-only (race lab): kdefer race --help lists every case with one line each', async () => {
    const main = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [main, 'race', '--help']);
    expect(stdout).toMatch(/Usage: kdefer race \[options\] <case>/);
    for (const c of RACE_CASES) expect(stdout).toMatch(new RegExp(`^  ${c.name} +${c.statement} +\\S`, 'm'));
    expect(stdout).toMatch(/--trials <n>/);
    expect(stdout).toMatch(/--seed <s>/);
  });
});
