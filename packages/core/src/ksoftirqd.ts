/**
 * ksoftirqd.ts — ksoftirqd/N, the per-CPU thread that runs the softirqs
 * __do_softirq handed over.
 *
 * Follows kernel/softirq.c (run_ksoftirqd, wakeup_softirqd, spawn_ksoftirqd).
 * Linux keeps the thread in softirq.c; here it is a file of the scheduler's
 * layer (5), because the thread is a task and softirq.ts (layer 4) sits
 * below the scheduler. softirq.ts wakes it through the upcall table
 * (upcall.ts), which spawn_ksoftirqd fills at CPU init.
 */
import { PC_KSOFTIRQD_WAKEUPS } from './layout.js';
import { i32, PCB, cpuId } from './smp.js';
import { local_irq_enable, local_irq_disable } from './preempt.js';
import { registerUpcalls } from './upcall.js';
import { local_softirq_pending, __do_softirq } from './softirq.js';
import {
  type TaskStruct,
  kthread_create_on_cpu,
  wake_up_process,
  set_current_state,
  schedule,
  cond_resched,
  TASK_INTERRUPTIBLE,
  TASK_RUNNING,
  kthread_should_stop,
  task_is_running,
} from './sched.js';

let ksoftirqd: TaskStruct | null = null;

/** Wake this CPU's ksoftirqd (if it is not already running or runnable). */
function wake_ksoftirqd(): void {
  const t = ksoftirqd;
  if (t && !task_is_running(t)) {
    i32[PCB + PC_KSOFTIRQD_WAKEUPS]!++;
    wake_up_process(t);
  }
}

/** ksoftirqd/N: run what __do_softirq handed over, in softirq context, then yield. */
async function run_ksoftirqd(): Promise<void> {
  while (!kthread_should_stop()) {
    set_current_state(TASK_INTERRUPTIBLE);
    if (local_softirq_pending() === 0) {
      await schedule();
      continue;
    }
    set_current_state(TASK_RUNNING);
    local_irq_disable();
    if (local_softirq_pending() !== 0) __do_softirq();
    local_irq_enable();
    await cond_resched();
  }
}

/**
 * spawn_ksoftirqd - start this CPU's ksoftirqd and let softirq.ts wake it.
 * Context: CPU init (start_cpu), once per CPU.
 * @returns the thread.
 */
export function spawn_ksoftirqd(): TaskStruct {
  ksoftirqd = kthread_create_on_cpu(run_ksoftirqd, null, cpuId, 'ksoftirqd/%u');
  registerUpcalls({ wakeupSoftirqd: wake_ksoftirqd });
  wake_up_process(ksoftirqd);
  return ksoftirqd;
}

/**
 * this_ksoftirqd - this CPU's ksoftirqd.
 * Context: any on this CPU.
 * @returns the thread, or null before spawn_ksoftirqd.
 */
export function this_ksoftirqd(): TaskStruct | null {
  return ksoftirqd;
}
