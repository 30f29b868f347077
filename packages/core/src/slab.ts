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
 * - a field of an embeddable kind (`timer_list`, `tasklet_struct`,
 *   `work_struct`, `delayed_work`) embeds an object whose state lives in its
 *   own slot table and points back at the object (its owner: the object's
 *   handle, which carries the generation), so that from_timer()
 *   (workContainerOf) works and arming a timer, or queueing or running a
 *   work, of a freed object is a use-after-free too. The slab knows none of
 *   those kinds: each mechanism registers its own at init
 *   (registerFieldKind) — allocate, release, look up by id — and checks a
 *   handle's owner and generation with embeddedStale / embeddedOwnerAlive.
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
import { might_sleep } from './sched.js';
import { commOfPid } from './sched/task.js';

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

/**
 * The embeddable field kinds, by name, and what their accessor hands out.
 * Empty here: each mechanism adds its own by module augmentation
 * (`declare module './slab.js'`), next to its registerFieldKind call.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface EmbeddedFieldTypes {}
export type FieldType = 'i32' | 'u32' | 'f64' | (keyof EmbeddedFieldTypes & string);
export type StructFields = Record<string, FieldType>;

/**
 * An embeddable field kind: an object kept in its own slot table, one slot
 * per field of each slab object, that points back at the object.
 */
export interface EmbeddedFieldKind<T = unknown> {
  /** The SlabObject method that hands the field out (obj.timer('t')). */
  accessor: string;
  /** Take a slot for the field of new object `owner` (its handle); `classId` is className's interned name (0: none). */
  alloc(owner: number, classId: number): number;
  /** Give slot `id` back once its object left the quarantine (a kind may keep it while busy). */
  release(id: number): void;
  /**
   * Hand out slot `id` for `obj`'s field `field`. `freed`: the object was
   * freed (the access is already reported) and the slot may have gone to a
   * new object since: the kind must hand back something every API of its
   * refuses (embeddedStale), never the new object's field.
   */
  lookup(id: number, obj: SlabObject, field: string, freed: boolean): T;
  /** The field's lockdep class name ("&struct->field", as INIT_WORK's site gives), if the kind has one. */
  className?(struct: string, field: string): string;
}

const fieldKinds = new Map<string, EmbeddedFieldKind>();

/**
 * registerFieldKind - kdefer: make `name` a field type of defineStruct,
 * embedding the mechanism's object (the open_softirq pattern: the slab
 * calls up only through what was registered).
 * Context: CPU init (the mechanism's own init), before any module loads.
 */
export function registerFieldKind<K extends keyof EmbeddedFieldTypes & string>(
  name: K,
  kind: EmbeddedFieldKind<EmbeddedFieldTypes[K]>,
): void {
  if ((['i32', 'u32', 'f64'] as string[]).includes(name)) throw new KdeferError(`registerFieldKind: '${name}' is a plain field type`);
  fieldKinds.set(name, kind as EmbeddedFieldKind);
  const proto = SlabObject.prototype as unknown as Record<string, (field: string) => unknown>;
  proto[kind.accessor] = function (this: SlabObject, field: string): unknown {
    return this.embeddedField(field, name);
  };
}

/**
 * embeddedStale - whether a handle to an embedded object, taken from slab
 * object `handleOwner`, is stale: its slot now belongs to `slotOwner`,
 * another object (or none). One compare; a stale use is reported as KASAN's
 * use-after-free in `who`, every time, leaving the new object's report
 * state alone.
 * Context: any.
 * @returns true when the caller must leave the slot alone.
 */
export function embeddedStale(slotOwner: number, handleOwner: number, who: string): boolean {
  if (slotOwner === handleOwner) return false;
  kasan_report(handleOwner, null, '', true, 4, 'slab-use-after-free', who, true);
  return true;
}

/**
 * embeddedOwnerAlive - whether the slab object `owner` that embeds a slot
 * is still allocated (0: the slot is not embedded). A freed one is
 * reported (once per allocation), in `who` when given (else in the
 * driver function that called the API).
 * Context: any.
 * @returns false when the object was freed.
 */
export function embeddedOwnerAlive(owner: number, who?: string): boolean {
  if (owner === 0 || slabAlive(mem, owner)) return true;
  kasan_report(owner, null, '', true, 4, 'slab-use-after-free', who);
  return false;
}

interface FieldInfo {
  off: number;
  type: FieldType;
  /** an embedded field's class name ("&struct->field", see EmbeddedFieldKind.className), interned; 0: none */
  nameId: number;
  /** the embeddable kind of the field (the field holds its slot id + 1); undefined: a plain field */
  kind: EmbeddedFieldKind | undefined;
}
const PLAIN: readonly string[] = ['i32', 'u32', 'f64'];

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
      const kind = fieldKinds.get(type);
      if (!PLAIN.includes(type) && kind === undefined) {
        throw new KdeferError(`struct ${name}: field '${f}' has unknown type '${String(type)}'`);
      }
      if (type === 'f64' && off & 1) off++;
      this.fields.set(f, { off, type, nameId: kind?.className ? intern(kind.className(name, f)) : 0, kind });
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
 * @param name - the struct's name (KASAN reports show it).
 * @param fields - its fields.
 * @returns the struct type.
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
   * The embedded field `field` of kind `kind`, as that kind's lookup hands
   * it out (the accessors registerFieldKind installs: timer(), tasklet(),
   * work(), dwork()). After free the access is reported and the kind is
   * told so, with the slot id the field still holds.
   */
  embeddedField(field: string, kind: string): unknown {
    const f = this.type.fields.get(field);
    if (f !== undefined && f.type !== kind) throw new KdeferError(`struct ${this.type.name}: field '${field}' is not a ${kind}`);
    const w = this.word(field, false, 4);
    const id = Atomics.load(i32, w >= 0 ? w : mem.slab(i32[mem.obj(this.slot, OB_OFF)]! + f!.off)) - 1;
    return f!.kind!.lookup(id, this as SlabObject, field, w < 0);
  }
}

