/**
 * trials.ts — the scenarios a campaign can run trials of
 * (`kdefer stress <scenario> --trials N`), by name.
 *
 * Adding one is a CampaignScenario (scenarios/campaign.ts) and one line in
 * CAMPAIGN_SCENARIOS: the pool worker finds it here by name, and
 * commands/stress.ts makes a subcommand of it with its flags. The race lab's
 * cases (scenarios/race.ts) plug in the same way once race.ts exports, per
 * case, its boot options and a function that runs one trial on a booted
 * machine and says whether it hit — a CampaignScenario per case wrapping
 * those, with `--api` as its flag.
 *
 * lost-update: a counter shared by a task and a softirq on the same CPU
 * (the stress module's task-softirq@same row). The task does N increments
 * under the lock; at seeded random iterations (probability --irq-rate each)
 * the "device" interrupts it between its read and its write, and the
 * interrupt's softirq increments the counter too. With spin_lock_bh (or
 * stronger) a trial never loses an update and never reports; with no lock
 * it loses one per interrupt that got in; with plain spin_lock the softirq
 * spins on the lock its own CPU holds — "BUG: spinlock recursion", lockdep's
 * "inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage" — whenever at least
 * one interrupt came. Each trial takes a fresh lock (lockdep reports once
 * per lock); a machine serves TRIAL_LOCKS trials.
 */
import { KdeferError } from '@kdefer/core';
import type { CampaignScenario, TrialOutcome } from './campaign.js';
import { userTorture } from './usermod_torture.js';
import { runCell, stressModule, STRESS_SPIN_LOCKUP_MS, bVariant } from './locking.js';
import { STRESS_ROWS, VARIANTS, MAX_WINDOWS, TRIAL_LOCKS, trialLock, type Variant, type VariantName } from '../modules/stress.js';
import { seededRandom } from '../seed.js';

export interface LostUpdateOptions extends Record<string, unknown> {
  /** the task's lock variant */
  lock: VariantName;
  /** the task's increments per trial */
  iterations: number;
  /** probability, per increment, that the device interrupts between the read and the write */
  irqRate: number;
}

const ROW = STRESS_ROWS.findIndex((r) => r.id === 'task-softirq@same');

/** The seeded iterations at which the device interrupts (at most MAX_WINDOWS). */
export function lostUpdateWindows(seed: number, iterations: number, irqRate: number): number[] {
  const rnd = seededRandom(seed);
  const out: number[] = [];
  for (let i = 0; i < iterations && out.length < MAX_WINDOWS; i++) if (rnd() < irqRate) out.push(i);
  return out;
}

export const lostUpdate: CampaignScenario<LostUpdateOptions> = {
  name: 'lost-update',
  summary: 'a counter shared by a task and a softirq on the same CPU, under --lock; the device interrupts at seeded random points',
  defaultCpus: 2,
  minCpus: 1,
  defaults: { lock: 'spin_lock_bh', iterations: 200, irqRate: 0.01 },
  flags: [
    {
      key: 'lock',
      flags: '--lock <variant>',
      description: "the task's lock (the softirq takes plain spin_lock)",
      type: 'string',
      choices: VARIANTS,
    },
    { key: 'iterations', flags: '--iterations <n>', description: "the task's increments per trial", type: 'int', min: 1, max: 1_000_000 },
    {
      key: 'irqRate',
      flags: '--irq-rate <p>',
      description: 'probability per increment that the device interrupts inside it',
      type: 'number',
      min: 0,
      max: 1,
    },
  ],
  validate(o) {
    if (!VARIANTS.includes(o.lock))
      throw new KdeferError(`lost-update: --lock must be one of ${VARIANTS.join(', ')}, not '${String(o.lock)}'`);
    if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new KdeferError(`lost-update: --iterations must be a positive integer`);
    if (!(o.irqRate >= 0 && o.irqRate <= 1)) throw new KdeferError(`lost-update: --irq-rate must be from 0 to 1`);
  },
  machine: () => ({ hz: 1000, spinLockupMs: STRESS_SPIN_LOCKUP_MS, modules: [stressModule.href] }),
  trialsPerMachine: TRIAL_LOCKS,
  async trial(m, o, t): Promise<TrialOutcome> {
    const row = STRESS_ROWS[ROW]!;
    const v = VARIANTS.indexOf(o.lock) as Variant;
    const windowsAt = lostUpdateWindows(t.seed, o.iterations, o.irqRate);
    const run = await runCell(m, {
      lock: trialLock(t.onMachine),
      a: row.a,
      b: row.b,
      va: v,
      vb: bVariant(row, v),
      cpuA: 0,
      cpuB: 0,
      n: o.iterations,
      relax: 3,
      windowsAt,
      outside: false,
      waitUs: 500,
    });
    const interrupts = `${windowsAt.length} interrupt${windowsAt.length === 1 ? '' : 's'} inside, ${run.windowsHit} got in`;
    let detail: string;
    switch (run.outcome) {
      case 'correct':
        detail = `counter ${run.counter} = ${run.aDone} + ${run.bDone}; ${interrupts}`;
        break;
      case 'lost':
        detail = `lost ${run.lost} of ${run.aDone + run.bDone} updates; ${interrupts}`;
        break;
      case 'deadlock':
        detail = run.deadlock ?? 'deadlock';
        break;
      case 'report':
        detail = run.reports[0] ?? 'report';
        break;
      default:
        detail = run.errors[0] ?? run.outcome;
    }
    return {
      ok: run.outcome === 'correct',
      outcome: run.outcome,
      detail,
      lost: run.lost,
      reports: [...(run.deadlock ? [run.deadlock] : []), ...run.reports],
      stopped: run.stopped,
    };
  },
};

/** Every campaign scenario, by name. */
export const CAMPAIGN_SCENARIOS: Readonly<Record<string, CampaignScenario>> = {
  [lostUpdate.name]: lostUpdate as unknown as CampaignScenario,
};

/** Scenarios with a command of their own (not `kdefer stress <name>`): `kdefer torture FILE`. */
const OWN_COMMAND: Readonly<Record<string, CampaignScenario>> = {
  [userTorture.name]: userTorture as unknown as CampaignScenario,
};

/** A campaign scenario by name. @throws KdeferError naming the scenarios */
export function campaignScenario(name: string): CampaignScenario {
  const s = CAMPAIGN_SCENARIOS[name] ?? OWN_COMMAND[name];
  if (!s) throw new KdeferError(`stress: no campaign scenario '${name}' (scenarios: ${Object.keys(CAMPAIGN_SCENARIOS).join(', ')})`);
  return s;
}
