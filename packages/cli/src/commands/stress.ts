/**
 * commands/stress.ts — `kdefer stress`: stress-testing locking semantics.
 *
 *   kdefer stress locking      the matrix: who shares a counter (process
 *                              context, softirq, tasklet, timer, hardirq;
 *                              same CPU or not) by the lock variant, each
 *                              cell run for real, next to what the kernel's
 *                              locking guide prescribes (S-LOCK-6)
 *   kdefer stress torture      lock torture after locktorture.c
 *   kdefer stress <scenario>   a campaign of seeded trials in a piscina pool
 *                              (scenarios/trials.ts lists the scenarios)
 *
 * Exit status: 1 when the run found what it exists to find — a prescribed
 * lock that lost an update or reported (locking), a failure or a report
 * (torture), a failing trial (campaign) — 130 if interrupted.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Command, Option, InvalidArgumentError } from 'commander';
import { runStressLocking, type LockingResult, type CellResult } from '../scenarios/locking.js';
import { runTorture, threadName, type TortureResult, type TortureSide } from '../scenarios/torture.js';
import {
  runCampaign,
  parseShard,
  defaultJobs,
  type CampaignResult,
  type CampaignSummary,
  type ScenarioFlag,
} from '../scenarios/campaign.js';
import { CAMPAIGN_SCENARIOS, campaignScenario } from '../scenarios/trials.js';
import type { CampaignScenario } from '../scenarios/campaign.js';
import { STRESS_ROWS, VARIANTS, type VariantName } from '../modules/stress.js';
import { cpusOption, secondsOption, intInRange, traceOption } from '../options.js';
import { seedOption, amplifyOption, randomSeed, fmtSeed, fmtAmplify } from '../seed.js';
import { withProgress, exitStatus, section, compact } from './common.js';

/** The `stress` command and its subcommands. */
export function stressCommand(): Command {
  const cmd = new Command('stress').description(
    'stress-test locking: the context-by-lock matrix, lock torture, and campaigns of seeded trials',
  );
  cmd.addCommand(lockingCommand());
  cmd.addCommand(tortureCommand());
  for (const sc of Object.values(CAMPAIGN_SCENARIOS)) cmd.addCommand(campaignCommand(sc));
  return cmd;
}

const jsonOption = (): Option => new Option('--json <file>', 'also write the results as JSON to FILE');

async function writeJson(file: string | undefined, kind: string, data: object): Promise<void> {
  if (!file) return;
  await writeFile(file, JSON.stringify({ kind, version: 1, ...data }, null, 2) + '\n');
  process.stdout.write(`results written to ${file}\n`);
}

// ------------------------------------------------------------ stress locking

interface LockingFlags {
  cpus: number;
  iterations: number;
  windows: number;
  amplify: number;
  seed?: number;
  rows?: string[];
  variants?: VariantName[];
  lockdep: boolean;
  json?: string;
}

const list =
  (what: string, allowed: readonly string[]) =>
  (value: string): string[] => {
    const xs = value
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '');
    for (const x of xs) if (!allowed.includes(x)) throw new InvalidArgumentError(`${what}: no '${x}' (one of ${allowed.join(', ')}).`);
    return xs;
  };

function lockingCommand(): Command {
  return new Command('locking')
    .addOption(traceOption())
    .description(
      "run every cell of the matrix — who shares a counter, by the lock variant used — and set each against the kernel's locking guide (S-LOCK-6)",
    )
    .addOption(cpusOption())
    .addOption(
      new Option('--iterations <n>', 'increments of each side per cell').argParser(intInRange('--iterations', 2, 10_000_000)).default(1000),
    )
    .addOption(
      new Option(
        '--windows <n>',
        'forced windows per cell: the other side triggered between a read and its write (0: only the races that happen by themselves)',
      )
        .argParser(intInRange('--windows', 0, 32))
        .default(3),
    )
    .addOption(amplifyOption())
    .addOption(seedOption("seed of the machines and of the windows' placement (decimal or 0x-hex); random if not given, and printed"))
    .addOption(
      new Option('--rows <ids>', 'only these rows, comma-separated').argParser(
        list(
          '--rows',
          STRESS_ROWS.map((r) => r.id),
        ),
      ),
    )
    .addOption(new Option('--variants <names>', 'only these lock variants, comma-separated').argParser(list('--variants', VARIANTS)))
    .addOption(new Option('--no-lockdep', 'boot the machines without the lock validator'))
    .addOption(jsonOption())
    .action(async (flags: LockingFlags) => {
      process.exitCode = await locking(flags);
    });
}

