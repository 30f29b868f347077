/**
 * printk.ts — the kernel log, WARN/BUG, Oops and panic.
 *
 * Follows kernel/printk/printk.c (a ring of records, each with its time,
 * CPU and caller), include/asm-generic/bug.h (WARN_ON, WARN_ON_ONCE,
 * BUG_ON) and kernel/panic.c. The ring lives in shared memory, so the host
 * reads `dmesg` without asking the CPUs — which matters most when a CPU is
 * stuck.
 *
 * Differs from Linux:
 * - a record holds one line of at most LOG_TEXT_BYTES bytes; longer
 *   messages are split over several records, newlines start new records.
 * - BUG() does not trap: it reports and then stops the machine cleanly
 *   (panic_on_oops, the default) or only this CPU (`panicOnOops: false`),
 *   by throwing KernelHalt up to the CPU loop. Nothing spins forever.
 * - the caller id ([T<pid>] in task context, [C<cpu>] otherwise) is always
 *   on, as with CONFIG_PRINTK_CALLER=y, so every line names its CPU.
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  H_LOG_HEAD,
  H_STATE,
  H_PANIC_CPU,
  H_OOPS_COUNT,
  H_PANIC_ON_OOPS,
  LG_SEQ,
  LG_CPU,
  LG_CTX,
  LG_LEVEL,
  LG_PID,
  LG_LEN,
  LG_TEXT,
  LOG_TEXT_BYTES,
  MACHINE_RUNNING,
  MACHINE_PANIC,
  PC_CURRENT_PID,
  PC_PREEMPT_COUNT,
  PC_HALTED,
  REQ_STOP,
  putString,
  getString,
  encodedLength,
} from './layout.js';
import { mem, i32, cpuId, PCB, nrCpus, kick_cpu } from './smp.js';
import { upcalls } from './upcall.js';
import { NMI_MASK } from './preempt_mask.js';

export const KERN_SOH = '\x01';
export const KERN_EMERG = KERN_SOH + '0';
export const KERN_ALERT = KERN_SOH + '1';
export const KERN_CRIT = KERN_SOH + '2';
export const KERN_ERR = KERN_SOH + '3';
export const KERN_WARNING = KERN_SOH + '4';
export const KERN_NOTICE = KERN_SOH + '5';
export const KERN_INFO = KERN_SOH + '6';
export const KERN_DEBUG = KERN_SOH + '7';
/** The level a message without a KERN_ prefix gets (CONFIG_MESSAGE_LOGLEVEL_DEFAULT). */
export const MESSAGE_LOGLEVEL_DEFAULT = 4;

/**
 * Thrown to unwind a CPU's stack after a BUG or a panic; the CPU loop
 * catches it. Never catch it in module code.
 */
export class KernelHalt extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'KernelHalt';
  }
}

// The caller's context level, for the record, comes from the layer that
// knows it (sched.ts) through the upcall table: upcalls.contextLevel.

function nowUs(m: Mem): number {
  return (clock_now() - m.bootTime()) * 1000;
}

// ------------------------------------------------------------ report kinds
// What a report is is decided here, once: the record whose text opens a
// report carries its kind in the level word (bits 4..7, the level keeps bits
// 0..3), so the host lists reports without pattern-matching dmesg itself.

