/**
 * module.ts — modules, named shared objects, and functions by id.
 *
 * A kdefer module is an ES module loaded on EVERY CPU; its init runs once
 * per CPU. What it shares, it declares by name (a spinlock, a shared or
 * per-CPU array, an IRQ handler...): every CPU resolves the name to the same
 * slot of a table in shared memory, under the registry lock. Functions cannot
 * cross threads, so each CPU registers its own copy of a function under the
 * same name, and shared memory refers to it by id.
 *
 * Follows include/linux/module.h (module_init/exit as `defineModule`) and
 * include/linux/percpu-defs.h (DEFINE_PER_CPU, this_cpu_*, per_cpu_ptr).
 *
 * Differs from Linux:
 * - declarations are by name, not by address: `DEFINE_SPINLOCK('netdev.lock')`.
 * - a function referred to from shared memory (an IRQ handler, a tasklet's
 *   callback, a timer's function) must have been seen at module load, on
 *   every CPU; handing an unseen function to such an API later is an error.
 */
import {
  type Mem,
  H_REG_LOCK,
  H_NAMES_USED,
  H_DATA_USED,
  NM_KIND,
  NM_VALUE,
  NM_SIZE,
  NM_LEN,
  NM_BYTES,
  NAME_MAX_BYTES,
  LINE_WORDS,
  putString,
  getString,
  encodedLength,
} from './layout.js';
import { mem, cpuId, nrCpus } from './smp.js';

export const NAME_KIND_STRING = 1; // a bare string (names of handlers, devices)
export const NAME_KIND_DATA = 2; //   shared array: value = arena offset, size = words
export const NAME_KIND_PERCPU = 3; // per-CPU array: value = arena offset, size = words per CPU
export const NAME_KIND_LOCK = 4; //   spinlock or rwlock: value = lock id
export const NAME_KIND_FUNC = 5; //   function: value = id in every CPU's function table
export const NAME_KIND_OBJECT = 6; // a later mechanism's table slot (tasklet, timer, work...)
const KIND_NAMES = ['', 'string', 'shared data', 'per-CPU data', 'lock', 'function', 'object'];

// ------------------------------------------------------------ registry lock
// Init-time allocations only: a plain test-and-set word, no preemption point.
function reg_lock(a: Int32Array): void {
  while (Atomics.compareExchange(a, H_REG_LOCK, 0, 1) !== 0) {
    Atomics.wait(a, H_REG_LOCK, 1, 1);
  }
}
function reg_unlock(a: Int32Array): void {
  Atomics.store(a, H_REG_LOCK, 0);
  Atomics.notify(a, H_REG_LOCK, 1);
}

/** An error in the use of a kdefer API: names what was wrong. */
export class KdeferError extends Error {
  constructor(msg: string) {
    super(`kdefer: ${msg}`);
    this.name = 'KdeferError';
  }
}

export interface NameEntry {
  id: number;
  kind: number;
  value: number;
  size: number;
  created: boolean;
}

// The table is append-only, so a per-thread cache of hits stays valid.
const cache = new Map<string, NameEntry>();

/**
 * registry_resolve - resolve `name` of `kind` to its entry, creating it with `create` (under
 * the registry lock) if nobody declared it yet.
 * @param m - the machine's memory.
 * @param kind - the NAME_KIND_* namespace.
 * @param name - the name.
 * @param create - makes the entry's value and size; called at most once per name, machine-wide.
 * @param size - the size a caller expects (-1: any); a mismatch is an error.
 * Context: any, on a CPU; a KdeferError for a name over NAME_MAX_BYTES or a size mismatch. Does not sleep.
 * @returns the entry, with created: true for the call that made it.
 */
