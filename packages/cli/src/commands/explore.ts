/**
 * commands/explore.ts — deterministic mode on the command line (issue 12):
 *
 *   kdefer explore <race-case | FILE> [--strategy pct|random] [--depth D] [--p P]
 *                  [--runs N] [--seed S] [--cpus N] [--api API] [--keep-going]
 *                  [--call ENTRY[@CPU][:ARG...]] [--setup ...] [--teardown ...] [-o FILE]
 *   kdefer replay FILE        re-run a schedule exactly: the same report, or a divergence
 *   kdefer shrink FILE [-o OUT] [--max-tests N]
 *
 * explore runs schedules (one fresh machine each) until one fails, writes
 * its schedule file and prints the replay and shrink commands; its exit
 * status is 1 on a failure, 0 when every run passed. replay exits 0 when it
 * reproduced the recorded report, 1 otherwise. shrink writes the smallest
 * failing schedule it found and prints the switch and step counts before
 * and after. A FILE target is your own module, as `kdefer torture FILE`
 * takes it, with each --call entry called once per run.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option, Argument } from 'commander';
import { intInRange, positiveNumber } from '../options.js';
import { seedOption, randomSeed, fmtSeed } from '../seed.js';
import { withProgress, exitStatus, section } from './common.js';
import { RACE_CASES } from '../scenarios/race.js';
import { parseCall } from './run.js';
import { ModuleFileError } from '../usermod.js';
import {
  explore,
  exhaustive,
  replay,
  shrink,
  readScheduleFile,
  reportSignature,
  type DetTarget,
  type ScheduleFile,
  type DetRunResult,
} from '../scenarios/explore.js';

interface ExploreFlags {
  strategy: 'pct' | 'random' | 'exhaustive';
  maxPreemptions: number;
  lockdep: boolean;
  depth: number;
  p: number;
  runs: number;
  seed?: number;
  cpus: number;
  api?: string;
  keepGoing?: boolean;
  call?: string[];
  setup?: string[];
  teardown?: string[];
  output?: string;
}

const collect = (v: string, prev: string[] = []): string[] => {
  parseCall(v); // a bad spec is a usage error now
  return [...prev, v];
};

function usage(cmd: string, msg: string): number {
  process.stderr.write(`kdefer ${cmd}: ${msg}\n`);
  return 2;
}

/** `kdefer explore` */
export function exploreCommand(): Command {
  return new Command('explore')
    .description(
      'deterministic mode: run a race case or your own module under many seeded schedules (one CPU at a time) until one fails; write its schedule file',
    )
    .addArgument(new Argument('<target>', `a race case (${RACE_CASES.map((c) => c.name).join(', ')}) or a module file (.js, .mjs, .ts)`))
    .addOption(
      new Option(
        '--strategy <s>',
        'pct (PCT priorities, d-1 change points), random (switch with probability p) or exhaustive (every schedule within --max-preemptions)',
      )
        .choices(['pct', 'random', 'exhaustive'])
        .default('pct'),
    )
    .addOption(
      new Option('--max-preemptions <b>', 'exhaustive: the preemption bound (switches away from a CPU that could go on)')
        .argParser(intInRange('--max-preemptions', 0, 8))
        .default(1),
    )
    .addOption(
      new Option('--no-lockdep', 'module file: boot without the lock validator (explore deadlocks that happen, not predicted ones)'),
    )
    .addOption(new Option('--depth <d>', 'pct: bug depth d').argParser(intInRange('--depth', 1, 33)).default(2))
    .addOption(new Option('--p <p>', 'random: switch probability at a preemption point').argParser(positiveNumber('--p', 1)).default(0.05))
    .addOption(new Option('--runs <n>', 'schedules to run at most').argParser(intInRange('--runs', 1, 10_000_000)).default(200))
    .addOption(seedOption('seed of the exploration (decimal or 0x-hex; run i gets its own seed from it); random if not given, and printed'))
    .addOption(new Option('--cpus <n>', 'simulated CPUs').argParser(intInRange('--cpus', 2, 64)).default(2))
    .addOption(new Option('--api <api>', "race case: the API variant (default: the case's buggy one)"))
    .addOption(new Option('--keep-going', 'do not stop at the first failure: count them'))
    .addOption(
      new Option('--call <spec>', 'module file: ENTRY[@CPU][:ARG...] called once per run, all at once (repeatable)').argParser(collect),
    )
    .addOption(new Option('--setup <spec>', 'module file: ENTRY[@CPU][:ARG...] before the calls (repeatable)').argParser(collect))
    .addOption(new Option('--teardown <spec>', 'module file: ENTRY[@CPU][:ARG...] after them (repeatable)').argParser(collect))
    .addOption(new Option('-o, --output <file>', 'the schedule file of the first failure (default kdefer-schedule-<seed>.json)'))
    .showHelpAfterError()
    .action(async (target: string, flags: ExploreFlags) => {
      process.exitCode = await runExplore(target, flags);
    });
}

