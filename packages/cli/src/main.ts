#!/usr/bin/env node
/**
 * main.ts — the `kdefer` command.
 *
 * One subcommand per file under commands/, each a factory returning a
 * commander Command; adding `race`, `stress`, `bench scaling` or `report`
 * is one file there and one line in COMMANDS below. Scenarios themselves
 * live in scenarios/ and print nothing, so that tests call them directly
 * (index.ts).
 */
import { Command } from 'commander';
import { tourCommand } from './commands/tour.js';
import { stressCommand } from './commands/stress.js';
import { reportCommand } from './commands/report.js';
import { benchCommand } from './commands/bench.js';
import { raceCommand } from './commands/race.js';
import { workqueueCommand } from './commands/workqueue.js';
import { runCommand } from './commands/run.js';
import { initCommand } from './commands/init.js';
import { tortureCommand } from './commands/torture.js';
import { historyCommand } from './commands/history.js';
import { exploreCommand, replayCommand, shrinkCommand } from './commands/explore.js';
import { collectTraces } from './trace_file.js';

const COMMANDS: (() => Command)[] = [
  tourCommand,
  stressCommand,
  reportCommand,
  benchCommand,
  raceCommand,
  workqueueCommand,
  runCommand,
  initCommand,
  tortureCommand,
  historyCommand,
  exploreCommand,
  replayCommand,
  shrinkCommand,
];

async function main(argv: string[]): Promise<void> {
  const program = new Command('kdefer')
    .description("the Linux kernel's deferred-work machinery (softirqs, hardirqs, spinlocks) on real threads, one per simulated CPU")
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions();
  for (const make of COMMANDS) program.addCommand(make());
  // --trace FILE on a command that boots machines: every machine it boots
  // records tracepoints, and their traces are merged into FILE at the end
  // (the tour writes its own, without the lock events).
  let tracing: { file: string; c: ReturnType<typeof collectTraces> } | null = null;
  program.hook('preAction', (_p, action) => {
    const file = (action.opts() as { trace?: unknown }).trace;
    if (typeof file === 'string' && action.name() !== 'tour') tracing = { file, c: collectTraces(file) };
  });
  program.hook('postAction', async () => {
    if (tracing === null) return;
    const n = await tracing.c.finish();
    process.stdout.write(`trace: ${n} events of every machine written to ${tracing.file} (open it in ui.perfetto.dev)\n`);
  });
  await program.parseAsync(argv);
}

main(process.argv).catch((e: unknown) => {
  process.stderr.write(
    `kdefer: ${e instanceof Error ? (e.name === 'KdeferError' ? e.message.replace(/^kdefer: /, '') : (e.stack ?? e.message)) : String(e)}\n`,
  );
  process.exitCode = 1;
});
