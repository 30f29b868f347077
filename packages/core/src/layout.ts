/**
 * layout.ts — the shared-memory map of one kdefer machine.
 *
 * Everything the CPUs share lives in ONE SharedArrayBuffer, laid out here and
 * nowhere else: no other file does offset arithmetic. Offsets are in 32-bit
 * words; each region starts where the previous one ends, aligned to a
 * 128-byte line (32 words) so that no two CPUs' hot words share a cache line.
 *
 *   word 0 ┌────────────────────────────────────────────────────────────┐
 *          │ header (64 words): magic, geometry, machine state, jiffies,│
 *          │ registry lock, printk head, activity counter, boot time    │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ per-CPU areas, CPU_STRIDE words each, at cpuBase + cpu*S   │
 *          │   line 0: written by the CPU itself (preempt_count, ...)   │
 *          │   line 1: written by others (irq request, wake, IRR bits)  │
 *          │   line 2-3: statistics (kstat_softirqs, ksoftirqd, LOC)    │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ kstat_irqs: per CPU, one counter per IRQ line              │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ IRQ descriptors: nrIrqs × IRQ_STRIDE                       │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ locks: maxLocks × LOCK_STRIDE (one 128-byte line per lock) │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ name registry: maxNames × NAME_STRIDE                      │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ task table: maxTasks × TASK_STRIDE (what `ps` shows)       │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ kernel log ring: logRecords × LOG_STRIDE                   │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ data arena: dataWords, handed out by name (shared arrays,  │
 *          │ per-CPU arrays, tables of later mechanisms). The kernel's  │
 *          │ own, laid out below ("tables in the data arena"):          │
 *          │   kernel.lockdep.graph: maxLocks rows of dependency bits;  │
 *          │   kernel.lockdep.reported: LOCKDEP_REPORTED_SIZE words;    │
 *          │   kernel.lockdep.held: cpus × LOCKDEP_CPU_STRIDE;          │
 *          │   kernel.trace: cpus × trace_ring_words(H_TRACE_RECORDS)   │
 *          │   (boot option trace; setup adds them to dataWords);       │
 *          │   kernel.slab.freelists: KMALLOC_FREELISTS list heads      │
 *          │   kernel.rcu: rcu_state line, cpus × rcu_data (rcu.ts)     │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ tasklet_struct table: maxTasklets × TASKLET_STRIDE         │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ timer_list table: maxTimers × TIMER_STRIDE                 │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ timer bases: per CPU, lock, clk, next_expiry, running_timer│
 *          │ and the wheel's bucket heads (LVL_DEPTH × 64)              │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ slab object descriptors: maxObjects × OBJ_STRIDE           │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ slab memory: slabWords (objects' fields, poisoned on free) │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ workqueues and sleeping primitives (workqueue.ts, wait.ts):│
 *          │   globals (one line); worker_pool × (4·cpus + 2);          │
 *          │   pool_workqueue × maxWorkqueues·cpus; workqueue_struct ×  │
 *          │   maxWorkqueues; work_struct × maxWorks; worker ×          │
 *          │   maxWorkers; wait objects (wait_queue_head, completion,   │
 *          │   mutex) × maxWaitObjects; wait_queue_entry × maxTasks     │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ NAPI and softnet (napi.ts): softnet_data per CPU (poll     │
 *          │   list, softnet_stat, netif_rx backlog); napi_struct ×     │
 *          │   maxNapi (ids 0..cpus-1: the CPUs' backlog pseudo-NAPIs)  │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ irq_work table (irq_work.ts): maxIrqWorks × IRQ_WORK_STRIDE│
 *          ├────────────────────────────────────────────────────────────┤
 *          │ hrtimer table (hrtimer.ts): maxHrtimers × HRTIMER_STRIDE;  │
 *          │   hrtimer_cpu_base per CPU (lock, running, queue heads)    │
 *          ├────────────────────────────────────────────────────────────┤
 *          │ deterministic mode (det.ts): detWords (0 unless boot option│
 *          │   schedule): strategy words, PCT priorities, the replay    │
 *          │   table and the record of switches (step, cpu)             │
 *          └────────────────────────────────────────────────────────────┘
 *
 * Access rules, in each field's trailing comment (as kernel/workqueue.c marks
 * its fields): `I` written once at init; `A` only by Atomics read-modify-write;
 * `C` written by its own CPU only (plain stores), read by others with
 * Atomics.load; `L(lock)` only under that lock; `R` under the registry lock;
 * `P` by whoever owns the work's PENDING bit, published to others by an
 * Atomics write that follows (the push onto a pool's inbound list).
 */

/** Boot-time capacities. Every table is fixed-size; running out is an error naming it. */
export interface Geometry {
  cpus: number;
  hz: number;
  nrIrqs: number;
  maxLocks: number;
  maxNames: number;
  maxTasks: number;
  logRecords: number;
  dataWords: number;
  maxTasklets: number;
  maxTimers: number;
  maxObjects: number;
  slabWords: number;
  maxWorks: number;
  maxWorkqueues: number;
  maxWorkers: number;
  maxWaitObjects: number;
  maxNapi: number;
  maxIrqWorks: number;
  maxHrtimers: number;
  /** words of the deterministic-mode region (det.ts; set by setup from boot option schedule, 0 off) */
  detWords: number;
}

export const DEFAULT_GEOMETRY: Omit<Geometry, 'cpus'> = {
  hz: 1000,
  nrIrqs: 64, // enough for a few devices; IRQ numbers 0..nrIrqs-1
  maxLocks: 1024,
  maxNames: 4096,
  maxTasks: 512,
  logRecords: 4096, // 1 MiB of log
  dataWords: 1 << 20, // 4 MiB arena
  maxTasklets: 1024,
  maxTimers: 4096,
  maxObjects: 16384, // slab objects live at once (including quarantine)
  slabWords: 1 << 20, // 4 MiB of slab memory
  maxWorks: 4096, // work_struct + delayed_work slots
  maxWorkqueues: 64, // the 6 system workqueues plus modules'
  maxWorkers: 512, // kworkers alive at once (every CPU keeps ~6 at rest)
  maxWaitObjects: 2048, // wait queue heads, completions, mutexes (64 reserved for work flushing)
  maxNapi: 256, // napi_structs: one per CPU (the backlog) plus one per device queue
  maxIrqWorks: 256, // struct irq_work slots (named with IRQ_WORK_INIT*)
  maxHrtimers: 512, // struct hrtimer slots (named with HRTIMER)
  detWords: 0, // no deterministic mode
};

/** The most CPUs an affinity mask (two words) can name. */
export const MAX_CPUS = 64;

export const LINE_WORDS = 32; // 128 bytes
const align = (w: number): number => Math.ceil(w / LINE_WORDS) * LINE_WORDS;

// ---------------------------------------------------------------- header
export const H_MAGIC = 0; //                I  'KDEF'
export const H_NR_CPUS = 1; //              I
export const H_HZ = 2; //                   I
export const H_NR_IRQS = 3; //              I
export const H_STATE = 4; //                A  MACHINE_* below
export const H_PANIC_CPU = 5; //            A  first CPU to panic, -1 none
export const H_JIFFIES = 6; //              A  low 32 bits of jiffies (monotonic max)
export const H_REG_LOCK = 7; //             A  registry lock word (init-time allocations)
export const H_NAMES_USED = 8; //           R
export const H_DATA_USED = 9; //            R  words of the arena handed out
export const H_LOG_HEAD = 10; //            A  next printk sequence number
export const H_ACTIVITY = 11; //            A  bumped whenever a CPU does work (quiesce)
export const H_TASKS_USED = 12; //          R  task slots handed out
export const H_NEXT_PID = 13; //            A
export const H_LOCKS_USED = 14; //          R
export const H_OOPS_COUNT = 15; //          A
export const H_PANIC_ON_OOPS = 16; //       I  1: an Oops stops the machine
export const H_SPIN_LOCKUP_MS = 17; //      I  spinlock lockup bound
export const H_TRACE_FLAGS = 18; //         I  reserved for tracing
export const H_IRQ_ROUTING = 19; //         A  reserved for the device model
export const H_BOOT_TIME = 20; //           I  float64 at word 20 (8-byte aligned): epoch ms of boot
export const H_SOFTLOCKUP_MS = 22; //       I
export const H_INITIAL_JIFFIES = 23; //     I  jiffies at boot (INITIAL_JIFFIES)
export const H_SEED = 24; //                I  machine seed (race amplification)
export const H_TASKLETS_USED = 25; //       R  tasklet slots handed out
export const H_TIMERS_USED = 26; //         R  timer slots handed out
export const H_SLAB_LOCK = 27; //           A  slab allocator lock
export const H_SLAB_USED = 28; //           L(slab) words of the slab region handed out (bump)
export const H_KASAN_REPORTS = 29; //       A  KASAN reports printed
export const H_QUAR_HEAD = 30; //           L(slab) quarantine FIFO head (slot + 1)
export const H_QUAR_TAIL = 31; //           L(slab)
export const H_QUAR_WORDS = 32; //          L(slab) words held in quarantine
export const H_OBJ_HINT = 33; //            A  next object slot to try
export const H_LOCKDEP = 34; //             I  1: the lock validator is on (boot option lockdep)
export const H_LOCKDEP_LOCK = 35; //        A  graph lock (new dependencies are rare)
export const H_LOCKDEP_REPORTS = 36; //     A  lockdep reports printed
export const H_AMPLIFY = 37; //             I  race amplification level (0 off)
export const H_HUNG_TASK_MS = 38; //        I  hung task threshold (khungtaskd)
export const H_HARDLOCKUP_MS = 39; //       I  hard lockup threshold (the host's NMI watchdog)
export const H_TRACE_RECORDS = 40; //       I  records per CPU trace ring (a power of two)
export const H_ERA = 47; //                 I  the kernel era booted (era/era.ts ERA_*; 0 = 6.x)
export const H_THREADIRQS = 48; //          I  1: boot option threadirqs (force_irqthreads)
export const H_RCU_STALL_MS = 51; //        I  RCU CPU stall timeout (rcu_cpu_stall_timeout, in ms; boot option rcuStallMs)
// deterministic mode (det.ts, boot option schedule): written only by the baton holder unless marked A
export const H_DET_MODE = 52; //            A  DET_OFF, DET_ON, DET_ENDING (shutdown: everyone runs free)
export const H_DET_HOLDER = 53; //          B  CPU holding the baton, -1 the host
export const H_DET_STEP = 54; //            B  preemption points taken so far (the schedule's clock)
export const H_DET_HOST_BATON = 55; //      A  1 while the host holds the baton (its Atomics.waitAsync word)
export const H_DET_VCLOCK = 56; //          B  float64 at word 56: virtual epoch ms (clock_now in det mode)
export const H_DET_FPRINT = 58; //          B  fingerprint of the run so far: a hash of each step's CPU, kind, preempt_count, pid
export const H_DET_SPARE = 59; //           -  reserved
export const H_DET_RNG = 60; //             B  the strategy's xorshift32 state
export const H_DET_SWITCHES = 61; //        B  switches recorded (DT_RECORD)
export const H_DET_FLAGS = 62; //           I  DETF_* below
export const H_DET_DIVERGED = 63; //        B  replay: step + 1 where the run left its schedule, 0 none
export const HEADER_WORDS = 64;

