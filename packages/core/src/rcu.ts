/**
 * rcu.ts — Read-Copy Update: read-side critical sections, grace periods, and
 * the callbacks that run once a grace period has elapsed.
 *
 * Follows kernel/rcu/tree.c (call_rcu, synchronize_rcu, rcu_barrier,
 * rcu_core, rcu_do_batch, rcu_sched_clock_irq, rcu_report_qs_rdp),
 * kernel/rcu/tree_plugin.h in its CONFIG_PREEMPT_RCU form
 * (__rcu_read_lock/__rcu_read_unlock on a per-task nesting count,
 * rcu_note_context_switch and the blocked-tasks list, rcu_flavor_sched_clock_irq),
 * kernel/rcu/tree_stall.h (the stall warnings), kernel/rcu/rcu.h (rcu_seq_*),
 * include/linux/rcupdate.h and Documentation/RCU/whatisRCU.rst.
 *
 * A grace period (GP) begins when a callback or synchronize_rcu needs one;
 * every online CPU then owes it a quiescent state (QS): a context switch, the
 * idle loop, a return to the CPU's task loop, or a tick that finds the
 * interrupted context outside any read-side section with preemption and
 * BH enabled. An idle CPU is in an extended quiescent state: the CPU that
 * starts a GP reports for it. A task that sleeps inside rcu_read_lock()
 * (the kernel warns: "Voluntary context switch within RCU read-side critical
 * section!") is queued as blocked, and the GP also waits for it to leave its
 * section. When the last QS is in, the GP ends and each CPU invokes its ripe
 * callbacks from RCU_SOFTIRQ, on the CPU that queued them.
 *
 * Why the preemptible flavour: kdefer's rcu_read_lock() cannot disable
 * preemption the way a !PREEMPT_RCU kernel does (a task sleeps by awaiting,
 * and sleeping there must be reported as the kernel reports it), so the
 * state's name is "rcu_preempt", as in a CONFIG_PREEMPT_RCU kernel; the
 * consolidated rcu_read_lock_bh / rcu_read_lock_sched readers (BH or
 * preemption disabled) are waited for by the same grace period.
 *
 * Differs from Linux:
 * - one level, no rcu_node tree: rcu_state counts the CPUs still owing a QS
 *   (RS_QS_LEFT) and each rcu_data records the GP it reported for (RD_QS_GP,
 *   claimed by compare-and-swap, so a CPU and a CPU reporting for it while it
 *   idles count once).
 * - no grace-period kthread: the CPU that needs a GP starts it, the CPU that
 *   reports the last QS ends it (and starts the next one if a callback waits
 *   for it); there is no force-quiescent-state scan other than the report for
 *   idle CPUs at the start of each GP.
 * - the callback list is the queueing CPU's own (JavaScript functions cannot
 *   cross threads), one FIFO whose entries carry the gp_seq they wait for
 *   (rcu_seq_snap at call_rcu time) instead of rcu_segcblist's segments.
 * - a read-side section is counted per CPU and saved with the task at a
 *   context switch (the kernel counts it in the task_struct; interrupts nest
 *   on the same count either way).
 * - synchronize_rcu() inside a read-side section reports "suspicious RCU
 *   usage" and returns at once, instead of waiting for itself.
 * - no expedited grace periods, no lazy or no-CBs callbacks, no SRCU.
 */
import {
  RCU_REGION,
  RS_GP_SEQ,
  RS_LOCK,
  RS_GP_SEQ_NEEDED,
  RS_QS_LEFT,
  RS_GP_START,
  RS_JIFFIES_STALL,
  RS_GP_END,
  RS_GPS,
  RS_GP_JIFFIES,
  RS_STALLS,
  RD_QS_GP,
  RD_EQS,
  RD_TICKS_THIS_GP,
  RD_N_CBS,
  RD_CBS_QUEUED,
  RD_CBS_INVOKED,
  RD_SOFTIRQ_SNAP,
  RD_BLKD,
  RD_BLKD_PID,
  RD_OFFLINE,
  PC_KSTAT_SOFTIRQS,
  H_RCU_STALL_MS,
  type Mem,
  rcu_region_words,
  rcu_data_word,
} from './layout.js';
import { mem, i32, cpuId, PCB, kick_cpu } from './smp.js';
import { preempt_point, cpu_relax } from './entry.js';
import { KdeferError, arena_region, registryLookup, NAME_KIND_DATA } from './module.js';
import { pr_err, printk, KERN_ERR, KERN_WARNING, WARN_ONCE, kernel_caller, call_trace, dump_context } from './printk.js';
import { PREEMPT_MASK, SOFTIRQ_MASK, SOFTIRQ_OFFSET, HARDIRQ_OFFSET } from './preempt_mask.js';
import {
  preempt_count,
  local_irq_save,
  local_irq_restore,
  local_bh_disable,
  local_bh_enable,
  preempt_disable,
  preempt_enable,
  in_softirq,
  irqs_disabled,
  preemptible,
} from './preempt.js';
import { open_softirq, raise_softirq, RCU_SOFTIRQ } from './softirq.js';
import { run_handler } from './oops.js';
import { get_jiffies_64, msecs_to_jiffies } from './tick.js';
import { registerUpcallChain } from './upcall.js';
import {
  type TaskStruct,
  current,
  current_comm,
  current_pid,
  schedule,
  schedule_timeout_uninterruptible,
  set_current_state,
  wake_up_process,
  might_sleep,
  TASK_RUNNING,
  TASK_UNINTERRUPTIBLE,
} from './sched.js';
import { kfree, type SlabObject, slab_obj } from './slab.js';

