/**
 * irq_thread.ts — threaded interrupt handlers: request_threaded_irq, the
 * irq/N-name kernel threads, and the calls that wait for them
 * (synchronize_irq, disable_irq, free_irq).
 *
 * Follows kernel/irq/manage.c (request_threaded_irq, setup_irq_thread,
 * irq_thread, irq_wait_for_interrupt, irq_thread_fn, irq_forced_thread_fn,
 * wake_threads_waitq, synchronize_irq, disable_irq, free_irq / __free_irq's
 * kthread_stop). The descriptor side (the default primary handler, forced
 * threading, IRQF_ONESHOT masking, IRQTF_RUNTHREAD, threads_active) is in
 * irq.ts (layer 4); this file is in the scheduler's layer (5) because the
 * threads are tasks: irq.ts wakes them through the upcall table.
 *
 * Differs from Linux:
 * - a thread is bound to the CPU whose request_threaded_irq installed the
 *   action (kdefer tasks never migrate); the kernel moves it to the line's
 *   effective affinity (irq_thread_check_affinity).
 * - synchronize_irq, disable_irq and free_irq sleep when they must wait for
 *   a thread, so they are async here (await them): with no thread active
 *   they finish before their first await, as the spinning hardirq-only
 *   versions did, so a caller in atomic context that does not await still
 *   gets the hardirq wait (synchronize_hardirq).
 * - under boot option threadirqs a request with both a primary handler and
 *   a thread_fn runs the thread_fn in the same forced thread after the
 *   primary returns IRQ_WAKE_THREAD; the kernel wakes a second thread,
 *   irq/N-s-name, for it.
 * - a thread_fn may return a promise (it may sleep); the thread awaits it.
 */
import { mem } from './smp.js';
import { WARN, KernelHalt } from './printk.js';
import { registerUpcalls } from './upcall.js';
import { local_bh_disable, local_bh_enable, local_irq_disable, local_irq_enable } from './preempt.js';
import { report_handler_oops } from './oops.js';
import {
  type IrqHandler,
  type IrqThreadFn,
  IRQ_NONE,
  IRQ_HANDLED,
  IRQ_WAKE_THREAD,
  __setup_irq,
  __free_irq,
  synchronize_hardirq,
  disable_irq_nosync,
  irq_thread_take,
  irq_thread_fns,
  irq_thread_handled,
  irq_finalize_oneshot,
  irq_thread_done,
  irq_thread_exited,
  irq_action_dev,
  irq_threads_active,
  irq_action_pid,
} from './irq.js';
import {
  type TaskStruct,
  kthread_create,
  wake_up_process,
  wakeUpPid,
  set_current_state,
  schedule,
  get_current,
  TASK_INTERRUPTIBLE,
  TASK_RUNNING,
} from './sched.js';
import { type WaitQueueHead, DECLARE_WAIT_QUEUE_HEAD, wait_event, wake_up } from './wait.js';

/** This CPU's irq threads: task -> its line (the own-thread checks). */
const threadIrq = new Map<TaskStruct, number>();
const waitq = new Map<number, WaitQueueHead>();