export const MAGIC = 0x4b444546; // 'KDEF'

/** H_DET_MODE values. */
export const DET_OFF = 0;
export const DET_ON = 1;
export const DET_ENDING = 2;
/** H_DET_FLAGS bits. */
export const DETF_LENIENT = 1 << 0; // replay: a recorded switch that cannot happen is skipped, not a divergence
export const DETF_CHOICES = 1 << 1; // replay: log every point where another CPU could run (exhaustive exploration)

/** Machine states (H_STATE). */
export const MACHINE_BOOTING = 0;
export const MACHINE_RUNNING = 1;
export const MACHINE_PANIC = 2; // a BUG/Oops stopped it; CPUs halt at their next preemption point
export const MACHINE_SHUTDOWN = 3;

// ---------------------------------------------------------------- per-CPU area
// line 0: written by this CPU
export const PC_PREEMPT_COUNT = 0; //       C  preempt_count (S-CTX-1 layout)
export const PC_IRQS_DISABLED = 1; //       C  1 when local interrupts are off (S-CTX-4)
export const PC_SOFTIRQ_PENDING = 2; //     A  __softirq_pending mask (only this CPU raises)
export const PC_NEED_RESCHED = 3; //        A  TIF_NEED_RESCHED of the current task
export const PC_STATE = 4; //               C  CPU_* below
export const PC_CURRENT_PID = 5; //         C  pid of the running task, 0 = idle (swapper)
export const PC_NR_RUNNING = 6; //          C  runnable tasks on this CPU's runqueue
export const PC_SPINNING_ON = 7; //         C  lock id + 1 this CPU is spinning on, 0 none
export const PC_IRQ_DEPTH = 8; //           C  hardirq nesting (0/1)
export const PC_IDLE = 9; //                C  1 while parked with nothing to do
export const PC_CTX_NAME = 10; //           C  name id of what runs (handler/tasklet/work), 0 none
export const PC_IRQ_CURRENT = 11; //        C  IRQ line being handled + 1, 0 none
export const PC_SOFTIRQ_CURRENT = 12; //    C  softirq vector being served + 1, 0 none
export const PC_HALTED = 13; //             C  1 when this CPU stopped after a BUG
export const PC_ONLINE = 14; //             C
export const PC_TASKLET_HEAD = 16; //       C  tasklet_vec: first tasklet id + 1 (irqs off)
export const PC_TASKLET_TAIL = 17; //       C  tasklet_vec: last tasklet id + 1
export const PC_TASKLET_HI_HEAD = 18; //    C  tasklet_hi_vec
export const PC_TASKLET_HI_TAIL = 19; //    C
export const PC_TASKLET_CURRENT = 20; //    C  tasklet running now + 1
export const PC_TIMER_CURRENT = 21; //      C  timer whose function runs now + 1 (base->running_timer mirror)
export const PC_DET_DEADLINE = 22; //       C  float64 at words 22-23: det mode, virtual ms of this idle CPU's next event
export const PC_AMPLIFY_DELAYS = 24; //     C  delays injected by race amplification
export const PC_SOFTLOCKUPS = 25; //        C  soft lockups reported
export const PC_WORK_CURRENT = 26; //       C  name id of the work function running now (workqueue.ts), 0 none
export const PC_DET_STATE = 27; //          C  det mode: DS_* below (published with Atomics.store)
export const PC_DET_WAKESEQ = 28; //        C  det mode: PC_WAKE when this CPU went idle (a kick makes it runnable)
export const PC_DET_PARKED = 29; //         C  det mode: 1 while parked in Atomics.wait on PC_DET_BATON (the giver notifies)
// line 1: written by other CPUs and the host
export const PC_IRQ_REQUEST = 32; //        A  REQ_* bits: why this CPU must look up
export const PC_WAKE = 33; //               A  doorbell: bumped then notified (Atomics.wait target)
export const PC_IRR = 34; //                A  interrupt request bits, one per IRQ line (IRR_WORDS)
export const IRR_MAX_WORDS = 8; //             256 lines at most
export const PC_CONTROL_HOST = 42; //       A  1: the host posted control messages (comlink)
export const PC_WAKE_RING_HEAD = 43; //     A  remote wake-up ring: producers' reservation counter
export const PC_WAKE_RING_TAIL = 44; //     C  consumer position
export const PC_IRQ_WORK_RAISED = 45; //    A  raised_list: llist head, irq_work id + 1 (push: CAS by any CPU; take: exchange by this CPU)
export const PC_IRQ_WORK_LAZY = 46; //      A  lazy_list: as raised_list, run from this CPU's next tick
export const PC_DET_BATON = 47; //          A  det mode: 1 while this CPU holds the baton (its Atomics.wait word)
export const PC_WAKE_RING = 48; //          A  WAKE_RING_SIZE pids (+1), 0 = empty slot
export const WAKE_RING_SIZE = 16;
// line 3-4: statistics, written by this CPU
export const PC_KSTAT_SOFTIRQS = 64; //     C  /proc/softirqs counters, NR_SOFTIRQS words
export const PC_LOC_COUNT = 74; //          C  local timer interrupts (LOC in /proc/interrupts)
export const PC_KSOFTIRQD_WAKEUPS = 75; //  C
export const PC_SOFTIRQ_RESTARTS = 76; //   C  __do_softirq restart passes
export const PC_IRQ_COALESCED = 77; //      C  raises that found the IRR bit already set
export const PC_RES_COUNT = 78; //          C  rescheduling IPIs (RES)
export const PC_CAL_COUNT = 79; //          C  function-call IPIs (CAL)
export const PC_SPURIOUS = 80; //           C  delivered with no action (ERR/spurious)
export const PC_CTXSW = 81; //              C  context switches
export const PC_RAISES = 82; //             C  raise_softirq calls
export const PC_NMI_COUNT = 83; //          C
export const PC_TASKLET_RUNS = 84; //       C  tasklet callbacks run
export const PC_TASKLET_REQUEUES = 85; //   C  tasklets put back (RUN held elsewhere, or disabled)
export const PC_TIMERS_RUN = 86; //         C  timer functions run
export const PC_IWI_COUNT = 87; //          C  IRQ work interrupts (IWI)
export const PC_STAT_END = 96;
export const PC_NMI_REASON = 96; //         A  why the host raised the NMI: NMI_REASON_* bits (nmi.ts)
/** PC_NMI_REASON bits. */
export const NMI_REASON_WATCHDOG = 1 << 0; // the host's hard-lockup watchdog: print this CPU's backtrace
export const CPU_STRIDE = 128;

/** PC_IRQ_REQUEST bits. */
export const REQ_HARDIRQ = 1 << 0; //  some IRR bit is set
export const REQ_RESCHED = 1 << 2; //  rescheduling IPI: a task was woken on this CPU
export const REQ_CALL = 1 << 3; //     function-call IPI (later mechanisms)
export const REQ_STOP = 1 << 4; //     shutdown
export const REQ_NMI = 1 << 6; //      NMI (the host's raiseNmi): taken even with interrupts off
export const REQ_IRQ_WORK = 1 << 5; // IRQ work self-interrupt (arch_irq_work_raise), or an irq_work_queue_on from another CPU