// ------------------------------------------------------------ tunables

/** rcu_state.name: the preemptible flavour (see the top of this file). */
export const RCU_STATE_NAME = 'rcu_preempt';
/** CONFIG_RCU_CPU_STALL_TIMEOUT: 21 s, the kernel's default (boot option rcuStallMs changes it). */
export const RCU_CPU_STALL_TIMEOUT_MS = 21_000;
/**
 * RCU_STALL_RAT_DELAY: jiffies another CPU waits past the stall time before
 * it reports a stalled CPU, giving that CPU the chance to report itself.
 */
export const RCU_STALL_RAT_DELAY = 2;
/** DEFAULT_RCU_BLIMIT: callbacks one rcu_do_batch pass invokes before it raises RCU_SOFTIRQ again. */
export const DEFAULT_RCU_BLIMIT = 10;
/** rcu_seq: the low RCU_SEQ_CTR_SHIFT bits of gp_seq are the grace period's state (kernel/rcu/rcu.h). */
export const RCU_SEQ_CTR_SHIFT = 2;
export const RCU_SEQ_STATE_MASK = (1 << RCU_SEQ_CTR_SHIFT) - 1;

// ------------------------------------------------------------ rcu_seq (kernel/rcu/rcu.h)

/** The state bits of a gp_seq: 0 idle, non-zero a grace period in progress. */
const rcu_seq_state = (s: number): number => s & RCU_SEQ_STATE_MASK;
/** The gp_seq a full grace period from now will have reached when it ends. */
const rcu_seq_snap = (s: number): number => (s + 2 * RCU_SEQ_STATE_MASK + 1) & ~RCU_SEQ_STATE_MASK;
/** Whether gp_seq `cur` has reached `s` (ULONG_CMP_GE, on 32-bit words). */
const rcu_seq_done = (cur: number, s: number): boolean => ((cur - s) | 0) >= 0;
/** The gp_seq of the end of grace period `s` (rcu_seq_end). */
const rcu_seq_end = (s: number): number => ((s | RCU_SEQ_STATE_MASK) + 1) | 0;

// ------------------------------------------------------------ per-CPU state

let base = 0; // the RCU region's first word
let nrCpus = 0;
let stallJiffies = 0;
/** rcu_read_lock nesting of what runs on this CPU now (the running task's, interrupts nest on it). */
let nesting = 0;
/** The blocked-list entry of the running task (its seq), 0 when it is not blocked. */
let curBlk = 0;

/** What RCU keeps of a task while it is switched out (the kernel keeps it in task_struct). */
interface TaskRcu {
  nesting: number;
  blk: number;
}
const taskRcu = new WeakMap<TaskStruct, TaskRcu>();

/** Tasks that slept inside a read-side section, by entry seq (increasing): their pids (rnp->blkd_tasks). */
const blocked = new Map<number, number>();
let blkSeq = 0;
/** The GP this CPU has passed a QS for while blocked tasks still held it up, and the newest entry that holds it. */
let qsWaitGp = 0;
let qsWaitBlk = 0;

/** A queued callback: the function, its argument, and the gp_seq it waits for. */
interface RcuCallback {
  fn: (head: never) => void;
  head: unknown;
  snap: number;
}
const cbs: (RcuCallback | undefined)[] = [];
let cbHead = 0;

let ticksGp = 0;

const S = (f: number): number => base + f;
const D = (cpu: number, f: number): number => base + rcu_data_word(cpu, f);
const jiffies32 = (): number => get_jiffies_64() | 0;

// ------------------------------------------------------------ the root lock

function rcu_lock(): number {
  const flags = local_irq_save();
  while (Atomics.compareExchange(i32, S(RS_LOCK), 0, cpuId + 1) !== 0) cpu_relax();
  return flags;
}
function rcu_unlock(flags: number): void {
  Atomics.store(i32, S(RS_LOCK), 0);
  local_irq_restore(flags);
}

// ------------------------------------------------------------ grace periods

/**
 * Start a grace period if one is needed and none is running (rcu_gp_init).
 * Caller holds the root lock. @returns the new gp_seq, or 0 if none started.
 */
function rcu_gp_init_locked(): number {
  const g = i32[S(RS_GP_SEQ)]!;
  if (rcu_seq_state(g) !== 0) return 0;
  const needed = i32[S(RS_GP_SEQ_NEEDED)]!;
  if (rcu_seq_done(g, needed)) return 0;
  let online = 0;
  for (let c = 0; c < nrCpus; c++) if (Atomics.load(i32, D(c, RD_OFFLINE)) === 0) online++;
  const j = jiffies32();
  Atomics.store(i32, S(RS_QS_LEFT), online);
  i32[S(RS_GP_START)] = j;
  Atomics.store(i32, S(RS_JIFFIES_STALL), (j + stallJiffies) | 0);
  const ng = (g + 1) | 0;
  Atomics.store(i32, S(RS_GP_SEQ), ng); // published last: a reporter sees a full count
  return ng;
}

