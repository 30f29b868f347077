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

const COMMANDS: (() => Command)[] = [tourCommand, stressCommand, reportCommand, benchCommand, raceCommand];

async function main(argv: string[]): Promise<void> {
  const program = new Command('kdefer')
    .description("the Linux kernel's deferred-work machinery (softirqs, hardirqs, spinlocks) on real threads, one per simulated CPU")
    .version('0.1.0')
    .showHelpAfterError()
    .enablePositionalOptions();
  for (const make of COMMANDS) program.addCommand(make());
  await program.parseAsync(argv);
}

main(process.argv).catch((e: unknown) => {
  process.stderr.write(`kdefer: ${e instanceof Error ? (e.name === 'KdeferError' ? e.message.replace(/^kdefer: /, '') : (e.stack ?? e.message)) : String(e)}\n`);
  process.exitCode = 1;
});