/** PC_DET_STATE values (det mode). */
export const DS_BOOT = 0; //  not yet up: only the host hands it the baton (boot is serialised)
export const DS_RUN = 1; //   at a preemption point or running: runnable
export const DS_IDLE = 2; //  in the idle loop: runnable once kicked (PC_WAKE moved) or its deadline passed
export const DS_GONE = 3; //  its thread left the loop

/** PC_STATE values. */
export const CPU_OFFLINE = 0;
export const CPU_ONLINE = 1;
export const CPU_HALTED = 2;

// ---------------------------------------------------------------- IRQ descriptor
export const IRQ_ACTIONS = 4; //               shared handlers per line (IRQF_SHARED)
export const IRQD_NR_ACTIONS = 0; //        L(desc) actions installed
export const IRQD_LOCK = 1; //              A  desc->lock (a raw spinlock word)
export const IRQD_DEPTH = 2; //             L(desc) disable_irq nesting
export const IRQD_PENDING = 3; //           A  raised while disabled (replayed by enable_irq)
export const IRQD_INPROGRESS = 4; //        A  handlers running now (synchronize_irq waits on 0)
export const IRQD_AFFINITY = 5; //          A  two words: CPU mask (cpus 0-31, 32-63)
export const IRQD_RR = 7; //                A  round-robin cursor (IO-APIC lowest-priority delivery)
export const IRQD_FLAGS = 8; //             L(desc) IRQF_* of the first action
export const IRQD_CHIP = 9; //              L(desc) 0 IO-APIC edge, 1 PCI-MSI edge
export const IRQD_RAISED = 10; //           A  raises seen
export const IRQD_ACTION_FN = 12; //        L(desc) IRQ_ACTIONS function ids (+1; 0 empty)
export const IRQD_ACTION_NAME = 16; //      L(desc) IRQ_ACTIONS name ids
export const IRQD_ACTION_DEV = 20; //       L(desc) IRQ_ACTIONS dev cookie hashes
export const IRQD_ACTION_COUNT = 24; //     A  handled-by counters per action
// threaded handlers (irq_thread.ts, kernel/irq/manage.c) and the spurious-interrupt detector (spurious.c)
export const IRQD_THREADS_ACTIVE = 11; //   A  desc->threads_active: threads woken, not yet done
export const IRQD_ACTION_THREAD_FN = 28; // L(desc) IRQ_ACTIONS thread_fn ids (+1; 0 none)
export const IRQD_ACTION_PID = 32; //       A  IRQ_ACTIONS pids of the irq/N-name threads (0 none)
export const IRQD_ACTION_TFLAGS = 36; //    A  IRQ_ACTIONS action->thread_flags (IRQTF_* in irq.ts)
export const IRQD_ACTION_FLAGS = 40; //     L(desc) IRQ_ACTIONS IRQF_* of each action (after forced threading)
export const IRQD_ACTION_CPU = 44; //       I  IRQ_ACTIONS CPU each thread is bound to
export const IRQD_THREADS_ONESHOT = 48; //  L(desc) desc->threads_oneshot: thread_mask bits of oneshot threads not done
export const IRQD_MASKED = 49; //           L(desc) 1: masked by IRQF_ONESHOT until the threads finish
export const IRQD_IRQ_COUNT = 50; //        C(handler) desc->irq_count (note_interrupt)
export const IRQD_UNHANDLED = 51; //        C(handler) desc->irqs_unhandled
export const IRQD_LAST_UNHANDLED = 52; //   C(handler) desc->last_unhandled (jiffies, low 32 bits)
export const IRQD_THREADS_HANDLED = 53; //  A  desc->threads_handled
export const IRQD_THREADS_HANDLED_LAST = 54; // C(handler) desc->threads_handled_last (| SPURIOUS_DEFERRED)
export const IRQD_SPURIOUS_DISABLED = 55; // L(desc) IRQS_SPURIOUS_DISABLED
export const IRQD_ACTION_SECONDARY_FN = 56; // L(desc) IRQ_ACTIONS thread_fn kept by forced threading (+1; 0 none)
export const IRQ_STRIDE = 64;

// ---------------------------------------------------------------- lock
export const LK_VAL = 0; //                 A  0 free; spinlock: owner cpu+1; rwlock: see spinlock.ts
export const LK_OWNER_CPU = 1; //           C(owner) cpu that holds it, -1 none
export const LK_OWNER_CTX = 2; //           C(owner) preempt_count of the owner at acquire
export const LK_OWNER_PID = 3; //           C(owner) pid of the owning task (0 none)
export const LK_NAME = 4; //                I  name id
export const LK_KIND = 5; //                I  LOCK_KIND_*
export const LK_CONTENDED = 6; //           A  contention events
export const LK_ACQUIRED = 7; //            A  acquisitions (statistics; sampled)
export const LK_OWNER_FN = 8; //            C(owner) name id of the function that took it
export const LK_USAGE = 9; //               A  lockdep usage bits of the class (lockdep.ts LU_*)
export const LK_SITE = 10; //               A  name id of the first function seen taking it
export const LK_USAGE_SITE = 16; //         A  8 words: for each usage bit, cpu | ctx << 8 | fn name id << 12 where first seen
export const LOCK_STRIDE = 32;
export const LOCK_KIND_SPIN = 1;
export const LOCK_KIND_RW = 2;
export const LOCK_KIND_PSEUDO = 3; //          a lockdep map: a timer's or a work's pseudo-lock

// ---------------------------------------------------------------- name registry
export const NM_KIND = 0; //                R  NAME_KIND_*; 0 = free
export const NM_VALUE = 1; //               R  slot / offset the name resolves to
export const NM_SIZE = 2; //                R  size in words (data) or extra info
export const NM_LEN = 3; //                 R  name length in bytes
export const NM_BYTES = 4; //               R  name, UTF-8, NAME_MAX_BYTES bytes
export const NAME_MAX_BYTES = 64;
export const NAME_STRIDE = 4 + NAME_MAX_BYTES / 4;

// ---------------------------------------------------------------- task table
export const TK_PID = 0; //                 R  0 = free slot
export const TK_CPU = 1; //                 C  CPU the task is bound to
export const TK_STATE = 2; //               C  TASK_* (sched.ts)
export const TK_FLAGS = 3; //               C  PF_* (kthread, worker, ...)
export const TK_WCHAN = 4; //               C  name id of what it sleeps on, 0 none
export const TK_NVCSW = 5; //               C  voluntary context switches
export const TK_COMM = 8; //                C  comm, TASK_COMM_BYTES bytes
export const TASK_COMM_BYTES = 32; //          the kernel's 16 plus room for "+wq" suffixes
export const TASK_STRIDE = 16;

// ---------------------------------------------------------------- log record
export const LG_SEQ = 0; //                 A  sequence + 1 once the record is complete
export const LG_CPU = 1; //                 I(record)
export const LG_CTX = 2; //                 I(record) interrupt_context_level(): 0 task 1 softirq 2 hardirq 3 nmi
export const LG_LEVEL = 3; //               I(record) printk level 0..7
export const LG_TIME = 4; //                I(record) float64: µs since boot (words 4-5)
export const LG_PID = 6; //                 I(record) pid of current
export const LG_LEN = 7; //                 I(record) text length in bytes
export const LG_TEXT = 8; //                I(record) text, LOG_TEXT_BYTES bytes
export const LOG_STRIDE = 64;
export const LOG_TEXT_BYTES = (LOG_STRIDE - LG_TEXT) * 4;

// ================================================================ tables in the data arena
// The lock validator, the trace rings and the slab's free lists take their
// tables from the data arena by name when a CPU starts (arena_region,
// module.ts: the first CPU to ask allocates, the others resolve the name),
// as their sizes follow boot options. Their records are laid out here; word
// indices are relative to the base the region's name resolves to.

/** Names of the arena regions below. */
export const LOCKDEP_GRAPH_REGION = 'kernel.lockdep.graph';
export const LOCKDEP_REPORTED_REGION = 'kernel.lockdep.reported';
export const LOCKDEP_HELD_REGION = 'kernel.lockdep.held';
export const TRACE_REGION = 'kernel.trace';
export const SLAB_FREELISTS_REGION = 'kernel.slab.freelists';

// ---------------------------------------------------------------- lockdep dependency graph (boot option lockdep)
// A bitmap of maxLocks rows, one bit per lock class: bit b of row a is set
// once b was taken while a was held (the edge a -> b). Bits are only ever
// added, by Atomics.or under H_LOCKDEP_LOCK; a plain read that misses a fresh
// bit takes the slow path, which reads again under the lock.
/**
 * lockdep_graph_row - words of one row of the dependency graph: one bit per lock class.
 * @param maxLocks - the lock table's size (boot option maxLocks).
 * Context: any (pure arithmetic on the memory map).
 * @returns ceil(maxLocks / 32).
 */
export const lockdep_graph_row = (maxLocks: number): number => Math.ceil(maxLocks / 32);
/**
 * lockdep_graph_words - words of the whole dependency graph.
 * @param maxLocks - the lock table's size.
 * Context: any (pure arithmetic on the memory map).
 * @returns maxLocks rows of lockdep_graph_row(maxLocks) words.
 */
export const lockdep_graph_words = (maxLocks: number): number => maxLocks * lockdep_graph_row(maxLocks);
/**
 * lockdep_edge_word - the word of the graph holding the edge a -> b.
 * @param row - words per row (lockdep_graph_row).
 * @param a - the class held.
 * @param b - the class taken while `a` was held.
 * Context: any (pure arithmetic on the memory map).
 * @returns the word's index, relative to the graph.
 */