async function locking(flags: LockingFlags): Promise<number> {
  const out = process.stdout;
  const seed = flags.seed ?? randomSeed();
  out.write(
    `kdefer stress locking — ${flags.cpus} CPUs, ${flags.iterations} increments per side, ${flags.windows} forced windows per cell, ` +
      `seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}, lockdep ${flags.lockdep ? 'on' : 'off'}, node ${process.version}, ${availableParallelism()} cores\n`,
  );
  out.write('each side: lock; read the counter; cpu_relax() x3; write it + 1; unlock — and side A triggers side B once per increment\n\n');
  const nRows = flags.rows?.length ?? STRESS_ROWS.length;
  const nCells = nRows * (flags.variants?.length ?? VARIANTS.length);
  const r: LockingResult = await withProgress({ label: 'stress locking', total: nCells, unit: '', throttleMs: 1000 }, (signal, bar) =>
    runStressLocking({
      cpus: flags.cpus,
      iterations: flags.iterations,
      windows: flags.windows,
      amplify: flags.amplify,
      seed,
      lockdep: flags.lockdep,
      ...(flags.rows ? { rows: flags.rows } : {}),
      ...(flags.variants ? { variants: flags.variants } : {}),
      signal,
      onCell: (done, total, c) => bar.update(done, `cells | ${c.row} ${c.variant}: ${cellText(c)}`),
    }),
  );
  printLocking(r);
  await writeJson(flags.json, 'kdefer-stress-locking', r);
  return exitStatus(r.aborted, r.ok);
}

function cellText(c: CellResult): string {
  switch (c.outcome) {
    case 'correct':
      return 'ok';
    case 'lost':
      return `LOST ${c.lost}`;
    case 'deadlock':
      return 'DEADLOCK';
    case 'report':
      return 'LOCKDEP';
    case 'error':
      return 'ERROR';
    default:
      return c.skipped === 'interrupted' ? '-' : 'n/a';
  }
}

const ROW_LABEL: Record<string, string> = { same: 'same CPU', other: 'other CPU' };
function rowLabel(id: string): string {
  const [pair, where] = id.split('@') as [string, string];
  const [a, b] = pair.split('-') as [string, string];
  const same = a === b ? (a === 'tasklet' ? 'same tasklet' : a === 'hardirq' ? 'same IRQ' : a === 'softirq' ? 'same vector' : '') : '';
  return `${a} / ${b}${same ? ` (${same})` : ''}, ${ROW_LABEL[where] ?? where}`;
}

