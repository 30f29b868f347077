/**
 * commands/bench.ts — `kdefer bench <name>`: the benchmarks a person runs
 * from the command line. One subcommand per benchmark:
 *
 *   kdefer bench scaling --cpus 1,2 --mode bh,softirq,napi --routing rr,affinity
 *                        --load 1.1x,4x --seconds 2
 *
 * runs scenarios/scaling.ts's sweep with progress, prints the table, and
 * writes the results as JSON and the SVG charts into --out. Exit status 1
 * if a run's books do not balance or the kernel reported a bug, 130 if
 * interrupted.
 */
import { availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { Command, Option, InvalidArgumentError } from 'commander';
import { MAX_CPUS } from '@kdefer/core';
import {
  runScalingSweep,
  parseLoad,
  formatScalingTable,
  SCALING_TABLE_LEGEND,
  scalingCharts,
  compactRate,
  ROUTINGS,
  DEFAULT_WORKLOAD,
  type Routing,
  type ScalingReport,
  type SweepProgress,
  type LoadSpec,
} from '../scenarios/scaling.js';
import { RX_MODES, RX_MAX_QUEUES, type RxMode } from '../modules/rx.js';
import { intInRange, positiveNumber, traceOption } from '../options.js';
import { withProgress, exitStatus, compact } from './common.js';

/** A commander parser for a comma-separated list. */
function listOf<T>(what: string, parse: (s: string) => T): (value: string) => T[] {
  return (value: string): T[] => {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (items.length === 0) throw new InvalidArgumentError(`${what} must be a comma-separated list.`);
    return items.map((s) => {
      try {
        return parse(s);
      } catch (e) {
        throw new InvalidArgumentError(e instanceof Error ? e.message.replace(/^kdefer: /, '') : String(e));
      }
    });
  };
}

function oneOf<T extends string>(what: string, allowed: readonly T[]): (s: string) => T {
  return (s: string): T => {
    if (!(allowed as readonly string[]).includes(s)) throw new InvalidArgumentError(`${what} '${s}' is not one of ${allowed.join(', ')}.`);
    return s as T;
  };
}

interface ScalingFlags {
  cpus: number[];
  mode: RxMode[];
  routing: Routing[];
  load: LoadSpec[];
  seconds: number;
  warmup: number;
  queues?: number;
  protoWork: number;
  driverWork: number;
  stats: 'percpu' | 'shared';
  capacity?: number;
  out: string;
}

/** `kdefer bench scaling`. */
function scalingCommand(): Command {
  const cpuParse = intInRange('--cpus', 1, MAX_CPUS);
  return new Command('scaling')
    .addOption(traceOption())
    .description(
      'the SMP scalability lab: one receive workload through the 2.2 global bottom half (bh), softnet (softirq) and NAPI, against CPUs, IRQ routing and offered load',
    )
    .addOption(new Option('--cpus <list>', 'CPU counts to run, e.g. 1,2').argParser(listOf('--cpus', cpuParse)).default([1, 2], '1,2'))
    .addOption(
      new Option('--mode <list>', `receive paths: ${RX_MODES.join(', ')}`)
        .argParser(listOf('--mode', oneOf('mode', RX_MODES)))
        .default([...RX_MODES], RX_MODES.join(',')),
    )
    .addOption(
      new Option(
        '--routing <list>',
        `IRQ routing: ${ROUTINGS.join(', ')} (rr: round-robin over all CPUs; affinity: queue q on CPU q mod n; cpu0: all on CPU 0)`,
      )
        .argParser(listOf('--routing', oneOf('routing', ROUTINGS)))
        .default(['affinity', 'rr'], 'affinity,rr'),
    )
    .addOption(
      new Option(
        '--load <list>',
        'offered loads: packets/s (250000, 250k, 1.5M) or multiples of the measured 1-CPU capacity per CPU (1.1x, 4x)',
      )
        .argParser(listOf('--load', parseLoad))
        .default([{ perCpu: 1.1 }, { perCpu: 4 }], '1.1x,4x'),
    )
    .addOption(new Option('--seconds <s>', 'measured seconds per run').argParser(positiveNumber('--seconds', 600)).default(2))
    .addOption(
      new Option('--warmup <s>', 'seconds each run warms up before counting').argParser(positiveNumber('--warmup', 60)).default(0.5),
    )
    .addOption(
      new Option('--queues <n>', 'RX queues (default: the largest CPU count, at least 2)').argParser(
        intInRange('--queues', 1, RX_MAX_QUEUES),
      ),
    )
    .addOption(
      new Option('--proto-work <n>', 'protocol work per packet, rounds of ~2 ns')
        .argParser(intInRange('--proto-work', 0, 10_000_000))
        .default(DEFAULT_WORKLOAD.protoWork),
    )
    .addOption(
      new Option('--driver-work <n>', 'driver work per packet where it leaves the ring, rounds')
        .argParser(intInRange('--driver-work', 0, 10_000_000))
        .default(DEFAULT_WORKLOAD.driverWork),
    )
    .addOption(
      new Option('--stats <where>', 'protocol statistics: percpu counters, or one shared counter set')
        .choices(['percpu', 'shared'])
        .default('percpu'),
    )
    .addOption(
      new Option('--capacity <pps>', '1-CPU capacity for relative loads (skips the calibration run)').argParser(
        positiveNumber('--capacity', 1e9),
      ),
    )
    .addOption(new Option('--out <dir>', 'where to write scaling.json and the SVG charts').default('kdefer-results'))
    .action(async (flags: ScalingFlags) => {
      process.exitCode = await scaling(flags);
    });
}

/** The `bench` command group. */
export function benchCommand(): Command {
  return new Command('bench')
    .description('benchmarks of the machine (results as tables, JSON and SVG charts)')
    .addCommand(scalingCommand());
}

async function scaling(f: ScalingFlags): Promise<number> {
  const out = process.stdout;
  const cores = availableParallelism();
  out.write(
    `kdefer bench scaling — ${cores} cores, node ${process.version}; CPUs ${f.cpus.join(',')}; modes ${f.mode.join(',')}; routing ${f.routing.join(',')}; ` +
      `loads ${f.load.map((l) => ('perCpu' in l ? `${l.perCpu}x` : compactRate(l.pps))).join(',')}; ${f.seconds} s per run\n`,
  );
  out.write(`workload: protocol ${f.protoWork} + driver ${f.driverWork} rounds per packet, ${f.stats} statistics\n`);
  if (f.cpus.some((c) => c > cores))
    out.write(`note: runs with more CPUs than the ${cores} cores share cores; their speedups are not claimed\n`);
  out.write('\n');
  const runs =
    f.load.length * f.mode.length * f.routing.length * new Set(f.cpus).size +
    (f.capacity === undefined && f.load.some((l) => 'perCpu' in l) ? 1 : 0);
  const report: ScalingReport = await withProgress({ label: 'scaling', total: runs, unit: '' }, (signal, bar) =>
    runScalingSweep({
      cpus: f.cpus,
      modes: f.mode,
      routings: f.routing,
      loads: f.load,
      seconds: f.seconds,
      warmupSeconds: f.warmup,
      queues: f.queues,
      protoWork: f.protoWork,
      driverWork: f.driverWork,
      sharedStats: f.stats === 'shared',
      capacity: f.capacity,
      signal,
      onProgress: (p: SweepProgress) => {
        const done = p.finished ? p.run : p.run + Math.min(0.99, p.elapsedS / p.seconds);
        bar.update(done, `${p.label}: ${compact(Math.round(p.deliveredPps))} delivered/s`);
      },
    }),
  );
  out.write('\n');
  if (report.capacity > 0)
    out.write(`1-CPU capacity (napi, overloaded): ${compactRate(report.capacity)} packets/s; "Nx" loads are N × that × CPUs\n\n`);
  out.write(formatScalingTable(report));
  for (const l of SCALING_TABLE_LEGEND) out.write(`  ${l}\n`);
  // Where the interrupts went, for one run per routing at the most CPUs.
  const most = Math.max(...report.rows.map((r) => r.cpus));
  for (const routing of f.routing) {
    const r = report.rows.find((x) => x.cpus === most && x.routing === routing && most > 1);
    if (!r) continue;
    out.write(`\n/proc/interrupts, eth0 lines (${r.mode}, ${routing}, ${r.cpus} CPUs, ${r.loadSpec}):\n`);
    out.write(irqLines(r.procInterrupts, r.queues));
  }
  const dir = resolve(f.out);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'scaling.json'), JSON.stringify(reportJson(report), null, 1) + '\n');
  const charts = scalingCharts(report);
  for (const c of charts) writeFileSync(join(dir, c.file), c.svg);
  out.write(`\nwritten: ${join(dir, 'scaling.json')}${charts.map((c) => `, ${c.file}`).join('')}\n`);
  const bad = report.rows.flatMap((r) => problems(r).map((p) => `${r.mode} ${r.routing} ${r.cpus} CPUs ${r.loadSpec}: ${p}`));
  for (const b of bad) out.write(`FAIL ${b}\n`);
  return exitStatus(report.aborted, bad.length === 0);
}

