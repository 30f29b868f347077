/**
 * A sample driver for kdefer: a sensor that interrupts when a sample is
 * ready. Its deferred work is the usual split of a Linux driver:
 *
 *   hardirq    sensor_interrupt   take the sample, schedule the tasklet
 *   tasklet    sensor_tasklet     fold the sample into the running sum (softirq)
 *   timer      sensor_poll        every POLL_JIFFIES, hand a report to the work
 *   work       sensor_report      process context: may sleep (msleep)
 *
 * and a teardown that stops them in order before the memory they use goes:
 * free_irq (no more interrupts), tasklet_kill, timer_shutdown_sync (no timer,
 * and none re-armed), cancel_work_sync, kfree.
 *
 * Run it:   npx kdefer run src/driver.ts --cpus 2 --call probe --call wait:200 --call remove --irq 10:1000
 * Test it:  npm test
 */
import {
  defineModule,
  defineStruct,
  shared_int32,
  kmalloc,
  kfree,
  slab_obj,
  GFP_KERNEL,
  request_irq,
  free_irq,
  IRQ_HANDLED,
  IRQ_NONE,
  tasklet_setup,
  tasklet_schedule,
  tasklet_kill,
  from_tasklet,
  timer_setup,
  mod_timer,
  timer_shutdown_sync,
  from_timer,
  INIT_WORK,
  schedule_work,
  cancel_work_sync,
  workContainerOf,
  registerFunction,
  msleep,
  jiffies,
  type TimerList,
  type TaskletStruct,
  type WorkStruct,
} from '@kdefer/core';

/** The sensor's interrupt line. */
export const SENSOR_IRQ = 10;
/** The poll timer's period, in jiffies. */
export const POLL_JIFFIES = 10;

const FIELDS = {
  samples: 'i32', // interrupts taken
  pending: 'i32', // samples the tasklet has not folded yet
  sum: 'i32',
  reports: 'i32', // reports the work wrote
  irq_tasklet: 'tasklet_struct',
  poll_timer: 'timer_list',
  report_work: 'work_struct',
} as const;
type Sensor = typeof FIELDS;

export default defineModule('sensor', () => {
  const SensorDev = defineStruct('sensor.dev', FIELDS);
  const bound = shared_int32('sensor.bound', 1); // [0]: the device's handle while bound
  const dev = () => slab_obj<Sensor>(Atomics.load(bound, 0));

  const sensor_interrupt = function sensor_interrupt(_irq: number, handle: unknown): number {
    if (handle !== Atomics.load(bound, 0)) return IRQ_NONE;
    const d = dev();
    d.add('samples', 1);
    d.add('pending', 1);
    tasklet_schedule(d.tasklet('irq_tasklet'));
    return IRQ_HANDLED;
  };
  const sensor_tasklet = function sensor_tasklet(t: TaskletStruct): void {
    const d = from_tasklet<Sensor>(t);
    const n = d.get('pending');
    d.add('pending', -n);
    d.add('sum', n);
  };
  const sensor_poll = function sensor_poll(t: TimerList): void {
    const d = from_timer<Sensor>(t);
    schedule_work(d.work('report_work'));
    mod_timer(t, jiffies + POLL_JIFFIES);
  };
  const sensor_report = async function sensor_report(w: WorkStruct): Promise<void> {
    const d = workContainerOf<Sensor>(w);
    await msleep(1); // e.g. write the report over a slow bus
    d.add('reports', 1);
  };
  // Functions that shared memory refers to are named at load, on every CPU.
  registerFunction('sensor.interrupt', sensor_interrupt);
  registerFunction('sensor.tasklet', sensor_tasklet);
  registerFunction('sensor.poll', sensor_poll);
  registerFunction('sensor.report', sensor_report);

  return {
    /** probe: allocate the device, set up its deferred work, take the IRQ, start the timer. Returns 0 or -errno. */
    async probe() {
      const d = kmalloc(SensorDev, GFP_KERNEL);
      tasklet_setup(d.tasklet('irq_tasklet'), sensor_tasklet);
      timer_setup(d.timer('poll_timer'), sensor_poll, 0);
      INIT_WORK(d.work('report_work'), sensor_report);
      Atomics.store(bound, 0, d.handle);
      const err = request_irq(SENSOR_IRQ, sensor_interrupt, 0, 'sensor', d.handle);
      if (err !== 0) {
        Atomics.store(bound, 0, 0);
        kfree(d);
        return -err;
      }
      mod_timer(d.timer('poll_timer'), jiffies + POLL_JIFFIES);
      return 0;
    },
    /** Let the device run for `ms` milliseconds (the host raises the IRQ meanwhile). */
    async wait(ms: number) {
      await msleep(ms);
      return dev().get('samples');
    },
    /** remove: stop everything in order, then free the device. Returns what it counted. */
    async remove() {
      const d = dev();
      free_irq(SENSOR_IRQ, d.handle);
      await tasklet_kill(d.tasklet('irq_tasklet'));
      timer_shutdown_sync(d.timer('poll_timer'));
      await cancel_work_sync(d.work('report_work'));
      const counts = { samples: d.get('samples'), sum: d.get('sum') + d.get('pending'), reports: d.get('reports') };
      Atomics.store(bound, 0, 0);
      kfree(d);
      return counts;
    },
  };
});
