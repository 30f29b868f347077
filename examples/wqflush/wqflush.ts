/**
 * examples/wqflush — a device whose remove path flushes its reset work while
 * holding the mutex the work takes; the bug and its fix side by side
 * (buggy.ts, fixed.ts).
 *
 * The real driver pattern: many drivers (USB, PCI NICs, GPUs) keep a
 * dev->lock mutex for configuration and a reset_work that reconfigures the
 * device under that mutex. The classic mistake is a remove()/close() that
 * takes dev->lock and then calls flush_work(&reset_work) (or
 * cancel_work_sync): if the work is running, it waits on dev->lock, held by
 * the flusher, which waits for the work — a deadlock. lockdep catches it
 * without the unlucky timing: flush_work() "acquires" the work's lockdep
 * map, so it records dev->lock -> (work), and a run of the work recorded
 * (work) -> dev->lock: a circular dependency. The fix flushes first and
 * takes the mutex after (or tells the work to stop under the lock, drops
 * the lock, then flushes).
 *
 * Run: kdefer run examples/wqflush/buggy.ts --cpus 2 --call probe --call remove
 */
import { defineModule, DEFINE_MUTEX, DECLARE_WORK, mutex_lock, mutex_unlock, schedule_work, flush_work } from '@kdefer/core';

/** The module, with remove() the buggy way or the fixed way. */
export function wqflush(fixed: boolean) {
  return defineModule(fixed ? 'wqflush_fixed' : 'wqflush_buggy', () => {
    const devLock = DEFINE_MUTEX('wqflush.dev_lock');
    let resets = 0;
    let present = true;

    const reset_work = DECLARE_WORK('wqflush.reset_work', async function wqflush_reset_work() {
      await mutex_lock(devLock); // the work reconfigures the device under dev->lock
      if (present) resets++;
      mutex_unlock(devLock);
    });

    return {
      /** probe: a first reset, as a driver does on bring-up; waits for it. */
      async probe() {
        schedule_work(reset_work);
        await flush_work(reset_work);
        return resets;
      },
      /** remove: stop the device, then make sure no reset is left. */
      async remove() {
        if (fixed) {
          await mutex_lock(devLock);
          present = false; // FIX: mark it gone under the lock ...
          mutex_unlock(devLock);
          await flush_work(reset_work); // ... and flush without holding it
        } else {
          await mutex_lock(devLock);
          present = false;
          await flush_work(reset_work); // BUG: the work takes devLock
          mutex_unlock(devLock);
        }
        return resets;
      },
    };
  });
}
