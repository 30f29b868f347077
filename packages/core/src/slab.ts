/**
 * slab.ts — a shared slab allocator with KASAN-style use-after-free detection.
 *
 * Follows mm/slab_common.c (kmalloc, kzalloc, kfree, kmem_cache_create /
 * alloc / free, the kmalloc-N size classes) and mm/kasan (generic KASAN's
 * report: "BUG: KASAN: slab-use-after-free in <function>", the access, the
 * task, then "Allocated by task …" and "Freed by task …"; freed objects are
 * poisoned and kept in a quarantine so that a late access still finds them
 * freed). Objects live in shared memory with typed, named fields, and travel
 * between CPUs as a handle (a number) — `slab_obj(handle)` on another CPU
 * gives the same object.
 *
 * Every field access goes through the object's accessor and is checked: an
 * access to a freed object is reported (once per allocation) and reads
 * return the poison value 0x6b6b6b6b (POISON_FREE bytes), writes are dropped.
 *
 * Differs from Linux:
 * - objects are declared as structs with named fields (defineStruct), and
 *   accessed through get/set, not through pointers: a freed object is caught
 *   on every access, even after its memory was reused (handles carry a
 *   generation), which real KASAN cannot promise.
 * - a `timer_list`, `tasklet_struct`, `work_struct` or `delayed_work` field
 *   embeds a timer, tasklet or work whose state lives in its own table and
 *   points back at the object, so that from_timer() (workContainerOf) works
 *   and arming a timer, or queueing or running a work, of a freed object is
 *   a use-after-free too.
 * - allocation never sleeps, but kmalloc(GFP_KERNEL) from atomic context is
 *   reported by might_sleep as the kernel's is.
 */
import {
  type Mem,
  OB_STATE,
  OB_GEN,
  OB_OFF,
  OB_SIZE,
  OB_CACHE,
  OB_ALLOC_CPU,
  OB_ALLOC_FN,
  OB_FREE_CPU,
  OB_FREE_FN,
  OB_REPORTED,
  OB_QNEXT,
  OBJ_FREE,
  OBJ_LIVE,
  OBJ_QUARANTINE,
  H_SLAB_LOCK,
  H_SLAB_USED,
  H_KASAN_REPORTS,
  H_QUAR_HEAD,
  H_QUAR_TAIL,
  H_QUAR_WORDS,
  H_OBJ_HINT,
  PC_CURRENT_PID,
  SLAB_FREELISTS_REGION,
  KMALLOC_FREELISTS,
  kmalloc_index,
} from './layout.js';
import { mem, i32, cpuId, PCB } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, intern, name_of, arena_region } from './module.js';
import { printk, KERN_ERR, dump_context, call_trace, kernel_caller } from './printk.js';
import { interrupt_context_level, local_irq_save, local_irq_restore } from './preempt.js';
import { might_sleep, comm_of_pid } from './sched.js';
import { timer_slot_alloc, timer_slot_release, type TimerList, timer_by_id, timerOfStaleHandle } from './timer.js';
import { tasklet_slot_alloc, tasklet_slot_release, type TaskletStruct, tasklet_by_id, taskletOfStaleHandle } from './tasklet.js';
import {
  work_slot_alloc_owned,
  dwork_slot_alloc_owned,
  work_slot_release,
  work_owned_by,
  type WorkStruct,
  type DelayedWork,
  work_by_id,
  dwork_by_id,
} from './workqueue.js';

export const GFP_KERNEL = 0xcc0;
export const GFP_ATOMIC = 0x820;
export const GFP_NOWAIT = 0x800;
export const __GFP_ZERO = 0x100;
/** The poison a freed object's words hold (POISON_FREE 0x6b in every byte). */
export const POISON_FREE_WORD = 0x6b6b6b6b;
const KASAN_ADDR_BASE = 0xffff888000000000n;

/**
 * Quarantine: freed memory is not reused until this many words of other
 * frees came after it (a fraction of the slab, as KASAN's quarantine is a
 * fraction of memory), so that late accesses are still caught as freed.
 */
const QUARANTINE_FRACTION = 8;

export type FieldType = 'i32' | 'u32' | 'f64' | 'timer_list' | 'tasklet_struct' | 'work_struct' | 'delayed_work';
export type StructFields = Record<string, FieldType>;

interface FieldInfo {
  off: number;
  type: FieldType;
  /** an embedded work_struct's name, "&struct->field": its lockdep class, as INIT_WORK's site gives */
  nameId: number;
}
/** Field types that embed an object kept in another table (the field holds its id + 1). */
const EMBEDDED: readonly FieldType[] = ['timer_list', 'tasklet_struct', 'work_struct', 'delayed_work'];

