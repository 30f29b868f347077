/**
 * race.ts — the del_timer race lab: run many natural trials of one race case
 * (SEMANTICS.md R-1, R-2, R-3, R-8 and the self re-arming timer), once per
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

import type { RaceCase, RaceVariant } from '../modules/racekit.js';
import { CASE as delTimerUaf } from '../modules/races/del-timer-uaf.js';
import { CASE as rearm } from '../modules/races/rearm.js';
import { CASE as syncDeadlock } from '../modules/races/sync-deadlock.js';
import { CASE as shutdown } from '../modules/races/shutdown.js';
import { CASE as taskletTeardown } from '../modules/races/tasklet-teardown.js';
import { CASE as delTimerNarrow } from '../modules/races/del-timer-narrow.js';

export type { RaceCase, RaceVariant };
/** What the `race` command and its help say about a case: its descriptor. */
export type RaceCaseInfo = RaceCase;

/**
 * The race modules' descriptors (modules/races/*.ts export each its CASE,
 * built by racekit.ts's defineRace), in the order `kdefer race --help`
 * lists them. A new case adds its module here.
 */
const RACE_MODULES: readonly RaceCase[] = [delTimerUaf, rearm, syncDeadlock, shutdown, taskletTeardown, delTimerNarrow];

/**
 * Boot options of every race machine. The slab is small (64 KiB) so that
 * its quarantine (an eighth of it) recycles objects — and their embedded
 * timer and tasklet slots — long before those tables fill, however many
 * trials one machine runs.
 *
 * lockdep is off, for the reason given at the top of this file.
 */
export const RACE_BOOT: Partial<MachineOptions> = { hz: 1000, slabWords: 1 << 14, lockdep: false };

/** Run one natural trial of `c` on `m`: its entries at once; rejects if one did (or the trial stopped the machine). */
export async function naturalTrial(m: Machine, c: RaceCase, api: string, seed: number): Promise<unknown> {
  const calls = c.natural.map((e) =>
    e.api ? m.call(e.cpu, c.moduleName, e.entry, api, seed) : m.call(e.cpu, c.moduleName, e.entry, (seed ^ (e.seedXor ?? 0)) >>> 0),
  );
  const settled = await Promise.allSettled(calls);
  const main = c.natural.findIndex((e) => e.api);
  const first = settled[main]!;
  if (first.status === 'rejected') throw first.reason;
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return first.value;
}

function checkCases(cases: readonly RaceCase[]): readonly RaceCase[] {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new KdeferError(`race: two cases are named '${c.name}'`);
    names.add(c.name);
  }
  return cases;
}

const CASES = checkCases(RACE_MODULES);

/** The race cases, in the order `kdefer race --help` lists them. */
export const RACE_CASES: readonly RaceCaseInfo[] = CASES;

/** A race case by name. @throws KdeferError naming the cases if there is none */
export function raceCase(name: string): RaceCaseInfo {
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
  const c = raceCase(opts.case);
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
          await naturalTrial(m, c, v.api, trialSeed(seed, i));
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
