/**
 * campaign.ts — many independent trials of one scenario, in parallel, in a
 * piscina pool: `kdefer stress <scenario> --trials N --jobs J`.
 *
 * A trial is one run of a scenario with one seed, on a machine that a pool
 * worker booted for it and keeps for the next trials (booting per trial
 * would cost more than the trial): campaign_worker.ts boots ONE machine per
 * pool worker, runs trial after trial on it, and boots a fresh one only when
 * a trial stopped it (a deadlock report) or the scenario says the machine
 * has served enough trials.
 *
 * Seeds: trial i of the campaign seeded S runs with trialSeed(S, i) (trial 0
 * with S itself), so `--shard K/N` — the trials i with i mod N = K-1 — runs
 * a slice disjoint from the other shards' and, with them, covers the whole
 * campaign; each shard writes its results (`--json FILE`) and
 * `kdefer report FILE...` merges them (mergeCampaigns). A failing trial's
 * seed reruns it alone: `--seed <its seed> --trials 1`.
 *
 * Scenarios plug in through scenarios/trials.ts (CampaignScenario). Nothing
 * here prints: the command (commands/stress.ts, commands/report.ts) does.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { MachineOptions } from '@kdefer/workers';
import type { Machine } from '@kdefer/workers';
import { KdeferError } from '@kdefer/core';
import { trialSeed, fmtSeed } from '../seed.js';

// ------------------------------------------------------------ what a scenario provides

/** One scenario-specific command-line option (commands/stress.ts makes a commander Option of it). */
export interface ScenarioFlag {
  /** the key in the scenario's options object */
  key: string;
  /** commander flags, e.g. '--lock <variant>' */
  flags: string;
  description: string;
  /** 'int' | 'number' | 'string'; choices restrict a string */
  type: 'int' | 'number' | 'string';
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** What a trial is given. */
export interface TrialContext {
  /** the trial's index in the campaign, and its seed */
  index: number;
  seed: number;
  /** race amplification level the machine booted with */
  amplify: number;
  /** trials this machine ran before this one (0: freshly booted) */
  onMachine: number;
}

/** What a trial found. */
export interface TrialOutcome {
  /** the invariant held: no lost update, no report */
  ok: boolean;
  /** one word: correct, lost, deadlock, report, error... */
  outcome: string;
  /** one line, with the numbers */
  detail: string;
  /** updates lost, where the scenario counts them */
  lost?: number | null;
  /** the kernel report headlines of the trial */
  reports?: string[];
  /** the trial stopped its machine: the worker boots a fresh one */
  stopped: boolean;
}

/** A scenario that a campaign can run trials of. */
export interface CampaignScenario<O extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  /** one line for --help */
  summary: string;
  /** CPUs of each machine when --cpus is not given */
  defaultCpus: number;
  /** at least this many CPUs */
  minCpus: number;
  /** the options and their defaults */
  defaults: O;
  flags: readonly ScenarioFlag[];
  /** check options (throw KdeferError) */
  validate?(o: O): void;
  /** the boot options of a worker's machine (modules as hrefs: they cross threads) */
  machine(o: O, cpus: number): Omit<MachineOptions, 'cpus' | 'seed' | 'amplify'>;
  /** a machine serves at most this many trials, then the worker boots a fresh one */
  trialsPerMachine: number;
  /** one trial on `m`; never throws for what the trial found */
  trial(m: Machine, o: O, t: TrialContext): Promise<TrialOutcome>;
  /** the command line that reruns one trial alone (default: `kdefer stress <name> <flags> ... --trials 1`) */
  rerun?(o: O, seedHex: string, amplify: number, cpus: number): string;
}

// ------------------------------------------------------------ results

/** One trial's result, as the JSON records it. */
export interface TrialResult {
  index: number;
  seed: number;
  /** the race amplification level its machine booted with */
  amplify: number;
  ok: boolean;
  outcome: string;
  detail: string;
  lost: number | null;
  reports: string[];
  ms: number;
  /** the pool worker (its thread id) and which of its machines ran the trial */
  worker: number;
  machine: number;
}

/** A shard: the K-th of N (1-based). */
export interface Shard {
  k: number;
  n: number;
}

/** What `--json FILE` writes, and `kdefer report` reads. */
export interface CampaignResult {
  kind: 'kdefer-campaign';
  version: 1;
  scenario: string;
  options: Record<string, unknown>;
  /** the campaign seed, and the amplification level every machine booted with */
  seed: number;
  seedHex: string;
  amplify: number;
  /** trials of the whole campaign (all shards), and this shard */
  trials: number;
  shard: Shard;
  cpus: number;
  jobs: number;
  node: string;
  cores: number;
  startedAt: string;
  elapsedMs: number;
  /** machines the pool workers booted */
  machines: number;
  aborted: boolean;
  /** this shard's trials, by index */
  results: TrialResult[];
  summary: CampaignSummary;
}

