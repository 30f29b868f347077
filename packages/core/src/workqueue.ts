/**
 * workqueue.ts — concurrency-managed workqueues (cmwq), on every CPU.
 *
 * Follows kernel/workqueue.c (6.10+) and include/linux/workqueue.h. A
 * work_struct is a slot of a shared table; WORK_STRUCT_PENDING in its data
 * word is taken with an Atomics test-and-set, so queueing a pending work
 * returns false from any CPU. A workqueue is a front end (flags, max_active,
 * flush domain, rescuer); execution belongs to worker pools, all in shared
 * memory: per CPU a BH pool and a BH highpri pool (run in softirq context),
 * a normal pool and a highpri pool (kworker/N:M, kworker/N:MH), and two
 * unbound pools (kworker/uP:M). Queueing on a per-CPU pool is a push onto
 * the pool's inbound list (one compare-and-swap, no lock), then — only if
 * no worker of the pool is running — a wake-up of an idle kworker of the
 * pool by pid (sched.ts: the wake ring and a rescheduling IPI); whoever
 * holds the pool's lock enters the inbound items into the worklist. Shared
 * memory and Atomics only.
 *
 * Concurrency management: a bound pool counts nr_running, the workers that
 * run and are not sleeping. A worker takes the next item only while
 * nr_running <= 1; when the running one sleeps (sched.ts calls
 * wq_worker_sleeping from schedule()), an idle worker is woken to go on
 * with the worklist; a worker that finds no idle worker left creates one
 * (manage_workers) before it starts an item, so there is always someone to
 * wake. Idle workers are culled after IDLE_WORKER_TIMEOUT when too many.
 *
 *   CPU0 (queue_work_on(1, wq, w))        CPU1 (pool kworker/1:0, idle)
 *   test_and_set PENDING                   .
 *   push w on the inbound list (CAS)       .
 *   nr_running == 0: lock pool, enter      .
 *   the inbound list, pick an idle worker  .
 *   unlock; wakeUpPid(kworker/1:0) ──────▶ rescheduling IPI, runqueue
 *                                          lock; take w; clear PENDING; unlock
 *                                          w->func(w)
 *
 * While the kworker runs (nr_running 1), CPU0's pushes wake nobody: the
 * kworker takes the inbound list whole when its worklist runs dry. A worker
 * that stops counting as running (it goes idle, or sleeps in a work
 * function) drops nr_running before it looks at the inbound list, and a
 * pusher pushes before it reads nr_running: one of the two sees the other.
 *
 * Differs from Linux:
 * - __queue_work takes the pool lock in the kernel; here a per-CPU pool's
 *   remote queueing only pushes onto its inbound list (pool_drain_inbound),
 *   so that a stream of queue_work_on does not contend with the kworker for
 *   the lock it takes per item. What the kernel decides at insertion under
 *   the lock — flush colour, nr_in_flight, max_active (inactive list) — is
 *   decided when the item is entered, under the lock; every path that looks
 *   at a pool's lists (cancel, flush, drain, max_active) takes the lock,
 *   which enters the inbound items first. Per-pwq flush colours change
 *   under each pool's lock (flush_workqueue_prep_pwqs), as in the kernel.
 * - kworkers never migrate: each CPU creates its own workers (also for the
 *   unbound pools, whose worklist every CPU's unbound workers serve; a
 *   queue wakes an idle one on an idle CPU first). There is no CPU hotplug,
 *   so no disassociated pools (S-WQ-24).
 * - one rescuer per CPU that called alloc_workqueue(WQ_MEM_RECLAIM) (module
 *   load: every CPU), named kworker/R-<wq>; it is summoned when a pool
 *   cannot create a worker (the task table is full).
 * - flush_work and cancel_work_sync wait on sequence numbers in the work
 *   (insertions / finished executions) instead of queueing barrier works;
 *   flush_workqueue uses two flush colours, flushers serialised by the
 *   workqueue's mutex. The guarantees are the kernel's (S-WQ-16/17/18).
 * - lockdep (S-WQ-20): the workqueue's "(wq_completion)name" map and the
 *   work's "(work_completion)(name)" map are held around each work function;
 *   flush_workqueue takes the first, flush_work/cancel_work_sync the second
 *   (and flush_work the first too on a max_active 1 or rescuer workqueue),
 *   so waiting while holding a lock the items take is a reported cycle. The
 *   direct self-deadlocks (flush or cancel_sync of the running work from
 *   itself, flush of the running work's own workqueue) are reported with
 *   or without the validator, and the call returns instead of hanging.
 * - queueing on a draining or destroyed workqueue warns and returns false
 *   with PENDING cleared (the kernel leaves the work pending forever, so a
 *   later cancel_work_sync would spin); a destroyed one is reported as a
 *   use-after-free.
 * - work items are declared by name (DECLARE_WORK('drv.work', fn)), or
 *   embedded in a slab object as a 'work_struct' or 'delayed_work' field
 *   (obj.work('w'), obj.dwork('dw'); INIT_WORK / INIT_DELAYED_WORK at run
 *   time with a function registered at load; workContainerOf for
 *   container_of). A work of a freed object is reported by KASAN when it is
 *   queued or about to run, and its function is not called. BH work
 *   functions must be synchronous; unbound max_active is per pool_workqueue
 *   (S-WQ-11).
 * - a remote kick of a BH pool (queue_work_on(cpu, system_bh_wq, ...) for
 *   another CPU) is an internal work item on that CPU's highpri pool that
 *   raises the softirq there, where the kernel uses irq_work.
 * - a bound kworker that runs out of work polls its worklist for
 *   WORKER_IDLE_POLL_US before going idle (waking a parked kdefer CPU costs
 *   ~50 µs, not the ~1 µs of a real idle exit); remote wake-ups decided
 *   under a pool's lock are sent after it is dropped, one in flight per
 *   worker (try_to_wake_up's idempotence).
 * - kworker ids (the M of kworker/N:M) are not reused after a worker is
 *   culled (the kernel's ida hands out the smallest free one).
 * - cancel_work_sync & co. on a BH work in atomic context report like any
 *   sleeping call (6.10+ busy-waits there instead).
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  MAX_CPUS,
  PC_IDLE,
  PC_CONTROL_HOST,
  PC_NR_RUNNING,
  WQG_WORKS_USED,
  WQG_WQS_USED,
  WQG_IDLE_TIMEOUT_MS,
  WQG_WAITOBJ_USED,
  WQG_WORKERS_CREATED,
  WQG_WORKERS_REAPED,
  WAITOBJ_RESERVED,
  WQ_POOLS_PER_CPU,
  WQ_UNBOUND_POOLS,
  PL_LOCK,
  PL_ID,
  PL_CPU,
  PL_NICE,
  PL_FLAGS,
  PL_NR_RUNNING,
  PL_WORKLIST,
  PL_NR_WORKERS,
  PL_NR_IDLE,
  PL_IDLE_LIST,
  PL_BUSY_LIST,
  PL_NEXT_WORKER_ID,
  PL_NR_STARTED,
  PL_NR_CM_WAKEUPS,
  PL_BH_KICK,
  PL_NR_MAYDAYS,
  PL_INBOUND,
  POOL_STRIDE,
  PWQ_POOL,
  PWQ_WQ,
  PWQ_NR_ACTIVE,
  PWQ_MAX_ACTIVE,
  PWQ_INACTIVE,
  PWQ_NR_IN_FLIGHT,
  PWQ_RESCUER,
  PWQ_RESCUER_WORKER,
  PWQ_MAYDAY,
  PWQ_STAT_STARTED,
  PWQ_STAT_COMPLETED,
  PWQ_STAT_MAX_ACTIVE,
  PWQ_WORK_COLOR,
  PWQ_STRIDE,
  WQS_FLAGS,
  WQS_NAME,
  WQS_MAX_ACTIVE,
  WQS_STATE,
  WQS_WORK_COLOR,
  WQS_FLUSH_MUTEX,
  WQS_FLUSH_WAITQ,
  WQS_NR_DRAINERS,
  WQS_GEN,
  WK_DATA,
  WK_FUNC,
  WK_NAME,
  WK_NEXT,
  WK_PREV,
  WK_LIST,
  WK_PWQ,
  WK_POOL,
  WK_COLOR,
  WK_QSEQ,
  WK_RUNSEQ,
  WK_DONESEQ,
  WK_DISCARD,
  WK_DISABLE,
  WK_FLAGS,
  WK_TIMER,
  WK_DW_CPU,
  WK_DW_WQ,
  WK_RUNS,
  WK_LAST_CPU,
  WK_INEXT,
  WK_OWNER,
  WORK_STRIDE,
  WR_STATE,
  WR_POOL,
  WR_PID,
  WR_CPU,
  WR_ID,
  WR_FLAGS,
  WR_SLEEPING,
  WR_CURRENT_WORK,
  WR_CURRENT_FUNC,
  WR_CURRENT_PWQ,
  WR_LAST_WQ,
  WR_NEXT,
  WR_PREV,
  WR_BNEXT,
  WR_BPREV,
  WR_SCHEDULED,
  WR_ITEMS,
  WR_SLOT,
  WR_WAKING,
  WORKER_STRIDE,
  WO_NR,
  WO_LOCK,
  WO_KIND,
  WO_KIND_WAITQ,
  WO_KIND_MUTEX,
  TM_DATA,
  TM_NAME,
  TM_STATE,
  TMS_INIT,
  TK_PID,
  TK_STATE,
} from './layout.js';
import { mem, i32 as smp_i32, cpuId, nrCpus, PCB } from './smp.js';
import { preempt_point } from './entry.js';
import { KdeferError, registry_resolve, NAME_KIND_OBJECT, fn_id, fn_by_id, fn_name, name_of, registerFunction, intern } from './module.js';
import {
  printk,
  pr_err,
  pr_warn,
  KERN_ERR,
  KERN_WARNING,
  WARN_ONCE,
  WARN_ON_ONCE,
  KernelHalt,
  BUG,
  call_trace,
  dump_context,
} from './printk.js';
import {
  preempt_count,
  preempt_count_set,
  irqs_disabled,
  __irq_flag_set,
  in_task,
  in_serving_softirq,
  in_interrupt,
  local_bh_disable,
  local_bh_enable,
} from './preempt.js';
import {
  type TaskStruct,
  current,
  create_task,
  wake_up_process,
  wakeUpPid,
  set_current_state,
  schedule,
  schedule_timeout,
  cond_resched,
  might_sleep,
  commOfPid,
  current_comm,
  current_pid,
  sched_set_wq_worker_hooks,
  TASK_IDLE,
  TASK_INTERRUPTIBLE,
  TASK_RUNNING,
  PF_KTHREAD,
  PF_WQ_WORKER,
} from './sched.js';
import { __raise_softirq_irqoff, wakeup_softirqd, TASKLET_SOFTIRQ, HI_SOFTIRQ } from './softirq.js';
import {
  type TimerList,
  timer_slot_alloc,
  timer_slot_release,
  timer_by_id,
  timer_setup,
  add_timer,
  add_timer_on,
  timer_delete,
  timer_delete_sync,
  TIMER_IRQSAFE,
} from './timer.js';
import { report_handler_oops } from './oops.js';
import { SlotTable } from './slot.js';
import { registerUpcalls } from './upcall.js';
import { slab_obj, type SlabObject, type StructFields, registerFieldKind, embeddedStale, embeddedOwnerAlive } from './slab.js';

declare module './slab.js' {
  interface EmbeddedFieldTypes {
    /** a struct work_struct field (workqueue_init_cpu registers the kind) */
    work_struct: WorkStruct;
    /** a struct delayed_work field (workqueue_init_cpu registers the kind) */
    delayed_work: DelayedWork;
  }
  interface SlabObject<F extends StructFields = StructFields> {
    /** The work_struct embedded as `field` (INIT_WORK it before queueing it). */
    work(field: keyof F & string): WorkStruct;
    /** The delayed_work embedded as `field` (INIT_DELAYED_WORK it before queueing it). */
    dwork(field: keyof F & string): DelayedWork;
  }
}
import { lockdep_depth, lockdep_check_return, lockdep_map_of, lockdep_enabled, lock_map_acquire, lock_map_release } from './lockdep.js';
import {
  trace_event,
  tracing_on,
  TP_WORKQUEUE_QUEUE_WORK,
  TP_WORKQUEUE_EXECUTE_START,
  TP_WORKQUEUE_EXECUTE_END,
  TRACE_WORK_BH,
} from './trace.js';
import { spin_lockup_ms } from './spinlock.js';
import { get_jiffies_64, msecs_to_jiffies } from './tick.js';
import {
  raw_word_lock_irqsave,
  raw_word_unlock_irqrestore,
  wait_object_alloc_locked,
  wait_queue_by_id,
  wait_event,
  __wake_up_common,
  type WaitQueueHead,
} from './wait.js';
import { type Mutex, mutex_lock, mutex_unlock } from './mutex.js';
import { Mutex as MutexClass } from './mutex.js';

// ------------------------------------------------------------ flags and tunables

/** work->data bits (S-WQ-1). */
export const WORK_STRUCT_PENDING_BIT = 0;
export const WORK_STRUCT_INACTIVE_BIT = 1;
export const WORK_STRUCT_PWQ_BIT = 2;
export const WORK_STRUCT_LINKED_BIT = 3;
export const WORK_STRUCT_PENDING = 1 << WORK_STRUCT_PENDING_BIT;
export const WORK_STRUCT_INACTIVE = 1 << WORK_STRUCT_INACTIVE_BIT;
export const WORK_STRUCT_PWQ = 1 << WORK_STRUCT_PWQ_BIT;
export const WORK_STRUCT_LINKED = 1 << WORK_STRUCT_LINKED_BIT;
/** queue_work_on(WORK_CPU_UNBOUND, ...): the CPU the caller runs on (NR_CPUS in the kernel). */
export const WORK_CPU_UNBOUND = MAX_CPUS;
/** work_busy() bits. */
export const WORK_BUSY_PENDING = 1 << 0;
export const WORK_BUSY_RUNNING = 1 << 1;

/** alloc_workqueue() flags (S-WQ-12). */
export const WQ_BH = 1 << 0;
export const WQ_UNBOUND = 1 << 1;
export const WQ_FREEZABLE = 1 << 2;
export const WQ_MEM_RECLAIM = 1 << 3;
export const WQ_HIGHPRI = 1 << 4;
export const WQ_CPU_INTENSIVE = 1 << 5;
export const WQ_SYSFS = 1 << 6;
export const WQ_POWER_EFFICIENT = 1 << 7;
export const __WQ_DESTROYING = 1 << 15;
export const __WQ_DRAINING = 1 << 16;
export const __WQ_ORDERED = 1 << 17;
export const __WQ_LEGACY = 1 << 18;
const __WQ_BH_ALLOWS = WQ_BH | WQ_HIGHPRI;
/** kdefer: the workqueue slot was destroyed (WQS_STATE). */
const WQSF_DESTROYED = 1 << 30;

/** max_active: WQ_MAX_ACTIVE is the kernel's cap; 0 asks for WQ_DFL_ACTIVE. */
export const WQ_MAX_ACTIVE = 512;
export const WQ_UNBOUND_MAX_ACTIVE = WQ_MAX_ACTIVE;
export const WQ_DFL_ACTIVE = WQ_MAX_ACTIVE / 2;
/** A BH workqueue has no max_active limit (INT_MAX). */
const BH_MAX_ACTIVE = 0x7fffffff;

/** The highpri pools' nice level (MIN_NICE). */
export const HIGHPRI_NICE_LEVEL = -20;
/**
 * IDLE_WORKER_TIMEOUT: an idle worker is culled after 300 s when the pool
 * has too many (boot option wqIdleTimeoutMs shortens it, for tests).
 */
export const IDLE_WORKER_TIMEOUT_MS = 300_000;
/** MAX_IDLE_WORKERS_RATIO: keep 2 idle workers, plus 1 per 4 busy ones. */
export const MAX_IDLE_WORKERS_RATIO = 4;
/**
 * WORKER_IDLE_POLL_US (kdefer): a bound kworker that runs out of work polls
 * its worklist this long before going idle, still counted in nr_running (so
 * a producer on another CPU queues without waking anyone). Waking a parked
 * kdefer CPU costs ~50 µs of futex where a real CPU leaves idle in ~1 µs;
 * the poll gives a stream of items the kernel's cost, and ends at once when
 * another task of the CPU wants to run.
 */
export const WORKER_IDLE_POLL_US = 30;
/** CREATE_COOLDOWN: a manager that failed to create a worker retries after 1 s. */
export const CREATE_COOLDOWN_MS = 1000;
/**
 * BH_WORKER_JIFFIES / BH_WORKER_RESTARTS: one softirq invocation runs BH work
 * for at most 2 ms or 10 items, then kicks the softirq again (the same
 * bounds as MAX_SOFTIRQ_TIME / MAX_SOFTIRQ_RESTART, for the same reason).
 */
