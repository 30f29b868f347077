/**
 * lockdep.ts — the lock validator: irq-state usage and lock-order rules.
 *
 * Follows kernel/locking/lockdep.c and Documentation/locking/lockdep-design.rst.
 * A lock class is a declared lock name (its lock id); a timer or a work has a
 * pseudo-lock class too (lockdep_map). For each class, shared memory keeps
 * the usage bits seen so far (used in hardirq / softirq, used with hardirqs /
 * softirqs enabled; read and write) and where each was first seen. Each CPU
 * keeps its held-lock stack in shared memory. Acquiring B while holding A
 * adds the edge A -> B to one dependency graph shared by all CPUs (a bitmap);
 * an edge that closes a cycle is a possible deadlock, reported the first time
 * both orders have been SEEN, even if the deadlock never happened.
 *
 * Reports, in the kernel's wording: "inconsistent {SOFTIRQ-ON-W} ->
 * {IN-SOFTIRQ-W} usage" (and the hardirq twin, and the reverse order),
 * "possible circular locking dependency detected", "possible recursive
 * locking detected", "bad unlock balance detected!", and "lock held when
 * returning" from a softirq/hardirq handler or a work function. Each is
 * printed once per lock (pair).
 *
 * Differs from Linux:
 * - one class per lock name, not per lock_class_key; a lock embedded in a
 *   slab object would share its type's class (none exist yet).
 * - "at: <function>" is the function first seen taking the class (the
 *   validator does not capture a stack on every acquisition: too costly).
 * - the dependency check runs on every new edge, not once per lock chain
 *   hash; edges are cached in the bitmap, so steady state costs one load.
 * - after a report the validator stays on (the kernel turns itself off after
 *   its first report), so one run can show every distinct problem.
 */
import { HARDIRQ_MASK, SOFTIRQ_MASK, SOFTIRQ_OFFSET } from './preempt_mask.js';
import {
  type Mem,
  LK_USAGE,
  LK_SITE,
  LK_USAGE_SITE,
  LK_NAME,
  LK_KIND,
  LOCK_KIND_PSEUDO,
  LOCK_STRIDE,
  H_LOCKDEP,
  H_LOCKDEP_LOCK,
  H_LOCKDEP_REPORTS,
  H_LOCKS_USED,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_CURRENT_PID,
  LOCKDEP_GRAPH_REGION,
  LOCKDEP_REPORTED_REGION,
  LOCKDEP_HELD_REGION,
  LOCKDEP_REPORTED_SIZE,
  LOCKDEP_CPU_STRIDE,
  LD_DEPTH,
  LD_HELD_LOCKS,
  HLK_CLASS,
  HLK_FLAGS,
  HELD_LOCK_STRIDE,
  MAX_LOCK_DEPTH,
  lockdep_graph_row,
  lockdep_graph_words,
  lockdep_edge_word,
  lockdep_edge_bit,
} from './layout.js';
import { mem, i32, cpuId, PCB, nrCpus } from './smp.js';
import { intern, name_of, registry_resolve, NAME_KIND_LOCK, KdeferError, arena_region } from './module.js';
import { printk, KERN_WARNING, kernel_caller } from './printk.js';
import { irq_context_summary, context_name } from './preempt.js';
import { current_comm } from './sched/task.js';

/** MAX_LOCK_DEPTH: locks one CPU may hold at once (layout.ts: it sizes the held-lock stacks). */
export { MAX_LOCK_DEPTH };

// usage bits (LOCK_USED_IN_HARDIRQ ... as lockdep_states.h orders them)
export const LU_IN_HARDIRQ = 1 << 0;
export const LU_IN_HARDIRQ_READ = 1 << 1;
export const LU_ENABLED_HARDIRQ = 1 << 2;
export const LU_ENABLED_HARDIRQ_READ = 1 << 3;
export const LU_IN_SOFTIRQ = 1 << 4;
export const LU_IN_SOFTIRQ_READ = 1 << 5;
export const LU_ENABLED_SOFTIRQ = 1 << 6;
export const LU_ENABLED_SOFTIRQ_READ = 1 << 7;
export const LU_USED = 1 << 8;
const USAGE_NAMES = [
  'IN-HARDIRQ-W',
  'IN-HARDIRQ-R',
  'HARDIRQ-ON-W',
  'HARDIRQ-ON-R',
  'IN-SOFTIRQ-W',
  'IN-SOFTIRQ-R',
  'SOFTIRQ-ON-W',
  'SOFTIRQ-ON-R',
];