/** A struct type: named typed fields laid out in 32-bit words. */
export class StructType<F extends StructFields = StructFields> {
  readonly fields = new Map<string, FieldInfo>();
  readonly words: number;
  readonly nameId: number;
  constructor(
    readonly name: string,
    readonly spec: F,
  ) {
    let off = 0;
    for (const [f, type] of Object.entries(spec)) {
      if (!['i32', 'u32', 'f64', ...EMBEDDED].includes(type)) {
        throw new KdeferError(`struct ${name}: field '${f}' has unknown type '${String(type)}'`);
      }
      if (type === 'f64' && off & 1) off++;
      this.fields.set(f, {
        off,
        type,
        nameId: type === 'work_struct' ? intern(`&${name}->${f}`) : type === 'delayed_work' ? intern(`&(&${name}->${f})->work`) : 0,
      });
      off += type === 'f64' ? 2 : 1;
    }
    this.words = Math.max(off, 1);
    this.nameId = intern(`struct:${name}`);
  }
}

const structs = new Map<number, StructType>();

/**
 * defineStruct - kdefer: declare a struct type for slab objects. Declare it
 * at module load (every CPU must know it to read objects handed over).
 */
export function defineStruct<F extends StructFields>(name: string, fields: F): StructType<F> {
  const st = new StructType(name, fields);
  structs.set(st.nameId, st);
  return st;
}

/** A kmem_cache: objects of one struct type. */
export class KmemCache<F extends StructFields = StructFields> {
  constructor(
    readonly name: string,
    readonly type: StructType<F>,
  ) {}
}

// ------------------------------------------------------------ the slab lock and memory

function slab_lock(): number {
  const flags = local_irq_save();
  while (Atomics.compareExchange(i32, H_SLAB_LOCK, 0, cpuId + 1) !== 0) cpu_relax();
  return flags;
}
function slab_unlock(flags: number): void {
  Atomics.store(i32, H_SLAB_LOCK, 0);
  local_irq_restore(flags);
}

function size_class(words: number): number {
  let c = 4;
  while (c < words) c <<= 1;
  return c;
}

let freelists = 0; // the kmalloc free lists (layout.ts): KMALLOC_FREELISTS heads, slot + 1

function slot_of(handle: number): number {
  return (handle & 0xfffff) - 1;
}
function gen_of(handle: number): number {
  return handle >>> 20;
}
function make_handle(slot: number, gen: number): number {
  return ((gen & 0x7ff) << 20) | (slot + 1);
}

// The driver function that called into the kernel (the first frame outside
// packages/core) is what KASAN names: kernel_caller().

function who(): number {
  return cpuId | (interrupt_context_level() << 8) | (i32[PCB + PC_CURRENT_PID]! << 12);
}

function alloc_locked(words: number, cache: number): number {
  const cls = size_class(words);
  const fl = freelists + kmalloc_index(cls);
  let slot = i32[fl]! - 1;
  if (slot >= 0) {
    i32[fl] = i32[mem.obj(slot, OB_QNEXT)]!;
  } else {
    slot = find_free_descriptor();
    const used = i32[H_SLAB_USED]!;
    if (used + cls > mem.g.slabWords) {
      throw new KdeferError(
        `slab full: ${cls} words needed, ${mem.g.slabWords - used} of slabWords=${mem.g.slabWords} left (boot option slabWords)`,
      );
    }
    i32[H_SLAB_USED] = used + cls;
    i32[mem.obj(slot, OB_OFF)] = used;
    i32[mem.obj(slot, OB_SIZE)] = cls;
  }
  i32[mem.obj(slot, OB_CACHE)] = cache;
  i32[mem.obj(slot, OB_QNEXT)] = 0;
  Atomics.store(i32, mem.obj(slot, OB_REPORTED), 0);
  return slot;
}

function find_free_descriptor(): number {
  const n = mem.g.maxObjects;
  const start = i32[H_OBJ_HINT]!;
  for (let k = 0; k < n; k++) {
    const s = (start + k) % n;
    if (Atomics.load(i32, mem.obj(s, OB_STATE)) === OBJ_FREE && i32[mem.obj(s, OB_SIZE)] === 0) {
      i32[H_OBJ_HINT] = (s + 1) % n;
      return s;
    }
  }
  throw new KdeferError(`slab object table full: maxObjects=${n} objects are allocated or in quarantine (boot option maxObjects)`);
}

