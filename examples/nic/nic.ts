/**
 * examples/nic — a network driver's interrupt, NAPI poll, watchdog timer
 * and reset work, and a teardown that must stop all of them; the bug and
 * its fix side by side (buggy.ts, fixed.ts).
 *
 * The real driver pattern: an Ethernet driver (e1000e, igb, r8169, tg3 ...)
 * takes a hardirq that only schedules NAPI; the NAPI poll, in
 * NET_RX_SOFTIRQ, receives up to its budget and cleans the transmit ring.
 * A watchdog timer checks every few jiffies that transmits complete; when
 * the ring is stuck it schedules a reset work item (the reset sleeps, so it
 * cannot run in the timer), and the reset restarts the watchdog when the
 * hardware is back — the work re-arms the timer. The private struct embeds
 * both the timer_list and the work_struct, so teardown must stop them
 * before kfree():
 *
 *   napi_disable(&napi)                  no poll runs or will run
 *   timer_shutdown_sync(&watchdog)       no watchdog runs, and none can be re-armed
 *   cancel_work_sync(&reset_task)        no reset runs or is queued
 *   free_irq(irq, priv)                  no interrupt handler
 *   kfree(priv)
 *
 * The bug (buggy.ts) is the teardown many drivers had before
 * timer_shutdown_sync() existed (Linux 6.2): timer_delete_sync() first,
 * then cancel_work_sync(). If the reset is running at that moment,
 * cancel_work_sync() waits for it, and the reset re-arms the watchdog that
 * was just deleted; priv is freed, the watchdog fires and reads the freed
 * priv: KASAN slab-use-after-free in the timer function. Putting
 * cancel_work_sync() first does not help either: the watchdog can queue
 * the reset again before it is deleted. timer_shutdown_sync() (fixed.ts)
 * is the fix: after it, mod_timer() on that timer does nothing.
 *
 * Run:
 *   kdefer run examples/nic/buggy.ts --cpus 2 --call probe --call xmit:200 --call stall --call remove --irq 12:2000
 */
import {
  defineModule,
  defineStruct,
  kmalloc,
  kfree,
  slab_obj,
  shared_int32,
  GFP_KERNEL,
  timer_setup,
  mod_timer,
  timer_delete_sync,
  timer_shutdown_sync,
  from_timer,
  INIT_WORK,
  schedule_work,
  cancel_work_sync,
  workContainerOf,
  net_dev_init,
  netif_napi_add,
  napi_enable,
  napi_disable,
  napi_schedule,
  napi_complete_done,
  request_irq,
  free_irq,
  IRQ_HANDLED,
  IRQ_NONE,
  msleep,
  registerFunction,
  jiffies,
  type TimerList,
  type WorkStruct,
  type NapiStruct,
} from '@kdefer/core';

/** The NIC's interrupt line. */
export const NIC_IRQ = 12;
/** The watchdog's period, in jiffies. */
export const WATCHDOG_JIFFIES = 5;
/** How long the hardware takes to reset, ms (the reset work sleeps that long). */
export const RESET_MS = 40;

const PRIV = {
  rx_pending: 'i32', // frames the device has put in the RX ring
  rx_packets: 'i32',
  tx_queued: 'i32',
  tx_done: 'i32',
  tx_last: 'i32', // tx_done at the watchdog's last look
  tx_stuck: 'i32', // the device stopped completing transmits
  resets_started: 'i32',
  resets: 'i32',
  watchdog: 'timer_list',
  reset_task: 'work_struct',
} as const;
type Priv = typeof PRIV;

