/**
 * sched/idle.ts — the CPU loop: run tasks, take interrupts, answer the host,
 * and wait idle when there is nothing to do.
 *
 * Follows kernel/sched/idle.c (cpu_startup_entry, do_idle): the loop a CPU
 * runs for its whole life once it is up. The run queue, the context switch
 * and the sleepers stay in sched.ts (kernel/sched/core.c); this file only
 * drives them. While no task is runnable the CPU waits on its wake word
 * (cpu_idle_wait: Atomics.wait, bounded by its next timed event); a doorbell
 * wakes it.
 */
import {
  PC_WAKE,
  PC_IDLE,
  PC_CONTROL_HOST,
  PC_STATE,
  PC_HALTED,
  PC_SOFTIRQ_PENDING,
  CPU_ONLINE,
  CPU_HALTED,
  H_ACTIVITY,
} from '../layout.js';
import { i32, cpuId, PCB } from '../smp.js';
import { preempt_point, entry_work_pending, entry_check_tick_soon } from '../entry.js';
import { printk, KERN_ERR, KernelHalt } from '../printk.js';
import { det_on, det_idle, det_exit_cpu, det_set_foreign_probe } from '../det.js';
import { wakeup_softirqd } from '../softirq.js';
import { touch_softlockup_watchdog } from '../watchdog.js';
import { rcu_loop_qs, rcu_switch_in, rcu_note_context_switch, rcu_idle_enter, rcu_idle_exit } from '../rcu.js';
import {
  pickNextTask,
  nrRunning,
  foreignInFlight,
  runTask,
  clearCurrent,
  checkHungTasks,
  expireSleepers,
  nextEventMs,
  exitAllTasks,
} from '../sched.js';

/** What the worker gives the loop: how to hand control messages to comlink. */
export interface CpuLoopHooks {
  drainControl: () => void;
  onHalt: (reason: string) => void;
}

let halted = false;
let stopping = false;

const macrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

function work_pending(): boolean {
  return (
    nrRunning() > 0 ||
    entry_work_pending() ||
    Atomics.load(i32, PCB + PC_CONTROL_HOST) !== 0 ||
    Atomics.load(i32, PCB + PC_SOFTIRQ_PENDING) !== 0
  );
}

/**
 * cpu_startup_entry - this CPU's loop, for its whole life: run tasks, take
 * interrupts, answer the host, and wait idle when there is nothing to do.
 * Context: the CPU worker's top level, once, after start_cpu.
 * @returns when the host asked the CPU to stop (cpu_request_stop).
 */
export async function cpu_startup_entry(hooks: CpuLoopHooks): Promise<void> {
  i32[PCB + PC_STATE] = CPU_ONLINE;
  det_set_foreign_probe(() => foreignInFlight() > 0);
  for (;;) {
    if (Atomics.load(i32, PCB + PC_CONTROL_HOST) !== 0) {
      Atomics.store(i32, PCB + PC_CONTROL_HOST, 0);
      hooks.drainControl();
      await macrotask();
    }
    if (stopping) break;
    if (halted) {
      await cpu_idle_wait(Infinity);
      continue;
    }
    try {
      touch_softlockup_watchdog();
      preempt_point();
      expireSleepers();
      checkHungTasks();
      rcu_loop_qs();
      const t = pickNextTask();
      if (t !== undefined) {
        Atomics.add(i32, H_ACTIVITY, 1);
        rcu_switch_in(t);
        await runTask(t);
        rcu_note_context_switch(t);
        if (foreignInFlight() > 0) await macrotask();
        continue;
      }
      if (Atomics.load(i32, PCB + PC_SOFTIRQ_PENDING) !== 0) {
        // Raised at idle level (a tick's timer, say) with no irq_exit to run it.
        wakeup_softirqd();
        if (nrRunning() > 0) continue;
      }
      await cpu_idle_wait(nextEventMs());
    } catch (e) {
      clearCurrent();
      const reason = e instanceof KernelHalt ? e.reason : `${e instanceof Error ? e.stack : String(e)}`;
      if (!(e instanceof KernelHalt)) printk(KERN_ERR + `kdefer: CPU#${cpuId} loop failed: ${reason}`);
      cpu_halt(reason);
      hooks.onHalt(reason);
    }
  }
  i32[PCB + PC_STATE] = 0;
  det_exit_cpu();
}

/**
 * The idle wait: with nothing to run, block on this CPU's wake word until a
 * doorbell rings or `timeoutMs` passes (Infinity: no bound). Returns at once
 * when work is already pending. The one place the CPU loop waits idle.
 * In deterministic mode it passes the baton instead (det_idle) and returns
 * when this CPU has it again; a host operation in flight keeps the baton.
 */
async function cpu_idle_wait(timeoutMs: number): Promise<void> {
  const seq = Atomics.load(i32, PCB + PC_WAKE);
  if (!halted && work_pending()) return;
  i32[PCB + PC_IDLE] = 1;
  rcu_idle_enter();
  await macrotask(); // comlink replies and awaitHost settlements go out/in here
  if ((halted || !work_pending()) && Atomics.load(i32, PCB + PC_WAKE) === seq && !stopping) {
    const t = timeoutMs === Infinity ? undefined : Math.max(0, timeoutMs);
    if (det_on() && foreignInFlight() === 0) {
      det_idle(seq, timeoutMs);
    } else if (foreignInFlight() > 0) {
      // A host operation settles on this thread's event loop: wait without
      // blocking it. A pending waitAsync alone does not keep a worker alive,
      // so a ref'd timer (which is also the timeout) does.
      // Both bounded by the same time: a waitAsync left queued after its
      // timer won would swallow the next notify meant for this CPU.
      const bound = Math.min(t ?? 1000, 1000);
      const r = Atomics.waitAsync(i32, PCB + PC_WAKE, seq, bound);
      if (r.async) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([r.value, new Promise((res) => (timer = setTimeout(res, bound + 5)))]);
        clearTimeout(timer);
      }
    } else {
      Atomics.wait(i32, PCB + PC_WAKE, seq, t);
    }
  }
  rcu_idle_exit();
  i32[PCB + PC_IDLE] = 0;
  entry_check_tick_soon();
}

function cpu_halt(reason: string): void {
  halted = true;
  i32[PCB + PC_HALTED] = 1;
  i32[PCB + PC_STATE] = CPU_HALTED;
  i32[PCB + PC_IDLE] = 1;
  exitAllTasks(reason);
}

/**
 * cpu_halted - whether this CPU stopped after a BUG or panic.
 * Context: any, on this CPU.
 * @returns true once the CPU loop has halted.
 */
export function cpu_halted(): boolean {
  return halted;
}

/**
 * cpu_request_stop - leave cpu_startup_entry at its next turn (shutdown).
 * Context: the CPU worker's control handler.
 */
export function cpu_request_stop(): void {
  stopping = true;
}
