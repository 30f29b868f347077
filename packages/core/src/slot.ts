/**
 * slot.ts — the one allocator of a slot in a shared table: the timer_list,
 * hrtimer, tasklet_struct, irq_work, napi_struct, work_struct and task tables hand their
 * slots out through it.
 *
 * There is no kernel counterpart: the kernel embeds these structs wherever
 * their user puts them, and the slab hands out the memory. kdefer keeps
 * each kind in a fixed table of the shared memory (layout.ts), so that a
 * handle is a slot number every CPU understands; taking and giving back a
 * slot is the same few steps for each table, and this file is where they
 * live:
 *
 * - a slot is free while its claim word is 0; alloc() takes the first free
 *   one with a compare-and-exchange (several CPUs may allocate at once), so
 *   the same slot goes to the same declaration order on every run;
 * - a slot of a table whose objects are embedded in slab objects records
 *   its owner: the embedding object's handle, which carries the object's
 *   generation (slab.ts). A handle taken from an object keeps that owner;
 *   comparing it with the slot's owner (slab.ts embeddedStale) tells a
 *   stale handle from the slot's new object, by construction;
 * - a table may count the slots handed out (a host-readable word).
 *
 * Only allocation and release go through here: the mechanisms' hot paths
 * keep addressing their fields directly through the memory map.
 */
import type { Geometry, Mem } from './layout.js';
import { mem, i32 } from './smp.js';
import { KdeferError } from './module.js';

/** The boot options that size a slot table. */
export type SlotTableSize = {
  [K in keyof Geometry]: K extends `max${string}` ? K : never;
}[keyof Geometry];

/** How one shared table lays out the words the allocator touches. */
export interface SlotTableSpec {
  /** What a slot holds, singular, for the table-full error ("timer"). */
  what: string;
  /** The boot option that sizes the table (its slots are 0 .. mem.g[size] - 1). */
  size: SlotTableSize;
  /** Word index of field `f` of slot `id` (the memory map's accessor). */
  word: (m: Mem, id: number, f: number) => number;
  /** The field that is 0 while the slot is free. */
  claim: number;
  /** What alloc() stores in the claim word (non-zero). */
  taken: number;
  /** The field that records the embedding slab object's handle (0: none); omitted: the table records no owner. */
  owner?: number;
  /** A word (absolute index) counting the slots handed out; omitted: not counted. */
  used?: number;
  /** The first slot handed out (the ones below are reserved, as napi's per-CPU backlogs); 0 when omitted. */
  first?: (m: Mem) => number;
  /** The table-full error, when the default one ("<what> table full: <size>=N <what>s exist") says too little. */
  full?: (n: number, why: string) => string;
}

/**
 * A shared table's slot allocator. Create one per table at module scope:
 * it reads the machine's memory only when called, after the CPU is bound.
 */
export class SlotTable {
  constructor(readonly spec: SlotTableSpec) {
    if (spec.taken === 0) throw new KdeferError(`SlotTable(${spec.what}): the claim value must not be 0 (0 means free)`);
  }

  /** The number of slots, from the boot option. */
  capacity(): number {
    return mem.g[this.spec.size];
  }

  /**
   * alloc - take the first free slot: claim it, record `owner`, run
   * `init(id)` (the mechanism resets its fields there), then count it.
   * @param owner - the embedding slab object's handle (0: none); ignored by a table without an owner field.
   * @param init - resets the slot's other fields before it is counted.
   * @param why - added to a table-full error raised through spec.full.
   * Context: any; several CPUs may allocate at once. Does not sleep.
   * @returns the slot; throws a KdeferError naming the boot option when the table is full.
   */
  alloc(owner = 0, init?: (id: number) => void, why = ''): number {
    const s = this.spec;
    const n = mem.g[s.size];
    for (let id = s.first?.(mem) ?? 0; id < n; id++) {
      if (Atomics.compareExchange(i32, s.word(mem, id, s.claim), 0, s.taken) === 0) {
        if (s.owner !== undefined) i32[s.word(mem, id, s.owner)] = owner;
        init?.(id);
        if (s.used !== undefined) Atomics.add(i32, s.used, 1);
        return id;
      }
    }
    throw new KdeferError(s.full ? s.full(n, why) : `${s.what} table full: ${s.size}=${n} ${s.what}s exist (boot option ${s.size})`);
  }

  /**
   * release - give slot `id` back: it is free for the next alloc(). The
   * caller decides first whether the slot may go (a pending timer, a
   * scheduled tasklet stays taken).
   * @param id - a slot taken with alloc().
   * Context: any. Does not sleep.
   */
  release(id: number): void {
    const s = this.spec;
    Atomics.store(i32, s.word(mem, id, s.claim), 0);
    if (s.used !== undefined) Atomics.sub(i32, s.used, 1);
  }

  /**
   * owner - the slab object that embeds slot `id` (its handle, carrying its generation).
   * @param id - the slot.
   * Context: any. Does not sleep.
   * @returns the handle, 0 when the slot is not embedded (or the table records no owner).
   */
  owner(id: number): number {
    const s = this.spec;
    return s.owner === undefined ? 0 : i32[s.word(mem, id, s.owner)]!;
  }

  /**
   * has - whether `id` names a slot of this table (an integer in range).
   * @param id - what a handle says.
   * Context: any. Does not sleep.
   * @returns true when it is a slot number.
   */
  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < mem.g[this.spec.size];
  }
}
