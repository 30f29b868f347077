/**
 * tasklet.ts — tasklets on HI_SOFTIRQ and TASKLET_SOFTIRQ.
 *
 * Follows kernel/softirq.c (tasklet_schedule, tasklet_action_common,
 * tasklet_kill, tasklet_unlock_wait) and include/linux/interrupt.h. Split
 * out of softirq.ts, which would otherwise pass 600 lines. A tasklet is a
 * slot of the shared tasklet table: TASKLET_STATE_SCHED and
 * TASKLET_STATE_RUN bits changed with Atomics test-and-set, a disable count,
 * and the callback's id. Each CPU keeps its tasklet_vec and tasklet_hi_vec
 * lists in its per-CPU area (head/tail words) linked through the tasklets'
 * `next` words; only that CPU touches its lists, with interrupts off.
 *
 * tasklet_action runs each tasklet of the detached list whose RUN bit it can
 * take and whose count is 0; any other goes back on the list and the softirq
 * is raised again (S-TASK-5) — so one tasklet never runs on two CPUs at
 * once, and a disabled one keeps the softirq busy until it is enabled.
 *
 * Differs from Linux:
 * - tasklet_kill() is async (await it): it yields while the tasklet stays
 *   scheduled, as 5.13+ sleeps; on a tasklet that can never leave the SCHED
 *   state (disabled and scheduled) it reports and stops the machine instead
 *   of hanging (R-8's variant).
 * - tasklet_disable() spins for RUN to clear (the pre-5.13 behaviour, which
 *   tasklet_disable_in_atomic keeps): it only waits for a running callback.
 * - scheduling a tasklet that was never initialised is an error; one that
 *   was killed is a one-time warning (the kernel allows it silently); one
 *   embedded in a freed object is a KASAN use-after-free.
 */
import { clock_now } from './clock.js';
import {
  TL_NEXT,
  TL_STATE,
  TL_COUNT,
  TL_FUNC,
  TL_DATA,
  TL_FLAGS,
  TL_NAME,
  TL_RUNS,
  TL_LAST_CPU,
  TL_OWNER,
  TLF_INIT,
  TLF_CALLBACK,
  TLF_KILLED,
  TLF_ALLOCATED,
  H_TASKLETS_USED,
  H_SOFTLOCKUP_MS,
  PC_TASKLET_HEAD,
  PC_TASKLET_TAIL,
  PC_TASKLET_HI_HEAD,
  PC_TASKLET_HI_TAIL,
  PC_TASKLET_CURRENT,
  PC_TASKLET_RUNS,
  PC_TASKLET_REQUEUES,
} from './layout.js';
import { mem, i32, cpuId, PCB } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, registry_resolve, NAME_KIND_OBJECT, loading } from './module.js';
import { printk, pr_notice, KERN_EMERG, WARN_ONCE, dump_context, oops_end } from './printk.js';
import { local_irq_save, local_irq_restore, local_irq_disable, local_irq_enable, in_interrupt } from './preempt.js';
import { open_softirq, raise_softirq_irqoff, __raise_softirq_irqoff, TASKLET_SOFTIRQ, HI_SOFTIRQ } from './softirq.js';
import { run_handler } from './oops.js';
import { upcalls } from './upcall.js';
import { cond_resched } from './sched.js';
import { spin_lockup_ms } from './spinlock.js';
import { trace_event, TP_TASKLET_ENTRY, TP_TASKLET_EXIT } from './trace.js';
import { SlotTable } from './slot.js';
import { slab_obj, type SlabObject, type StructFields, registerFieldKind, embeddedStale, embeddedOwnerAlive } from './slab.js';

declare module './slab.js' {
  interface EmbeddedFieldTypes {
    /** a struct tasklet_struct field (tasklet_init_cpu registers the kind) */
    tasklet_struct: TaskletStruct;
  }
  interface SlabObject<F extends StructFields = StructFields> {
    /** The tasklet_struct embedded as `field` (after free: as timer(), a handle every tasklet API refuses). */
    tasklet(field: keyof F & string): TaskletStruct;
  }
}

export const TASKLET_STATE_SCHED = 0;
export const TASKLET_STATE_RUN = 1;
const SCHED = 1 << TASKLET_STATE_SCHED;
const RUN = 1 << TASKLET_STATE_RUN;

