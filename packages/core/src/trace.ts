/**
 * trace.ts — tracepoints into a per-CPU ring, and their Chrome-trace export.
 *
 * Follows include/trace/events/{irq,timer,workqueue,lock,sched}.h: the
 * kernel's tracepoint names (irq_handler_entry/exit, softirq_raise/entry/exit,
 * tasklet_entry/exit, timer_start/expire_entry/expire_exit/cancel,
 * workqueue_queue_work/execute_start/execute_end, lock_acquire/contended/
 * release, sched_switch, local_timer_entry/exit). Each CPU writes its own ring
 * in shared memory (no atomics but the head), so the host reads every CPU's
 * events without asking them, and a report can show the last events of the
 * CPUs it names.
 *
 * Tracing is a boot option. When it is off, every tracepoint is one call of
 * an empty function installed at boot (the lock hooks compose with lockdep's
 * so that a lock costs nothing more).
 *
 * Differs from Linux:
 * - one fixed record format (time, event, two integer arguments); names are
 *   resolved from the name registry when exported.
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  H_TRACE_FLAGS,
  H_TRACE_RECORDS,
  TRACE_REGION,
  TR_HEAD,
  TR_ENTRIES,
  TE_TIME,
  TE_EVENT,
  TE_ARG0,
  TRACE_ENTRY_STRIDE,
  trace_ring_words,
  trace_entry,
} from './layout.js';
import { mem, i32, cpuId, nrCpus } from './smp.js';
import { arena_region, registryLookup, name_of, NAME_KIND_DATA } from './module.js';

export const TP_IRQ_HANDLER_ENTRY = 1;
export const TP_IRQ_HANDLER_EXIT = 2;
export const TP_SOFTIRQ_RAISE = 3;
export const TP_SOFTIRQ_ENTRY = 4;
export const TP_SOFTIRQ_EXIT = 5;
export const TP_TASKLET_ENTRY = 6;
export const TP_TASKLET_EXIT = 7;
export const TP_TIMER_START = 8;
export const TP_TIMER_EXPIRE_ENTRY = 9;
export const TP_TIMER_EXPIRE_EXIT = 10;
export const TP_TIMER_CANCEL = 11;
export const TP_WORKQUEUE_QUEUE_WORK = 12;
export const TP_WORKQUEUE_EXECUTE_START = 13;
export const TP_WORKQUEUE_EXECUTE_END = 14;
/** In a0 of workqueue_execute_start/end: the item is BH work, run in softirq context. */
export const TRACE_WORK_BH = 1 << 30;
export const TP_LOCK_ACQUIRE = 15;
export const TP_LOCK_CONTENDED = 16;
export const TP_LOCK_RELEASE = 17;
export const TP_SCHED_SWITCH = 18;
export const TP_LOCAL_TIMER_ENTRY = 19;
export const TP_LOCAL_TIMER_EXIT = 20;
export const TP_NAMES = [
  '',
  'irq_handler_entry',
  'irq_handler_exit',
  'softirq_raise',
  'softirq_entry',
  'softirq_exit',
  'tasklet_entry',
  'tasklet_exit',
  'timer_start',
  'timer_expire_entry',
  'timer_expire_exit',
  'timer_cancel',
  'workqueue_queue_work',
  'workqueue_execute_start',
  'workqueue_execute_end',
  'lock_acquire',
  'lock_contended',
  'lock_release',
  'sched_switch',
  'local_timer_entry',
  'local_timer_exit',
];

/** Default records per CPU ring (boot option traceRecords, a power of two). */
export const TRACE_RECORDS = 65536;
/** H_TRACE_FLAGS bits */
export const TRACE_ON = 1;
export const TRACE_LOCKS = 2;
/** Words of one CPU's trace ring (setup adds the CPUs' rings to the arena). */
export { trace_ring_words };

// This CPU's ring (layout.ts, "trace ring"), set by trace_init_cpu. Hot-path
// copies: bases in module variables, the stride in a local const.
const TES: number = TRACE_ENTRY_STRIDE;
let MASK = TRACE_RECORDS - 1; // records per ring - 1
let ringHead = 0; // the ring's TR_HEAD word
let ringEntries = 0; // its first entry (TR_ENTRIES)
let bootMs = 0;

/** trace_event when tracing is off. */
const noop = (_ev: number, _a0: number, _a1: number): void => {};
/**
 * trace_event - record tracepoint `ev` with two integer arguments on this CPU.
 * Installed at boot: a no-op when tracing is off.
 * Context: any, on this CPU (it writes only this CPU's ring). Does not sleep.
 */
export let trace_event: (ev: number, a0: number, a1: number) => void = noop;

function record(ev: number, a0: number, a1: number): void {
  const head = i32[ringHead]!;
  const w = ringEntries + (head & MASK) * TES;
  mem.f64[(w + TE_TIME) / 2] = (clock_now() - bootMs) * 1000;
  i32[w + TE_EVENT] = ev | (a1 << 8);
  i32[w + TE_ARG0] = a0;
  Atomics.store(i32, ringHead, head + 1);
}

