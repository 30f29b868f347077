// kdefer explore / replay / shrink (issue 12): schedules found, replayed
// exactly, and shrunk, for a race case and for a user's own module file.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explore, exhaustive, replay, shrink, reportSignature, type ScheduleFile } from '@kdefer/cli';
import { runKdefer } from './helpers.js';

const NARROW = { kind: 'race', case: 'del-timer-narrow' } as const;

const LOSTUPD = (extra: string): string => `
import { defineModule, shared_int32, DEFINE_SPINLOCK, spin_lock, spin_unlock, WARN } from '@kdefer/core';
export default defineModule('lostupd', () => {
  const t = shared_int32('lostupd.t', 1);
  const L = DEFINE_SPINLOCK('lostupd.other');
  return {
    async bump() {
      ${extra}
      const v = t[0];
      spin_lock(L); // a kernel call between the read and the write: a preemption point
      spin_unlock(L);
      t[0] = v + 1;
    },
    async check() {
      WARN(t[0] !== 2, 'lostupd: an update was lost: ' + t[0]);
    },
  };
});
`;

const ABBA = `
import { defineModule, DEFINE_SPINLOCK, spin_lock, spin_unlock } from '@kdefer/core';
export default defineModule('abba', () => {
  const A = DEFINE_SPINLOCK('abba.A');
  const B = DEFINE_SPINLOCK('abba.B');
  const S = DEFINE_SPINLOCK('abba.stats');
  const stat = () => {
    spin_lock(S); // a kernel call between the two acquisitions (the unlock is a preemption point)
    spin_unlock(S);
  };
  return {
    async ab() { spin_lock(A); stat(); spin_lock(B); spin_unlock(B); spin_unlock(A); },
    async ba() { spin_lock(B); stat(); spin_lock(A); spin_unlock(A); spin_unlock(B); },
  };
});
`;