/** A tasklet_struct: a slot of the shared tasklet table. */
export class TaskletStruct {
  constructor(
    readonly id: number,
    readonly name: string,
    /** the slab object this handle's tasklet is embedded in (0: none), as the slot had it when the handle was made */
    readonly owner = 0,
  ) {}
  /** The `data` argument of a legacy tasklet_init() tasklet. */
  get data(): number {
    return i32[mem.tasklet(this.id, TL_DATA)]!;
  }
  /** The state word: TASKLET_STATE_SCHED and TASKLET_STATE_RUN bits. */
  get state(): number {
    return Atomics.load(i32, mem.tasklet(this.id, TL_STATE));
  }
  /** The disable count. */
  get count(): number {
    return Atomics.load(i32, mem.tasklet(this.id, TL_COUNT));
  }
}
export type tasklet_struct = TaskletStruct;
export type TaskletCallback = (t: TaskletStruct) => void;
export type TaskletFunc = (data: number) => void;

const tl = (id: number, f: number): number => mem.tasklet(id, f);
/** The shared tasklet table's slots (slot.ts): claimed through TL_FLAGS, owned by the embedding object. */
const tasklets = new SlotTable({
  what: 'tasklet',
  size: 'maxTasklets',
  word: (m, id, f) => m.tasklet(id, f),
  claim: TL_FLAGS,
  taken: TLF_ALLOCATED,
  owner: TL_OWNER,
  used: H_TASKLETS_USED,
});
const byId = new Map<number, TaskletStruct>();

/**
 * tasklet_by_id - the TaskletStruct of tasklet slot `id` (one object per slot and owner on this CPU).
 * @param id - the slot.
 * Context: any. Does not sleep.
 * @returns the handle.
 */
export function tasklet_by_id(id: number): TaskletStruct {
  let t = byId.get(id);
  const owner = tasklets.owner(id);
  if (!t || t.owner !== owner) {
    t = new TaskletStruct(id, name_of(mem, i32[tl(id, TL_NAME)]!) || `tasklet#${id}`, owner);
    byId.set(id, t);
  }
  return t;
}

/**
 * kdefer: the tasklet of a stale handle (slab.ts): one whose slot may since
 * have gone to another object. Every API finds it stale (check_usable).
 * @param id - the slot the handle named.
 * @param owner - the slab object the handle was made for.
 * @returns a TaskletStruct for that slot and owner.
 */
export function taskletOfStaleHandle(id: number, owner: number): TaskletStruct {
  const ok = tasklets.has(id);
  return new TaskletStruct(ok ? id : 0, ok ? name_of(mem, i32[tl(id, TL_NAME)]!) || `tasklet#${id}` : 'tasklet#stale', owner);
}

// ------------------------------------------------------------ slots

/**
 * tasklet_slot_alloc - take a free tasklet slot (for a named tasklet, or one embedded in a slab object).
 * @param owner - the slab object that embeds it (0: none).
 * Context: any; a KdeferError when the table is full (boot option maxTasklets). Does not sleep.
 * @returns the slot, reset (not scheduled, enabled, no function).
 */
export function tasklet_slot_alloc(owner: number): number {
  return tasklets.alloc(owner, (id) => {
    Atomics.store(i32, tl(id, TL_STATE), 0);
    Atomics.store(i32, tl(id, TL_COUNT), 0);
    i32[tl(id, TL_NEXT)] = 0;
    i32[tl(id, TL_FUNC)] = 0;
    i32[tl(id, TL_NAME)] = 0;
    Atomics.store(i32, tl(id, TL_RUNS), 0);
    byId.delete(id);
  });
}

/**
 * tasklet_slot_release - give a slot back (its object left the quarantine); never while
 * scheduled or running.
 * @param id - the slot.
 * Context: any. Does not sleep.
 */
export function tasklet_slot_release(id: number): void {
  if (Atomics.load(i32, tl(id, TL_STATE)) !== 0) return; // leak it: still queued or running
  tasklets.release(id);
}

function named_slot(name: string): number {
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `tasklet:${name}`, () => ({ value: tasklet_slot_alloc(0), size: 0 }));
  if (e.created) i32[tl(e.value, TL_NAME)] = intern(name);
  return e.value;
}