// struct held_lock flags (HLK_FLAGS)
const HF_READ = 1;
const HF_CTX_SHIFT = 4; // interrupt context level at acquire

// The tables (layout.ts, "tables in the data arena"), set by lockdep_init_cpu.
// Hot-path copies: bases in module variables, the stride in a local const
// (reached through mem's methods, each access would cost several loads).
let HELD = 0; // this CPU's held-lock stack: its lockdep_depth word (LD_DEPTH)
let HLOCKS = 0; // its held_locks[0] (LD_HELD_LOCKS)
const HLS: number = HELD_LOCK_STRIDE;
let GRAPH = 0; // dependency bitmap
let ROW = 0; // words per row (lockdep_graph_row)
let REPORTED = 0; // hash set of (kind, a, b) already reported
let USAGE = 0; // lock 0's LK_USAGE word; lock id's is USAGE + id * LKS
const LKS: number = LOCK_STRIDE;
const REPORTED_SIZE: number = LOCKDEP_REPORTED_SIZE;

// ------------------------------------------------------------ helpers

// Bits are only ever added: a plain read that misses a fresh bit just takes
// the slow path, which re-checks under the graph lock.
function has_edge(a: number, b: number): boolean {
  return (i32[GRAPH + lockdep_edge_word(ROW, a, b)]! & lockdep_edge_bit(b)) !== 0;
}

/** Report once per (kind, a, b) across all CPUs. @returns true the first time. */
function once(kind: number, a: number, b: number): boolean {
  const key = ((kind * 0x9e3779b1) ^ (a * 0x85ebca6b) ^ (b * 0xc2b2ae35) ^ 0x2545f491) | 1;
  let h = (key >>> 0) % REPORTED_SIZE;
  for (let probe = 0; probe < REPORTED_SIZE; probe++) {
    const cur = Atomics.compareExchange(i32, REPORTED + h, 0, key);
    if (cur === 0) return true;
    if (cur === key) return false;
    h = (h + 1) % REPORTED_SIZE;
  }
  return false;
}

const lname = (id: number): string => name_of(mem, i32[mem.lock(id, LK_NAME)]!);
const isPseudo = (id: number): boolean => i32[mem.lock(id, LK_KIND)] === LOCK_KIND_PSEUDO;
const fmtName = (id: number): string => (isPseudo(id) ? lname(id) : `(${lname(id)})`);

/** lockdep's usage string: one char per (hardirq-W, hardirq-R, softirq-W, softirq-R). */
function usage_str(id: number): string {
  const u = Atomics.load(i32, mem.lock(id, LK_USAGE));
  const c = (inIrq: number, enabled: number): string => (u & inIrq && u & enabled ? '?' : u & inIrq ? '-' : u & enabled ? '+' : '.');
  return `{${c(LU_IN_HARDIRQ, LU_ENABLED_HARDIRQ)}${c(LU_IN_HARDIRQ_READ, LU_ENABLED_HARDIRQ_READ)}${c(LU_IN_SOFTIRQ, LU_ENABLED_SOFTIRQ)}${c(LU_IN_SOFTIRQ_READ, LU_ENABLED_SOFTIRQ_READ)}}`;
}

function site_of(id: number): string {
  return name_of(mem, Atomics.load(i32, mem.lock(id, LK_SITE))) || '?';
}
function usage_site(id: number, ub: number): string {
  const v = Atomics.load(i32, mem.lock(id, LK_USAGE_SITE + ub));
  const ctx = ['task', 'softirq', 'hardirq', 'nmi'][(v >> 8) & 0xf] ?? 'task';
  return `${name_of(mem, v >>> 12) || '?'} (CPU#${v & 0xff}, ${ctx} context)`;
}

function task_line(): string {
  return `${current_comm()}/${i32[PCB + PC_CURRENT_PID]}`;
}

