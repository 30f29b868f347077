// A spinlock-heavy workload for the lock validator's cost: nested locks of
// a few classes, taken in process context and in a softirq, as a driver would.
import {
  defineModule,
  DEFINE_SPINLOCK,
  shared_int32,
  spin_lock,
  spin_unlock,
  spin_lock_bh,
  spin_unlock_bh,
  spin_lock_irqsave,
  spin_unlock_irqrestore,
  open_softirq,
  raise_softirq,
  BLOCK_SOFTIRQ,
  local_bh_disable,
  local_bh_enable,
} from '@kdefer/core';

export default defineModule('lockbench', () => {
  const A = DEFINE_SPINLOCK('lockbench.A');
  const B = DEFINE_SPINLOCK('lockbench.B');
  const C = DEFINE_SPINLOCK('lockbench.C');
  const data = shared_int32('lockbench.data', 4);
  open_softirq(BLOCK_SOFTIRQ, function lockbench_softirq() {
    spin_lock(B);
    data[1]!++;
    spin_unlock(B);
  });
  return {
    /** ns per iteration of: bh A { B }, irqsave C, and a softirq every 64 iterations. */
    async workload(n: number) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        spin_lock_bh(A);
        spin_lock(B);
        data[0]!++;
        spin_unlock(B);
        spin_unlock_bh(A);
        const f = spin_lock_irqsave(C);
        data[2]!++;
        spin_unlock_irqrestore(C, f);
        if ((i & 63) === 0) {
          local_bh_disable();
          raise_softirq(BLOCK_SOFTIRQ);
          local_bh_enable();
        }
      }
      return ((performance.now() - t0) * 1e6) / n;
    },
  };
});