export const lockdep_edge_word = (row: number, a: number, b: number): number => a * row + (b >>> 5);
/**
 * lockdep_edge_bit - the bit of the edge a -> b in its word.
 * @param b - the class taken.
 * Context: any (pure arithmetic on the memory map).
 * @returns 1 << (b & 31).
 */
export const lockdep_edge_bit = (b: number): number => 1 << (b & 31);

// ---------------------------------------------------------------- lockdep reported set (boot option lockdep)
// The reports printed, so that each is printed once across all CPUs: an
// open-addressing hash set (linear probing) of keys hash(kind, class a,
// class b) | 1; an empty word is 0.
export const LOCKDEP_REPORTED_SIZE = 4096; // A  words; a key is inserted by Atomics.compareExchange from 0

// ---------------------------------------------------------------- lockdep held-lock stack (one per CPU, boot option lockdep)
// The CPU's lockdep_depth and held_locks[] (the kernel keeps them in the
// task_struct; here a task that sleeps carries its entries away with it,
// lockdep_switch_out). Only its CPU reads it.
/** MAX_LOCK_DEPTH: locks one CPU may hold at once (across nested contexts). */
export const MAX_LOCK_DEPTH = 48;
export const LD_DEPTH = 0; //               C  lockdep_depth: entries of held_locks in use
export const LD_HELD_LOCKS = 1; //          C  held_locks: MAX_LOCK_DEPTH struct held_lock of HELD_LOCK_STRIDE words
// struct held_lock
export const HLK_CLASS = 0; //              C  class_idx: lock id + 1
export const HLK_FLAGS = 1; //              C  HF_READ | irq context level at acquire << HF_CTX_SHIFT (lockdep.ts)
export const HELD_LOCK_STRIDE = 2;
export const LOCKDEP_CPU_STRIDE = LD_HELD_LOCKS + MAX_LOCK_DEPTH * HELD_LOCK_STRIDE; // 97 words

// ---------------------------------------------------------------- trace ring (one per CPU, boot option trace)
// H_TRACE_RECORDS entries (a power of two) of one fixed format, written by
// the ring's CPU only; the host and the other CPUs read it without asking.
// Event number k (counted from boot) is at trace_entry(records, k): the
// newest overwrite the oldest.
export const TR_HEAD = 0; //                A  events written so far: Atomics.store once the entry is complete
export const TR_ENTRIES = 32; //            C  the entries, after a line of header
// trace entry
export const TE_TIME = 0; //                C  float64: µs since boot (words 0-1; even ring sizes keep it 8-byte aligned)
export const TE_EVENT = 2; //               C  tracepoint (TP_*, trace.ts) | a1 << 8
export const TE_ARG0 = 3; //                C  a0
export const TRACE_ENTRY_STRIDE = 4;
/**
 * trace_ring_words - words of one CPU's trace ring of `records` entries.
 * @param records - entries per ring (a power of two).
 * Context: any (pure arithmetic on the memory map).
 * @returns the header line plus the entries.
 */
export const trace_ring_words = (records: number): number => TR_ENTRIES + records * TRACE_ENTRY_STRIDE;
/**
 * trace_entry - the word of the entry of event number `k` in a ring of `records` entries, relative to the ring.
 * @param records - entries per ring (a power of two).
 * @param k - the event number, counted from boot (the newest overwrite the oldest).
 * Context: any (pure arithmetic on the memory map).
 * @returns the entry's first word.
 */
export const trace_entry = (records: number, k: number): number => TR_ENTRIES + (k & (records - 1)) * TRACE_ENTRY_STRIDE;

// ---------------------------------------------------------------- kmalloc free lists (slab.ts)
// kmalloc's size classes are powers of two (in words). A descriptor whose
// object left the quarantine waits, with its memory, on the free list of its
// class, linked through OB_QNEXT, for the next allocation of that class.
export const KMALLOC_FREELISTS = 32; //     L(slab) list heads, one per class at kmalloc_index(size): descriptor slot + 1, 0 empty
/**
 * kmalloc_index - the free list of size class `size`: log2 of the size.
 * @param size - a power of two, in words.
 * Context: any (pure arithmetic on the memory map).
 * @returns the class index, 0 .. KMALLOC_FREELISTS - 1.
 */
export const kmalloc_index = (size: number): number => 31 - Math.clz32(size);

// ---------------------------------------------------------------- RCU (rcu.ts): rcu_state, then rcu_data per CPU
// The grace-period machinery's shared words (kernel/rcu/tree.h's rcu_state
// and rcu_data, one flat level: no rcu_node tree). The callback lists are
// not here: a CPU's callbacks run on that CPU, so they stay in its thread.
export const RCU_REGION = 'kernel.rcu';
export const RS_GP_SEQ = 0; //              A  rcu_state.gp_seq: counter << RCU_SEQ_CTR_SHIFT | state (1: a grace period in progress)
export const RS_LOCK = 1; //                A  the root rcu_node's lock (raw, interrupts off): starting and ending grace periods
export const RS_GP_SEQ_NEEDED = 2; //       L(RS_LOCK) the furthest gp_seq a callback or synchronize_rcu waits for
export const RS_QS_LEFT = 3; //             A  CPUs that still owe the current grace period a quiescent state (the root's qsmask, counted)
export const RS_GP_START = 4; //            L(RS_LOCK) jiffies when the current grace period began
export const RS_JIFFIES_STALL = 5; //       A  jiffies at which a stall is reported (CAS by the reporter pushes it on)
export const RS_GP_END = 6; //              A  jiffies when the last grace period ended
export const RS_GPS = 7; //                 A  grace periods completed since boot
export const RS_GP_JIFFIES = 8; //          A  sum of their lengths in jiffies
export const RS_STALLS = 9; //              A  stall warnings printed
export const RCU_STATE_WORDS = 32;
// rcu_data
export const RD_QS_GP = 0; //               A  the gp_seq this CPU's quiescent state was reported for (CAS: the CPU, or a CPU on its behalf while it is idle)
export const RD_EQS = 1; //                 A  1 while the CPU is in an extended quiescent state (idle, halted, offline): others report for it
export const RD_TICKS_THIS_GP = 2; //       C  ticks taken since it last reported
export const RD_N_CBS = 3; //               C  callbacks queued and not yet invoked (q= of a stall report)
export const RD_CBS_QUEUED = 4; //          A  callbacks queued since boot (rcu_barrier's snapshot)
export const RD_CBS_INVOKED = 5; //         A  callbacks invoked since boot
export const RD_SOFTIRQ_SNAP = 6; //        C  RCU_SOFTIRQ count when the grace period began here
export const RD_NESTING = 7; //             C  rcu_read_lock nesting of what runs now
export const RD_BLKD = 8; //                C  tasks blocked in a read-side critical section (rcu_node.blkd_tasks)
export const RD_BLKD_PID = 9; //            C  the oldest of them that holds up the grace period, 0 none
export const RD_OFFLINE = 10; //            A  1 while the CPU is offline (CPU hotplug): no grace period waits for it
export const RCU_DATA_STRIDE = 32;
/**
 * rcu_region_words - words of the RCU region for `cpus` CPUs.
 * @param cpus - the machine's CPUs.
 * Context: any (pure arithmetic on the memory map).
 * @returns rcu_state's line plus one rcu_data line per CPU.
 */
export const rcu_region_words = (cpus: number): number => RCU_STATE_WORDS + cpus * RCU_DATA_STRIDE;
/**
 * rcu_data_word - word `f` of CPU `cpu`'s rcu_data, relative to the region.
 * @param cpu - the CPU.
 * @param f - an RD_* field.
 * Context: any (pure arithmetic on the memory map).
 * @returns the word's index, relative to the region's base.
 */
export const rcu_data_word = (cpu: number, f: number): number => RCU_STATE_WORDS + cpu * RCU_DATA_STRIDE + f;

// ---------------------------------------------------------------- tasklet_struct
export const TL_NEXT = 0; //                C(list owner, irqs off) next tasklet id + 1 on a per-CPU list
export const TL_STATE = 1; //               A  TASKLET_STATE_SCHED (bit 0) | TASKLET_STATE_RUN (bit 1)
export const TL_COUNT = 2; //               A  disable depth (0 = enabled)
export const TL_FUNC = 3; //                I  function id + 1
export const TL_DATA = 4; //                I  legacy `data` argument
export const TL_FLAGS = 5; //               A  TLF_* below
export const TL_NAME = 6; //                I  name id
export const TL_RUNS = 7; //                A  times the callback ran
export const TL_LAST_CPU = 8; //            A  CPU it last ran on
export const TL_OWNER = 9; //               I  slab handle of the object that embeds it (0 none)
export const TASKLET_STRIDE = 16;
export const TLF_INIT = 1 << 0; //             initialised (tasklet_init/setup/DECLARE_TASKLET)
export const TLF_CALLBACK = 1 << 1; //         use_callback: callback(t) rather than func(data)
export const TLF_KILLED = 1 << 2; //           tasklet_kill ran and nobody re-initialised it
export const TLF_ALLOCATED = 1 << 3; //        slot in use

