/**
 * usermod_torture.ts — `kdefer torture FILE --call ENTRY ...`: the
 * locktorture pattern (kernel/locking/locktorture.c) over a user's own
 * module: the named entries run as tasks on every CPU (or the CPUs named),
 * each called again as soon as it returns, with the IRQ load of --irq, for
 * a bounded time; then per-entry counts, fairness (max/min over the CPUs an
 * entry ran on, as locktorture's Max/Min) and the first kernel report.
 *
 * One run is runUserTorture() on a booted machine. A campaign of seeded
 * trials (`--trials N`) runs one per fresh machine in the piscina pool of
 * scenarios/campaign.ts through the CampaignScenario `usermod-torture`
 * below: its options carry the module's path (each trial compiles and loads
 * it on its own machine), the entries, the IRQs, setup and teardown, so
 * that `kdefer report` merges shards of one campaign as it does for
 * `kdefer stress`.
 *
 * Nothing here prints.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Machine } from '@kdefer/workers';
import { KdeferError } from '@kdefer/core';
import type { CampaignScenario, TrialOutcome } from './campaign.js';
import { prepareModule, explainLoadError, findReports, reportExcerpt, ModuleFileError } from '../usermod.js';
import { parseCall, parseIrq, type CallSpec, type IrqSpec } from '../commands/run.js';

/** How long the entries' loops may take to notice the end. */
const STOP_TIMEOUT_MS = 10_000;

/** What one torture run does. */
export interface UserTortureSpec {
  /** the entries tortured; a spec without @CPU runs on every CPU */
  calls: CallSpec[];
  irqs: IrqSpec[];
  /** run once on CPU 0 before the loops start (probe) and after they stop (remove) */
  setup: CallSpec[];
  teardown: CallSpec[];
  seconds: number;
  /** ms to run on after teardown, for the timers and works it left */
  settle: number;
  signal?: AbortSignal;
  onProgress?: (elapsedS: number, calls: number) => void;
}

/** One loop: an entry on one CPU. */
export interface TortureLoop {
  entry: string;
  cpu: number;
  calls: number;
  failures: number;
  firstError: string | null;
}

/** An entry over all its CPUs: locktorture's Total and Max/Min. */
export interface TortureEntry {
  entry: string;
  total: number;
  max: number;
  min: number;
  /** max/min; Infinity when a CPU did none */
  fairness: number;
  perSecond: number;
  failures: number;
}

export interface UserTortureResult {
  elapsedMs: number;
  loops: TortureLoop[];
  entries: TortureEntry[];
  irqsRaised: number;
  setup: { label: string; ok: boolean; detail: string }[];
  /** the first lines of every report in dmesg, in order */
  reports: string[];
  /** the first report's dmesg excerpt, or null */
  firstReport: string | null;
  panicked: boolean;
  aborted: boolean;
  ok: boolean;
}

const label = (c: CallSpec, cpu: number): string => `${c.entry}@${cpu}${c.args.map((a) => `:${a}`).join('')}`;

