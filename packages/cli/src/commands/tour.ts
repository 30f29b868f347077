/**
 * commands/tour.ts — `kdefer tour`: the guided run `npm start` shows.
 *
 * Runs scenarios/tour.ts and prints what a person wants to see of it: the
 * machine, live progress, the kernel's own /proc/softirqs and
 * /proc/interrupts, the task list, and the checks with their numbers. Exit
 * status 1 if any check failed, 130 if interrupted.
 */
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import { runTour, type TourResult, type TourProgress } from '../scenarios/tour.js';
import { IRQ_BASE } from '../modules/netdev.js';
import { cpusOption, secondsOption, hzOption, positiveNumber, traceOption, type MachineFlags } from '../options.js';
import { withProgress, exitStatus, section, compact } from './common.js';

interface TourFlags extends MachineFlags {
  rate: number;
  trace?: string;
}

/** The `tour` command. */
export function tourCommand(): Command {
  return new Command('tour')
    .description('boot a machine, drive a multi-queue network device against writers on every CPU, and check the books')
    .addOption(cpusOption())
    .addOption(secondsOption(2))
    .addOption(hzOption())
    .addOption(
      new Option('--rate <n>', 'interrupt bursts per second (each raises every RX queue once)')
        .argParser(positiveNumber('--rate', 100_000))
        .default(1000),
    )
    .addOption(traceOption())
    .action(async (flags: TourFlags) => {
      process.exitCode = await tour(flags);
    });
}

async function tour(flags: TourFlags): Promise<number> {
  flagsTrace = flags.trace;
  const out = process.stdout;
  out.write(`kdefer tour — machine: ${flags.cpus} CPUs, HZ=${flags.hz}, node ${process.version}, ${availableParallelism()} cores\n`);
  out.write(
    `eth0: ${flags.cpus} RX queues on IRQs ${IRQ_BASE}-${IRQ_BASE + flags.cpus - 1} (queue q -> CPU q); a writer task on every CPU; ` +
      `${flags.rate} interrupt bursts/s for ${flags.seconds} s\n\n`,
  );
  const result: TourResult = await withProgress({ label: 'tour', total: flags.seconds, unit: 's' }, (signal, bar) =>
    runTour({
      cpus: flags.cpus,
      seconds: flags.seconds,
      hz: flags.hz,
      rate: flags.rate,
      trace: flags.trace,
      signal,
      onProgress: (p: TourProgress) => bar.update(p.elapsedS, progressLine(p)),
    }),
  );
  printResult(result);
  return exitStatus(result.aborted, result.ok);
}

function progressLine(p: TourProgress): string {
  return `irqs ${compact(p.delivered)} delivered of ${compact(p.raised)} raised | NET_RX ${compact(p.netRx)} | writer updates ${compact(p.writes)}`;
}

let flagsTrace: string | undefined;

function printResult(r: TourResult): void {
  const out = process.stdout;
  const delivered = r.hardirqs.reduce((a, b) => a + b, 0);
  out.write(
    `\nraised ${r.raised} interrupts in ${(r.elapsedMs / 1000).toFixed(2)} s (${r.bursts} bursts` +
      `${r.burstsSkipped > 0 ? `, ${r.burstsSkipped} skipped: host timer late` : ''}); ` +
      `${delivered} delivered (the rest coalesced while pending)${r.aborted ? ' — interrupted' : ''}\n`,
  );
  if (r.traceEvents !== undefined)
    out.write(`trace: ${r.traceEvents} events written to ${flagsTrace ?? '?'} (open it in ui.perfetto.dev)\n`);
  section('/proc/softirqs', r.procSoftirqs);
  section('/proc/interrupts', r.procInterrupts);
  section('ps (at the end of the run, writers still running)', r.ps);
  if (r.dmesg.trim() !== '') section('dmesg', r.dmesg);
  out.write('== checks ==\n');
  for (const c of r.checks) out.write(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
  const failed = r.checks.filter((c) => !c.pass).length;
  out.write(failed === 0 ? `\ntour: all ${r.checks.length} checks passed\n` : `\ntour: ${failed} of ${r.checks.length} checks FAILED\n`);
}
