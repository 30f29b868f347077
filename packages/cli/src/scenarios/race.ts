/**
 * race.ts — the del_timer race lab: run many natural trials of one race case
 * (SEMANTICS.md and the self re-arming timer), once per
 * API variant, and count the trials that end in a kernel report.
 *
 * Scenario, for each API variant of the case:
 *   1. boot a machine with the case's module (modules/races/<case>.ts);
 *   2. for each trial, call the module's `trial(api, seed)` entry on CPU 0
 *      (tasklet-teardown also starts its `device(seed)` on CPU 1): the
 *      deferred context runs on CPU 1 and the teardown on CPU 0, with a
 *      seeded random delay between them and no gate — whether they overlap
 *      is up to the two threads. Then wait until the machine is quiet;
 *   3. the trial HIT if dmesg gained a report (a KASAN use-after-free, a
 *      lockup, a WARNING, an Oops) during it;
 *   4. reuse the machine for the next trial — unless the trial stopped it
 *      (sync-deadlock's lockup does, by design): then boot a fresh one.
 *
 * The modules reset their own state at the start of each trial: a fresh
 * object from kmalloc, a fresh timer/tasklet, a fresh IRQ action; what a
 * trial frees stays in the slab's quarantine, so that a late access is still
 * caught.
 *
 * Machines boot with lockdep off: the lab counts races that HAPPEN, and
 * lockdep would report a predicted deadlock (sync-deadlock's circular
 * dependency between the lock and the timer's map) once per machine whether
 * or not the race hit. test/lockdep.test.ts covers those predictions.
 *
 * This file prints nothing: it returns a RaceResult (commands/race.ts prints
 * it), so that tests and benchmarks run the lab in-process.
 */
import { availableParallelism } from 'node:os';
import { Machine, type MachineOptions } from '@kdefer/workers';
import { KdeferError, MAX_CPUS, type LogRecord } from '@kdefer/core';
import { defaultCpus } from '../options.js';
import { trialSeed } from '../seed.js';

/** One API variant of a race case: a row of the table. */
export interface RaceVariant {
  /** the API (or the order of the APIs) the teardown uses: the row's name */
  api: string;
  /** whether this is a fixed variant (it must never produce a report) */
  fixed: boolean;
}

/** What the `race` command and its help say about a case. */
export interface RaceCaseInfo {
  /** the command's argument: `kdefer race <name>` */
  name: string;
  /** the SEMANTICS.md statement it reproduces */
  statement: string;
  /** one line for `kdefer race --help` */
  summary: string;
  /** what makes a trial a hit, in words */
  hit: string;
  variants: readonly RaceVariant[];
  /** trials per variant when --trials is not given */
  defaultTrials: number;
  /** the module's name and file (for tests and other hosts) */
  moduleName: string;
  module: URL;
}

interface RaceCaseDef extends RaceCaseInfo {
  /** boot options beyond RACE_BOOT */
  boot: Partial<MachineOptions>;
  /** run one natural trial on `m`; rejects if the trial stopped the machine */
  trial(m: Machine, api: string, seed: number): Promise<unknown>;
}

const races = (file: string): URL => new URL(`../modules/races/${file}.js`, import.meta.url);

/** The sync-deadlock machines' lockup bound: short, so that a hit costs little. */
const DEADLOCK_LOCKUP_MS = 150;

/**
 * Boot options of every race machine. The slab is small (64 KiB) so that
 * its quarantine (an eighth of it) recycles objects — and their embedded
 * timer and tasklet slots — long before those tables fill, however many
 * trials one machine runs.
 *
 * lockdep is off, for the reason given at the top of this file.
 */
const RACE_BOOT: Partial<MachineOptions> = { hz: 1000, slabWords: 1 << 14, lockdep: false };

const callTrial = (m: Machine, mod: string, api: string, seed: number): Promise<unknown> => m.call(0, mod, 'trial', api, seed);