/** The kinds of report the kernel model prints. kdefer-only classification. */
export const REPORT_KINDS = ['BUG', 'WARNING', 'KASAN', 'lockdep', 'lockup', 'Oops', 'INFO', 'panic'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

const LEVEL_MASK = 0xf;
const KIND_SHIFT = 4;

/**
 * The kind of report a log line opens, or null for an ordinary line.
 * kdefer-only: Linux's dmesg has no such mark; tools grep for these openers.
 * @param line - the log line.
 * @returns its ReportKind, or null.
 */
export function reportKindOf(line: string): ReportKind | null {
  if (line.startsWith('BUG: KASAN: ')) return 'KASAN';
  if (/^WARNING: (possible |inconsistent lock state|bad unlock balance|lock held when)/.test(line)) return 'lockdep';
  if (line.startsWith('BUG: MAX_LOCK_DEPTH')) return 'lockdep';
  if (line.startsWith('watchdog: BUG: soft lockup') || line.startsWith('NMI watchdog: ')) return 'lockup';
  if (/^BUG: .*lockup suspected/.test(line)) return 'lockup';
  if (line.startsWith('BUG: ')) return 'BUG';
  if (line.startsWith('WARNING: ')) return 'WARNING';
  if (line.startsWith('Oops: ')) return 'Oops';
  if (line.startsWith('INFO: ') || line.startsWith('rcu: INFO: ')) return 'INFO';
  if (line.startsWith('Kernel panic - not syncing: ')) return 'panic';
  return null;
}

/**
 * log_store - append one line to the log ring of machine `m` as CPU `cpu`, marking
 * the record that opens a report with its kind.
 * @param m - the machine's memory.
 * @param cpu - the CPU (or -1 for the host).
 * @param ctx - the context level it printed from.
 * @param pid - the task.
 * @param level - the KERN_* level.
 * @param line - the text.
 * Context: any thread; claims a record with Atomics. Does not sleep.
 */
export function log_store(m: Mem, cpu: number, ctx: number, pid: number, level: number, line: string): void {
  const kind = reportKindOf(line);
  if (kind !== null) level = (level & LEVEL_MASK) | ((REPORT_KINDS.indexOf(kind) + 1) << KIND_SHIFT);
  const a = m.i32;
  const cap = m.g.logRecords;
  const seq = Atomics.add(a, H_LOG_HEAD, 1);
  const rec = seq % cap;
  Atomics.store(a, m.log(rec, LG_SEQ), 0); // invalidate while we write it
  a[m.log(rec, LG_CPU)] = cpu;
  a[m.log(rec, LG_CTX)] = ctx;
  a[m.log(rec, LG_LEVEL)] = level;
  a[m.log(rec, LG_PID)] = pid;
  m.setLogTime(rec, nowUs(m));
  a[m.log(rec, LG_LEN)] = putString(m, m.log(rec, LG_TEXT), line, LOG_TEXT_BYTES);
  Atomics.store(a, m.log(rec, LG_SEQ), seq + 1);
}

/** Split a message into record-sized lines. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  for (let line of text.split('\n')) {
    while (encodedLength(line) > LOG_TEXT_BYTES) {
      let n = Math.min(line.length, LOG_TEXT_BYTES);
      while (encodedLength(line.slice(0, n)) > LOG_TEXT_BYTES) n -= 8;
      out.push(line.slice(0, n));
      line = line.slice(n);
    }
    out.push(line);
  }
  if (out.length > 1 && out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * printk - print a kernel message.
 * @param msg  the message, optionally prefixed by a KERN_<LEVEL> marker.
 * Context: any. Never sleeps.
 */
export function printk(msg: string): void {
  let level = MESSAGE_LOGLEVEL_DEFAULT;
  if (msg.charCodeAt(0) === 1 && msg.length >= 2) {
    level = msg.charCodeAt(1) - 48;
    msg = msg.slice(2);
  }
  const ctx = upcalls.contextLevel();
  const pid = i32[PCB + PC_CURRENT_PID]!;
  if ((i32[PCB + PC_PREEMPT_COUNT]! & NMI_MASK) !== 0) {
    // printk from NMI (printk_safe's nmi_print_seq): kept on this CPU, stored by
    // the IRQ work nmi.ts queues when the NMI returns (or by an Oops/panic first).
    for (const line of splitLines(msg)) nmiBuffer.push({ ctx, pid, level, line });
    return;
  }
  for (const line of splitLines(msg)) log_store(mem, cpuId, ctx, pid, level, line);
}

// This CPU's messages printed from NMI context, not yet in the log.
const nmiBuffer: { ctx: number; pid: number; level: number; line: string }[] = [];

/**
 * printk_nmi_pending - whether messages printed from NMI context wait on this CPU.
 * Context: any, on this CPU. Does not sleep.
 * @returns true if some wait.
 */
export function printk_nmi_pending(): boolean {
  return nmiBuffer.length !== 0;
}

/**
 * printk_nmi_flush - store the messages printed from NMI context into the log,
 * in order, with the context and pid they were printed from
 * (printk_safe's __printk_safe_flush).
 * Context: any but NMI, on this CPU (the IRQ work, or an Oops/panic). Does not sleep.
 * @returns how many lines were stored.
 */
export function printk_nmi_flush(): number {
  const lines = nmiBuffer.splice(0);
  for (const r of lines) log_store(mem, cpuId, r.ctx, r.pid, r.level, r.line);
  return lines.length;
}

/**
 * pr_emerg - printk at KERN_EMERG.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_emerg = (s: string): void => {
  printk(KERN_EMERG + s);
};
/**
 * pr_alert - printk at KERN_ALERT.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_alert = (s: string): void => {
  printk(KERN_ALERT + s);
};
/**
 * pr_crit - printk at KERN_CRIT.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_crit = (s: string): void => {
  printk(KERN_CRIT + s);
};
/**
 * pr_err - printk at KERN_ERR.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_err = (s: string): void => {
  printk(KERN_ERR + s);
};
/**
 * pr_warn - printk at KERN_WARNING.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_warn = (s: string): void => {
  printk(KERN_WARNING + s);
};
/**
 * pr_notice - printk at KERN_NOTICE.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_notice = (s: string): void => {
  printk(KERN_NOTICE + s);
};
/**
 * pr_info - printk at KERN_INFO.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_info = (s: string): void => {
  printk(KERN_INFO + s);
};
/**
 * pr_debug - printk at KERN_DEBUG.
 * @param s - the line.
 * Context: any. Does not sleep.
 */
export const pr_debug = (s: string): void => {
  printk(KERN_DEBUG + s);
};

// ------------------------------------------------------------ reports
// The header lines of a report ("CPU: ... PID: ... Comm: ...") need the
// current task: sched.ts registers the describer (upcalls.describeCurrent).
/**
 * dump_context - "CPU: 1 PID: 0 Comm: swapper/1 ..." plus the context line, as reports print them.
 * Context: any, on a CPU. Does not sleep.
 * @returns the lines, joined by newlines.
 */
export function dump_context(): string {
  return upcalls.describeCurrent();
}

const warnedOnce = new Set<string>();

/**
 * WARN_ON - report a recoverable anomaly; the caller repairs state and goes on.
 * @returns the condition, so that `if (WARN_ON(x)) return;` reads as in C.
 * Context: any.
 */
export function WARN_ON(condition: unknown, what = 'WARN_ON'): boolean {
  if (condition) warn_slowpath(what);
  return !!condition;
}

/**
 * WARN_ON_ONCE - as WARN_ON, reported only the first time for `what` (on this CPU).
 * @param condition - the anomaly.
 * @param what - the message, and the key of the once-flag.
 * Context: any. Does not sleep.
 * @returns whether `condition` held, reported or not.
 */
export function WARN_ON_ONCE(condition: unknown, what = 'WARN_ON_ONCE'): boolean {
  if (condition && !warnedOnce.has(what)) {
    warnedOnce.add(what);
    warn_slowpath(what);
  }
  return !!condition;
}

/**
 * WARN - a WARN_ON with a message: a report, then work goes on.
 * @param condition - the anomaly.
 * @param msg - the message.
 * Context: any. Does not sleep.
 * @returns whether `condition` held.
 */
export function WARN(condition: unknown, msg: string): boolean {
  if (condition) warn_slowpath(msg);
  return !!condition;
}

/**
 * WARN_ONCE - WARN, reported only the first time for `msg` (on this CPU).
 * @param condition - the anomaly.
 * @param msg - the message.
 * Context: any. Does not sleep.
 * @returns whether `condition` held.
 */
export function WARN_ONCE(condition: unknown, msg: string): boolean {
  return WARN_ON_ONCE(condition, msg);
}

function warn_slowpath(msg: string): void {
  printk(KERN_WARNING + '------------[ cut here ]------------');
  printk(KERN_WARNING + msg);
  printk(KERN_WARNING + `WARNING: CPU: ${cpuId} at ${callerName(3)}`);
  printk(KERN_WARNING + dump_context());
  printk(KERN_WARNING + '---[ end trace 0000000000000000 ]---');
}

/**
 * The JS frame `depth` levels up, as "function (file:line)".
 * @param depth - frames above the caller.
 * @returns the frame's text.
 */
export function callerName(depth = 2): string {
  const stack = new Error().stack?.split('\n') ?? [];
  const line = stack[depth + 1] ?? '';
  return line
    .trim()
    .replace(/^at /, '')
    .replace(/file:\/\/\S*\/(\S+)/, '$1');
}

/**
 * call_trace - the first frames of a JS stack, formatted as a kernel "Call Trace".
 * @param err - whose stack (default: here).
 * @param frames - how many.
 * Context: any. Does not sleep.
 * @returns the lines.
 */
export function call_trace(err?: unknown, frames = 8): string[] {
  const stack = (err instanceof Error ? err.stack : new Error().stack) ?? '';
  return stack
    .split('\n')
    .filter((l) => l.trim().startsWith('at '))
    .filter((l) => !/\/core\/(dist|src)\/(printk|spinlock|slab|lockdep|watchdog|trace|oops)\./.test(l) || err !== undefined)
    .slice(0, frames)
    .map(
      (l) =>
        ' ' +
        l
          .trim()
          .replace(/^at /, '')
          .replace(/\(?file:\/\/\S*\/([^/\s)]+)\)?/, '[$1]'),
    );
}