export const BH_WORKER_MS = 2;
export const BH_WORKER_RESTARTS = 10;

/** worker->flags. WORKER_NOT_RUNNING ones keep a worker out of nr_running. */
export const WORKER_DIE = 1 << 1;
export const WORKER_IDLE = 1 << 2;
export const WORKER_PREP = 1 << 3;
export const WORKER_CPU_INTENSIVE = 1 << 6;
export const WORKER_UNBOUND = 1 << 7;
export const WORKER_REBOUND = 1 << 8;
export const WORKER_NOT_RUNNING = WORKER_PREP | WORKER_CPU_INTENSIVE | WORKER_UNBOUND | WORKER_REBOUND;
/** pool->flags. */
export const POOL_BH = 1 << 0;
export const POOL_MANAGER_ACTIVE = 1 << 1;

// kdefer: work slot flags (WK_FLAGS: 0 while the slot is free, slot.ts) and worker slot states (WR_STATE)
const WKF_ALLOCATED = 1 << 0;
const WKF_DELAYED = 1 << 1;
const WRS_FREE = 0;
const WRS_WORKER = 1;
const WRS_RESCUER = 2;
const WRS_BH = 3;

// ------------------------------------------------------------ types

/** A work function: runs in process context on a kworker (synchronously in softirq for BH workqueues). */
export type work_func_t = (work: WorkStruct) => unknown;

/** A work_struct: a slot of the shared work table, declared by name or embedded in a slab object. */
export class WorkStruct {
  /** word index of the slot */
  readonly w: number;
  /** the name of its lockdep map, "(work_completion)(name)" (S-WQ-20) */
  readonly mapName: string;
  constructor(
    readonly id: number,
    readonly name: string,
    /** the slab object that embeds it (handle), 0 for a work declared by name */
    readonly owner = 0,
  ) {
    this.w = mem.work(id);
    this.mapName = `(work_completion)(${name})`;
  }
}
export type work_struct = WorkStruct;

/** A delayed_work: a work_struct plus the TIMER_IRQSAFE timer that queues it. */
export class DelayedWork {
  constructor(
    readonly work: WorkStruct,
    readonly timer: TimerList,
  ) {}
  get id(): number {
    return this.work.id;
  }
  get name(): string {
    return this.work.name;
  }
}
export type delayed_work = DelayedWork;

/** A workqueue_struct: a slot of the shared workqueue table. */
export class WorkqueueStruct {
  readonly w: number;
  /** the name of its lockdep map, "(wq_completion)name" (S-WQ-20) */
  readonly mapName: string;
  constructor(
    readonly id: number,
    readonly name: string,
    /** the generation this handle was allocated in (destroy_workqueue ends it) */
    readonly gen: number,
  ) {
    this.w = mem.wq(id);
    this.mapName = `(wq_completion)${name}`;
  }
}
export type workqueue_struct = WorkqueueStruct;

/** A kworker of this CPU (its shared state is the worker slot `id`). */
interface LocalWorker {
  id: number;
  /** the item being executed (reused: no allocation per item) */
  ex: Exec;
  /** items since it last offered the CPU */
  sinceResched: number;
  /** the pool it serves (a rescuer: the pool it is attached to now, -1 none) */
  pool: number;
  task: TaskStruct | null;
  /** the work it executes now (current_work()) */
  current: WorkStruct | null;
  /** a rescuer's workqueue, -1 for a kworker */
  rescueWq: number;
}

// ------------------------------------------------------------ state accessors

// Hot-path copies, set by workqueue_init_cpu: the machine's words and the
// tables' bases and strides. Reached through smp.ts's live bindings and
// mem's methods, each field access costs several loads; a stream of remote
// queue_work_on touches ~50 fields per item (bench/results/workqueue.json).
let i32: Int32Array = new Int32Array(0);
let maxWorks = 0;
/** Boot option trace: whether the workqueue tracepoints record (a local test costs less than calling the no-op). */
let tracing = false;
let WB = 0;
let PB = 0;
let QB = 0;
let RB = 0;
const WS_: number = WORK_STRIDE;
const PS_: number = POOL_STRIDE;
const QS_: number = PWQ_STRIDE;
const RS_: number = WORKER_STRIDE;
const W = (id: number, f: number): number => WB + id * WS_ + f;
const P = (id: number, f: number): number => PB + id * PS_ + f;
const Q = (id: number, f: number): number => QB + id * QS_ + f;
const R = (id: number, f: number): number => RB + id * RS_ + f;
const WQ = (id: number, f: number): number => mem.wq(id, f);

/** Pool id of CPU `cpu`'s pool: BH or not, highpri or not (the kernel's id order). */
export const cpu_pool_id = (cpu: number, highpri: boolean, bh: boolean): number =>
  cpu * WQ_POOLS_PER_CPU + (bh ? 0 : 2) + (highpri ? 1 : 0);
const unbound_pool_id = (highpri: boolean): number => nrCpus * WQ_POOLS_PER_CPU + (highpri ? 1 : 0);
const pool_is_bh = (pool: number): boolean => (i32[P(pool, PL_FLAGS)]! & POOL_BH) !== 0;
const pool_cpu = (pool: number): number => i32[P(pool, PL_CPU)]!;
const pwq_wq = (pwq: number): number => i32[Q(pwq, PWQ_WQ)]!;

// Per-thread caches of the handle objects (identity: current_work() === w).
const workObjs: (WorkStruct | undefined)[] = [];
const dworkObjs: (DelayedWork | undefined)[] = [];
const wqObjs: (WorkqueueStruct | undefined)[] = [];
const localWorkers = new Map<number, LocalWorker>();
let bhWorker: number[] = []; // this CPU's BH pseudo-workers: [normal, highpri]
let bhCurrent: WorkStruct | null = null;
let bhCurrentPwq = -1;
let bhKickWorks: WorkStruct[] = [];
let idleTimeoutJiffies = 0;
const workWaitqs: (WaitQueueHead | undefined)[] = [];

function strip(prefixed: string): string {
  const k = prefixed.indexOf(':');
  return k >= 0 ? prefixed.slice(k + 1) : prefixed;
}

/** The WorkStruct of slot `id` on this CPU. */
export function work_by_id(id: number): WorkStruct {
  if (!(id >= 0 && id < maxWorks)) throw new KdeferError(`work: ${id} is not a work_struct (maxWorks=${maxWorks})`);
  let w = workObjs[id];
  // A slot of an embedded work is reused by the next object.
  const owner = i32[W(id, WK_OWNER)]!;
  if (!w || w.owner !== owner) {
    w = new WorkStruct(id, strip(name_of(mem, i32[W(id, WK_NAME)]!)) || `work#${id}`, owner);
    workObjs[id] = w;
  }
  return w;
}

/** Whether work slot `id` is the work embedded in slab object `owner` (slab.ts). */
export function work_owned_by(id: number, owner: number): boolean {
  return id >= 0 && id < maxWorks && i32[W(id, WK_OWNER)] === owner;
}

function wq_by_id(id: number): WorkqueueStruct {
  const gen = Atomics.load(i32, WQ(id, WQS_GEN));
  let q = wqObjs[id];
  if (!q || q.gen !== gen) {
    q = new WorkqueueStruct(id, strip(name_of(mem, i32[WQ(id, WQS_NAME)]!)), gen);
    wqObjs[id] = q;
  }
  return q;
}

/** The hashed wait queue flush_work/cancel_work_sync sleep on for work `id`. */
function work_waitq(id: number): WaitQueueHead {
  const k = id % WAITOBJ_RESERVED;
  let q = workWaitqs[k];
  if (!q) {
    q = wait_queue_by_id(k, `work_wait#${k}`);
    workWaitqs[k] = q;
  }
  return q;
}

function wake_waitobj_all(id: number): void {
  const q = mem.waitObj(id);
  if (Atomics.load(i32, q + WO_NR) === 0) return;
  const f = raw_word_lock_irqsave(q + WO_LOCK, 'wait queue');
  __wake_up_common(q, 0);
  raw_word_unlock_irqrestore(q + WO_LOCK, f);
}

/** Record that every insertion up to `seq` of work `id` is finished; wake its flushers. */
function work_set_done(id: number, seq: number): void {
  Atomics.store(i32, W(id, WK_DONESEQ), seq);
  wake_waitobj_all(id % WAITOBJ_RESERVED);
}

const work_running = (id: number): boolean => Atomics.load(i32, W(id, WK_RUNSEQ)) > Atomics.load(i32, W(id, WK_DONESEQ));

// ------------------------------------------------------------ the pool lock and lists

/**
 * Take `pool`'s lock (interrupts off) and move what was queued on it without
 * the lock onto its lists: whoever holds the lock sees every item queued
 * before it took it.
 */
function pool_lock(pool: number): number {
  const f = raw_word_lock_irqsave(P(pool, PL_LOCK), 'worker_pool->lock');
  if (Atomics.load(i32, P(pool, PL_INBOUND)) !== 0) pool_drain_inbound(pool);
  return f;
}
/**
 * Take `pool`'s lock, leaving its inbound list alone: for the kworker
 * between two items, which enters the inbound items once its worklist is
 * empty (worklist_first), so that a stream of remote queueing is entered in
 * batches and not item by item.
 */
function pool_relock(pool: number): number {
  return raw_word_lock_irqsave(P(pool, PL_LOCK), 'worker_pool->lock');
}
function pool_unlock(pool: number, flags: number): void {
  raw_word_unlock_irqrestore(P(pool, PL_LOCK), flags);
  if (nrDeferredWakes !== 0) flush_deferred_wakes();
}

// Wake-ups decided under a pool lock are sent once it is dropped: a remote
// one goes through the target's wake ring, which may have to wait for room,
// and nobody must wait for that while holding the pool's lock.
const deferredWakes: number[] = [];
let nrDeferredWakes = 0;
function defer_wake(pid: number, cpu: number): void {
  deferredWakes[nrDeferredWakes++] = pid;
  deferredWakes[nrDeferredWakes++] = cpu;
}
function flush_deferred_wakes(): void {
  while (nrDeferredWakes !== 0) {
    const cpu = deferredWakes[--nrDeferredWakes]!;
    const pid = deferredWakes[--nrDeferredWakes]!;
    wakeUpPid(pid, cpu);
  }
}

/** Append work `id` to the list whose head is at word `h` (tail at h + 1). */
function work_list_add_tail(h: number, id: number): void {
  const tail = i32[h + 1]!;
  i32[W(id, WK_NEXT)] = 0;
  i32[W(id, WK_PREV)] = tail;
  if (tail === 0) i32[h] = id + 1;
  else i32[W(tail - 1, WK_NEXT)] = id + 1;
  i32[h + 1] = id + 1;
  i32[W(id, WK_LIST)] = h;
}

/** Unlink work `id` from the list it is on (list_del_init). */
function work_list_del(id: number): void {
  const h = i32[W(id, WK_LIST)]!;
  if (h === 0) return;
  const next = i32[W(id, WK_NEXT)]!;
  const prev = i32[W(id, WK_PREV)]!;
  if (prev === 0) i32[h] = next;
  else i32[W(prev - 1, WK_NEXT)] = next;
  if (next === 0) i32[h + 1] = prev;
  else i32[W(next - 1, WK_PREV)] = prev;
  i32[W(id, WK_NEXT)] = 0;
  i32[W(id, WK_PREV)] = 0;
  i32[W(id, WK_LIST)] = 0;
}

/**
 * pool_drain_inbound - take the pool's inbound list whole and enter its items
 * in the order they were pushed, as __queue_work would have under the lock.
 *
 * The inbound list is kdefer's, not the kernel's: a remote queue_work_on on a
 * per-CPU pool pushes the work there with one compare-and-swap instead of
 * contending for the pool lock the pool's kworker takes for every item. Only
 * pushes and whole-list exchanges touch it, so it has no ABA problem.
 * Context: pool lock held.
 */
function pool_drain_inbound(pool: number): void {
  let w = Atomics.exchange(i32, P(pool, PL_INBOUND), 0) - 1;
  // newest first: reverse into queueing order
  let fifo = -1;
  while (w >= 0) {
    const next = i32[W(w, WK_INEXT)]! - 1;
    i32[W(w, WK_INEXT)] = fifo + 1;
    fifo = w;
    w = next;
  }
  while (fifo >= 0) {
    const next = i32[W(fifo, WK_INEXT)]! - 1;
    i32[W(fifo, WK_INEXT)] = 0;
    enqueue_locked(fifo, i32[W(fifo, WK_PWQ)]! - 1, pool);
    fifo = next;
  }
}

function idle_list_add(pool: number, wk: number): void {
  const h = P(pool, PL_IDLE_LIST);
  const first = i32[h]!;
  i32[R(wk, WR_PREV)] = 0;
  i32[R(wk, WR_NEXT)] = first;
  if (first === 0) i32[h + 1] = wk + 1;
  else i32[R(first - 1, WR_PREV)] = wk + 1;
  i32[h] = wk + 1;
}
function idle_list_del(pool: number, wk: number): void {
  const h = P(pool, PL_IDLE_LIST);
  const next = i32[R(wk, WR_NEXT)]!;
  const prev = i32[R(wk, WR_PREV)]!;
  if (prev === 0) i32[h] = next;
  else i32[R(prev - 1, WR_NEXT)] = next;
  if (next === 0) i32[h + 1] = prev;
  else i32[R(next - 1, WR_PREV)] = prev;
  i32[R(wk, WR_NEXT)] = 0;
  i32[R(wk, WR_PREV)] = 0;
}
function busy_add(pool: number, wk: number): void {
  const h = P(pool, PL_BUSY_LIST);
  const tail = i32[h + 1]!;
  i32[R(wk, WR_BNEXT)] = 0;
  i32[R(wk, WR_BPREV)] = tail;
  if (tail === 0) i32[h] = wk + 1;
  else i32[R(tail - 1, WR_BNEXT)] = wk + 1;
  i32[h + 1] = wk + 1;
}
function busy_del(pool: number, wk: number): void {
  const h = P(pool, PL_BUSY_LIST);
  const next = i32[R(wk, WR_BNEXT)]!;
  const prev = i32[R(wk, WR_BPREV)]!;
  if (prev === 0) i32[h] = next;
  else i32[R(prev - 1, WR_BNEXT)] = next;
  if (next === 0) i32[h + 1] = prev;
  else i32[R(next - 1, WR_BPREV)] = prev;
  i32[R(wk, WR_BNEXT)] = 0;
  i32[R(wk, WR_BPREV)] = 0;
}

// ------------------------------------------------------------ pool predicates (pool lock held)

/** The first item of the worklist, -1 if none; an empty worklist takes in the inbound list first. */
function worklist_first(pool: number): number {
  const h = P(pool, PL_WORKLIST);
  if (i32[h] === 0 && Atomics.load(i32, P(pool, PL_INBOUND)) !== 0) pool_drain_inbound(pool);
  return i32[h]! - 1;
}
const nr_running = (pool: number): number => Atomics.load(i32, P(pool, PL_NR_RUNNING));
/** need_more_worker: work to do and nobody running it. */
const need_more_worker = (pool: number): boolean => worklist_first(pool) >= 0 && nr_running(pool) === 0;
/** may_start_working: an idle worker is left to take over if this one sleeps. */
const may_start_working = (pool: number): boolean => i32[P(pool, PL_NR_IDLE)]! > 0;
/** keep_working: more work, and at most this worker running. */
const keep_working = (pool: number): boolean => worklist_first(pool) >= 0 && nr_running(pool) <= 1;
const need_to_create_worker = (pool: number): boolean => need_more_worker(pool) && !may_start_working(pool);

/** too_many_workers: more than 2 idle, and more than a quarter of the busy ones. */
function too_many_workers(pool: number): boolean {
  const managing = i32[P(pool, PL_FLAGS)]! & POOL_MANAGER_ACTIVE ? 1 : 0;
  const nr_idle = i32[P(pool, PL_NR_IDLE)]! + managing;
  const nr_busy = i32[P(pool, PL_NR_WORKERS)]! - nr_idle;
  return nr_idle > 2 && (nr_idle - 2) * MAX_IDLE_WORKERS_RATIO >= nr_busy;
}

/** worker_set_flags: leaving the running set drops nr_running. */
function worker_set_flags(wk: number, pool: number, flags: number): void {
  const old = i32[R(wk, WR_FLAGS)]!;
  if (flags & WORKER_NOT_RUNNING && !(old & WORKER_NOT_RUNNING)) Atomics.sub(i32, P(pool, PL_NR_RUNNING), 1);
  i32[R(wk, WR_FLAGS)] = old | flags;
}
/** worker_clr_flags: entering the running set (no NOT_RUNNING flag left) raises nr_running. */
function worker_clr_flags(wk: number, pool: number, flags: number): void {
  const old = i32[R(wk, WR_FLAGS)]!;
  const now = old & ~flags;
  i32[R(wk, WR_FLAGS)] = now;
  if (flags & WORKER_NOT_RUNNING && old & WORKER_NOT_RUNNING && !(now & WORKER_NOT_RUNNING)) Atomics.add(i32, P(pool, PL_NR_RUNNING), 1);
}

