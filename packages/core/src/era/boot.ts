/**
 * era/boot.ts — install the booted era's switch table on this CPU.
 *
 * Called once by start_cpu, after the built-in mechanisms opened their
 * vectors and before any module loads: it picks the old-style API's
 * back-end (bh.ts's table), sets the era's BH numbers, installs the
 * kernel's own bottom halves (TQUEUE_BH runs tq_timer, IMMEDIATE_BH runs
 * tq_immediate, as 2.2's sched_init and 2.4's softirq_init did, H-22-7) and
 * the era's hooks (do_timer marking TQUEUE_BH while tq_timer is not empty,
 * H-TQ-3; 2.2's schedule() running bottom halves and tq_scheduler, H-22-6).
 * Nothing here runs in a hot path: every choice is made by what is installed.
 */
import { booted_era, era_missing, type Era } from './era.js';
import {
  bh22_init_cpu,
  bh22_install,
  bh22_init_bh,
  bh22_mark_bh,
  bh22_remove_bh,
  bh22_disable_bh,
  bh22_enable_bh,
  bh22_start_bh_atomic,
  bh22_end_bh_atomic,
  bh22_synchronize_bh,
  bh22_schedule_hook,
  bh22_timer_action,
  BH22_NAMES,
} from './bh22.js';
import {
  tqueue_init_cpu,
  tq22_define,
  tq22_declare_queue,
  tq22_queue_task,
  tq22_run_task_queue,
  tq22_active,
  tq_timer,
  tq_immediate,
  tq_scheduler,
} from './tqueue.js';
import {
  type BhOps,
  bh_install_ops,
  bh_set_numbers,
  bh24_install,
  bh24_init_bh,
  bh24_mark_bh,
  bh24_remove_bh,
  bh24_timer_action,
  BH24_NAMES,
  TQUEUE_BH,
  IMMEDIATE_BH,
} from '../bh.js';
import { registerUpcalls, registerUpcallChain } from '../upcall.js';
import { HZ } from '../tick.js';
import { cpuId } from '../smp.js';
import { open_softirq, softirq_kernel_init, TIMER_SOFTIRQ } from '../softirq.js';
import { tasklet_set_era_check } from '../tasklet.js';
import { run_timer_softirq } from '../timer.js';

/** Timers from TIMER_BH (2.2, 2.4: H-TMR-3): TIMER_SOFTIRQ's action becomes `action`. */
function timers_from_timer_bh(action: () => void): void {
  softirq_kernel_init(true);
  try {
    open_softirq(TIMER_SOFTIRQ, action);
  } finally {
    softirq_kernel_init(false);
  }
}

const BH_GONE = 'old-style bottom halves were removed in 2.5.40';
const TQ_GONE = 'task queues were replaced by work queues in 2.5.41';

/** The task-queue half of a table, for eras that have none. */
function no_task_queues(): Pick<BhOps, 'defineTqStruct' | 'DECLARE_TASK_QUEUE' | 'queue_task' | 'run_task_queue' | 'TQ_ACTIVE'> {
  const has: Era[] = ['2.2', '2.4'];
  return {
    defineTqStruct: era_missing('tq_struct', TQ_GONE, has),
    DECLARE_TASK_QUEUE: era_missing('DECLARE_TASK_QUEUE', TQ_GONE, has),
    queue_task: era_missing('queue_task', TQ_GONE, has),
    run_task_queue: era_missing('run_task_queue', TQ_GONE, has),
    TQ_ACTIVE: era_missing('TQ_ACTIVE', TQ_GONE, has),
  };
}

function task_queues(): Pick<BhOps, 'defineTqStruct' | 'DECLARE_TASK_QUEUE' | 'queue_task' | 'run_task_queue' | 'TQ_ACTIVE'> {
  return {
    defineTqStruct: tq22_define,
    DECLARE_TASK_QUEUE: tq22_declare_queue,
    queue_task: tq22_queue_task,
    run_task_queue: tq22_run_task_queue,
    TQ_ACTIVE: tq22_active,
  };
}

/** do_timer's part (H-TQ-3): mark TQUEUE_BH on every tick while tq_timer holds tasks; CPU 0 plays the timer interrupt. */
function tq_timer_hooks(mark: (nr: number) => void): void {
  if (cpuId !== 0) return;
  registerUpcallChain('tick', () => {
    if (tq22_active(tq_timer)) mark(TQUEUE_BH);
  });
  // kdefer's idle CPUs take no tick: keep CPU 0's tick while tq_timer waits.
  registerUpcallChain('idleTimeout', () => (tq22_active(tq_timer) ? 1000 / HZ : Infinity));
}