// ---------------------------------------------------------------- timer_list
export const TM_EXPIRES = 0; //             L(base) expires - INITIAL_JIFFIES (fits 24 days at HZ=1000)
export const TM_FLAGS = 1; //               L(base) TIMER_* flags | cpu (TIMER_CPUMASK) | bucket << TIMER_ARRAYSHIFT
export const TM_FUNC = 2; //                L(base) function id + 1; 0 after timer_shutdown (function = NULL)
export const TM_NEXT = 3; //                L(base) next timer id + 1 in the bucket
export const TM_PREV = 4; //                L(base) prev timer id + 1 (0: bucket head)
export const TM_PENDING = 5; //             L(base) bucket index + 1 while enqueued (entry.pprev != NULL)
export const TM_BASE = 6; //                A  CPU whose base it is on (or was last), the lock to take
export const TM_NAME = 7; //                I  name id
export const TM_STATE = 8; //               A  TMS_* below
export const TM_OWNER = 9; //               I  slab handle of the object that embeds it (0 none)
export const TM_DATA = 10; //               I  legacy data
export const TM_RUNS = 11; //               A  times its function ran
export const TM_LOCKDEP = 12; //            I  lock id + 1 of its lockdep map "(&name)" (0: validator off)
export const TIMER_STRIDE = 16;
export const TMS_ALLOCATED = 1 << 0;
export const TMS_INIT = 1 << 1; //             timer_setup done
export const TMS_SHUTDOWN = 1 << 2; //         timer_shutdown: arming is ignored

// ---------------------------------------------------------------- timer_base (one per CPU)
export const TB_LOCK = 0; //                A  base->lock (raw spinlock word: owner cpu + 1)
export const TB_CLK = 1; //                 L  base->clk, relative to INITIAL_JIFFIES
export const TB_NEXT_EXPIRY = 2; //         L  base->next_expiry (relative), valid if TB_NEXT_VALID
export const TB_NEXT_VALID = 3; //          L  1 if some timer is pending
export const TB_RUNNING = 4; //             A  base->running_timer: timer id + 1, 0 none
export const TB_PENDING_COUNT = 5; //       L  timers enqueued
export const TB_BUCKETS = 32; //            L  WHEEL_SIZE bucket heads (timer id + 1)
export const WHEEL_LEVELS_MAX = 9;
export const WHEEL_SIZE_MAX = 64 * WHEEL_LEVELS_MAX;
export const TIMER_CPU_STRIDE = TB_BUCKETS + WHEEL_SIZE_MAX; // 608 words

// ---------------------------------------------------------------- slab object descriptors
export const OB_STATE = 0; //               A  OBJ_* below
export const OB_GEN = 1; //                 A  generation: handles name (slot, gen); stale ones are caught
export const OB_OFF = 2; //                 L(slab) words into the slab region
export const OB_SIZE = 3; //                L(slab) size in words
export const OB_CACHE = 4; //               L(slab) name id of the cache / type
export const OB_ALLOC_CPU = 5; //           C(allocator) cpu | ctx << 8 | pid << 12
export const OB_ALLOC_FN = 6; //            C(allocator) name id of the allocating function
export const OB_FREE_CPU = 7; //            C(freer) cpu | ctx << 8 | pid << 12
export const OB_FREE_FN = 8; //             C(freer) name id of the freeing function
export const OB_REPORTED = 9; //            A  a KASAN report was printed for this allocation
export const OB_QNEXT = 10; //              L(slab) quarantine FIFO link
export const OBJ_STRIDE = 16;
export const OBJ_FREE = 0;
export const OBJ_LIVE = 1;
export const OBJ_QUARANTINE = 2;

// ================================================================ workqueues and sleeping primitives
// workqueue.ts (cmwq), wait.ts, completion.ts, mutex.ts. Everything below is
// one contiguous block of regions after the slab. Lists are doubly linked
// through element ids + 1 (0 = none); a list head is two words (head, tail).

// ---------------------------------------------------------------- workqueue globals (one line)
export const WQG_WORKS_USED = 0; //         A  work_struct slots taken now (slot.ts counts them)
export const WQG_WQS_USED = 1; //           R  workqueue_struct slots handed out
export const WQG_WAITOBJ_USED = 2; //       R  wait objects handed out (ids below WAITOBJ_RESERVED are never handed out)
export const WQG_IDLE_TIMEOUT_MS = 3; //    I  IDLE_WORKER_TIMEOUT (boot option wqIdleTimeoutMs; 0 = the kernel's 300 s)
export const WQG_WORKERS_CREATED = 4; //    A  kworkers ever created (statistics)
export const WQG_WORKERS_REAPED = 5; //     A  idle kworkers culled
export const WQG_WORDS = 32;
/** Wait objects 0..WAITOBJ_RESERVED-1 are the hashed queues flush_work/cancel_work_sync sleep on. */
export const WAITOBJ_RESERVED = 64;

// ---------------------------------------------------------------- worker_pool
// Per CPU, in the kernel's id order: BH, BH highpri, normal, highpri; then
// the unbound pools (normal, highpri). Id = index in this table.
export const WQ_POOLS_PER_CPU = 4;
export const WQ_UNBOUND_POOLS = 2;
export const PL_LOCK = 0; //                A  pool->lock: raw spinlock word, owner cpu + 1; held with local irqs off
export const PL_ID = 1; //                  I
export const PL_CPU = 2; //                 I  the CPU of a per-CPU pool, -1 unbound
export const PL_NICE = 3; //                I  0, or HIGHPRI_NICE_LEVEL (-20)
export const PL_FLAGS = 4; //               I  POOL_BH (workqueue.ts)
export const PL_WORKLIST = 6; //            L(pool) head, tail (+7): work ids + 1
export const PL_NR_WORKERS = 8; //          L(pool)
export const PL_NR_IDLE = 9; //             L(pool)
export const PL_IDLE_LIST = 10; //          L(pool) head, tail (+11): worker ids + 1, most recently idle first
export const PL_BUSY_LIST = 12; //          L(pool) head, tail (+13): workers executing a work item
export const PL_NEXT_WORKER_ID = 14; //     A  the M of the next kworker/N:M
export const PL_NR_STARTED = 15; //         L(pool) work items started (statistics)
export const PL_NR_CM_WAKEUPS = 16; //      A  idle workers woken because the running one slept
export const PL_BH_KICK = 17; //            A  1: a remote CPU asked this BH pool's CPU to run it
export const PL_NR_MAYDAYS = 18; //         A  rescuers summoned
// Second line: what a remote queue_work_on touches, away from the lock and
// the lists the pool's kworker writes for every item.
export const PL_INBOUND = 32; //            A  lock-free list of works queued without the pool lock (work id + 1,
//                                             linked by WK_INEXT, newest first): pushed by CAS, taken whole by
//                                             Atomics.exchange under the pool lock (pool_drain_inbound, workqueue.ts)
export const PL_NR_RUNNING = 64; //         A  workers running and counted (concurrency management): read by every remote queue_work_on, written only when a worker starts or stops running — a line of its own
export const PL_WAKING = 65; //             A  idle workers woken and not yet back at the worklist (kick_pool counts, worker_leave_idle uncounts):
//                                             a remote queue_work_on that finds nobody running and one on its way wakes nobody more
export const POOL_STRIDE = 96;

// ---------------------------------------------------------------- pool_workqueue (id = wq * cpus + cpu)
// A bound or BH workqueue has one per CPU; an unbound one uses its CPU-0
// entry (the others only hold that CPU's rescuer pid).
export const PWQ_POOL = 0; //               I  pool id
export const PWQ_WQ = 1; //                 I  workqueue id
export const PWQ_NR_ACTIVE = 2; //          L(pool)
export const PWQ_MAX_ACTIVE = 3; //         L(pool)
export const PWQ_INACTIVE = 4; //           L(pool) head, tail (+5): items over max_active, in queueing order
export const PWQ_NR_IN_FLIGHT = 6; //       L(pool) writes, Atomics.load by flushers: two flush colours (+7)
export const PWQ_RESCUER = 8; //            I  pid of this CPU's rescuer of the wq (0 none)
export const PWQ_RESCUER_WORKER = 9; //     I  worker id + 1 of that rescuer
export const PWQ_MAYDAY = 10; //            A  1 while this pwq asks for its rescuer
export const PWQ_STAT_STARTED = 11; //      L(pool) items started
export const PWQ_STAT_COMPLETED = 12; //    L(pool) items completed
export const PWQ_STAT_MAX_ACTIVE = 13; //   L(pool) the most items ever active at once
export const PWQ_WORK_COLOR = 14; //        L(pool) flush colour items get when they enter the pool (flush_workqueue flips it under the pool lock)
export const PWQ_STRIDE = 16;

// ---------------------------------------------------------------- workqueue_struct
export const WQS_FLAGS = 0; //              I  WQ_* | __WQ_ORDERED
export const WQS_NAME = 1; //               I  name id (what kworker comms show)
export const WQS_MAX_ACTIVE = 2; //         I  saved max_active
export const WQS_STATE = 3; //              A  __WQ_DRAINING | __WQ_DESTROYING | WQS_DESTROYED (workqueue.ts)
export const WQS_WORK_COLOR = 4; //         A  flush colour new items get (0/1)
export const WQS_FLUSH_MUTEX = 5; //        I  wait object id of wq->mutex (serialises flushers and drainers)
export const WQS_FLUSH_WAITQ = 6; //        I  wait object id flushers sleep on
export const WQS_NR_DRAINERS = 7; //        L(flush mutex)
export const WQS_GEN = 8; //                A  generation: bumped by destroy_workqueue (stale handles are caught)
export const WQS_STRIDE = 16;