function worker_enter_idle(wk: number, pool: number): void {
  if (i32[R(wk, WR_FLAGS)]! & WORKER_IDLE) return;
  i32[R(wk, WR_FLAGS)]! |= WORKER_IDLE;
  i32[P(pool, PL_NR_IDLE)]!++;
  idle_list_add(pool, wk);
}
function worker_leave_idle(wk: number, pool: number): void {
  i32[R(wk, WR_WAKING)] = 0;
  if (!(i32[R(wk, WR_FLAGS)]! & WORKER_IDLE)) return;
  i32[R(wk, WR_FLAGS)]! &= ~WORKER_IDLE;
  i32[P(pool, PL_NR_IDLE)]!--;
  idle_list_del(pool, wk);
}

/** find_worker_executing_work: the worker of `pool` running `work` with its current function. */
function find_worker_executing_work(pool: number, work: number): number {
  const fid = i32[W(work, WK_FUNC)]!;
  for (let wk = i32[P(pool, PL_BUSY_LIST)]!; wk !== 0; wk = i32[R(wk - 1, WR_BNEXT)]!) {
    if (i32[R(wk - 1, WR_CURRENT_WORK)] === work + 1 && i32[R(wk - 1, WR_CURRENT_FUNC)] === fid) return wk - 1;
  }
  return -1;
}

/** An idle worker to wake: on an unbound pool, one whose CPU is idle, else one on this CPU. */
function pick_idle_worker(pool: number): number {
  const first = i32[P(pool, PL_IDLE_LIST)]! - 1;
  if (first < 0 || pool_cpu(pool) >= 0) return first;
  let local = -1;
  for (let wk = first + 1; wk !== 0; wk = i32[R(wk - 1, WR_NEXT)]!) {
    const c = i32[R(wk - 1, WR_CPU)]!;
    if (Atomics.load(i32, mem.cpu(c, PC_IDLE)) === 1) return wk - 1;
    if (c === cpuId && local < 0) local = wk - 1;
  }
  return local >= 0 ? local : first;
}

/**
 * kick_pool - wake an idle worker if the pool needs one (a BH pool: raise
 * its softirq on its CPU).
 * @returns true if somebody was kicked.
 * Context: pool lock held.
 */
function kick_pool(pool: number): boolean {
  // need_more_worker looks at the inbound list too: what was pushed before
  // the caller stopped counting as running is seen here.
  if (!need_more_worker(pool)) return false;
  if (pool_is_bh(pool)) {
    kick_bh_pool(pool);
    return true;
  }
  const wk = pick_idle_worker(pool);
  // None idle: a worker is managing (creating one, or summoning rescuers) —
  // a worker never starts an item without an idle one left (manage_workers
  // in worker_thread), so nobody is left unwoken.
  if (wk < 0) return false;
  // Idempotent, as try_to_wake_up is: one wake-up in flight per worker.
  if (i32[R(wk, WR_WAKING)] === 0) {
    i32[R(wk, WR_WAKING)] = 1;
    defer_wake(i32[R(wk, WR_PID)]!, i32[R(wk, WR_CPU)]!);
  }
  return true;
}

function kick_bh_pool(pool: number): void {
  const cpu = pool_cpu(pool);
  const vec = (pool & 1) === 1 ? HI_SOFTIRQ : TASKLET_SOFTIRQ;
  if (cpu === cpuId) {
    // Interrupts are off (pool lock): raise_softirq_irqoff.
    __raise_softirq_irqoff(vec);
    if (!in_interrupt()) wakeup_softirqd();
    return;
  }
  // Another CPU's BH pool: that CPU must raise its own softirq. A kick
  // already pending there will see the flag (its function clears it first).
  Atomics.store(i32, P(pool, PL_BH_KICK), 1);
  const kw = bhKickWorks[cpu];
  if (kw && system_highpri_wq) queue_work_on(cpu, system_highpri_wq, kw);
}

// ------------------------------------------------------------ concurrency management (sched.ts hooks)

/**
 * wq_worker_sleeping - a kworker is about to sleep: it no longer counts as
 * running; if it was the last one and work is waiting, wake an idle worker.
 * Context: schedule(), on the worker's CPU.
 */
function wq_worker_sleeping(t: TaskStruct): void {
  const lw = t.private_data as LocalWorker | null;
  if (!lw || lw.pool < 0) return;
  const wk = lw.id;
  if (i32[R(wk, WR_FLAGS)]! & WORKER_NOT_RUNNING) return;
  if (i32[R(wk, WR_SLEEPING)] === 1) return;
  Atomics.store(i32, R(wk, WR_SLEEPING), 1);
  const pool = lw.pool;
  const f = pool_lock(pool);
  if (!(i32[R(wk, WR_FLAGS)]! & WORKER_NOT_RUNNING)) {
    Atomics.sub(i32, P(pool, PL_NR_RUNNING), 1);
    if (kick_pool(pool)) Atomics.add(i32, P(pool, PL_NR_CM_WAKEUPS), 1);
  }
  pool_unlock(pool, f);
}

/**
 * wq_worker_running - a kworker that slept runs again: it counts again.
 * Context: the scheduler, on the worker's CPU.
 */
function wq_worker_running(t: TaskStruct): void {
  const lw = t.private_data as LocalWorker | null;
  if (!lw) return;
  const wk = lw.id;
  if (i32[R(wk, WR_SLEEPING)] !== 1) return;
  if (lw.pool >= 0 && !(i32[R(wk, WR_FLAGS)]! & WORKER_NOT_RUNNING)) Atomics.add(i32, P(lw.pool, PL_NR_RUNNING), 1);
  Atomics.store(i32, R(wk, WR_SLEEPING), 0);
}

// ------------------------------------------------------------ queueing

/**
 * Enter `work` (whose PENDING the caller owns) into `pwq` of `pool`: count
 * it in flight under the pwq's flush colour, then onto the worklist, or the
 * pwq's inactive list if max_active items are active. Does not kick.
 * Context: pool lock held.
 */
function enqueue_locked(work: number, pwq: number, pool: number): void {
  const color = i32[Q(pwq, PWQ_WORK_COLOR)]!;
  i32[W(work, WK_COLOR)] = color;
  // A plain increment: flushers read the count after passing the pool lock.
  i32[Q(pwq, PWQ_NR_IN_FLIGHT + color)]!++;
  if (i32[Q(pwq, PWQ_INACTIVE)] === 0 && i32[Q(pwq, PWQ_NR_ACTIVE)]! < i32[Q(pwq, PWQ_MAX_ACTIVE)]!) {
    pwq_note_active(pwq);
    insert_work(work, pwq, pool, P(pool, PL_WORKLIST), 0);
  } else {
    insert_work(work, pwq, pool, Q(pwq, PWQ_INACTIVE), WORK_STRUCT_INACTIVE);
  }
}

/** Insert `work` on list `h` of `pwq` (pool lock held); `extra`: WORK_STRUCT_INACTIVE or 0. */
function insert_work(work: number, pwq: number, pool: number, h: number, extra: number): void {
  i32[W(work, WK_PWQ)] = pwq + 1;
  i32[W(work, WK_POOL)] = pool + 1;
  Atomics.or(i32, W(work, WK_DATA), WORK_STRUCT_PWQ | extra);
  work_list_add_tail(h, work);
}

function pwq_note_active(pwq: number): void {
  const n = ++i32[Q(pwq, PWQ_NR_ACTIVE)]!;
  if (n > i32[Q(pwq, PWQ_STAT_MAX_ACTIVE)]!) i32[Q(pwq, PWQ_STAT_MAX_ACTIVE)] = n;
}

/**
 * pwq_dec_nr_in_flight - an item of `pwq` left the queue (finished, or
 * cancelled): drop nr_active and activate the first inactive item, and
 * complete a flush colour.
 * Context: pool lock held.
 */
function pwq_dec_nr_in_flight(pwq: number, pool: number, color: number, wasInactive: boolean): void {
  if (!wasInactive) {
    i32[Q(pwq, PWQ_NR_ACTIVE)]!--;
    const first = i32[Q(pwq, PWQ_INACTIVE)]! - 1;
    if (first >= 0 && i32[Q(pwq, PWQ_NR_ACTIVE)]! < i32[Q(pwq, PWQ_MAX_ACTIVE)]!) {
      work_list_del(first);
      Atomics.and(i32, W(first, WK_DATA), ~WORK_STRUCT_INACTIVE);
      pwq_note_active(pwq);
      work_list_add_tail(P(pool, PL_WORKLIST), first);
      kick_pool(pool);
    }
  }
  const inf = Q(pwq, PWQ_NR_IN_FLIGHT + color);
  const n = i32[inf]! - 1;
  if (n !== 0) {
    i32[inf] = n;
    return;
  }
  // The last one: publish before looking for flushers (who queue themselves,
  // then read the count).
  Atomics.store(i32, inf, 0);
  wake_waitobj_all(i32[WQ(pwq_wq(pwq), WQS_FLUSH_WAITQ)]!);
}

/** is_chained_work: the caller is a work item of `wq` (allowed to queue on it while it drains). */
function is_chained_work(wq: number): boolean {
  const pwq = current_pwq();
  return pwq >= 0 && pwq_wq(pwq) === wq;
}

/** The pwq of the work item the caller runs in (kworker or BH), -1 none. */
function current_pwq(): number {
  if (in_serving_softirq()) return bhCurrentPwq;
  const t = current;
  if (t === null || !(t.flags & PF_WQ_WORKER) || !in_task()) return -1;
  const lw = t.private_data as LocalWorker | null;
  return lw ? i32[R(lw.id, WR_CURRENT_PWQ)]! - 1 : -1;
}

function report_wq_uaf(wq: WorkqueueStruct, work: number, who: string): void {
  printk(KERN_ERR + '==================================================================');
  printk(KERN_ERR + `BUG: KASAN: slab-use-after-free in ${who}`);
  printk(KERN_ERR + `Read of size 4 at workqueue '${wq.name}' by task ${current_comm()}/${current_pid()}`);
  printk(
    KERN_ERR +
      `workqueue '${wq.name}' was freed by destroy_workqueue(); queueing work ${work_by_id(work).name} (${fn_name(i32[W(work, WK_FUNC)]!)}) on it`,
  );
  printk(KERN_ERR + dump_context());
  printk(KERN_ERR + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_ERR + l);
  printk(KERN_ERR + '==================================================================');
}

/**
 * __queue_work - put `work` (whose PENDING the caller owns) on `wq`'s pool
 * for `cpu`, or on the pool where it still runs (non-reentrancy, S-WQ-5).
 * Context: interrupts disabled.
 */
function __queue_work(reqCpu: number, wq: WorkqueueStruct, work: number): boolean {
  const wqId = wq.id;
  const st = Atomics.load(i32, WQ(wqId, WQS_STATE));
  if (st & WQSF_DESTROYED || Atomics.load(i32, WQ(wqId, WQS_GEN)) !== wq.gen) {
    report_wq_uaf(wq, work, '__queue_work');
    Atomics.and(i32, W(work, WK_DATA), ~WORK_STRUCT_PENDING);
    return false;
  }
  if (st & (__WQ_DESTROYING | __WQ_DRAINING) && !is_chained_work(wqId)) {
    WARN_ONCE(true, `workqueue: cannot queue ${fn_name(i32[W(work, WK_FUNC)]!)} on wq ${wq.name}`);
    Atomics.and(i32, W(work, WK_DATA), ~WORK_STRUCT_PENDING);
    return false;
  }
  const flags = i32[WQ(wqId, WQS_FLAGS)]!;
  let cpu = reqCpu === WORK_CPU_UNBOUND ? cpuId : reqCpu;
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= nrCpus) {
    Atomics.and(i32, W(work, WK_DATA), ~WORK_STRUCT_PENDING);
    throw new KdeferError(
      `queue_work_on(${reqCpu}, ${wq.name}, ${work_by_id(work).name}): CPU ${reqCpu} does not exist (CPUs 0-${nrCpus - 1}, or WORK_CPU_UNBOUND)`,
    );
  }
  if (flags & WQ_UNBOUND) cpu = 0;
  let pwq = wqId * nrCpus + cpu;
  let pool = pool_for(flags, cpu); // = the pwq's pool, without reading its line
  let f: number;
  // Non-reentrancy: still running on another pool of this wq? Queue it there.
  const last = Atomics.load(i32, W(work, WK_POOL)) - 1;
  if (!(flags & (WQ_UNBOUND | WQ_BH)) && (last < 0 || last === pool)) {
    // A per-CPU pool, and the work cannot be running elsewhere: push it on
    // the pool's inbound list; the pool's lock holder enters it.
    i32[W(work, WK_PWQ)] = pwq + 1;
    i32[W(work, WK_POOL)] = pool + 1;
    Atomics.add(i32, W(work, WK_QSEQ), 1);
    if (tracing) trace_event(TP_WORKQUEUE_QUEUE_WORK, cpu, i32[W(work, WK_NAME)]!);
    const h = P(pool, PL_INBOUND);
    for (;;) {
      const head = Atomics.load(i32, h);
      i32[W(work, WK_INEXT)] = head;
      if (Atomics.compareExchange(i32, h, head, work + 1) === head) break;
    }
    // Nobody running on the pool: wake a worker. A worker that stops running
    // drops nr_running before it looks at the inbound list (kick_pool,
    // worker_thread), so one of the two sides always sees the other.
    if (Atomics.load(i32, P(pool, PL_NR_RUNNING)) === 0) {
      f = pool_lock(pool);
      kick_pool(pool);
      pool_unlock(pool, f);
    }
    return true;
  }
  if (last >= 0 && last !== pool && !(flags & __WQ_ORDERED)) {
    f = pool_lock(last);
    const wk = find_worker_executing_work(last, work);
    const cur = wk >= 0 ? i32[R(wk, WR_CURRENT_PWQ)]! - 1 : -1;
    if (cur >= 0 && pwq_wq(cur) === wqId) {
      pwq = cur;
      pool = last;
    } else {
      pool_unlock(last, f);
      f = pool_lock(pool);
    }
  } else {
    f = pool_lock(pool);
  }
  Atomics.add(i32, W(work, WK_QSEQ), 1);
  if (tracing) trace_event(TP_WORKQUEUE_QUEUE_WORK, pool_cpu(pool) >= 0 ? pool_cpu(pool) : cpu, i32[W(work, WK_NAME)]!);
  enqueue_locked(work, pwq, pool);
  kick_pool(pool);
  pool_unlock(pool, f);
  return true;
}

/** clear_pending_if_disabled: a disabled work refuses to be queued (6.10+). */
function clear_pending_if_disabled(work: number): boolean {
  if (Atomics.load(i32, W(work, WK_DISABLE)) === 0) return false;
  Atomics.and(i32, W(work, WK_DATA), ~WORK_STRUCT_PENDING);
  return true;
}

function check_work(work: WorkStruct, who: string): number {
  if (!(work instanceof WorkStruct)) {
    throw new KdeferError(
      `${who}: not a work_struct${(work as unknown) instanceof DelayedWork ? ' (a delayed_work: pass dwork.work, or use the _delayed_ variant)' : ''}`,
    );
  }
  return work.id;
}

function check_wq(wq: WorkqueueStruct | null, who: string): void {
  if (!(wq instanceof WorkqueueStruct)) throw new KdeferError(`${who}: not a workqueue (alloc_workqueue returned ${String(wq)}?)`);
}

/**
 * queue_work_on - queue `work` on `wq`, on CPU `cpu`'s pool.
 * @param cpu the CPU (WORK_CPU_UNBOUND: the calling one); the pool of an
 *            unbound workqueue is the same for every CPU
 * @returns false if `work` was already pending (then nothing changes: it
 *          still runs once) or is disabled, true if it was queued.
 * Context: any, hardirq included. A work item that is running is queued
 * again and runs once more after the current execution, on the same pool.
 */
export function queue_work_on(cpu: number, wq: WorkqueueStruct, work: WorkStruct): boolean {
  preempt_point();
  const id = check_work(work, 'queue_work_on');
  check_wq(wq, 'queue_work_on');
  if (!work_queueable(work, 'queue_work_on', 'INIT_WORK')) return false;
  let ret = false;
  const flags = irqs_disabled();
  __irq_flag_set(true);
  try {
    if (!(Atomics.or(i32, W(id, WK_DATA), WORK_STRUCT_PENDING) & WORK_STRUCT_PENDING) && !clear_pending_if_disabled(id)) {
      ret = __queue_work(cpu, wq, id);
    }
  } finally {
    __irq_flag_set(flags);
  }
  return ret;
}

/**
 * queue_work - queue `work` on `wq` on the calling CPU (an unbound wq: any CPU).
 * @returns as queue_work_on. Context: any.
 */