// ------------------------------------------------------------ objects

/** A slab object seen from this CPU: typed access to its fields, each access checked. */
export class SlabObject<F extends StructFields = StructFields> {
  private readonly slot: number;
  private readonly gen: number;
  constructor(
    readonly handle: number,
    readonly type: StructType<F>,
  ) {
    this.slot = slot_of(handle);
    this.gen = gen_of(handle);
  }

  /** Whether the object is allocated (not freed). No report. */
  alive(): boolean {
    return (
      Atomics.load(i32, mem.obj(this.slot, OB_STATE)) === OBJ_LIVE && (Atomics.load(i32, mem.obj(this.slot, OB_GEN)) & 0x7ff) === this.gen
    );
  }

  private word(field: string, write: boolean, size: number): number {
    const f = this.type.fields.get(field);
    if (!f) throw new KdeferError(`struct ${this.type.name} has no field '${field}'`);
    if (!this.alive()) {
      kasan_report(this.handle, this.type, field, write, size, 'slab-use-after-free');
      return -1;
    }
    return mem.slab(i32[mem.obj(this.slot, OB_OFF)]! + f.off);
  }

  /** Read field `field` (a use after free reads POISON_FREE). */
  get(field: keyof F & string): number {
    const f = this.type.fields.get(field);
    const w = this.word(field, false, f?.type === 'f64' ? 8 : 4);
    if (w < 0) return POISON_FREE_WORD;
    if (f!.type === 'f64') return mem.f64[w / 2]!;
    if (f!.type === 'u32') return Atomics.load(i32, w) >>> 0;
    return Atomics.load(i32, w);
  }
  /** Write field `field` (dropped, and reported, after free). */
  set(field: keyof F & string, v: number): void {
    const f = this.type.fields.get(field);
    const w = this.word(field, true, f?.type === 'f64' ? 8 : 4);
    if (w < 0) return;
    if (f!.type === 'f64') mem.f64[w / 2] = v;
    else Atomics.store(i32, w, v | 0);
  }
  /** Atomically add to an i32/u32 field; returns the old value. */
  add(field: keyof F & string, n: number): number {
    const w = this.word(field, true, 4);
    if (w < 0) return POISON_FREE_WORD;
    return Atomics.add(i32, w, n);
  }
  /**
   * The timer_list embedded as `field`. After free the access is reported
   * and the timer handed back carries this (stale) handle as its owner:
   * every timer API then refuses it with a KASAN report of its own, also
   * once the slot went to a new object, whose timer it never touches.
   */
  timer(field: keyof F & string): TimerList {
    const w = this.word(field, false, 4);
    if (w < 0)
      return timerOfStaleHandle(
        Atomics.load(i32, mem.slab(i32[mem.obj(this.slot, OB_OFF)]! + this.type.fields.get(field)!.off)) - 1,
        this.handle,
      );
    return timer_by_id(Atomics.load(i32, w) - 1);
  }
  /** The tasklet_struct embedded as `field` (after free: as timer()). */
  tasklet(field: keyof F & string): TaskletStruct {
    const w = this.word(field, false, 4);
    if (w < 0)
      return taskletOfStaleHandle(
        Atomics.load(i32, mem.slab(i32[mem.obj(this.slot, OB_OFF)]! + this.type.fields.get(field)!.off)) - 1,
        this.handle,
      );
    return tasklet_by_id(Atomics.load(i32, w) - 1);
  }
  /** The work_struct embedded as `field` (INIT_WORK it before queueing it). */
  work(field: keyof F & string): WorkStruct {
    return work_by_id(this.embedded(field, 'work_struct'));
  }
  /** The delayed_work embedded as `field` (INIT_DELAYED_WORK it before queueing it). */
  dwork(field: keyof F & string): DelayedWork {
    return dwork_by_id(this.embedded(field, 'delayed_work'));
  }
  /**
   * The id of the work embedded as `field` of type `type`. After free the
   * access is reported, and the id is still read while the object waits in
   * the quarantine; once its memory went to another object there is no
   * work to hand back: an error says so.
   */
  private embedded(field: keyof F & string, type: FieldType): number {
    const f = this.type.fields.get(field);
    if (f?.type !== type) throw new KdeferError(`struct ${this.type.name}: field '${field}' is not a ${type}`);
    const w = this.word(field, false, 4);
    const id = Atomics.load(i32, w >= 0 ? w : mem.slab(i32[mem.obj(this.slot, OB_OFF)]! + f.off)) - 1;
    if (w < 0 && !work_owned_by(id, this.handle)) {
      throw new KdeferError(
        `struct ${this.type.name} (object ${this.handle}) was freed and its memory reused: its ${type} '${field}' is gone`,
      );
    }
    return id;
  }
}