function printLocking(r: LockingResult): void {
  const out = process.stdout;
  const W0 = 44;
  const W1 = 20;
  const WC = 14;
  const variants = VARIANTS.filter((v) => r.cells.some((c) => c.variant === v));
  out.write(`\n${'who shares the counter'.padEnd(W0)}${'guide (S-LOCK-6)'.padEnd(W1)}${variants.map((v) => v.padEnd(WC)).join('')}\n`);
  const rows = [...new Set(r.cells.map((c) => c.row))];
  for (const id of rows) {
    const cells = r.cells.filter((c) => c.row === id);
    const guide = cells[0]!.guide;
    const texts = variants.map((v) => {
      const c = cells.find((x) => x.variant === v);
      if (!c) return ''.padEnd(WC);
      let t = cellText(c) + (c.outcome !== 'skipped' && !c.agrees ? '!' : '');
      if (c.isPrescribed) t = `[${t}]`;
      return t.padEnd(WC);
    });
    out.write(`${rowLabel(id).padEnd(W0)}${guide.padEnd(W1)}${texts.join('')}\n`);
  }
  out.write(
    '\n[..] the variant the guide prescribes for side A (the one the other side can interrupt); the interrupting side takes plain spin_lock.\n' +
      'ok: exact count, no report | LOST n: updates lost | DEADLOCK: spinlock BUG, machine stopped | LOCKDEP: validator report, count exact | ' +
      '! the runtime disagrees with the guide | n/a: not a locking choice (misuse)\n',
  );

  const reported = r.cells.filter((c) => c.deadlock || c.reports.length > 0 || c.errors.length > 0);
  if (reported.length > 0) {
    out.write('\n== reports (first line of each, by cell) ==\n');
    for (const c of reported) {
      const lines = [
        ...(c.deadlock ? [c.deadlock] : []),
        ...c.reports.filter((x) => x !== c.deadlock),
        ...c.errors.map((e) => `error: ${e}`),
      ];
      out.write(`${`${c.row} ${c.variant}:`.padEnd(42)}${lines.join(' | ')}\n`);
    }
  }
  const disagree = r.cells.filter((c) => c.outcome !== 'skipped' && !c.agrees);
  if (disagree.length > 0) {
    out.write('\n== where the runtime disagrees with the guide ==\n');
    for (const c of disagree) {
      const got =
        c.outcome === 'lost'
          ? `lost ${c.lost} updates`
          : c.outcome === 'report'
            ? c.reports[0]
            : c.outcome === 'correct'
              ? 'no loss and no report'
              : (c.deadlock ?? c.errors[0] ?? c.outcome);
      out.write(`${c.row} ${c.variant}: the guide says ${c.expected === 'correct' ? 'this is correct' : 'this is a bug'}; got ${got}\n`);
    }
  }
  const prescribed = r.cells.filter((c) => c.isPrescribed && c.outcome !== 'skipped');
  const failedPrescribed = prescribed.filter((c) => c.outcome !== 'correct');
  out.write(
    `\nverdict: ${r.agree} of ${r.run} cells agree with the kernel's locking guide; the prescribed lock is clean in ${prescribed.length - failedPrescribed.length} of ${prescribed.length} rows` +
      ` — ${r.ok ? 'PASS' : `FAIL (${failedPrescribed.map((c) => `${c.row} ${c.variant}: ${cellText(c)}`).join('; ') || 'interrupted'})`}` +
      ` [${(r.elapsedMs / 1000).toFixed(1)} s, ${r.machinesBooted} machines, seed ${fmtSeed(r.seed)}, amplify ${r.amplify}]\n`,
  );
}

// ------------------------------------------------------------ stress torture

interface TortureFlags {
  cpus: number;
  seconds: number;
  writers: number;
  readers?: number;
  lock: 'spin' | 'rw';
  softirq: boolean;
  amplify: number;
  seed?: number;
  lockdep: boolean;
  json?: string;
}

function tortureCommand(): Command {
  return new Command('torture')
    .addOption(traceOption())
    .description(
      'lock torture after locktorture.c: writer and reader tasks on every CPU hammer one lock for a bounded time; acquisitions, fairness, failures',
    )
    .addOption(cpusOption())
    .addOption(secondsOption(2))
    .addOption(new Option('--writers <n>', 'writer tasks per CPU').argParser(intInRange('--writers', 0, 64)).default(2))
    .addOption(
      new Option('--readers <n>', 'reader tasks per CPU (rw only; default 2 with --lock rw)').argParser(intInRange('--readers', 0, 64)),
    )
    .addOption(new Option('--lock <type>', 'spin: spinlock_t; rw: rwlock_t').choices(['spin', 'rw']).default('spin'))
    .addOption(new Option('--softirq', 'a softirq writer on every CPU too (the tasks then use the _bh variants)').default(false))
    .addOption(amplifyOption())
    .addOption(seedOption())
    .addOption(new Option('--no-lockdep', 'boot without the lock validator'))
    .addOption(jsonOption())
    .action(async (flags: TortureFlags) => {
      process.exitCode = await torture(flags);
    });
}