/**
 * tracing_on - whether the machine was booted with tracing (boot option trace).
 * @param m - the machine's memory (default: this CPU's).
 * Context: any thread, host side too. Does not sleep.
 * @returns true if TRACE_ON is set.
 */
export function tracing_on(m: Mem = mem): boolean {
  return (m.i32[H_TRACE_FLAGS]! & TRACE_ON) !== 0;
}
/**
 * tracing_locks - whether lock_acquire/lock_release are traced too (they flood the ring).
 * @param m - the machine's memory (default: this CPU's).
 * Context: any thread, host side too. Does not sleep.
 * @returns true if TRACE_LOCKS is set.
 */
export function tracing_locks(m: Mem = mem): boolean {
  return (m.i32[H_TRACE_FLAGS]! & TRACE_LOCKS) !== 0;
}

/**
 * trace_init_cpu - bind this CPU's trace ring, or install the no-op trace_event when
 * tracing is off (the variant is chosen once, at boot).
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function trace_init_cpu(): void {
  if (!tracing_on()) {
    trace_event = noop;
    return;
  }
  const records = i32[H_TRACE_RECORDS]! || TRACE_RECORDS;
  const ring = trace_ring_words(records);
  const base = arena_region(TRACE_REGION, nrCpus * ring) + cpuId * ring;
  MASK = records - 1;
  ringHead = base + TR_HEAD;
  ringEntries = base + TR_ENTRIES;
  bootMs = mem.bootTime();
  trace_event = record;
}

// ------------------------------------------------------------ reading (host side too)

export interface TraceRecord {
  cpu: number;
  /** µs since boot */
  ts: number;
  ev: number;
  name: string;
  a0: number;
  a1: number;
}

/**
 * Every CPU's trace records still in its ring, oldest first per CPU.
 * @param m - the machine's memory.
 * @returns the records ([] when tracing is off).
 */
export function readTrace(m: Mem): TraceRecord[] {
  if (!tracing_on(m)) return [];
  const e = registryLookup(m, TRACE_REGION);
  if (!e || e.kind !== NAME_KIND_DATA) return [];
  const out: TraceRecord[] = [];
  const records = m.i32[H_TRACE_RECORDS]! || TRACE_RECORDS;
  const ring = trace_ring_words(records);
  for (let c = 0; c < m.g.cpus; c++) {
    const b = m.data(e.value) + c * ring;
    const head = Atomics.load(m.i32, b + TR_HEAD);
    for (let k = Math.max(0, head - records); k < head; k++) {
      const w = b + trace_entry(records, k);
      const evw = m.i32[w + TE_EVENT]!;
      const ev = evw & 0xff;
      out.push({ cpu: c, ts: m.f64[(w + TE_TIME) / 2]!, ev, name: TP_NAMES[ev] ?? `ev${ev}`, a0: m.i32[w + TE_ARG0]!, a1: evw >> 8 });
    }
  }
  return out;
}

const SOFTIRQ_NAMES = ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'];

/**
 * traceDetail - the event's arguments in words, as ftrace prints them.
 * @param m - the machine's memory (names are interned there).
 * @param r - a record from readTrace().
 * Context: any thread, host side too. Does not sleep.
 * @returns the argument text ("" for an event without arguments).
 */
export function traceDetail(m: Mem, r: TraceRecord): string {
  const nm = (id: number): string => (id > 0 ? name_of(m, id) : '?');
  switch (r.ev) {
    case TP_IRQ_HANDLER_ENTRY:
      return `irq=${r.a0} name=${nm(r.a1)}`;
    case TP_IRQ_HANDLER_EXIT:
      return `irq=${r.a0} ret=${r.a1 === 1 ? 'handled' : 'unhandled'}`;
    case TP_SOFTIRQ_RAISE:
    case TP_SOFTIRQ_ENTRY:
    case TP_SOFTIRQ_EXIT:
      return `vec=${r.a0} [action=${SOFTIRQ_NAMES[r.a0] ?? r.a0}]`;
    case TP_TASKLET_ENTRY:
    case TP_TASKLET_EXIT:
      return `tasklet=${nm(r.a1) || `#${r.a0}`}`;
    case TP_TIMER_START:
      return `timer=${nm(r.a1) || `#${r.a0}`} cpu=${r.a0 >>> 24} id=${r.a0 & 0xffffff}`;
    case TP_TIMER_EXPIRE_ENTRY:
    case TP_TIMER_EXPIRE_EXIT:
    case TP_TIMER_CANCEL:
      return `timer=${nm(r.a1) || `#${r.a0}`}`;
    case TP_WORKQUEUE_QUEUE_WORK:
      return `work=${nm(r.a1).replace(/^d?work:/, '')} cpu=${r.a0}`;
    case TP_WORKQUEUE_EXECUTE_START:
    case TP_WORKQUEUE_EXECUTE_END:
      return `work=${nm(r.a1).replace(/^d?work:/, '')}`;
    case TP_LOCK_ACQUIRE:
    case TP_LOCK_CONTENDED:
    case TP_LOCK_RELEASE:
      return `${nm(r.a1)}`;
    case TP_SCHED_SWITCH:
      return `prev_pid=${r.a0} ==> next_pid=${r.a1}`;
    default:
      return '';
  }
}

