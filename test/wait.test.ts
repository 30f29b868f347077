// Process context: wait queues, completions, mutexes, kthreads, and sleeping
// where sleeping is not allowed (S-CTX-7, S-LOCK-15/16). Cross-CPU hand-offs
// go through shared memory (the fixture's sync.s array, the task table).
import { describe, it, expect } from 'vitest';
import type { Machine } from '@kdefer/workers';
import { withMachine, grep, until } from './helpers.js';

const S = (m: Machine): Int32Array => m.sharedArray('sync.s', Int32Array);

const sleeping = (m: Machine, comm: string): boolean => m.threads().some((t) => t.comm === comm && (t.state === 'D' || t.state === 'S'));

describe('wait queues', () => {
  it('S-CTX-7: wait_event sleeps on CPU 1 until wake_up on CPU 0 makes its condition true', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      // 1. the waiter sleeps on CPU 1   2. CPU 0 sets the condition and wakes the queue   3. the waiter returns
      const waiter = m.call<number>(1, 'sync', 'waitCond', 0);
      await until(() => sleeping(m, 'waitCond'), 'the waiter to sleep');
      expect(S(m)[0]).toBe(0);
      await m.call(0, 'sync', 'setAndWake', 0, false);
      expect(await waiter).toBe(1);
    });
  });

  it('kdefer-only (wait): wake_up wakes every non-exclusive waiter, on every CPU; wait_event_interruptible returns 0', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      const a = m.call<number>(0, 'sync', 'waitCond', 1);
      const b = m.call<number>(1, 'sync', 'waitCondInterruptible', 1);
      await until(() => sleeping(m, 'waitCond') && sleeping(m, 'waitCondInterru'), 'both waiters to sleep');
      await m.call(1, 'sync', 'setAndWake', 1, false);
      expect(await a).toBe(0);
      expect(await b).toBe(0);
    });
  });

  it('kdefer-only (wait): wait_event_timeout: 0 when the time runs out with the condition false, the jiffies left when it holds', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      expect(await m.call(0, 'sync', 'waitTimeout', 3, 2)).toBe(0);
      await m.call(1, 'sync', 'setAndWake', 2, true);
      expect(await m.call(0, 'sync', 'waitTimeout', 1000, 2)).toBe(1000);
    });
  });
});

describe('completions', () => {
  it('kdefer-only (wait): complete() lets exactly one waiter through, across CPUs; complete_all() lets everyone through until reinit', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      // 1. two waiters sleep on CPU 1   2. one complete() on CPU 0: one passes   3. another: the other passes
      const w1 = m.call<number>(1, 'sync', 'waitDone');
      const w2 = m.call<number>(1, 'sync', 'waitDone');
      await until(() => m.threads().filter((t) => t.comm === 'waitDone' && t.state === 'D').length === 2, 'two waiters');
      await m.call(0, 'sync', 'complete1');
      await until(() => S(m)[10] === 1, 'one waiter through');
      expect(m.threads().filter((t) => t.comm === 'waitDone' && t.state === 'D').length).toBe(1); // the other still waits
      await m.call(0, 'sync', 'complete1');
      expect((await Promise.all([w1, w2])).sort()).toEqual([1, 2]);
      expect(await m.call(0, 'sync', 'isDone')).toBe(false);
      expect(await m.call(0, 'sync', 'tryWait')).toBe(false);
      // complete_all: done "forever"
      await m.call(0, 'sync', 'completeAll');
      expect(await m.call(1, 'sync', 'waitDone')).toBe(3);
      expect(await m.call(0, 'sync', 'waitDone')).toBe(4);
      expect(await m.call(1, 'sync', 'tryWait')).toBe(true);
      expect(await m.call(1, 'sync', 'isDone')).toBe(true);
      await m.call(0, 'sync', 'reinit');
      expect(await m.call(0, 'sync', 'isDone')).toBe(false);
    });
  });

  it('kdefer-only (wait): wait_for_completion_timeout: 0 on timeout, the jiffies left (>= 1) when completed', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      expect(await m.call(0, 'sync', 'waitDoneTimeout', 3)).toBe(0);
      await m.call(1, 'sync', 'complete1');
      const left = await m.call<number>(0, 'sync', 'waitDoneTimeout', 500);
      expect(left).toBeGreaterThanOrEqual(1);
      expect(left).toBeLessThanOrEqual(500);
      expect(await m.call(0, 'sync', 'tryWait')).toBe(false);
    });
  });
});