/**
 * era_init_cpu - install the booted era's back-ends on this CPU.
 * Context: CPU bring-up (start_cpu), once per CPU, before any module loads. Does not sleep.
 */
export function era_init_cpu(): void {
  const era = booted_era();
  switch (era) {
    case '2.2': {
      bh22_init_cpu();
      tqueue_init_cpu(era);
      bh_set_numbers(BH22_NAMES, era);
      bh_install_ops({
        init_bh: bh22_init_bh,
        mark_bh: bh22_mark_bh,
        remove_bh: bh22_remove_bh,
        disable_bh: bh22_disable_bh,
        enable_bh: bh22_enable_bh,
        start_bh_atomic: bh22_start_bh_atomic,
        end_bh_atomic: bh22_end_bh_atomic,
        synchronize_bh: bh22_synchronize_bh,
        ...task_queues(),
      });
      bh22_install(TQUEUE_BH, function tqueue_bh() {
        tq22_run_task_queue(tq_timer);
      });
      bh22_install(IMMEDIATE_BH, function immediate_bh() {
        tq22_run_task_queue(tq_immediate);
      });
      tq_timer_hooks(bh22_mark_bh);
      timers_from_timer_bh(bh22_timer_action(run_timer_softirq));
      // Tasklets came with softnet (2.3.43); in 2.2 HI_SOFTIRQ carries the bottom halves, so a
      // module's HI tasklet would be lost. (A module's own softirq vector is not refused: rx.ts's
      // net_dev_init opens NET_RX_SOFTIRQ at load in every era.)
      const sn = 'softirqs and tasklets arrived with softnet in 2.3.43';
      tasklet_set_era_check((who) => era_missing(who, sn, ['2.4', '2.6', '6.x', 'rt'])());
      registerUpcalls({
        schedule: () => {
          bh22_schedule_hook();
          tq22_run_task_queue(tq_scheduler);
        },
      });
      return;
    }
    case '2.4': {
      tqueue_init_cpu(era);
      bh_set_numbers(BH24_NAMES, era);
      const why = 'removed in 2.4.0 (2.4 fences one bottom half with tasklet_disable(bh_task_vec + nr), all of them with local_bh_disable)';
      bh_install_ops({
        init_bh: bh24_init_bh,
        mark_bh: bh24_mark_bh,
        remove_bh: bh24_remove_bh,
        disable_bh: era_missing('disable_bh', why, ['2.2']),
        enable_bh: era_missing('enable_bh', why, ['2.2']),
        start_bh_atomic: era_missing('start_bh_atomic', why, ['2.2']),
        end_bh_atomic: era_missing('end_bh_atomic', why, ['2.2']),
        synchronize_bh: era_missing('synchronize_bh', why, ['2.2']),
        ...task_queues(),
      });
      bh24_install(TQUEUE_BH, function tqueue_bh() {
        tq22_run_task_queue(tq_timer);
      });
      bh24_install(IMMEDIATE_BH, function immediate_bh() {
        tq22_run_task_queue(tq_immediate);
      });
      tq_timer_hooks(bh24_mark_bh);
      timers_from_timer_bh(bh24_timer_action(run_timer_softirq));
      return;
    }
    default: {
      bh_set_numbers(BH22_NAMES, era);
      bh_install_ops({
        init_bh: era_missing('init_bh', BH_GONE, ['2.2', '2.4']),
        mark_bh: era_missing('mark_bh', BH_GONE, ['2.2', '2.4']),
        remove_bh: era_missing('remove_bh', BH_GONE, ['2.2', '2.4']),
        disable_bh: era_missing('disable_bh', BH_GONE, ['2.2']),
        enable_bh: era_missing('enable_bh', BH_GONE, ['2.2']),
        start_bh_atomic: era_missing('start_bh_atomic', BH_GONE, ['2.2']),
        end_bh_atomic: era_missing('end_bh_atomic', BH_GONE, ['2.2']),
        synchronize_bh: era_missing('synchronize_bh', BH_GONE, ['2.2']),
        ...no_task_queues(),
      });
    }
  }
}