/**
 * slab_obj - the object of `handle`, on any CPU (its struct type must have been declared here).
 * @param handle - a handle from an object's `.handle`.
 * Context: any. Does not sleep; a KdeferError naming the handle when it is not
 * an object handle or its struct type was not declared on this CPU.
 * @returns the object (a stale handle still gives one: its accesses are KASAN reports).
 */
export function slab_obj<F extends StructFields = StructFields>(handle: number): SlabObject<F> {
  if (!Number.isInteger(handle) || handle <= 0) throw new KdeferError(`slab_obj: ${String(handle)} is not an object handle`);
  const slot = slot_of(handle);
  if (slot >= mem.g.maxObjects) throw new KdeferError(`slab_obj: ${handle} is not an object handle`);
  const st = structs.get(i32[mem.obj(slot, OB_CACHE)]!);
  if (!st) throw new KdeferError(`slab_obj(${handle}): its struct type was not declared on CPU ${cpuId}`);
  return new SlabObject<F>(handle, st as unknown as StructType<F>);
}

/**
 * slabAlive - whether `handle` names a live object of the current generation.
 * @param m - the machine's memory.
 * @param handle - the handle.
 * Context: any thread, host side too. Does not sleep.
 * @returns true if its slot is live and its generation matches the handle's.
 */
export function slabAlive(m: Mem, handle: number): boolean {
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
 * kasan_report - print a KASAN report for `handle` (once per allocation for use-after-free,
 * unless `always`: a stale handle used in an API is reported each time, and
 * leaves the once-flag of the slot's new object alone).
 * @param handle - the object handle used.
 * @param st - its struct type, when known.
 * @param field - the field accessed.
 * @param write - a write (true) or a read.
 * @param size - the access size in bytes.
 * @param kind - the bug kind ("slab-use-after-free", "double-free", ...).
 * @param where - the API that made the access, if not a field accessor.
 * @param always - report even if this allocation was reported before.
 * Context: any, on this CPU. Does not sleep.
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
      ? `${write ? 'Write' : 'Read'} of size ${size} at addr ${addr_of(slot, off)} by task ${i32[PCB + PC_CURRENT_PID] === 0 ? `swapper/${cpuId}` : commOfPid(mem, i32[PCB + PC_CURRENT_PID]!)}/${i32[PCB + PC_CURRENT_PID]}`
      : `${kind === 'double-free' ? 'double-free' : 'invalid-free'} of object ${handle} by task ${commOfPid(mem, i32[PCB + PC_CURRENT_PID]!)}/${i32[PCB + PC_CURRENT_PID]}`,
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

/**
 * KASAN reports printed so far (host side too).
 * @param m - the machine's memory.
 * @returns the count.
 */
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
  // embedded fields (timers, tasklets, works) get their slots now, pointing back at the object
  for (const [, f] of st.fields) if (f.kind) Atomics.store(i32, off + f.off, f.kind.alloc(handle, f.nameId) + 1);
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
      // keep the embedded fields' slot ids readable: poison everything else
      const st2 = structs.get(i32[mem.obj(slot, OB_CACHE)]!);
      for (let k = 0; k < size; k++) {
        const f = st2 ? [...st2.fields.values()].find((x) => x.off === k) : undefined;
        if (f?.kind) continue;
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
      if (f.kind && id >= 0) f.kind.release(id);
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
 * (the name KASAN reports show).
 * @param name - the cache's name.
 * @param st - the struct type of its objects.
 * Context: module load.
 * @returns the cache.
 */
export function kmem_cache_create<F extends StructFields>(name: string, st: StructType<F>): KmemCache<F> {
  intern(`struct:${name}`);
  return new KmemCache(name, st);
}
/**
 * kmem_cache_alloc - an object from `cache`.
 * @param cache - the cache.
 * @param flags - GFP_KERNEL or GFP_ATOMIC, as for kmalloc.
 * Context: as kmalloc for `flags`.
 * @returns the object, as kmalloc returns it.
 */
export function kmem_cache_alloc<F extends StructFields>(cache: KmemCache<F>, flags: number): SlabObject<F> {
  return do_alloc(cache.type, flags, cache.type.nameId);
}
export const kmem_cache_zalloc = kmem_cache_alloc;
/**
 * kmem_cache_free - free an object of `cache` (kfree: poisoned and quarantined).
 * @param _cache - the cache it came from.
 * @param obj - the object.
 * Context: any. Does not sleep.
 */
export function kmem_cache_free<F extends StructFields>(_cache: KmemCache<F>, obj: SlabObject<F>): void {
  kfree(obj);
}

/**
 * slab_init_cpu - bind the shared kmalloc freelists region.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function slab_init_cpu(): void {
  freelists = arena_region(SLAB_FREELISTS_REGION, KMALLOC_FREELISTS);
}