const CASES: readonly RaceCaseDef[] = [
  {
    name: 'del-timer-uaf',
    statement: 'R-1',
    summary: 'del_timer() + kfree() while the function runs on another CPU: use-after-free',
    hit: 'the timer function touched the object after kfree (KASAN slab-use-after-free)',
    variants: [
      { api: 'del_timer', fixed: false },
      { api: 'del_timer_sync', fixed: true },
      { api: 'timer_shutdown_sync', fixed: true },
    ],
    defaultTrials: 100,
    moduleName: 'race.del-timer-uaf',
    module: races('del-timer-uaf'),
    boot: {},
    trial: (m, api, seed) => callTrial(m, 'race.del-timer-uaf', api, seed),
  },
  {
    name: 'rearm',
    statement: 'S-TIME-11',
    summary: 'a self re-arming timer outlives del_timer() and runs on the freed object',
    hit: 'the timer re-armed itself after the stop call and ran on the freed object (KASAN slab-use-after-free)',
    variants: [
      { api: 'del_timer', fixed: false },
      { api: 'del_timer_sync', fixed: true },
      { api: 'timer_shutdown_sync', fixed: true },
    ],
    defaultTrials: 50,
    moduleName: 'race.rearm',
    module: races('rearm'),
    boot: {},
    trial: (m, api, seed) => callTrial(m, 'race.rearm', api, seed),
  },
  {
    name: 'sync-deadlock',
    statement: 'R-3',
    summary: 'del_timer_sync() under a lock the function takes: both CPUs spin, lockup',
    hit: 'the two CPUs deadlocked: a lockup report naming both CPUs (and the lock), and the machine stopped',
    variants: [
      { api: 'del_timer_sync (lock held)', fixed: false },
      { api: 'del_timer_sync (lock dropped)', fixed: true },
    ],
    defaultTrials: 8,
    moduleName: 'race.sync-deadlock',
    module: races('sync-deadlock'),
    boot: { spinLockupMs: DEADLOCK_LOCKUP_MS },
    trial: (m, api, seed) => callTrial(m, 'race.sync-deadlock', api, seed),
  },
  {
    name: 'shutdown',
    statement: 'R-2',
    summary: 'timer -> work -> mod_timer: only timer_shutdown_sync() keeps it dead',
    hit: 'the work re-armed the timer after the stop call and it ran on the freed object (KASAN slab-use-after-free)',
    variants: [
      { api: 'del_timer_sync', fixed: false },
      { api: 'timer_shutdown_sync', fixed: true },
    ],
    defaultTrials: 50,
    moduleName: 'race.shutdown',
    module: races('shutdown'),
    boot: {},
    trial: (m, api, seed) => callTrial(m, 'race.shutdown', api, seed),
  },
  {
    name: 'tasklet-teardown',
    statement: 'R-8',
    summary: 'tasklet_kill() + kfree() while the IRQ can reschedule it: use-after-free',
    hit: 'the interrupt or the tasklet it scheduled touched the freed object (KASAN slab-use-after-free)',
    variants: [
      { api: 'tasklet_kill; kfree; free_irq', fixed: false },
      { api: 'free_irq; tasklet_kill; kfree', fixed: true },
    ],
    defaultTrials: 100,
    moduleName: 'race.tasklet-teardown',
    module: races('tasklet-teardown'),
    boot: {},
    trial: async (m, api, seed) => {
      const [device, trial] = await Promise.allSettled([
        m.call(1, 'race.tasklet-teardown', 'device', (seed ^ 0x5bd1e995) >>> 0),
        m.call(0, 'race.tasklet-teardown', 'trial', api, seed),
      ]);
      if (trial.status === 'rejected') throw trial.reason;
      if (device.status === 'rejected') throw device.reason;
      return trial.value;
    },
  },
];

/** The race cases, in the order `kdefer race --help` lists them. */
export const RACE_CASES: readonly RaceCaseInfo[] = CASES;

/** A race case by name. @throws KdeferError naming the cases if there is none */
export function raceCase(name: string): RaceCaseInfo {
  return caseDef(name);
}

function caseDef(name: string): RaceCaseDef {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new KdeferError(`race: no case '${name}' (cases: ${CASES.map((x) => x.name).join(', ')})`);
  return c;
}

export interface RaceOptions {
  /** the case (RACE_CASES[].name) */
  case: string;
  /** simulated CPUs, at least 2 (CPU 0 tears down, CPU 1 runs the deferred work); default one per core */
  cpus?: number;
  /** trials per API variant; default the case's defaultTrials */
  trials?: number;
  /**
   * seed of the trials' random delays (default 1): trial i of every variant
   * runs with seed.ts's trialSeed(seed, i), so the variants face the same
   * delays, and the same seed replays them
   */
  seed?: number;
  /** race amplification level 0-3 (boot option `amplify`; default 0) */
  amplify?: number;
  /** only these variants (by api); default all */
  variants?: readonly string[];
  /** stop early (SIGINT): the current trial finishes, the rows say how many ran */
  signal?: AbortSignal;
  /** after each trial */
  onProgress?: (p: RaceProgress) => void;
}

export interface RaceProgress {
  /** the variant running, its index, and its trials done so far */
  api: string;
  variant: number;
  trial: number;
  trials: number;
  /** hits of this variant so far */
  hits: number;
  /** trials done over all variants, and the total */
  done: number;
  total: number;
}

export interface RaceRow {
  api: string;
  fixed: boolean;
  /** trials run */
  trials: number;
  /** trials whose dmesg gained a report */
  hits: number;
  /** reports in dmesg over all trials (a hit may print more than one) */
  reports: number;
  /** hits / trials (0 when no trial ran) */
  hitRate: number;
  /** machines booted for this variant (1 unless trials stopped the machine) */
  machines: number;
  /** the first report seen, as dmesg lines (empty if none) */
  firstReport: string[];
  /** trials that failed without a report (a wait that timed out...), with the reason */
  errors: string[];
}

