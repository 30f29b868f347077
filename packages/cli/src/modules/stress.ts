/**
 * stress.ts — a built-in kdefer module: one shared counter, two contexts,
 * one lock variant — the cells of `kdefer stress locking` and the trials of
 * the `lost-update` campaign.
 *
 * Models what Documentation/kernel-hacking/locking.rst discusses: data
 * shared between process context, softirqs, tasklets, timers and hardirqs,
 * on one CPU or on two. Each cell names two sides:
 *
 *   side A (the "lower" context: the one the other may interrupt) runs a
 *     loop of N increments; after each one it posts one request for side B
 *     and triggers it (raises STRESS_IRQ, routed to B's CPU);
 *   side B drains the requests, one increment per request, in its context:
 *     the IRQ handler itself (hardirq), or what the handler starts —
 *     STRESS_SOFTIRQ, the tasklet, the timer — or a polling task.
 *
 * An increment is deliberately NOT atomic: lock; read the counter; a few
 * cpu_relax() (preemption points: interrupts land there); write it back;
 * unlock. With the right lock the counter ends at exactly A's + B's
 * increments; with the wrong one an update is lost, or the kernel reports.
 *
 * Forced windows: at a few chosen iterations A triggers B *between its read
 * and its write* and waits until B has done an increment, or has been seen
 * kept out by the lock (B counts its attempts before the lock and after it).
 * If the lock lets B in (on this CPU: interrupts or BH still enabled; on
 * another: no lock), B's update is lost, deterministically; if it keeps B
 * out, the window closes and nothing is lost. A plain spin_lock taken again by an
 * interrupt on the holder's CPU is reported as spinlock recursion and stops
 * the machine (S-LOCK-7) — which is why such cells get a machine of their own.
 *
 * Every (row, variant) cell has a lock of its own, named after it, so that
 * lockdep's usage bits and its once-per-lock reports never leak from one
 * cell into the next on a shared machine; campaign trials take fresh locks
 * from a pool of TRIAL_LOCKS.
 *
 * Differs from a real driver: the "device" is side A itself (it raises the
 * IRQ), so that where the interrupt lands is chosen, not left to chance.
 */