/**
 * After a grace period started: report for the CPUs in an extended
 * quiescent state (idle), which would not report themselves
 * (rcu_gp_fqs's dyntick-idle check, done once at the start).
 */
function rcu_gp_started(g: number): void {
  if (g === 0) return;
  for (let c = 0; c < nrCpus; c++) {
    if (Atomics.load(i32, D(c, RD_OFFLINE)) === 0 && Atomics.load(i32, D(c, RD_EQS)) !== 0) rcu_report_qs(c, g);
  }
}

/** Ask for grace period `snap` (rcu_start_this_gp): start one if none runs. */
function rcu_request_gp(snap: number): void {
  if (rcu_seq_done(Atomics.load(i32, S(RS_GP_SEQ_NEEDED)), snap)) return; // someone already asked for it
  const flags = rcu_lock();
  if (!rcu_seq_done(i32[S(RS_GP_SEQ_NEEDED)]!, snap)) Atomics.store(i32, S(RS_GP_SEQ_NEEDED), snap);
  const g = rcu_gp_init_locked();
  rcu_unlock(flags);
  rcu_gp_started(g);
}

/**
 * CPU `cpu` passed a quiescent state for grace period `g` (rcu_report_qs_rdp):
 * counted once, whoever reports it; the last one ends the grace period.
 */
function rcu_report_qs(cpu: number, g: number): void {
  const w = D(cpu, RD_QS_GP);
  const old = Atomics.load(i32, w);
  if (old === g || Atomics.load(i32, S(RS_GP_SEQ)) !== g) return;
  if (Atomics.compareExchange(i32, w, old, g) !== old) return;
  if (Atomics.sub(i32, S(RS_QS_LEFT), 1) === 1) rcu_gp_cleanup(g);
}

/** The last quiescent state of grace period `g` is in: end it, start the next if needed, kick the CPUs with callbacks. */
function rcu_gp_cleanup(g: number): void {
  const flags = rcu_lock();
  const j = jiffies32();
  Atomics.store(i32, S(RS_GP_SEQ), rcu_seq_end(g));
  Atomics.add(i32, S(RS_GPS), 1);
  Atomics.add(i32, S(RS_GP_JIFFIES), (j - i32[S(RS_GP_START)]!) | 0);
  Atomics.store(i32, S(RS_GP_END), j);
  const ng = rcu_gp_init_locked();
  rcu_unlock(flags);
  rcu_gp_started(ng);
  for (let c = 0; c < nrCpus; c++) {
    if (c === cpuId) continue;
    if (Atomics.load(i32, D(c, RD_N_CBS)) > 0) kick_cpu(mem, c, 0);
  }
  rcu_check_callbacks();
}

/**
 * rcu_qs - this CPU is at a quiescent state now (nothing on it is inside a
 * read-side section): report it for the current grace period, unless tasks
 * blocked in read-side sections before this point still hold it up.
 */
function rcu_qs(): void {
  const g = Atomics.load(i32, S(RS_GP_SEQ));
  if (rcu_seq_state(g) === 0 || Atomics.load(i32, D(cpuId, RD_QS_GP)) === g) return;
  if (blocked.size > 0) {
    if (qsWaitGp !== g) {
      qsWaitGp = g;
      qsWaitBlk = blkSeq;
    }
    const oldest = blocked.keys().next().value!;
    if (oldest <= qsWaitBlk) {
      i32[D(cpuId, RD_BLKD_PID)] = blocked.get(oldest)!;
      return;
    }
  }
  rcu_report_qs(cpuId, g);
}

/** Raise RCU_SOFTIRQ if this CPU has callbacks whose grace period has ended (rcu_pending). */
function rcu_check_callbacks(): void {
  const cb = cbs[cbHead];
  if (cb !== undefined && rcu_seq_done(Atomics.load(i32, S(RS_GP_SEQ)), cb.snap)) raise_softirq(RCU_SOFTIRQ);
}

// ------------------------------------------------------------ the callbacks (rcu_core, rcu_do_batch)

/** RCU_SOFTIRQ's action: invoke this CPU's ripe callbacks, DEFAULT_RCU_BLIMIT per pass. */
function rcu_core(): void {
  rcu_qs_if_task_quiescent();
  const g = Atomics.load(i32, S(RS_GP_SEQ));
  let n = 0;
  for (;;) {
    const cb = cbs[cbHead];
    if (cb === undefined || !rcu_seq_done(g, cb.snap)) break;
    if (n >= DEFAULT_RCU_BLIMIT) {
      raise_softirq(RCU_SOFTIRQ);
      break;
    }
    cbs[cbHead++] = undefined;
    i32[D(cpuId, RD_N_CBS)]!--;
    const fn = cb.fn;
    run_handler(
      () => fn(cb.head as never),
      () => `RCU callback ${fn.name || '<anonymous>'}`,
      `RCU callback ${fn.name || '<anonymous>'}`,
    );
    Atomics.add(i32, D(cpuId, RD_CBS_INVOKED), 1);
    n++;
  }
  if (cbHead > 1024 && cbHead * 2 > cbs.length) {
    cbs.splice(0, cbHead);
    cbHead = 0;
  }
}

