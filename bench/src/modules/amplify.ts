// Two races as one-shot trials, for race amplification's effect:
// lost-update: an unprotected read-modify-write on both CPUs;
// del-timer-uaf: del_timer + kfree while the timer function may run.
import {
  defineModule,
  shared_int32,
  cpu_relax,
  defineStruct,
  kmalloc,
  kfree,
  GFP_KERNEL,
  timer_setup,
  add_timer_on,
  del_timer,
  del_timer_sync,
  get_jiffies_64,
  from_timer,
  registerFunction,
  type TimerList,
  msleep,
} from '@kdefer/core';

export default defineModule('ampbench', () => {
  const s = shared_int32('ampbench.s', 8); // [0] counter
  const Obj = defineStruct('ampbench.obj', { stats: 'i32', t: 'timer_list' });
  function amp_timer_fn(t: TimerList) {
    const o = from_timer<{ stats: 'i32'; t: 'timer_list' }>(t);
    // a timer function that does a little work between its accesses (16 kernel calls)
    for (let i = 0; i < 16; i++) {
      o.add('stats', 1);
      cpu_relax();
    }
  }
  registerFunction('ampbench.timer_fn', amp_timer_fn);
  return {
    async increments(k: number) {
      for (let i = 0; i < k; i++) {
        const v = s[0]!;
        cpu_relax();
        s[0] = v + 1;
      }
      return 0;
    },
    async reset() {
      s[0] = 0;
      return 0;
    },
    async counter() {
      return s[0];
    },
    /** One R-1 trial: arm the timer on `cpu`, wait for its expiry, delete it and free the object. */
    async uafTrial(cpu: number, sync: boolean, offsetUs: number) {
      const o = kmalloc(Obj, GFP_KERNEL);
      timer_setup(o.timer('t'), amp_timer_fn, 0);
      const e = get_jiffies_64() + 1;
      o.timer('t').expires = e;
      add_timer_on(o.timer('t'), cpu);
      while (get_jiffies_64() <= e) cpu_relax();
      // the teardown lands somewhere in the jiffy after the expiry, as a remove() path would
      const t0 = performance.now();
      while (performance.now() - t0 < offsetUs / 1000) cpu_relax();
      if (sync) del_timer_sync(o.timer('t'));
      else del_timer(o.timer('t'));
      kfree(o);
      await msleep(2); // a late timer function touches the freed object now
      return 0;
    },
  };
});
