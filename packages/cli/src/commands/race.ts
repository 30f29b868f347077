/**
 * commands/race.ts — `kdefer race <case>`: the del_timer race lab.
 *
 * Runs scenarios/race.ts for one case and prints what a person wants to see
 * of it: the machine, live progress, one row per API variant (trials run,
 * races hit, reports in dmesg, hit rate), the first report the buggy variant
 * produced, and the verdict. Exit status 0 when every fixed variant ran with
 * no report, 1 otherwise, 130 if interrupted.
 */
import { availableParallelism } from 'node:os';
import { Command, Argument, Option } from 'commander';
import { runRace, RACE_CASES, raceCase, type RaceResult, type RaceProgress } from '../scenarios/race.js';
import { cpusOption, intInRange, traceOption } from '../options.js';
import { seedOption, amplifyOption, randomSeed, fmtSeed, fmtAmplify } from '../seed.js';
import { withProgress, exitStatus } from './common.js';

interface RaceFlags {
  cpus: number;
  trials?: number;
  seed?: number;
  amplify: number;
}

/** How many progress updates a run gets at most (plain lines in logs). */
const PROGRESS_STEPS = 20;

/** The `race` command. */
export function raceCommand(): Command {
  const width = Math.max(...RACE_CASES.map((c) => c.name.length));
  const cases = RACE_CASES.map((c) => `  ${c.name.padEnd(width)}  ${c.statement.padEnd(9)} ${c.summary}`).join('\n');
  return new Command('race')
    .addOption(traceOption())
    .description(
      'reproduce a del_timer/tasklet teardown race: many natural trials per API variant, counting the kernel reports each produces',
    )
    .addArgument(new Argument('<case>', 'the race case (listed below)').choices(RACE_CASES.map((c) => c.name)))
    .addOption(cpusOption())
    .addOption(
      new Option('--trials <n>', "trials per API variant (default: the case's, shown below)").argParser(
        intInRange('--trials', 1, 1_000_000),
      ),
    )
    .addOption(
      seedOption(
        "seed of the trials' random delays (decimal or 0x-hex; trial i of every variant gets the same delay); random if not given, and printed",
      ),
    )
    .addOption(amplifyOption())
    .addHelpText(
      'after',
      `\nCases (SEMANTICS.md statement, what goes wrong):\n${cases}\n\n` +
        `Default trials per variant: ${RACE_CASES.map((c) => `${c.name} ${c.defaultTrials}`).join(', ')}.\n` +
        'A trial HITS when dmesg gained a report during it. Exit status: 0 if the fixed variants had no report, 1 otherwise.',
    )
    .showHelpAfterError()
    .action(async (name: string, flags: RaceFlags) => {
      process.exitCode = await race(name, flags);
    });
}

async function race(name: string, flags: RaceFlags): Promise<number> {
  const out = process.stdout;
  const c = raceCase(name);
  const trials = flags.trials ?? c.defaultTrials;
  const seed = flags.seed ?? randomSeed();
  if (flags.cpus < 2) {
    process.stderr.write('kdefer race: --cpus must be at least 2 (CPU 0 tears down, CPU 1 runs the deferred work)\n');
    return 2;
  }
  out.write(`kdefer race ${c.name} — ${c.statement}: ${c.summary}\n`);
  out.write(
    `machine: ${flags.cpus} CPUs, HZ=1000, node ${process.version}, ${availableParallelism()} cores; ${trials} trials per variant, seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}\n`,
  );
  out.write(`a hit: ${c.hit}\n\n`);
  const total = trials * c.variants.length;
  const step = Math.max(1, Math.floor(total / PROGRESS_STEPS));
  const result: RaceResult = await withProgress({ label: `race ${c.name}`, total }, (signal, bar) =>
    runRace({
      case: c.name,
      cpus: flags.cpus,
      trials,
      seed,
      amplify: flags.amplify,
      signal,
      onProgress: (p: RaceProgress) => {
        if (p.done % step === 0 || p.trial === p.trials) bar.update(p.done, progressLine(p));
      },
    }),
  );
  printResult(result);
  return exitStatus(result.aborted, result.ok);
}

function progressLine(p: RaceProgress): string {
  return `${p.api}: trial ${p.trial}/${p.trials}, ${p.hits} hit${p.hits === 1 ? '' : 's'}`;
}

/** The table: one row per API variant. */
export function formatRaceTable(r: RaceResult): string {
  const head = ['API', '', 'trials', 'races hit', 'reports in dmesg', 'hit rate'];
  const rows = r.rows.map((x) => [
    x.api,
    x.fixed ? 'fixed' : 'buggy',
    String(x.trials),
    String(x.hits),
    String(x.reports),
    `${(100 * x.hitRate).toFixed(1)} %`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i < 2 ? cell.padEnd(w[i]!) : cell.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

function printResult(r: RaceResult): void {
  const out = process.stdout;
  out.write(`\n${formatRaceTable(r)}`);
  out.write(
    `(${(r.elapsedMs / 1000).toFixed(1)} s, ${r.rows.reduce((a, x) => a + x.machines, 0)} machines booted, seed ${fmtSeed(r.seed)}${r.aborted ? '; interrupted' : ''})\n`,
  );
  const shown = r.rows.find((x) => x.firstReport.length > 0);
  if (shown) {
    out.write(`\nfirst report, ${shown.api}:\n`);
    for (const l of shown.firstReport) out.write(`  ${l}\n`);
  }
  for (const row of r.rows) {
    if (row.errors.length > 0)
      out.write(
        `\n${row.api}: ${row.errors.length} trial(s) failed without a report:\n${row.errors
          .slice(0, 3)
          .map((e) => `  ${e}`)
          .join('\n')}\n`,
      );
  }
  const fixed = r.rows.filter((x) => x.fixed);
  const buggy = r.rows.filter((x) => !x.fixed);
  const fixedTrials = fixed.reduce((a, x) => a + x.trials, 0);
  const bad = fixed.filter((x) => x.reports > 0 || x.errors.length > 0);
  out.write('\n');
  for (const b of buggy) out.write(`${b.api}: ${b.hits} of ${b.trials} trials hit the race\n`);
  if (bad.length === 0)
    out.write(
      `race ${r.case}: OK — the fixed variant${fixed.length > 1 ? 's' : ''} (${fixed.map((x) => x.api).join(', ')}) had no report in ${fixedTrials} trials\n`,
    );
  else
    out.write(`race ${r.case}: FAILED — ${bad.map((x) => `${x.api}: ${x.reports} report(s), ${x.errors.length} error(s)`).join('; ')}\n`);
}
