// Deterministic mode's bench module: a loop of kernel calls, each one
// preemption point (the unlock of a per-CPU lock: no contention).
import { defineModule, DEFINE_SPINLOCK, spin_lock, spin_unlock, smp_processor_id } from '@kdefer/core';

export default defineModule('detbench', () => {
  const locks = [DEFINE_SPINLOCK('detbench.l0'), DEFINE_SPINLOCK('detbench.l1')];
  return {
    async loop(n: number) {
      const l = locks[smp_processor_id() & 1]!;
      for (let i = 0; i < n; i++) {
        spin_lock(l);
        spin_unlock(l);
      }
      return n;
    },
  };
});