function targetOf(target: string, flags: ExploreFlags): DetTarget | string {
  if (RACE_CASES.some((c) => c.name === target)) {
    if (flags.call || flags.setup || flags.teardown) return '--call, --setup and --teardown are for a module file, not a race case';
    return { kind: 'race', case: target, api: flags.api };
  }
  if (flags.api !== undefined) return '--api is for a race case';
  if (!/\.(m?js|m?ts)$/.test(target))
    return `'${target}' is neither a race case (${RACE_CASES.map((c) => c.name).join(', ')}) nor a module file (.js, .mjs, .ts)`;
  if (!flags.call || flags.call.length === 0) return 'name the entries to run: --call ENTRY[@CPU][:ARG...]';
  return {
    kind: 'module',
    file: resolve(target),
    calls: flags.call,
    setup: flags.setup ?? [],
    teardown: flags.teardown ?? [],
    ...(flags.lockdep === false ? { boot: { lockdep: false } } : {}),
  };
}

function describeTarget(t: DetTarget): string {
  return t.kind === 'race' ? `race case ${t.case}${t.api ? ` (${t.api})` : ''}` : `${t.file} (${t.calls.join(' ')})`;
}

async function runExplore(target: string, flags: ExploreFlags): Promise<number> {
  const t = targetOf(target, flags);
  if (typeof t === 'string') return usage('explore', t);
  const seed = flags.seed ?? randomSeed();
  const out = process.stdout;
  if (flags.strategy === 'exhaustive') return runExhaustive(t, seed, flags);
  const strat = flags.strategy === 'pct' ? `pct(depth=${flags.depth})` : `random(p=${flags.p})`;
  out.write(
    `kdefer explore ${describeTarget(t)} — strategy ${strat}, up to ${flags.runs} runs, seed ${fmtSeed(seed)}, ${flags.cpus} CPUs, one at a time\n`,
  );
  let r;
  try {
    r = await withProgress({ label: 'explore', total: flags.runs, throttleMs: 1000 }, (signal, bar) =>
      explore({
        target: t,
        strategy: flags.strategy as 'pct' | 'random',
        runs: flags.runs,
        seed,
        cpus: flags.cpus,
        depth: flags.depth,
        p: flags.p,
        keepGoing: flags.keepGoing,
        signal,
        onRun: (i, x, failures) => bar.update(i + 1, `runs | ${failures} failed | last: ${x.steps} steps, ${x.switches.length} switches`),
      }),
    );
  } catch (e) {
    if (e instanceof ModuleFileError) return usage('explore', e.message);
    throw e;
  }
  out.write(
    `${r.runs} run${r.runs === 1 ? '' : 's'} in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.failures} failed${flags.strategy === 'pct' ? `; k (choice points) ${r.k}` : ''}\n`,
  );
  if (flags.strategy === 'pct' && r.k > 0) {
    const n = flags.cpus;
    const bound = 1 / (n * Math.pow(r.k, flags.depth - 1));
    out.write(
      `PCT guarantee: a bug of depth ${flags.depth} is found with probability at least 1/(n·k^(d-1)) = ${bound.toExponential(2)} per run (n=${n}, k=${r.k})\n`,
    );
  }
  if (!r.first) {
    out.write(r.aborted ? 'interrupted: no failure so far\n' : 'no failure\n');
    return exitStatus(r.aborted, true);
  }
  writeFailure(r.first, r.firstAt, flags.output ?? `kdefer-schedule-${fmtSeed(r.first.schedule.seed ?? 0)}.json`);
  return 1;
}

