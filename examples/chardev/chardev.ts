/**
 * examples/chardev — a character device whose interrupt handler, tasklet
 * and read() share one spinlock; run with `kdefer run`, the bug and its fix
 * side by side (FIXED below picks the variant; buggy.ts and fixed.ts are the
 * two entry files).
 *
 * The real driver pattern: a serial or sensor chardev (drivers/char,
 * drivers/tty/serial) whose hardirq handler pushes bytes into a FIFO under
 * port->lock and schedules a tasklet to wake readers, while read() drains
 * the FIFO under the same lock. read() runs in process context with
 * interrupts on, so it must take the lock with spin_lock_irqsave(): with
 * plain spin_lock(), an interrupt arriving on the same CPU while read()
 * holds the lock spins on it forever — a one-CPU deadlock. lockdep sees the
 * lock taken both hardirq-safe and hardirq-unsafe and reports
 * "inconsistent lock state" the first time both uses happen, without
 * waiting for the unlucky interleaving.
 *
 * Run: kdefer run examples/chardev/buggy.ts --cpus 2 --call read@0:20000 --irq 11:5000@0
 */
import {
  defineModule,
  DEFINE_SPINLOCK,
  DECLARE_TASKLET,
  spin_lock,
  spin_unlock,
  spin_lock_irqsave,
  spin_unlock_irqrestore,
  tasklet_schedule,
  tasklet_kill,
  request_irq,
  free_irq,
  IRQ_HANDLED,
} from '@kdefer/core';

/** The device's interrupt line. */
export const CHARDEV_IRQ = 11;

/** The module, with read() taking the lock the buggy way or the fixed way. */
export function chardev(fixed: boolean) {
  return defineModule(fixed ? 'chardev_fixed' : 'chardev_buggy', () => {
    const lock = DEFINE_SPINLOCK('chardev.lock');
    let fifo = 0; // bytes the device delivered, not yet read
    let wakeups = 0;
    const dev = {};

    // The bottom half: in a real driver, wake_up_interruptible(&readq).
    const rx_tasklet = DECLARE_TASKLET('chardev.rx', function chardev_rx_tasklet() {
      const flags = spin_lock_irqsave(lock);
      wakeups++;
      spin_unlock_irqrestore(lock, flags);
    });

    request_irq(
      CHARDEV_IRQ,
      function chardev_interrupt() {
        spin_lock(lock); // hardirq context: interrupts are already off here
        fifo++;
        spin_unlock(lock);
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
      },
      0,
      'chardev',
      dev,
    );

    return {
      /** read(2): drain the FIFO `n` times; returns the bytes read. */
      async read(n: number) {
        let got = 0;
        for (let k = 0; k < n; k++) {
          if (fixed) {
            const flags = spin_lock_irqsave(lock); // FIX: no interrupt on this CPU while we hold it
            got += fifo;
            fifo = 0;
            spin_unlock_irqrestore(lock, flags);
          } else {
            spin_lock(lock); // BUG: the interrupt handler on this CPU takes it too
            got += fifo;
            fifo = 0;
            spin_unlock(lock);
          }
        }
        return got;
      },
      /** release: no interrupt, then no tasklet, in that order. */
      async remove() {
        await free_irq(CHARDEV_IRQ, dev);
        tasklet_kill(rx_tasklet);
        return wakeups;
      },
    };
  });
}
