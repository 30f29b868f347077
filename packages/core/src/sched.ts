/**
 * sched.ts — process context: tasks and the per-CPU runqueue.
 *
 * Follows kernel/sched/core.c (schedule, wake_up_process, cond_resched,
 * __schedule_bug, __might_resched) and kernel/kthread.c; the CPU loop that
 * runs the queue (kernel/sched/idle.c's do_idle) is sched/idle.ts. A task
 * is an async function; it runs until it awaits a kernel primitive
 * (schedule, cond_resched, msleep, ...), which hands control back to this
 * CPU's loop. The loop resumes a task by resolving a promise only it holds
 * (runTask), and waits for the task to yield again.
 *
 * Differs from Linux:
 * - no preemption of a running task: a task switches only where it awaits a
 *   kernel primitive (interrupts still land at every preemption point).
 * - tasks never migrate; every task is bound to the CPU that created it.
 * - the run queue is FIFO (all tasks have the same priority).
 * - a task must only await kernel primitives; a foreign promise (a file, a
 *   Node timer) must be wrapped in awaitHost(), or the CPU stalls: an
 *   unwrapped one is detected and reported, and the task is parked.
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  PC_CURRENT_PID,
  PC_NR_RUNNING,
  PC_NEED_RESCHED,
  PC_IDLE,
  PC_CONTROL_HOST,
  PC_CTXSW,
  PC_PREEMPT_COUNT,
  PC_IRQS_DISABLED,
  PC_WAKE_RING,
  WAKE_RING_SIZE,
  REQ_RESCHED,
  H_NEXT_PID,
  H_AMPLIFY,
  H_SEED,
  TK_PID,
  TK_CPU,
  TK_STATE,
  TK_FLAGS,
  TK_COMM,
  TK_WCHAN,
  TK_NVCSW,
  TASK_COMM_BYTES,
  putString,
  getString,
} from './layout.js';
import { setCurrentTask, commBytesLen, commOfPid, current_comm } from './sched/task.js';
// Re-exported: the scheduler's face still offers the task table's readers.
export { commOfPid, current_comm };
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, entry_work_pending } from './entry.js';
import { det_on } from './det.js';
import { KdeferError } from './module.js';
import { SlotTable } from './slot.js';
import { upcalls, upcallChains, registerUpcalls } from './upcall.js';
import { printk, KERN_ERR, KERN_WARNING, KernelHalt, dump_context, callerName, call_trace } from './printk.js';
import { interrupt_context_level, context_name, in_atomic, irqs_disabled, preempt_count } from './preempt.js';
import { trace_event, TP_SCHED_SWITCH } from './trace.js';
import { lockdep_switch_in, lockdep_switch_out } from './lockdep.js';
import { touch_softlockup_watchdog, report_hung_task, hung_task_ms } from './watchdog.js';
import { get_jiffies_64, ms_until_jiffy, msecs_to_jiffies } from './tick.js';

export const TASK_RUNNING = 0x0000;
export const TASK_INTERRUPTIBLE = 0x0001;
export const TASK_UNINTERRUPTIBLE = 0x0002;
export const TASK_DEAD = 0x0080;
export const TASK_NOLOAD = 0x0400;
export const TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
export const MAX_SCHEDULE_TIMEOUT = Number.MAX_SAFE_INTEGER;

export const PF_WQ_WORKER = 0x00000020;
export const PF_KTHREAD = 0x00200000;

/** A task: an async function bound to this CPU. */
export class TaskStruct {
  state = TASK_RUNNING;
  /** resolves the task's pending await (held by the scheduler) */
  resume: ((v: unknown) => void) | null = null;
  onRq = false;
  shouldStop = false;
  /** awaitHost() in flight */
  foreign = false;
  /** set by a timed sleep when its time ran out */
  timedOut = false;
  sleepUntil = 0;
  /** clock_now() when it went to sleep in TASK_UNINTERRUPTIBLE (hung task detector), 0 awake */
  blockedSince = 0;
  hungReported = false;
  /** the validator's held locks of this task while it is switched out */
  lockdepHeld: Int32Array | null = null;
  result: unknown = undefined;
  error: unknown = undefined;
  exited = false;
  /** for the workqueue and others: anything the task's owner hangs on it */
  private_data: unknown = null;
  readonly exitWaiters: ((t: TaskStruct) => void)[] = [];

