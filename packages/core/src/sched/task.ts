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

/** The length of the NUL-terminated comm at word `w`. */
export function commBytesLen(m: Mem, w: number): number {
  let n = 0;
  while (n < TASK_COMM_BYTES && m.u8[w * 4 + n] !== 0) n++;
  return n;
}

/** The comm of `pid` (0: swapper). Host side too. */
export function comm_of_pid(m: Mem, pid: number): string {
  if (pid <= 0) return 'swapper';
  for (let s = 0; s < m.g.maxTasks; s++) {
    if (Atomics.load(m.i32, m.task(s, TK_PID)) === pid) {
      const w = m.task(s, TK_COMM);
      return getString(m, w, commBytesLen(m, w));
    }
  }
  return '<exited>';
}

/** The running task's comm, "swapper/N" when idle. */
export function current_comm(): string {
  return current ? current.comm : `swapper/${cpuId}`;
}
