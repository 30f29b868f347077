/**
 * @kdefer/core — the kernel face. Everything a module running inside a
 * simulated CPU calls, under the kernel's own names, plus the pure
 * functions the host uses to read a machine's shared memory.
 *
 * Layers (bottom up; packages/core/README.md draws them, npm run depcruise
 * enforces them): 1 layout smp printk module upcall rand slot · 2 preempt entry det trace sched/task ·
 * 3 lockdep spinlock oops · 4 softirq irq tick irq_work nmi · 5 sched ksoftirqd wait mutex
 * completion tasklet timer hrtimer irq_thread slab rcu
 * era/bh22 era/tqueue · 6 workqueue napi bh era/boot ·
 * 7 sched/idle init cpu_entry proc index. era/era (the boot option `era`) sits in layer 1.
 */
export * from './layout.js';
export {
  smp_processor_id,
  raw_smp_processor_id,
  num_online_cpus,
  num_possible_cpus,
  kick_cpu,
  kick_cpu_control,
  machine_running,
} from './smp.js';
export * from './preempt.js';
export { cpu_relax } from './entry.js';
export {
  type ScheduleOptions,
  type DetStrategy,
  type DetRecord,
  type DetDivergence,
  DET_HOST,
  DET_STEP_COST_MS,
  DET_YIELD_COST_MS,
  DET_EPOCH_MS,
  DP_IDLE,
  det_runnable,
  det_vclock,
  det_next_deadline,
  det_advance_clock,
  det_divergence,
  det_finish_replay,
  det_read_record,
  det_choose,
  det_host_holds,
  det_host_grant,
  det_end,
  det_cpu_booting,
} from './det.js';
export { xorshift32 } from './rand.js';
export {
  printk,
  pr_emerg,
  pr_alert,
  pr_crit,
  pr_err,
  pr_warn,
  pr_notice,
  pr_info,
  pr_debug,
  KERN_EMERG,
  KERN_ALERT,
  KERN_CRIT,
  KERN_ERR,
  KERN_WARNING,
  KERN_NOTICE,
  KERN_INFO,
  KERN_DEBUG,
  WARN,
  WARN_ON,
  WARN_ON_ONCE,
  WARN_ONCE,
  BUG,
  BUG_ON,
  panic,
  KernelHalt,
  readLog,
  formatLog,
  formatRecord,
  log_store,
  type LogRecord,
  readReports,
  reportKindOf,
  REPORT_KINDS,
  type Report,
  type ReportKind,
} from './printk.js';
export {
  defineModule,
  type ModuleDef,
  type ModuleEntries,
  shared_array,
  shared_int32,
  DEFINE_PER_CPU,
  PerCpu,
  per_cpu_ptr,
  this_cpu_ptr,
  this_cpu_read,
  this_cpu_write,
  this_cpu_add,
  this_cpu_inc,
  this_cpu_dec,
  registerFunction,
  KdeferError,
  load_module,
  module_entry,
  loaded_modules,
  registryLookup,
  hostSharedArray,
  hostPercpuArray,
  name_of,
} from './module.js';
export {
  IRQ_NONE,
  IRQ_HANDLED,
  IRQ_WAKE_THREAD,
  IRQF_SHARED,
  IRQF_PROBE_SHARED,
  IRQF_NO_SUSPEND,
  IRQF_NO_THREAD,
  IRQF_NO_AUTOEN,
  IRQF_TRIGGER_RISING,
  IRQF_ONESHOT,
  IRQF_PERCPU,
  EINVAL,
  EBUSY,
  ENOENT,
  type irqreturn_t,
  type IrqHandler,
  type IrqThreadFn,
  synchronize_hardirq,
  disable_hardirq,
  disable_irq_nosync,
  enable_irq,
  irq_set_affinity,
  raiseIrq,
  assertIrq,
  checkIrq,
  irqRangeError,
  irqSetAffinityMem,
  irq_to_desc,
  IrqDesc,
} from './irq.js';
export {
  HI_SOFTIRQ,
  TIMER_SOFTIRQ,
  NET_TX_SOFTIRQ,
  NET_RX_SOFTIRQ,
  BLOCK_SOFTIRQ,
  IRQ_POLL_SOFTIRQ,
  TASKLET_SOFTIRQ,
  SCHED_SOFTIRQ,
  HRTIMER_SOFTIRQ,
  RCU_SOFTIRQ,
  NR_SOFTIRQS,
  softirq_to_name,
  MAX_SOFTIRQ_TIME_MS,
  MAX_SOFTIRQ_RESTART,
  open_softirq,
  raise_softirq,
  raise_softirq_irqoff,
  __raise_softirq_irqoff,
  local_softirq_pending,
  do_softirq,
  wakeup_softirqd,
  irq_enter,
  irq_exit,
  type SoftirqAction,
} from './softirq.js';
export * from './spinlock.js';
export {
  jiffies,
  HZ,
  get_jiffies_64,
  jiffiesAt,
  time_after,
  time_before,
  time_after_eq,
  time_before_eq,
  msecs_to_jiffies,
  usecs_to_jiffies,
  jiffies_to_msecs,
  initial_jiffies,
} from './tick.js';
export {
  TaskStruct,
  type task_struct,
  type ThreadInfo,
  TASK_RUNNING,
  TASK_INTERRUPTIBLE,
  TASK_UNINTERRUPTIBLE,
  TASK_IDLE,
  TASK_DEAD,
  MAX_SCHEDULE_TIMEOUT,
  PF_KTHREAD,
  schedule,
  schedule_timeout,
  schedule_timeout_interruptible,
  schedule_timeout_uninterruptible,
  msleep,
  cond_resched,
  might_sleep,
  set_current_state,
  __set_current_state,
  wake_up_process,
  kthread_create,
  kthread_create_on_cpu,
  kthread_run,
  kthread_stop,
  kthread_should_stop,
  get_current,
  current_comm,
  current_pid,
  awaitHost,
  readTasks,
  commOfPid,
} from './sched.js';
export { procSoftirqs, procInterrupts, kstat_softirqs, kstat_irqs } from './proc.js';
export { setup_machine_memory, type BootOptions } from './init.js';
export * from './tasklet.js';
export * from './irq_work.js';
export * from './irq_thread.js';
export * from './nmi.js';
export * from './hrtimer.js';
export * from './timer.js';
export {
  GFP_KERNEL,
  GFP_ATOMIC,
  GFP_NOWAIT,
  POISON_FREE_WORD,
  type FieldType,
  type StructFields,
  StructType,
  KmemCache,
  SlabObject,
  defineStruct,
  kmalloc,
  kzalloc,
  kfree,
  kmem_cache_create,
  kmem_cache_alloc,
  kmem_cache_zalloc,
  kmem_cache_free,
  slab_obj,
  slabAlive,
  kasanReportCount,
} from './slab.js';
export {
  lockdep_map,
  lock_map_acquire,
  lock_map_release,
  lockdepReportCount,
  lockdep_depth,
  lockdep_check_return,
  MAX_LOCK_DEPTH,
} from './lockdep.js';
export { touch_softlockup_watchdog, describeActivity } from './watchdog.js';
export { trace_event, readTrace, traceTail, traceDetail, chromeTrace, tracing_on, TP_NAMES, type TraceRecord } from './trace.js';
export * as tracepoints from './trace.js';
export * from './napi.js';
export * from './bh.js';
export { ERAS, type Era, booted_era, era_of } from './era/era.js';
export * from './nic.js';
export {
  WaitQueueHead,
  type wait_queue_head_t,
  WQ_FLAG_EXCLUSIVE,
  DECLARE_WAIT_QUEUE_HEAD,
  init_waitqueue_head,
  prepare_to_wait,
  prepare_to_wait_exclusive,
  prepare_to_wait_event,
  finish_wait,
  wait_event,
  wait_event_timeout,
  wait_event_interruptible,
  wait_event_interruptible_timeout,
  wait_event_interruptible_exclusive,
  wait_event_killable,
  wake_up,
  wake_up_all,
  wake_up_nr,
  wake_up_interruptible,
  wake_up_interruptible_all,
  waitqueue_active,
} from './wait.js';
export * from './completion.js';
export * from './rcu.js';
export {
  Mutex,
  type mutex,
  DEFINE_MUTEX,
  mutex_init,
  mutex_lock,
  mutex_lock_interruptible,
  mutex_lock_killable,
  mutex_trylock,
  mutex_unlock,
  mutex_is_locked,
} from './mutex.js';
export * from './workqueue.js';
export { wakeUpPid, PF_WQ_WORKER, TASK_NOLOAD } from './sched.js';