function init_slot(id: number, fnId: number, callback: boolean, data: number, disabled: boolean): void {
  i32[tl(id, TL_FUNC)] = fnId + 1;
  i32[tl(id, TL_DATA)] = data;
  Atomics.store(i32, tl(id, TL_STATE), 0);
  Atomics.store(i32, tl(id, TL_COUNT), disabled ? 1 : 0);
  Atomics.store(i32, tl(id, TL_FLAGS), TLF_ALLOCATED | TLF_INIT | (callback ? TLF_CALLBACK : 0));
}

// ------------------------------------------------------------ declaring

/**
 * DECLARE_TASKLET - declare the tasklet named `name` calling `callback(t)`.
 * Context: module load (every CPU resolves the name to the same tasklet).
 * @param name - the tasklet's name.
 * @param callback - called as callback(t).
 * @returns the tasklet (the same slot for the same name on every CPU).
 */
export function DECLARE_TASKLET(name: string, callback: TaskletCallback): TaskletStruct {
  return declare(name, callback as (...a: never[]) => unknown, true, 0, false);
}
/**
 * DECLARE_TASKLET_DISABLED - as DECLARE_TASKLET, created with count 1 (disabled until tasklet_enable).
 * @param name - the tasklet's name.
 * @param callback - called as callback(t).
 * Context: module load.
 * @returns the tasklet.
 */
export function DECLARE_TASKLET_DISABLED(name: string, callback: TaskletCallback): TaskletStruct {
  return declare(name, callback as (...a: never[]) => unknown, true, 0, true);
}
/**
 * DECLARE_TASKLET_OLD - the legacy form: `func(data)` with data 0.
 * @param name - the tasklet's name.
 * @param func - called as func(0).
 * Context: module load.
 * @returns the tasklet.
 */
export function DECLARE_TASKLET_OLD(name: string, func: TaskletFunc): TaskletStruct {
  return declare(name, func as (...a: never[]) => unknown, false, 0, false);
}

// The booted era's check (era/boot.ts): era 2.2 has no tasklets (they came with softnet, 2.3.43).
let era_check: (who: string) => void = () => {};
/**
 * tasklet_set_era_check - install the booted era's check, run when a module declares or sets up a tasklet.
 * @param fn - throws when the era has no tasklets.
 * Context: CPU bring-up (era/boot.ts). Does not sleep.
 */
export function tasklet_set_era_check(fn: (who: string) => void): void {
  era_check = fn;
}

function declare(name: string, fn: (...a: never[]) => unknown, callback: boolean, data: number, disabled: boolean): TaskletStruct {
  if (loading !== null) era_check('DECLARE_TASKLET');
  const id = named_slot(name);
  const fid = fn_id(fn, `tasklet:${name}`);
  if (!(Atomics.load(i32, tl(id, TL_FLAGS)) & TLF_INIT)) init_slot(id, fid, callback, data, disabled);
  return tasklet_by_id(id);
}

/**
 * tasklet_setup - (re)initialise `t` to call `callback(t)` (5.9+ form).
 * Context: process context, before the tasklet can be scheduled.
 */
export function tasklet_setup(t: TaskletStruct, callback: TaskletCallback): void {
  era_check('tasklet_setup');
  if (stale(t, 'tasklet_setup')) return;
  init_slot(t.id, fn_id(callback as (...a: never[]) => unknown, `tasklet:${t.name}`), true, 0, false);
}

/**
 * tasklet_init - (re)initialise `t` to call the legacy `func(data)`.
 * @param t - the tasklet.
 * @param func - its function.
 * @param data - its argument.
 * Context: process context, before the tasklet can be scheduled.
 */
export function tasklet_init(t: TaskletStruct, func: TaskletFunc, data: number): void {
  era_check('tasklet_init');
  if (stale(t, 'tasklet_init')) return;
  init_slot(t.id, fn_id(func as (...a: never[]) => unknown, `tasklet:${t.name}`), false, data, false);
}

/**
 * from_tasklet - the slab object that embeds `t` (the handle's own object: a stale
 * handle's is freed, so its accesses are KASAN reports; never the slot's new owner).
 * @param t - a tasklet embedded in a slab object.
 * Context: any, typically its callback; a KdeferError when `t` is not embedded. Does not sleep.
 * @returns the object.
 */