export function queue_work(wq: WorkqueueStruct, work: WorkStruct): boolean {
  return queue_work_on(WORK_CPU_UNBOUND, wq, work);
}

/** schedule_work - queue_work(system_wq, work). Context: any. */
export function schedule_work(work: WorkStruct): boolean {
  return queue_work_on(WORK_CPU_UNBOUND, system_wq, work);
}

/** schedule_work_on - queue_work_on(cpu, system_wq, work). Context: any. */
export function schedule_work_on(cpu: number, work: WorkStruct): boolean {
  return queue_work_on(cpu, system_wq, work);
}

/** work_pending - whether `work` is pending (queued, or its delay timer armed). Context: any. */
export function work_pending(work: WorkStruct): boolean {
  return (Atomics.load(i32, W(work.id, WK_DATA)) & WORK_STRUCT_PENDING) !== 0;
}

/** delayed_work_pending - work_pending(&dwork->work). */
export function delayed_work_pending(dwork: DelayedWork): boolean {
  return work_pending(dwork.work);
}

/**
 * work_busy - WORK_BUSY_PENDING | WORK_BUSY_RUNNING, racy by nature.
 * Context: any.
 */
export function work_busy(work: WorkStruct): number {
  return (work_pending(work) ? WORK_BUSY_PENDING : 0) | (work_running(work.id) ? WORK_BUSY_RUNNING : 0);
}

// ------------------------------------------------------------ execution

interface Exec {
  work: number;
  pwq: number;
  color: number;
  fid: number;
}
const new_exec = (): Exec => ({ work: -1, pwq: -1, color: 0, fid: 0 });
const bhExec: Exec[] = [new_exec(), new_exec()];

/**
 * The first half of process_one_work: mark `wk` busy with `work`, take it
 * off its list and clear PENDING (S-WQ-2).
 * Context: pool lock held.
 */
function process_one_work_begin(wk: number, work: number, pool: number, ex: Exec): Exec {
  const pwq = i32[W(work, WK_PWQ)]! - 1;
  const wqId = pwq_wq(pwq);
  const fid = i32[W(work, WK_FUNC)]!;
  busy_add(pool, wk);
  i32[R(wk, WR_CURRENT_WORK)] = work + 1;
  i32[R(wk, WR_CURRENT_FUNC)] = fid;
  i32[R(wk, WR_CURRENT_PWQ)] = pwq + 1;
  i32[R(wk, WR_LAST_WQ)] = wqId + 1;
  work_list_del(work);
  if (i32[WQ(wqId, WQS_FLAGS)]! & WQ_CPU_INTENSIVE) worker_set_flags(wk, pool, WORKER_CPU_INTENSIVE);
  // Chains execution for NOT_RUNNING workers (unbound, CPU-intensive); a
  // no-op for a worker counted in nr_running, which is never 0 then.
  if (i32[R(wk, WR_FLAGS)]! & WORKER_NOT_RUNNING) kick_pool(pool);
  // RUNSEQ and PWQ are published by the Atomics.store of the data word below.
  i32[W(work, WK_RUNSEQ)] = Atomics.load(i32, W(work, WK_QSEQ));
  i32[W(work, WK_PWQ)] = 0;
  i32[W(work, WK_POOL)] = pool + 1;
  Atomics.store(i32, W(work, WK_DATA), 0); // set_work_pool_and_clear_pending
  i32[P(pool, PL_NR_STARTED)]!++;
  i32[Q(pwq, PWQ_STAT_STARTED)]!++;
  ex.work = work;
  ex.pwq = pwq;
  ex.color = i32[W(work, WK_COLOR)]!;
  ex.fid = fid;
  return ex;
}

/** The second half: the item is done. Context: pool lock held. */
function process_one_work_end(wk: number, ex: Exec, pool: number): void {
  worker_clr_flags(wk, pool, WORKER_CPU_INTENSIVE);
  i32[R(wk, WR_CURRENT_WORK)] = 0;
  i32[R(wk, WR_CURRENT_FUNC)] = 0;
  i32[R(wk, WR_CURRENT_PWQ)] = 0;
  busy_del(pool, wk);
  i32[R(wk, WR_ITEMS)]!++;
  i32[W(ex.work, WK_RUNS)]!++;
  i32[W(ex.work, WK_LAST_CPU)] = cpuId;
  i32[Q(ex.pwq, PWQ_STAT_COMPLETED)]!++;
  work_set_done(ex.work, Math.max(Atomics.load(i32, W(ex.work, WK_RUNSEQ)), Atomics.load(i32, W(ex.work, WK_DISCARD))));
  pwq_dec_nr_in_flight(ex.pwq, pool, ex.color, false);
}

/** S-WQ-21: a work function must return with the context it was called in. */
function check_leak(ex: Exec, count0: number, held: number): void {
  const count = preempt_count();
  const irqs = irqs_disabled();
  if (count !== count0 || (irqs && count0 === 0) || lockdep_depth() > held) {
    pr_err(`BUG: workqueue leaked atomic, lock or RCU: ${current_comm()}[${current_pid()}]`);
    pr_err(
      `     preempt=0x${(count >>> 0).toString(16).padStart(8, '0')} lock=${held}->${lockdep_depth()} RCU=0->0 workfn=${fn_name(ex.fid)}`,
    );
    printk(KERN_ERR + 'Call Trace:');
    for (const l of call_trace(undefined, 4)) printk(KERN_ERR + l);
    lockdep_check_return(held, `work function ${fn_name(ex.fid)}`);
    preempt_count_set(count0);
    if (count0 === 0) __irq_flag_set(false);
  }
}

function report_work_oops(e: unknown, ex: Exec): void {
  report_handler_oops(e, `work function ${fn_name(ex.fid)} (${work_by_id(ex.work).name})`);
}

/** How often a kworker running a stream of items offers the CPU even if nobody asked (host messages, awaitHost). */
const RESCHED_EVERY = 64;

/**
 * process_one_work - run one work item on kworker `lw`.
 * Context: pool lock held on entry and on return (dropped around the function).
 * Written so that a synchronous work function costs no promise: the caller
 * awaits only what this returns when it is not a number.
 */
function process_one_work(lw: LocalWorker, work: number, pool: number, f: number): number | Promise<number> {
  const ex = process_one_work_begin(lw.id, work, pool, lw.ex);
  pool_unlock(pool, f);
  const fn = fn_by_id(ex.fid) as work_func_t | undefined;
  const w = work_by_id(work);
  if (!embeddedOwnerAlive(w.owner, 'process_one_work')) return process_one_work_skip(lw, pool, ex);
  lw.current = w;
  const held = lockdep_depth();
  // The workqueue's lockdep map, then the work's, are held around the
  // function (S-WQ-20): flushing either while holding a lock the function
  // takes closes a cycle.
  let wqMap = -1;
  let map = -1;
  if (lockdep_enabled()) {
    // A full lock-class table: the item runs unvalidated (said once),
    // rather than its kworker dying half-way through it.
    try {
      wqMap = lockdep_map_of(wq_by_id(pwq_wq(ex.pwq)).mapName);
      map = lockdep_map_of(w.mapName);
    } catch (e) {
      if (!(e instanceof KdeferError)) throw e;
      WARN_ONCE(true, `workqueue: no lockdep map for ${w.name}: ${e.message}`);
      wqMap = map = -1;
    }
    if (map >= 0) {
      lock_map_acquire(wqMap);
      lock_map_acquire(map);
    }
  }
  if (tracing) trace_event(TP_WORKQUEUE_EXECUTE_START, work, i32[W(work, WK_NAME)]!);
  let r: unknown;
  try {
    if (!fn) throw new KdeferError(`work ${w.name}: function #${ex.fid} is not known on CPU ${cpuId}`);
    r = fn(w);
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_work_oops(e, ex);
  }
  if (r !== undefined && r !== null && typeof (r as Promise<unknown>).then === 'function')
    return process_one_work_async(lw, pool, ex, r as Promise<unknown>, held, wqMap, map);
  if (tracing) trace_event(TP_WORKQUEUE_EXECUTE_END, work, i32[W(work, WK_NAME)]!);
  if (map >= 0) {
    lock_map_release(map);
    lock_map_release(wqMap);
  }
  lw.current = null;
  check_leak(ex, 0, held);
  // The kernel's cond_resched() after every item: a stream of work must not
  // starve the CPU. It only switches when another task is runnable (or the
  // host calls), which is checked here without a promise per item.
  if (i32[PCB + PC_NR_RUNNING] !== 0 || Atomics.load(i32, PCB + PC_CONTROL_HOST) !== 0 || ++lw.sinceResched >= RESCHED_EVERY) {
    return process_one_work_tail(lw, pool, ex);
  }
  preempt_point();
  f = pool_relock(pool);
  process_one_work_end(lw.id, ex, pool);
  return f;
}

/** The work's object was freed while it was queued: reported, its function is not called. */
function process_one_work_skip(lw: LocalWorker, pool: number, ex: Exec): number {
  const f = pool_relock(pool);
  process_one_work_end(lw.id, ex, pool);
  return f;
}

/** process_one_work for a function that returned a promise (it may sleep). */
async function process_one_work_async(
  lw: LocalWorker,
  pool: number,
  ex: Exec,
  r: Promise<unknown>,
  held: number,
  wqMap: number,
  map: number,
): Promise<number> {
  try {
    await r;
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_work_oops(e, ex);
  } finally {
    if (tracing) trace_event(TP_WORKQUEUE_EXECUTE_END, ex.work, i32[W(ex.work, WK_NAME)]!);
    lw.current = null;
    if (map >= 0) {
      lock_map_release(map);
      lock_map_release(wqMap);
    }
  }
  check_leak(ex, 0, held);
  return process_one_work_tail(lw, pool, ex);
}

async function process_one_work_tail(lw: LocalWorker, pool: number, ex: Exec): Promise<number> {
  lw.sinceResched = 0;
  await cond_resched();
  const f = pool_relock(pool);
  process_one_work_end(lw.id, ex, pool);
  return f;
}

/**
 * assign_work - hand `work` to `wk`, unless another worker of the pool runs
 * it now: then to that one, which runs it next (collision, S-WQ-5).
 * @returns true if `wk` got it.
 * Context: pool lock held.
 */
function assign_work(work: number, wk: number, pool: number): boolean {
  const coll = find_worker_executing_work(pool, work);
  work_list_del(work);
  if (coll >= 0 && coll !== wk) {
    work_list_add_tail(R(coll, WR_SCHEDULED), work);
    return false;
  }
  work_list_add_tail(R(wk, WR_SCHEDULED), work);
  return true;
}

async function process_scheduled_works(lw: LocalWorker, pool: number, f: number): Promise<number> {
  for (let work = i32[R(lw.id, WR_SCHEDULED)]! - 1; work >= 0; work = i32[R(lw.id, WR_SCHEDULED)]! - 1) {
    const r = process_one_work(lw, work, pool, f);
    f = typeof r === 'number' ? r : await r;
  }
  return f;
}

/**
 * The busy part of worker_thread: take items while keep_working(), each
 * through this worker's scheduled list (collisions go to the worker that
 * runs the item already).
 * Context: pool lock held on entry and on return.
 */
async function worker_process(lw: LocalWorker, pool: number, f: number): Promise<number> {
  const wk = lw.id;
  do {
    const first = worklist_first(pool);
    if (first < 0) continue;
    // assign_work, without the trip through this worker's scheduled list
    // when no other worker of the pool runs the item (the usual case).
    const coll = find_worker_executing_work(pool, first);
    if (coll >= 0) {
      work_list_del(first);
      work_list_add_tail(R(coll, WR_SCHEDULED), first);
      continue;
    }
    const r = process_one_work(lw, first, pool, f);
    f = typeof r === 'number' ? r : await r;
    // Items other workers handed to this one while it ran them (collisions).
    for (let work = i32[R(wk, WR_SCHEDULED)]! - 1; work >= 0; work = i32[R(wk, WR_SCHEDULED)]! - 1) {
      const r2 = process_one_work(lw, work, pool, f);
      f = typeof r2 === 'number' ? r2 : await r2;
    }
  } while (keep_working(pool));
  return f;
}

// ------------------------------------------------------------ workers

function worker_slot_alloc(state: number): number {
  const n = mem.g.maxWorkers;
  const start = (cpuId * 17) % n;
  for (let k = 0; k < n; k++) {
    const wk = (start + k) % n;
    if (Atomics.compareExchange(i32, R(wk, WR_STATE), WRS_FREE, -1) === WRS_FREE) {
      for (let f = 1; f < WORKER_STRIDE; f++) i32[R(wk, f)] = 0;
      i32[R(wk, WR_POOL)] = -1;
      Atomics.store(i32, R(wk, WR_STATE), state);
      return wk;
    }
  }
  return -1;
}

function worker_slot_free(wk: number): void {
  localWorkers.delete(wk);
  i32[R(wk, WR_PID)] = 0;
  Atomics.store(i32, R(wk, WR_STATE), WRS_FREE);
}

/**
 * create_worker - a new kworker for `pool` on this CPU, idle and woken so
 * that it starts.
 * @returns its worker id, or -1 if no worker or task slot was left.
 * Context: process context or init; pool lock not held.
 */
function create_worker(pool: number): number {
  const wk = worker_slot_alloc(WRS_WORKER);
  if (wk < 0) {
    pr_err(`workqueue: Failed to create a worker for pool ${pool}: maxWorkers=${mem.g.maxWorkers} workers exist (boot option maxWorkers)`);
    return -1;
  }
  const cpu = pool_cpu(pool);
  const m = Atomics.add(i32, P(pool, PL_NEXT_WORKER_ID), 1);
  const name = cpu < 0 ? `kworker/u${pool}:${m}` : `kworker/${cpu}:${m}${i32[P(pool, PL_NICE)]! < 0 ? 'H' : ''}`;
  const lw: LocalWorker = { id: wk, ex: new_exec(), sinceResched: 0, pool, task: null, current: null, rescueWq: -1 };
  let t: TaskStruct;
  try {
    t = create_task(worker_thread as (d: unknown) => unknown, lw, name, PF_KTHREAD | PF_WQ_WORKER, false);
  } catch (e) {
    if (e instanceof KernelHalt || !(e instanceof KdeferError)) throw e;
    worker_slot_free(wk);
    pr_err(`workqueue: Failed to create a worker thread: ${e.message}`);
    return -1;
  }
  lw.task = t;
  t.private_data = lw;
  localWorkers.set(wk, lw);
  i32[R(wk, WR_POOL)] = pool;
  i32[R(wk, WR_PID)] = t.pid;
  i32[R(wk, WR_CPU)] = cpuId;
  i32[R(wk, WR_ID)] = m;
  i32[R(wk, WR_SLOT)] = t.slot;
  i32[R(wk, WR_FLAGS)] = WORKER_PREP | (cpu < 0 ? WORKER_UNBOUND : 0);
  const f = pool_lock(pool);
  i32[P(pool, PL_NR_WORKERS)]!++;
  worker_enter_idle(wk, pool);
  pool_unlock(pool, f);
  Atomics.add(i32, mem.wqGlobal(WQG_WORKERS_CREATED), 1);
  wake_up_process(t);
  return wk;
}

/** Tell the rescuers of the workqueues with items on `pool` to come (send_mayday). */
function send_mayday(pool: number): void {
  for (let w = worklist_first(pool); w >= 0; w = i32[W(w, WK_NEXT)]! - 1) {
    const pwq = i32[W(w, WK_PWQ)]! - 1;
    if (pwq < 0) continue;
    const wqId = pwq_wq(pwq);
    if (!(i32[WQ(wqId, WQS_FLAGS)]! & WQ_MEM_RECLAIM)) continue;
    if (Atomics.exchange(i32, Q(pwq, PWQ_MAYDAY), 1) === 1) continue;
    Atomics.add(i32, P(pool, PL_NR_MAYDAYS), 1);
    // This CPU's (or the pool's CPU's) rescuer first, else any CPU's.
    const home = pool_cpu(pool) >= 0 ? pool_cpu(pool) : cpuId;
    for (let k = 0; k < nrCpus; k++) {
      const c = (home + k) % nrCpus;
      const pid = i32[mem.pwq(wqId, c, PWQ_RESCUER)]!;
      if (pid !== 0) {
        wakeUpPid(pid, c);
        break;
      }
    }
  }
}

/**
 * maybe_create_worker - create a worker; while that fails, summon the
 * rescuers and retry after CREATE_COOLDOWN.
 * Context: process context (a worker acting as the pool's manager).
 */
async function maybe_create_worker(pool: number): Promise<void> {
  for (;;) {
    if (create_worker(pool) >= 0) return;
    let f = pool_lock(pool);
    const need = need_to_create_worker(pool);
    if (need) send_mayday(pool);
    pool_unlock(pool, f);
    if (!need) return;
    set_current_state(TASK_INTERRUPTIBLE);
    await schedule_timeout(msecs_to_jiffies(CREATE_COOLDOWN_MS));
    f = pool_lock(pool);
    const still = need_to_create_worker(pool);
    pool_unlock(pool, f);
    if (!still) return;
  }
}