// ---------------------------------------------------------------- work_struct (and delayed_work)
export const WK_DATA = 0; //                A  WORK_STRUCT_* bits (PENDING by test-and-set)
export const WK_FUNC = 1; //                L(idle) function id (INIT_WORK on an idle work)
export const WK_NAME = 2; //                I  name id
export const WK_NEXT = 3; //                L(pool) next work id + 1 on the list it is on
export const WK_PREV = 4; //                L(pool)
export const WK_LIST = 5; //                L(pool) word index of the head of that list, 0 = on none
export const WK_PWQ = 6; //                 L(pool), P  pwq id + 1 while queued (on a list, or on its pool's inbound list)
export const WK_POOL = 7; //                L(pool), P  last pool id + 1 (non-reentrancy: where it may still run)
export const WK_COLOR = 8; //               L(pool) flush colour of the queued instance (the pwq's when it entered the pool)
export const WK_QSEQ = 9; //                A  insertions so far (flush_work's target)
export const WK_RUNSEQ = 10; //             A  WK_QSEQ when the running (or last) execution started
export const WK_DONESEQ = 11; //            A  every insertion up to this has finished or was cancelled
export const WK_DISCARD = 12; //            A  insertion cancelled while an older one ran: done when that one ends
export const WK_DISABLE = 13; //            A  disable_work() depth
export const WK_FLAGS = 14; //              A  WKF_* (workqueue.ts): allocated, delayed; 0 while the slot is free (slot.ts claims it)
export const WK_TIMER = 15; //              I  delayed_work: its timer id + 1
export const WK_DW_CPU = 16; //             A  delayed_work: target CPU (WORK_CPU_UNBOUND = MAX_CPUS)
export const WK_DW_WQ = 17; //              A  delayed_work: target workqueue id + 1
export const WK_RUNS = 18; //               L(pool) executions (statistics; the pool it ran on)
export const WK_LAST_CPU = 19; //           L(pool) CPU of the last execution
export const WK_INEXT = 20; //              P  next work id + 1 on the pool's inbound list (written by the PENDING owner before the push)
export const WK_OWNER = 21; //              I  the slab object that embeds it (handle), 0: declared by name
export const WORK_STRIDE = 32; //              a line each: works are queued from every CPU

// ---------------------------------------------------------------- worker
export const WR_STATE = 0; //               A  WRS_* (workqueue.ts): free, worker, rescuer, BH pseudo-worker
export const WR_POOL = 1; //                I  pool id (a rescuer: the pool it is attached to, -1 none)
export const WR_PID = 2; //                 I  its task's pid (0: the BH pseudo-worker)
export const WR_CPU = 3; //                 I  the CPU its task runs on
export const WR_ID = 4; //                  I  the M of kworker/N:M
export const WR_FLAGS = 5; //               L(pool) WORKER_* flags
export const WR_SLEEPING = 6; //            C  1 while its work function sleeps (wq_worker_sleeping)
export const WR_CURRENT_WORK = 7; //        L(pool) work id + 1 being executed, 0 none
export const WR_CURRENT_FUNC = 8; //        L(pool) its function id
export const WR_CURRENT_PWQ = 9; //         L(pool) pwq id + 1
export const WR_LAST_WQ = 10; //            C  workqueue id + 1 of the last item ("+events"/"-events")
export const WR_NEXT = 11; //               L(pool) idle list links
export const WR_PREV = 12; //               L(pool)
export const WR_BNEXT = 13; //              L(pool) busy list links
export const WR_BPREV = 14; //              L(pool)
export const WR_SCHEDULED = 15; //          L(pool) head, tail (+16): items handed to this worker (collisions)
export const WR_ITEMS = 17; //              C  items executed
export const WR_SLOT = 18; //               I  its task's slot in the task table
export const WR_WAKING = 19; //             L(pool) 1 while a wake-up sent to it (kick_pool) is in flight
export const WORKER_STRIDE = 32;

// ---------------------------------------------------------------- wait objects (wait_queue_head, completion, mutex)
export const WO_LOCK = 0; //                A  the head's spinlock word: owner cpu + 1; held with local irqs off
export const WO_HEAD = 1; //                L(lock) first waiter (task slot + 1)
export const WO_TAIL = 2; //                L(lock)
export const WO_NR = 3; //                  L(lock) waiters; Atomics.load without it (waitqueue_active)
export const WO_KIND = 4; //                I  WO_KIND_* below
export const WO_NAME = 5; //                I  name id
export const WO_VAL = 6; //                 A  completion: done; mutex: owner pid (0 unlocked)
export const WO_OWNER_CPU = 7; //           C(owner) mutex: CPU of the owner
export const WO_CONTENDED = 8; //           A  sleeps on it (statistics)
export const WAITOBJ_STRIDE = 16;
export const WO_KIND_WAITQ = 1;
export const WO_KIND_COMPLETION = 2;
export const WO_KIND_MUTEX = 3;

// ---------------------------------------------------------------- wait_queue_entry (one per task slot)
export const WT_NEXT = 0; //                L(queue) next waiter (task slot + 1)
export const WT_PREV = 1; //                L(queue)
export const WT_QUEUE = 2; //               L(queue) wait object id + 1 it is queued on, 0 none
export const WT_FLAGS = 3; //               L(queue) WQ_FLAG_EXCLUSIVE | WQ_FLAG_WOKEN (wait.ts)
export const WT_PID = 4; //                 L(queue)
export const WT_CPU = 5; //                 L(queue)
export const WAITER_STRIDE = 8;
// ================================================================ end of workqueues and sleeping primitives

// ================================================================ NAPI and softnet (napi.ts)
// Two regions after the waiters: one softnet_data per CPU, then the
// napi_struct table. Napi ids 0..cpus-1 are the CPUs' backlog pseudo-NAPIs
// (process_backlog); netif_napi_add hands out the others. Lists link napi
// ids + 1 (0 = none).

// ---------------------------------------------------------------- softnet_data (one per CPU)
// line 0: the poll list and the backlog, touched by this CPU only, with irqs off
export const SD_POLL_HEAD = 0; //           C  poll_list: first napi id + 1
export const SD_POLL_TAIL = 1; //           C  poll_list: last napi id + 1
export const SD_INPUT_HEAD = 2; //          C  backlog: first packet of input_pkt_queue (= end of process_queue)
export const SD_BACKLOG_HEAD = 3; //        C  backlog: next packet process_backlog takes
export const SD_BACKLOG_TAIL = 4; //        C  backlog: where netif_rx appends
// line 1: statistics, written by this CPU (/proc/net/softnet_stat)
export const SD_PROCESSED = 32; //          C  packets handed to the protocols (column 1)
export const SD_DROPPED = 33; //            C  netif_rx drops: backlog over netdev_max_backlog (column 2)
export const SD_TIME_SQUEEZE = 34; //       C  net_rx_action stopped with work left (column 3)
export const SD_RX_ACTIONS = 35; //         C  net_rx_action runs
export const SD_POLLS = 36; //              C  napi->poll calls
export const SD_RX_WORK_MAX = 37; //        C  the most packets one net_rx_action run processed
export const SD_RX_POLLS_MAX = 38; //       C  the most polls one net_rx_action run made
// lines 2..: the backlog ring: BACKLOG_SLOTS packets of SKB_WORDS words (dev, data)
export const SD_BACKLOG = 64; //            C  slot i at SD_BACKLOG + (i & (BACKLOG_SLOTS - 1)) * SKB_WORDS
export const BACKLOG_SLOTS = 2048; //          input_pkt_queue + process_queue, each at most netdev_max_backlog + 1
export const SKB_WORDS = 2;
export const SOFTNET_STRIDE = SD_BACKLOG + BACKLOG_SLOTS * SKB_WORDS;

// ---------------------------------------------------------------- napi_struct (one line each: polled from any CPU)
export const NP_STATE = 0; //               A  NAPIF_* bits (napi.ts)
export const NP_FLAGS = 1; //               A  NPF_* (napi.ts): slot in use
export const NP_WEIGHT = 2; //              I
export const NP_POLL = 3; //                I  poll function id + 1
export const NP_NAME = 4; //                I  name id
export const NP_IRQ = 5; //                 I  netif_napi_set_irq: IRQ line + 1, 0 none
export const NP_NEXT = 6; //                C(list owner, irqs off) next napi id + 1 on a poll list
export const NP_LIST_OWNER = 7; //          A  CPU whose poll list holds it, -1 none (napi->list_owner)
export const NP_POLLING = 8; //             A  CPU running its poll + 1, 0 none
export const NP_POLLS = 9; //               A  poll calls (statistics)
export const NP_WORK = 10; //               A  packets its polls reported
export const NAPI_STRIDE = 32;
// ================================================================ end of NAPI and softnet

