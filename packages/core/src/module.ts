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
 * Resolve `name` of `kind` to its entry, creating it with `create` (under
 * the registry lock) if nobody declared it yet.
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

/** Host side: find a declared name without creating it. */
export function registry_lookup(m: Mem, name: string, ns = 0): { id: number; kind: number; value: number; size: number } | null {
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

/** The text of name `id` (0: ""). Host side too. */
export function name_of(m: Mem, id: number): string {
  if (id <= 0) return '';
  return getString(m, m.name(id, NM_BYTES), m.i32[m.name(id, NM_LEN)]!);
}

/** Intern a string; returns its id (stable across CPUs). */
export function intern(name: string): number {
  return registry_resolve(mem, NAME_KIND_STRING, name, () => ({ value: 0, size: 0 })).id;
}

/** Reserve `words` words of the data arena (cache-line aligned); under the registry lock. */
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

/** Reserve arena space for a named table of a mechanism (tasklets, timers, ...). */
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
 * Zeroed when first declared. Context: module load (or any, once declared).
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

/** shared_int32 - `shared_array(name, Int32Array, length)`: Atomics work on it. */
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
 */
export function DEFINE_PER_CPU<C extends TypedCtor>(name: string, ctor: C, length = 1): PerCpu<InstanceType<C>> {
  const per = Math.ceil(wordsFor(ctor, length) / LINE_WORDS) * LINE_WORDS;
  const e = registry_resolve(mem, NAME_KIND_PERCPU, name, () => ({ value: arena_alloc_locked(mem, per * nrCpus, name), size: per }), per);
  const views: InstanceType<C>[] = [];
  for (let c = 0; c < nrCpus; c++)
    views.push(new ctor(mem.sab as unknown as ArrayBuffer, mem.data(e.value + c * per) * 4, length) as InstanceType<C>);
  return new PerCpu(name, views);
}

/** per_cpu_ptr - CPU `cpu`'s instance. Context: any. */
export const per_cpu_ptr = <T extends Typed>(v: PerCpu<T>, cpu: number): T => v.ptr(cpu);
/** this_cpu_ptr - this CPU's instance. Context: preemption disabled (always true for a kdefer task). */
export const this_cpu_ptr = <T extends Typed>(v: PerCpu<T>): T => v.ptr(cpuId);

type NumArray = Int32Array | Uint32Array | Float64Array | Int16Array | Uint8Array;
/** this_cpu_read - element `idx` of this CPU's instance. */
export const this_cpu_read = (v: PerCpu<NumArray>, idx = 0): number => v.ptr(cpuId)[idx]!;
/** this_cpu_write */
export function this_cpu_write(v: PerCpu<NumArray>, val: number, idx = 0): void {
  v.ptr(cpuId)[idx] = val;
}
/** this_cpu_add - add `n` to element `idx` of this CPU's instance (no atomics: only this CPU writes it). */
export function this_cpu_add(v: PerCpu<NumArray>, n: number, idx = 0): void {
  v.ptr(cpuId)[idx]! += n;
}
export const this_cpu_inc = (v: PerCpu<NumArray>, idx = 0): void => this_cpu_add(v, 1, idx);
export const this_cpu_dec = (v: PerCpu<NumArray>, idx = 0): void => this_cpu_add(v, -1, idx);

/** Host side: a shared array by name. */
export function host_shared_array<C extends TypedCtor>(m: Mem, name: string, ctor: C, length?: number): InstanceType<C> {
  const e = registry_lookup(m, name);
  if (!e || e.kind !== NAME_KIND_DATA) throw new KdeferError(`no shared array named '${name}'`);
  const n = length ?? Math.floor((e.size * 4) / ctor.BYTES_PER_ELEMENT);
  return new ctor(m.sab as unknown as ArrayBuffer, m.data(e.value) * 4, n) as InstanceType<C>;
}

/** Host side: a per-CPU array by name, one view per CPU. */
export function host_percpu_array<C extends TypedCtor>(m: Mem, name: string, ctor: C, length: number): InstanceType<C>[] {
  const e = registry_lookup(m, name);
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
 * The id of `fn` on every CPU. At module load an unseen function is
 * registered (its name derives from the module, `hint` and the order of
 * registration, identical on every CPU); later it must already be known.
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

/** registerFunction - make `fn` known on this CPU under `name` (call it at load, on every CPU). */
export function registerFunction(name: string, fn: (...a: never[]) => unknown): number {
  return register_function_as(`fn:${name}`, fn);
}

/** This CPU's function of id `id`. */
export function fn_by_id(id: number): ((...a: never[]) => unknown) | undefined {
  return fnTable[id];
}
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
 */
export function defineModule<E extends ModuleEntries>(name: string, init: () => E | void): ModuleDef<E> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new KdeferError(`module name '${name}' must be [A-Za-z0-9_.-]+`);
  return { __kdeferModule: true, name, init };
}

const modules = new Map<string, ModuleEntries>();

/** Run a module's init on this CPU. */
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

/** A loaded module's entry point on this CPU. */
export function module_entry(module: string, entry: string): (...args: never[]) => unknown {
  const mod = modules.get(module);
  if (!mod) throw new KdeferError(`no module '${module}' is loaded (loaded: ${[...modules.keys()].join(', ') || 'none'})`);
  const fn = mod[entry];
  if (typeof fn !== 'function')
    throw new KdeferError(`module '${module}' has no entry point '${entry}' (it has: ${Object.keys(mod).join(', ')})`);
  return fn;
}

export function loaded_modules(): string[] {
  return [...modules.keys()];
}

/** Reset per-thread caches (tests that build several machines in one thread). */
export function module_reset_thread(): void {
  cache.clear();
  modules.clear();
  fnTable.length = 0;
  fnNames.length = 0;
}