/** Poll `pool`'s worklist for WORKER_IDLE_POLL_US; @returns whether work came. Pool lock not held. */
function worker_poll_worklist(pool: number): boolean {
  const head = P(pool, PL_WORKLIST);
  const inbound = P(pool, PL_INBOUND);
  const end = clock_now() + WORKER_IDLE_POLL_US / 1000;
  for (let k = 1; ; k++) {
    if (Atomics.load(i32, inbound) !== 0 || Atomics.load(i32, head) !== 0) return true;
    if ((k & 15) === 0) {
      preempt_point();
      if (i32[PCB + PC_NR_RUNNING] !== 0 || Atomics.load(i32, PCB + PC_CONTROL_HOST) !== 0 || clock_now() > end)
        return Atomics.load(i32, inbound) !== 0 || Atomics.load(i32, head) !== 0;
    }
  }
}

/**
 * worker_thread - the body of a kworker: take items off the pool's worklist
 * while it is the only running worker, create a spare worker first if none
 * is idle, then go idle; culled when idle too long with too many idle.
 */
async function worker_thread(lw: LocalWorker): Promise<number> {
  const wk = lw.id;
  const pool = lw.pool;
  let f = pool_lock(pool);
  for (;;) {
    if (i32[R(wk, WR_FLAGS)]! & WORKER_DIE) {
      i32[P(pool, PL_NR_WORKERS)]!--;
      pool_unlock(pool, f);
      Atomics.add(i32, mem.wqGlobal(WQG_WORKERS_REAPED), 1);
      worker_slot_free(wk);
      return 0;
    }
    worker_leave_idle(wk, pool);
    for (;;) {
      if (!need_more_worker(pool)) break;
      // manage_workers: make sure someone is left to wake if this worker sleeps.
      if (!may_start_working(pool) && !(i32[P(pool, PL_FLAGS)]! & POOL_MANAGER_ACTIVE)) {
        i32[P(pool, PL_FLAGS)]! |= POOL_MANAGER_ACTIVE;
        pool_unlock(pool, f);
        try {
          await maybe_create_worker(pool);
        } finally {
          f = pool_lock(pool);
          i32[P(pool, PL_FLAGS)]! &= ~POOL_MANAGER_ACTIVE;
        }
        continue;
      }
      worker_clr_flags(wk, pool, WORKER_PREP | WORKER_REBOUND);
      for (;;) {
        f = await worker_process(lw, pool, f);
        if (keep_working(pool)) continue; // the inbound list brought more
        if (worklist_first(pool) >= 0 || pool_cpu(pool) < 0 || nr_running(pool) !== 1) break;
        pool_unlock(pool, f);
        worker_poll_worklist(pool);
        f = pool_lock(pool);
        // Decide under the lock: an item inserted after the poll gave up saw
        // this worker running and woke nobody.
        if (!keep_working(pool)) break;
      }
      worker_set_flags(wk, pool, WORKER_PREP);
      // No longer counted as running: a remote queue_work_on that pushed
      // before that saw this worker running and woke nobody, and the
      // worklist may have taken in the inbound list since worker_process
      // stopped. need_more_worker() looks again.
    }
    worker_enter_idle(wk, pool);
    set_current_state(TASK_IDLE);
    pool_unlock(pool, f);
    const left = await schedule_timeout(idleTimeoutJiffies);
    f = pool_lock(pool);
    // idle_cull_fn: the timeout ran out, still idle, and too many idle workers.
    if (
      left === 0 &&
      i32[R(wk, WR_FLAGS)]! & WORKER_IDLE &&
      i32[R(wk, WR_WAKING)] === 0 &&
      too_many_workers(pool) &&
      !need_more_worker(pool)
    ) {
      worker_leave_idle(wk, pool);
      i32[R(wk, WR_FLAGS)]! |= WORKER_DIE;
    }
  }
}

// ------------------------------------------------------------ rescuers (WQ_MEM_RECLAIM)

function create_rescuer(wqId: number, name: string): void {
  const pw = mem.pwq(wqId, cpuId);
  if (i32[pw + PWQ_RESCUER] !== 0) return;
  const wk = worker_slot_alloc(WRS_RESCUER);
  if (wk < 0)
    throw new KdeferError(
      `workqueue: Failed to create a rescuer kthread for wq "${name}": maxWorkers=${mem.g.maxWorkers} (boot option maxWorkers)`,
    );
  const lw: LocalWorker = { id: wk, ex: new_exec(), sinceResched: 0, pool: -1, task: null, current: null, rescueWq: wqId };
  const t = create_task(rescuer_thread as (d: unknown) => unknown, lw, `kworker/R-${name}`.slice(0, 31), PF_KTHREAD | PF_WQ_WORKER, false);
  lw.task = t;
  t.private_data = lw;
  localWorkers.set(wk, lw);
  i32[R(wk, WR_PID)] = t.pid;
  i32[R(wk, WR_CPU)] = cpuId;
  i32[R(wk, WR_SLOT)] = t.slot;
  i32[R(wk, WR_FLAGS)] = WORKER_PREP;
  i32[pw + PWQ_RESCUER_WORKER] = wk + 1;
  Atomics.store(i32, pw + PWQ_RESCUER, t.pid);
  wake_up_process(t);
}

/**
 * rescuer_thread - the workqueue's last resort: when a pool cannot create
 * workers, run this workqueue's items of that pool here.
 */
async function rescuer_thread(lw: LocalWorker): Promise<number> {
  const wqId = lw.rescueWq;
  const wk = lw.id;
  const gen = Atomics.load(i32, WQ(wqId, WQS_GEN));
  for (;;) {
    set_current_state(TASK_IDLE);
    if (Atomics.load(i32, WQ(wqId, WQS_GEN)) !== gen || Atomics.load(i32, WQ(wqId, WQS_STATE)) & WQSF_DESTROYED) break;
    let found = false;
    for (let c = 0; c < nrCpus; c++) {
      const pwq = wqId * nrCpus + c;
      if (Atomics.exchange(i32, Q(pwq, PWQ_MAYDAY), 0) === 0) continue;
      found = true;
      set_current_state(TASK_RUNNING);
      const pool = i32[Q(pwq, PWQ_POOL)]!;
      lw.pool = pool;
      i32[R(wk, WR_POOL)] = pool;
      let f = pool_lock(pool);
      // Pull this workqueue's items of the pool into our scheduled list.
      for (let w = worklist_first(pool); w >= 0;) {
        const next = i32[W(w, WK_NEXT)]! - 1;
        if (i32[W(w, WK_PWQ)] === pwq + 1) assign_work(w, wk, pool);
        w = next;
      }
      f = await process_scheduled_works(lw, pool, f);
      // Still short of workers? Stay on call.
      if (need_to_create_worker(pool)) {
        for (let w = worklist_first(pool); w >= 0; w = i32[W(w, WK_NEXT)]! - 1) {
          if (i32[W(w, WK_PWQ)] === pwq + 1) {
            Atomics.store(i32, Q(pwq, PWQ_MAYDAY), 1);
            break;
          }
        }
      }
      pool_unlock(pool, f);
      lw.pool = -1;
      i32[R(wk, WR_POOL)] = -1;
    }
    if (!found) await schedule();
  }
  set_current_state(TASK_RUNNING);
  const pw = mem.pwq(wqId, cpuId);
  if (i32[pw + PWQ_RESCUER_WORKER] === wk + 1) {
    Atomics.store(i32, pw + PWQ_RESCUER, 0);
    i32[pw + PWQ_RESCUER_WORKER] = 0;
  }
  worker_slot_free(wk);
  return 0;
}

// ------------------------------------------------------------ BH workqueues

/**
 * bh_worker - run this CPU's BH pool in softirq context: FIFO, one item at
 * a time, at most BH_WORKER_RESTARTS items or BH_WORKER_MS, then kick the
 * softirq again if items are left (S-WQ-23).
 */
function bh_worker(pool: number, wk: number): void {
  let restarts = BH_WORKER_RESTARTS;
  const end = clock_now() + BH_WORKER_MS;
  let f = pool_lock(pool);
  worker_leave_idle(wk, pool);
  if (need_more_worker(pool)) {
    worker_clr_flags(wk, pool, WORKER_PREP | WORKER_REBOUND);
    do {
      const first = worklist_first(pool);
      if (first >= 0 && assign_work(first, wk, pool)) {
        for (let work = i32[R(wk, WR_SCHEDULED)]! - 1; work >= 0; work = i32[R(wk, WR_SCHEDULED)]! - 1) {
          f = bh_process_one_work(wk, work, pool, f);
        }
      }
    } while (keep_working(pool) && --restarts > 0 && clock_now() < end);
    worker_set_flags(wk, pool, WORKER_PREP);
  }
  worker_enter_idle(wk, pool);
  kick_pool(pool);
  pool_unlock(pool, f);
}

function bh_process_one_work(wk: number, work: number, pool: number, f: number): number {
  const ex = process_one_work_begin(wk, work, pool, bhExec[pool & 1]!);
  pool_unlock(pool, f);
  const fn = fn_by_id(ex.fid) as work_func_t | undefined;
  const w = work_by_id(work);
  if (!embeddedOwnerAlive(w.owner, 'process_one_work')) {
    const g = pool_lock(pool);
    process_one_work_end(wk, ex, pool);
    return g;
  }
  const prev = bhCurrent;
  const prevPwq = bhCurrentPwq;
  bhCurrent = w;
  bhCurrentPwq = ex.pwq;
  const count0 = preempt_count();
  const held = lockdep_depth();
  if (tracing) trace_event(TP_WORKQUEUE_EXECUTE_START, work | TRACE_WORK_BH, i32[W(work, WK_NAME)]!);
  try {
    if (!fn) throw new KdeferError(`work ${w.name}: function #${ex.fid} is not known on CPU ${cpuId}`);
    const r = fn(w);
    if (r !== undefined && typeof (r as Promise<unknown>).then === 'function') {
      WARN_ONCE(
        true,
        `workqueue: BH work function ${fn_name(ex.fid)} returned a promise: BH work runs in softirq context and must not sleep`,
      );
    }
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_work_oops(e, ex);
  } finally {
    if (tracing) trace_event(TP_WORKQUEUE_EXECUTE_END, work | TRACE_WORK_BH, i32[W(work, WK_NAME)]!);
    bhCurrent = prev;
    bhCurrentPwq = prevPwq;
  }
  check_leak(ex, count0, held);
  const g = pool_lock(pool);
  process_one_work_end(wk, ex, pool);
  return g;
}

/**
 * workqueue_softirq_action - run this CPU's BH workqueue items; called first
 * by the TASKLET_SOFTIRQ (normal) and HI_SOFTIRQ (highpri) actions.
 * Context: softirq.
 */
export function workqueue_softirq_action(highpri: boolean): void {
  const wk = bhWorker[highpri ? 1 : 0];
  if (wk === undefined) return;
  const pool = cpu_pool_id(cpuId, highpri, true);
  if (Atomics.load(i32, P(pool, PL_WORKLIST)) === 0) return;
  bh_worker(pool, wk);
}

/** The internal work that raises a BH pool's softirq on its own CPU (the remote kick). */
function bh_pool_kick_fn(): void {
  local_bh_disable();
  for (const hi of [false, true]) {
    const pool = cpu_pool_id(cpuId, hi, true);
    if (Atomics.exchange(i32, P(pool, PL_BH_KICK), 0) !== 0) {
      const fl = irqs_disabled();
      __irq_flag_set(true);
      __raise_softirq_irqoff(hi ? HI_SOFTIRQ : TASKLET_SOFTIRQ);
      __irq_flag_set(fl);
    }
  }
  local_bh_enable(); // runs them here
}

// ------------------------------------------------------------ declaring work

/**
 * The shared work table's slots, through slot.ts's one allocator: claimed
 * through WK_FLAGS, owned by the embedding slab object (WK_OWNER: 0 for a
 * work declared by name), counted in WQG_WORKS_USED. Bound by
 * workqueue_init_cpu (the count word's place depends on the geometry).
 */
let works: SlotTable | null = null;

/**
 * Set up slot `id` just taken for a work: every field cleared but its claim,
 * its owner (slot.ts set both) and its sequence numbers, which go on from
 * the slot's last work (a flusher of that one may still look; it was idle
 * when given back, so they agree).
 */
function work_slot_init(id: number, nameId: number, fid: number, flags: number): void {
  for (let f = 0; f < WORK_STRIDE; f++)
    if (f !== WK_FLAGS && f !== WK_OWNER && f !== WK_QSEQ && f !== WK_RUNSEQ && f !== WK_DONESEQ) i32[W(id, f)] = 0;
  i32[W(id, WK_NAME)] = nameId;
  i32[W(id, WK_FUNC)] = fid;
  i32[W(id, WK_DW_CPU)] = WORK_CPU_UNBOUND;
  Atomics.store(i32, W(id, WK_FLAGS), WKF_ALLOCATED | flags);
}

function work_slot_alloc(owner: number, nameId: number, fid: number, flags: number): number {
  return works!.alloc(owner, (id) => work_slot_init(id, nameId, fid, flags));
}

/** The slot of a work declared by name. Context: under the registry lock. */
function work_slot_alloc_locked(nameId: number, fid: number, flags: number): number {
  return work_slot_alloc(0, nameId, fid, flags);
}

/**
 * The work slot of a work_struct embedded in slab object `owner` (slab.ts,
 * at kmalloc). Its function is set by INIT_WORK. Context: any.
 */
export function work_slot_alloc_owned(owner: number, nameId: number, flags = 0): number {
  return work_slot_alloc(owner, nameId, 0, flags);
}

/**
 * The work slot of a delayed_work embedded in slab object `owner`, with its
 * TIMER_IRQSAFE timer (which points back at the object too: arming it after
 * the object was freed is a use-after-free). Context: any.
 */
export function dwork_slot_alloc_owned(owner: number, nameId: number): number {
  const id = work_slot_alloc_owned(owner, nameId, WKF_DELAYED);
  const tid = timer_slot_alloc(owner);
  i32[mem.timer(tid, TM_DATA)] = id;
  i32[mem.timer(tid, TM_NAME)] = intern(`${name_of(mem, nameId)}.timer`);
  timer_setup(timer_by_id(tid), delayed_work_timer_fn, TIMER_IRQSAFE);
  Atomics.store(i32, W(id, WK_TIMER), tid + 1);
  return id;
}

/** Give back an embedded work's slot once its object left the quarantine (not while pending or running: then it leaks). */
export function work_slot_release(id: number): void {
  if (Atomics.load(i32, W(id, WK_DATA)) & WORK_STRUCT_PENDING || work_running(id)) return;
  // A delayed work's timer still running its function (which queued the
  // work that just ran) keeps both slots: they leak together.
  const tid = i32[W(id, WK_TIMER)]! - 1;
  if (tid >= 0 && !timer_slot_release(tid)) return;
  works!.release(id);
}

/**
 * The slot of a work embedded in slab object `obj`. After free it is still
 * handed out while the object waits in the quarantine (the access was
 * reported); once its memory went to another object there is no work to
 * hand back: an error says so.
 */
function embedded_work_id(id: number, obj: SlabObject, field: string, freed: boolean, kind: string): number {
  if (freed && !work_owned_by(id, obj.handle)) {
    throw new KdeferError(`struct ${obj.type.name} (object ${obj.handle}) was freed and its memory reused: its ${kind} '${field}' is gone`);
  }
  return id;
}

/** The delayed_work whose work is slot `id` (slab.ts: an embedded one). */
export function dwork_by_id(id: number): DelayedWork {
  return dwork_of(id);
}

/**
 * workContainerOf - the slab object that embeds `work` (the kernel's
 * container_of(work, struct ..., field)). Context: any.
 */
export function workContainerOf<F extends StructFields>(work: WorkStruct): SlabObject<F> {
  const owner = i32[W(check_work(work, 'workContainerOf'), WK_OWNER)]!;
  if (owner === 0) throw new KdeferError(`workContainerOf(${work.name}): this work is not embedded in a slab object`);
  return slab_obj<F>(owner);
}

/**
 * Whether `work` may be queued: false (reported) when its object was freed
 * — also when its slot went to another object since (the handle is stale:
 * slab.ts's embeddedStale decides, as for timers and tasklets); an error
 * naming it when it was never set up. Context: any.
 */
function work_queueable(work: WorkStruct, who: string, init: string): boolean {
  const id = work.id;
  const owner = i32[W(id, WK_OWNER)]!;
  if (embeddedStale(owner, work.owner, '__queue_work') || !embeddedOwnerAlive(owner, '__queue_work')) return false;
  if (i32[W(id, WK_FUNC)] === 0) throw new KdeferError(`${who}: work '${work.name}' was never set up (${init} it first)`);
  return true;
}