export function from_tasklet<F extends StructFields>(t: TaskletStruct): SlabObject<F> {
  // the handle's own object (a stale handle's is freed: its accesses report), never the slot's new owner
  const owner = t.owner;
  if (owner === 0) throw new KdeferError(`from_tasklet(${t.name}): this tasklet is not embedded in a slab object`);
  return slab_obj<F>(owner);
}

// ------------------------------------------------------------ scheduling

/**
 * Whether `t` is a stale handle: its slot now belongs to another object (or
 * none) than the one it was taken from. One load and a compare; the use is
 * reported as KASAN's use-after-free in `who`, every time, and the slot
 * (the new object's tasklet) is left alone.
 */
function stale(t: TaskletStruct, who: string): boolean {
  return embeddedStale(tasklets.owner(t.id), t.owner, who);
}

function check_usable(t: TaskletStruct, who: string): boolean {
  if (!(t instanceof TaskletStruct)) throw new KdeferError(`${who}: not a tasklet_struct`);
  if (stale(t, who)) return false;
  const f = Atomics.load(i32, tl(t.id, TL_FLAGS));
  if (!(f & TLF_INIT))
    throw new KdeferError(`${who}: tasklet '${t.name}' was never initialised (tasklet_init, tasklet_setup or DECLARE_TASKLET)`);
  if (!embeddedOwnerAlive(tasklets.owner(t.id))) return false;
  if (f & TLF_KILLED) WARN_ONCE(true, `${who}: tasklet ${t.name} used after tasklet_kill()`);
  return true;
}

function __tasklet_schedule_common(t: TaskletStruct, headF: number, tailF: number, nr: number): void {
  const flags = local_irq_save();
  const id = t.id + 1;
  i32[tl(t.id, TL_NEXT)] = 0;
  const tail = i32[PCB + tailF]!;
  if (tail) i32[tl(tail - 1, TL_NEXT)] = id;
  else i32[PCB + headF] = id;
  i32[PCB + tailF] = id;
  raise_softirq_irqoff(nr);
  local_irq_restore(flags);
}

/**
 * tasklet_schedule - queue `t` on THIS CPU's tasklet_vec unless it is
 * already scheduled; it runs once afterwards, here, in TASKLET_SOFTIRQ.
 * Context: any.
 */
export function tasklet_schedule(t: TaskletStruct): void {
  preempt_point();
  if (!check_usable(t, 'tasklet_schedule')) return;
  if (Atomics.or(i32, tl(t.id, TL_STATE), SCHED) & SCHED) return;
  __tasklet_schedule_common(t, PC_TASKLET_HEAD, PC_TASKLET_TAIL, TASKLET_SOFTIRQ);
}

/**
 * tasklet_hi_schedule - as tasklet_schedule, on tasklet_hi_vec and HI_SOFTIRQ.
 * @param t - the tasklet.
 * Context: any. Does not sleep.
 */
export function tasklet_hi_schedule(t: TaskletStruct): void {
  preempt_point();
  if (!check_usable(t, 'tasklet_hi_schedule')) return;
  if (Atomics.or(i32, tl(t.id, TL_STATE), SCHED) & SCHED) return;
  __tasklet_schedule_common(t, PC_TASKLET_HI_HEAD, PC_TASKLET_HI_TAIL, HI_SOFTIRQ);
}

/**
 * tasklet_trylock - take the RUN bit.
 * @param t - the tasklet.
 * Context: any. Does not sleep.
 * @returns true if taken, false if it was already set (the callback runs somewhere).
 */
export function tasklet_trylock(t: TaskletStruct): boolean {
  return (Atomics.or(i32, tl(t.id, TL_STATE), RUN) & RUN) === 0;
}
/**
 * tasklet_unlock - drop the RUN bit.
 * @param t - the tasklet, locked with tasklet_trylock.
 * Context: any; the holder of the RUN bit. Does not sleep.
 */
export function tasklet_unlock(t: TaskletStruct): void {
  Atomics.and(i32, tl(t.id, TL_STATE), ~RUN);
}

/**
 * tasklet_unlock_wait - wait until `t`'s callback is not running (RUN clear).
 * Context: any context other than `t`'s own callback.
 */