/** Torture `name`'s entries on `m` (the module loaded). Never throws for what the run found. */
export async function runUserTorture(m: Machine, name: string, spec: UserTortureSpec): Promise<UserTortureResult> {
  const t0 = performance.now();
  const setup: UserTortureResult['setup'] = [];
  const once = async (c: CallSpec): Promise<boolean> => {
    const cpu = c.cpu === 'all' ? 0 : c.cpu;
    try {
      const v = await m.call(cpu, name, c.entry, ...c.args);
      setup.push({ label: label(c, cpu), ok: true, detail: v === undefined ? '' : `-> ${JSON.stringify(v) ?? String(v)}` });
      return true;
    } catch (e) {
      setup.push({ label: label(c, cpu), ok: false, detail: e instanceof Error ? e.message : String(e) });
      return false;
    }
  };
  let setupOk = true;
  for (const c of spec.setup) if (!(setupOk = setupOk && (await once(c)))) break;

  const loops: TortureLoop[] = [];
  let stop = !setupOk;
  const running: Promise<void>[] = [];
  for (const c of spec.calls) {
    const cpus = c.cpu === 'all' ? Array.from({ length: m.cpus }, (_, k) => k) : [c.cpu];
    for (const cpu of cpus) {
      const l: TortureLoop = { entry: c.entry, cpu, calls: 0, failures: 0, firstError: null };
      loops.push(l);
      running.push(
        (async () => {
          while (!stop && !m.panicked()) {
            try {
              await m.call(cpu, name, c.entry, ...c.args);
              l.calls++;
            } catch (e) {
              l.failures++;
              l.firstError ??= e instanceof Error ? e.message : String(e);
              return; // a failing entry stops its loop (its state is unknown)
            }
          }
        })(),
      );
    }
  }
  // The IRQ load: bursts at once, rates spread over the run.
  let irqsRaised = 0;
  const raise = (line: number): void => {
    try {
      m.raiseIrq(line);
      irqsRaised++;
    } catch {
      // a stopped machine
    }
  };
  if (!stop) for (const q of spec.irqs) if ('burst' in q.load) for (let k = 0; k < q.load.burst; k++) raise(q.line);
  const rated = spec.irqs.filter((q) => 'rate' in q.load);
  const raised = rated.map(() => 0);
  const tl = performance.now();
  const ms = spec.seconds * 1000;
  let lastProgress = 0;
  while (!stop && !spec.signal?.aborted && !m.panicked() && performance.now() - tl < ms) {
    const t = performance.now() - tl;
    rated.forEach((q, k) => {
      const due = Math.floor(((q.load as { rate: number }).rate * t) / 1000);
      for (; raised[k]! < due; raised[k]!++) raise(q.line);
    });
    if (spec.onProgress && t - lastProgress >= 100) {
      lastProgress = t;
      spec.onProgress(
        t / 1000,
        loops.reduce((a, l) => a + l.calls, 0),
      );
    }
    if (loops.length > 0 && loops.every((l) => l.failures > 0)) break;
    await sleep(1);
  }
  const elapsed = performance.now() - tl;
  stop = true;
  const bound = new AbortController();
  await Promise.race([Promise.allSettled(running), sleep(STOP_TIMEOUT_MS, undefined, { signal: bound.signal }).catch(() => undefined)]);
  bound.abort(); // the bound's timer must not keep the process alive
  if (setupOk && !m.panicked()) for (const c of spec.teardown) if (!(await once(c))) break;
  if (spec.settle > 0 && !m.panicked()) await sleep(spec.settle);

  const dmesg = m.dmesg();
  const found = findReports(dmesg);
  const entries: TortureEntry[] = [];
  for (const e of [...new Set(loops.map((l) => l.entry))]) {
    const ls = loops.filter((l) => l.entry === e);
    const counts = ls.map((l) => l.calls);
    const max = Math.max(...counts);
    const min = Math.min(...counts);
    entries.push({
      entry: e,
      total: counts.reduce((a, b) => a + b, 0),
      max,
      min,
      fairness: min === 0 ? (max === 0 ? 1 : Infinity) : max / min,
      perSecond: counts.reduce((a, b) => a + b, 0) / Math.max(0.001, elapsed / 1000),
      failures: ls.reduce((a, l) => a + l.failures, 0),
    });
  }
  const failures = loops.some((l) => l.failures > 0) || setup.some((s) => !s.ok);
  return {
    elapsedMs: performance.now() - t0,
    loops,
    entries,
    irqsRaised,
    setup,
    reports: found.map((r) => r.line),
    firstReport:
      found.length > 0 ? reportExcerpt(dmesg, found[0]!, found.length > 1 ? Math.min(40, found[1]!.at - found[0]!.at) : 40) : null,
    panicked: m.panicked(),
    aborted: spec.signal?.aborted ?? false,
    ok: found.length === 0 && !failures,
  };
}

// ------------------------------------------------------------ the campaign scenario