describe('mutexes', () => {
  it('kdefer-only (wait): a mutex excludes tasks on every CPU, also while the holder sleeps: no lost update', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      await Promise.all([
        m.call(0, 'sync', 'mutexInc', 40, 4),
        m.call(1, 'sync', 'mutexInc', 40, 3),
        m.call(0, 'sync', 'mutexInc', 40, 5),
        m.call(1, 'sync', 'mutexInc', 40, 7),
      ]);
      expect(S(m)[20]).toBe(160);
      expect(S(m)[22]).toBe(0); // never two inside
      expect(await m.call(0, 'sync', 'isLocked')).toBe(false);
    });
  });

  it('S-CTX-7: a task waiting for a mutex really sleeps: its CPU runs another task meanwhile, and it gets the lock on release', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      // 1. A holds the mutex on CPU 1 and sleeps   2. B waits for it on CPU 0 (state D)
      // 3. C runs on CPU 0 while B waits, then opens A's gate   4. A unlocks: B gets it
      const a = m.call(1, 'sync', 'holdMutex');
      await until(() => S(m)[25] === 1, 'A to hold the mutex');
      const b = m.call(0, 'sync', 'lockAndRecord');
      await until(() => S(m)[23] === 1 && sleeping(m, 'lockAndRecord'), 'B to sleep in mutex_lock');
      const c = m.call<number>(0, 'sync', 'spinWhileBlocked', 5000);
      expect(await b).toBe(2);
      await a;
      expect(await c).toBeGreaterThanOrEqual(5);
      expect(await m.call(1, 'sync', 'trylock')).toBe(1);
      expect(await m.call(0, 'sync', 'trylock')).toBe(0);
    });
  });

  it('kdefer-only (wait, DEBUG_MUTEXES): DEBUG_MUTEXES: unlocking a mutex the caller does not own is reported (and releases it, as the kernel does)', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      await m.call(0, 'sync', 'lockOnly');
      expect(await m.call(1, 'sync', 'isLocked')).toBe(true);
      await m.call(1, 'sync', 'unlock');
      expect(grep(m, /DEBUG_LOCKS_WARN_ON\(__owner_task\(owner\) != current\)/).length).toBe(1);
      expect(grep(m, /mutex sync\.mtx: released by unlock\/\d+ on CPU#1, owner: \S+\/\d+/).length).toBe(1);
      expect(await m.call(1, 'sync', 'isLocked')).toBe(false);
      await m.call(1, 'sync', 'unlock'); // not locked at all
      expect(grep(m, /DEBUG_LOCKS_WARN_ON/).length).toBe(2);
    });
  });
});

describe('kthreads and sleeping', () => {
  it('kdefer-only (wait, kthreads): kthread_run / kthread_should_stop / kthread_stop: the thread runs until asked to stop; kthread_stop returns its exit value', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      const r = await m.call<{ ret: number; loops: number; comm: string }>(1, 'sync', 'kthreadStop');
      expect(r.ret).toBe(42);
      expect(r.comm).toBe('sync/kt');
      expect(r.loops).toBeGreaterThanOrEqual(3);
      expect(m.threads().some((t) => t.comm === 'sync/kt')).toBe(false);
    });
  });

  it('S-TIME-21: schedule_timeout returns 0 when the time ran out, the jiffies left when woken early (wakeUpPid from another CPU)', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      expect(await m.call(0, 'sync', 'schedTimeout', 2)).toBe(0);
      const sl = m.call<number>(1, 'sync', 'sleepLong');
      await until(() => S(m)[31] !== 0 && sleeping(m, 'sleepLong'), 'the sleeper');
      expect(await m.call(0, 'sync', 'wakePid')).toBe(true);
      const left = await sl;
      expect(left).toBeGreaterThan(0);
    });
  });

  it('S-CTX-7/S-LOCK-15: every sleeping call from atomic context reports "BUG: sleeping function called from invalid context" and does not sleep', async () => {
    const names = [
      'mutex_lock',
      'wait_for_completion',
      'msleep',
      'wait_event',
      'schedule',
      'flush_work',
      'cancel_work_sync',
      'mutex_lock_interruptible',
      'wait_for_completion_timeout',
      'wait_event_timeout',
      'flush_workqueue',
    ];
    const contexts = ['inSpinlock', 'inBhOff', 'inIrqOff', 'inSoftirq', 'inHardirq'];
    // might_sleep reports once per second per CPU (S-LOCK-15): a machine per pair of calls.
    for (let which = 0; which < names.length; which += 2) {
      await withMachine({ fixtures: ['sync'] }, async (m) => {
        for (const cpu of [0, 1]) {
          const k = which + cpu;
          if (k >= names.length) break;
          const ctx = contexts[k % contexts.length]!;
          const state = await m.call<number>(cpu, 'sync', ctx, k);
          expect(state, `${names[k]} in ${ctx}: the task state after the call`).toBe(0); // TASK_RUNNING: it did not sleep
          const bug =
            names[k] === 'schedule'
              ? /BUG: scheduling while atomic: \S+\/\d+\/0x[0-9a-f]{8}/
              : new RegExp(`BUG: sleeping function called from invalid context at ${names[k]}$`);
          expect(grep(m, bug).length, `${names[k]} in ${ctx}:\n${m.dmesg()}`).toBeGreaterThanOrEqual(1);
        }
        expect(await m.call(0, 'sync', 'threw')).toBe(0);
        expect(grep(m, /in_atomic\(\): 1|irqs_disabled\(\): 1|scheduling while atomic/).length).toBeGreaterThanOrEqual(1);
      });
    }
  });
});