function writeFailure(f: ScheduleFile, at: number, file: string): void {
  const out = process.stdout;
  writeFileSync(file, JSON.stringify(f, null, 1) + '\n');
  out.write(
    `\nfirst failure at run ${at + 1}: ${f.steps} steps, ${f.switches.length} switches, seed ${fmtSeed(f.schedule.seed ?? f.trialSeed)}\n`,
  );
  if (f.report) section('report', f.report.text);
  out.write(`\nschedule: ${file}\n  replay: kdefer replay ${file}\n  shrink: kdefer shrink ${file}\n`);
}

async function runExhaustive(t: DetTarget, seed: number, flags: ExploreFlags): Promise<number> {
  const out = process.stdout;
  out.write(
    `kdefer explore ${describeTarget(t)} — strategy exhaustive(max preemptions ${flags.maxPreemptions}), up to ${flags.runs} schedules, seed ${fmtSeed(seed)}, ${flags.cpus} CPUs, one at a time\n`,
  );
  let r;
  try {
    r = await withProgress({ label: 'explore', total: flags.runs, throttleMs: 1000 }, (signal, bar) =>
      exhaustive({
        target: t,
        cpus: flags.cpus,
        seed,
        maxPreemptions: flags.maxPreemptions,
        maxSchedules: flags.runs,
        keepGoing: flags.keepGoing,
        signal,
        onRun: (i, _x, failures, queued) => bar.update(i + 1, `schedules | ${failures} failed | ${queued} queued`),
      }),
    );
  } catch (e) {
    if (e instanceof ModuleFileError) return usage('explore', e.message);
    throw e;
  }
  out.write(
    r.exhausted
      ? `exhausted: all ${r.schedules} schedules with at most ${r.maxPreemptions} preemption${r.maxPreemptions === 1 ? '' : 's'} ran in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.failures} failed\n`
      : `${r.schedules} schedules in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.failures} failed; the space was not exhausted${r.failures > 0 && !flags.keepGoing ? ' (stopped at the first failure; --keep-going runs it all)' : r.aborted ? ' (interrupted)' : ` (--runs ${flags.runs} reached)`}\n`,
  );
  if (!r.first) return exitStatus(r.aborted, true);
  writeFailure(r.first, r.firstAt, flags.output ?? `kdefer-schedule-exhaustive-${fmtSeed(seed)}.json`);
  return 1;
}

/** The last switches before the end, one line each: who ran from which step. */
function formatSwitches(f: ScheduleFile, last = 12): string {
  const sw = f.switches.slice(-last);
  const who = (c: number): string => (c === -1 ? 'host' : `CPU${c}`);
  return sw.map(([s, c]) => `  step ${String(s).padStart(6)}: -> ${who(c!)}`).join('\n');
}

function printRun(r: DetRunResult): void {
  if (r.report) section('report', r.report.text);
  else process.stdout.write('no report\n');
  if (r.error) process.stdout.write(`entry error: ${r.error}\n`);
}

