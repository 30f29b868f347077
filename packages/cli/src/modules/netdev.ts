/**
 * netdev.ts — a built-in kdefer module: a small multi-queue network device.
 *
 * Models the receive path of a NIC with one RX queue per CPU, as a driver
 * using the pre-NAPI softnet backlog (net/core/dev.c, netif_rx + net_rx_action):
 *
 *   device  --IRQ 16+q-->  eth0_interrupt (hardirq, CPU q)
 *                            - count the interrupt per CPU and per queue
 *                            - queue one "packet" on this CPU's backlog
 *                            - raise NET_RX_SOFTIRQ on this CPU
 *           irq_exit  -->  net_rx_action (softirq, same CPU)
 *                            - drain this CPU's backlog (irqs off, as
 *                              process_backlog takes the input queue)
 *                            - per-CPU accounting (this_cpu_inc)
 *                            - one update of the shared rx counter under
 *                              netdev.rx_lock with plain spin_lock: softirqs
 *                              do not nest on a CPU, and every process-context
 *                              user of the lock takes it with spin_lock_bh
 *
 * Process context shares the same counter: the `writer` entry point updates
 * it under spin_lock_bh, so a NET_RX softirq raised by an interrupt that
 * lands while the writer holds the lock waits until spin_unlock_bh, instead
 * of spinning forever on a lock its own CPU holds.
 *
 * Differs from a real driver:
 * - a "packet" is a count, there is no skb, no ring and no NAPI poll;
 * - each queue's affinity is set to its CPU at load (what irqbalance or a
 *   driver's affinity hint would do), so queue q is CPU q's.
 */
import {
  defineModule,
  DEFINE_SPINLOCK,
  DEFINE_PER_CPU,
  shared_int32,
  num_online_cpus,
  smp_processor_id,
  request_irq,
  irq_set_affinity,
  IRQ_HANDLED,
  IRQ_NONE,
  open_softirq,
  raise_softirq,
  NET_RX_SOFTIRQ,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  local_irq_save,
  local_irq_restore,
  this_cpu_inc,
  this_cpu_add,
  this_cpu_read,
  this_cpu_write,
  cond_resched,
  pr_err,
  pr_info,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

/** The first queue's IRQ line; queue q raises IRQ_BASE + q. */
export const IRQ_BASE = irqLine('netdev');

/** The module's name, for machine.call(cpu, NETDEV, entry, ...). */
export const NETDEV = 'netdev';

/**
 * The names of what the module shares, for the host (machine.sharedArray,
 * machine.perCpuArray).
 */
export const NETDEV_NAMES = {
  /** spinlock guarding `stats` */
  lock: 'netdev.rx_lock',
  /** shared Int32Array: [STAT_TOTAL] updates of the shared counter, [STAT_CTL] host control word */
  stats: 'netdev.stats',
  /** per-CPU Int32Array of nQueues: hardirqs taken on this CPU, by queue */
  hardirqs: 'netdev.hardirqs',
  /** per-CPU Int32Array of PCPU_WORDS: see PCPU_* */
  pcpu: 'netdev.pcpu',
} as const;

/** Index of the shared counter in `netdev.stats` (guarded by netdev.rx_lock). */
export const STAT_TOTAL = 0;
/** Index of the host's control word: non-zero asks writers to stop. Atomics only. */
export const STAT_CTL = 1;
const STATS_WORDS = 2;

/** Per-CPU words of `netdev.pcpu`, each written by its own CPU only. */
export const PCPU_RX_RUNS = 0; //    net_rx_action runs
export const PCPU_RX_PACKETS = 1; // packets drained from the backlog
export const PCPU_BACKLOG = 2; //    packets queued by the hardirq, not yet drained (irqs off to touch)
export const PCPU_WRITES = 3; //     writer updates of the shared counter
export const PCPU_WORDS = 4;

/** Iterations of `writer` between two cond_resched() calls. */
const WRITER_RESCHED_EVERY = 4096;

export default defineModule(NETDEV, () => {
  const nQueues = num_online_cpus();
  const rx_lock = DEFINE_SPINLOCK(NETDEV_NAMES.lock);
  const stats = shared_int32(NETDEV_NAMES.stats, STATS_WORDS);
  const hardirqs = DEFINE_PER_CPU(NETDEV_NAMES.hardirqs, Int32Array, nQueues);
  const pcpu = DEFINE_PER_CPU(NETDEV_NAMES.pcpu, Int32Array, PCPU_WORDS);

  /** Hardirq handler of every RX queue; `dev_id` is the queue number. */
  function eth0_interrupt(irq: number, dev_id: unknown): number {
    const q = typeof dev_id === 'number' ? dev_id : irq - IRQ_BASE;
    if (q < 0 || q >= nQueues) return IRQ_NONE;
    this_cpu_inc(hardirqs, q);
    // Interrupts are off in a hardirq handler: the backlog is ours alone.
    this_cpu_inc(pcpu, PCPU_BACKLOG);
    raise_softirq(NET_RX_SOFTIRQ);
    return IRQ_HANDLED;
  }

  /** NET_RX_SOFTIRQ: drain this CPU's backlog, account, update the shared counter. */
  function net_rx_action(): void {
    // The hardirq handler adds to the backlog: take it with interrupts off.
    const flags = local_irq_save();
    const packets = this_cpu_read(pcpu, PCPU_BACKLOG);
    this_cpu_write(pcpu, 0, PCPU_BACKLOG);
    local_irq_restore(flags);

    this_cpu_inc(pcpu, PCPU_RX_RUNS);
    this_cpu_add(pcpu, packets, PCPU_RX_PACKETS);
    // Already in softirq context: plain spin_lock suffices (the other side uses _bh).
    spin_lock(rx_lock);
    stats[STAT_TOTAL]!++;
    spin_unlock(rx_lock);
  }

  for (let q = 0; q < nQueues; q++) {
    const ret = request_irq(IRQ_BASE + q, eth0_interrupt, 0, `eth0-rx-${q}`, q);
    if (ret !== 0) pr_err(`netdev: request_irq(${IRQ_BASE + q}) for eth0-rx-${q} failed: ${ret}`);
    irq_set_affinity(IRQ_BASE + q, [q]);
  }
  open_softirq(NET_RX_SOFTIRQ, net_rx_action);
  if (smp_processor_id() === 0) pr_info(`netdev: eth0: ${nQueues} RX queues on IRQs ${IRQ_BASE}-${IRQ_BASE + nQueues - 1}`);

  return {
    /**
     * writer - `n` updates of the shared counter from process context, under
     * spin_lock_bh, yielding every few thousand; stops early when the host
     * sets the control word.
     * @returns the number of updates done.
     */
    async writer(n: number): Promise<number> {
      let i = 0;
      for (; i < n; i++) {
        spin_lock_bh(rx_lock);
        stats[STAT_TOTAL]!++;
        spin_unlock_bh(rx_lock);
        this_cpu_inc(pcpu, PCPU_WRITES);
        if (i % WRITER_RESCHED_EVERY === WRITER_RESCHED_EVERY - 1) {
          await cond_resched();
          if (Atomics.load(stats, STAT_CTL) !== 0) {
            i++;
            break;
          }
        }
      }
      return i;
    },

    /** The number of RX queues (one per CPU). */
    queues(): number {
      return nQueues;
    },
  };
});