/** In softirq: the interrupted context is quiescent when it was a task outside any reader with BH and preemption on. */
function rcu_qs_if_task_quiescent(): void {
  // rcu_core runs with SOFTIRQ_OFFSET added by __do_softirq (or from ksoftirqd).
  if (nesting === 0 && (preempt_count() & PREEMPT_MASK) === 0 && (preempt_count() & SOFTIRQ_MASK) === SOFTIRQ_OFFSET) rcu_qs();
}

// ------------------------------------------------------------ the tick (rcu_sched_clock_irq) and stalls

function rcu_sched_clock_irq(): void {
  const g = Atomics.load(i32, S(RS_GP_SEQ));
  if (rcu_seq_state(g) !== 0) {
    if (ticksGp !== g) {
      ticksGp = g;
      i32[D(cpuId, RD_TICKS_THIS_GP)] = 0;
      i32[D(cpuId, RD_SOFTIRQ_SNAP)] = i32[PCB + PC_KSTAT_SOFTIRQS + RCU_SOFTIRQ]!;
    }
    i32[D(cpuId, RD_TICKS_THIS_GP)]!++;
    // rcu_flavor_sched_clock_irq: the interrupted context (we are in the tick's hardirq).
    const interrupted = preempt_count() - HARDIRQ_OFFSET;
    if (nesting === 0 && (interrupted & (PREEMPT_MASK | SOFTIRQ_MASK)) === 0) rcu_qs();
    check_cpu_stall(g);
  }
  rcu_check_callbacks();
}

function check_cpu_stall(g: number): void {
  const j = jiffies32();
  const js = Atomics.load(i32, S(RS_JIFFIES_STALL));
  if (((j - js) | 0) < 0 || Atomics.load(i32, S(RS_GP_SEQ)) !== g) return;
  const jn = (j + 3 * stallJiffies + 3) | 0;
  const mine = Atomics.load(i32, D(cpuId, RD_QS_GP)) !== g;
  if (mine && Atomics.compareExchange(i32, S(RS_JIFFIES_STALL), js, jn) === js) {
    print_cpu_stall(g);
  } else if (((j - js - RCU_STALL_RAT_DELAY) | 0) >= 0 && Atomics.compareExchange(i32, S(RS_JIFFIES_STALL), js, jn) === js) {
    print_other_cpu_stall(g);
  }
}

function cpu_stall_info(cpu: number, g: number): string {
  const ticks = cpu === cpuId ? i32[D(cpu, RD_TICKS_THIS_GP)]! : Atomics.load(i32, D(cpu, RD_TICKS_THIS_GP));
  const sirq = Atomics.load(i32, mem.cpu(cpu, PC_KSTAT_SOFTIRQS + RCU_SOFTIRQ));
  const eqs = Atomics.load(i32, D(cpu, RD_EQS));
  void g;
  return `\t${cpu}-....: (${ticks} ticks this GP) idle=${eqs ? 0 : 1}/${nesting_of(cpu)} softirq=${i32[D(cpu, RD_SOFTIRQ_SNAP)]}/${sirq} fqs=0`;
}
function nesting_of(cpu: number): string {
  return cpu === cpuId ? String(nesting) : '?';
}

function total_qlen(): number {
  let q = 0;
  for (let c = 0; c < nrCpus; c++) q += Atomics.load(i32, D(c, RD_N_CBS));
  return q;
}

function blocked_tasks_line(): string | null {
  const pids: number[] = [];
  for (let c = 0; c < nrCpus; c++) {
    if (Atomics.load(i32, D(c, RD_BLKD)) > 0) {
      const pid = Atomics.load(i32, D(c, RD_BLKD_PID));
      if (pid > 0) pids.push(pid);
    }
  }
  if (pids.length === 0) return null;
  return `\tTasks blocked on level-0 rcu_node (CPUs 0-${nrCpus - 1}):` + pids.map((p) => ` P${p}`).join('');
}

/** print_cpu_stall: this CPU has not reported its quiescent state for too long. */
function print_cpu_stall(g: number): void {
  Atomics.add(i32, S(RS_STALLS), 1);
  const gps = i32[S(RS_GP_START)]!;
  pr_err(`rcu: INFO: ${RCU_STATE_NAME} self-detected stall on CPU`);
  pr_err('rcu: ' + cpu_stall_info(cpuId, g));
  pr_err(`rcu: \t(t=${(jiffies32() - gps) | 0} jiffies g=${g} q=${total_qlen()} ncpus=${nrCpus})`);
  stall_dump();
}