/** "N locks held by comm/pid:" and one "#k: (name), at: fn" line per held lock, as lockdep_print_held_locks. */
function held_locks_lines(): string[] {
  const depth = i32[HELD]!;
  if (depth === 0) return [`no locks held by ${task_line()}.`];
  const out = [`${depth} lock${depth > 1 ? 's' : ''} held by ${task_line()}:`];
  for (let k = 0; k < depth; k++) {
    const id = i32[HLOCKS + k * HLS + HLK_CLASS]! - 1;
    out.push(` #${k}: ${fmtName(id)}${usage_str(id)}, at: ${site_of(id)}`);
  }
  return out;
}

function report(lines: string[]): void {
  Atomics.add(i32, H_LOCKDEP_REPORTS, 1);
  for (const l of lines) printk(KERN_WARNING + l);
}

const ctxLevel = (pc: number): number => (pc & HARDIRQ_MASK ? 2 : pc & SOFTIRQ_OFFSET ? 1 : 0);

// ------------------------------------------------------------ usage (irq-state rules)

/** The usage bits an acquisition in the current irq state sets (mark_irqflags). */
function usage_wanted(pc: number, read: boolean): number {
  const hardirqsOn = i32[PCB + PC_IRQS_DISABLED] === 0;
  const softirqsOn = (pc & SOFTIRQ_MASK) === 0;
  let want = LU_USED;
  if (pc & HARDIRQ_MASK) want |= read ? LU_IN_HARDIRQ_READ : LU_IN_HARDIRQ;
  else if (hardirqsOn) want |= read ? LU_ENABLED_HARDIRQ_READ : LU_ENABLED_HARDIRQ;
  if (pc & SOFTIRQ_OFFSET) want |= read ? LU_IN_SOFTIRQ_READ : LU_IN_SOFTIRQ;
  // as mark_irqflags: "softirqs enabled" counts only while hardirqs are on too
  // (with interrupts off no softirq can run on this CPU)
  else if (softirqsOn && hardirqsOn && !(pc & HARDIRQ_MASK)) want |= read ? LU_ENABLED_SOFTIRQ_READ : LU_ENABLED_SOFTIRQ;
  return want;
}

/** Record usage bits `fresh` of class `id`, seen missing by a plain read; check the irq-state rules for the new ones. */
function mark_usage(id: number, fresh: number, pc: number): void {
  const w = mem.lock(id, LK_USAGE);
  const old = Atomics.or(i32, w, fresh);
  const newBits = fresh & ~old;
  if (newBits === 0) return;
  const fnId = intern(kernel_caller());
  if (!Atomics.load(i32, mem.lock(id, LK_SITE))) Atomics.compareExchange(i32, mem.lock(id, LK_SITE), 0, fnId);
  const here = cpuId | (ctxLevel(pc) << 8) | (fnId << 12);
  for (let ub = 0; ub < 8; ub++) if (newBits & (1 << ub)) Atomics.compareExchange(i32, mem.lock(id, LK_USAGE_SITE + ub), 0, here);
  const all = old | newBits;
  // the single-lock rule: never both irq-safe and irq-unsafe for one irq type
  check_pair(id, newBits, all, LU_IN_HARDIRQ, LU_ENABLED_HARDIRQ | LU_ENABLED_HARDIRQ_READ, 0, 'HARDIRQ');
  check_pair(id, newBits, all, LU_IN_SOFTIRQ, LU_ENABLED_SOFTIRQ | LU_ENABLED_SOFTIRQ_READ, 1, 'SOFTIRQ');
  // a reader in irq context conflicts only with writers that keep irqs enabled
  check_pair(id, newBits, all, LU_IN_HARDIRQ_READ, LU_ENABLED_HARDIRQ, 2, 'HARDIRQ');
  check_pair(id, newBits, all, LU_IN_SOFTIRQ_READ, LU_ENABLED_SOFTIRQ, 3, 'SOFTIRQ');
}