/** The header and the eth0 RX lines of a /proc/interrupts text. */
function irqLines(proc: string, queues: number): string {
  const lines = proc.split('\n');
  const rx = lines.filter((l) => /eth0-rx-(\d+)$/.test(l) && Number(/eth0-rx-(\d+)$/.exec(l)![1]) < queues);
  return [lines[0]!, ...rx].join('\n') + '\n';
}

/** What must hold after every run (the books, and no kernel report). */
export function problems(r: ScalingReport['rows'][number]): string[] {
  const p: string[] = [];
  const a = r.accounting;
  if (a.unaccounted !== 0)
    p.push(
      `${a.unaccounted} packets unaccounted (offered ${a.offered}, delivered ${a.delivered}, dropped ${a.droppedDevice + a.droppedBacklog + a.droppedBh})`,
    );
  if (a.leftInRings !== 0) p.push(`${a.leftInRings} packets left in rings or backlogs after the drain`);
  if (a.duplicates + a.missing + a.both !== 0)
    p.push(`fates: ${a.duplicates} duplicates, ${a.missing} missing, ${a.both} delivered and dropped`);
  if (r.bhOverlap !== 0) p.push(`${r.bhOverlap} bottom halves overlapped`);
  if (r.napiIrqOn !== 0) p.push(`${r.napiIrqOn} polls with the IRQ enabled`);
  for (const k of r.kernelReports.slice(0, 3)) p.push(k.trim());
  return p;
}

/** The report as written to scaling.json: the rows without the bulky /proc texts. */
export function reportJson(rep: ScalingReport): unknown {
  return {
    ...rep,
    rows: rep.rows.map(({ softnetStat, procInterrupts, ...r }) => ({
      ...r,
      softnetStat: softnetStat.trimEnd().split('\n'),
      procInterrupts: irqLines(procInterrupts, r.queues).trimEnd().split('\n'),
    })),
  };
}