/** The object of `handle`, on any CPU (its struct type must have been declared here). */
export function slab_obj<F extends StructFields = StructFields>(handle: number): SlabObject<F> {
  if (!Number.isInteger(handle) || handle <= 0) throw new KdeferError(`slab_obj: ${String(handle)} is not an object handle`);
  const slot = slot_of(handle);
  if (slot >= mem.g.maxObjects) throw new KdeferError(`slab_obj: ${handle} is not an object handle`);
  const st = structs.get(i32[mem.obj(slot, OB_CACHE)]!);
  if (!st) throw new KdeferError(`slab_obj(${handle}): its struct type was not declared on CPU ${cpuId}`);
  return new SlabObject<F>(handle, st as unknown as StructType<F>);
}

/** Whether `handle` names a live object (host side too). */
export function slab_alive(m: Mem, handle: number): boolean {
  const slot = slot_of(handle);
  return (
    slot >= 0 &&
    slot < m.g.maxObjects &&
    Atomics.load(m.i32, m.obj(slot, OB_STATE)) === OBJ_LIVE &&
    (Atomics.load(m.i32, m.obj(slot, OB_GEN)) & 0x7ff) === gen_of(handle)
  );
}

// ------------------------------------------------------------ reports

function fmt_who(v: number): string {
  const cpu = v & 0xff;
  const ctx = (v >> 8) & 0xf;
  const pid = v >>> 12;
  const ctxName = ['task', 'softirq', 'hardirq', 'nmi'][ctx] ?? 'task';
  return `task ${pid} on cpu ${cpu} in ${ctxName} context`;
}

function addr_of(slot: number, off: number): string {
  return '0x' + (KASAN_ADDR_BASE + BigInt((i32[mem.obj(slot, OB_OFF)]! + off) * 4)).toString(16);
}

/**
 * Print a KASAN report for `handle` (once per allocation for use-after-free,
 * unless `always`: a stale handle used in an API is reported each time, and
 * leaves the once-flag of the slot's new object alone).
 */
export function kasan_report(
  handle: number,
  st: StructType | null,
  field: string,
  write: boolean,
  size: number,
  kind: string,
  where?: string,
  always = false,
): void {
  const slot = slot_of(handle);
  const known = slot >= 0 && slot < mem.g.maxObjects && i32[mem.obj(slot, OB_SIZE)]! > 0;
  if (kind === 'slab-use-after-free' && known && !always && Atomics.exchange(i32, mem.obj(slot, OB_REPORTED), 1) === 1) return;
  Atomics.add(i32, H_KASAN_REPORTS, 1);
  const fn = where ?? kernel_caller();
  if (!known) {
    for (const l of [
      '==================================================================',
      `BUG: KASAN: ${kind} in ${fn}`,
      ` ${handle} is not an object the slab handed out`,
      ...dump_context().split('\n'),
      'Call Trace:',
      ...call_trace(undefined, 6),
      '==================================================================',
    ]) {
      printk(KERN_ERR + l);
    }
    return;
  }
  const off = st?.fields.get(field)?.off ?? 0;
  const objSize = i32[mem.obj(slot, OB_SIZE)]! * 4;
  const cache = name_of(mem, i32[mem.obj(slot, OB_CACHE)]!).replace(/^struct:/, '');
  const lines = [
    '==================================================================',
    `BUG: KASAN: ${kind} in ${fn}`,
    kind === 'slab-use-after-free'
      ? `${write ? 'Write' : 'Read'} of size ${size} at addr ${addr_of(slot, off)} by task ${i32[PCB + PC_CURRENT_PID] === 0 ? `swapper/${cpuId}` : comm_of_pid(mem, i32[PCB + PC_CURRENT_PID]!)}/${i32[PCB + PC_CURRENT_PID]}`
      : `${kind === 'double-free' ? 'double-free' : 'invalid-free'} of object ${handle} by task ${comm_of_pid(mem, i32[PCB + PC_CURRENT_PID]!)}/${i32[PCB + PC_CURRENT_PID]}`,
    st && field ? ` field '${field}' of struct ${st.name} (object ${handle})` : ` object ${handle}`,
    ...dump_context().split('\n'),
    'Call Trace:',
    ...call_trace(undefined, 6),
    '',
    `Allocated by ${fmt_who(i32[mem.obj(slot, OB_ALLOC_CPU)]!)}:`,
    ` ${name_of(mem, i32[mem.obj(slot, OB_ALLOC_FN)]!)}`,
    '',
    `Freed by ${fmt_who(i32[mem.obj(slot, OB_FREE_CPU)]!)}:`,
    ` ${name_of(mem, i32[mem.obj(slot, OB_FREE_FN)]!)}`,
    '',
    `The buggy address belongs to the object at ${addr_of(slot, 0)}`,
    ` which belongs to the cache ${cache} of size ${objSize}`,
    '==================================================================',
  ];
  for (const l of lines) printk(KERN_ERR + l);
}

