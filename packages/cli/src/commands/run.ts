/**
 * commands/run.ts — `kdefer run FILE`: your own module on a machine.
 *
 * insmod, a test harness and a device in one: boots a machine, loads the
 * module FILE (.js, .mjs or .ts, default export defineModule(...)) on every
 * CPU, calls its entry points as tasks (--call), drives its interrupt lines
 * from the host (--irq), runs until the entries return or --seconds is up,
 * then prints /proc/softirqs, /proc/interrupts, ps, the kworkers, dmesg and
 * a verdict.
 *
 *   --call ENTRY[@CPU|@all][:ARG...]   repeatable; CPU 0 by default; each ARG
 *                                      a number when it reads as one, else a string
 *   --settle MS                        after the entries return, run on MS
 *                                      more (default 100): what they left
 *                                      behind (a timer, a work) runs, as
 *                                      after rmmod
 *   --irq LINE[:RATE][@CPU]            repeatable; RATE is N (interrupts per
 *                                      second, over the whole run; default 1000)
 *                                      or xN (a burst of N raised at once at the
 *                                      start); @CPU routes the line to that CPU
 *
 * Exit status: 0 clean, 1 when dmesg holds a BUG, WARNING, KASAN, lockdep or
 * lockup report not named by --allow (or an entry failed), 2 on bad usage
 * or a module file that does not load.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option, InvalidArgumentError, type CommanderError } from 'commander';
import { Machine } from '@kdefer/workers';
import { cpusOption, secondsOption, hzOption, traceOption, intInRange } from '../options.js';
import { seedOption, amplifyOption, randomSeed, fmtSeed, fmtAmplify } from '../seed.js';
import { withInterrupt, section } from './common.js';
import {
  prepareModule,
  explainLoadError,
  findReports,
  ModuleFileError,
  REPORT_KINDS,
  type ReportKind,
  type PreparedModule,
} from '../usermod.js';

/** One --call: an entry, where it runs, its arguments. */
export interface CallSpec {
  entry: string;
  /** a CPU, or 'all' */
  cpu: number | 'all';
  args: (string | number)[];
}

/** One --irq: a line, its load, where it is routed. */
export interface IrqSpec {
  line: number;
  /** interrupts per second over the run, or a burst raised at the start */
  load: { rate: number } | { burst: number };
  cpu: number | null;
}