function check_pair(id: number, newBits: number, all: number, inIrq: number, enabled: number, kind: number, state: string): void {
  if (!(all & inIrq) || !(all & enabled)) return;
  if (!(newBits & (inIrq | enabled))) return;
  if (!once(10 + kind, id, id)) return;
  const inName = USAGE_NAMES[31 - Math.clz32(inIrq)]!;
  const enBit =
    all & enabled & LU_ENABLED_HARDIRQ ? LU_ENABLED_HARDIRQ : all & enabled & LU_ENABLED_SOFTIRQ ? LU_ENABLED_SOFTIRQ : all & enabled;
  const enName = USAGE_NAMES[31 - Math.clz32(enBit)]!;
  const nowIrq = (newBits & inIrq) !== 0;
  const [prev, next] = nowIrq ? [enName, inName] : [inName, enName];
  const prevBit = nowIrq ? enBit : inIrq;
  const n = fmtName(id);
  report([
    '================================',
    'WARNING: inconsistent lock state',
    '6.12.0-kdefer #1 Not tainted',
    '--------------------------------',
    `inconsistent {${prev}} -> {${next}} usage.`,
    `${task_line()} ${irq_context_summary()} takes:`,
    ` ${n}${usage_str(id)}, at: ${kernel_caller()}`,
    `{${prev}} state was registered at:`,
    `  ${usage_site(id, 31 - Math.clz32(prevBit))}`,
    `other info that might help us debug this:`,
    ' Possible unsafe locking scenario:',
    '',
    '       CPU0',
    '       ----',
    `  lock(${n});`,
    '  <Interrupt>',
    `    lock(${n});`,
    '',
    ' *** DEADLOCK ***',
    '',
    ...held_locks_lines(),
    `(the ${state.toLowerCase()}-safe and -unsafe uses above were seen on CPUs ${usage_site(id, 31 - Math.clz32(prevBit)).replace(/^.*\(CPU#(\d+).*$/, '$1')} and ${cpuId})`,
  ]);
}

// ------------------------------------------------------------ dependencies

function graph_lock(): void {
  while (Atomics.compareExchange(i32, H_LOCKDEP_LOCK, 0, cpuId + 1) !== 0) {
    /* short: edges are added rarely */
  }
}
function graph_unlock(): void {
  Atomics.store(i32, H_LOCKDEP_LOCK, 0);
}

/** A path from `from` to `to` in the graph (BFS), as the list of classes, or null. */
function find_path(from: number, to: number): number[] | null {
  const n = Atomics.load(i32, H_LOCKS_USED);
  const prev = new Int32Array(n).fill(-1);
  const queue = [from];
  prev[from] = from;
  while (queue.length > 0) {
    const a = queue.shift()!;
    if (a === to) {
      const path = [to];
      for (let x = to; x !== from; x = prev[x]!) path.push(prev[x]!);
      return path.reverse();
    }
    const row = GRAPH + lockdep_edge_word(ROW, a, 0);
    for (let w = 0; w < ROW && w * 32 < n; w++) {
      let bits = Atomics.load(i32, row + w);
      while (bits !== 0) {
        const b = w * 32 + 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        if (b < n && prev[b] === -1) {
          prev[b] = a;
          queue.push(b);
        }
      }
    }
  }
  return null;
}

function add_dependency(held: number, next: number): void {
  if (has_edge(held, next)) return;
  graph_lock();
  let cycle: number[] | null = null;
  try {
    if (has_edge(held, next)) return;
    cycle = find_path(next, held);
    if (cycle === null) Atomics.or(i32, GRAPH + lockdep_edge_word(ROW, held, next), lockdep_edge_bit(next));
  } finally {
    graph_unlock();
  }
  if (cycle && once(20, Math.min(held, next), Math.max(held, next))) report_circular(held, next, cycle);
}

function report_circular(held: number, next: number, path: number[]): void {
  // path: next -> ... -> held already exists; now held -> next
  const chain: string[] = [];
  const rev = [...path].reverse(); // held ... next
  rev.forEach((c, i) => {
    chain.push(`-> #${rev.length - 1 - i} ${fmtName(c)}${usage_str(c)}:`);
    chain.push(`       ${site_of(c)}`);
    chain.push('');
  });
  const h = fmtName(held);
  const nx = fmtName(next);
  report([
    '======================================================',
    'WARNING: possible circular locking dependency detected',
    '6.12.0-kdefer #1 Not tainted',
    '------------------------------------------------------',
    `${task_line()} is trying to acquire lock:`,
    ` ${nx}${usage_str(next)}, at: ${kernel_caller()}`,
    '',
    'but task is already holding lock:',
    ` ${h}${usage_str(held)}, at: ${site_of(held)}`,
    '',
    'which lock already depends on the new lock.',
    '',
    '',
    'the existing dependency chain (in reverse order) is:',
    '',
    ...chain,
    'other info that might help us debug this:',
    '',
    ...(path.length === 2
      ? [
          ' Possible unsafe locking scenario:',
          '',
          '       CPU0                    CPU1',
          '       ----                    ----',
          `  lock(${h});`,
          `                               lock(${nx});`,
          `                               lock(${h});`,
          `  lock(${nx});`,
          '',
        ]
      : [` Chain exists of:\n   ${rev.map(fmtName).join(' --> ')} --> ${h}`, '']),
    ' *** DEADLOCK ***',
    '',
    ...held_locks_lines(),
    `context: CPU#${cpuId}, ${context_name()}`,
  ]);
}