export interface RaceResult {
  case: string;
  statement: string;
  summary: string;
  hit: string;
  cpus: number;
  hz: number;
  seed: number;
  amplify: number;
  trialsPerVariant: number;
  rows: RaceRow[];
  /** every fixed variant ran with no report and no error */
  ok: boolean;
  aborted: boolean;
  elapsedMs: number;
  node: string;
  cores: number;
}

/** A line that opens a kernel report. */
/** How many dmesg lines of the first report a row keeps. */
const REPORT_LINES = 24;
/** How long a machine may take to become quiet after a trial. */
const QUIESCE_TIMEOUT_MS = 10_000;

/** Run the lab for one case: every variant, `trials` natural trials each. Machines are always shut down before this settles. */
export async function runRace(opts: RaceOptions): Promise<RaceResult> {
  const c = caseDef(opts.case);
  const cpus = opts.cpus ?? defaultCpus();
  const trials = opts.trials ?? c.defaultTrials;
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(cpus) || cpus < 2 || cpus > MAX_CPUS)
    throw new KdeferError(
      `race: cpus must be an integer from 2 to ${MAX_CPUS} (CPU 0 tears down, CPU 1 runs the deferred work), not ${cpus}`,
    );
  if (!Number.isInteger(trials) || trials < 1) throw new KdeferError(`race: trials must be a positive integer, not ${trials}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new KdeferError(`race: seed must be an integer from 0 to 4294967295, not ${seed}`);
  const variants = opts.variants ? c.variants.filter((v) => opts.variants!.includes(v.api)) : c.variants;
  if (opts.variants && variants.length !== opts.variants.length) {
    throw new KdeferError(
      `race ${c.name}: unknown variant among ${opts.variants.join(', ')} (variants: ${c.variants.map((v) => v.api).join(', ')})`,
    );
  }
  const amplify = opts.amplify ?? 0;
  const boot: MachineOptions = { ...RACE_BOOT, ...c.boot, cpus, seed, amplify, modules: [c.module] };
  const t0 = performance.now();
  const total = trials * variants.length;
  let done = 0;
  const rows: RaceRow[] = [];
  for (const [vi, v] of variants.entries()) {
    if (opts.signal?.aborted) break;
    const row: RaceRow = {
      api: v.api,
      fixed: v.fixed,
      trials: 0,
      hits: 0,
      reports: 0,
      hitRate: 0,
      machines: 0,
      firstReport: [],
      errors: [],
    };
    rows.push(row);
    let m: Machine | null = null;
    let next = 0; // the next dmesg sequence number of m to read
    try {
      for (let i = 0; i < trials && !opts.signal?.aborted; i++) {
        if (m === null) {
          m = await Machine.boot(boot);
          row.machines++;
          next = nextSeq(m.dmesgRecords(), 0);
        }
        let failure: string | null = null;
        try {
          await c.trial(m, v.api, trialSeed(seed, i));
        } catch (e) {
          failure = e instanceof Error ? e.message : String(e);
        }
        let usable = !m.panicked() && failure === null;
        if (usable) {
          try {
            await m.quiesce({ timeoutMs: QUIESCE_TIMEOUT_MS });
          } catch (e) {
            failure = e instanceof Error ? e.message : String(e);
            usable = false;
          }
        }
        const records = m.dmesgRecords(next);
        const reports = reportsIn(m, records, next);
        next = nextSeq(records, next);
        row.trials++;
        row.reports += reports.count;
        if (reports.count > 0) {
          row.hits++;
          if (row.firstReport.length === 0) row.firstReport = reports.first;
        } else if (failure !== null) {
          row.errors.push(`trial ${i}: ${failure}`);
        }
        if (!usable) {
          await m.shutdown();
          m = null;
        }
        done++;
        opts.onProgress?.({ api: v.api, variant: vi, trial: i + 1, trials, hits: row.hits, done, total });
      }
    } finally {
      if (m !== null) await m.shutdown();
    }
    row.hitRate = row.trials > 0 ? row.hits / row.trials : 0;
  }
  const aborted = opts.signal?.aborted === true;
  return {
    case: c.name,
    statement: c.statement,
    summary: c.summary,
    hit: c.hit,
    cpus,
    hz: RACE_BOOT.hz!,
    seed,
    amplify,
    trialsPerVariant: trials,
    rows,
    ok: rows.filter((r) => r.fixed).every((r) => r.reports === 0 && r.errors.length === 0),
    aborted,
    elapsedMs: performance.now() - t0,
    node: process.version,
    cores: availableParallelism(),
  };
}

function nextSeq(records: readonly LogRecord[], prev: number): number {
  return records.length > 0 ? records[records.length - 1]!.seq + 1 : prev;
}

/** The reports (machine.reports()) among `records`: how many, and the lines of the first. */
function reportsIn(m: Machine, records: readonly LogRecord[], from: number): { count: number; first: string[] } {
  const end = records.length > 0 ? records[records.length - 1]!.seq + 1 : from;
  const reports = m.reports(from).filter((r) => r.seq < end);
  return { count: reports.length, first: reports.length > 0 ? reports[0]!.text.split('\n').slice(0, REPORT_LINES) : [] };
}