/**
 * Whether `work` is a stale handle (its slot went to another object since it
 * was taken): reported in `who` by slab.ts's embeddedStale, and the caller
 * leaves the slot — the new object's work — alone.
 */
function work_stale(work: WorkStruct, who: string): boolean {
  return embeddedStale(i32[W(work.id, WK_OWNER)]!, work.owner, who);
}

function declare_work(name: string, fid: number, delayed: boolean, who: string): number {
  if (typeof name !== 'string' || name.length === 0) throw new KdeferError(`${who}: a work needs a name`);
  const kind = delayed ? 2 : 1;
  const e = registry_resolve(
    mem,
    NAME_KIND_OBJECT,
    (delayed ? 'dwork:' : 'work:') + name,
    (nid) => ({ value: work_slot_alloc_locked(nid, fid, delayed ? WKF_DELAYED : 0), size: kind }),
    kind,
  );
  const id = e.value;
  if (!e.created) {
    const cur = Atomics.load(i32, W(id, WK_FUNC));
    if (cur !== fid) {
      WARN_ONCE(true, `${who}(${name}): declared again with another function (${fn_name(fid)}, was ${fn_name(cur)})`);
      if (!work_pending(work_by_id(id)) && !work_running(id)) Atomics.store(i32, W(id, WK_FUNC), fid);
    }
  }
  return id;
}

/** Re-initialise an idle work (INIT_WORK on an existing work_struct). */
function reinit_work(id: number, fid: number, who: string): void {
  if (work_pending(work_by_id(id)) || work_running(id)) {
    WARN_ONCE(true, `${who}(${work_by_id(id).name}): re-initialising a work item that is pending or running`);
    return;
  }
  Atomics.store(i32, W(id, WK_FUNC), fid);
  Atomics.store(i32, W(id, WK_DISABLE), 0);
  Atomics.store(i32, W(id, WK_DATA), 0);
}

/**
 * INIT_WORK - a work item by name, declared (the same on every CPU) with
 * function `func`; or re-initialise `work` (idle) with `func`.
 * @param func run as func(work) in process context; must be handed over at
 *             module load on every CPU
 * Context: module load (by name), or any for an idle work.
 */
export function INIT_WORK(work: WorkStruct | string, func: work_func_t): WorkStruct {
  if (typeof work === 'string') {
    const fid = fn_id(func as (...a: never[]) => unknown, `work:${work}`);
    return work_by_id(declare_work(work, fid, false, 'INIT_WORK'));
  }
  const id = check_work(work, 'INIT_WORK');
  if (work_stale(work, 'INIT_WORK')) return work;
  reinit_work(id, fn_id(func as (...a: never[]) => unknown, `work:${work.name}`), 'INIT_WORK');
  return work;
}

/** DECLARE_WORK - declare the work item `name` with function `func`. Context: module load. */
export function DECLARE_WORK(name: string, func: work_func_t): WorkStruct {
  return INIT_WORK(name, func);
}

function dwork_of(id: number): DelayedWork {
  let d = dworkObjs[id];
  // An embedded one's slot is reused with a new timer by the next object.
  if (!d || (i32[W(id, WK_OWNER)] !== 0 && (d.timer.id !== i32[W(id, WK_TIMER)]! - 1 || d.work !== work_by_id(id)))) {
    let tid = Atomics.load(i32, W(id, WK_TIMER)) - 1;
    for (let spins = 0; tid < 0; spins++) {
      // Another CPU is still setting it up (module load on every CPU).
      if (spins > 1e7) throw new KdeferError(`delayed work ${work_by_id(id).name}: its timer was never set up`);
      preempt_point();
      tid = Atomics.load(i32, W(id, WK_TIMER)) - 1;
    }
    d = new DelayedWork(work_by_id(id), timer_by_id(tid));
    dworkObjs[id] = d;
  }
  return d;
}

/**
 * INIT_DELAYED_WORK - a delayed work by name (declared with its
 * TIMER_IRQSAFE timer), or re-initialise `dwork` (idle) with `func`.
 * Context: module load (by name), or any for an idle work.
 */
export function INIT_DELAYED_WORK(dwork: DelayedWork | string, func: work_func_t): DelayedWork {
  if (typeof dwork !== 'string') {
    if (!(dwork instanceof DelayedWork)) throw new KdeferError('INIT_DELAYED_WORK: not a delayed_work');
    if (work_stale(dwork.work, 'INIT_DELAYED_WORK')) return dwork;
    reinit_work(dwork.id, fn_id(func as (...a: never[]) => unknown, `work:${dwork.name}`), 'INIT_DELAYED_WORK');
    return dwork;
  }
  const fid = fn_id(func as (...a: never[]) => unknown, `work:${dwork}`);
  const id = declare_work(dwork, fid, true, 'INIT_DELAYED_WORK');
  if (Atomics.load(i32, W(id, WK_TIMER)) === 0 && Atomics.compareExchange(i32, W(id, WK_TIMER), 0, -1) === 0) {
    // The first CPU here sets the timer up (timer_setup interns names: not under the registry lock).
    const tid = timer_slot_alloc(0);
    i32[mem.timer(tid, TM_DATA)] = id;
    i32[mem.timer(tid, TM_NAME)] = intern(`${dwork}.timer`);
    const t = timer_by_id(tid);
    if (!(Atomics.load(i32, mem.timer(tid, TM_STATE)) & TMS_INIT)) timer_setup(t, delayed_work_timer_fn, TIMER_IRQSAFE);
    Atomics.store(i32, W(id, WK_TIMER), tid + 1);
  }
  return dwork_of(id);
}

/** DECLARE_DELAYED_WORK - declare the delayed work `name`. Context: module load. */
export function DECLARE_DELAYED_WORK(name: string, func: work_func_t): DelayedWork {
  return INIT_DELAYED_WORK(name, func);
}

/** to_delayed_work - the delayed_work a work function's `work` belongs to. */
export function to_delayed_work(work: WorkStruct): DelayedWork {
  if (!(Atomics.load(i32, W(work.id, WK_FLAGS)) & WKF_DELAYED))
    throw new KdeferError(`to_delayed_work(${work.name}): not the work of a delayed_work`);
  return dwork_of(work.id);
}

// ------------------------------------------------------------ delayed work

/** delayed_work_timer_fn - the timer expired: queue the work (irqs off: TIMER_IRQSAFE). */
function delayed_work_timer_fn(t: TimerList): void {
  const id = i32[mem.timer(t.id, TM_DATA)]!;
  const wqId = Atomics.load(i32, W(id, WK_DW_WQ)) - 1;
  if (wqId < 0) return;
  __queue_work(Atomics.load(i32, W(id, WK_DW_CPU)), wq_by_id(wqId), id);
}

function __queue_delayed_work(cpu: number, wq: WorkqueueStruct, dwork: DelayedWork, delay: number): void {
  const id = dwork.id;
  Atomics.store(i32, W(id, WK_DW_WQ), wq.id + 1);
  Atomics.store(i32, W(id, WK_DW_CPU), cpu);
  if (!(delay > 0)) {
    __queue_work(cpu, wq, id);
    return;
  }
  const t = dwork.timer;
  t.expires = get_jiffies_64() + Math.ceil(delay);
  if (cpu !== WORK_CPU_UNBOUND) add_timer_on(t, cpu);
  else add_timer(t);
}

function check_dwork(dwork: DelayedWork, who: string): void {
  if (!(dwork instanceof DelayedWork)) throw new KdeferError(`${who}: not a delayed_work`);
}

/**
 * queue_delayed_work_on - queue `dwork` on `wq` after `delay` jiffies, on
 * CPU `cpu` (its timer is armed on that CPU's base).
 * @returns false if it was already pending (timer armed or queued) or is disabled, true otherwise.
 * Context: any. delay == 0 queues at once.
 */
export function queue_delayed_work_on(cpu: number, wq: WorkqueueStruct, dwork: DelayedWork, delay: number): boolean {
  preempt_point();
  check_dwork(dwork, 'queue_delayed_work_on');
  check_wq(wq, 'queue_delayed_work_on');
  const id = dwork.id;
  if (!work_queueable(dwork.work, 'queue_delayed_work_on', 'INIT_DELAYED_WORK')) return false;
  let ret = false;
  const flags = irqs_disabled();
  __irq_flag_set(true);
  try {
    if (!(Atomics.or(i32, W(id, WK_DATA), WORK_STRUCT_PENDING) & WORK_STRUCT_PENDING) && !clear_pending_if_disabled(id)) {
      __queue_delayed_work(cpu, wq, dwork, delay);
      ret = true;
    }
  } finally {
    __irq_flag_set(flags);
  }
  return ret;
}

/** queue_delayed_work - queue_delayed_work_on(WORK_CPU_UNBOUND, ...). Context: any. */
export function queue_delayed_work(wq: WorkqueueStruct, dwork: DelayedWork, delay: number): boolean {
  return queue_delayed_work_on(WORK_CPU_UNBOUND, wq, dwork, delay);
}

/** schedule_delayed_work - queue_delayed_work(system_wq, ...). Context: any. */
export function schedule_delayed_work(dwork: DelayedWork, delay: number): boolean {
  return queue_delayed_work_on(WORK_CPU_UNBOUND, system_wq, dwork, delay);
}
/** schedule_delayed_work_on - queue_delayed_work_on(cpu, system_wq, ...). Context: any. */
export function schedule_delayed_work_on(cpu: number, dwork: DelayedWork, delay: number): boolean {
  return queue_delayed_work_on(cpu, system_wq, dwork, delay);
}

/**
 * mod_delayed_work_on - (re)queue `dwork` to run `delay` jiffies from now,
 * whether or not it is pending (cancel-or-modify, then queue).
 * @returns false if it was idle and has been queued, true if it was pending
 *          and has been moved.
 * Context: any.
 */
export function mod_delayed_work_on(cpu: number, wq: WorkqueueStruct, dwork: DelayedWork, delay: number): boolean {
  preempt_point();
  check_dwork(dwork, 'mod_delayed_work_on');
  check_wq(wq, 'mod_delayed_work_on');
  const id = dwork.id;
  if (!work_queueable(dwork.work, 'mod_delayed_work_on', 'INIT_DELAYED_WORK')) return false;
  const flags = irqs_disabled();
  __irq_flag_set(true);
  try {
    const ret = work_grab_pending(id, true, 'mod_delayed_work_on');
    if (!clear_pending_if_disabled(id)) __queue_delayed_work(cpu, wq, dwork, delay);
    return ret === 1;
  } finally {
    __irq_flag_set(flags);
  }
}

/** mod_delayed_work - mod_delayed_work_on(WORK_CPU_UNBOUND, ...). */
export function mod_delayed_work(wq: WorkqueueStruct, dwork: DelayedWork, delay: number): boolean {
  return mod_delayed_work_on(WORK_CPU_UNBOUND, wq, dwork, delay);
}

// ------------------------------------------------------------ cancel and flush

/**
 * try_to_grab_pending - make the caller the owner of `work`'s PENDING bit.
 * @returns 1 if it was pending (queued, or its timer armed) and has been
 *          taken off, 0 if it was idle, -1 if busy (being queued now): retry.
 * Context: interrupts disabled.
 */
function try_to_grab_pending(work: number, isDwork: boolean): number {
  if (isDwork) {
    const d = dwork_of(work);
    if (timer_delete(d.timer)) return 1;
  }
  if (!(Atomics.or(i32, W(work, WK_DATA), WORK_STRUCT_PENDING) & WORK_STRUCT_PENDING)) return 0;
  // Queued: on a list of its pwq's pool (WORK_STRUCT_PWQ), or still on that
  // pool's inbound list (WK_PWQ set; taking the pool lock enters it).
  const pwq = Atomics.load(i32, W(work, WK_PWQ)) - 1;
  if (pwq < 0) return -1;
  const pool = i32[Q(pwq, PWQ_POOL)]!;
  const f = pool_lock(pool);
  if (i32[W(work, WK_PWQ)] !== pwq + 1 || !(Atomics.load(i32, W(work, WK_DATA)) & WORK_STRUCT_PWQ)) {
    pool_unlock(pool, f);
    return -1;
  }
  const inactive = (Atomics.load(i32, W(work, WK_DATA)) & WORK_STRUCT_INACTIVE) !== 0;
  work_list_del(work);
  i32[W(work, WK_PWQ)] = 0;
  i32[W(work, WK_POOL)] = pool + 1;
  Atomics.and(i32, W(work, WK_DATA), ~(WORK_STRUCT_PWQ | WORK_STRUCT_INACTIVE | WORK_STRUCT_LINKED));
  // The cancelled insertion will never run: flushers must not wait for it.
  const q = Atomics.load(i32, W(work, WK_QSEQ));
  if (work_running(work)) Atomics.store(i32, W(work, WK_DISCARD), q);
  else work_set_done(work, q);
  pwq_dec_nr_in_flight(pwq, pool, i32[W(work, WK_COLOR)]!, inactive);
  pool_unlock(pool, f);
  return 1;
}

/** work_grab_pending - try_to_grab_pending until it succeeds. Context: interrupts disabled. */
function work_grab_pending(work: number, isDwork: boolean, who: string): number {
  let t0 = 0;
  for (let spins = 0; ; spins++) {
    const ret = try_to_grab_pending(work, isDwork);
    if (ret >= 0) return ret;
    preempt_point();
    if ((spins & 1023) === 1023) {
      if (t0 === 0) t0 = clock_now();
      else if (clock_now() - t0 > spin_lockup_ms()) {
        BUG(
          `${who}(${work_by_id(work).name}): work stays pending without being queued for ${Math.round(clock_now() - t0)} ms on CPU#${cpuId}`,
        );
      }
    }
  }
}

/** __cancel_work: grab PENDING, optionally disable, clear PENDING. @returns whether it was pending. */
function __cancel_work(work: number, disable: boolean, isDwork: boolean, who: string): boolean {
  const flags = irqs_disabled();
  __irq_flag_set(true);
  try {
    const ret = work_grab_pending(work, isDwork, who);
    if (disable) {
      const d = Atomics.add(i32, W(work, WK_DISABLE), 1);
      if (d >= 65535) {
        Atomics.sub(i32, W(work, WK_DISABLE), 1);
        WARN_ONCE(true, `workqueue: work disable count overflowed`);
      }
    }
    Atomics.and(i32, W(work, WK_DATA), ~WORK_STRUCT_PENDING);
    return ret === 1;
  } finally {
    __irq_flag_set(flags);
  }
}

function report_self_wait(what: string, who: string, pseudo: string): void {
  printk(KERN_WARNING + '============================================');
  printk(KERN_WARNING + 'WARNING: possible recursive locking detected');
  printk(KERN_WARNING + '6.12.0-kdefer #1 Not tainted');
  printk(KERN_WARNING + '--------------------------------------------');
  printk(KERN_WARNING + `${current_comm()}/${current_pid()} is trying to acquire lock:`);
  printk(KERN_WARNING + ` ${pseudo}, at: ${who}`);
  printk(KERN_WARNING + '');
  printk(KERN_WARNING + 'but task is already holding lock:');
  printk(KERN_WARNING + ` ${pseudo}, at: process_one_work`);
  printk(KERN_WARNING + '');
  printk(KERN_WARNING + ' *** DEADLOCK ***');
  printk(KERN_WARNING + `kdefer: ${what} would wait for itself forever; ${who}() returns instead`);
}

/** Whether `work` is the item the caller is running (a self-wait would deadlock). */
function waiting_for_self(work: number): boolean {
  const cw = current_work();
  return cw !== null && cw.id === work;
}

/** __flush_work: wait until every insertion of `work` made so far has finished. */
async function __flush_work(work: number, fromCancel: boolean): Promise<boolean> {
  // Waiting for the work "takes" its map (S-WQ-20): holding a lock the work
  // function takes, here, closes a cycle the validator reports — whether or
  // not the work is running now.
  const map = lockdep_map_of(work_by_id(work).mapName);
  if (map >= 0) {
    // start_flush_work: on a workqueue that runs one item at a time, or has
    // a rescuer, waiting for the item waits for the workqueue as well (not
    // from cancel_work_sync: the item it waits for is already running).
    const wqId = fromCancel ? -1 : work_wq_now(work);
    if (wqId >= 0 && (i32[WQ(wqId, WQS_MAX_ACTIVE)] === 1 || i32[WQ(wqId, WQS_FLAGS)]! & WQ_MEM_RECLAIM))
      touch_wq_lockdep_map(wq_by_id(wqId));
    lock_map_acquire(map);
    lock_map_release(map);
  }
  const target = Atomics.load(i32, W(work, WK_QSEQ));
  if (Atomics.load(i32, W(work, WK_DONESEQ)) >= target) return false;
  await wait_event(work_waitq(work), () => Atomics.load(i32, W(work, WK_DONESEQ)) >= target);
  return true;
}

