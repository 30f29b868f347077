/**
 * explore.ts — deterministic mode's exploration, replay and shrinking
 * (issue 12): run a target under many seeded schedules until one fails,
 * write the failing schedule to a file, replay it exactly, and shrink it.
 *
 * A target is a race case of the race lab (its buggy variant by default:
 * the natural trial's entries at once, as `kdefer race` runs them), or a
 * user's own module file with entries to call (the --call/--setup/--teardown
 * of `kdefer torture FILE`, each called once per run). A run FAILS when dmesg
 * gained a kernel report. Each run boots a fresh machine with boot option
 * `schedule`, so that the same schedule gives the same run.
 *
 * The schedule file (JSON, kind 'kdefer-schedule') holds what a replay needs:
 * the kdefer version, the target and its parameters, each module's path and
 * SHA-256, the strategy and seed that found it, and the switches (step, cpu)
 * of the run, plus the report that made it fail.
 *
 * Shrinking is delta debugging (ddmin) over the switches, each candidate run
 * in lenient replay, keeping a candidate only if it fails with the same kind
 * of report in the same function (the report's title, numbers masked); the
 * result is the switches the shortest failing run actually took, so that it
 * replays strictly.
 *
 * This file prints nothing (commands/explore.ts prints).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Machine, type MachineOptions } from '@kdefer/workers';
import { KdeferError, type ScheduleOptions, type Report } from '@kdefer/core';
import { RACE_BOOT, naturalTrial, raceCase } from './race.js';
import { parseCall, type CallSpec } from '../commands/run.js';
import { prepareModule, explainLoadError, ModuleFileError } from '../usermod.js';

/** The kdefer version a schedule file names. */
export const KDEFER_VERSION = '0.1.0';
/** The schedule file's format version: bumped whenever preemption points move. */
export const SCHEDULE_FORMAT = 1;

/** What explore runs. */
export type DetTarget =
  | { kind: 'race'; case: string; api?: string }
  | {
      kind: 'module';
      file: string;
      calls: string[];
      setup?: string[];
      teardown?: string[];
      /** boot options for the module's machine (plain data: it goes into the schedule file) */
      boot?: { lockdep?: boolean; spinLockupMs?: number; hz?: number };
    };

/** A report, as a schedule file keeps it. */
export interface DetReport {
  kind: string;
  title: string;
  cpu: number;
  text: string;
}

/** One deterministic run. */
export interface DetRunResult {
  failed: boolean;
  report: DetReport | null;
  /** an entry's error, if one failed without a report */
  error: string | null;
  steps: number;
  vclockMs: number;
  choicePoints: number;
  switches: number[][];
  /** logChoices: the points where another CPU could run, [step, mask] */
  choices: [number, number][];
  divergence: string | null;
  dmesg: string;
}

/** The schedule file. */
export interface ScheduleFile {
  kind: 'kdefer-schedule';
  format: number;
  kdefer: string;
  target: DetTarget;
  cpus: number;
  /** the trial's own seed (the race module's delays, the machine seed) */
  trialSeed: number;
  modules: { path: string; sha256: string }[];
  /** the strategy that found it (replay ignores it) */
  schedule: ScheduleOptions;
  steps: number;
  switches: number[][];
  report: DetReport | null;
}

export interface DetRunOptions {
  target: DetTarget;
  cpus?: number;
  trialSeed?: number;
  schedule: ScheduleOptions;
}