export function registry_resolve(
  m: Mem,
  kind: number,
  name: string,
  create: (id: number) => { value: number; size: number },
  size = -1,
): NameEntry {
  const key = kind + ':' + name;
  const hit = cache.get(key);
  if (hit) return { ...hit, created: false };
  if (encodedLength(name) > NAME_MAX_BYTES) {
    throw new KdeferError(`name '${name}' is longer than ${NAME_MAX_BYTES} bytes`);
  }
  const a = m.i32;
  reg_lock(a);
  try {
    const found = lookup_locked(m, name, namespace(kind));
    if (found >= 0) {
      const k = a[m.name(found, NM_KIND)]!;
      if (k !== kind) {
        throw new KdeferError(`'${name}' is already declared as ${KIND_NAMES[k]}, not as ${KIND_NAMES[kind]}`);
      }
      const e = { id: found, kind, value: a[m.name(found, NM_VALUE)]!, size: a[m.name(found, NM_SIZE)]!, created: false };
      if (size >= 0 && e.size !== size) {
        throw new KdeferError(`'${name}' is already declared with size ${e.size}, not ${size}`);
      }
      cache.set(key, e);
      return e;
    }
    const id = a[H_NAMES_USED]!;
    if (id >= m.g.maxNames) {
      throw new KdeferError(`name table full: maxNames=${m.g.maxNames} names are declared (boot option maxNames)`);
    }
    const { value, size: sz } = create(id);
    a[m.name(id, NM_VALUE)] = value;
    a[m.name(id, NM_SIZE)] = sz;
    a[m.name(id, NM_LEN)] = putString(m, m.name(id, NM_BYTES), name, NAME_MAX_BYTES);
    Atomics.store(a, m.name(id, NM_KIND), kind);
    a[H_NAMES_USED] = id + 1;
    const e = { id, kind, value, size: sz, created: true };
    cache.set(key, { ...e, created: false });
    return e;
  } finally {
    reg_unlock(a);
  }
}

// Interned strings and function names live in namespaces of their own; the
// objects modules declare (locks, arrays, tasklets...) share one.
function namespace(kind: number): number {
  return kind === NAME_KIND_STRING ? 1 : kind === NAME_KIND_FUNC ? 2 : 0;
}

function lookup_locked(m: Mem, name: string, ns: number): number {
  const a = m.i32;
  const n = a[H_NAMES_USED]!;
  const len = encodedLength(name);
  for (let id = 1; id < n; id++) {
    if (a[m.name(id, NM_LEN)] === len && namespace(a[m.name(id, NM_KIND)]!) === ns && getString(m, m.name(id, NM_BYTES), len) === name)
      return id;
  }
  return -1;
}

/**
 * registryLookup - host side: find a declared name without creating it.
 * @param m - the machine's memory.
 * @param name - the name.
 * @param ns - the namespace.
 * Context: any thread, host side too. Does not sleep.
 * @returns its entry, or null when nobody declared it.
 */
export function registryLookup(m: Mem, name: string, ns = 0): { id: number; kind: number; value: number; size: number } | null {
  const a = m.i32;
  const n = Atomics.load(a, H_NAMES_USED);
  const len = encodedLength(name);
  for (let id = 1; id < n; id++) {
    if (a[m.name(id, NM_LEN)] === len && namespace(a[m.name(id, NM_KIND)]!) === ns && getString(m, m.name(id, NM_BYTES), len) === name) {
      return { id, kind: a[m.name(id, NM_KIND)]!, value: a[m.name(id, NM_VALUE)]!, size: a[m.name(id, NM_SIZE)]! };
    }
  }
  return null;
}

/**
 * name_of - the text of interned name `id`.
 * @param m - the machine's memory.
 * @param id - the name's id (0: none).
 * Context: any thread, host side too. Does not sleep.
 * @returns the text, "" for 0.
 */
export function name_of(m: Mem, id: number): string {
  if (id <= 0) return '';
  return getString(m, m.name(id, NM_BYTES), m.i32[m.name(id, NM_LEN)]!);
}

/**
 * intern - intern a string in the machine's name table.
 * @param name - the string.
 * Context: any, on a CPU. Does not sleep.
 * @returns its id, stable across CPUs.
 */
export function intern(name: string): number {
  return registry_resolve(mem, NAME_KIND_STRING, name, () => ({ value: 0, size: 0 })).id;
}

/**
 * arena_alloc_locked - reserve `words` words of the data arena (cache-line aligned).
 * @param m - the machine's memory.
 * @param words - how many.
 * @param what - names the request in the arena-full error.
 * Context: under the registry lock; a KdeferError when the arena is full (boot option dataWords). Does not sleep.
 * @returns the first word, relative to the arena.
 */
export function arena_alloc_locked(m: Mem, words: number, what: string): number {
  const a = m.i32;
  const off = Math.ceil(a[H_DATA_USED]! / LINE_WORDS) * LINE_WORDS;
  if (off + words > m.g.dataWords) {
    throw new KdeferError(
      `data arena full: ${what} needs ${words} words, ${m.g.dataWords - off} of dataWords=${m.g.dataWords} are left (boot option dataWords)`,
    );
  }
  a[H_DATA_USED] = off + words;
  return off;
}

/**
 * arena_region - reserve (once, machine-wide) arena space for a named table of a mechanism
 * (tasklets, timers, ...).
 * @param name - the region's name.
 * @param words - its size.
 * Context: CPU init. Does not sleep.
 * @returns its first word in the machine's memory.
 */