// ------------------------------------------------------------ the hooks

/**
 * lock_acquire - the validator's view of an acquisition of class `id`: records
 * the usage bits of this context, checks the order against the held locks
 * (the dependency graph, recursion), then pushes it on this CPU's held stack.
 * @param id - the lock class.
 * @param read - a reader of a rwlock.
 * @param trylock - a trylock that succeeded: usage is recorded, no ordering check.
 * Context: any, on this CPU: called by the lock functions around the acquisition. Does not sleep.
 */
export function lock_acquire(id: number, read: boolean, trylock: boolean): void {
  // The fast path, small enough to be inlined into the lock functions: the
  // class already has every usage bit this acquisition would set (they only
  // grow: a stale plain read costs one Atomics.or in mark_usage), and no
  // lock is held (nothing to order against); else lock_acquire_slow.
  const pc = i32[PCB + PC_PREEMPT_COUNT]!;
  const depth = i32[HELD]!;
  const fresh = usage_wanted(pc, read) & ~i32[USAGE + id * LKS]!;
  if (fresh !== 0 || depth !== 0) {
    lock_acquire_slow(id, read, trylock, pc, depth, fresh);
    return;
  }
  i32[HLOCKS + HLK_CLASS] = id + 1;
  i32[HLOCKS + HLK_FLAGS] = (read ? HF_READ : 0) | (ctxLevel(pc) << HF_CTX_SHIFT);
  i32[HELD] = 1;
}

function lock_acquire_slow(id: number, read: boolean, trylock: boolean, pc: number, depth: number, fresh: number): void {
  if (fresh !== 0) mark_usage(id, fresh, pc);
  if (!trylock && depth > 0) {
    for (let k = depth - 1; k >= 0; k--) {
      const h = i32[HLOCKS + k * HLS + HLK_CLASS]! - 1;
      const f = i32[HLOCKS + k * HLS + HLK_FLAGS]!;
      if (h === id) {
        // readers of a rwlock may recurse; anything else is a self-deadlock
        if (!(read && f & HF_READ) && once(30, id, id)) report_recursive(id);
        continue;
      }
      // dependencies only between locks of the same irq context (lockdep's rule)
      if (((f >> HF_CTX_SHIFT) & 3) === ctxLevel(pc)) add_dependency(h, id);
    }
  }
  if (depth >= MAX_LOCK_DEPTH) {
    if (once(40, cpuId, 0))
      report([
        'BUG: MAX_LOCK_DEPTH too low!',
        `turning off the locking correctness validator.`,
        `depth: ${depth}  max: ${MAX_LOCK_DEPTH}!`,
      ]);
    return;
  }
  i32[HLOCKS + depth * HLS + HLK_CLASS] = id + 1;
  i32[HLOCKS + depth * HLS + HLK_FLAGS] = (read ? HF_READ : 0) | (ctxLevel(pc) << HF_CTX_SHIFT);
  i32[HELD] = depth + 1;
}

function report_recursive(id: number): void {
  const n = fmtName(id);
  report([
    '============================================',
    'WARNING: possible recursive locking detected',
    '6.12.0-kdefer #1 Not tainted',
    '--------------------------------------------',
    `${task_line()} is trying to acquire lock:`,
    ` ${n}${usage_str(id)}, at: ${kernel_caller()}`,
    '',
    'but task is already holding lock:',
    ` ${n}${usage_str(id)}, at: ${site_of(id)}`,
    '',
    'other info that might help us debug this:',
    ' Possible unsafe locking scenario:',
    '',
    '       CPU0',
    '       ----',
    `  lock(${n});`,
    `  lock(${n});`,
    '',
    ' *** DEADLOCK ***',
    '',
    ' May be due to missing lock nesting notation',
    '',
    ...held_locks_lines(),
  ]);
}

