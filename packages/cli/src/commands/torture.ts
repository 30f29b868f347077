/**
 * commands/torture.ts — `kdefer torture FILE --call ENTRY ...`: your own
 * module's entries tortured, locktorture-style (scenarios/usermod_torture.ts).
 *
 *   --call ENTRY[@CPU|@all][:ARG...]   repeatable; the entry is called again and
 *                                      again as a task, on every CPU unless @CPU
 *   --setup / --teardown ENTRY[:ARG...] once on CPU 0 before / after (probe, remove)
 *   --irq LINE[:RATE][@CPU]            the IRQ load, as kdefer run's
 *   --seconds S                        the time bound (of each trial with --trials)
 *   --trials N                         a campaign: N seeded trials, one fresh
 *                                      machine each, in a piscina pool of --jobs
 *                                      workers (default: as many machines as the
 *                                      cores hold); --shard K/N, --json FILE, and
 *                                      `kdefer report` merges the shards' files
 *
 * Exit status: 0 clean, 1 when a report came or an entry failed (any trial
 * with --trials), 2 on bad usage or a module that does not load, 130 if
 * interrupted.
 */
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Command, Option, InvalidArgumentError, type CommanderError } from 'commander';
import { Machine } from '@kdefer/workers';
import { cpusOption, secondsOption, hzOption, intInRange } from '../options.js';
import { seedOption, amplifyOption, randomSeed, fmtSeed, fmtAmplify } from '../seed.js';
import { withProgress, exitStatus, section, compact } from './common.js';
import { parseCall, parseIrq } from './run.js';
import { prepareModule, explainLoadError, ModuleFileError } from '../usermod.js';
import {
  runUserTorture,
  parseTortureCall,
  tortureSpec,
  userTorture,
  type UserTortureOptions,
  type UserTortureResult,
} from '../scenarios/usermod_torture.js';
import { runCampaign, parseShard, defaultJobs } from '../scenarios/campaign.js';
import { printCampaignSummary, printRerun } from './stress.js';

interface TortureFlags {
  cpus: number;
  seconds: number;
  hz: number;
  seed?: number;
  amplify: number;
  call?: string[];
  irq?: string[];
  setup?: string[];
  teardown?: string[];
  settle: number;
  trials?: number;
  jobs?: number;
  shard: { k: number; n: number };
  json?: string;
}

/** Check each value with `parse` now (a bad one is a usage error) and keep the text: it travels to the pool. */
const collectChecked =
  (parse: (v: string) => unknown) =>
  (v: string, prev: string[] | undefined): string[] => {
    parse(v);
    return [...(prev ?? []), v];
  };