export function arena_region(name: string, words: number): number {
  const e = registry_resolve(mem, NAME_KIND_DATA, name, () => ({ value: arena_alloc_locked(mem, words, name), size: words }), words);
  return mem.data(e.value);
}

// ------------------------------------------------------------ shared data

type TypedCtor =
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float64ArrayConstructor
  | Int16ArrayConstructor
  | Uint8ArrayConstructor
  | BigInt64ArrayConstructor;
type Typed = Int32Array | Uint32Array | Float64Array | Int16Array | Uint8Array | BigInt64Array;

function wordsFor(ctor: TypedCtor, length: number): number {
  return Math.ceil((length * ctor.BYTES_PER_ELEMENT) / 4);
}

/**
 * shared_array - a typed array in shared memory, the same on every CPU.
 * Zeroed when first declared.
 * Context: module load (or any, once declared).
 * @param name - the array's name.
 * @param ctor - its element type.
 * @param length - its elements.
 * @returns the array.
 */
export function shared_array<C extends TypedCtor>(name: string, ctor: C, length: number): InstanceType<C> {
  if (!Number.isInteger(length) || length <= 0) throw new KdeferError(`shared array '${name}': length ${length} is not a positive integer`);
  const words = wordsFor(ctor, length);
  const e = registry_resolve(
    mem,
    NAME_KIND_DATA,
    name,
    () => ({ value: arena_alloc_locked(mem, words + (words & 1), name), size: words }),
    words,
  );
  return new ctor(mem.sab as unknown as ArrayBuffer, mem.data(e.value) * 4, length) as InstanceType<C>;
}

/**
 * shared_int32 - `shared_array(name, Int32Array, length)`: Atomics work on it.
 * @param name - the array's name.
 * @param length - its elements.
 * Context: module load (or any, once declared).
 * @returns the array.
 */
export function shared_int32(name: string, length: number): Int32Array {
  return shared_array(name, Int32Array, length);
}

/** A per-CPU variable: one array of `length` elements per CPU, each on its own cache lines. */
export class PerCpu<T extends Typed> {
  constructor(
    readonly name: string,
    private readonly views: T[],
  ) {}
  /** per_cpu_ptr: CPU `cpu`'s array. */
  ptr(cpu: number): T {
    const v = this.views[cpu];
    if (!v) throw new KdeferError(`per-CPU '${this.name}': no CPU ${cpu}`);
    return v;
  }
  get nr_cpus(): number {
    return this.views.length;
  }
}

/**
 * DEFINE_PER_CPU - declare a per-CPU array of `length` elements of `ctor`.
 * Context: module load.
 * @param name - the variable's name.
 * @param ctor - its element type.
 * @param length - its elements per CPU (default 1).
 * @returns the per-CPU variable.
 */
export function DEFINE_PER_CPU<C extends TypedCtor>(name: string, ctor: C, length = 1): PerCpu<InstanceType<C>> {
  const per = Math.ceil(wordsFor(ctor, length) / LINE_WORDS) * LINE_WORDS;
  const e = registry_resolve(mem, NAME_KIND_PERCPU, name, () => ({ value: arena_alloc_locked(mem, per * nrCpus, name), size: per }), per);
  const views: InstanceType<C>[] = [];
  for (let c = 0; c < nrCpus; c++)
    views.push(new ctor(mem.sab as unknown as ArrayBuffer, mem.data(e.value + c * per) * 4, length) as InstanceType<C>);
  return new PerCpu(name, views);
}

/**
 * per_cpu_ptr - CPU `cpu`'s instance.
 * @param v - the per-CPU variable.
 * @param cpu - the CPU.
 * Context: any. Does not sleep.
 * @returns that CPU's typed array (other CPUs may write it: use Atomics to share).
 */
export const per_cpu_ptr = <T extends Typed>(v: PerCpu<T>, cpu: number): T => v.ptr(cpu);
/**
 * this_cpu_ptr - this CPU's instance.
 * @param v - the per-CPU variable.
 * Context: preemption disabled (always true for a kdefer task: tasks never migrate). Does not sleep.
 * @returns this CPU's typed array.
 */
export const this_cpu_ptr = <T extends Typed>(v: PerCpu<T>): T => v.ptr(cpuId);

type NumArray = Int32Array | Uint32Array | Float64Array | Int16Array | Uint8Array;
/**
 * this_cpu_read - element `idx` of this CPU's instance.
 * @param v - the per-CPU variable.
 * @param idx - the element (default 0).
 * Context: any. Does not sleep.
 * @returns its value.
 */