/**
 * kernel_caller - the first function on the stack outside the kernel core: the driver code
 * that called the kernel API (what the kernel prints as _RET_IP_).
 * Context: any. Does not sleep.
 * @returns the frame's text, or "?" when none is found.
 */
export function kernel_caller(): string {
  const stack = new Error().stack?.split('\n') ?? [];
  for (const l of stack.slice(1)) {
    if (/\/core\/(dist|src)\//.test(l) || !/\bat /.test(l)) continue;
    const m = /at (?:async )?([\w$.<>]+) \(/.exec(l) ?? /at (?:async )?([\w$.<>]+)/.exec(l);
    if (m) return m[1]!.replace(/^Object\./, '').replace(/^TaskStruct\.fn$/, 'task');
  }
  return '?';
}

/**
 * BUG - report a broken invariant and stop: with panicOnOops (the default)
 * the whole machine panics, otherwise only this CPU halts.
 * Context: any. Does not return.
 * @param msg - the report's first line.
 * @param extra - more lines.
 * @returns never.
 */
export function BUG(msg: string, extra: string[] = []): never {
  printk(KERN_EMERG + msg);
  for (const l of extra) printk(KERN_EMERG + l);
  return oops_end(`BUG: ${msg}`);
}

/**
 * BUG_ON - BUG() if `condition` holds.
 * @param condition - the broken invariant.
 * @param what - an extra line for the report.
 * Context: any. Does not return when `condition` holds.
 */
export function BUG_ON(condition: unknown, what = 'BUG_ON'): void {
  if (condition) {
    BUG(`kernel BUG at ${callerName(2)}!`, [what !== 'BUG_ON' ? what : '', dump_context()].filter(Boolean));
  }
}

/**
 * oops_end - finish an Oops: count it, then panic (panic_on_oops) or halt this CPU.
 * @param reason - why.
 * @param inInterrupt - the Oops came from interrupt context ("Fatal exception in interrupt").
 * Context: any. Does not return.
 * @returns never.
 */
export function oops_end(reason: string, inInterrupt = false): never {
  printk_nmi_flush(); // printk_safe_flush_on_panic
  Atomics.add(i32, H_OOPS_COUNT, 1);
  if (i32[H_PANIC_ON_OOPS] !== 0) {
    return panic(inInterrupt ? 'Fatal exception in interrupt' : 'Fatal exception');
  }
  return halt_this_cpu(reason);
}

/**
 * halt_this_cpu - stop this CPU's work; the CPU loop keeps answering the host.
 * @param reason - why.
 * Context: any, on this CPU. Does not return (throws KernelHalt).
 * @returns never.
 */
export function halt_this_cpu(reason: string): never {
  i32[PCB + PC_HALTED] = 1;
  throw new KernelHalt(reason);
}

/**
 * panic - stop the machine: every CPU halts at its next preemption point.
 * Context: any. Does not return.
 */
export function panic(msg: string): never {
  printk_nmi_flush();
  if (Atomics.compareExchange(i32, H_PANIC_CPU, -1, cpuId) === -1) {
    printk(KERN_EMERG + `Kernel panic - not syncing: ${msg}`);
    printk(KERN_EMERG + `---[ end Kernel panic - not syncing: ${msg} ]---`);
  }
  Atomics.compareExchange(i32, H_STATE, MACHINE_RUNNING, MACHINE_PANIC);
  for (let c = 0; c < nrCpus; c++) if (c !== cpuId) kick_cpu(mem, c, REQ_STOP);
  i32[PCB + PC_HALTED] = 1;
  throw new KernelHalt(`panic: ${msg}`);
}

/**
 * machine_panicked - whether the machine has panicked.
 * @param m - the machine's memory (default: this CPU's).
 * Context: any thread, host side too. Does not sleep.
 * @returns true once the state word is MACHINE_PANIC.
 */
export function machine_panicked(m: Mem = mem): boolean {
  return Atomics.load(m.i32, H_STATE) === MACHINE_PANIC;
}

// ------------------------------------------------------------ reading the log (host side too)

export interface LogRecord {
  seq: number;
  cpu: number;
  /** interrupt_context_level(): 0 task, 1 softirq, 2 hardirq, 3 NMI */
  ctx: number;
  level: number;
  pid: number;
  /** microseconds since boot */
  timeUs: number;
  text: string;
  /** set on the record that opens a report: its kind */
  report?: ReportKind;
}

/**
 * The records still in the ring, oldest first, from sequence `from` on.
 * @param m - the machine's memory.
 * @param from - the first sequence number wanted.
 * @returns the records.
 */
export function readLog(m: Mem, from = 0): LogRecord[] {
  const a = m.i32;
  const head = Atomics.load(a, H_LOG_HEAD);
  const cap = m.g.logRecords;
  const out: LogRecord[] = [];
  for (let seq = Math.max(from, head - cap, 0); seq < head; seq++) {
    const rec = seq % cap;
    if (Atomics.load(a, m.log(rec, LG_SEQ)) !== seq + 1) continue; // being written or overwritten
    const word = a[m.log(rec, LG_LEVEL)]!;
    const r: LogRecord = {
      seq,
      cpu: a[m.log(rec, LG_CPU)]!,
      ctx: a[m.log(rec, LG_CTX)]!,
      level: word & LEVEL_MASK,
      pid: a[m.log(rec, LG_PID)]!,
      timeUs: m.logTime(rec),
      text: getString(m, m.log(rec, LG_TEXT), a[m.log(rec, LG_LEN)]!),
    };
    const kind = word >>> KIND_SHIFT;
    if (kind > 0) r.report = REPORT_KINDS[kind - 1];
    if (Atomics.load(a, m.log(rec, LG_SEQ)) === seq + 1) out.push(r);
  }
  return out;
}

/**
 * formatRecord - one record as `dmesg` prints it with CONFIG_PRINTK_CALLER: "[    0.001234][    C1] text".
 * @param r - the record.
 * Context: any (pure).
 * @returns the line, without a newline.
 */
export function formatRecord(r: LogRecord): string {
  const secs = Math.floor(r.timeUs / 1e6);
  const us = Math.floor(r.timeUs - secs * 1e6);
  const caller = r.ctx === 0 ? `T${r.pid}` : `C${r.cpu}`;
  return `[${String(secs).padStart(5)}.${String(us).padStart(6, '0')}][${caller.padStart(6)}] ${r.text}`;
}

/**
 * formatLog - the log from sequence `from` on, as `dmesg` prints it.
 * @param m - the machine's memory.
 * @param from - the first sequence number.
 * Context: any thread, host side too; reads the ring with Atomics.load, takes no lock. Does not sleep.
 * @returns the text, one line per record.
 */
export function formatLog(m: Mem, from = 0): string {
  return readLog(m, from)
    .map((r) => formatRecord(r) + '\n')
    .join('');
}

/** One report: the record that opened it and the lines that belong to it. */
export interface Report {
  kind: ReportKind;
  /** the opening line, e.g. "BUG: KASAN: slab-use-after-free in fn" */
  title: string;
  /** the CPU that printed it */
  cpu: number;
  /** sequence number and time (µs since boot) of the opening record */
  seq: number;
  timeUs: number;
  /** the report's full text: its banner, the opening line and what follows on that CPU */
  text: string;
}

const BANNER = /^(?:[=-]{20,}|------------\[ cut here \]------------)$/;

/**
 * The reports whose opening record has sequence `since` or later, oldest first.
 * A report's text is the opening record, the banner just before it (and, for
 * a WARN, the message between "cut here" and the WARNING line), and the
 * records the same CPU printed after it up to the next report or end marker.
 * Host side; kdefer-only.
 * @param m - the machine's memory.
 * @param since - the first sequence number of interest.
 * @returns the reports.
 */
export function readReports(m: Mem, since = 0): Report[] {
  const recs = readLog(m, Math.max(0, since - 2));
  const out: Report[] = [];
  for (let k = 0; k < recs.length; k++) {
    const r = recs[k]!;
    if (r.report === undefined || r.seq < since) continue;
    let start = k;
    const prev = recs[k - 1];
    const prev2 = recs[k - 2];
    if (prev && prev.cpu === r.cpu && prev.report === undefined) {
      if (BANNER.test(prev.text)) start = k - 1;
      else if (prev2 && prev2.cpu === r.cpu && BANNER.test(prev2.text)) start = k - 2;
    }
    const lines = recs.slice(start, k + 1).map((x) => x.text);
    for (let j = k + 1; j < recs.length; j++) {
      const x = recs[j]!;
      if (x.cpu !== r.cpu) continue;
      if (x.report !== undefined || (BANNER.test(x.text) && recs[j + 1]?.report !== undefined)) break;
      lines.push(x.text);
      if (x.text.startsWith('---[ end ') || lines.length >= 64) break;
    }
    out.push({ kind: r.report, title: r.text, cpu: r.cpu, seq: r.seq, timeUs: r.timeUs, text: lines.join('\n') });
  }
  return out;
}

/**
 * panic_cpu - the CPU the machine's last panic came from.
 * @param m - the machine's memory.
 * Context: any thread, host side too. Does not sleep.
 * @returns the CPU, -1 if none panicked.
 */
export function panic_cpu(m: Mem): number {
  return Atomics.load(m.i32, H_PANIC_CPU);
}

/**
 * hex8 - a 32-bit word as the kernel prints it with %08x (preempt_count, IRQ flags).
 * @param v - the word.
 * Context: any (pure).
 * @returns eight hex digits.
 */
export const hex8 = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');