/** KASAN reports printed so far (host side too). */
export function kasanReportCount(m: Mem): number {
  return Atomics.load(m.i32, H_KASAN_REPORTS);
}

// ------------------------------------------------------------ the API

function do_alloc<F extends StructFields>(st: StructType<F>, flags: number, cacheName: number): SlabObject<F> {
  preempt_point();
  if (flags & 0x400 /* __GFP_DIRECT_RECLAIM: GFP_KERNEL */) might_sleep('kmalloc(GFP_KERNEL)');
  const caller = intern(kernel_caller());
  const fl = slab_lock();
  let slot: number;
  try {
    slot = alloc_locked(st.words, cacheName);
  } finally {
    slab_unlock(fl);
  }
  const off = mem.slab(i32[mem.obj(slot, OB_OFF)]!);
  i32.fill(0, off, off + i32[mem.obj(slot, OB_SIZE)]!);
  const gen = Atomics.load(i32, mem.obj(slot, OB_GEN)) & 0x7ff || 1;
  Atomics.store(i32, mem.obj(slot, OB_GEN), gen);
  i32[mem.obj(slot, OB_ALLOC_CPU)] = who();
  i32[mem.obj(slot, OB_ALLOC_FN)] = caller;
  i32[mem.obj(slot, OB_CACHE)] = st.nameId;
  const handle = make_handle(slot, gen);
  // embedded timers, tasklets and works get their slots now, pointing back at the object
  for (const [, f] of st.fields) {
    if (f.type === 'timer_list') Atomics.store(i32, off + f.off, timer_slot_alloc(handle) + 1);
    else if (f.type === 'tasklet_struct') Atomics.store(i32, off + f.off, tasklet_slot_alloc(handle) + 1);
    else if (f.type === 'work_struct') Atomics.store(i32, off + f.off, work_slot_alloc_owned(handle, f.nameId) + 1);
    else if (f.type === 'delayed_work') Atomics.store(i32, off + f.off, dwork_slot_alloc_owned(handle, f.nameId) + 1);
  }
  Atomics.store(i32, mem.obj(slot, OB_STATE), OBJ_LIVE);
  return new SlabObject<F>(handle, st);
}

/**
 * kmalloc - allocate an object of struct type `st` in shared memory.
 * @param flags GFP_KERNEL (may sleep: process context only) or GFP_ATOMIC
 * @returns the object; its `.handle` can be stored in shared memory and
 *          turned back into the object on any CPU with slab_obj().
 * Context: GFP_KERNEL: process context; GFP_ATOMIC: any.
 */
export function kmalloc<F extends StructFields>(st: StructType<F>, flags: number): SlabObject<F> {
  return do_alloc(st, flags, st.nameId);
}
/** kzalloc - kmalloc with zeroed memory (kdefer always zeroes). */
export const kzalloc = kmalloc;

/**
 * kfree - free an object. Its memory is poisoned and quarantined: any later
 * access through its handle is a KASAN use-after-free report; freeing it
 * again is a double-free report.
 * Context: any.
 */