async function torture(flags: TortureFlags): Promise<number> {
  const out = process.stdout;
  const seed = flags.seed ?? randomSeed();
  const readers = flags.lock === 'rw' ? (flags.readers ?? 2) : 0;
  const name = flags.lock === 'rw' ? 'rw_lock' : 'spin_lock';
  out.write(
    `kdefer stress torture — ${name}, ${flags.cpus} CPUs, ${flags.writers} writers + ${readers} readers per CPU (tasks${flags.softirq ? ', _bh; a softirq writer per CPU' : ''}), ` +
      `${flags.seconds} s, seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}, lockdep ${flags.lockdep ? 'on' : 'off'}\n`,
  );
  if (flags.lock === 'spin' && flags.readers) out.write('(--readers ignored: a spinlock has no readers, as in locktorture)\n');
  out.write(
    `${name}-torture:--- Start of test: nwriters_stress=${flags.writers * flags.cpus} nreaders_stress=${readers * flags.cpus} stat_interval=0 verbose=1 shutdown_secs=${flags.seconds}\n\n`,
  );
  const r: TortureResult = await withProgress({ label: 'torture', total: flags.seconds, unit: 's', throttleMs: 1000 }, (signal, bar) =>
    runTorture({
      cpus: flags.cpus,
      seconds: flags.seconds,
      writers: flags.writers,
      readers,
      lock: flags.lock,
      softirq: flags.softirq,
      amplify: flags.amplify,
      seed,
      lockdep: flags.lockdep,
      signal,
      onProgress: (p) => bar.update(p.elapsedS, `writes ${compact(p.writes)} | reads ${compact(p.reads)}`),
    }),
  );
  printTorture(r);
  await writeJson(flags.json, 'kdefer-stress-torture', r);
  return exitStatus(r.aborted, r.ok);
}

/** locktorture's line: "Writes:  Total: 93746064  Max/Min: 0/0   Fail: 0" */
function tortureLine(label: string, s: TortureSide): string {
  return `${label}  Total: ${s.total}  Max/Min: ${s.max}/${s.min} ${s.unfair ? '???' : ''}  Fail: ${s.fail} ${s.fail ? '!!!' : ''}`.trimEnd();
}

function printTorture(r: TortureResult): void {
  const out = process.stdout;
  const secs = r.elapsedMs / 1000;
  out.write(`\n${tortureLine('Writes:', r.writes)}\n`);
  if (r.readersPerCpu > 0) out.write(`${tortureLine('Reads :', r.reads)}\n`);
  if (r.softirq) out.write(`${tortureLine('Softirq writes:', r.softirqWrites)}  (${r.irqsRaised} IRQs raised)\n`);
  const rate = (s: TortureSide): string => `${compact(Math.round(s.perSecond))}/s`;
  out.write(
    `acquisitions per second: writes ${rate(r.writes)}${r.readersPerCpu > 0 ? `, reads ${rate(r.reads)}` : ''}${r.softirq ? `, softirq writes ${rate(r.softirqWrites)}` : ''} over ${secs.toFixed(2)} s\n`,
  );
  out.write(
    `fairness (max/min per thread): writes ${fairness(r.writes)}${r.readersPerCpu > 0 ? `, reads ${fairness(r.reads)}` : ''}  (locktorture flags ??? above 2)\n`,
  );
  out.write(
    `per thread: ${r.threads.map((t) => `${threadName(t)} ${compact(t.acquisitions)}${t.failures ? ` (${t.failures} FAIL)` : ''}`).join(', ')}\n`,
  );
  if (r.reports.length > 0) section('kernel reports', r.reports.join('\n'));
  for (const e of r.errors) out.write(`error: ${e}\n`);
  const fails = r.writes.fail + r.reads.fail + r.softirqWrites.fail;
  out.write(
    `\n${r.torture}-torture:--- End of test: ${r.ok ? 'SUCCESS' : 'FAILURE'}: nwriters_stress=${r.writersPerCpu * r.cpus} nreaders_stress=${r.readersPerCpu * r.cpus}` +
      `${r.softirq ? ` softirq_writers=${r.cpus}` : ''} fails=${fails} reports=${r.reports.length} seed=${fmtSeed(r.seed)} amplify=${r.amplify}\n`,
  );
}

