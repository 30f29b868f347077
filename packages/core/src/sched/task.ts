/**
 * sched/task.ts — the task table's read side: who runs on this CPU now, and
 * the comm of any pid.
 *
 * Follows the kernel's split of `current` (asm/current.h: a per-CPU pointer
 * every layer may read) from the scheduler that changes it (kernel/sched/).
 * lockdep, spinlock and slab name tasks in their reports; they read them
 * here, in layer 2, instead of importing the scheduler above them. Where it
 * differs from Linux: `current` is null while the idle task runs, and only
 * sched.ts sets it (setCurrentTask, at every switch).
 */
import { type Mem, TK_PID, TK_COMM, TASK_COMM_BYTES, getString } from '../layout.js';
import { cpuId } from '../smp.js';

/** What the lower layers read of the running task (sched.ts's TaskStruct has it). */
export interface CurrentTask {
  readonly pid: number;
  readonly comm: string;
}

let current: CurrentTask | null = null;

/** sched.ts: the task now running on this CPU (null: the idle task). */
export function setCurrentTask(t: CurrentTask | null): void {
  current = t;
}

/**
 * The length of the NUL-terminated comm at word `w` (at most TASK_COMM_BYTES).
 * @param m - the machine's memory.
 * @param w - the comm's first word.
 * @returns its length in bytes.
 */
export function commBytesLen(m: Mem, w: number): number {
  let n = 0;
  while (n < TASK_COMM_BYTES && m.u8[w * 4 + n] !== 0) n++;
  return n;
}

/**
 * commOfPid - the comm of task `pid`.
 * @param m - the machine's memory.
 * @param pid - the task (0 or less: the idle task).
 * Context: any thread, host side too; scans the task table without a lock. Does not sleep.
 * @returns its comm, "swapper" for pid <= 0, "<exited>" when no task has that pid.
 */
export function commOfPid(m: Mem, pid: number): string {
  if (pid <= 0) return 'swapper';
  for (let s = 0; s < m.g.maxTasks; s++) {
    if (Atomics.load(m.i32, m.task(s, TK_PID)) === pid) {
      const w = m.task(s, TK_COMM);
      return getString(m, w, commBytesLen(m, w));
    }
  }
  return '<exited>';
}

/**
 * current_comm - the running task's comm.
 * Context: any, on a CPU. Does not sleep.
 * @returns the task's comm, "swapper/N" when this CPU runs its idle task.
 */
export function current_comm(): string {
  return current ? current.comm : `swapper/${cpuId}`;
}