export const this_cpu_read = (v: PerCpu<NumArray>, idx = 0): number => v.ptr(cpuId)[idx]!;
/**
 * this_cpu_write - set element `idx` of this CPU's instance.
 * @param v - the per-CPU variable.
 * @param val - the value.
 * @param idx - the element (default 0).
 * Context: any. Does not sleep.
 */
export function this_cpu_write(v: PerCpu<NumArray>, val: number, idx = 0): void {
  v.ptr(cpuId)[idx] = val;
}
/**
 * this_cpu_add - add `n` to element `idx` of this CPU's instance (no atomics: only this CPU writes it).
 * @param v - the per-CPU variable.
 * @param n - the amount.
 * @param idx - the element (default 0).
 * Context: any. Does not sleep.
 */
export function this_cpu_add(v: PerCpu<NumArray>, n: number, idx = 0): void {
  v.ptr(cpuId)[idx]! += n;
}
/**
 * this_cpu_inc - this_cpu_add(v, 1, idx).
 * @param v - the per-CPU variable.
 * @param idx - the element (default 0).
 * Context: any. Does not sleep.
 */
export const this_cpu_inc = (v: PerCpu<NumArray>, idx = 0): void => {
  this_cpu_add(v, 1, idx);
};
/**
 * this_cpu_dec - this_cpu_add(v, -1, idx).
 * @param v - the per-CPU variable.
 * @param idx - the element (default 0).
 * Context: any. Does not sleep.
 */
export const this_cpu_dec = (v: PerCpu<NumArray>, idx = 0): void => {
  this_cpu_add(v, -1, idx);
};

/**
 * hostSharedArray - host side: a shared array by name.
 * @param m - the machine's memory.
 * @param name - the array's name.
 * @param ctor - its element type.
 * @param length - its elements (default: all its words hold).
 * Context: the host; a KdeferError when no shared array has that name. Does not sleep.
 * @returns a view on it.
 */
export function hostSharedArray<C extends TypedCtor>(m: Mem, name: string, ctor: C, length?: number): InstanceType<C> {
  const e = registryLookup(m, name);
  if (!e || e.kind !== NAME_KIND_DATA) throw new KdeferError(`no shared array named '${name}'`);
  const n = length ?? Math.floor((e.size * 4) / ctor.BYTES_PER_ELEMENT);
  return new ctor(m.sab as unknown as ArrayBuffer, m.data(e.value) * 4, n) as InstanceType<C>;
}

/**
 * hostPercpuArray - host side: a per-CPU array by name, one view per CPU.
 * @param m - the machine's memory.
 * @param name - the variable's name.
 * @param ctor - its element type.
 * @param length - its elements per CPU.
 * Context: the host; a KdeferError when no per-CPU array has that name. Does not sleep.
 * @returns the views, by CPU.
 */
export function hostPercpuArray<C extends TypedCtor>(m: Mem, name: string, ctor: C, length: number): InstanceType<C>[] {
  const e = registryLookup(m, name);
  if (!e || e.kind !== NAME_KIND_PERCPU) throw new KdeferError(`no per-CPU array named '${name}'`);
  const out: InstanceType<C>[] = [];
  for (let c = 0; c < m.g.cpus; c++)
    out.push(new ctor(m.sab as unknown as ArrayBuffer, m.data(e.value + c * e.size) * 4, length) as InstanceType<C>);
  return out;
}

// ------------------------------------------------------------ functions by id

// Each CPU's own table: id (a name id) -> this CPU's copy of the function.
const fnTable: (((...a: never[]) => unknown) | undefined)[] = [];
const fnIds = new WeakMap<object, number>();
const fnNames: string[] = [];

/** Whether a module's init is running now, and which. */
export let loading: string | null = null;
let loadSeq = 0;

/**
 * fn_id - the id of `fn` on every CPU. At module load an unseen function is
 * registered (its name derives from the module, `hint` and the order of
 * registration, identical on every CPU); later it must already be known.
 * @param fn - the function.
 * @param hint - part of the name it registers under.
 * Context: any; an unknown function after load is a KdeferError. Does not sleep.
 * @returns its id.
 */