// ================================================================ irq_work (irq_work.ts)
// A struct irq_work: node.a_flags and the llist link, as include/linux/irq_work.h.
export const IW_NEXT = 0; //                A  next irq_work id + 1 on the llist it is on (set before the CAS push)
export const IW_FLAGS = 1; //               A  IRQ_WORK_PENDING | BUSY | LAZY | HARD_IRQ (irq_work.ts)
export const IW_FUNC = 2; //                I  function id + 1
export const IW_NAME = 3; //                I  name id
export const IW_RUNS = 4; //                A  times the callback ran
export const IW_LAST_CPU = 5; //            A  CPU it last ran on
export const IW_SLOT = 6; //                A  1 once the slot is handed out
export const IRQ_WORK_STRIDE = 8;
// ================================================================ end of irq_work

// ================================================================ hrtimer (hrtimer.ts)
// A struct hrtimer: its node in a CPU's time-ordered queue and its state.
export const HT_STATE = 0; //               L(base) HRTIMER_STATE_ENQUEUED (read lockless by hrtimer_active)
export const HT_MODE = 1; //                I  mode bits of hrtimer_setup (HRTIMER_MODE_SOFT: a soft timer)
export const HT_FUNC = 2; //                I  function id + 1 (hrtimer_setup / .function)
export const HT_NAME = 3; //                I  name id
export const HT_BASE = 4; //                A  CPU whose base holds it; -1 while it migrates (lock_hrtimer_base retries)
export const HT_NEXT = 5; //                L(base) next hrtimer id + 1 in its queue (ascending expiry)
export const HT_PREV = 6; //                L(base) previous hrtimer id + 1, 0 first
export const HT_RUNS = 7; //                A  times the callback ran
export const HT_SLOT = 8; //                A  1 once the slot is handed out
export const HT_LOCKDEP = 9; //             I  lockdep map + 1 (hrtimer_cancel waits on it)
export const HT_EXPIRES = 10; //            L(base) f64 (words 10-11): expiry, ns of CLOCK_MONOTONIC
export const HT_LATE = 12; //               A  f64 (words 12-13): lateness of the last expiry, ns
export const HRTIMER_STRIDE = 16;
// struct hrtimer_cpu_base, one per CPU
export const HB_LOCK = 0; //                A  raw lock word (owner CPU + 1)
export const HB_RUNNING_HARD = 1; //        L(base) hard clock base's running timer id + 1
export const HB_RUNNING_SOFT = 2; //        L(base) soft clock base's running timer id + 1
export const HB_HEAD_HARD = 3; //           L(base) first (earliest) hard timer id + 1
export const HB_HEAD_SOFT = 4; //           L(base) first soft timer id + 1
export const HB_SOFTIRQ_ACTIVATED = 5; //   L(base) HRTIMER_SOFTIRQ raised, soft queue not yet run
export const HB_EXPIRES_NEXT = 6; //        L(base) f64 (words 6-7): next event, ms of clock_now (Infinity none)
export const HRTIMER_CPU_STRIDE = 8;
// ================================================================ end of hrtimer
// ================================================================ deterministic mode (det.ts)
// Words relative to the region's base (Mem.det). Written by the baton holder
// only (the host before boot and while it holds the baton).
export const DT_STRATEGY = 0; //            I  STRAT_* below
export const DT_P = 1; //                   I  random: switch when a draw (uint32) is below this
export const DT_DEPTH = 2; //               I  pct: depth d (d-1 priority change points)
export const DT_K = 3; //                   I  pct: steps the change points are drawn over
export const DT_COUNTED = 4; //             B  pct: points so far where more than one CPU could run
export const DT_CURSOR = 5; //              B  replay: next entry of DT_TABLES
export const DT_NREPLAY = 6; //             I  replay: entries in the replay table
export const DT_CAP = 7; //                 I  entries the record table holds
export const DT_DIV_EXPECT = 8; //          B  replay divergence: the CPU the schedule named (-1 host, -2 none)
export const DT_DIV_ACTUAL = 9; //          B  the CPU that ran instead (-1 host)
export const DT_DIV_WHY = 10; //            B  DIV_* (det.ts)
export const DT_YIELD_LOW = 11; //          B  pct: the priority the next yielding CPU is demoted to
export const DT_OVERFLOW = 12; //           B  1: more switches than DT_CAP (the record is incomplete)
export const DT_HAS_FP = 13; //             I  replay: the table's entries carry fingerprints (checked)
export const DT_PRIO = 32; //               B  pct: one priority per CPU (MAX_CPUS words)
export const DT_CHANGE = 96; //             I  pct: the change points (counted steps), DT_MAX_CHANGES
export const DT_MAX_CHANGES = 32;
export const DT_TABLES = 128; //            replay table (DT_NREPLAY × DT_ENTRY), then the record (DT_CAP × DT_ENTRY)
export const DT_ENTRY = 3; //               words of an entry: step, cpu, fingerprint (H_DET_FPRINT when it was taken)
/** DT_STRATEGY values. */
export const STRAT_RANDOM = 1;
export const STRAT_PCT = 2;
export const STRAT_REPLAY = 3;
/**
 * det_region_words - words of the deterministic-mode region.
 * @param replay - entries of the replay table.
 * @param cap - entries of the record table.
 * Context: host, setup.
 * @returns the region's size.
 */
export const det_region_words = (replay: number, cap: number): number => DT_TABLES + DT_ENTRY * (replay + cap);

/** Where each region begins, in words; computed once from the geometry. */
export interface Regions {
  cpuBase: number;
  kstatBase: number;
  kstatStride: number;
  irqBase: number;
  lockBase: number;
  nameBase: number;
  taskBase: number;
  logBase: number;
  dataBase: number;
  taskletBase: number;
  timerBase: number;
  timerCpuBase: number;
  objBase: number;
  slabBase: number;
  wqGlobalBase: number;
  poolBase: number;
  pwqBase: number;
  wqBase: number;
  workBase: number;
  workerBase: number;
  waitObjBase: number;
  waiterBase: number;
  softnetBase: number;
  napiBase: number;
  irqWorkBase: number;
  hrtimerBase: number;
  hrtimerCpuBase: number;
  detBase: number;
  totalWords: number;
  irrWords: number;
}

/**
 * Lay out the regions of a machine of geometry `g`, each from the previous one's end, cache-line aligned.
 * @param g - the geometry.
 * @returns the regions' bases and strides, and the total words.
 */
export function computeRegions(g: Geometry): Regions {
  const irrWords = Math.ceil(g.nrIrqs / 32);
  const cpuBase = align(HEADER_WORDS);
  const kstatBase = align(cpuBase + g.cpus * CPU_STRIDE);
  const kstatStride = align(g.nrIrqs);
  const irqBase = align(kstatBase + g.cpus * kstatStride);
  const lockBase = align(irqBase + g.nrIrqs * IRQ_STRIDE);
  const nameBase = align(lockBase + g.maxLocks * LOCK_STRIDE);
  const taskBase = align(nameBase + g.maxNames * NAME_STRIDE);
  const logBase = align(taskBase + g.maxTasks * TASK_STRIDE);
  const dataBase = align(logBase + g.logRecords * LOG_STRIDE);
  const taskletBase = align(dataBase + g.dataWords);
  const timerBase = align(taskletBase + g.maxTasklets * TASKLET_STRIDE);
  const timerCpuBase = align(timerBase + g.maxTimers * TIMER_STRIDE);
  const objBase = align(timerCpuBase + g.cpus * TIMER_CPU_STRIDE);
  const slabBase = align(objBase + g.maxObjects * OBJ_STRIDE);
  // workqueues and sleeping primitives
  const wqGlobalBase = align(slabBase + g.slabWords);
  const poolBase = align(wqGlobalBase + WQG_WORDS);
  const pwqBase = align(poolBase + (g.cpus * WQ_POOLS_PER_CPU + WQ_UNBOUND_POOLS) * POOL_STRIDE);
  const wqBase = align(pwqBase + g.maxWorkqueues * g.cpus * PWQ_STRIDE);
  const workBase = align(wqBase + g.maxWorkqueues * WQS_STRIDE);
  const workerBase = align(workBase + g.maxWorks * WORK_STRIDE);
  const waitObjBase = align(workerBase + g.maxWorkers * WORKER_STRIDE);
  const waiterBase = align(waitObjBase + g.maxWaitObjects * WAITOBJ_STRIDE);
  // NAPI and softnet
  const softnetBase = align(waiterBase + g.maxTasks * WAITER_STRIDE);
  const napiBase = align(softnetBase + g.cpus * SOFTNET_STRIDE);
  const irqWorkBase = align(napiBase + g.maxNapi * NAPI_STRIDE);
  const hrtimerBase = align(irqWorkBase + g.maxIrqWorks * IRQ_WORK_STRIDE);
  const hrtimerCpuBase = align(hrtimerBase + g.maxHrtimers * HRTIMER_STRIDE);
  const detBase = align(hrtimerCpuBase + g.cpus * HRTIMER_CPU_STRIDE);
  const totalWords = align(detBase + g.detWords);
  return {
    cpuBase,
    kstatBase,
    kstatStride,
    irqBase,
    lockBase,
    nameBase,
    taskBase,
    logBase,
    dataBase,
    taskletBase,
    timerBase,
    timerCpuBase,
    objBase,
    slabBase,
    wqGlobalBase,
    poolBase,
    pwqBase,
    wqBase,
    workBase,
    workerBase,
    waitObjBase,
    waiterBase,
    softnetBase,
    napiBase,
    irqWorkBase,
    hrtimerBase,
    hrtimerCpuBase,
    detBase,
    totalWords,
    irrWords,
  };
}

