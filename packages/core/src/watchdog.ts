/**
 * watchdog.ts — the soft lockup detector and khungtaskd.
 *
 * Follows kernel/watchdog.c and kernel/hung_task.c. Soft lockup: every tick
 * (hardirq) checks how long ago this CPU last went through a scheduling
 * point (its loop, schedule(), cond_resched()); past `softLockupMs` it prints
 * "watchdog: BUG: soft lockup - CPU#N stuck for Ns! [comm:pid]" with what the
 * CPU was doing (the IRQ, softirq, tasklet, timer or lock it was in) and its
 * stack, once per episode. Hung task: a task asleep in TASK_UNINTERRUPTIBLE
 * longer than `hungTaskMs` gets "INFO: task comm:pid blocked for more than
 * N seconds." (sched.ts calls the check from the CPU loop). The hard lockup
 * detector (a CPU that takes no interrupt at all) lives on the host side,
 * in the Machine, as the NMI watchdog lives outside the stuck CPU.
 *
 * Differs from Linux:
 * - a soft lockup report never panics (softlockup_panic=0, the default).
 * - thresholds are boot options in milliseconds (kernel: watchdog_thresh
 *   seconds, soft lockup at 2 × thresh; hung_task_timeout_secs).
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  H_SOFTLOCKUP_MS,
  H_HUNG_TASK_MS,
  PC_SOFTLOCKUPS,
  PC_IRQ_CURRENT,
  PC_SOFTIRQ_CURRENT,
  PC_TASKLET_CURRENT,
  PC_TIMER_CURRENT,
  PC_SPINNING_ON,
  PC_PREEMPT_COUNT,
  PC_WORK_CURRENT,
  TL_NAME,
  TM_NAME,
  LK_NAME,
} from './layout.js';
import { mem, i32, cpuId, PCB } from './smp.js';
import { printk, KERN_EMERG, KERN_ERR, dump_context, call_trace } from './printk.js';
import { name_of, loaded_modules } from './module.js';
import { context_name } from './preempt.js';

const SOFTIRQ_NAMES = ['HI', 'TIMER', 'NET_TX', 'NET_RX', 'BLOCK', 'IRQ_POLL', 'TASKLET', 'SCHED', 'HRTIMER', 'RCU'];

let touchedAt = 0;
let reported = false;
let softLockupMs = 20_000;

/**
 * touch_softlockup_watchdog - this CPU went through a scheduling point: restart
 * its soft-lockup interval and allow a new report.
 * Context: any, on this CPU. Does not sleep.
 */
export function touch_softlockup_watchdog(): void {
  touchedAt = clock_now();
  reported = false;
}

/**
 * describeActivity - what CPU `cpu` of `m` is doing now, in words (for lockup reports).
 * @param m - the machine's memory.
 * @param cpu - the CPU.
 * @param inTick - true when called from that CPU's tick: describe what the tick interrupted.
 * Context: any thread, host side too; reads the CPU's words with Atomics.load. Does not sleep.
 * @returns the context, then the handler, softirq, tasklet, timer, work or lock it is in.
 */