/** print_other_cpu_stall: some other CPU (or a blocked task) holds the grace period up. */
function print_other_cpu_stall(g: number): void {
  Atomics.add(i32, S(RS_STALLS), 1);
  const gps = i32[S(RS_GP_START)]!;
  pr_err(`rcu: INFO: ${RCU_STATE_NAME} detected stalls on CPUs/tasks:`);
  for (let c = 0; c < nrCpus; c++) {
    if (Atomics.load(i32, D(c, RD_OFFLINE)) === 0 && Atomics.load(i32, D(c, RD_QS_GP)) !== g) pr_err('rcu: ' + cpu_stall_info(c, g));
  }
  const bl = blocked_tasks_line();
  if (bl !== null) pr_err('rcu: ' + bl);
  pr_err(`rcu: \t(detected by ${cpuId}, t=${(jiffies32() - gps) | 0} jiffies, g=${g}, q=${total_qlen()} ncpus=${nrCpus})`);
  stall_dump();
}

function stall_dump(): void {
  printk(KERN_ERR + dump_context());
  printk(KERN_ERR + 'Call Trace:');
  for (const l of call_trace(undefined, 6)) printk(KERN_ERR + l);
}

// ------------------------------------------------------------ reports

const suspiciousOnce = new Set<string>();
/** lockdep_rcu_suspicious: "WARNING: suspicious RCU usage", once per message on this CPU. */
function rcu_suspicious(msg: string): void {
  if (suspiciousOnce.has(msg)) return;
  suspiciousOnce.add(msg);
  const lines = [
    '=============================',
    'WARNING: suspicious RCU usage',
    '6.12.0-kdefer #1 Not tainted',
    '-----------------------------',
    `${kernel_caller()}: ${msg}!`,
    '',
    'other info that might help us debug this:',
    '',
    `rcu_scheduler_active = 2, debug_locks = 1, RCU nest depth: ${nesting}`,
    dump_context(),
  ];
  for (const l of lines) printk(KERN_WARNING + l);
}

function bad_unlock_balance(what: string): void {
  const lines = [
    '=====================================',
    'WARNING: bad unlock balance detected!',
    '6.12.0-kdefer #1 Not tainted',
    '-------------------------------------',
    `${current_comm()}/${current_pid()} is trying to release lock (${what}) at:`,
    kernel_caller(),
    'but there are no more locks to release!',
  ];
  for (const l of lines) printk(KERN_WARNING + l);
}

// ------------------------------------------------------------ the read side

/**
 * rcu_read_lock - enter a read-side critical section: objects reached
 * through rcu_dereference() stay valid until the matching rcu_read_unlock().
 * Sections nest. The preemptible flavour: the section does not disable
 * preemption, but it must not sleep (a voluntary context switch inside it is
 * reported, and the task then holds up grace periods until it leaves).
 * Context: any (task, softirq, hardirq).
 */
export function rcu_read_lock(): void {
  nesting++;
}

/**
 * rcu_read_unlock - leave a read-side critical section; a preemption point.
 * Without a matching rcu_read_lock() it reports lockdep's "bad unlock
 * balance" for rcu_read_lock and leaves the count at 0.
 * Context: the context that took the rcu_read_lock().
 */
export function rcu_read_unlock(): void {
  if (--nesting <= 0 && (nesting < 0 || curBlk !== 0)) rcu_read_unlock_special();
  preempt_point();
}

/** rcu_read_unlock_special: an unbalanced unlock, or the end of a section a blocked task was in. */
function rcu_read_unlock_special(): void {
  if (nesting < 0) {
    nesting = 0;
    bad_unlock_balance('rcu_read_lock');
    return;
  }
  if (curBlk !== 0) {
    blocked.delete(curBlk);
    curBlk = 0;
    i32[D(cpuId, RD_BLKD)] = blocked.size;
    if (blocked.size === 0) i32[D(cpuId, RD_BLKD_PID)] = 0;
    // rcu_report_unblock_qs_rnp: if this CPU had passed its QS and only blocked tasks held the GP, report now.
    const g = Atomics.load(i32, S(RS_GP_SEQ));
    if (qsWaitGp === g && rcu_seq_state(g) !== 0) {
      const oldest = blocked.size === 0 ? Infinity : blocked.keys().next().value!;
      if (oldest > qsWaitBlk) rcu_report_qs(cpuId, g);
    }
  }
}

/**
 * rcu_read_lock_bh - a read-side section that also disables bottom halves
 * (local_bh_disable); the same grace periods wait for it.
 * Context: task or softirq.
 */
export function rcu_read_lock_bh(): void {
  local_bh_disable();
  nesting++;
}
/**
 * rcu_read_unlock_bh - leave a rcu_read_lock_bh() section (local_bh_enable runs pending softirqs).
 * Context: the context that took it.
 */
export function rcu_read_unlock_bh(): void {
  if (--nesting <= 0 && (nesting < 0 || curBlk !== 0)) rcu_read_unlock_special();
  local_bh_enable();
}
/**
 * rcu_read_lock_sched - a read-side section that disables preemption; the
 * same grace periods wait for it.
 * Context: any.
 */
export function rcu_read_lock_sched(): void {
  preempt_disable();
  nesting++;
}
/**
 * rcu_read_unlock_sched - leave a rcu_read_lock_sched() section.
 * Context: the context that took it.
 */
export function rcu_read_unlock_sched(): void {
  if (--nesting <= 0 && (nesting < 0 || curBlk !== 0)) rcu_read_unlock_special();
  preempt_enable();
}