/** The campaign's options: what a trial needs to rebuild the run (JSON: they travel to the pool and into --json). */
export interface UserTortureOptions extends Record<string, unknown> {
  /** the module file, absolute */
  file: string;
  /** --call, --irq, --setup, --teardown as given */
  calls: string[];
  irqs: string[];
  setup: string[];
  teardown: string[];
  seconds: number;
  hz: number;
  settle: number;
}

/** A --call of torture: without @CPU, the entry runs on every CPU. */
export function parseTortureCall(v: string): CallSpec {
  const c = parseCall(v);
  return /^[^:]*@/.test(v) ? c : { ...c, cpu: 'all' };
}

/** The spec of a trial, from the options. */
export function tortureSpec(o: UserTortureOptions): UserTortureSpec {
  return {
    calls: o.calls.map(parseTortureCall),
    irqs: o.irqs.map(parseIrq),
    setup: o.setup.map(parseCall),
    teardown: o.teardown.map(parseCall),
    seconds: o.seconds,
    settle: o.settle,
  };
}

export const userTorture: CampaignScenario<UserTortureOptions> = {
  name: 'usermod-torture',
  summary: "your own module's entries on every CPU with the IRQ load, repeatedly, one fresh machine per seeded trial",
  defaultCpus: 2,
  minCpus: 1,
  defaults: { file: '', calls: [], irqs: [], setup: [], teardown: [], seconds: 0.5, hz: 1000, settle: 100 },
  flags: [],
  validate(o) {
    if (!o.file) throw new KdeferError('torture: no module file');
    if (o.calls.length === 0) throw new KdeferError('torture: name at least one entry with --call ENTRY');
  },
  machine: (o) => ({ hz: o.hz }),
  // a module's state (a freed priv, a disabled NAPI) does not carry into the next trial
  trialsPerMachine: 1,
  async trial(m, o): Promise<TrialOutcome> {
    let mod;
    try {
      mod = await prepareModule(o.file);
    } catch (e) {
      return { ok: false, outcome: 'error', detail: e instanceof ModuleFileError ? e.message : String(e), stopped: true };
    }
    let name: string;
    try {
      const loaded = await m.loadModules([mod.url]);
      name = Object.keys(loaded)[0]!;
    } catch (e) {
      return { ok: false, outcome: 'error', detail: await explainLoadError(e, mod), stopped: true };
    } finally {
      mod.cleanup(); // loaded on every CPU: the compiled copy is no longer needed
    }
    const r = await runUserTorture(m, name, tortureSpec(o));
    const calls = r.entries.map((e) => `${e.entry} ${e.total}`).join(', ');
    const failed = r.loops.find((l) => l.firstError !== null) ?? null;
    const setupFailed = r.setup.find((s) => !s.ok) ?? null;
    return {
      ok: r.ok,
      outcome: r.reports.length > 0 ? 'report' : failed || setupFailed ? 'failed' : 'correct',
      detail:
        r.reports.length > 0
          ? r.reports[0]!
          : setupFailed
            ? `${setupFailed.label}: ${setupFailed.detail}`
            : failed
              ? `${failed.entry}@${failed.cpu}: ${failed.firstError}`
              : `calls: ${calls}; ${r.irqsRaised} IRQs`,
      lost: null,
      reports: r.reports,
      stopped: true,
    };
  },
  rerun(o, seedHex, amplify, cpus) {
    const q = (s: string): string => (/^[\w@:./,+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
    return [
      'kdefer torture',
      q(o.file),
      ...o.setup.map((c) => `--setup ${q(c)}`),
      ...o.calls.map((c) => `--call ${q(c)}`),
      ...o.teardown.map((c) => `--teardown ${q(c)}`),
      ...o.irqs.map((c) => `--irq ${q(c)}`),
      `--seconds ${o.seconds} --hz ${o.hz} --settle ${o.settle} --cpus ${cpus} --amplify ${amplify} --seed ${seedHex}`,
    ].join(' ');
  },
};