  constructor(
    readonly pid: number,
    readonly slot: number,
    public comm: string,
    readonly cpu: number,
    readonly flags: number,
    readonly fn: (data: unknown) => unknown,
    readonly data: unknown,
  ) {}
}
export type task_struct = TaskStruct;

// ------------------------------------------------------------ per-CPU scheduler state

const runqueue: TaskStruct[] = [];
const tasks = new Map<number, TaskStruct>();
const sleepers = new Set<TaskStruct>();
/** The running task; null while the idle task (swapper/N) runs. */
export let current: TaskStruct | null = null;
let yieldSignal: ((why: string) => void) | null = null;
let foreignPending = 0;
let detectorArmed = false;

// ------------------------------------------------------------ the task table (shared: `ps`)

function set_task_state(t: TaskStruct, s: number): void {
  t.state = s;
  i32[mem.task(t.slot, TK_STATE)] = s;
}

/** The shared task table's slots (slot.ts): claimed through TK_PID (-1 while being filled, then the pid). */
const taskTable = new SlotTable({ what: 'task', size: 'maxTasks', word: (m, id, f) => m.task(id, f), claim: TK_PID, taken: -1 });

function task_table_alloc(pid: number, comm: string, flags: number): number {
  const m = mem;
  const s = taskTable.alloc(0, (s) => {
    m.i32[m.task(s, TK_CPU)] = cpuId;
    m.i32[m.task(s, TK_STATE)] = TASK_RUNNING;
    m.i32[m.task(s, TK_FLAGS)] = flags;
    m.i32[m.task(s, TK_WCHAN)] = 0;
    m.i32[m.task(s, TK_NVCSW)] = 0;
    m.u8.fill(0, m.task(s, TK_COMM) * 4, m.task(s, TK_COMM) * 4 + TASK_COMM_BYTES);
    putString(m, m.task(s, TK_COMM), comm, TASK_COMM_BYTES);
  });
  Atomics.store(m.i32, m.task(s, TK_PID), pid);
  return s;
}

/** Change a task's comm (kworker names change as they run work). */
export function set_task_comm(t: TaskStruct, comm: string): void {
  t.comm = comm;
  mem.u8.fill(0, mem.task(t.slot, TK_COMM) * 4, mem.task(t.slot, TK_COMM) * 4 + TASK_COMM_BYTES);
  putString(mem, mem.task(t.slot, TK_COMM), comm, TASK_COMM_BYTES);
}

export interface ThreadInfo {
  pid: number;
  cpu: number;
  comm: string;
  /** ps STAT letter: R running/runnable, S interruptible sleep, D uninterruptible, I idle kthread */
  state: string;
  kthread: boolean;
}