export function kfree(obj: SlabObject | number | null): void {
  preempt_point();
  if (obj === null || obj === 0) return;
  const handle = typeof obj === 'number' ? obj : obj.handle;
  const slot = slot_of(handle);
  if (slot < 0 || slot >= mem.g.maxObjects) {
    kasan_report(handle, null, '', true, 0, 'invalid-free');
    return;
  }
  const caller = intern(kernel_caller());
  const fl = slab_lock();
  let kind = '';
  try {
    const st = Atomics.load(i32, mem.obj(slot, OB_STATE));
    const gen = Atomics.load(i32, mem.obj(slot, OB_GEN)) & 0x7ff;
    if (gen !== gen_of(handle) || st === OBJ_FREE) kind = st === OBJ_FREE && gen === gen_of(handle) ? 'double-free' : 'invalid-free';
    else if (st === OBJ_QUARANTINE) kind = 'double-free';
    else {
      i32[mem.obj(slot, OB_FREE_CPU)] = who();
      i32[mem.obj(slot, OB_FREE_FN)] = caller;
      Atomics.store(i32, mem.obj(slot, OB_STATE), OBJ_QUARANTINE);
      const off = mem.slab(i32[mem.obj(slot, OB_OFF)]!);
      const size = i32[mem.obj(slot, OB_SIZE)]!;
      // keep the embedded timer/tasklet/work ids readable: poison everything else
      const st2 = structs.get(i32[mem.obj(slot, OB_CACHE)]!);
      for (let k = 0; k < size; k++) {
        const f = st2 ? [...st2.fields.values()].find((x) => x.off === k) : undefined;
        if (f && EMBEDDED.includes(f.type)) continue;
        i32[off + k] = POISON_FREE_WORD;
      }
      quarantine_put_locked(slot, size);
    }
  } finally {
    slab_unlock(fl);
  }
  if (kind) kasan_report(handle, null, '', true, 0, kind);
}

function quarantine_put_locked(slot: number, size: number): void {
  i32[mem.obj(slot, OB_QNEXT)] = 0;
  const tail = i32[H_QUAR_TAIL]!;
  if (tail) i32[mem.obj(tail - 1, OB_QNEXT)] = slot + 1;
  else i32[H_QUAR_HEAD] = slot + 1;
  i32[H_QUAR_TAIL] = slot + 1;
  i32[H_QUAR_WORDS]! += size;
  const max = Math.floor(mem.g.slabWords / QUARANTINE_FRACTION);
  while (i32[H_QUAR_WORDS]! > max && i32[H_QUAR_HEAD]! !== 0) {
    const s = i32[H_QUAR_HEAD]! - 1;
    i32[H_QUAR_HEAD] = i32[mem.obj(s, OB_QNEXT)]!;
    if (i32[H_QUAR_HEAD] === 0) i32[H_QUAR_TAIL] = 0;
    i32[H_QUAR_WORDS]! -= i32[mem.obj(s, OB_SIZE)]!;
    reclaim_locked(s);
  }
}

function reclaim_locked(slot: number): void {
  const st = structs.get(i32[mem.obj(slot, OB_CACHE)]!);
  const off = mem.slab(i32[mem.obj(slot, OB_OFF)]!);
  if (st) {
    for (const [, f] of st.fields) {
      const id = i32[off + f.off]! - 1;
      if (f.type === 'timer_list' && id >= 0) timer_slot_release(id);
      else if (f.type === 'tasklet_struct' && id >= 0) tasklet_slot_release(id);
      else if ((f.type === 'work_struct' || f.type === 'delayed_work') && id >= 0) work_slot_release(id);
    }
  }
  Atomics.store(i32, mem.obj(slot, OB_GEN), (Atomics.load(i32, mem.obj(slot, OB_GEN)) + 1) & 0x7ff || 1);
  Atomics.store(i32, mem.obj(slot, OB_STATE), OBJ_FREE);
  const fl = freelists + kmalloc_index(i32[mem.obj(slot, OB_SIZE)]!);
  i32[mem.obj(slot, OB_QNEXT)] = i32[fl]!;
  i32[fl] = slot + 1;
}

/**
 * kmem_cache_create - a cache of objects of struct type `st`, named `name`
 * (the name KASAN reports show). Context: module load.
 */
export function kmem_cache_create<F extends StructFields>(name: string, st: StructType<F>): KmemCache<F> {
  intern(`struct:${name}`);
  return new KmemCache(name, st);
}
/** kmem_cache_alloc - an object from `cache`. Context: as kmalloc for `flags`. */
export function kmem_cache_alloc<F extends StructFields>(cache: KmemCache<F>, flags: number): SlabObject<F> {
  return do_alloc(cache.type, flags, cache.type.nameId);
}
export const kmem_cache_zalloc = kmem_cache_alloc;
/** kmem_cache_free - free an object of `cache`. Context: any. */
export function kmem_cache_free<F extends StructFields>(_cache: KmemCache<F>, obj: SlabObject<F>): void {
  kfree(obj);
}

export function slab_init_cpu(): void {
  freelists = arena_region(SLAB_FREELISTS_REGION, KMALLOC_FREELISTS);
}