export interface CampaignSummary {
  /** trials with a result, and the expected number (all shards merged, or this shard) */
  ran: number;
  expected: number;
  passed: number;
  failed: number;
  /** trials per outcome word */
  outcomes: Record<string, number>;
  /** lost updates over the trials that counted them */
  lost: { trials: number; total: number; max: number };
  /** trial duration, ms */
  ms: { median: number; max: number };
  /** the failing trial of the lowest index: rerun it with --seed <seed> --trials 1 */
  firstFailure: { index: number; seed: number; seedHex: string; outcome: string; detail: string } | null;
  /** indices of the campaign no file covered (report only) */
  missing: number[];
}

// ------------------------------------------------------------ shards and seeds

/** Parse "K/N". */
export function parseShard(value: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const k = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(n) || n < 1 || k < 1 || k > n)
    throw new KdeferError(`--shard must be K/N with 1 <= K <= N, not '${value}'`);
  return { k, n };
}

/** The campaign's trial indices that shard K/N runs: i with i mod N = K-1. */
export function shardIndices(trials: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let i = shard.k - 1; i < trials; i += shard.n) out.push(i);
  return out;
}

/** Default parallelism: pool workers whose machines fit the cores (at least 1). */
export function defaultJobs(cpusPerMachine: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / Math.max(1, cpusPerMachine)));
}

// ------------------------------------------------------------ the pool

/** A message to a pool worker (campaign_worker.ts). */
export type WorkerTask =
  | { kind: 'trial'; scenario: string; options: Record<string, unknown>; cpus: number; amplify: number; index: number; seed: number }
  /** shut the machine down; `barrier` makes the J shutdown tasks land on J different workers */
  | { kind: 'shutdown'; barrier: SharedArrayBuffer; jobs: number };

export interface WorkerTrialReply {
  result: TrialResult;
}
export interface WorkerShutdownReply {
  worker: number;
  machines: number;
}

export interface CampaignOptions {
  scenario: string;
  /** the scenario's options (merged over its defaults by the caller) */
  options: Record<string, unknown>;
  trials: number;
  jobs: number;
  seed: number;
  amplify: number;
  cpus: number;
  shard: Shard;
  signal?: AbortSignal;
  /** after each trial */
  onTrial?: (done: number, total: number, r: TrialResult, failed: number) => void;
}

/** The compiled pool worker (dist/campaign_worker.js next to dist/scenarios/). */
export const campaignWorker = new URL('../campaign_worker.js', import.meta.url);

/** Run this shard of a campaign in a piscina pool of `jobs` workers. */
export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  if (!Number.isInteger(o.trials) || o.trials < 1) throw new KdeferError(`campaign: trials must be a positive integer, not ${o.trials}`);
  if (!Number.isInteger(o.jobs) || o.jobs < 1) throw new KdeferError(`campaign: jobs must be a positive integer, not ${o.jobs}`);
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const indices = shardIndices(o.trials, o.shard);
  const jobs = Math.min(o.jobs, Math.max(1, indices.length));
  const pool = new Piscina({
    filename: campaignWorker.href,
    minThreads: jobs,
    maxThreads: jobs,
    concurrentTasksPerWorker: 1,
    idleTimeout: 60_000,
    // Between tasks a worker must keep its event loop: its machine's host side lives there.
    atomics: 'disabled',
  });
  const results: TrialResult[] = [];
  let failed = 0;
  let machines = 0;
  let aborted = false;
  // Feed the pool a few tasks ahead of its workers, not the whole campaign at once: an
  // interrupt then stops at once, and a campaign of millions does not sit in a queue.
  let cursor = 0;
  const feeder = async (): Promise<void> => {
    while (cursor < indices.length) {
      if (o.signal?.aborted) {
        aborted = true;
        return;
      }
      const index = indices[cursor++]!;
      const task: WorkerTask = {
        kind: 'trial',
        scenario: o.scenario,
        options: o.options,
        cpus: o.cpus,
        amplify: o.amplify,
        index,
        seed: trialSeed(o.seed, index),
      };
      const reply = (await pool.run(task)) as WorkerTrialReply;
      results.push(reply.result);
      if (!reply.result.ok) failed++;
      o.onTrial?.(results.length, indices.length, reply.result, failed);
    }
  };
  try {
    await Promise.all(Array.from({ length: 2 * jobs }, feeder));
  } finally {
    // One shutdown task per worker: each waits at the barrier until all are taken, so each worker gets one.
    const barrier = new SharedArrayBuffer(4);
    const replies = await Promise.allSettled(
      Array.from({ length: jobs }, () => pool.run({ kind: 'shutdown', barrier, jobs } satisfies WorkerTask)),
    );
    for (const r of replies) if (r.status === 'fulfilled') machines += (r.value as WorkerShutdownReply).machines;
    await pool.destroy();
  }
  results.sort((a, b) => a.index - b.index);
  return {
    kind: 'kdefer-campaign',
    version: 1,
    scenario: o.scenario,
    options: o.options,
    seed: o.seed >>> 0,
    seedHex: fmtSeed(o.seed),
    amplify: o.amplify,
    trials: o.trials,
    shard: o.shard,
    cpus: o.cpus,
    jobs,
    node: process.version,
    cores: availableParallelism(),
    startedAt,
    elapsedMs: performance.now() - t0,
    machines,
    aborted,
    results,
    summary: summarize(results, indices),
  };
}