/** Parse `ENTRY[@CPU|@all][:ARG...]`. */
export function parseCall(v: string): CallSpec {
  const m = /^([A-Za-z_$][\w$]*)(?:@(all|\d+))?((?::[^:]*)*)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--call '${v}': expected ENTRY[@CPU|@all][:ARG...], e.g. probe@all or xmit@1:64`);
  const args = m[3] ? m[3].slice(1).split(':') : [];
  return {
    entry: m[1]!,
    cpu: m[2] === undefined ? 0 : m[2] === 'all' ? 'all' : Number(m[2]),
    args: args.map((a) => (/^-?\d+(\.\d+)?$/.test(a) ? Number(a) : a)),
  };
}

/** Parse `LINE[:RATE][@CPU]`, RATE = N per second or xN a burst. */
export function parseIrq(v: string): IrqSpec {
  const m = /^(\d+)(?::(?:(\d+(?:\.\d+)?)|x(\d+)))?(?:@(\d+))?$/.exec(v);
  if (!m)
    throw new InvalidArgumentError(
      `--irq '${v}': expected LINE[:RATE][@CPU], RATE interrupts per second (e.g. 11:500) or xN a burst (e.g. 11:x20@1)`,
    );
  const rate = m[2] === undefined ? undefined : Number(m[2]);
  if (rate !== undefined && (rate <= 0 || rate > 1_000_000))
    throw new InvalidArgumentError(`--irq '${v}': RATE must be greater than 0 and at most 1000000`);
  const burst = m[3] === undefined ? undefined : Number(m[3]);
  if (burst !== undefined && (burst < 1 || burst > 1_000_000)) throw new InvalidArgumentError(`--irq '${v}': a burst is x1 to x1000000`);
  return {
    line: Number(m[1]),
    load: burst !== undefined ? { burst } : { rate: rate ?? 1000 },
    cpu: m[4] === undefined ? null : Number(m[4]),
  };
}

function parseAllow(v: string): ReportKind {
  const k = REPORT_KINDS.find((r) => r.toLowerCase() === v.toLowerCase());
  if (!k) throw new InvalidArgumentError(`--allow '${v}': a report is one of ${REPORT_KINDS.join(', ')}`);
  return k;
}

const collect =
  <T>(parse: (v: string) => T) =>
  (v: string, prev: T[] | undefined): T[] => [...(prev ?? []), parse(v)];

interface RunFlags {
  cpus: number;
  seconds: number;
  hz: number;
  seed?: number;
  amplify: number;
  trace?: string;
  call?: CallSpec[];
  irq?: IrqSpec[];
  allow?: ReportKind[];
  settle: number;
}

/** The `run` command. */
export function runCommand(): Command {
  return new Command('run')
    .description(
      'load your own module (FILE: .js, .mjs or .ts, default export defineModule(...)) on every CPU, call its entries, drive its IRQs, report',
    )
    .argument('<file>', 'the module file')
    .addOption(cpusOption())
    .addOption(secondsOption(2))
    .addOption(hzOption())
    .addOption(seedOption())
    .addOption(amplifyOption())
    .addOption(traceOption())
    .addOption(new Option('--call <spec>', 'ENTRY[@CPU|@all][:ARG...]: call an entry as a task (repeatable)').argParser(collect(parseCall)))
    .addOption(
      new Option(
        '--irq <spec>',
        'LINE[:RATE][@CPU]: raise LINE at RATE per second (default 1000) or xN once, routed to CPU (repeatable)',
      ).argParser(collect(parseIrq)),
    )
    .addOption(
      new Option(
        '--settle <ms>',
        'after the entries return, run on this long, so that the timers and works they left behind run (as after rmmod)',
      )
        .argParser(intInRange('--settle', 0, 60_000))
        .default(100),
    )
    .addOption(
      new Option('--allow <report>', `a report kind to expect (${REPORT_KINDS.join(', ')}); repeatable`).argParser(collect(parseAllow)),
    )
    .exitOverride((e: CommanderError) => {
      process.exit(e.exitCode === 0 ? 0 : 2);
    })
    .action(async (file: string, flags: RunFlags) => {
      process.exitCode = await run(file, flags);
    });
}

function usage(msg: string): number {
  process.stderr.write(`kdefer run: ${msg}\n`);
  return 2;
}

async function run(file: string, flags: RunFlags): Promise<number> {
  const calls = flags.call ?? [];
  const irqs = flags.irq ?? [];
  for (const c of calls)
    if (c.cpu !== 'all' && c.cpu >= flags.cpus)
      return usage(`--call ${c.entry}@${c.cpu}: CPU ${c.cpu} does not exist (--cpus ${flags.cpus})`);
  for (const q of irqs)
    if (q.cpu !== null && q.cpu >= flags.cpus) return usage(`--irq ${q.line}@${q.cpu}: CPU ${q.cpu} does not exist (--cpus ${flags.cpus})`);
  let mod: PreparedModule;
  try {
    mod = await prepareModule(file);
  } catch (e) {
    if (e instanceof ModuleFileError) return usage(e.message);
    throw e;
  }
  const seed = flags.seed ?? randomSeed();
  const out = process.stdout;
  out.write(`kdefer run ${file} — ${flags.cpus} CPUs, HZ=${flags.hz}, seed ${fmtSeed(seed)}, amplify ${fmtAmplify(flags.amplify)}\n`);
  const m = await Machine.boot({ cpus: flags.cpus, hz: flags.hz, seed, amplify: flags.amplify, trace: flags.trace !== undefined });
  try {
    let name: string;
    try {
      const loaded = await m.loadModules([mod.url]);
      name = Object.keys(loaded)[0]!;
      out.write(`loaded module '${name}' on every CPU; entries: ${loaded[name]!.join(', ') || 'none'}\n`);
      const missing = [...new Set(calls.map((c) => c.entry).filter((e) => !loaded[name]!.includes(e)))];
      if (missing.length > 0)
        return usage(
          `${file}: module '${name}' has no entry ${missing.map((e) => `'${e}'`).join(', ')} (entries: ${loaded[name]!.join(', ') || 'none'})`,
        );
    } catch (e) {
      return usage(await explainLoadError(e, mod));
    }
    for (const q of irqs) {
      try {
        m.setIrqAffinity(q.line, q.cpu !== null ? [q.cpu] : Array.from({ length: m.cpus }, (_, k) => k));
      } catch (e) {
        return usage(`--irq ${q.line}: ${e instanceof Error ? e.message.replace(/^kdefer: /, '') : String(e)}`);
      }
    }
    const status = await withInterrupt(async (signal) => {
      const st = await drive(m, name, calls, irqs, flags.seconds * 1000, signal);
      if (flags.settle > 0 && !signal.aborted && !m.panicked()) await sleep(flags.settle);
      return st;
    });
    await m.quiesce({ timeoutMs: 2000 }).catch(() => undefined);
    section('/proc/softirqs', m.procSoftirqs());
    section('/proc/interrupts', m.procInterrupts());
    section('ps', m.ps());
    section('kworkers', kworkers(m));
    const dmesg = m.dmesg();
    section('dmesg', dmesg.trim() === '' ? '(empty)' : dmesg);
    if (flags.trace !== undefined) out.write(`trace: ${await m.writeTrace(flags.trace)} events written to ${flags.trace}\n`);
    return verdict(status, findReports(dmesg), flags.allow ?? []);
  } finally {
    await m.shutdown();
    mod.cleanup();
  }
}

interface CallOutcome {
  label: string;
  state: 'waiting' | 'running' | 'returned' | 'failed';
  detail: string;
}

async function drive(
  m: Machine,
  name: string,
  calls: CallSpec[],
  irqs: IrqSpec[],
  ms: number,
  signal: AbortSignal,
): Promise<CallOutcome[]> {
  const outcomes: CallOutcome[] = [];
  // One chain per CPU: the calls a CPU is given run in the order given
  // (probe, use, remove), the CPUs' chains side by side.
  const chains = new Map<number, Promise<void>>();
  for (const c of calls) {
    const cpus = c.cpu === 'all' ? Array.from({ length: m.cpus }, (_, k) => k) : [c.cpu];
    for (const cpu of cpus) {
      const o: CallOutcome = { label: `${c.entry}@${cpu}${c.args.map((a) => `:${a}`).join('')}`, state: 'waiting', detail: '' };
      outcomes.push(o);
      const step = async (): Promise<void> => {
        if (m.panicked()) return;
        o.state = 'running';
        try {
          const v = await m.call(cpu, name, c.entry, ...c.args);
          Object.assign(o, { state: 'returned', detail: v === undefined ? '' : `-> ${JSON.stringify(v) ?? String(v)}` });
        } catch (e) {
          Object.assign(o, { state: 'failed', detail: e instanceof Error ? e.message : String(e) });
        }
      };
      chains.set(cpu, (chains.get(cpu) ?? Promise.resolve()).then(step));
    }
  }
  const pending = [...chains.values()];
  for (const q of irqs) if ('burst' in q.load) for (let k = 0; k < q.load.burst; k++) m.raiseIrq(q.line);
  const rated = irqs.filter((q) => 'rate' in q.load);
  const raised = rated.map(() => 0);
  const t0 = performance.now();
  let done = calls.length === 0 && rated.length === 0;
  void Promise.all(pending).then(() => {
    // with entries to call, the run ends when they return; IRQs alone run for --seconds
    if (calls.length > 0 || rated.length === 0) done = true;
  });
  while (!done && !signal.aborted && performance.now() - t0 < ms && !m.panicked()) {
    const t = performance.now() - t0;
    rated.forEach((q, k) => {
      const due = Math.floor(((q.load as { rate: number }).rate * t) / 1000);
      for (; raised[k]! < due; raised[k]!++) m.raiseIrq(q.line);
    });
    await sleep(1);
  }
  return outcomes;
}

function kworkers(m: Machine): string {
  const lines = ['POOL  WORKERS IDLE RUNNING PENDING'];
  for (const p of m.workers()) {
    if (p.nrWorkers === 0 && p.pending === 0) continue;
    lines.push(
      `${String(p.id).padEnd(5)} ${String(p.nrWorkers).padStart(7)} ${String(p.nrIdle).padStart(4)} ${String(p.nrRunning).padStart(7)} ${String(p.pending).padStart(7)}`,
    );
  }
  return lines.join('\n');
}

function verdict(outcomes: CallOutcome[], reports: { kind: ReportKind; line: string }[], allow: ReportKind[]): number {
  const lines = outcomes.map((o) => `${o.label.padEnd(24)} ${o.state}${o.detail ? `  ${o.detail}` : ''}`);
  const unexpected = reports.filter((r) => !allow.includes(r.kind));
  for (const r of reports) lines.push(`report ${r.kind.padEnd(8)} ${allow.includes(r.kind) ? '(allowed)' : '(unexpected)'}  ${r.line}`);
  const failed = outcomes.filter((o) => o.state === 'failed');
  const ok = unexpected.length === 0 && (failed.length === 0 || reports.length > 0);
  lines.push(
    ok
      ? `verdict: PASS${reports.length > 0 ? ` (${reports.length} allowed report${reports.length > 1 ? 's' : ''})` : ''}`
      : `verdict: FAIL — ${unexpected.length > 0 ? `${unexpected.length} unexpected report(s): ${[...new Set(unexpected.map((r) => r.kind))].join(', ')}` : `${failed.length} entry call(s) failed`}`,
  );
  section('verdict', lines.join('\n'));
  return ok ? 0 : 1;
}