/** The `torture` command. */
export function tortureCommand(): Command {
  return new Command('torture')
    .description(
      'locktorture over your own module (FILE: .js, .mjs or .ts): the --call entries again and again on every CPU with the --irq load; counts, fairness, the first report; --trials N for a campaign',
    )
    .argument('<file>', 'the module file')
    .addOption(cpusOption())
    .addOption(secondsOption(2))
    .addOption(hzOption())
    .addOption(seedOption('the machine seed (campaign seed with --trials); random if not given, and printed'))
    .addOption(amplifyOption())
    .addOption(
      new Option('--call <spec>', 'ENTRY[@CPU|@all][:ARG...]: an entry to torture, on every CPU unless @CPU (repeatable)').argParser(
        collectChecked(parseTortureCall),
      ),
    )
    .addOption(
      new Option('--setup <spec>', 'ENTRY[:ARG...]: once on CPU 0 before the torture, e.g. probe (repeatable)').argParser(
        collectChecked(parseCall),
      ),
    )
    .addOption(
      new Option('--teardown <spec>', 'ENTRY[:ARG...]: once on CPU 0 after it, e.g. remove (repeatable)').argParser(
        collectChecked(parseCall),
      ),
    )
    .addOption(
      new Option('--irq <spec>', 'LINE[:RATE][@CPU]: the IRQ load, as kdefer run (repeatable)').argParser(collectChecked(parseIrq)),
    )
    .addOption(
      new Option('--settle <ms>', 'after the teardown, run on this long for what it left behind')
        .argParser(intInRange('--settle', 0, 60_000))
        .default(100),
    )
    .addOption(
      new Option('--trials <n>', 'a campaign of N seeded trials, one fresh machine each').argParser(intInRange('--trials', 1, 100_000_000)),
    )
    .addOption(
      new Option('--jobs <n>', 'pool workers of a campaign (default: machines the cores hold)').argParser(intInRange('--jobs', 1, 256)),
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
    .addOption(new Option('--json <file>', 'also write the results as JSON to FILE (a campaign: for kdefer report)'))
    .exitOverride((e: CommanderError) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action(async (file: string, flags: TortureFlags) => {
      process.exitCode = await torture(file, flags);
    });
}

function usage(msg: string): number {
  process.stderr.write(`kdefer torture: ${msg}\n`);
  return 2;
}

async function torture(file: string, flags: TortureFlags): Promise<number> {
  const o: UserTortureOptions = {
    file: resolve(file),
    calls: flags.call ?? [],
    irqs: flags.irq ?? [],
    setup: flags.setup ?? [],
    teardown: flags.teardown ?? [],
    seconds: flags.seconds,
    hz: flags.hz,
    settle: flags.settle,
  };
  if (o.calls.length === 0) return usage('name at least one entry to torture: --call ENTRY[@CPU|@all][:ARG...]');
  const spec = tortureSpec(o);
  for (const c of [...spec.calls, ...spec.setup, ...spec.teardown])
    if (c.cpu !== 'all' && c.cpu >= flags.cpus) return usage(`${c.entry}@${c.cpu}: CPU ${c.cpu} does not exist (--cpus ${flags.cpus})`);
  for (const q of spec.irqs)
    if (q.cpu !== null && q.cpu >= flags.cpus) return usage(`--irq ${q.line}@${q.cpu}: CPU ${q.cpu} does not exist (--cpus ${flags.cpus})`);
  if (flags.trials === undefined && (flags.shard.n > 1 || flags.jobs !== undefined))
    return usage('--shard and --jobs are for a campaign: give --trials N');
  // The module is checked (and compiled) here first, so that a bad file is one clear error, not one per trial.
  let mod;
  try {
    mod = await prepareModule(file);
  } catch (e) {
    if (e instanceof ModuleFileError) return usage(e.message);
    throw e;
  }
  if (flags.trials !== undefined) {
    mod.cleanup();
    return campaign(o, flags);
  }
  const seed = flags.seed ?? randomSeed();
  const out = process.stdout;
  out.write(
    `kdefer torture ${file} — ${flags.cpus} CPUs, HZ=${flags.hz}, ${flags.seconds} s, seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}\n`,
  );
  const m = await Machine.boot({ cpus: flags.cpus, hz: flags.hz, seed, amplify: flags.amplify });
  try {
    let name: string;
    try {
      const loaded = await m.loadModules([mod.url]);
      name = Object.keys(loaded)[0]!;
      const missing = [...spec.calls, ...spec.setup, ...spec.teardown].map((c) => c.entry).filter((e) => !loaded[name]!.includes(e));
      if (missing.length > 0)
        return usage(
          `${file}: module '${name}' has no entry ${[...new Set(missing)].map((e) => `'${e}'`).join(', ')} (entries: ${loaded[name]!.join(', ') || 'none'})`,
        );
    } catch (e) {
      return usage(await explainLoadError(e, mod));
    }
    for (const q of spec.irqs) {
      try {
        m.setIrqAffinity(q.line, q.cpu !== null ? [q.cpu] : Array.from({ length: m.cpus }, (_, k) => k));
      } catch (e) {
        return usage(`--irq ${q.line}: ${e instanceof Error ? e.message.replace(/^kdefer: /, '') : String(e)}`);
      }
    }
    out.write(
      `${name}-torture:--- Start of test: entries=${spec.calls.map((c) => c.entry).join(',')} irqs=${o.irqs.join(',') || 'none'} shutdown_secs=${flags.seconds}\n\n`,
    );
    const r = await withProgress({ label: 'torture', total: flags.seconds, unit: 's', throttleMs: 1000 }, (signal, bar) =>
      runUserTorture(m, name, { ...spec, signal, onProgress: (s, n) => bar.update(s, `calls ${compact(n)}`) }),
    );
    printResult(name, r);
    if (flags.json) {
      await writeFile(
        flags.json,
        JSON.stringify({ kind: 'kdefer-torture-module', version: 1, file: o.file, options: o, seed, ...r }, null, 2) + '\n',
      );
      out.write(`results written to ${flags.json}\n`);
    }
    return exitStatus(r.aborted, r.ok);
  } finally {
    await m.shutdown();
    mod.cleanup();
  }
}

const fair = (f: number): string => (Number.isFinite(f) ? f.toFixed(2) : 'inf');

function printResult(name: string, r: UserTortureResult): void {
  const out = process.stdout;
  for (const s of r.setup) out.write(`${s.label.padEnd(24)} ${s.ok ? 'returned' : 'FAILED'}${s.detail ? `  ${s.detail}` : ''}\n`);
  out.write('\n');
  const secs = r.elapsedMs / 1000;
  for (const e of r.entries)
    out.write(
      `${`${e.entry}:`.padEnd(16)} Total: ${e.total}  Max/Min: ${e.max}/${e.min}${e.fairness > 2 ? ' ???' : ''}  Fail: ${e.failures}${e.failures ? ' !!!' : ''}  (${compact(Math.round(e.perSecond))}/s)\n`,
    );
  out.write(
    `fairness (max/min per CPU): ${r.entries.map((e) => `${e.entry} ${fair(e.fairness)}`).join(', ')}  (locktorture flags ??? above 2)\n`,
  );
  out.write(`per CPU: ${r.loops.map((l) => `${l.entry}@${l.cpu} ${compact(l.calls)}${l.failures ? ' (FAILED)' : ''}`).join(', ')}\n`);
  out.write(`IRQs raised: ${r.irqsRaised}\n`);
  for (const l of r.loops) if (l.firstError) out.write(`error: ${l.entry}@${l.cpu}: ${l.firstError}\n`);
  if (r.firstReport) section('first report', r.firstReport);
  if (r.reports.length > 1) section('kernel reports', r.reports.join('\n'));
  const fails = r.entries.reduce((a, e) => a + e.failures, 0) + r.setup.filter((s) => !s.ok).length;
  out.write(
    `\n${name}-torture:--- End of test: ${r.ok ? 'SUCCESS' : 'FAILURE'}: calls=${r.entries.reduce((a, e) => a + e.total, 0)} fails=${fails} reports=${r.reports.length} [${secs.toFixed(2)} s]\n`,
  );
}

async function campaign(o: UserTortureOptions, flags: TortureFlags): Promise<number> {
  const out = process.stdout;
  const seed = flags.seed ?? randomSeed();
  const cpus = flags.cpus;
  const trials = flags.trials!;
  const jobs = flags.jobs ?? defaultJobs(cpus);
  const shard = flags.shard;
  const inShard = Math.ceil((trials - (shard.k - 1)) / shard.n);
  out.write(
    `kdefer torture ${o.file} — campaign seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}, ${trials} trials of ${o.seconds} s` +
      `${shard.n > 1 ? ` (shard ${shard.k}/${shard.n}: ${inShard} of them)` : ''}, ${jobs} job${jobs === 1 ? '' : 's'} x ${cpus} CPUs, ${availableParallelism()} cores\n`,
  );
  out.write(
    `entries: ${o.calls.join(' ')}${o.irqs.length ? `; irqs: ${o.irqs.join(' ')}` : ''}${o.setup.length ? `; setup: ${o.setup.join(' ')}` : ''}${o.teardown.length ? `; teardown: ${o.teardown.join(' ')}` : ''}\n`,
  );
  const r = await withProgress({ label: 'torture', total: Math.max(1, inShard), unit: '', throttleMs: 1000 }, (signal, bar) =>
    runCampaign({
      scenario: userTorture.name,
      options: o,
      trials,
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
  printRerun(r.summary, userTorture.name, o, [], flags.amplify, cpus);
  if (flags.json) {
    await writeFile(flags.json, JSON.stringify(r, null, 2) + '\n');
    out.write(`results written to ${flags.json}\n`);
  }
  return exitStatus(r.aborted, r.summary.failed === 0);
}