// ------------------------------------------------------------ summaries and merging

/** Summarise `results` against the trial indices that were expected. */
export function summarize(results: readonly TrialResult[], expected: readonly number[]): CampaignSummary {
  const outcomes: Record<string, number> = {};
  let lostTrials = 0;
  let lostTotal = 0;
  let lostMax = 0;
  for (const r of results) {
    outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    if (r.lost !== null && r.lost !== undefined) {
      if (r.lost > 0) lostTrials++;
      lostTotal += r.lost;
      lostMax = Math.max(lostMax, r.lost);
    }
  }
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const first = results.filter((r) => !r.ok).sort((a, b) => a.index - b.index)[0];
  const have = new Set(results.map((r) => r.index));
  return {
    ran: results.length,
    expected: expected.length,
    passed: results.filter((r) => r.ok).length,
    failed: results.filter((r) => !r.ok).length,
    outcomes,
    lost: { trials: lostTrials, total: lostTotal, max: lostMax },
    ms: { median: ms.length ? ms[Math.floor(ms.length / 2)]! : 0, max: ms.length ? ms[ms.length - 1]! : 0 },
    firstFailure: first
      ? { index: first.index, seed: first.seed, seedHex: fmtSeed(first.seed), outcome: first.outcome, detail: first.detail }
      : null,
    missing: expected.filter((i) => !have.has(i)),
  };
}

/** Several shards' files merged into one campaign. */
export interface MergedCampaign {
  scenario: string;
  options: Record<string, unknown>;
  seed: number;
  seedHex: string;
  amplify: number;
  trials: number;
  files: number;
  shards: Shard[];
  results: TrialResult[];
  /** indices found in more than one file with different outcomes */
  conflicts: number[];
  machines: number;
  elapsedMs: number;
  summary: CampaignSummary;
}

/** Check that `x` looks like a CampaignResult. @throws KdeferError naming `where` */
export function asCampaignResult(x: unknown, where: string): CampaignResult {
  const c = x as Partial<CampaignResult> | null;
  if (!c || typeof c !== 'object' || c.kind !== 'kdefer-campaign' || c.version !== 1 || !Array.isArray(c.results)) {
    throw new KdeferError(`${where}: not a kdefer campaign result (written by kdefer stress <scenario> --json FILE)`);
  }
  return c as CampaignResult;
}

/** Merge shards of ONE campaign (same scenario, options, seed, amplification and trials). */
export function mergeCampaigns(parts: readonly { file: string; result: CampaignResult }[]): MergedCampaign {
  if (parts.length === 0) throw new KdeferError('report: no result files');
  const base = parts[0]!.result;
  const key = (c: CampaignResult): string => JSON.stringify([c.scenario, c.options, c.seed >>> 0, c.amplify, c.trials]);
  for (const p of parts) {
    if (key(p.result) !== key(base)) {
      throw new KdeferError(
        `report: ${p.file} is another campaign (${p.result.scenario}, seed ${fmtSeed(p.result.seed)}, ${p.result.trials} trials, amplify ${p.result.amplify}, ${JSON.stringify(p.result.options)}) ` +
          `than ${parts[0]!.file} (${base.scenario}, seed ${fmtSeed(base.seed)}, ${base.trials} trials, amplify ${base.amplify}, ${JSON.stringify(base.options)})`,
      );
    }
  }
  const byIndex = new Map<number, TrialResult>();
  const conflicts = new Set<number>();
  for (const p of parts) {
    for (const r of p.result.results) {
      const prev = byIndex.get(r.index);
      if (prev && (prev.ok !== r.ok || prev.outcome !== r.outcome)) conflicts.add(r.index);
      if (!prev || (!r.ok && prev.ok)) byIndex.set(r.index, r);
    }
  }
  const results = [...byIndex.values()].sort((a, b) => a.index - b.index);
  const all = Array.from({ length: base.trials }, (_, i) => i);
  return {
    scenario: base.scenario,
    options: base.options,
    seed: base.seed >>> 0,
    seedHex: fmtSeed(base.seed),
    amplify: base.amplify,
    trials: base.trials,
    files: parts.length,
    shards: parts.map((p) => p.result.shard),
    results,
    conflicts: [...conflicts].sort((a, b) => a - b),
    machines: parts.reduce((a, p) => a + (p.result.machines ?? 0), 0),
    elapsedMs: Math.max(...parts.map((p) => p.result.elapsedMs ?? 0)),
    summary: summarize(results, all),
  };
}