/**
 * rcu_read_lock_held - whether this CPU is inside a read-side section.
 * Context: any.
 * @returns true inside rcu_read_lock() (or _bh, _sched).
 */
export function rcu_read_lock_held(): boolean {
  return nesting > 0;
}
/**
 * rcu_read_lock_bh_held - whether an rcu_dereference_bh() is protected here.
 * Context: any.
 * @returns true in a read-side section, with BH disabled or in softirq, or with interrupts off.
 */
export function rcu_read_lock_bh_held(): boolean {
  return nesting > 0 || in_softirq() || irqs_disabled();
}
/**
 * rcu_read_lock_sched_held - whether an rcu_dereference_sched() is protected here.
 * Context: any.
 * @returns true in a read-side section or wherever preemption is disabled.
 */
export function rcu_read_lock_sched_held(): boolean {
  return nesting > 0 || !preemptible();
}

// ------------------------------------------------------------ pointers in shared slots

/** What an RCU-protected slot holds: a slab object, a handle, or NULL (0). */
export type RcuPointer = SlabObject | number | null;

function check_slot(p: Int32Array, i: number, who: string): void {
  if (!(p instanceof Int32Array)) throw new KdeferError(`${who}: the slot must be a shared Int32Array (shared_int32), not ${typeof p}`);
  if (!Number.isInteger(i) || i < 0 || i >= p.length)
    throw new KdeferError(`${who}: index ${String(i)} is outside the slot array (length ${p.length})`);
}
const handle_of = (v: RcuPointer): number => (v === null ? 0 : typeof v === 'number' ? v : v.handle);
const obj_of = (h: number): SlabObject | null => (h === 0 ? null : slab_obj(h));

/**
 * rcu_assign_pointer - publish `v` in slot `p[i]`: a reader that finds it
 * there sees everything written to the object before (a release store).
 * @param p - the shared slots (shared_int32), each an object handle or 0.
 * @param v - the object, its handle, or null.
 * @param i - which slot (default 0).
 * Context: any; the updaters serialise among themselves (a lock).
 */
export function rcu_assign_pointer(p: Int32Array, v: RcuPointer, i = 0): void {
  check_slot(p, i, 'rcu_assign_pointer');
  Atomics.store(p, i, handle_of(v));
  preempt_point();
}
/**
 * RCU_INIT_POINTER - store `v` in `p[i]` with no ordering: for NULL, or before readers can see the slot.
 * @param p - the slots.
 * @param v - the object, its handle, or null.
 * @param i - which slot.
 * Context: any.
 */
export function RCU_INIT_POINTER(p: Int32Array, v: RcuPointer, i = 0): void {
  check_slot(p, i, 'RCU_INIT_POINTER');
  p[i] = handle_of(v);
}

/**
 * rcu_dereference - read slot `p[i]` inside a read-side section. Outside
 * one it reports "suspicious rcu_dereference_check() usage", as PROVE_RCU does.
 * @param p - the slots.
 * @param i - which slot (default 0).
 * Context: inside rcu_read_lock().
 * @returns the object (valid until rcu_read_unlock), or null.
 */
export function rcu_dereference(p: Int32Array, i = 0): SlabObject | null {
  check_slot(p, i, 'rcu_dereference');
  if (nesting === 0) rcu_suspicious('suspicious rcu_dereference_check() usage');
  return obj_of(Atomics.load(p, i));
}
/**
 * rcu_dereference_bh - as rcu_dereference, inside rcu_read_lock_bh() (or softirq, or BH off).
 * @param p - the slots.
 * @param i - which slot.
 * Context: a BH read-side section.
 * @returns the object, or null.
 */
export function rcu_dereference_bh(p: Int32Array, i = 0): SlabObject | null {
  check_slot(p, i, 'rcu_dereference_bh');
  if (!rcu_read_lock_bh_held()) rcu_suspicious('suspicious rcu_dereference_check() usage');
  return obj_of(Atomics.load(p, i));
}
/**
 * rcu_dereference_sched - as rcu_dereference, inside rcu_read_lock_sched() (or preemption off).
 * @param p - the slots.
 * @param i - which slot.
 * Context: a sched read-side section.
 * @returns the object, or null.
 */
export function rcu_dereference_sched(p: Int32Array, i = 0): SlabObject | null {
  check_slot(p, i, 'rcu_dereference_sched');
  if (!rcu_read_lock_sched_held()) rcu_suspicious('suspicious rcu_dereference_check() usage');
  return obj_of(Atomics.load(p, i));
}
/**
 * rcu_dereference_protected - read slot `p[i]` where updates cannot happen (the updater's lock is held).
 * @param p - the slots.
 * @param c - the condition that protects it (false: reported as suspicious).
 * @param i - which slot.
 * Context: the update side.
 * @returns the object, or null.
 */
export function rcu_dereference_protected(p: Int32Array, c: boolean, i = 0): SlabObject | null {
  check_slot(p, i, 'rcu_dereference_protected');
  if (!c) rcu_suspicious('suspicious rcu_dereference_protected() usage');
  return obj_of(Atomics.load(p, i));
}
/**
 * rcu_access_pointer - the slot's value, not to be dereferenced (a NULL test, a comparison).
 * @param p - the slots.
 * @param i - which slot.
 * Context: any.
 * @returns the handle, 0 for NULL.
 */