/** The workqueue `work` is queued on or runs for now, -1 if neither. */
function work_wq_now(work: number): number {
  const pwq = Atomics.load(i32, W(work, WK_PWQ)) - 1;
  if (pwq >= 0) return pwq_wq(pwq);
  const pool = Atomics.load(i32, W(work, WK_POOL)) - 1;
  if (pool < 0 || pool_is_bh(pool)) return -1;
  const f = pool_lock(pool);
  const wk = find_worker_executing_work(pool, work);
  const cur = wk >= 0 ? i32[R(wk, WR_CURRENT_PWQ)]! - 1 : -1;
  pool_unlock(pool, f);
  return cur >= 0 ? pwq_wq(cur) : -1;
}

/** Acquire and release `wq`'s "(wq_completion)" map: what waiting for the workqueue is to the validator. */
function touch_wq_lockdep_map(wq: WorkqueueStruct): void {
  const m = lockdep_map_of(wq.mapName);
  if (m < 0) return;
  lock_map_acquire(m);
  lock_map_release(m);
}

/**
 * flush_work - wait for the last queueing of `work` to finish executing.
 * @returns true if it had to wait, false if `work` was already idle.
 * Context: process context; sleeps. On return `work` is idle unless it was
 * queued again after the call began.
 */
export async function flush_work(work: WorkStruct): Promise<boolean> {
  const id = check_work(work, 'flush_work');
  if (work_stale(work, 'flush_work') || !might_sleep('flush_work')) return false;
  if (waiting_for_self(id)) {
    report_self_wait(`flush_work(${work.name}) from its own work function`, 'flush_work', `((work_completion)(${work.name}))`);
    return false;
  }
  return __flush_work(id, false);
}

/**
 * flush_delayed_work - queue `dwork` at once if its timer is pending, then flush it.
 * @returns as flush_work. Context: process context; sleeps.
 */
export async function flush_delayed_work(dwork: DelayedWork): Promise<boolean> {
  check_dwork(dwork, 'flush_delayed_work');
  if (work_stale(dwork.work, 'flush_delayed_work') || !might_sleep('flush_delayed_work')) return false;
  const flags = irqs_disabled();
  __irq_flag_set(true);
  try {
    if (timer_delete_sync(dwork.timer)) {
      const wqId = Atomics.load(i32, W(dwork.id, WK_DW_WQ)) - 1;
      if (wqId >= 0) __queue_work(Atomics.load(i32, W(dwork.id, WK_DW_CPU)), wq_by_id(wqId), dwork.id);
    }
  } finally {
    __irq_flag_set(flags);
  }
  return flush_work(dwork.work);
}

/**
 * cancel_work - take `work` off its queue if it is pending; does not wait
 * for a running execution (which may still run on return).
 * @returns true if it was pending.
 * Context: any.
 */
export function cancel_work(work: WorkStruct): boolean {
  preempt_point();
  const id = check_work(work, 'cancel_work');
  if (work_stale(work, 'cancel_work')) return false;
  return __cancel_work(id, false, false, 'cancel_work');
}

/**
 * cancel_delayed_work - stop `dwork`'s timer, or take it off its queue.
 * @returns true if it was pending. Context: any; does not wait.
 */
export function cancel_delayed_work(dwork: DelayedWork): boolean {
  preempt_point();
  check_dwork(dwork, 'cancel_delayed_work');
  if (work_stale(dwork.work, 'cancel_delayed_work')) return false;
  return __cancel_work(dwork.id, false, true, 'cancel_delayed_work');
}

async function __cancel_work_sync(work: number, isDwork: boolean, keepDisabled: boolean, who: string, name: string): Promise<boolean> {
  if (!might_sleep(who) || waiting_for_self(work)) {
    if (waiting_for_self(work)) report_self_wait(`${who}(${name}) from its own work function`, who, `((work_completion)(${name}))`);
    const r = __cancel_work(work, keepDisabled, isDwork, who);
    return r;
  }
  // Disabling blocks every queueing attempt (a self-requeueing work too) while we wait.
  const ret = __cancel_work(work, true, isDwork, who);
  try {
    await __flush_work(work, true);
  } finally {
    if (!keepDisabled) Atomics.sub(i32, W(work, WK_DISABLE), 1);
  }
  return ret;
}

/**
 * cancel_work_sync - cancel `work` and wait for its running execution to
 * finish; queueing attempts meanwhile (its own included) fail.
 * @returns true if it was pending.
 * Context: process context; sleeps. On return `work` is neither pending
 * nor running anywhere (unless an unrelated caller queues it again).
 */
export function cancel_work_sync(work: WorkStruct): Promise<boolean> {
  const id = check_work(work, 'cancel_work_sync');
  if (work_stale(work, 'cancel_work_sync')) return Promise.resolve(false);
  return __cancel_work_sync(id, false, false, 'cancel_work_sync', work.name);
}

/**
 * cancel_delayed_work_sync - as cancel_work_sync, for a delayed work (its timer too).
 * @returns true if it was pending. Context: process context; sleeps.
 */
export function cancel_delayed_work_sync(dwork: DelayedWork): Promise<boolean> {
  check_dwork(dwork, 'cancel_delayed_work_sync');
  if (work_stale(dwork.work, 'cancel_delayed_work_sync')) return Promise.resolve(false);
  return __cancel_work_sync(dwork.id, true, false, 'cancel_delayed_work_sync', dwork.name);
}

/**
 * disable_work - cancel `work` and make every queueing attempt fail until
 * enable_work (counted: disables nest).
 * @returns true if it was pending. Context: any.
 */
export function disable_work(work: WorkStruct): boolean {
  preempt_point();
  const id = check_work(work, 'disable_work');
  if (work_stale(work, 'disable_work')) return false;
  return __cancel_work(id, true, false, 'disable_work');
}

/** disable_work_sync - disable_work, and wait for a running execution. Context: process context. */
export function disable_work_sync(work: WorkStruct): Promise<boolean> {
  const id = check_work(work, 'disable_work_sync');
  if (work_stale(work, 'disable_work_sync')) return Promise.resolve(false);
  return __cancel_work_sync(id, false, true, 'disable_work_sync', work.name);
}

/** disable_delayed_work / disable_delayed_work_sync - the delayed_work variants. */
export function disable_delayed_work(dwork: DelayedWork): boolean {
  check_dwork(dwork, 'disable_delayed_work');
  if (work_stale(dwork.work, 'disable_delayed_work')) return false;
  return __cancel_work(dwork.id, true, true, 'disable_delayed_work');
}
export function disable_delayed_work_sync(dwork: DelayedWork): Promise<boolean> {
  check_dwork(dwork, 'disable_delayed_work_sync');
  if (work_stale(dwork.work, 'disable_delayed_work_sync')) return Promise.resolve(false);
  return __cancel_work_sync(dwork.id, true, true, 'disable_delayed_work_sync', dwork.name);
}

/**
 * enable_work - undo one disable_work.
 * @returns true if the disable count reached 0 (the work can be queued again).
 * Context: any.
 */
export function enable_work(work: WorkStruct): boolean {
  const id = check_work(work, 'enable_work');
  if (work_stale(work, 'enable_work')) return false;
  const old = Atomics.sub(i32, W(id, WK_DISABLE), 1);
  if (old <= 0) {
    Atomics.add(i32, W(id, WK_DISABLE), 1);
    WARN_ON_ONCE(true, 'workqueue: work disable count underflowed');
    return true;
  }
  return old === 1;
}
/** enable_delayed_work - enable_work(&dwork->work). */
export function enable_delayed_work(dwork: DelayedWork): boolean {
  return enable_work(dwork.work);
}

// ------------------------------------------------------------ workqueues

function wq_flush_mutex(wqId: number): Mutex {
  // wq->mutex: one lock class for every workqueue's, as the kernel's one init site gives.
  return new MutexClass(i32[WQ(wqId, WQS_FLUSH_MUTEX)]!, '&wq->mutex');
}
function wq_flush_waitq(wqId: number): WaitQueueHead {
  return wait_queue_by_id(i32[WQ(wqId, WQS_FLUSH_WAITQ)]!, 'wq flush');
}

function wq_pwqs(wqId: number): number[] {
  if (i32[WQ(wqId, WQS_FLAGS)]! & WQ_UNBOUND) return [wqId * nrCpus];
  const out: number[] = [];
  for (let c = 0; c < nrCpus; c++) out.push(wqId * nrCpus + c);
  return out;
}

function in_flight(wqId: number, color: number): number {
  let n = 0;
  for (const pwq of wq_pwqs(wqId)) n += Atomics.load(i32, Q(pwq, PWQ_NR_IN_FLIGHT + color));
  return n;
}

function wq_alive(wq: WorkqueueStruct, who: string): boolean {
  check_wq(wq, who);
  if (Atomics.load(i32, WQ(wq.id, WQS_GEN)) !== wq.gen || Atomics.load(i32, WQ(wq.id, WQS_STATE)) & WQSF_DESTROYED) {
    printk(KERN_ERR + `BUG: KASAN: slab-use-after-free in ${who}: workqueue '${wq.name}' was destroyed`);
    printk(KERN_ERR + dump_context());
    return false;
  }
  return true;
}

/**
 * flush_workqueue - wait until every item queued on `wq` before the call has
 * finished. Items queued meanwhile do not keep it waiting (flush colours).
 * Context: process context; sleeps. Not from an item of `wq` itself.
 */
export async function flush_workqueue(wq: WorkqueueStruct): Promise<void> {
  if (!might_sleep('flush_workqueue') || !wq_alive(wq, 'flush_workqueue')) return;
  if (is_chained_work(wq.id)) {
    report_self_wait(`flush_workqueue(${wq.name}) from an item of ${wq.name}`, 'flush_workqueue', `((wq_completion)${wq.name})`);
    return;
  }
  touch_wq_lockdep_map(wq);
  const mtx = wq_flush_mutex(wq.id);
  await mutex_lock(mtx);
  try {
    const old = Atomics.load(i32, WQ(wq.id, WQS_WORK_COLOR));
    Atomics.store(i32, WQ(wq.id, WQS_WORK_COLOR), old ^ 1);
    // flush_workqueue_prep_pwqs: under each pool's lock — which enters every
    // item pushed before (old colour) — items from now on get the new colour.
    for (const pwq of wq_pwqs(wq.id)) {
      const pool = i32[Q(pwq, PWQ_POOL)]!;
      const f = pool_lock(pool);
      i32[Q(pwq, PWQ_WORK_COLOR)] = old ^ 1;
      pool_unlock(pool, f);
    }
    if (in_flight(wq.id, old) !== 0) await wait_event(wq_flush_waitq(wq.id), () => in_flight(wq.id, old) === 0);
  } finally {
    mutex_unlock(mtx);
  }
}

/** flush_scheduled_work - flush system_wq (deprecated in the kernel). Context: process context. */
export function flush_scheduled_work(): Promise<void> {
  return flush_workqueue(system_wq);
}

function wq_drained(wqId: number): boolean {
  for (const pwq of wq_pwqs(wqId)) {
    const pool = i32[Q(pwq, PWQ_POOL)]!;
    const f = pool_lock(pool);
    const busy = i32[Q(pwq, PWQ_NR_ACTIVE)] !== 0 || i32[Q(pwq, PWQ_INACTIVE)] !== 0;
    pool_unlock(pool, f);
    if (busy) return false;
  }
  return true;
}

/**
 * drain_workqueue - flush `wq` until it is empty; meanwhile only its own
 * items may queue on it (chained work), anyone else gets a warning.
 * Context: process context; sleeps.
 */
export async function drain_workqueue(wq: WorkqueueStruct): Promise<void> {
  if (!might_sleep('drain_workqueue') || !wq_alive(wq, 'drain_workqueue')) return;
  const mtx = wq_flush_mutex(wq.id);
  await mutex_lock(mtx);
  if (i32[WQ(wq.id, WQS_NR_DRAINERS)]!++ === 0) Atomics.or(i32, WQ(wq.id, WQS_STATE), __WQ_DRAINING);
  mutex_unlock(mtx);
  for (let tries = 1; ; tries++) {
    await flush_workqueue(wq);
    if (wq_drained(wq.id)) break;
    if (tries === 10 || (tries % 100 === 0 && tries <= 1000))
      pr_warn(`workqueue ${wq.name}: drain_workqueue() isn't complete after ${tries} tries`);
  }
  await mutex_lock(mtx);
  if (--i32[WQ(wq.id, WQS_NR_DRAINERS)]! === 0) Atomics.and(i32, WQ(wq.id, WQS_STATE), ~__WQ_DRAINING);
  mutex_unlock(mtx);
}

/**
 * destroy_workqueue - drain `wq`, stop its rescuers and free it; the handle
 * is dead afterwards (queueing on it is a use-after-free report).
 * Context: process context; sleeps.
 */
export async function destroy_workqueue(wq: WorkqueueStruct): Promise<void> {
  if (!might_sleep('destroy_workqueue') || !wq_alive(wq, 'destroy_workqueue')) return;
  Atomics.or(i32, WQ(wq.id, WQS_STATE), __WQ_DESTROYING);
  await drain_workqueue(wq);
  for (const pwq of wq_pwqs(wq.id)) {
    if (i32[Q(pwq, PWQ_NR_ACTIVE)] !== 0 || i32[Q(pwq, PWQ_INACTIVE)] !== 0) {
      pr_err(`destroy_workqueue: ${wq.name} has the following busy pwq`);
      pr_err(`  pwq ${pwq}: active=${i32[Q(pwq, PWQ_NR_ACTIVE)]}`);
    }
  }
  Atomics.store(i32, WQ(wq.id, WQS_STATE), WQSF_DESTROYED);
  Atomics.add(i32, WQ(wq.id, WQS_GEN), 1);
  for (let c = 0; c < nrCpus; c++) {
    const pid = Atomics.load(i32, mem.pwq(wq.id, c, PWQ_RESCUER));
    if (pid !== 0) wakeUpPid(pid, c);
  }
}

function wq_format(fmt: string, args: unknown[]): string {
  let k = 0;
  return fmt.replace(/%[sdu]/g, () => String(args[k++]));
}

function pool_for(flags: number, cpu: number): number {
  if (flags & WQ_UNBOUND) return unbound_pool_id((flags & WQ_HIGHPRI) !== 0);
  return cpu_pool_id(cpu, (flags & WQ_HIGHPRI) !== 0, (flags & WQ_BH) !== 0);
}

function wq_init_locked(id: number, nameId: number, flags: number, maxActive: number, fresh: boolean): void {
  i32[WQ(id, WQS_FLAGS)] = flags;
  i32[WQ(id, WQS_NAME)] = nameId;
  i32[WQ(id, WQS_MAX_ACTIVE)] = maxActive;
  i32[WQ(id, WQS_NR_DRAINERS)] = 0;
  Atomics.store(i32, WQ(id, WQS_WORK_COLOR), 0);
  if (fresh) {
    i32[WQ(id, WQS_FLUSH_MUTEX)] = wait_object_alloc_locked(WO_KIND_MUTEX, nameId, 'a workqueue');
    i32[WQ(id, WQS_FLUSH_WAITQ)] = wait_object_alloc_locked(WO_KIND_WAITQ, nameId, 'a workqueue');
  }
  for (let c = 0; c < nrCpus; c++) {
    const pw = mem.pwq(id, c);
    for (let f = 0; f < PWQ_STRIDE; f++) if (f !== PWQ_RESCUER && f !== PWQ_RESCUER_WORKER) i32[pw + f] = 0;
    i32[pw + PWQ_POOL] = pool_for(flags, c);
    i32[pw + PWQ_WQ] = id;
    i32[pw + PWQ_MAX_ACTIVE] = maxActive;
  }
  Atomics.store(i32, WQ(id, WQS_STATE), 0);
}

/**
 * alloc_workqueue - a workqueue by name (the same on every CPU that allocates it).
 * @param fmt        its name (printf-style, %s %d %u), shown in kworker comms
 * @param flags      WQ_UNBOUND, WQ_HIGHPRI, WQ_MEM_RECLAIM, WQ_BH, WQ_CPU_INTENSIVE, ...
 * @param max_active items of this workqueue in flight per CPU (per pool for
 *                   an unbound one); 0 means WQ_DFL_ACTIVE; must be 0 with WQ_BH
 * @returns the workqueue, or null for flags the kernel refuses (with a warning).
 * Context: process context or module load. WQ_MEM_RECLAIM creates this
 * CPU's rescuer (kworker/R-<name>).
 */