/** `kdefer replay FILE` */
export function replayCommand(): Command {
  return new Command('replay')
    .description('deterministic mode: re-run a schedule file exactly (strict: a run that leaves the schedule stops matching with the step)')
    .addArgument(new Argument('<file>', 'a schedule file (kdefer explore / shrink)'))
    .showHelpAfterError()
    .action(async (file: string) => {
      process.exitCode = await runReplay(file);
    });
}

async function runReplay(file: string): Promise<number> {
  const out = process.stdout;
  let f: ScheduleFile;
  try {
    f = readScheduleFile(file);
  } catch (e) {
    return usage('replay', (e instanceof Error ? e.message : String(e)).replace(/^kdefer: /, ''));
  }
  out.write(`kdefer replay ${file} — ${describeTarget(f.target)}, ${f.cpus} CPUs, ${f.switches.length} switches, ${f.steps} steps\n`);
  const r = await replay(f);
  for (const c of r.changed) out.write(`warning: ${c} changed since the schedule was recorded (its SHA-256 differs)\n`);
  printRun(r.run);
  out.write(`\nlast switches:\n${formatSwitches(f)}\n`);
  if (r.run.divergence) {
    out.write(`\n${r.run.divergence}\n`);
    return 1;
  }
  if (r.reproduced) {
    out.write(`\nreproduced: ${reportSignature(f.report)} (${r.run.steps} steps, the same schedule)\n`);
    return 0;
  }
  out.write(
    `\nNOT reproduced: recorded ${reportSignature(f.report) || 'no report'}, got ${reportSignature(r.run.report) || 'no report'}\n`,
  );
  return 1;
}

interface ShrinkFlags {
  output?: string;
  maxTests: number;
}

/** `kdefer shrink FILE` */
export function shrinkCommand(): Command {
  return new Command('shrink')
    .description('deterministic mode: minimise a failing schedule (ddmin over its switches, keeping the same report) and write it')
    .addArgument(new Argument('<file>', 'a failing schedule file (kdefer explore)'))
    .addOption(new Option('-o, --output <file>', 'where to write the shrunk schedule (default FILE with .min.json)'))
    .addOption(new Option('--max-tests <n>', 'candidate runs at most').argParser(intInRange('--max-tests', 1, 1_000_000)).default(300))
    .showHelpAfterError()
    .action(async (file: string, flags: ShrinkFlags) => {
      process.exitCode = await runShrink(file, flags);
    });
}

async function runShrink(file: string, flags: ShrinkFlags): Promise<number> {
  const out = process.stdout;
  let f: ScheduleFile;
  try {
    f = readScheduleFile(file);
  } catch (e) {
    return usage('shrink', (e instanceof Error ? e.message : String(e)).replace(/^kdefer: /, ''));
  }
  out.write(
    `kdefer shrink ${file} — ${describeTarget(f.target)}: ${f.switches.length} switches, ${f.steps} steps, keeping ${reportSignature(f.report)}\n`,
  );
  let r;
  try {
    r = await withProgress({ label: 'shrink', total: flags.maxTests, throttleMs: 1000 }, (_signal, bar) =>
      shrink(f, { maxTests: flags.maxTests, onTest: (n, best) => bar.update(n, `candidate runs | best ${best} switches`) }),
    );
  } catch (e) {
    return usage('shrink', (e instanceof Error ? e.message : String(e)).replace(/^kdefer: /, ''));
  }
  const dest = flags.output ?? file.replace(/(\.json)?$/, '.min.json');
  writeFileSync(dest, JSON.stringify(r.file, null, 1) + '\n');
  out.write(
    `switches: ${r.before.switches} -> ${r.after.switches}, steps: ${r.before.steps} -> ${r.after.steps} (${r.tests} candidate runs)\n`,
  );
  out.write(
    `${r.verified ? 'verified: a strict replay reproduces the report' : 'NOT verified: the strict replay of the result did not reproduce the report'}\n`,
  );
  out.write(`written to ${dest}\n  replay: kdefer replay ${dest}\n`);
  return r.verified ? 0 : 1;
}