/**
 * lock_release - the validator's view of a release of class `id`: pops it from
 * this CPU's held stack (from anywhere in it), or reports a bad unlock balance.
 * @param id - the lock class.
 * Context: any, on this CPU: called by the unlock functions. Does not sleep.
 */
export function lock_release(id: number): void {
  const depth = i32[HELD]!;
  // The fast path: the lock on top of the stack (releases in reverse order).
  if (depth > 0 && i32[HLOCKS + (depth - 1) * HLS + HLK_CLASS] === id + 1) {
    i32[HELD] = depth - 1;
    return;
  }
  lock_release_slow(id, depth);
}

function lock_release_slow(id: number, depth: number): void {
  for (let k = depth - 1; k >= 0; k--) {
    if (i32[HLOCKS + k * HLS + HLK_CLASS] === id + 1) {
      for (let j = k; j < depth - 1; j++) {
        i32[HLOCKS + j * HLS + HLK_CLASS] = i32[HLOCKS + (j + 1) * HLS + HLK_CLASS]!;
        i32[HLOCKS + j * HLS + HLK_FLAGS] = i32[HLOCKS + (j + 1) * HLS + HLK_FLAGS]!;
      }
      i32[HELD] = depth - 1;
      return;
    }
  }
  if (once(50, id, cpuId)) {
    report([
      '=====================================',
      'WARNING: bad unlock balance detected!',
      '6.12.0-kdefer #1 Not tainted',
      '-------------------------------------',
      `${task_line()} is trying to release lock ${fmtName(id)} at:`,
      `${kernel_caller()}`,
      'but there are no more locks to release!',
    ]);
  }
}

/**
 * lockdep_depth - the held-lock depth of this CPU (to check that a context returns
 * with what it entered with).
 * Context: any, on this CPU. Does not sleep.
 * @returns the depth, 0 when the validator is off.
 */
export function lockdep_depth(): number {
  return HELD ? i32[HELD]! : 0;
}

/**
 * lockdep_check_return - after a handler or work function returned: report locks it
 * left held ("lock held when returning"), and forget them so the CPU goes on.
 * @param depthAtEntry - lockdep_depth() before the call.
 * @param what - names the function in the report.
 * Context: the context the function ran in, right after it returned. Does not sleep.
 */
export function lockdep_check_return(depthAtEntry: number, what: string): void {
  if (!HELD) return;
  const depth = i32[HELD]!;
  if (depth <= depthAtEntry) return;
  const names: string[] = [];
  for (let k = depthAtEntry; k < depth; k++) names.push(fmtName(i32[HLOCKS + k * HLS + HLK_CLASS]! - 1));
  if (once(60, i32[HLOCKS + depthAtEntry * HLS + HLK_CLASS]! - 1, what.length)) {
    report([
      '================================================',
      `WARNING: lock held when returning from ${what}!`,
      '6.12.0-kdefer #1 Not tainted',
      '------------------------------------------------',
      `${task_line()} is leaving ${what} with locks still held!`,
      `${depth - depthAtEntry} lock${depth - depthAtEntry > 1 ? 's' : ''} held by ${task_line()}:`,
      ...names.map((n, i) => ` #${i}: ${n}`),
    ]);
  }
}

/**
 * lockdep_map - the pseudo-lock class named `name` ("(&t->timer)", "(work_completion)(...)",
 * "(wq_completion)events"), registered the first time.
 * @param name - the class's name.
 * Context: any; a KdeferError when the lock table is full (boot option maxLocks). Does not sleep.
 * @returns the class id (the same on every CPU).
 */
export function lockdep_map(name: string): number {
  const e = registry_resolve(mem, NAME_KIND_LOCK, name, () => {
    const id = i32[H_LOCKS_USED]!;
    if (id >= mem.g.maxLocks) throw new KdeferError(`lock table full: maxLocks=${mem.g.maxLocks} (boot option maxLocks)`);
    i32[H_LOCKS_USED] = id + 1;
    i32[mem.lock(id, LK_KIND)] = LOCK_KIND_PSEUDO;
    return { value: id, size: LOCK_KIND_PSEUDO };
  });
  i32[mem.lock(e.value, LK_NAME)] = e.id;
  return e.value;
}