export function alloc_workqueue(fmt: string, flags: number, max_active: number, ...args: unknown[]): WorkqueueStruct | null {
  const name = wq_format(fmt, args);
  if (name.length === 0) throw new KdeferError('alloc_workqueue: a workqueue needs a name');
  if (flags & WQ_BH) {
    if (WARN_ON_ONCE(flags & ~(__WQ_BH_ALLOWS | __WQ_ORDERED | __WQ_LEGACY), `alloc_workqueue(${name}): WQ_BH allows only WQ_HIGHPRI`))
      return null;
    if (WARN_ON_ONCE(max_active !== 0, `alloc_workqueue(${name}): a WQ_BH workqueue takes max_active 0`)) return null;
  }
  let active = flags & WQ_BH ? BH_MAX_ACTIVE : max_active || WQ_DFL_ACTIVE;
  if (!(flags & WQ_BH) && (active < 1 || active > WQ_MAX_ACTIVE)) {
    pr_warn(`workqueue: max_active ${active} requested for ${name} is out of range, clamping between 1 and ${WQ_MAX_ACTIVE}`);
    active = Math.max(1, Math.min(WQ_MAX_ACTIVE, active));
  }
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `wq:${name}`, (nid) => {
    const g = mem.wqGlobal(WQG_WQS_USED);
    const id = i32[g]!;
    if (id >= mem.g.maxWorkqueues)
      throw new KdeferError(`workqueue table full: maxWorkqueues=${mem.g.maxWorkqueues} (boot option maxWorkqueues)`);
    i32[g] = id + 1;
    i32[WQ(id, WQS_GEN)] = 1;
    wq_init_locked(id, nid, flags, active, true);
    return { value: id, size: 0 };
  });
  const id = e.value;
  if (!e.created) {
    const st = Atomics.load(i32, WQ(id, WQS_STATE));
    if (st & WQSF_DESTROYED) {
      // Allocated again after destroy_workqueue: a new generation of the slot.
      wq_init_locked(id, i32[WQ(id, WQS_NAME)]!, flags, active, false);
    } else if (i32[WQ(id, WQS_FLAGS)] !== flags || i32[WQ(id, WQS_MAX_ACTIVE)] !== active) {
      throw new KdeferError(
        `alloc_workqueue(${name}): already allocated with flags 0x${i32[WQ(id, WQS_FLAGS)]!.toString(16)} and max_active ${i32[WQ(id, WQS_MAX_ACTIVE)]}`,
      );
    }
  }
  const wq = wq_by_id(id);
  if (flags & WQ_MEM_RECLAIM) create_rescuer(id, name);
  return wq;
}

/**
 * alloc_ordered_workqueue - an unbound workqueue that runs at most one item
 * at a time, in queueing order (S-WQ-13).
 * Context: as alloc_workqueue.
 */
export function alloc_ordered_workqueue(fmt: string, flags: number, ...args: unknown[]): WorkqueueStruct | null {
  return alloc_workqueue(fmt, WQ_UNBOUND | __WQ_ORDERED | flags, 1, ...args);
}

/** create_workqueue - the legacy name: a per-CPU workqueue with a rescuer, max_active 1. */
export function create_workqueue(name: string): WorkqueueStruct | null {
  return alloc_workqueue('%s', __WQ_LEGACY | WQ_MEM_RECLAIM, 1, name);
}
/** create_singlethread_workqueue - the legacy name: an ordered workqueue with a rescuer. */
export function create_singlethread_workqueue(name: string): WorkqueueStruct | null {
  return alloc_ordered_workqueue('%s', __WQ_LEGACY | WQ_MEM_RECLAIM, name);
}

/** workqueue_set_max_active - change `wq`'s max_active (not for ordered ones). Context: process context. */
export function workqueue_set_max_active(wq: WorkqueueStruct, max_active: number): void {
  if (!wq_alive(wq, 'workqueue_set_max_active')) return;
  if (WARN_ON_ONCE(i32[WQ(wq.id, WQS_FLAGS)]! & (__WQ_ORDERED | WQ_BH), `workqueue_set_max_active(${wq.name}): ordered or BH workqueue`))
    return;
  const active = Math.max(1, Math.min(WQ_MAX_ACTIVE, max_active || WQ_DFL_ACTIVE));
  i32[WQ(wq.id, WQS_MAX_ACTIVE)] = active;
  for (const pwq of wq_pwqs(wq.id)) {
    const pool = i32[Q(pwq, PWQ_POOL)]!;
    const f = pool_lock(pool);
    i32[Q(pwq, PWQ_MAX_ACTIVE)] = active;
    // Activate what the new limit allows.
    for (
      let first = i32[Q(pwq, PWQ_INACTIVE)]! - 1;
      first >= 0 && i32[Q(pwq, PWQ_NR_ACTIVE)]! < active;
      first = i32[Q(pwq, PWQ_INACTIVE)]! - 1
    ) {
      work_list_del(first);
      Atomics.and(i32, W(first, WK_DATA), ~WORK_STRUCT_INACTIVE);
      pwq_note_active(pwq);
      work_list_add_tail(P(pool, PL_WORKLIST), first);
    }
    kick_pool(pool);
    pool_unlock(pool, f);
  }
}

/**
 * current_work - the work item the caller is executing (a kworker, or BH
 * work in softirq context), null otherwise.
 * Context: any.
 */
export function current_work(): WorkStruct | null {
  if (in_serving_softirq()) return bhCurrent;
  const t = current;
  if (t === null || !(t.flags & PF_WQ_WORKER) || !in_task()) return null;
  const lw = t.private_data as LocalWorker | null;
  return lw ? lw.current : null;
}

/** current_is_workqueue_rescuer - whether the caller is a rescuer. */
export function current_is_workqueue_rescuer(): boolean {
  const t = current;
  if (t === null || !(t.flags & PF_WQ_WORKER)) return false;
  const lw = t.private_data as LocalWorker | null;
  return lw !== null && lw.rescueWq >= 0;
}

// ------------------------------------------------------------ the system workqueues (S-WQ-14)

/** "events": bound, for short items; schedule_work() queues here. */
export let system_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_highpri": the highpri pools. */
export let system_highpri_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_long": bound, for items that may run long. */
export let system_long_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_unbound": the unbound pool, max_active WQ_MAX_ACTIVE. */
export let system_unbound_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_freezable". */
export let system_freezable_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_power_efficient" (bound: wq_power_efficient is off). */
export let system_power_efficient_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_bh": BH items run in TASKLET_SOFTIRQ on the queueing CPU. */
export let system_bh_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;
/** "events_bh_highpri": BH items in HI_SOFTIRQ. */
export let system_bh_highpri_wq: WorkqueueStruct = undefined as unknown as WorkqueueStruct;

// ------------------------------------------------------------ host side: `ps` for kworkers

export interface WorkerInfo {
  pid: number;
  cpu: number;
  /** comm as /proc shows it: "kworker/0:1+events" while executing an item of "events", "-events" after */
  comm: string;
  state: 'idle' | 'running' | 'sleeping';
  /** the work item executing now, null when none */
  work: string | null;
  /** its workqueue (or the last one) */
  wq: string | null;
  items: number;
  rescuer: boolean;
}

export interface PoolInfo {
  id: number;
  /** -1 for an unbound pool */
  cpu: number;
  highpri: boolean;
  bh: boolean;
  nrWorkers: number;
  nrIdle: number;
  nrRunning: number;
  /** items on the worklist */
  pending: number;
  started: number;
  cmWakeups: number;
  maydays: number;
  workers: WorkerInfo[];
}

/**
 * Read the worker pools and their kworkers from a machine's memory (host
 * side). BH pools list no worker (the softirq is theirs); rescuers are
 * listed with the pool they serve now, or with their CPU's normal pool.
 */
export function readWorkers(m: Mem): PoolInfo[] {
  const a = m.i32;
  const pools: PoolInfo[] = [];
  const nPools = m.nrPools();
  for (let p = 0; p < nPools; p++) {
    let pending = 0;
    for (let w = Atomics.load(a, m.pool(p, PL_WORKLIST)); w !== 0 && pending < m.g.maxWorks; w = a[m.work(w - 1, WK_NEXT)]!) pending++;
    for (let w = Atomics.load(a, m.pool(p, PL_INBOUND)); w !== 0 && pending < m.g.maxWorks; w = a[m.work(w - 1, WK_INEXT)]!) pending++;
    pools.push({
      id: a[m.pool(p, PL_ID)]!,
      cpu: a[m.pool(p, PL_CPU)]!,
      highpri: a[m.pool(p, PL_NICE)]! < 0,
      bh: (a[m.pool(p, PL_FLAGS)]! & POOL_BH) !== 0,
      nrWorkers: a[m.pool(p, PL_NR_WORKERS)]!,
      nrIdle: a[m.pool(p, PL_NR_IDLE)]!,
      nrRunning: Atomics.load(a, m.pool(p, PL_NR_RUNNING)),
      pending,
      started: Atomics.load(a, m.pool(p, PL_NR_STARTED)),
      cmWakeups: Atomics.load(a, m.pool(p, PL_NR_CM_WAKEUPS)),
      maydays: Atomics.load(a, m.pool(p, PL_NR_MAYDAYS)),
      workers: [],
    });
  }
  const wqName = (id: number): string => strip(name_of(m, a[m.wq(id, WQS_NAME)]!));
  for (let wk = 0; wk < m.g.maxWorkers; wk++) {
    const st = Atomics.load(a, m.worker(wk, WR_STATE));
    if (st !== WRS_WORKER && st !== WRS_RESCUER) continue;
    const pid = a[m.worker(wk, WR_PID)]!;
    if (pid === 0) continue;
    const flags = a[m.worker(wk, WR_FLAGS)]!;
    const cur = a[m.worker(wk, WR_CURRENT_WORK)]! - 1;
    const curPwq = a[m.worker(wk, WR_CURRENT_PWQ)]! - 1;
    const last = a[m.worker(wk, WR_LAST_WQ)]! - 1;
    const wq = curPwq >= 0 ? wqName(a[m.pwqById(curPwq, PWQ_WQ)]!) : last >= 0 ? wqName(last) : null;
    const base = commOfPid(m, pid);
    const info: WorkerInfo = {
      pid,
      cpu: a[m.worker(wk, WR_CPU)]!,
      comm: wq === null ? base : `${base}${cur >= 0 ? '+' : '-'}${wq}`,
      state:
        cur < 0 && (flags & WORKER_IDLE || st === WRS_RESCUER)
          ? 'idle'
          : Atomics.load(a, m.worker(wk, WR_SLEEPING)) === 1 || (cur >= 0 && task_sleeping(m, a[m.worker(wk, WR_SLOT)]!, pid))
            ? 'sleeping'
            : 'running',
      work: cur >= 0 ? strip(name_of(m, a[m.work(cur, WK_NAME)]!)) || `work#${cur}` : null,
      wq,
      items: a[m.worker(wk, WR_ITEMS)]!,
      rescuer: st === WRS_RESCUER,
    };
    let pool = a[m.worker(wk, WR_POOL)]!;
    if (pool < 0) pool = cpu_pool_id_m(info.cpu);
    pools[pool]?.workers.push(info);
  }
  for (const p of pools) p.workers.sort((x, y) => x.pid - y.pid);
  return pools;
}

const cpu_pool_id_m = (cpu: number): number => cpu * WQ_POOLS_PER_CPU + 2;

function task_sleeping(m: Mem, slot: number, pid: number): boolean {
  return Atomics.load(m.i32, m.task(slot, TK_PID)) === pid && m.i32[m.task(slot, TK_STATE)] !== 0;
}

// ------------------------------------------------------------ init

/**
 * workqueue_init_early - host side, once per machine: the pools' identities
 * (per CPU: BH, BH highpri, normal, highpri; then the unbound pools) and the
 * workqueue globals.
 */
export function workqueue_init_early(m: Mem, idleTimeoutMs = 0): void {
  const a = m.i32;
  a[m.wqGlobal(WQG_IDLE_TIMEOUT_MS)] = idleTimeoutMs > 0 ? idleTimeoutMs : IDLE_WORKER_TIMEOUT_MS;
  a[m.wqGlobal(WQG_WAITOBJ_USED)] = WAITOBJ_RESERVED;
  const cpus = m.g.cpus;
  for (let p = 0; p < cpus * WQ_POOLS_PER_CPU + WQ_UNBOUND_POOLS; p++) {
    const unbound = p >= cpus * WQ_POOLS_PER_CPU;
    const k = unbound ? p - cpus * WQ_POOLS_PER_CPU : p % WQ_POOLS_PER_CPU;
    a[m.pool(p, PL_ID)] = p;
    a[m.pool(p, PL_CPU)] = unbound ? -1 : Math.floor(p / WQ_POOLS_PER_CPU);
    a[m.pool(p, PL_NICE)] = (unbound ? k === 1 : (k & 1) === 1) ? HIGHPRI_NICE_LEVEL : 0;
    a[m.pool(p, PL_FLAGS)] = !unbound && k < 2 ? POOL_BH : 0;
  }
  for (let q = 0; q < WAITOBJ_RESERVED; q++) a[m.waitObj(q, WO_KIND)] = WO_KIND_WAITQ;
}

/**
 * workqueue_init - this CPU's part: the scheduler hooks of concurrency
 * management, the BH hook in the tasklet softirqs, the system workqueues,
 * the BH pseudo-workers, and the first kworker of each pool this CPU serves.
 */
export function workqueue_init_cpu(): void {
  i32 = smp_i32;
  maxWorks = mem.g.maxWorks;
  tracing = tracing_on();
  WB = mem.r.workBase;
  works = new SlotTable({
    what: 'work',
    size: 'maxWorks',
    word: (m, id, f) => m.work(id, f),
    claim: WK_FLAGS,
    taken: WKF_ALLOCATED,
    owner: WK_OWNER,
    used: mem.wqGlobal(WQG_WORKS_USED),
    full: (n) => `work table full: maxWorks=${n} work items exist (boot option maxWorks)`,
  });
  PB = mem.r.poolBase;
  QB = mem.r.pwqBase;
  RB = mem.r.workerBase;
  idleTimeoutJiffies = msecs_to_jiffies(i32[mem.wqGlobal(WQG_IDLE_TIMEOUT_MS)]! || IDLE_WORKER_TIMEOUT_MS);
  sched_set_wq_worker_hooks(wq_worker_sleeping, wq_worker_running);
  registerUpcalls({ bhWork: workqueue_softirq_action });
  registerFieldKind('work_struct', {
    accessor: 'work',
    alloc: (owner, classId) => work_slot_alloc_owned(owner, classId),
    release: work_slot_release,
    lookup: (id, obj, field, freed) => work_by_id(embedded_work_id(id, obj, field, freed, 'work_struct')),
    className: (struct, field) => `&${struct}->${field}`,
  });
  registerFieldKind('delayed_work', {
    accessor: 'dwork',
    alloc: dwork_slot_alloc_owned,
    release: work_slot_release,
    lookup: (id, obj, field, freed) => dwork_by_id(embedded_work_id(id, obj, field, freed, 'delayed_work')),
    className: (struct, field) => `&(&${struct}->${field})->work`,
  });
  registerFunction('kernel.workqueue.delayed_work_timer_fn', delayed_work_timer_fn as (...a: never[]) => unknown);
  const kickFid = registerFunction('kernel.workqueue.bh_pool_kick', bh_pool_kick_fn as (...a: never[]) => unknown);
  system_wq = alloc_workqueue('events', 0, 0)!;
  system_highpri_wq = alloc_workqueue('events_highpri', WQ_HIGHPRI, 0)!;
  system_long_wq = alloc_workqueue('events_long', 0, 0)!;
  system_unbound_wq = alloc_workqueue('events_unbound', WQ_UNBOUND, WQ_MAX_ACTIVE)!;
  system_freezable_wq = alloc_workqueue('events_freezable', WQ_FREEZABLE, 0)!;
  system_power_efficient_wq = alloc_workqueue('events_power_efficient', WQ_POWER_EFFICIENT, 0)!;
  system_bh_wq = alloc_workqueue('events_bh', WQ_BH, 0)!;
  system_bh_highpri_wq = alloc_workqueue('events_bh_highpri', WQ_BH | WQ_HIGHPRI, 0)!;
  bhKickWorks = [];
  for (let c = 0; c < nrCpus; c++) bhKickWorks.push(work_by_id(declare_work(`kernel.bh_kick/${c}`, kickFid, false, 'workqueue_init')));
  bhWorker = [];
  for (const hi of [false, true]) {
    const pool = cpu_pool_id(cpuId, hi, true);
    const wk = worker_slot_alloc(WRS_BH);
    if (wk < 0) throw new KdeferError(`workqueue_init: worker table full (boot option maxWorkers)`);
    i32[R(wk, WR_POOL)] = pool;
    i32[R(wk, WR_CPU)] = cpuId;
    i32[R(wk, WR_FLAGS)] = WORKER_PREP;
    const f = pool_lock(pool);
    i32[P(pool, PL_NR_WORKERS)] = 1;
    worker_enter_idle(wk, pool);
    pool_unlock(pool, f);
    bhWorker.push(wk);
  }
  for (const pool of [cpu_pool_id(cpuId, false, false), cpu_pool_id(cpuId, true, false), unbound_pool_id(false), unbound_pool_id(true)]) {
    if (create_worker(pool) < 0)
      throw new KdeferError(`workqueue_init: could not create the first kworker of pool ${pool} on CPU ${cpuId}`);
  }
}