const fairness = (s: TortureSide): string => (s.threads === 0 ? '-' : s.min === 0 ? 'inf' : (s.max / s.min).toFixed(2));

// ------------------------------------------------------------ campaigns

interface CampaignFlags {
  trials: number;
  jobs?: number;
  cpus?: number;
  seed?: number;
  shard: { k: number; n: number };
  amplify: number;
  json?: string;
  [scenarioOption: string]: unknown;
}

function scenarioOption(f: ScenarioFlag, dflt: unknown): Option {
  const o = new Option(f.flags, f.description).default(dflt);
  if (f.choices) return o.choices(f.choices);
  if (f.type === 'int') return o.argParser(intInRange(f.flags.split(' ')[0]!, f.min ?? 0, f.max ?? Number.MAX_SAFE_INTEGER));
  if (f.type === 'number') {
    const what = f.flags.split(' ')[0]!;
    return o.argParser((v: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < (f.min ?? -Infinity) || n > (f.max ?? Infinity))
        throw new InvalidArgumentError(`${what} must be a number from ${f.min} to ${f.max}.`);
      return n;
    });
  }
  return o;
}

function campaignCommand(sc: CampaignScenario): Command {
  const cmd = new Command(sc.name)
    .description(`campaign: ${sc.summary}`)
    .addOption(
      new Option('--trials <n>', 'trials of the whole campaign (all shards)')
        .argParser(intInRange('--trials', 1, 100_000_000))
        .default(100),
    )
    .addOption(new Option('--jobs <n>', 'pool workers, each with one machine').argParser(intInRange('--jobs', 1, 256)))
    .addOption(
      new Option('--cpus <n>', 'CPUs of each machine').argParser(intInRange('--cpus', Math.max(1, sc.minCpus), 64)).default(sc.defaultCpus),
    )
    .addOption(
      seedOption(
        'campaign seed: trial i runs with a seed derived from it (trial 0 with the seed itself); random if not given, and printed',
      ),
    )
    .addOption(
      new Option('--shard <k/n>', 'run only the K-th of N disjoint slices of the trials')
        .argParser((v: string) => {
          try {
            return parseShard(v);
          } catch (e) {
            throw new InvalidArgumentError(e instanceof Error ? e.message.replace(/^kdefer: /, '') : String(e));
          }
        })
        .default({ k: 1, n: 1 }, '1/1'),
    )
    .addOption(amplifyOption())
    .addOption(jsonOption());
  for (const f of sc.flags) cmd.addOption(scenarioOption(f, sc.defaults[f.key]));
  return cmd.action(async (flags: CampaignFlags) => {
    process.exitCode = await campaign(sc, flags);
  });
}

async function campaign(sc: CampaignScenario, flags: CampaignFlags): Promise<number> {
  const out = process.stdout;
  const seed = flags.seed ?? randomSeed();
  const cpus = flags.cpus ?? sc.defaultCpus;
  const jobs = flags.jobs ?? defaultJobs(cpus);
  const options: Record<string, unknown> = {};
  for (const f of sc.flags) options[f.key] = flags[f.key] ?? sc.defaults[f.key];
  sc.validate?.(options);
  const shard = flags.shard;
  const inShard = Math.ceil((flags.trials - (shard.k - 1)) / shard.n);
  const optText = sc.flags.map((f) => `${f.flags.split(' ')[0]} ${String(options[f.key])}`).join(' ');
  out.write(
    `kdefer stress ${sc.name} — campaign seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}, ${flags.trials} trials` +
      `${shard.n > 1 ? ` (shard ${shard.k}/${shard.n}: ${inShard} of them)` : ''}, ${jobs} job${jobs === 1 ? '' : 's'} x ${cpus} CPUs, ${availableParallelism()} cores\n`,
  );
  out.write(`${sc.summary}\noptions: ${optText}\n\n`);
  const r: CampaignResult = await withProgress({ label: sc.name, total: Math.max(1, inShard), unit: '', throttleMs: 1000 }, (signal, bar) =>
    runCampaign({
      scenario: sc.name,
      options,
      trials: flags.trials,
      jobs,
      seed,
      amplify: flags.amplify,
      cpus,
      shard,
      signal,
      onTrial: (done, _total, t, failed) => bar.update(done, `trials | ${failed} failed | last: #${t.index} ${t.outcome}`),
    }),
  );
  printCampaignSummary(r.summary, { trials: r.results.length, elapsedMs: r.elapsedMs, machines: r.machines });
  printRerun(r.summary, sc.name, options, sc.flags, flags.amplify, cpus);
  if (flags.json) {
    await writeFile(flags.json, JSON.stringify(r, null, 2) + '\n');
    out.write(`results written to ${flags.json}\n`);
  }
  return exitStatus(r.aborted, r.summary.failed === 0);
}