const mapCache = new Map<string, number>();
/**
 * lockdep_map_of - the pseudo-lock class named `name` (cached on this CPU), or -1 when the
 * validator is off, so that callers annotate without allocating classes.
 * @param name - the class's name.
 * Context: any, on this CPU. Does not sleep.
 * @returns the class id, or -1.
 */
export function lockdep_map_of(name: string): number {
  if (!HELD) return -1;
  let id = mapCache.get(name);
  if (id === undefined) {
    id = lockdep_map(name);
    mapCache.set(name, id);
  }
  return id;
}

/**
 * lockdep_switch_out - a task switches out: its held locks (sleeping locks and maps: it
 * holds no spinlock when it sleeps) leave this CPU's stack with it, as lockdep
 * keeps held_locks per task.
 * Context: the scheduler, at a switch on this CPU. Does not sleep.
 * @returns the saved entries, or null when it held nothing (or the validator is off).
 */
export function lockdep_switch_out(): Int32Array | null {
  if (!HELD) return null;
  const depth = i32[HELD]!;
  if (depth === 0) return null;
  const saved = i32.slice(HLOCKS, HLOCKS + depth * HLS);
  i32[HELD] = 0;
  return saved;
}
/**
 * lockdep_switch_in - the task switches back in: its held locks return to this CPU's stack.
 * @param saved - what lockdep_switch_out() returned for it.
 * Context: the scheduler, at a switch on this CPU. Does not sleep.
 */
export function lockdep_switch_in(saved: Int32Array | null): void {
  if (!HELD || saved === null) return;
  const depth = i32[HELD]!;
  const n = saved.length / HLS;
  if (depth + n > MAX_LOCK_DEPTH) return;
  i32.set(saved, HLOCKS + depth * HLS);
  i32[HELD] = depth + n;
}

/**
 * lock_map_acquire - take a pseudo-lock (around a timer function, a work function, or in a
 * _sync wait), so that lockdep sees a wait on it as an acquisition. Installed at
 * boot: a no-op when the validator is off.
 * Context: any, on this CPU. Does not sleep.
 */
export let lock_map_acquire: (id: number) => void = () => {};
/**
 * lock_map_release - release a pseudo-lock taken with lock_map_acquire(). Installed at
 * boot: a no-op when the validator is off.
 * Context: any, on this CPU. Does not sleep.
 */
export let lock_map_release: (id: number) => void = () => {};
/**
 * lock_map_acquire_try - a successful trylock of a class (usage recorded, no ordering).
 * Installed at boot: a no-op when the validator is off.
 * Context: any, on this CPU. Does not sleep.
 */
export let lock_map_acquire_try: (id: number) => void = () => {};

/**
 * Lockdep reports printed so far (host side too).
 * @param m - the machine's memory.
 * @returns the count.
 */
export function lockdepReportCount(m: Mem): number {
  return Atomics.load(m.i32, H_LOCKDEP_REPORTS);
}

/**
 * lockdep_enabled - whether the machine was booted with the validator (boot option lockdep).
 * Context: any. Does not sleep.
 * @returns true if it is on.
 */
export function lockdep_enabled(): boolean {
  return i32[H_LOCKDEP] !== 0;
}

/**
 * lockdep_init_cpu - lockdep_init: bind this CPU's held stack and the shared graph,
 * and install the lock_map_* hooks.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 * @returns whether the validator is on.
 */
export function lockdep_init_cpu(): boolean {
  const on = i32[H_LOCKDEP] !== 0;
  if (!on) return false;
  const n = mem.g.maxLocks;
  ROW = lockdep_graph_row(n);
  GRAPH = arena_region(LOCKDEP_GRAPH_REGION, lockdep_graph_words(n));
  REPORTED = arena_region(LOCKDEP_REPORTED_REGION, REPORTED_SIZE);
  const stack = arena_region(LOCKDEP_HELD_REGION, nrCpus * LOCKDEP_CPU_STRIDE) + cpuId * LOCKDEP_CPU_STRIDE;
  HELD = stack + LD_DEPTH;
  USAGE = mem.lock(0, LK_USAGE);
  HLOCKS = stack + LD_HELD_LOCKS;
  lock_map_acquire = (id) => lock_acquire(id, false, false);
  lock_map_release = (id) => lock_release(id);
  lock_map_acquire_try = (id) => lock_acquire(id, false, true);
  return true;
}