export function rcu_access_pointer(p: Int32Array, i = 0): number {
  check_slot(p, i, 'rcu_access_pointer');
  return Atomics.load(p, i);
}

// ------------------------------------------------------------ the update side

/**
 * call_rcu - invoke `func(head)` after a full grace period: once every CPU
 * has passed a quiescent state after this call, so every reader that could
 * have seen the old object has left its section. Invoked from RCU_SOFTIRQ on
 * this CPU (softirq context: it must not sleep).
 * @param head - what the callback gets (the object, or its rcu_head).
 * @param func - the callback.
 * Context: any except NMI. Does not sleep.
 */
export function call_rcu<T>(head: T, func: (head: T) => void): void {
  if (typeof func !== 'function') throw new KdeferError('call_rcu: func is not a function');
  const flags = local_irq_save();
  const snap = rcu_seq_snap(Atomics.load(i32, S(RS_GP_SEQ)));
  cbs.push({ fn: func as (head: never) => void, head, snap });
  i32[D(cpuId, RD_N_CBS)]!++;
  Atomics.add(i32, D(cpuId, RD_CBS_QUEUED), 1);
  rcu_request_gp(snap);
  local_irq_restore(flags);
}

/**
 * kfree_rcu - kfree(`obj`) after a grace period, so that readers still
 * holding it (found by rcu_dereference before it was unpublished) may use it
 * until they leave their sections.
 * @param obj - the object (or handle) to free; null does nothing.
 * Context: any except NMI. Does not sleep.
 */
export function kfree_rcu(obj: SlabObject | number | null): void {
  if (obj === null || obj === 0) return;
  call_rcu(obj, function kfree_rcu_cb(o) {
    kfree(o);
  });
}
/** kfree_rcu_mightsleep - kfree_rcu's single-argument form (kdefer never sleeps for it). */
export const kfree_rcu_mightsleep = kfree_rcu;

/**
 * synchronize_rcu - wait until a full grace period has elapsed: every
 * reader that was in a section when it was called has left it.
 * Context: process context, may sleep (ps shows D). In atomic context it
 * reports "BUG: sleeping function called from invalid context"; inside a
 * read-side section "suspicious RCU usage" (Illegal synchronize_rcu() in
 * RCU read-side critical section); both return at once without waiting.
 */
export async function synchronize_rcu(): Promise<void> {
  if (nesting > 0) {
    rcu_suspicious('Illegal synchronize_rcu() in RCU read-side critical section');
    return;
  }
  if (!might_sleep('synchronize_rcu')) return;
  const t = current!;
  let done = false;
  // wait_rcu_gp: a callback that wakes us (wakeme_after_rcu).
  call_rcu(t, function wakeme_after_rcu(task) {
    done = true;
    wake_up_process(task);
  });
  while (!done) {
    set_current_state(TASK_UNINTERRUPTIBLE);
    if (done) break;
    await schedule();
  }
  set_current_state(TASK_RUNNING);
}
/** synchronize_rcu_bh, synchronize_sched: the consolidated grace period is the same one. */
export const synchronize_rcu_bh = synchronize_rcu;
export const synchronize_sched = synchronize_rcu;

/**
 * rcu_barrier - wait until every callback queued by call_rcu() (on any CPU)
 * before this call has been invoked: a module frees its callbacks' code or
 * data only after it.
 * Context: process context, may sleep.
 */
export async function rcu_barrier(): Promise<void> {
  if (!might_sleep('rcu_barrier')) return;
  const snap: number[] = [];
  for (let c = 0; c < nrCpus; c++) snap.push(Atomics.load(i32, D(c, RD_CBS_QUEUED)));
  for (;;) {
    let left = false;
    for (let c = 0; c < nrCpus; c++) {
      if (((Atomics.load(i32, D(c, RD_CBS_INVOKED)) - snap[c]!) | 0) < 0) left = true;
    }
    if (!left) return;
    await schedule_timeout_uninterruptible(1);
  }
}

/**
 * get_state_synchronize_rcu - a cookie for poll_state_synchronize_rcu: the
 * gp_seq a full grace period from now reaches.
 * Context: any.
 * @returns the cookie.
 */
export function get_state_synchronize_rcu(): number {
  return rcu_seq_snap(Atomics.load(i32, S(RS_GP_SEQ)));
}
/**
 * start_poll_synchronize_rcu - as get_state_synchronize_rcu, and make sure a grace period starts.
 * Context: any except NMI.
 * @returns the cookie.
 */
export function start_poll_synchronize_rcu(): number {
  const s = get_state_synchronize_rcu();
  rcu_request_gp(s);
  return s;
}
/**
 * poll_state_synchronize_rcu - whether the grace period of `cookie` has elapsed.
 * @param cookie - from get_state_synchronize_rcu / start_poll_synchronize_rcu.
 * Context: any.
 * @returns true once a full grace period passed since the cookie was taken.
 */
export function poll_state_synchronize_rcu(cookie: number): boolean {
  return rcu_seq_done(Atomics.load(i32, S(RS_GP_SEQ)), cookie);
}