/**
 * traceTail - ftrace-style lines of CPU `cpu`'s last `n` events, ticks left out (for reports).
 * @param m - the machine's memory.
 * @param cpu - the CPU.
 * @param n - how many events (default 8).
 * Context: any thread, host side too; reads the rings without a lock. Does not sleep.
 * @returns the lines, oldest first.
 */
export function traceTail(m: Mem, cpu: number, n = 8): string[] {
  return readTrace(m)
    .filter((r) => r.cpu === cpu && r.ev !== TP_LOCAL_TIMER_ENTRY && r.ev !== TP_LOCAL_TIMER_EXIT)
    .slice(-n)
    .map((r) => `  [${String(cpu).padStart(3, '0')}] ${(r.ts / 1e6).toFixed(6)}: ${r.name}: ${traceDetail(m, r)}`);
}

// ------------------------------------------------------------ Chrome trace-event JSON

interface ChromeEvent {
  name: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: string;
  args?: Record<string, unknown>;
}

const CTX_NAMES = ['task', 'softirq', 'hardirq'];

/**
 * chromeTrace - the trace as Chrome trace-event JSON ({"traceEvents": [...]}) that opens in
 * Perfetto: one process per CPU, one track per context (task, softirq,
 * hardirq); entry/exit tracepoints become slices, the others instants.
 * @param m - the machine's memory.
 * Context: the host, after (or while) the machine runs. Does not sleep.
 * @returns the JSON object.
 */
export function chromeTrace(m: Mem): { traceEvents: ChromeEvent[]; displayTimeUnit: string } {
  const recs = readTrace(m);
  const ev: ChromeEvent[] = [];
  for (let c = 0; c < m.g.cpus; c++) {
    ev.push({ name: 'process_name', ph: 'M', ts: 0, pid: c, tid: 0, args: { name: `CPU ${c}` } });
    ev.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid: c, tid: 0, args: { sort_index: c } });
    for (let k = 0; k < 3; k++)
      ev.push({ name: 'thread_name', ph: 'M', ts: 0, pid: c, tid: c * 10 + k, args: { name: `CPU${c} ${CTX_NAMES[k]}` } });
  }
  const open = new Map<string, number>();
  for (const r of recs) {
    const detail = traceDetail(m, r);
    const tidOf = (ctx: number): number => r.cpu * 10 + ctx;
    const slice = (ctx: number, begin: boolean, key: string): void => {
      const k = `${r.cpu}:${ctx}:${key}`;
      if (begin) {
        open.set(k, (open.get(k) ?? 0) + 1);
        ev.push({
          name: `${r.name}: ${detail}`,
          ph: 'B',
          ts: r.ts,
          pid: r.cpu,
          tid: tidOf(ctx),
          cat: r.name.replace(/_(entry|start)$/, ''),
          args: { tracepoint: r.name },
        });
      } else if ((open.get(k) ?? 0) > 0) {
        open.set(k, open.get(k)! - 1);
        ev.push({ name: r.name, ph: 'E', ts: r.ts, pid: r.cpu, tid: tidOf(ctx), args: { tracepoint: r.name, detail } });
      }
    };
    switch (r.ev) {
      case TP_IRQ_HANDLER_ENTRY:
        slice(2, true, `irq${r.a0}`);
        break;
      case TP_IRQ_HANDLER_EXIT:
        slice(2, false, `irq${r.a0}`);
        break;
      case TP_LOCAL_TIMER_ENTRY:
        slice(2, true, 'loc');
        break;
      case TP_LOCAL_TIMER_EXIT:
        slice(2, false, 'loc');
        break;
      case TP_SOFTIRQ_ENTRY:
        slice(1, true, `vec${r.a0}`);
        break;
      case TP_SOFTIRQ_EXIT:
        slice(1, false, `vec${r.a0}`);
        break;
      case TP_TASKLET_ENTRY:
        slice(1, true, `t${r.a0}`);
        break;
      case TP_TASKLET_EXIT:
        slice(1, false, `t${r.a0}`);
        break;
      case TP_TIMER_EXPIRE_ENTRY:
        slice(1, true, `tm${r.a0}`);
        break;
      case TP_TIMER_EXPIRE_EXIT:
        slice(1, false, `tm${r.a0}`);
        break;
      case TP_WORKQUEUE_EXECUTE_START:
        slice(r.a0 & TRACE_WORK_BH ? 1 : 0, true, `w${r.a1}`);
        break;
      case TP_WORKQUEUE_EXECUTE_END:
        slice(r.a0 & TRACE_WORK_BH ? 1 : 0, false, `w${r.a1}`);
        break;
      default:
        ev.push({
          name: r.name,
          ph: 'i',
          s: 't',
          ts: r.ts,
          pid: r.cpu,
          tid: tidOf(r.ev === TP_SCHED_SWITCH ? 0 : 0),
          cat: r.name,
          args: { detail },
        });
    }
  }
  return { traceEvents: ev, displayTimeUnit: 'ms' };
}