export function tasklet_unlock_wait(t: TaskletStruct): void {
  if (i32[PCB + PC_TASKLET_CURRENT] === t.id + 1) {
    printk(
      KERN_EMERG +
        `BUG: tasklet ${t.name} waits for itself to finish (tasklet_disable or tasklet_kill from its own callback) on CPU#${cpuId}`,
    );
    printk(KERN_EMERG + dump_context());
    oops_end('tasklet waits for itself', in_interrupt());
  }
  const t0 = clock_now();
  let spins = 0;
  while (Atomics.load(i32, tl(t.id, TL_STATE)) & RUN) {
    cpu_relax();
    if ((++spins & 1023) === 0 && clock_now() - t0 > spin_lockup_ms()) {
      printk(
        KERN_EMERG +
          `BUG: tasklet_unlock_wait(${t.name}) lockup suspected on CPU#${cpuId}: its callback has run for ${Math.round(clock_now() - t0)} ms`,
      );
      oops_end('tasklet_unlock_wait lockup', in_interrupt());
    }
  }
}

/**
 * tasklet_disable_nosync - increment `t`'s disable count; returns at once,
 * even if the callback is running.
 * @param t - the tasklet.
 * Context: any. Does not sleep.
 */
export function tasklet_disable_nosync(t: TaskletStruct): void {
  preempt_point();
  Atomics.add(i32, tl(t.id, TL_COUNT), 1);
}
/**
 * tasklet_disable - increment the disable count and wait until the callback
 * is not running; on return `t` will not start until tasklet_enable().
 * Context: any context other than `t`'s callback.
 */
export function tasklet_disable(t: TaskletStruct): void {
  tasklet_disable_nosync(t);
  tasklet_unlock_wait(t);
}
export const tasklet_disable_in_atomic = tasklet_disable;
/**
 * tasklet_enable - decrement the disable count; a tasklet scheduled while
 * disabled runs once it reaches 0.
 * @param t - the tasklet.
 * Context: any. Does not sleep.
 */
export function tasklet_enable(t: TaskletStruct): void {
  preempt_point();
  const old = Atomics.sub(i32, tl(t.id, TL_COUNT), 1);
  if (old <= 0) {
    WARN_ONCE(true, `tasklet_enable: unbalanced enable of tasklet ${t.name}`);
    Atomics.store(i32, tl(t.id, TL_COUNT), 0);
  }
}

/**
 * tasklet_kill - wait until `t` is neither scheduled nor running, and leave
 * it unscheduled. It does not stop anyone from scheduling it again: stop the
 * source (free_irq, disable the device) first.
 * Context: process context (await it); it yields while it waits.
 */
export async function tasklet_kill(t: TaskletStruct): Promise<void> {
  if (in_interrupt()) pr_notice('softirq: Attempt to kill tasklet from interrupt');
  if (!check_usable(t, 'tasklet_kill') && tasklets.owner(t.id) !== t.owner) return; // stale: not the new object's tasklet
  const bound = Math.max(i32[H_SOFTLOCKUP_MS]!, spin_lockup_ms());
  const t0 = clock_now();
  while (Atomics.or(i32, tl(t.id, TL_STATE), SCHED) & SCHED) {
    do {
      await cond_resched();
      cpu_relax();
      if (clock_now() - t0 > bound) {
        printk(
          KERN_EMERG +
            `BUG: tasklet_kill(${t.name}) on CPU#${cpuId}: the tasklet stayed scheduled for ${Math.round(clock_now() - t0)} ms (count ${t.count}: a disabled tasklet that is scheduled never leaves TASKLET_STATE_SCHED)`,
        );
        printk(KERN_EMERG + dump_context());
        oops_end('tasklet_kill never returns');
      }
    } while (Atomics.load(i32, tl(t.id, TL_STATE)) & SCHED);
  }
  tasklet_unlock_wait(t);
  Atomics.and(i32, tl(t.id, TL_STATE), ~SCHED);
  Atomics.or(i32, tl(t.id, TL_FLAGS), TLF_KILLED);
}

// ------------------------------------------------------------ the softirq actions

// BH workqueues run first in the tasklet softirqs: workqueue_softirq_action,
// reached through the upcall table (workqueue.ts registers it at init).