// ------------------------------------------------------------ hooks of the CPU loop (sched/idle.ts)

/**
 * rcu_note_context_switch - the task `t` was switched out (it awaited a
 * kernel primitive). Inside a read-side section that is a voluntary context
 * switch the kernel warns about; the task is queued as blocked and holds up
 * the grace periods that began before, until it leaves its section. Then
 * this CPU is quiescent.
 * Context: the CPU loop, right after the switch.
 */
export function rcu_note_context_switch(t: TaskStruct): void {
  if (nesting > 0 && !t.exited) {
    if (curBlk === 0) {
      WARN_ONCE(true, 'Voluntary context switch within RCU read-side critical section!');
      curBlk = ++blkSeq;
      blocked.set(curBlk, t.pid);
      i32[D(cpuId, RD_BLKD)] = blocked.size;
    }
    taskRcu.set(t, { nesting, blk: curBlk });
  } else {
    if (t.exited && curBlk !== 0) {
      // exit_rcu: a task that ends inside a section leaves it.
      blocked.delete(curBlk);
      i32[D(cpuId, RD_BLKD)] = blocked.size;
    }
    if (taskRcu.has(t)) taskRcu.delete(t);
  }
  nesting = 0;
  curBlk = 0;
  rcu_qs();
}

/**
 * rcu_switch_in - the task `t` is about to run: its read-side state comes back.
 * Context: the CPU loop, before the switch.
 */
export function rcu_switch_in(t: TaskStruct): void {
  const r = taskRcu.get(t);
  if (r === undefined) return;
  nesting = r.nesting;
  curBlk = r.blk;
}

/**
 * rcu_loop_qs - the CPU is back in its task loop, outside any read-side
 * section: a quiescent state; and ripe callbacks get their softirq.
 * Context: the CPU loop.
 */
export function rcu_loop_qs(): void {
  if (nesting === 0) rcu_qs();
  rcu_check_callbacks();
}

/**
 * rcu_idle_enter - the CPU goes idle: an extended quiescent state (other
 * CPUs report for it) unless tasks blocked in read-side sections still hold
 * up a grace period; then it reports for itself when they leave.
 * Context: the idle wait, before parking.
 */
export function rcu_idle_enter(): void {
  rcu_qs();
  if (blocked.size === 0) Atomics.store(i32, D(cpuId, RD_EQS), 1);
  // A grace period may have started between the report and the flag: report for it.
  rcu_qs();
}

/**
 * rcu_idle_exit - the CPU leaves idle; from now on it reports for itself.
 * Context: the idle wait, after waking.
 */
export function rcu_idle_exit(): void {
  Atomics.store(i32, D(cpuId, RD_EQS), 0);
}

// ------------------------------------------------------------ host readers

/** What the host reads of the grace-period machinery. */
export interface RcuStats {
  /** rcu_state.gp_seq */
  gpSeq: number;
  /** grace periods completed since boot */
  gps: number;
  /** their total length in jiffies */
  gpJiffies: number;
  /** stall warnings printed */
  stalls: number;
  /** per CPU: callbacks queued, invoked, pending */
  cpus: { queued: number; invoked: number; pending: number }[];
}

function rcu_region_base(m: Mem): number {
  const e = registryLookup(m, RCU_REGION);
  return e && e.kind === NAME_KIND_DATA ? m.data(e.value) : -1;
}

/**
 * rcu_stats - the grace-period counters of machine `m`.
 * @param m - the machine's memory.
 * Context: any thread, host side too. Does not sleep.
 * @returns the counters, or null before any CPU set RCU up.
 */
export function rcu_stats(m: Mem): RcuStats | null {
  const b = rcu_region_base(m);
  if (b < 0) return null;
  const a = m.i32;
  const cpus = [];
  for (let c = 0; c < m.g.cpus; c++) {
    cpus.push({
      queued: Atomics.load(a, b + rcu_data_word(c, RD_CBS_QUEUED)),
      invoked: Atomics.load(a, b + rcu_data_word(c, RD_CBS_INVOKED)),
      pending: Atomics.load(a, b + rcu_data_word(c, RD_N_CBS)),
    });
  }
  return {
    gpSeq: Atomics.load(a, b + RS_GP_SEQ),
    gps: Atomics.load(a, b + RS_GPS),
    gpJiffies: Atomics.load(a, b + RS_GP_JIFFIES),
    stalls: Atomics.load(a, b + RS_STALLS),
    cpus,
  };
}

// ------------------------------------------------------------ init

/**
 * rcu_init - set up this CPU's RCU: its region, the stall bound, its tick
 * hook, and RCU_SOFTIRQ's action (as rcu_init opens it).
 * Context: CPU init, among the built-in mechanisms (softirq_kernel_init).
 */
export function rcu_init(): void {
  nrCpus = mem.g.cpus;
  base = arena_region(RCU_REGION, rcu_region_words(nrCpus));
  const ms = i32[H_RCU_STALL_MS]! || RCU_CPU_STALL_TIMEOUT_MS;
  stallJiffies = Math.max(1, msecs_to_jiffies(ms));
  open_softirq(RCU_SOFTIRQ, rcu_core);
  registerUpcallChain('tick', rcu_sched_clock_irq);
}