function fileOf(u: URL): string {
  return fileURLToPath(u);
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The module files of a target (for the schedule file's hashes). */
export function targetModules(t: DetTarget): string[] {
  if (t.kind === 'race') return [fileOf(raceCase(t.case).module)];
  return [t.file];
}

function toReport(r: Report): DetReport {
  return { kind: r.kind, title: r.title, cpu: r.cpu, text: r.text };
}

/** A report's signature: its kind and title with the numbers masked (addresses, pids, CPUs stay out of it). */
export function reportSignature(r: DetReport | null): string {
  if (r === null) return '';
  return `${r.kind}: ${r.title.replace(/0x[0-9a-f]+|\d+/gi, 'N')}`;
}

async function callAll(m: Machine, name: string, c: CallSpec): Promise<unknown[]> {
  const cpus = c.cpu === 'all' ? Array.from({ length: m.cpus }, (_, k) => k) : [c.cpu];
  return Promise.all(cpus.map((cpu) => m.call(cpu, name, c.entry, ...c.args)));
}

/** Boot a machine for `o`, run the target once, and read what happened. The machine is always shut down. */
export async function detRun(o: DetRunOptions): Promise<DetRunResult> {
  const cpus = o.cpus ?? 2;
  const seed = (o.trialSeed ?? 1) >>> 0;
  const t = o.target;
  let boot: MachineOptions;
  let cleanup = (): void => undefined;
  let moduleUrl: URL;
  if (t.kind === 'race') {
    const c = raceCase(t.case);
    if (t.api !== undefined && !c.variants.some((v) => v.api === t.api))
      throw new KdeferError(`explore ${c.name}: no variant '${t.api}' (variants: ${c.variants.map((v) => v.api).join(', ')})`);
    boot = { ...RACE_BOOT, ...c.boot, cpus, seed };
    moduleUrl = c.module;
  } else {
    const mod = await prepareModule(t.file);
    cleanup = mod.cleanup;
    boot = { ...t.boot, cpus, seed };
    moduleUrl = mod.url;
  }
  const m = await Machine.boot({ ...boot, schedule: o.schedule });
  let error: string | null = null;
  try {
    if (t.kind === 'race') {
      const c = raceCase(t.case);
      const api = t.api ?? c.variants.find((v) => !v.fixed)!.api;
      await m.loadModules([moduleUrl]);
      try {
        await naturalTrial(m, c, api, seed);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
    } else {
      let name: string;
      try {
        name = Object.keys(await m.loadModules([moduleUrl]))[0]!;
      } catch (e) {
        throw new ModuleFileError(await explainLoadError(e, { url: moduleUrl, file: t.file, cleanup }));
      }
      try {
        for (const s of (t.setup ?? []).map(parseCall)) await callAll(m, name, s);
        await Promise.all(t.calls.map(parseCall).map((c) => callAll(m, name, c)));
        for (const s of (t.teardown ?? []).map(parseCall)) await callAll(m, name, s);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
    }
    // Even after a panic: the record is read with the host holding the baton and
    // no CPU able to run, never at the moment a call's rejection came in (that
    // moment is the wall clock's, and the step count would be too).
    await m.quiesce().catch(() => undefined);
    const reports = m.reports();
    const { record, divergence } = m.scheduleRecord();
    return {
      failed: reports.length > 0,
      report: reports.length > 0 ? toReport(reports[0]!) : null,
      error,
      steps: record.steps,
      vclockMs: record.vclockMs,
      choicePoints: record.choicePoints,
      switches: record.switches,
      choices: record.choices,
      divergence: divergence?.message ?? null,
      dmesg: m.dmesg(),
    };
  } finally {
    await m.shutdown();
    cleanup();
  }
}

export interface ExploreOptions {
  target: DetTarget;
  strategy: 'random' | 'pct';
  runs: number;
  seed: number;
  cpus?: number;
  /** pct depth (default 2) */
  depth?: number;
  /** random: switch probability (default 0.05) */
  p?: number;
  /** go on after a failure (count them) */
  keepGoing?: boolean;
  signal?: AbortSignal;
  onRun?: (i: number, r: DetRunResult, failures: number) => void;
}

export interface ExploreResult {
  runs: number;
  failures: number;
  /** the first failing run's schedule file, null if none failed */
  first: ScheduleFile | null;
  /** run index of the first failure (0-based), -1 if none */
  firstAt: number;
  /** pct: the largest number of choice points seen (PCT's k) */
  k: number;
  elapsedMs: number;
  aborted: boolean;
}

/** The seed of run `i` of an exploration seeded `seed`: disjoint runs, the same for every strategy. */
export function runSeed(seed: number, i: number): number {
  return (seed + Math.imul(i, 0x9e3779b9)) >>> 0 || 1;
}

/** Explore: up to `runs` schedules, each a fresh machine, stopping at the first failure unless keepGoing. */
export async function explore(o: ExploreOptions): Promise<ExploreResult> {
  if (!Number.isInteger(o.runs) || o.runs < 1) throw new KdeferError(`explore: runs must be a positive integer, not ${o.runs}`);
  const t0 = performance.now();
  let k = 16; // PCT's k, learned from the runs: the most choice points seen
  let failures = 0;
  let first: ScheduleFile | null = null;
  let firstAt = -1;
  let runs = 0;
  for (let i = 0; i < o.runs && !o.signal?.aborted; i++) {
    const s = runSeed(o.seed, i);
    const schedule: ScheduleOptions =
      o.strategy === 'pct' ? { strategy: 'pct', seed: s, depth: o.depth ?? 2, steps: k } : { strategy: 'random', seed: s, p: o.p ?? 0.05 };
    const r = await detRun({ target: o.target, cpus: o.cpus, trialSeed: s, schedule });
    runs++;
    k = i === 0 ? Math.max(1, r.choicePoints) : Math.max(k, r.choicePoints);
    if (r.failed) {
      failures++;
      if (first === null) {
        firstAt = i;
        first = scheduleFile(o.target, o.cpus ?? 2, s, schedule, r);
      }
    }
    o.onRun?.(i, r, failures);
    if (r.failed && !o.keepGoing) break;
  }
  return { runs, failures, first, firstAt, k, elapsedMs: performance.now() - t0, aborted: o.signal?.aborted === true };
}

/** The schedule file of run `r`. */
export function scheduleFile(target: DetTarget, cpus: number, trialSeed: number, schedule: ScheduleOptions, r: DetRunResult): ScheduleFile {
  return {
    kind: 'kdefer-schedule',
    format: SCHEDULE_FORMAT,
    kdefer: KDEFER_VERSION,
    target,
    cpus,
    trialSeed,
    modules: targetModules(target).map((path) => ({ path, sha256: sha256(path) })),
    schedule,
    steps: r.steps,
    switches: r.switches,
    report: r.report,
  };
}

/** Read and check a schedule file. @throws KdeferError naming what is wrong */
export function readScheduleFile(file: string): ScheduleFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new KdeferError(`${file}: cannot read it (${e instanceof Error ? e.message : String(e)})`);
  }
  let j: Partial<ScheduleFile>;
  try {
    j = JSON.parse(text) as Partial<ScheduleFile>;
  } catch (e) {
    throw new KdeferError(`${file}: not a schedule file (not JSON: ${e instanceof Error ? e.message : String(e)})`);
  }
  const bad = (what: string): never => {
    throw new KdeferError(`${file}: not a valid schedule file: ${what}`);
  };
  if (j === null || typeof j !== 'object' || j.kind !== 'kdefer-schedule') bad("kind is not 'kdefer-schedule'");
  if (j.format !== SCHEDULE_FORMAT) bad(`format ${String(j.format)}, this kdefer reads format ${SCHEDULE_FORMAT}`);
  const t = j.target;
  if (!t || (t.kind !== 'race' && t.kind !== 'module')) bad('target is neither a race case nor a module');
  if (t!.kind === 'race' && typeof t!.case !== 'string') bad('target.case is missing');
  if (t!.kind === 'module' && (typeof t!.file !== 'string' || !Array.isArray(t!.calls))) bad('target.file or target.calls is missing');
  if (!Number.isInteger(j.cpus) || j.cpus! < 1) bad('cpus is not a positive integer');
  if (!Number.isInteger(j.trialSeed)) bad('trialSeed is not an integer');
  if (
    !Array.isArray(j.switches) ||
    !j.switches.every((e) => Array.isArray(e) && (e.length === 2 || e.length === 3) && e.every(Number.isInteger))
  )
    bad('switches is not a list of [step, cpu, fingerprint]');
  if (!Array.isArray(j.modules)) bad('modules is missing');
  return j as ScheduleFile;
}

/** The modules whose content changed since the schedule was recorded. */
export function changedModules(f: ScheduleFile): string[] {
  return f.modules
    .filter((m) => {
      try {
        return sha256(m.path) !== m.sha256;
      } catch {
        return true;
      }
    })
    .map((m) => m.path);
}

export interface ReplayResult {
  run: DetRunResult;
  /** the same kind of report in the same function as recorded */
  reproduced: boolean;
  changed: string[];
}

/** Replay a schedule file strictly. */
export async function replay(f: ScheduleFile, lenient = false): Promise<ReplayResult> {
  const run = await detRun({
    target: f.target,
    cpus: f.cpus,
    trialSeed: f.trialSeed,
    schedule: { strategy: 'replay', switches: f.switches, lenient },
  });
  if (!lenient && run.divergence === null && run.steps !== f.steps)
    run.divergence = `replay diverged at step ${Math.min(f.steps, run.steps)}: the recorded run took ${f.steps} steps, this one ${run.steps} (a module changed, or a source of nondeterminism got in)`;
  return { run, reproduced: run.failed && reportSignature(run.report) === reportSignature(f.report), changed: changedModules(f) };
}

export interface ShrinkOptions {
  /** most candidate runs (default 300) */
  maxTests?: number;
  onTest?: (tests: number, best: number) => void;
  signal?: AbortSignal;
}

export interface ShrinkResult {
  before: { switches: number; steps: number };
  after: { switches: number; steps: number };
  tests: number;
  file: ScheduleFile;
  /** the shrunk schedule replays strictly to the same report */
  verified: boolean;
}

/**
 * Shrink a failing schedule: ddmin over its switches (lenient replay; a
 * candidate must fail with the same report signature), then the switches
 * the smallest failing run took, verified by a strict replay.
 */
export async function shrink(f: ScheduleFile, o: ShrinkOptions = {}): Promise<ShrinkResult> {
  const sig = reportSignature(f.report);
  if (sig === '') throw new KdeferError('shrink: the schedule file records no report (nothing to keep failing)');
  const maxTests = o.maxTests ?? 300;
  let tests = 0;
  let bestRun: DetRunResult | null = null;
  const fails = async (sw: number[][]): Promise<boolean> => {
    tests++;
    const run = await detRun({
      target: f.target,
      cpus: f.cpus,
      trialSeed: f.trialSeed,
      schedule: { strategy: 'replay', switches: sw, lenient: true },
    });
    const ok = run.failed && reportSignature(run.report) === sig;
    if (ok && (bestRun === null || run.switches.length <= bestRun.switches.length)) bestRun = run;
    o.onTest?.(tests, bestRun?.switches.length ?? f.switches.length);
    return ok;
  };
  let cur = f.switches.slice();
  if (!(await fails(cur))) throw new KdeferError('shrink: the schedule does not fail (with its report) when replayed: nothing to shrink');
  // ddmin (Zeller): remove chunks, then complements, refining the granularity.
  let n = 2;
  if (cur.length > 0 && (await fails([]))) cur = [];
  while (cur.length >= 2 && tests < maxTests && !o.signal?.aborted) {
    const size = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < n && tests < maxTests; i++) {
      const complement = [...cur.slice(0, i * size), ...cur.slice((i + 1) * size)];
      if (complement.length < cur.length && (await fails(complement))) {
        cur = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, 2 * n);
    }
  }
  const best = bestRun as DetRunResult | null;
  const chosen = best !== null && best.switches.length <= f.switches.length ? best : null;
  const file: ScheduleFile = chosen
    ? { ...f, steps: chosen.steps, switches: chosen.switches, report: chosen.report }
    : { ...f, switches: f.switches.slice() };
  const check = await replay(file);
  return {
    before: { switches: f.switches.length, steps: f.steps },
    after: { switches: file.switches.length, steps: file.steps },
    tests,
    file,
    verified: check.reproduced && check.run.divergence === null,
  };
}

export interface ExhaustiveOptions {
  target: DetTarget;
  cpus?: number;
  seed?: number;
  /** the preemption bound (CHESS, loom's LOOM_MAX_PREEMPTIONS): at most this many switches away from a CPU that could go on (default 1) */
  maxPreemptions?: number;
  /** most schedules to run (default 1000) */
  maxSchedules?: number;
  keepGoing?: boolean;
  signal?: AbortSignal;
  onRun?: (i: number, r: DetRunResult, failures: number, queued: number) => void;
}

export interface ExhaustiveResult {
  schedules: number;
  failures: number;
  first: ScheduleFile | null;
  firstAt: number;
  /** every schedule within the bound ran */
  exhausted: boolean;
  maxPreemptions: number;
  elapsedMs: number;
  aborted: boolean;
}

/**
 * Exhaustive exploration with a preemption bound: every schedule that
 * switches away from a CPU that could go on at most `maxPreemptions` times
 * (elsewhere each CPU runs until it cannot), breadth first from the
 * schedule with none. Each schedule is a replay of its preemptions; its run
 * logs the points where another CPU could have run, which give the next
 * schedules (a preemption later than the schedule's last one, to each CPU
 * that could run there).
 */
export async function exhaustive(o: ExhaustiveOptions): Promise<ExhaustiveResult> {
  const bound = o.maxPreemptions ?? 1;
  const cap = o.maxSchedules ?? 1000;
  const cpus = o.cpus ?? 2;
  if (!Number.isInteger(bound) || bound < 0 || bound > 8)
    throw new KdeferError(`explore: maxPreemptions must be an integer from 0 to 8, not ${bound}`);
  if (cpus > 8) throw new KdeferError(`explore: the exhaustive strategy is for small machines (at most 8 CPUs), not ${cpus}`);
  const t0 = performance.now();
  const seed = (o.seed ?? 1) >>> 0;
  const queue: [number, number][][] = [[]];
  let schedules = 0;
  let failures = 0;
  let first: ScheduleFile | null = null;
  let firstAt = -1;
  while (queue.length > 0 && schedules < cap && !o.signal?.aborted) {
    const pre = queue.shift()!;
    const schedule: ScheduleOptions = { strategy: 'replay', switches: pre, lenient: true, logChoices: true };
    const r = await detRun({ target: o.target, cpus, trialSeed: seed, schedule });
    schedules++;
    if (r.failed) {
      failures++;
      if (first === null) {
        firstAt = schedules - 1;
        // the run's own switches replay it strictly
        first = scheduleFile(o.target, cpus, seed, { strategy: 'replay', switches: [] }, r);
      }
    }
    if (pre.length < bound) {
      const last = pre.length > 0 ? pre[pre.length - 1]![0] : 0;
      for (const [step, mask] of r.choices) {
        if (step <= last) continue;
        for (let c = 0; c < cpus; c++) if (mask & (1 << c)) queue.push([...pre, [step, c]]);
      }
    }
    o.onRun?.(schedules - 1, r, failures, queue.length);
    if (r.failed && !o.keepGoing) break;
  }
  return {
    schedules,
    failures,
    first,
    firstAt,
    exhausted: queue.length === 0 && !(failures > 0 && !o.keepGoing),
    maxPreemptions: bound,
    elapsedMs: performance.now() - t0,
    aborted: o.signal?.aborted === true,
  };
}