/** The module, with remove() the buggy way or the fixed way. */
export function nic(fixed: boolean) {
  return defineModule(fixed ? 'nic_fixed' : 'nic_buggy', () => {
    net_dev_init();
    const NicPriv = defineStruct('nic.priv', PRIV);
    const s = shared_int32('nic.s', 2); // [0] the priv handle, while the device is bound
    const priv = () => slab_obj<Priv>(Atomics.load(s, 0));

    /** NAPI poll (NET_RX_SOFTIRQ): receive up to `budget` frames, clean the TX ring. */
    const nic_poll = function nic_poll(napi: NapiStruct, budget: number): number {
      const p = priv();
      let done = 0;
      while (done < budget && p.get('rx_pending') > 0) {
        p.add('rx_pending', -1);
        p.add('rx_packets', 1);
        done++;
      }
      if (p.get('tx_stuck') === 0) p.set('tx_done', p.get('tx_queued'));
      if (done < budget) napi_complete_done(napi, done);
      return done;
    };
    const napi = netif_napi_add('nic-rx', nic_poll);

    /** The hardirq: a frame arrived (or a TX completed); the rest is NAPI's. */
    const nic_interrupt = function nic_interrupt(_irq: number, dev: unknown): number {
      if (Atomics.load(s, 0) === 0 || dev !== Atomics.load(s, 0)) return IRQ_NONE;
      priv().add('rx_pending', 1);
      napi_schedule(napi);
      return IRQ_HANDLED;
    };

    /** The watchdog timer: a TX ring that stopped completing gets a reset. */
    const nic_watchdog = function nic_watchdog(t: TimerList): void {
      const p = from_timer<Priv>(t);
      const done = p.get('tx_done');
      if (p.get('tx_queued') > done && done === p.get('tx_last')) {
        schedule_work(p.work('reset_task')); // the reset restarts the watchdog
        return;
      }
      p.set('tx_last', done);
      mod_timer(t, jiffies + WATCHDOG_JIFFIES);
    };

    /** The reset work (process context: it may sleep). */
    const nic_reset_task = async function nic_reset_task(work: WorkStruct): Promise<void> {
      const p = workContainerOf<Priv>(work);
      p.add('resets_started', 1);
      await msleep(RESET_MS); // the hardware resets
      p.set('tx_stuck', 0);
      p.set('tx_done', p.get('tx_queued'));
      p.set('tx_last', p.get('tx_done'));
      p.add('resets', 1);
      mod_timer(p.timer('watchdog'), jiffies + WATCHDOG_JIFFIES); // watch it again
    };

    // Functions that shared memory refers to (an embedded timer's, a work's) are named at load on every CPU.
    registerFunction('nic.watchdog', nic_watchdog);
    registerFunction('nic.reset_task', nic_reset_task);
    registerFunction('nic.interrupt', nic_interrupt);

    return {
      /** probe + open: allocate priv, set up the timer and the work, enable NAPI, take the IRQ, start the watchdog. */
      async probe() {
        const p = kmalloc(NicPriv, GFP_KERNEL);
        timer_setup(p.timer('watchdog'), nic_watchdog, 0);
        INIT_WORK(p.work('reset_task'), nic_reset_task);
        Atomics.store(s, 0, p.handle);
        napi_enable(napi);
        const err = request_irq(NIC_IRQ, nic_interrupt, 0, 'nic', p.handle);
        if (err !== 0) return -err;
        mod_timer(p.timer('watchdog'), jiffies + WATCHDOG_JIFFIES);
        return 0;
      },
      /** ndo_start_xmit, `n` times: the frames complete in the next poll, unless the ring is stuck. */
      async xmit(n: number) {
        priv().add('tx_queued', n);
        return priv().get('tx_queued');
      },
      /** The hardware hangs: transmits stop completing; returns once the watchdog's next reset has begun (it is running). */
      async stall() {
        const p = priv();
        const before = p.get('resets_started');
        while (p.get('resets_started') === before) {
          // (again if a reset that was already running cleared it)
          if (p.get('tx_stuck') === 0) {
            p.set('tx_stuck', 1);
            p.add('tx_queued', 1);
          }
          await msleep(1);
        }
        return p.get('resets_started');
      },
      /** remove: stop NAPI, the watchdog, the reset and the IRQ, then free priv. */
      async remove() {
        const p = priv();
        await napi_disable(napi);
        if (fixed) {
          timer_shutdown_sync(p.timer('watchdog')); // FIX: and it stays off, whoever calls mod_timer
          await cancel_work_sync(p.work('reset_task'));
        } else {
          timer_delete_sync(p.timer('watchdog')); // BUG: a running reset re-arms it ...
          await cancel_work_sync(p.work('reset_task')); // ... while this waits for it
        }
        await free_irq(NIC_IRQ, p.handle);
        const stats = { rx: p.get('rx_packets'), tx: p.get('tx_done'), resets: p.get('resets') };
        Atomics.store(s, 0, 0);
        kfree(p);
        return stats;
      },
    };
  });
}