/** Read the task table (host side too). */
export function readTasks(m: Mem): ThreadInfo[] {
  const out: ThreadInfo[] = [];
  for (let s = 0; s < m.g.maxTasks; s++) {
    const pid = Atomics.load(m.i32, m.task(s, TK_PID));
    if (pid <= 0) continue;
    const st = m.i32[m.task(s, TK_STATE)]!;
    const flags = m.i32[m.task(s, TK_FLAGS)]!;
    const w = m.task(s, TK_COMM);
    out.push({
      pid,
      cpu: m.i32[m.task(s, TK_CPU)]!,
      comm: getString(m, w, commBytesLen(m, w)),
      state: st === TASK_RUNNING ? 'R' : st === TASK_IDLE ? 'I' : st & TASK_UNINTERRUPTIBLE ? 'D' : 'S',
      kthread: (flags & PF_KTHREAD) !== 0,
    });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

export function current_pid(): number {
  return current ? current.pid : 0;
}
/** get_current - the running task (null: the idle task). */
export function get_current(): TaskStruct | null {
  return current;
}

// ------------------------------------------------------------ creating and waking

/**
 * kthread_create_on_cpu - create a kernel thread bound to `cpu`, stopped
 * (wake it with wake_up_process).
 * @param threadfn its body; an async function returning its exit code
 * @param data     passed to threadfn
 * @param cpu      must be this CPU in kdefer (functions cannot cross threads)
 * @param namefmt  its comm; "%u" is replaced by the CPU number
 * Context: process context or init.
 */
export function kthread_create_on_cpu(threadfn: (data: unknown) => unknown, data: unknown, cpu: number, namefmt: string): TaskStruct {
  if (cpu !== cpuId) {
    throw new KdeferError(
      `kthread_create_on_cpu(${namefmt}): kdefer creates a kthread only on the calling CPU (${cpuId}), not on CPU ${cpu}`,
    );
  }
  return create_task(threadfn, data, namefmt.replace('%u', String(cpu)).replace('%d', String(cpu)), PF_KTHREAD, false);
}

/** kthread_create - a kthread on this CPU, stopped. */
export function kthread_create(threadfn: (data: unknown) => unknown, data: unknown, namefmt: string): TaskStruct {
  return create_task(threadfn, data, namefmt, PF_KTHREAD, false);
}

/** kthread_run - create a kthread on this CPU and wake it. */
export function kthread_run(threadfn: (data: unknown) => unknown, data: unknown, namefmt: string): TaskStruct {
  return create_task(threadfn, data, namefmt, PF_KTHREAD, true);
}

/** A task for a host call (a user process, not a kthread). */
export function create_task(fn: (data: unknown) => unknown, data: unknown, comm: string, flags: number, wake: boolean): TaskStruct {
  const pid = Atomics.add(i32, H_NEXT_PID, 1);
  const slot = task_table_alloc(pid, comm, flags);
  const t = new TaskStruct(pid, slot, comm, cpuId, flags, fn, data);
  tasks.set(pid, t);
  set_task_state(t, TASK_UNINTERRUPTIBLE); // stopped until woken
  void task_main(t);
  if (wake) wake_up_process(t);
  return t;
}

async function task_main(t: TaskStruct): Promise<void> {
  await new Promise((r) => (t.resume = r));
  try {
    t.result = await t.fn(t.data);
  } catch (e) {
    t.error = e;
    if (!(e instanceof KernelHalt)) {
      printk(
        KERN_ERR +
          `kdefer: task ${t.comm}/${t.pid} on CPU#${cpuId} ended with ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      );
    }
  } finally {
    task_exit(t);
  }
}

function task_exit(t: TaskStruct): void {
  if (current === t && !(t.error instanceof KernelHalt)) {
    // do_exit's checks: a task must not leave atomic state behind it.
    if (irqs_disabled()) {
      printk(KERN_ERR + `note: ${t.comm}[${t.pid}] exited with irqs disabled`);
      i32[PCB + PC_IRQS_DISABLED] = 0;
    }
    if (preempt_count() !== 0) {
      printk(KERN_ERR + `note: ${t.comm}[${t.pid}] exited with preempt_count ${preempt_count()}`);
      i32[PCB + PC_PREEMPT_COUNT] = 0;
    }
  }
  t.exited = true;
  set_task_state(t, TASK_DEAD);
  tasks.delete(t.pid);
  sleepers.delete(t);
  taskTable.release(t.slot);
  for (const w of t.exitWaiters.splice(0)) w(t);
  if (current === t) signal_scheduler(t.error instanceof KernelHalt ? 'halt' : 'exit');
}

/** Wait (host-call side) for a task to exit; resolves with it. */
export function task_on_exit(t: TaskStruct, cb: (t: TaskStruct) => void): void {
  if (t.exited) cb(t);
  else t.exitWaiters.push(cb);
}

/**
 * wake_up_process - make `t` runnable.
 * @returns true if it was woken, false if it was already running.
 * Context: any (tasks on other CPUs are woken through wakeUpPid).
 */
export function wake_up_process(t: TaskStruct): boolean {
  if (t.exited) return false;
  if (t.cpu !== cpuId) return wakeUpPid(t.pid);
  if (t.state === TASK_RUNNING) return false;
  set_task_state(t, TASK_RUNNING);
  t.blockedSince = 0;
  sleepers.delete(t);
  if (t !== current && !t.onRq) enqueue(t);
  return true;
}

function enqueue(t: TaskStruct): void {
  t.onRq = true;
  runqueue.push(t);
  i32[PCB + PC_NR_RUNNING] = runqueue.length;
  if (current !== null && current !== t) Atomics.store(i32, PCB + PC_NEED_RESCHED, 1);
  // Woken from this thread's event loop while the CPU is parked (awaitHost):
  // ring our own doorbell.
  if (i32[PCB + PC_IDLE] === 1) kick_cpu(mem, cpuId, 0);
}

/**
 * Wake the task `pid`, wherever it runs: on this CPU directly, on another
 * through its wake ring and a rescheduling IPI.
 * @param cpuHint the task's CPU when the caller knows it (saves a scan of the task table)
 */
export function wakeUpPid(pid: number, cpuHint?: number): boolean {
  const local = tasks.get(pid);
  if (local) return wake_up_process(local);
  const cpu = cpuHint ?? cpuOfPid(mem, pid);
  if (cpu === cpuId) return false; // exited
  if (cpu < 0) return false;
  const base = mem.cpu(cpu, PC_WAKE_RING);
  for (let spins = 0; ; spins++) {
    for (let k = 0; k < WAKE_RING_SIZE; k++) {
      if (Atomics.compareExchange(i32, base + k, 0, pid) === 0) {
        kick_cpu(mem, cpu, REQ_RESCHED);
        return true;
      }
    }
    preempt_point();
    if (spins > 1e6) throw new KdeferError(`wakeUpPid(${pid}): CPU ${cpu}'s wake ring stays full`);
  }
}

export function cpuOfPid(m: Mem, pid: number): number {
  for (let s = 0; s < m.g.maxTasks; s++) if (Atomics.load(m.i32, m.task(s, TK_PID)) === pid) return m.i32[m.task(s, TK_CPU)]!;
  return -1;
}

/** The rescheduling IPI: pull remote wake-ups (entry.ts calls it). */
export function sched_ipi(): void {
  const base = PCB + PC_WAKE_RING;
  for (let k = 0; k < WAKE_RING_SIZE; k++) {
    if (Atomics.load(i32, base + k) === 0) continue;
    const pid = Atomics.exchange(i32, base + k, 0);
    const t = tasks.get(pid);
    if (t) wake_up_process(t);
  }
}

/** set_current_state - the state the next schedule() sleeps in. Context: process context. */
export function set_current_state(state: number): void {
  if (current) set_task_state(current, state);
}
export const __set_current_state = set_current_state;

export function task_is_running(t: TaskStruct): boolean {
  return t.state === TASK_RUNNING;
}

// ------------------------------------------------------------ sleeping

// Concurrency management (workqueue.ts): told when a kworker (PF_WQ_WORKER)
// goes to sleep and when it runs again, as wq_worker_sleeping() and
// wq_worker_running() are by the kernel's scheduler, through the upcall
// table (upcalls.wqWorkerSleeping / wqWorkerRunning).
/**
 * sched_set_wq_worker_hooks - kdefer: register concurrency management's
 * hooks. A shim over registerUpcalls({ wqWorkerSleeping, wqWorkerRunning }),
 * kept until workqueue_init registers them there itself.
 * @param sleeping - wq_worker_sleeping.
 * @param running - wq_worker_running.
 * Context: CPU init.
 * @deprecated call registerUpcalls({ wqWorkerSleeping, wqWorkerRunning }) (upcall.ts).
 */
export function sched_set_wq_worker_hooks(sleeping: (t: TaskStruct) => void, running: (t: TaskStruct) => void): void {
  registerUpcalls({ wqWorkerSleeping: sleeping, wqWorkerRunning: running });
}

function signal_scheduler(why: string): void {
  const s = yieldSignal;
  yieldSignal = null;
  if (s) s(why);
}

function sleep_point(who: string): TaskStruct {
  const t = current;
  if (t === null) {
    throw new KdeferError(
      `${who}: not called from a kdefer task (from a hardirq/softirq handler, or from code resumed by a promise that is not a kernel primitive: wrap it in awaitHost())`,
    );
  }
  return t;
}

/**
 * schedule - give up the CPU. A task whose state is not TASK_RUNNING sleeps
 * until woken; a running one goes to the back of the run queue.
 * Context: process context with preempt_count 0 and interrupts on; called
 * in atomic context it reports "BUG: scheduling while atomic" and returns
 * without sleeping.
 */
export function schedule(): Promise<void> {
  preempt_point();
  touch_softlockup_watchdog();
  if (current === null || preempt_count() !== 0 || irqs_disabled()) {
    __schedule_bug();
    return Promise.resolve();
  }
  upcalls.schedule();
  const t = current;
  if ((t.flags & PF_WQ_WORKER) !== 0 && t.state !== TASK_RUNNING) upcalls.wqWorkerSleeping(t);
  return new Promise<void>((res) => {
    t.resume = res as (v: unknown) => void;
    signal_scheduler('yield');
  });
}

let lastScheduleBug = -Infinity;
/** "BUG: scheduling while atomic: comm/pid/0x%08x" */
export function __schedule_bug(): void {
  const c = preempt_count();
  printk(KERN_ERR + `BUG: scheduling while atomic: ${current_comm()}/${current_pid()}/0x${(c >>> 0).toString(16).padStart(8, '0')}`);
  printk(KERN_ERR + dump_context());
  if (clock_now() - lastScheduleBug > 1000) {
    lastScheduleBug = clock_now();
    printk(KERN_ERR + 'Call Trace:');
    for (const l of call_trace(undefined, 6)) printk(KERN_ERR + l);
  }
}

let lastMightSleep = -Infinity;
/**
 * might_sleep - report "BUG: sleeping function called from invalid context"
 * when the caller may not sleep. Rate-limited to once per second.
 * @returns true if sleeping is allowed here.
 */
export function might_sleep(what = callerName(2)): boolean {
  const ok = current !== null && preempt_count() === 0 && !irqs_disabled();
  if (ok) return true;
  const now = clock_now();
  if (now - lastMightSleep < 1000) return false;
  lastMightSleep = now;
  printk(KERN_ERR + `BUG: sleeping function called from invalid context at ${what}`);
  printk(
    KERN_ERR +
      `in_atomic(): ${in_atomic() ? 1 : 0}, irqs_disabled(): ${irqs_disabled() ? 1 : 0}, non_block: 0, pid: ${current_pid()}, name: ${current_comm()}`,
  );
  printk(KERN_ERR + `preempt_count: ${(preempt_count() >>> 0).toString(16)}, expected: 0`);
  printk(KERN_ERR + dump_context());
  printk(KERN_ERR + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_ERR + l);
  return false;
}

/**
 * cond_resched - let other runnable tasks of this CPU run, if any.
 * Context: process context (a no-op elsewhere).
 */
export function cond_resched(): Promise<void> {
  preempt_point();
  touch_softlockup_watchdog();
  if (current === null || preempt_count() !== 0) return Promise.resolve();
  if (runqueue.length === 0 && Atomics.load(i32, PCB + PC_CONTROL_HOST) === 0 && foreignPending === 0 && !entry_work_pending()) {
    return Promise.resolve();
  }
  return schedule();
}

/** yield - give the CPU to the next runnable task. */
export function sched_yield(): Promise<void> {
  return schedule();
}

/**
 * schedule_timeout - sleep until woken or `timeout` jiffies pass.
 * Set the task state first (set_current_state), as in the kernel.
 * @returns the jiffies left (0 when it timed out).
 * Context: process context.
 */
export async function schedule_timeout(timeout: number): Promise<number> {
  const t = sleep_point('schedule_timeout');
  if (timeout >= MAX_SCHEDULE_TIMEOUT) {
    await schedule();
    return MAX_SCHEDULE_TIMEOUT;
  }
  const expire = get_jiffies_64() + Math.max(0, timeout);
  t.sleepUntil = expire;
  t.timedOut = false;
  if (t.state !== TASK_RUNNING) sleepers.add(t);
  await schedule();
  sleepers.delete(t);
  const left = expire - get_jiffies_64();
  return left > 0 ? left : 0;
}

export async function schedule_timeout_uninterruptible(timeout: number): Promise<number> {
  set_current_state(TASK_UNINTERRUPTIBLE);
  return schedule_timeout(timeout);
}
export async function schedule_timeout_interruptible(timeout: number): Promise<number> {
  set_current_state(TASK_INTERRUPTIBLE);
  return schedule_timeout(timeout);
}

/**
 * msleep - sleep at least `msecs` milliseconds (msecs_to_jiffies(msecs) + 1 jiffies).
 * Context: process context; from atomic context it reports and does not sleep.
 */
export async function msleep(msecs: number): Promise<void> {
  if (!might_sleep('msleep')) return;
  let timeout = msecs_to_jiffies(msecs) + 1;
  while (timeout > 0) timeout = await schedule_timeout_uninterruptible(timeout);
}

/**
 * awaitHost - kdefer: park the calling task until a promise that is not a
 * kernel primitive (a file read, a host timer) settles, letting the CPU run
 * other work meanwhile.
 * Context: process context.
 */
export async function awaitHost<T>(p: PromiseLike<T>): Promise<T> {
  const t = sleep_point('awaitHost');
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  let settled = false;
  foreignPending++;
  t.foreign = true;
  Promise.resolve(p)
    .then(
      (v) => {
        value = v;
        settled = true;
      },
      (e: unknown) => {
        error = e;
        failed = true;
        settled = true;
      },
    )
    .finally(() => {
      foreignPending--;
      t.foreign = false;
      wake_up_process(t);
    });
  while (!settled) {
    set_current_state(TASK_UNINTERRUPTIBLE);
    await schedule();
  }
  set_current_state(TASK_RUNNING);
  if (failed) throw error;
  return value as T;
}

// ------------------------------------------------------------ kthread control

/** kthread_should_stop - whether kthread_stop() was called on the current kthread. */
export function kthread_should_stop(): boolean {
  return current !== null && current.shouldStop;
}

/**
 * kthread_stop - ask `t` to stop (kthread_should_stop() turns true), wake
 * it, and wait for it to exit.
 * @returns the thread's exit value.
 * Context: process context.
 */
export async function kthread_stop(t: TaskStruct): Promise<unknown> {
  const me = sleep_point('kthread_stop');
  t.shouldStop = true;
  wake_up_process(t);
  while (!t.exited) {
    let done = false;
    task_on_exit(t, () => {
      done = true;
      wake_up_process(me);
    });
    if (done) break;
    set_current_state(TASK_UNINTERRUPTIBLE);
    await schedule();
  }
  return t.result;
}

// ------------------------------------------------------------ the context switch

// The CPU loop itself (cpu_startup_entry, the idle wait) is in sched/idle.ts,
// as kernel/sched/idle.c is apart from core.c; it drives the run queue
// through the few functions below.

/** The next runnable task, taken off the run queue (undefined: none). */
export function pickNextTask(): TaskStruct | undefined {
  return runqueue.shift();
}

/** How many tasks wait on this CPU's run queue. */
export function nrRunning(): number {
  return runqueue.length;
}

/** How many host operations (awaitHost, a module import) are in flight on this CPU. */
export function foreignInFlight(): number {
  return foreignPending;
}

/** Run task `t` until it yields or exits (the context switch to it and back). */
export async function runTask(t: TaskStruct): Promise<void> {
  t.onRq = false;
  i32[PCB + PC_NR_RUNNING] = runqueue.length;
  trace_event(TP_SCHED_SWITCH, 0, t.pid);
  current = t;
  setCurrentTask(t);
  i32[PCB + PC_CURRENT_PID] = t.pid;
  Atomics.store(i32, PCB + PC_NEED_RESCHED, 0);
  i32[PCB + PC_CTXSW]!++;
  i32[mem.task(t.slot, TK_NVCSW)]!++;
  const yielded = new Promise<string>((r) => (yieldSignal = r));
  if (!detectorArmed) {
    detectorArmed = true;
    setImmediate(foreign_await_detector);
  }
  const resume = t.resume;
  t.resume = null;
  if ((t.flags & PF_WQ_WORKER) !== 0) upcalls.wqWorkerRunning(t);
  lockdep_switch_in(t.lockdepHeld);
  t.lockdepHeld = null;
  if (resume) resume(undefined);
  const why = await yielded;
  t.lockdepHeld = lockdep_switch_out();
  trace_event(TP_SCHED_SWITCH, t.pid, 0);
  clearCurrent();
  if (why === 'halt') throw new KernelHalt('task halted');
  if (why === 'yield' && !t.exited && t.state === TASK_RUNNING && !t.onRq) {
    t.onRq = true;
    runqueue.push(t);
  }
  if (!t.exited && t.state & TASK_UNINTERRUPTIBLE && !(t.state & TASK_NOLOAD)) {
    t.blockedSince = clock_now();
    t.hungReported = false;
  }
  i32[PCB + PC_NR_RUNNING] = runqueue.length;
}

/** The idle task runs again: no current task. */
export function clearCurrent(): void {
  current = null;
  setCurrentTask(null);
  i32[PCB + PC_CURRENT_PID] = 0;
}

// A macrotask turn only comes while the loop waits on a task that awaits
// something other than a kernel primitive: such a task stalls the CPU.
function foreign_await_detector(): void {
  detectorArmed = false;
  const t = current;
  if (t === null || yieldSignal === null) return;
  if (!t.foreign) {
    printk(
      KERN_WARNING +
        `kdefer: task ${t.comm}/${t.pid} on CPU#${cpuId} awaited a promise that is not a kernel primitive; the CPU parked it (wrap host promises in awaitHost())`,
    );
  }
  set_task_state(t, TASK_UNINTERRUPTIBLE);
  signal_scheduler('foreign');
}

let lastHungCheck = 0;
/** khungtaskd: report tasks asleep in TASK_UNINTERRUPTIBLE past the threshold. */
export function checkHungTasks(): void {
  const now = clock_now();
  if (now - lastHungCheck < 100) return;
  lastHungCheck = now;
  const limit = hung_task_ms();
  for (const t of tasks.values()) {
    if (t.blockedSince > 0 && !t.hungReported && t.state & TASK_UNINTERRUPTIBLE && now - t.blockedSince > limit) {
      t.hungReported = true;
      report_hung_task(t.comm, t.pid, now - t.blockedSince, t.foreign ? 'awaitHost' : 'schedule');
    }
  }
}

function hung_check_timeout(): number {
  for (const t of tasks.values()) if (t.blockedSince > 0 && !t.hungReported) return Math.max(50, Math.min(1000, hung_task_ms() / 4));
  return Infinity;
}

/** Wake the tasks whose schedule_timeout expired. */
export function expireSleepers(): void {
  if (sleepers.size === 0) return;
  const now = get_jiffies_64();
  for (const t of sleepers) {
    if (now - t.sleepUntil >= 0) {
      sleepers.delete(t);
      t.timedOut = true;
      wake_up_process(t);
    }
  }
}

function next_sleeper_ms(): number {
  let best = Infinity;
  for (const t of sleepers) best = Math.min(best, ms_until_jiffy(t.sleepUntil));
  return best;
}

// Timer events of other mechanisms (timer.ts, hrtimer.ts) for the idle
// sleep: the upcall chain idleTimeout, which they fill at init.
const idleTimeoutHooks = upcallChains.idleTimeout;

/** Milliseconds until this CPU's next timed event (a sleeper, the hung-task check, a timer): the idle wait's bound. */
export function nextEventMs(): number {
  let timeout = Math.min(next_sleeper_ms(), hung_check_timeout());
  for (const h of idleTimeoutHooks) timeout = Math.min(timeout, h());
  return timeout;
}

/** A halted CPU: every task is gone; tell whoever waits for one. */
export function exitAllTasks(reason: string): void {
  i32[PCB + PC_NR_RUNNING] = 0;
  runqueue.length = 0;
  for (const t of [...tasks.values()]) {
    t.error = new KernelHalt(`CPU ${cpuId} halted: ${reason}`);
    task_exit(t);
  }
}

/** A host operation (a module import) is in flight: park without blocking the event loop. */
export function sched_foreign_begin(): void {
  foreignPending++;
}
export function sched_foreign_end(): void {
  foreignPending--;
  // Deterministic mode: the CPU kept the baton while it waited; ring its own
  // doorbell so that its idle wait ends now, not at its bound.
  if (det_on()) kick_cpu(mem, cpuId, 0);
}

export function sched_init_cpu(): void {
  const amp = i32[H_AMPLIFY]!;
  const ampLine = amp ? `\nkdefer: race amplification level ${amp}, seed ${i32[H_SEED]}` : '';
  registerUpcalls({
    contextLevel: interrupt_context_level,
    describeCurrent: () =>
      `CPU: ${cpuId} PID: ${current_pid()} Comm: ${current_comm()} Not tainted 6.12.0-kdefer #1\n` +
      `Context: ${context_name()} preempt_count: ${(preempt_count() >>> 0).toString(16).padStart(8, '0')} irqs_disabled: ${irqs_disabled() ? 1 : 0}` +
      ampLine,
  });
}