import {
  defineModule,
  DEFINE_SPINLOCK,
  type SpinlockT,
  DECLARE_TASKLET,
  DEFINE_TIMER,
  shared_int32,
  smp_processor_id,
  request_irq,
  irq_set_affinity,
  raiseIrq,
  IRQ_HANDLED,
  open_softirq,
  raise_softirq,
  BLOCK_SOFTIRQ,
  tasklet_schedule,
  timer_pending,
  mod_timer,
  get_jiffies_64,
  local_bh_disable,
  local_bh_enable,
  cpu_relax,
  cond_resched,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  spin_lock_irq,
  spin_unlock_irq,
  spin_lock_irqsave,
  spin_unlock_irqrestore,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

/** The module's name, for machine.call(cpu, STRESS, entry). */
export const STRESS = 'stress';
/** The IRQ line side A raises to trigger side B (routed to B's CPU). */
export const STRESS_IRQ = irqLine('stress');
/** The softirq vector of the softirq sides (unused by the kernel's own mechanisms). */
export const STRESS_SOFTIRQ = BLOCK_SOFTIRQ;

// ------------------------------------------------------------ contexts and variants

export const CTX_TASK = 0;
export const CTX_SOFTIRQ = 1;
export const CTX_TASKLET = 2;
export const CTX_TIMER = 3;
export const CTX_HARDIRQ = 4;
export type Ctx = typeof CTX_TASK | typeof CTX_SOFTIRQ | typeof CTX_TASKLET | typeof CTX_TIMER | typeof CTX_HARDIRQ;
export const CTX_NAMES = ['task', 'softirq', 'tasklet', 'timer', 'hardirq'] as const;

export const V_NONE = 0;
export const V_SPIN = 1;
export const V_BH = 2;
export const V_IRQ = 3;
export const V_IRQSAVE = 4;
export type Variant = typeof V_NONE | typeof V_SPIN | typeof V_BH | typeof V_IRQ | typeof V_IRQSAVE;
/** The lock variants, by the kernel's names, in order of what they exclude. */
export const VARIANTS = ['none', 'spin_lock', 'spin_lock_bh', 'spin_lock_irq', 'spin_lock_irqsave'] as const;
export type VariantName = (typeof VARIANTS)[number];
const V_SHORT = ['none', 'spin', 'bh', 'irq', 'irqsave'] as const;

/**
 * A row of the matrix: who shares the counter, and where.
 * `peer`: both sides are the same kind of context and both use the cell's
 * variant; otherwise B interrupts A, A uses the cell's variant and B takes
 * the lock with plain spin_lock (what the guide prescribes for the
 * interrupting side), or nothing in the `none` column.
 */
export interface StressRow {
  id: string;
  a: Ctx;
  b: Ctx;
  sameCpu: boolean;
  peer: boolean;
  /** the weakest variant S-LOCK-6 accepts for side A */
  min: Variant;
  /** what the guide says, in its words */
  guide: string;
  /** variants not run, with why (misuse rather than a locking choice) */
  skip?: Partial<Record<Variant, string>>;
}

const HARDIRQ_MISUSE = {
  [V_BH]: 'misuse: local_bh_enable in a hardirq handler',
  [V_IRQ]: 'misuse: spin_unlock_irq enables interrupts in a hardirq handler',
};

/** The rows of `kdefer stress locking`, in the order they are printed. */
export const STRESS_ROWS: readonly StressRow[] = [
  { id: 'task-task@other', a: CTX_TASK, b: CTX_TASK, sameCpu: false, peer: true, min: V_SPIN, guide: 'mutex; spin_lock' },
  { id: 'task-softirq@same', a: CTX_TASK, b: CTX_SOFTIRQ, sameCpu: true, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-softirq@other', a: CTX_TASK, b: CTX_SOFTIRQ, sameCpu: false, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-tasklet@same', a: CTX_TASK, b: CTX_TASKLET, sameCpu: true, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-tasklet@other', a: CTX_TASK, b: CTX_TASKLET, sameCpu: false, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-timer@same', a: CTX_TASK, b: CTX_TIMER, sameCpu: true, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-timer@other', a: CTX_TASK, b: CTX_TIMER, sameCpu: false, peer: false, min: V_BH, guide: 'spin_lock_bh' },
  { id: 'task-hardirq@same', a: CTX_TASK, b: CTX_HARDIRQ, sameCpu: true, peer: false, min: V_IRQ, guide: 'spin_lock_irq(save)' },
  { id: 'task-hardirq@other', a: CTX_TASK, b: CTX_HARDIRQ, sameCpu: false, peer: false, min: V_IRQ, guide: 'spin_lock_irq(save)' },
  { id: 'softirq-softirq@other', a: CTX_SOFTIRQ, b: CTX_SOFTIRQ, sameCpu: false, peer: true, min: V_SPIN, guide: 'spin_lock' },
  { id: 'softirq-tasklet@other', a: CTX_SOFTIRQ, b: CTX_TASKLET, sameCpu: false, peer: false, min: V_SPIN, guide: 'spin_lock' },
  { id: 'tasklet-tasklet@other', a: CTX_TASKLET, b: CTX_TASKLET, sameCpu: false, peer: true, min: V_NONE, guide: 'none' },
  { id: 'softirq-hardirq@same', a: CTX_SOFTIRQ, b: CTX_HARDIRQ, sameCpu: true, peer: false, min: V_IRQ, guide: 'spin_lock_irq' },
  { id: 'softirq-hardirq@other', a: CTX_SOFTIRQ, b: CTX_HARDIRQ, sameCpu: false, peer: false, min: V_IRQ, guide: 'spin_lock_irq' },
  { id: 'tasklet-hardirq@same', a: CTX_TASKLET, b: CTX_HARDIRQ, sameCpu: true, peer: false, min: V_IRQ, guide: 'spin_lock_irq' },
  {
    id: 'hardirq-hardirq@other',
    a: CTX_HARDIRQ,
    b: CTX_HARDIRQ,
    sameCpu: false,
    peer: true,
    min: V_NONE,
    guide: 'none',
    skip: HARDIRQ_MISUSE,
  },
];

/** Fresh locks for campaign trials (one per trial: lockdep reports once per lock). */
export const TRIAL_LOCKS = 256;
/** Index of the lock of cell (row, variant). */
export const cellLock = (row: number, v: Variant): number => row * VARIANTS.length + v;
/** Index of the k-th trial lock. */
export const trialLock = (k: number): number => STRESS_ROWS.length * VARIANTS.length + (k % TRIAL_LOCKS);
/** The name of lock `index`, as dmesg prints it. */
export function stressLockName(index: number): string {
  const cells = STRESS_ROWS.length * VARIANTS.length;
  if (index >= cells) return `stress.trial${index - cells}`;
  return `stress.${STRESS_ROWS[Math.floor(index / VARIANTS.length)]!.id}.${V_SHORT[index % VARIANTS.length]}`;
}

// ------------------------------------------------------------ the control array

/** Words of the shared control array `stress.ctl` (host writes the setup, Atomics for the rest). */
export const S_LOCK = 0; //     index of the cell's lock (I: host, before the run)
export const S_VA = 1; //       side A's variant (I)
export const S_VB = 2; //       side B's variant (I)
export const S_KA = 3; //       side A's context (I)
export const S_KB = 4; //       side B's context (I)
export const S_CPU_A = 5; //    side A's CPU (I)
export const S_CPU_B = 6; //    side B's CPU (I)
export const S_N = 7; //        A's increments (I)
export const S_RELAX = 8; //    cpu_relax() between read and write (I)
export const S_COUNTER = 9; //  THE counter: plain reads and writes under the cell's lock (that is the point)
export const S_REQ = 10; //     B requests not yet drained (A)
export const S_A_DONE = 11; //  A increments done (A)
export const S_B_DONE = 12; //  B increments done (A)
export const S_A_PHASE = 13; // host -> the context that must run A's loop: 1 = take it (A: compareExchange)
export const S_STOP = 14; //    host -> B task: stop polling (A)
export const S_OUTSIDE = 15; // 1: every non-window iteration also triggers B, after unlock (I)
export const S_WAIT_US = 16; // how long a window waits for B, µs (I)
export const S_WINDOWS = 17; // windows opened (A)
export const S_WIN_HIT = 18; // windows B got into (A)
export const S_NWIN = 19; //    window iterations listed at S_WIN_AT (I)
export const S_A_STARTED = 20; // A's loop began (A)
export const S_POSTED = 21; //  requests posted for B (A)
export const S_B_TRY = 22; //   B increments begun: before taking the lock (A)
export const S_B_IN = 23; //    B increments inside: the lock taken (A)
export const S_WIN_AT = 24; //  sorted iterations of A that open a window (I)
export const MAX_WINDOWS = 32;
/** A window closes once B has tried this long without getting the lock (ms). */
export const WINDOW_GRACE_MS = 2;
/** ... or once B has been inside this long without finishing (ms): a bound, never reached in practice. */
export const WINDOW_LIMIT_MS = 2000;
/** Preemption points a window spins at least before giving up on B (a tick is noticed every 256). */
export const WINDOW_MIN_SPINS = 2048;
export const CTL_WORDS = S_WIN_AT + MAX_WINDOWS;

// ------------------------------------------------------------ the module

export default defineModule(STRESS, () => {
  const s = shared_int32('stress.ctl', CTL_WORDS);
  const locks: SpinlockT[] = [];
  for (let i = 0; i < STRESS_ROWS.length * VARIANTS.length + TRIAL_LOCKS; i++) locks.push(DEFINE_SPINLOCK(stressLockName(i)));

  /**
   * One non-atomic increment under variant `v`; `win` runs between the read
   * and the write, `entered` once the lock is taken.
   */
  function increment(v: number, win: (() => void) | null, entered?: () => void): void {
    const L = locks[s[S_LOCK]!]!;
    const relax = s[S_RELAX]!;
    let flags = 0;
    switch (v) {
      case V_SPIN:
        spin_lock(L);
        break;
      case V_BH:
        spin_lock_bh(L);
        break;
      case V_IRQ:
        spin_lock_irq(L);
        break;
      case V_IRQSAVE:
        flags = spin_lock_irqsave(L);
        break;
    }
    entered?.();
    const x = s[S_COUNTER]!;
    if (win) win();
    for (let k = 0; k < relax; k++) cpu_relax();
    s[S_COUNTER] = x + 1;
    switch (v) {
      case V_SPIN:
        spin_unlock(L);
        break;
      case V_BH:
        spin_unlock_bh(L);
        break;
      case V_IRQ:
        spin_unlock_irq(L);
        break;
      case V_IRQSAVE:
        spin_unlock_irqrestore(L, flags);
        break;
    }
  }

  /** Post one request for side B and kick its context (a polling task needs no kick). */
  function trigger_b(): void {
    Atomics.add(s, S_POSTED, 1);
    Atomics.add(s, S_REQ, 1);
    if (s[S_KB] !== CTX_TASK) raiseIrq(STRESS_IRQ);
  }

  /**
   * A forced window: trigger B now, between our read and our write, and see
   * whether it gets in. 1: wait (up to S_WAIT_US) until B begins an increment;
   * 2: if B takes the lock, wait until it is done (it will be: the update it
   * makes is the one our write then loses); if B is still outside the lock
   * after WINDOW_GRACE_MS, the lock keeps it out: close the window.
   * Waiting for B's attempt rather than for a fixed time keeps the outcome
   * the same on a loaded host, where B's thread may start late.
   */
  function window(): void {
    Atomics.add(s, S_WINDOWS, 1);
    const done0 = Atomics.load(s, S_B_DONE);
    trigger_b();
    const waitMs = s[S_WAIT_US]! / 1000;
    let t0 = performance.now();
    let spins = 0;
    // 1. Until B has an attempt under way (begun, not yet inside the lock: read IN before TRY), or is done with one.
    //    At least WINDOW_MIN_SPINS preemption points, so that a tick (a timer side) is noticed even after the host descheduled us.
    for (;;) {
      const inside = Atomics.load(s, S_B_IN);
      if (Atomics.load(s, S_B_TRY) !== inside || Atomics.load(s, S_B_DONE) !== done0) break;
      cpu_relax();
      if ((++spins & 15) === 0 && spins > WINDOW_MIN_SPINS && performance.now() - t0 > waitMs) return;
    }
    // 2. B got the lock (or needs none): it finishes, and our write loses its update. Still outside after the grace: kept out.
    const in0 = Atomics.load(s, S_B_IN);
    t0 = performance.now();
    while (Atomics.load(s, S_B_DONE) === done0) {
      cpu_relax();
      if ((++spins & 15) === 0) {
        const dt = performance.now() - t0;
        if ((Atomics.load(s, S_B_IN) === in0 && dt > WINDOW_GRACE_MS) || dt > WINDOW_LIMIT_MS) return;
      }
    }
    Atomics.add(s, S_WIN_HIT, 1);
  }

  /** Side A's loop, in whatever context it was started in (atomic ones included). */
  function loop_a_sync(from: number, to: number, next: { w: number }): void {
    const va = s[S_VA]!;
    const nwin = s[S_NWIN]!;
    const outside = s[S_OUTSIDE] !== 0;
    for (let i = from; i < to; i++) {
      const isWin = next.w < nwin && s[S_WIN_AT + next.w] === i;
      if (isWin) next.w++;
      increment(va, isWin ? window : null);
      Atomics.add(s, S_A_DONE, 1);
      if (!isWin && outside) trigger_b();
    }
  }

  function loop_a_atomic(): void {
    Atomics.store(s, S_A_STARTED, 1);
    loop_a_sync(0, s[S_N]!, { w: 0 });
  }

  const b_entered = (): void => void Atomics.add(s, S_B_IN, 1);

  /** Side B: one increment per posted request, in the current context. */
  function drain_b(): void {
    const vb = s[S_VB]!;
    for (;;) {
      const r = Atomics.load(s, S_REQ);
      if (r <= 0) return;
      if (Atomics.compareExchange(s, S_REQ, r, r - 1) !== r) continue;
      Atomics.add(s, S_B_TRY, 1);
      increment(vb, null, b_entered);
      Atomics.add(s, S_B_DONE, 1);
    }
  }

  /** Whether this run of a `kind` context is side A's (taken once, on A's CPU). */
  function take_a(kind: number): boolean {
    return s[S_KA] === kind && smp_processor_id() === s[S_CPU_A] && Atomics.compareExchange(s, S_A_PHASE, 1, 0) === 1;
  }

  const tasklet = DECLARE_TASKLET('stress.tasklet', function stress_tasklet() {
    if (take_a(CTX_TASKLET)) loop_a_atomic();
    else if (s[S_KB] === CTX_TASKLET) drain_b();
  });
  const timer = DEFINE_TIMER('stress.timer', function stress_timer() {
    if (s[S_KB] === CTX_TIMER) drain_b();
  });
  open_softirq(STRESS_SOFTIRQ, function stress_softirq() {
    if (take_a(CTX_SOFTIRQ)) loop_a_atomic();
    else if (s[S_KB] === CTX_SOFTIRQ) drain_b();
  });
  request_irq(
    STRESS_IRQ,
    function stress_interrupt() {
      if (take_a(CTX_HARDIRQ)) {
        // From now on the line goes to B's CPU (the same handler, side B).
        irq_set_affinity(STRESS_IRQ, [s[S_CPU_B]!]);
        loop_a_atomic();
        return IRQ_HANDLED;
      }
      switch (s[S_KB]) {
        case CTX_HARDIRQ:
          drain_b();
          break;
        case CTX_SOFTIRQ:
          raise_softirq(STRESS_SOFTIRQ);
          break;
        case CTX_TASKLET:
          tasklet_schedule(tasklet);
          break;
        case CTX_TIMER:
          if (!timer_pending(timer)) mod_timer(timer, get_jiffies_64());
          break;
      }
      return IRQ_HANDLED;
    },
    0,
    'stress',
    null,
  );

  return {
    /**
     * runA - start side A on this CPU in its context and return when its
     * loop is done: a task runs it here (yielding between increments now and
     * then); a softirq or tasklet is raised with BH disabled and runs at
     * local_bh_enable; a hardirq is raised on this CPU.
     * @returns A's increments.
     */
    async runA(): Promise<number> {
      const ka = s[S_KA]!;
      if (ka === CTX_TASK) {
        Atomics.store(s, S_A_STARTED, 1);
        const n = s[S_N]!;
        const next = { w: 0 };
        for (let i = 0; i < n; i += 64) {
          loop_a_sync(i, Math.min(n, i + 64), next);
          await cond_resched();
        }
      } else {
        Atomics.store(s, S_A_PHASE, 1);
        if (ka === CTX_HARDIRQ) {
          irq_set_affinity(STRESS_IRQ, [smp_processor_id()]);
          raiseIrq(STRESS_IRQ);
          cpu_relax();
        } else {
          local_bh_disable();
          if (ka === CTX_SOFTIRQ) raise_softirq(STRESS_SOFTIRQ);
          else tasklet_schedule(tasklet);
          local_bh_enable();
        }
        // An atomic side A ran to the end before we got here, unless it could not start.
        if (Atomics.load(s, S_A_PHASE) !== 0)
          throw new Error(`stress: side A (${CTX_NAMES[ka]}) did not start on CPU ${smp_processor_id()}`);
      }
      return Atomics.load(s, S_A_DONE);
    },
    /** runB - side B as a task: drain requests until the host says stop. @returns B's increments. */
    async runB(): Promise<number> {
      let polls = 0;
      while (Atomics.load(s, S_STOP) === 0) {
        drain_b();
        cpu_relax();
        if ((++polls & 63) === 0) await cond_resched();
      }
      drain_b();
      return Atomics.load(s, S_B_DONE);
    },
  };
});