/** desc->wait_for_threads of `irq` (a named wait queue: every CPU resolves the same one). */
function wait_for_threads(irq: number): WaitQueueHead {
  let q = waitq.get(irq);
  if (!q) {
    q = DECLARE_WAIT_QUEUE_HEAD(`irq/${irq}.wait_for_threads`);
    waitq.set(irq, q);
  }
  return q;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';

/** Call a thread function; @returns what it returned (a promise is awaited), IRQ_NONE on an Oops. */
async function call_thread_fn(fn: IrqThreadFn, irq: number, dev: unknown, where: string): Promise<number> {
  try {
    const r = fn(irq, dev);
    const v = isThenable(r) ? await r : r;
    return typeof v === 'number' ? v : IRQ_NONE;
  } catch (e) {
    if (e instanceof KernelHalt) throw e;
    report_handler_oops(e, where);
    return IRQ_NONE;
  }
}

/** irq_thread_fn / irq_forced_thread_fn: one run of action `k`'s thread function. */
async function run_thread_fn(irq: number, k: number): Promise<void> {
  const { fn, secondary, forced } = irq_thread_fns(irq, k);
  const dev = irq_action_dev(irq, k);
  let ret = IRQ_NONE;
  if (forced) {
    // Not requested as threaded: it relies on the bh/irq disable of hardirq context.
    local_bh_disable();
    local_irq_disable();
  }
  if (fn) ret = await call_thread_fn(fn, irq, dev, `irq ${irq} thread function ${fn.name || '(anonymous)'}`);
  if (ret === IRQ_HANDLED) irq_thread_handled(irq);
  irq_finalize_oneshot(irq, k);
  if (forced) {
    local_irq_enable();
    local_bh_enable();
  }
  if (ret === IRQ_WAKE_THREAD && secondary) {
    const r2 = await call_thread_fn(secondary, irq, dev, `irq ${irq} thread function ${secondary.name || '(anonymous)'}`);
    if (r2 === IRQ_HANDLED) irq_thread_handled(irq);
  }
}

/** irq_thread: the body of irq/N-name. */
async function irq_thread(data: unknown): Promise<number> {
  const { irq, k } = data as { irq: number; k: number };
  for (;;) {
    // irq_wait_for_interrupt: run when IRQTF_RUNTHREAD was set; a stop request still runs a pending one
    set_current_state(TASK_INTERRUPTIBLE);
    const { run, stop } = irq_thread_take(irq, k);
    if (!run) {
      if (stop) break;
      await schedule();
      continue;
    }
    set_current_state(TASK_RUNNING);
    await run_thread_fn(irq, k);
    if (irq_thread_done(irq)) wake_up(wait_for_threads(irq)); // wake_threads_waitq
  }
  set_current_state(TASK_RUNNING);
  const me = get_current();
  if (me) threadIrq.delete(me);
  irq_thread_exited(irq, k);
  wake_up(wait_for_threads(irq));
  return 0;
}

/** setup_irq_thread: create irq/N-name on this CPU (it sleeps until the first wake). */
function create_irq_thread(irq: number, k: number, comm: string): { pid: number; cpu: number } {
  const t = kthread_create(irq_thread, { irq, k }, comm);
  threadIrq.set(t, irq);
  wake_up_process(t);
  return { pid: t.pid, cpu: t.cpu };
}

/**
 * request_threaded_irq - install a primary handler and a threaded handler on `irq`.
 * @param irq       the line (0 .. nrIrqs-1)
 * @param handler   run in hardirq context with interrupts off; returns IRQ_WAKE_THREAD
 *                  to wake the thread, IRQ_HANDLED or IRQ_NONE. null: the default primary
 *                  handler, which only wakes the thread (then IRQF_ONESHOT is required).
 * @param thread_fn run in the line's irq/N-name kthread, in process context (it may sleep);
 *                  returns IRQ_HANDLED or IRQ_NONE. null: no thread.
 * @param flags     IRQF_ONESHOT keeps the line masked until thread_fn returns; IRQF_SHARED,
 *                  IRQF_NO_AUTOEN, IRQF_NO_THREAD (not forced into a thread by threadirqs)
 * @param name      the name /proc/interrupts and the thread show
 * @param dev       cookie passed to the handlers and matched by free_irq
 * Context: process context (module load runs it on every CPU: the first
 * installs the action and creates the thread on its CPU, the others attach
 * their own copy of the handlers).
 * @returns 0 on success; -EINVAL for a bad line, no handler at all, or a NULL
 *          handler without IRQF_ONESHOT (reported as the kernel reports it);
 *          -EBUSY if the line is taken and not shareable.
 */
export function request_threaded_irq(
  irq: number,
  handler: IrqHandler | null,
  thread_fn: IrqThreadFn | null,
  flags: number,
  name: string,
  dev: unknown,
): number {
  return __setup_irq(irq, handler ?? null, thread_fn ?? null, flags, name, dev, create_irq_thread);
}

/**
 * request_irq - install `handler` on line `irq` (request_threaded_irq with no thread_fn;
 * under boot option threadirqs the handler runs in an irq/N-name thread unless
 * IRQF_NO_THREAD is set).
 * @param irq     the line (0 .. nrIrqs-1)
 * @param handler `(irq, dev_id) => IRQ_HANDLED | IRQ_NONE`, run in hardirq
 *                context with interrupts disabled
 * @param flags   IRQF_SHARED to share the line, IRQF_NO_AUTOEN to leave it disabled
 * @param name    the name /proc/interrupts shows
 * @param dev     cookie passed to the handler and matched by free_irq
 * @returns 0 on success, -EINVAL for a bad line or handler, -EBUSY if the line
 *          is taken and not shareable.
 * Context: process context (module load runs it on every CPU: the first
 * installs the action, the others attach their own copy of the handler).
 */
export function request_irq(irq: number, handler: IrqHandler, flags: number, name: string, dev: unknown): number {
  if (typeof handler !== 'function') return request_threaded_irq(irq, null, null, flags, name, dev);
  return request_threaded_irq(irq, handler, null, flags, name, dev);
}

/**
 * synchronize_irq - wait until no handler of `irq` runs on any CPU: the
 * hardirq handlers (spinning) and then the threaded ones (sleeping on the
 * line's wait_for_threads).
 * Context: process context when the line has threads (it may sleep); with no
 * thread active it spins only and finishes before its first await. Never from
 * the line's own handler or thread (warned, returns at once).
 * @returns a promise that settles when nothing of the line runs.
 */
export async function synchronize_irq(irq: number): Promise<void> {
  if (synchronize_hardirq(irq)) return;
  const me = get_current();
  if (me && threadIrq.get(me) === irq) {
    WARN(true, `synchronize_irq(${irq}) from its own thread ${me.comm} would wait forever`);
    return;
  }
  await wait_event(wait_for_threads(irq), () => irq_threads_active(mem, irq) === 0);
}

/**
 * disable_irq - disable `irq` (nests) and wait for its running handlers and
 * threads to finish (disable_irq_nosync does not wait).
 * Context: as synchronize_irq.
 * @returns a promise that settles when nothing of the line runs.
 */
export async function disable_irq(irq: number): Promise<void> {
  disable_irq_nosync(irq);
  await synchronize_irq(irq);
}

/**
 * free_irq - remove the handler installed with cookie `dev` from `irq`, after
 * waiting for any running instance of the line's hardirq handlers; a threaded
 * action's thread runs a pending thread_fn one last time, then exits
 * (kthread_stop), and free_irq waits for that.
 * Context: process context; never from the line's own handler or thread.
 * @returns a promise of the name the handler was requested with, or null if none matched.
 */
export async function free_irq(irq: number, dev: unknown): Promise<string | null> {
  const r = __free_irq(irq, dev);
  if (r === null) return null;
  if (r.pid !== 0) {
    const me = get_current();
    if (me && me.pid === r.pid) {
      WARN(true, `free_irq(${irq}) from its own thread ${me.comm}`);
      return r.name;
    }
    wakeUpPid(r.pid, r.cpu);
    await wait_event(wait_for_threads(irq), () => irq_action_pid(mem, irq, r.k) !== r.pid);
  }
  return r.name;
}

/**
 * irq_thread_init_cpu - let irq.ts wake the irq/N-name threads (the upcall).
 * Context: CPU init (start_cpu), once per CPU.
 */
export function irq_thread_init_cpu(): void {
  threadIrq.clear();
  waitq.clear();
  registerUpcalls({
    wakePid: (pid: number, cpu: number) => {
      if (pid !== 0) wakeUpPid(pid, cpu);
    },
  });
}