/** Validate boot capacities; a bad one is an error that names it. */
export function checkGeometry(g: Geometry): void {
  const int = (name: keyof Geometry, lo: number, hi: number): void => {
    const v = g[name];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(`kdefer: boot option ${name}=${String(v)} must be an integer in [${lo}, ${hi}]`);
    }
  };
  int('cpus', 1, MAX_CPUS);
  int('hz', 10, 10000);
  int('nrIrqs', 1, IRR_MAX_WORDS * 32);
  int('maxLocks', 1, 1 << 20);
  int('maxNames', 16, 1 << 20);
  int('maxTasks', g.cpus * 2 + 8, 1 << 16);
  int('logRecords', 64, 1 << 20);
  int('dataWords', 1024, 1 << 26);
  int('maxTasklets', 1, 1 << 20);
  int('maxTimers', 1, 1 << 20);
  int('maxObjects', 1, 1 << 20);
  int('slabWords', 1024, 1 << 26);
  int('maxWorks', 16, 1 << 20);
  int('maxWorkqueues', 8, 1 << 12);
  int('maxWorkers', g.cpus * 8, 1 << 16);
  int('maxWaitObjects', WAITOBJ_RESERVED + 64, 1 << 20);
  int('maxNapi', g.cpus + 1, 1 << 16);
  int('maxIrqWorks', 1, 1 << 16);
  int('maxHrtimers', 1, 1 << 16);
  int('detWords', 0, 1 << 24);
}

/**
 * The views of one machine's memory. Host and CPUs build the same Mem over
 * the same buffer; all offset arithmetic goes through its methods.
 */
export class Mem {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly f64: Float64Array;
  readonly r: Regions;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly g: Geometry,
  ) {
    this.r = computeRegions(g);
    if (sab.byteLength < this.r.totalWords * 4) {
      throw new RangeError(`kdefer: shared buffer is ${sab.byteLength} bytes, the map needs ${this.r.totalWords * 4}`);
    }
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    this.f64 = new Float64Array(sab);
  }

  static create(g: Geometry): Mem {
    checkGeometry(g);
    const r = computeRegions(g);
    const m = new Mem(new SharedArrayBuffer(r.totalWords * 4), g);
    const h = m.i32;
    h[H_MAGIC] = MAGIC;
    h[H_NR_CPUS] = g.cpus;
    h[H_HZ] = g.hz;
    h[H_NR_IRQS] = g.nrIrqs;
    h[H_PANIC_CPU] = -1;
    h[H_NEXT_PID] = 1;
    h[H_NAMES_USED] = 1; // name id 0 means "none"
    h[H_LOCKS_USED] = 1; // lock id 0 is never handed out: 0 means "none" in PC_SPINNING_ON
    for (let irq = 0; irq < g.nrIrqs; irq++) {
      const d = m.irq(irq);
      h[d + IRQD_AFFINITY] = g.cpus >= 32 ? -1 : (1 << g.cpus) - 1;
      h[d + IRQD_AFFINITY + 1] = g.cpus > 32 ? (g.cpus >= 64 ? -1 : (1 << (g.cpus - 32)) - 1) : 0;
    }
    return m;
  }

  /** Word index of field `f` of CPU `cpu`'s area. */
  cpu(cpu: number, f = 0): number {
    return this.r.cpuBase + cpu * CPU_STRIDE + f;
  }
  kstatIrq(cpu: number, irq: number): number {
    return this.r.kstatBase + cpu * this.r.kstatStride + irq;
  }
  irq(irq: number, f = 0): number {
    return this.r.irqBase + irq * IRQ_STRIDE + f;
  }
  lock(id: number, f = 0): number {
    return this.r.lockBase + id * LOCK_STRIDE + f;
  }
  name(id: number, f = 0): number {
    return this.r.nameBase + id * NAME_STRIDE + f;
  }
  task(slot: number, f = 0): number {
    return this.r.taskBase + slot * TASK_STRIDE + f;
  }
  log(rec: number, f = 0): number {
    return this.r.logBase + rec * LOG_STRIDE + f;
  }
  data(off: number): number {
    return this.r.dataBase + off;
  }
  /** Word `f` of the deterministic-mode region (det.ts). */
  det(f: number): number {
    return this.r.detBase + f;
  }
  /** Word `f` of irq_work slot `id`. */
  irqWork(id: number, f = 0): number {
    return this.r.irqWorkBase + id * IRQ_WORK_STRIDE + f;
  }
  /** Word `f` of hrtimer slot `id`. */
  hrtimer(id: number, f = 0): number {
    return this.r.hrtimerBase + id * HRTIMER_STRIDE + f;
  }
  /** Word `f` of CPU `cpu`'s hrtimer_cpu_base. */
  hrtimerCpu(cpu: number, f = 0): number {
    return this.r.hrtimerCpuBase + cpu * HRTIMER_CPU_STRIDE + f;
  }
  tasklet(id: number, f = 0): number {
    return this.r.taskletBase + id * TASKLET_STRIDE + f;
  }
  timer(id: number, f = 0): number {
    return this.r.timerBase + id * TIMER_STRIDE + f;
  }
  /** Word `f` of CPU `cpu`'s timer base (struct timer_base). */
  timerCpu(cpu: number, f = 0): number {
    return this.r.timerCpuBase + cpu * TIMER_CPU_STRIDE + f;
  }
  obj(slot: number, f = 0): number {
    return this.r.objBase + slot * OBJ_STRIDE + f;
  }
  slab(off: number): number {
    return this.r.slabBase + off;
  }
  /** Word `f` of the workqueue globals. */
  wqGlobal(f: number): number {
    return this.r.wqGlobalBase + f;
  }
  /** Number of worker pools: WQ_POOLS_PER_CPU per CPU, then the unbound ones. */
  nrPools(): number {
    return this.g.cpus * WQ_POOLS_PER_CPU + WQ_UNBOUND_POOLS;
  }
  pool(id: number, f = 0): number {
    return this.r.poolBase + id * POOL_STRIDE + f;
  }
  /** pool_workqueue of workqueue `wq` for CPU `cpu` (an unbound workqueue's is cpu 0). */
  pwq(wq: number, cpu: number, f = 0): number {
    return this.r.pwqBase + (wq * this.g.cpus + cpu) * PWQ_STRIDE + f;
  }
  /** pool_workqueue by id (wq * cpus + cpu). */
  pwqById(id: number, f = 0): number {
    return this.r.pwqBase + id * PWQ_STRIDE + f;
  }
  wq(id: number, f = 0): number {
    return this.r.wqBase + id * WQS_STRIDE + f;
  }
  work(id: number, f = 0): number {
    return this.r.workBase + id * WORK_STRIDE + f;
  }
  worker(id: number, f = 0): number {
    return this.r.workerBase + id * WORKER_STRIDE + f;
  }
  waitObj(id: number, f = 0): number {
    return this.r.waitObjBase + id * WAITOBJ_STRIDE + f;
  }
  /** The wait_queue_entry of the task in task-table slot `slot`. */
  waiter(slot: number, f = 0): number {
    return this.r.waiterBase + slot * WAITER_STRIDE + f;
  }
  /** Word `f` of CPU `cpu`'s softnet_data. */
  softnet(cpu: number, f = 0): number {
    return this.r.softnetBase + cpu * SOFTNET_STRIDE + f;
  }
  /** Word `f` of napi_struct `id` (ids below the CPU count are the backlogs). */
  napi(id: number, f = 0): number {
    return this.r.napiBase + id * NAPI_STRIDE + f;
  }
  /** Epoch milliseconds of boot (every thread has its own performance.now origin). */
  bootTime(): number {
    return this.f64[H_BOOT_TIME / 2]!;
  }
  setBootTime(ms: number): void {
    this.f64[H_BOOT_TIME / 2] = ms;
  }
  logTime(rec: number): number {
    return this.f64[this.log(rec, LG_TIME) / 2]!;
  }
  setLogTime(rec: number, us: number): void {
    this.f64[this.log(rec, LG_TIME) / 2] = us;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Write a string into `maxBytes` bytes at word `w` (UTF-8, cut to fit).
 * @param m - the machine's memory.
 * @param w - the first word.
 * @param s - the string.
 * @param maxBytes - the room there.
 * @returns the byte length written.
 */
export function putString(m: Mem, w: number, s: string, maxBytes: number): number {
  const bytes = enc.encode(s);
  const n = Math.min(bytes.length, maxBytes);
  m.u8.set(bytes.subarray(0, n), w * 4);
  return n;
}

/**
 * Read `len` UTF-8 bytes at word `w` (copied first: TextDecoder refuses views of a SharedArrayBuffer).
 * @param m - the machine's memory.
 * @param w - the first word.
 * @param len - the byte length.
 * @returns the string.
 */
export function getString(m: Mem, w: number, len: number): string {
  // TextDecoder refuses views of a SharedArrayBuffer: copy first.
  return dec.decode(m.u8.slice(w * 4, w * 4 + len));
}

/**
 * The UTF-8 byte length of `s`.
 * @param s - the string.
 * @returns its length in bytes.
 */
export function encodedLength(s: string): number {
  return enc.encode(s).length;
}