describe('kdefer explore, replay, shrink', () => {
  let found: ScheduleFile | null = null;

  it('R-1: pct (depth 2) finds the del-timer-narrow use-after-free within a bounded number of runs, and the schedule replays to the same report every time', async () => {
    const r = await explore({ target: NARROW, strategy: 'pct', depth: 2, runs: 80, seed: 1 });
    expect(r.failures).toBe(1);
    expect(r.first).not.toBeNull();
    found = r.first!;
    expect(found.report!.title).toMatch(/BUG: KASAN: slab-use-after-free in narrow_timer_fn/);
    for (let i = 0; i < 3; i++) {
      const again = await replay(found);
      expect(again.run.divergence).toBeNull();
      expect(again.reproduced).toBe(true);
      expect(again.run.steps).toBe(found.steps);
      expect(again.run.switches).toEqual(found.switches);
    }
  });

  it('R-1: the fixed variant (del_timer_sync) never fails over the same schedules', async () => {
    const r = await explore({ target: { ...NARROW, api: 'del_timer_sync' }, strategy: 'pct', depth: 2, runs: 20, seed: 1 });
    expect(r.failures).toBe(0);
    expect(r.runs).toBe(20);
  });

  it('kdefer-only (det): shrink gives a schedule no longer than its input that still fails with the same report, verified by a strict replay', async () => {
    expect(found).not.toBeNull();
    const s = await shrink(found!, { maxTests: 40 });
    expect(s.after.switches).toBeLessThanOrEqual(s.before.switches);
    expect(s.verified).toBe(true);
    expect(reportSignature(s.file.report)).toBe(reportSignature(found!.report));
    const again = await replay(s.file);
    expect(again.reproduced).toBe(true);
  });

  it('kdefer-only (det): the command: explore writes a schedule file and exits 1, replay reproduces it (exit 0), shrink prints the switch counts; a corrupt file is a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdefer-explore-'));
    try {
      const file = join(dir, 's.json');
      const ex = await runKdefer(['explore', 'del-timer-narrow', '--strategy', 'pct', '--runs', '80', '--seed', '1', '-o', file], 120_000);
      expect(ex.code, ex.stderr).toBe(1);
      expect(ex.stdout).toMatch(/first failure at run \d+/);
      expect(ex.stdout).toMatch(/PCT guarantee: .* per run \(n=2, k=\d+\)/);
      expect(ex.stdout).toContain(`replay: kdefer replay ${file}`);
      const rp = await runKdefer(['replay', file], 60_000);
      expect(rp.code, rp.stdout + rp.stderr).toBe(0);
      expect(rp.stdout).toMatch(/reproduced: KASAN: BUG: KASAN: slab-use-after-free in narrow_timer_fn/);
      const sh = await runKdefer(['shrink', file, '--max-tests', '20'], 120_000);
      expect(sh.code, sh.stdout + sh.stderr).toBe(0);
      expect(sh.stdout).toMatch(/switches: (\d+) -> (\d+), steps: \d+ -> \d+/);
      const [, before, after] = /switches: (\d+) -> (\d+)/.exec(sh.stdout)!;
      expect(Number(after)).toBeLessThanOrEqual(Number(before));
      writeFileSync(join(dir, 'bad.json'), '{"kind": "kdefer-schedule", "format": 1, "target": {"kind": "race"}}');
      const bad = await runKdefer(['replay', join(dir, 'bad.json')], 30_000);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/bad\.json: not a valid schedule file: target\.case is missing/);
      writeFileSync(join(dir, 'notjson.json'), 'x{');
      const nj = await runKdefer(['replay', join(dir, 'notjson.json')], 30_000);
      expect(nj.code).toBe(2);
      expect(nj.stderr).toMatch(/not a schedule file \(not JSON/);
      const unk = await runKdefer(['explore', 'del-timer-narrow', '--strategy', 'fair'], 30_000);
      expect(unk.code).not.toBe(0);
      expect(unk.stderr).toMatch(/--strategy.*fair.*pct, random|Allowed choices are pct, random/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("kdefer-only (det): a user's module file: explore --call finds a lost update, replay reproduces it, and a changed module makes the replay diverge with the step", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdefer-usermod-'));
    try {
      const mod = join(dir, 'lostupd.ts');
      writeFileSync(mod, LOSTUPD(''));
      const file = join(dir, 's.json');
      const ex = await runKdefer(
        [
          'explore',
          mod,
          '--strategy',
          'random',
          '--p',
          '0.3',
          '--runs',
          '60',
          '--seed',
          '3',
          '--call',
          'bump@0',
          '--call',
          'bump@1',
          '--teardown',
          'check',
          '-o',
          file,
        ],
        120_000,
      );
      expect(ex.code, ex.stdout + ex.stderr).toBe(1);
      expect(ex.stdout).toMatch(/WARNING: .*lostupd: an update was lost: 1|lostupd: an update was lost: 1/);
      const f = JSON.parse(readFileSync(file, 'utf8')) as ScheduleFile;
      expect(f.target).toMatchObject({ kind: 'module', file: mod, calls: ['bump@0', 'bump@1'] });
      expect(f.modules[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      const rp = await runKdefer(['replay', file], 60_000);
      expect(rp.code, rp.stdout + rp.stderr).toBe(0);
      expect(rp.stdout).toMatch(/reproduced:/);
      writeFileSync(mod, LOSTUPD('spin_lock(L); spin_unlock(L);'));
      const changed = await runKdefer(['replay', file], 60_000);
      expect(changed.code).toBe(1);
      expect(changed.stdout).toMatch(/changed since the schedule was recorded/);
      expect(changed.stdout).toMatch(/replay diverged at step \d+: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kdefer-only (det): exhaustive (preemption bound 1) exhausts a two-CPU ABBA scenario, finds the deadlock (a spinlock lockup), says how many schedules, and the failing schedule replays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdefer-abba-'));
    try {
      const mod = join(dir, 'abba.ts');
      writeFileSync(mod, ABBA);
      const target = { kind: 'module', file: mod, calls: ['ab@0', 'ba@1'], boot: { lockdep: false, spinLockupMs: 200 } } as const;
      const none = await exhaustive({ target, maxPreemptions: 0 });
      expect(none).toMatchObject({ schedules: 1, failures: 0, exhausted: true });
      const r = await exhaustive({ target, maxPreemptions: 1, keepGoing: true });
      expect(r.exhausted).toBe(true);
      expect(r.schedules).toBeGreaterThan(2);
      expect(r.failures).toBeGreaterThanOrEqual(1);
      expect(r.first!.report!.title).toMatch(/BUG: spinlock lockup suspected on CPU#\d/);
      const again = await replay(r.first!);
      expect(again.run.divergence).toBeNull();
      expect(again.reproduced).toBe(true);
      const cli = await runKdefer(
        [
          'explore',
          mod,
          '--strategy',
          'exhaustive',
          '--call',
          'ab@0',
          '--call',
          'ba@1',
          '--no-lockdep',
          '--keep-going',
          '-o',
          join(dir, 's.json'),
        ],
        120_000,
      );
      expect(cli.code, cli.stdout + cli.stderr).toBe(1);
      expect(cli.stdout).toMatch(/exhausted: all \d+ schedules with at most 1 preemption ran in .* s, [1-9]\d* failed/);
      expect(cli.stdout).toMatch(/BUG: spinlock lockup suspected/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