function tasklet_action_common(headF: number, tailF: number, nr: number): void {
  local_irq_disable();
  let next = i32[PCB + headF]!;
  i32[PCB + headF] = 0;
  i32[PCB + tailF] = 0;
  local_irq_enable();
  while (next !== 0) {
    const id = next - 1;
    next = i32[tl(id, TL_NEXT)]!;
    const t = tasklet_by_id(id);
    if (tasklet_trylock(t)) {
      if (Atomics.load(i32, tl(id, TL_COUNT)) === 0) {
        if (!(Atomics.and(i32, tl(id, TL_STATE), ~SCHED) & SCHED)) {
          const f = Atomics.load(i32, tl(id, TL_FLAGS));
          WARN_ONCE(true, `tasklet SCHED state not set: ${f & TLF_CALLBACK ? 'callback' : 'func'} ${fn_name(i32[tl(id, TL_FUNC)]! - 1)}`);
        }
        run_callback(t);
        tasklet_unlock(t);
        continue;
      }
      tasklet_unlock(t);
    }
    // RUN held by another CPU, or disabled: back on the list, raise again.
    i32[PCB + PC_TASKLET_REQUEUES]!++;
    local_irq_disable();
    i32[tl(id, TL_NEXT)] = 0;
    const tail = i32[PCB + tailF]!;
    if (tail) i32[tl(tail - 1, TL_NEXT)] = id + 1;
    else i32[PCB + headF] = id + 1;
    i32[PCB + tailF] = id + 1;
    __raise_softirq_irqoff(nr);
    local_irq_enable();
  }
}

function run_callback(t: TaskletStruct): void {
  const id = t.id;
  const f = Atomics.load(i32, tl(id, TL_FLAGS));
  const fid = i32[tl(id, TL_FUNC)]! - 1;
  const fn = fn_by_id(fid);
  const prev = i32[PCB + PC_TASKLET_CURRENT]!;
  i32[PCB + PC_TASKLET_CURRENT] = id + 1;
  i32[PCB + PC_TASKLET_RUNS]!++;
  Atomics.add(i32, tl(id, TL_RUNS), 1);
  Atomics.store(i32, tl(id, TL_LAST_CPU), cpuId);
  trace_event(TP_TASKLET_ENTRY, id, i32[tl(id, TL_NAME)]!);
  if (!fn) {
    i32[PCB + PC_TASKLET_CURRENT] = prev;
    return;
  }
  try {
    run_handler(
      f & TLF_CALLBACK ? () => (fn as TaskletCallback)(t) : () => (fn as TaskletFunc)(i32[tl(id, TL_DATA)]!),
      () => `tasklet ${t.name} callback ${fn_name(fid)}`,
      `tasklet ${t.name}`,
    );
  } finally {
    i32[PCB + PC_TASKLET_CURRENT] = prev;
  }
  trace_event(TP_TASKLET_EXIT, id, i32[tl(id, TL_NAME)]!);
}

/** TASKLET_SOFTIRQ's action: BH work first, then the tasklets of tasklet_vec. */
function tasklet_action(): void {
  upcalls.bhWork(false);
  tasklet_action_common(PC_TASKLET_HEAD, PC_TASKLET_TAIL, TASKLET_SOFTIRQ);
}
/** HI_SOFTIRQ's action: highpri BH work first, then tasklet_hi_vec. */
function tasklet_hi_action(): void {
  upcalls.bhWork(true);
  tasklet_action_common(PC_TASKLET_HI_HEAD, PC_TASKLET_HI_TAIL, HI_SOFTIRQ);
}

/**
 * How many times `t`'s callback ran, and on which CPU last.
 * @param t - the tasklet.
 * @returns runs and lastCpu.
 */
export function taskletStats(t: TaskletStruct): { runs: number; lastCpu: number } {
  return { runs: Atomics.load(i32, tl(t.id, TL_RUNS)), lastCpu: Atomics.load(i32, tl(t.id, TL_LAST_CPU)) };
}

/**
 * tasklet_init_cpu - softirq_init's part: open the two tasklet vectors and register
 * tasklet_struct as an embeddable slab field.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function tasklet_init_cpu(): void {
  open_softirq(TASKLET_SOFTIRQ, tasklet_action);
  open_softirq(HI_SOFTIRQ, tasklet_hi_action);
  registerFieldKind('tasklet_struct', {
    accessor: 'tasklet',
    alloc: (owner) => tasklet_slot_alloc(owner),
    release: (id) => tasklet_slot_release(id),
    lookup: (id, obj, _field, freed) => (freed ? taskletOfStaleHandle(id, obj.handle) : tasklet_by_id(id)),
  });
}