export function fn_id(fn: (...a: never[]) => unknown, hint: string): number {
  const id = fnIds.get(fn);
  if (id !== undefined) return id;
  if (typeof fn !== 'function') throw new KdeferError(`${hint}: expected a function, got ${typeof fn}`);
  if (loading === null) {
    throw new KdeferError(
      `${hint}: function '${fn.name || '(anonymous)'}' was not seen at module load; functions that shared memory refers to ` +
        `must be handed to the kernel (or to registerFunction) while the module loads, on every CPU`,
    );
  }
  const name = `fn:${loading}:${hint}:${fn.name || 'anon'}#${loadSeq++}`;
  return register_function_as(name, fn);
}

function register_function_as(name: string, fn: (...a: never[]) => unknown): number {
  const id = registry_resolve(mem, NAME_KIND_FUNC, name, (nid) => ({ value: nid, size: 0 })).id;
  fnTable[id] = fn;
  fnIds.set(fn, id);
  fnNames[id] = fn.name || name;
  return id;
}

/** registerFunction - make `fn` known on this CPU under `name` (call it at load, on every CPU). * @param name - the name (the same on every CPU).
 * @param fn - the function.
 * @returns its id.
 */
export function registerFunction(name: string, fn: (...a: never[]) => unknown): number {
  return register_function_as(`fn:${name}`, fn);
}

/**
 * fn_by_id - this CPU's function of id `id`.
 * @param id - from fn_id.
 * Context: any. Does not sleep.
 * @returns the function, or undefined when this CPU does not know it.
 */
export function fn_by_id(id: number): ((...a: never[]) => unknown) | undefined {
  return fnTable[id];
}
/**
 * fn_name - the registered name of function `id`.
 * @param id - from fn_id.
 * Context: any. Does not sleep.
 * @returns the name, "fn#id" when unknown.
 */
export function fn_name(id: number): string {
  return fnNames[id] ?? `fn#${id}`;
}

// ------------------------------------------------------------ modules

/** What a module's init returns: its entry points, callable by the host in process context. */
export type ModuleEntries = Record<string, (...args: never[]) => unknown>;

export interface ModuleDef<E extends ModuleEntries = ModuleEntries> {
  readonly __kdeferModule: true;
  readonly name: string;
  readonly init: () => E | void;
}

/**
 * defineModule - declare a module. `init` runs once on every CPU at load:
 * it declares what the module shares and returns its entry points.
 * @param name - the module's name.
 * @param init - runs once on every CPU at load.
 * @returns the module definition, to export as default.
 */
export function defineModule<E extends ModuleEntries>(name: string, init: () => E | void): ModuleDef<E> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new KdeferError(`module name '${name}' must be [A-Za-z0-9_.-]+`);
  return { __kdeferModule: true, name, init };
}

const modules = new Map<string, ModuleEntries>();

/**
 * load_module - run a module's init on this CPU.
 * @param def - the module's default export (defineModule).
 * Context: module load, on each CPU; a KdeferError for something that is not a module, or one already loaded.
 * @returns the names of its entry points.
 */
export function load_module(def: ModuleDef): string[] {
  if (!def || def.__kdeferModule !== true) throw new KdeferError('not a kdefer module: its default export must be defineModule(...)');
  if (modules.has(def.name)) throw new KdeferError(`module '${def.name}' is already loaded`);
  loading = def.name;
  loadSeq = 0;
  try {
    const entries = def.init() ?? {};
    modules.set(def.name, entries);
    return Object.keys(entries);
  } finally {
    loading = null;
  }
}

/**
 * module_entry - a loaded module's entry point on this CPU.
 * @param module - the module's name.
 * @param entry - the entry point's name.
 * Context: any, on a CPU; a KdeferError naming what is loaded when either is missing. Does not sleep.
 * @returns the entry point.
 */
export function module_entry(module: string, entry: string): (...args: never[]) => unknown {
  const mod = modules.get(module);
  if (!mod) throw new KdeferError(`no module '${module}' is loaded (loaded: ${[...modules.keys()].join(', ') || 'none'})`);
  const fn = mod[entry];
  if (typeof fn !== 'function')
    throw new KdeferError(`module '${module}' has no entry point '${entry}' (it has: ${Object.keys(mod).join(', ')})`);
  return fn;
}

/**
 * loaded_modules - the modules loaded on this CPU.
 * Context: any. Does not sleep.
 * @returns their names, in load order.
 */
export function loaded_modules(): string[] {
  return [...modules.keys()];
}

/**
 * module_reset_thread - reset this thread's caches (tests that build several machines in one thread).
 * Context: the thread, between machines.
 */
export function module_reset_thread(): void {
  cache.clear();
  modules.clear();
  fnTable.length = 0;
  fnNames.length = 0;
}