export function describeActivity(m: Mem, cpu: number, inTick = false): string {
  const a = m.i32;
  const f = (x: number): number => Atomics.load(a, m.cpu(cpu, x));
  // from the tick, describe what the interrupt interrupted
  const parts: string[] = [context_name(f(PC_PREEMPT_COUNT) - (inTick ? 0x10000 : 0))];
  if (f(PC_IRQ_CURRENT)) parts.push(`in the handler of IRQ ${f(PC_IRQ_CURRENT) - 1}`);
  if (f(PC_SOFTIRQ_CURRENT)) parts.push(`serving softirq ${SOFTIRQ_NAMES[f(PC_SOFTIRQ_CURRENT) - 1]}`);
  if (f(PC_TASKLET_CURRENT))
    parts.push(`in tasklet ${name_of(m, a[m.tasklet(f(PC_TASKLET_CURRENT) - 1, TL_NAME)]!) || `#${f(PC_TASKLET_CURRENT) - 1}`}`);
  if (f(PC_TIMER_CURRENT))
    parts.push(`in the function of timer ${name_of(m, a[m.timer(f(PC_TIMER_CURRENT) - 1, TM_NAME)]!) || `#${f(PC_TIMER_CURRENT) - 1}`}`);
  if (f(PC_WORK_CURRENT)) parts.push(`running work ${name_of(m, f(PC_WORK_CURRENT))}`);
  if (f(PC_SPINNING_ON)) parts.push(`spinning on lock ${name_of(m, a[m.lock(f(PC_SPINNING_ON) - 1, LK_NAME)]!)}`);
  return parts.join(', ');
}

/**
 * watchdog_timer_fn - the tick's check: report (once until touched again) a CPU that
 * has not gone through a scheduling point for the soft-lockup interval.
 * Context: hardirq (this CPU's tick). Does not sleep.
 */
export function watchdog_timer_fn(): void {
  if (reported) return;
  const stuck = clock_now() - touchedAt;
  if (stuck < softLockupMs) return;
  reported = true;
  i32[PCB + PC_SOFTLOCKUPS]!++;
  const [head] = dump_context().split('\n');
  const comm = /Comm: (\S+)/.exec(head ?? '')?.[1] ?? '?';
  const pid = /PID: (\d+)/.exec(head ?? '')?.[1] ?? '0';
  printk(KERN_EMERG + `watchdog: BUG: soft lockup - CPU#${cpuId} stuck for ${Math.floor(stuck / 1000)}s! [${comm}:${pid}]`);
  printk(KERN_EMERG + `Modules linked in: ${loaded_modules().join(' ')}`);
  for (const l of dump_context().split('\n')) printk(KERN_EMERG + l);
  printk(KERN_EMERG + `doing: ${describeActivity(mem, cpuId, true)}`);
  printk(KERN_EMERG + 'Call Trace:');
  printk(KERN_EMERG + ' <IRQ>');
  printk(KERN_EMERG + '  watchdog_timer_fn');
  printk(KERN_EMERG + ' </IRQ>');
  for (const l of call_trace(undefined, 8)) printk(KERN_EMERG + l);
}

/**
 * report_hung_task - khungtaskd's report for one task blocked too long in TASK_UNINTERRUPTIBLE.
 * @param comm - the task's comm.
 * @param pid - its pid.
 * @param blockedMs - how long it has been blocked.
 * @param wchan - where it sleeps ("" prints "?").
 * Context: the checking CPU (khungtaskd's check). Does not sleep.
 */
export function report_hung_task(comm: string, pid: number, blockedMs: number, wchan: string): void {
  printk(KERN_ERR + `INFO: task ${comm}:${pid} blocked for more than ${Math.floor(blockedMs / 1000)} seconds.`);
  printk(KERN_ERR + '      Not tainted 6.12.0-kdefer #1');
  printk(KERN_ERR + '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.');
  printk(KERN_ERR + `task:${comm.padEnd(15)} state:D stack:0     pid:${pid}   tgid:${pid}   ppid:2      flags:0x00004000`);
  printk(KERN_ERR + `wchan: ${wchan || '?'} (CPU#${cpuId})`);
}

/**
 * hung_task_ms - the hung-task timeout (boot option hungTaskMs).
 * Context: any, on a CPU. Does not sleep.
 * @returns the timeout in ms, 120 000 by default.
 */
export function hung_task_ms(): number {
  return i32[H_HUNG_TASK_MS]! || 120_000;
}

/**
 * watchdog_init_cpu - read the soft-lockup interval and start this CPU's interval.
 * Context: CPU bring-up, once per CPU. Does not sleep.
 */
export function watchdog_init_cpu(): void {
  softLockupMs = i32[H_SOFTLOCKUP_MS]! || 20_000;
  touch_softlockup_watchdog();
}