/** The summary table of a campaign (or of merged shards). */
export function printCampaignSummary(
  s: CampaignSummary,
  run: { trials: number; elapsedMs: number; machines: number; shards?: number },
): void {
  const out = process.stdout;
  const rows: [string, string][] = [
    [
      'trials',
      `${s.ran} of ${s.expected}${s.missing.length > 0 ? ` (${s.missing.length} missing: ${s.missing.slice(0, 10).join(', ')}${s.missing.length > 10 ? ', ...' : ''})` : ''}`,
    ],
    ['passed', String(s.passed)],
    ['failed', String(s.failed)],
    ...Object.entries(s.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]): [string, string] => [`  ${k}`, `${v} (${((100 * v) / Math.max(1, s.ran)).toFixed(1)}%)`]),
    ['lost updates', s.lost.trials > 0 ? `${s.lost.total} in ${s.lost.trials} trials (max ${s.lost.max} in one)` : '0'],
    ['trial time', `median ${s.ms.median.toFixed(1)} ms, max ${s.ms.max.toFixed(1)} ms`],
    ['machines booted', String(run.machines)],
    run.shards && run.shards > 1
      ? ['wall time', `${(run.elapsedMs / 1000).toFixed(2)} s, the longest of ${run.shards} shards`]
      : [
          'wall time',
          `${(run.elapsedMs / 1000).toFixed(2)} s (${(run.trials / Math.max(0.001, run.elapsedMs / 1000)).toFixed(1)} trials/s)`,
        ],
  ];
  out.write('\n== summary ==\n');
  for (const [k, v] of rows) out.write(`${k.padEnd(18)}${v}\n`);
  if (s.firstFailure)
    out.write(
      `${'first failure'.padEnd(18)}trial #${s.firstFailure.index}, seed ${s.firstFailure.seedHex}: ${s.firstFailure.outcome} — ${s.firstFailure.detail}\n`,
    );
}

/** The command line that reruns the first failing trial alone. */
export function printRerun(
  s: CampaignSummary,
  scenario: string,
  options: Record<string, unknown>,
  flags: readonly ScenarioFlag[],
  amplify: number,
  cpus: number,
): void {
  if (!s.firstFailure) {
    process.stdout.write(`\n${scenario}: all ${s.ran} trials passed\n`);
    return;
  }
  const opts = flags.map((f) => `${f.flags.split(' ')[0]} ${String(options[f.key])}`).join(' ');
  let own: CampaignScenario | undefined;
  try {
    own = campaignScenario(scenario);
  } catch {
    // a scenario this kdefer does not know: the stress line
  }
  const line = own?.rerun
    ? own.rerun(options, s.firstFailure.seedHex, amplify, cpus)
    : `kdefer stress ${scenario} ${opts} --cpus ${cpus} --amplify ${amplify} --seed ${s.firstFailure.seedHex} --trials 1`;
  process.stdout.write(`\n${scenario}: ${s.failed} of ${s.ran} trials FAILED; rerun the first: ${line}\n`);
}
