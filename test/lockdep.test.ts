import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';

const count = (d: string, re: RegExp): number => d.split('\n').filter((l) => re.test(l)).length;

describe('lockdep: the lock validator', () => {
  it('S-LOCK-10/R-4: a lock taken with softirqs on in a task and later in a softirq is "inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage", though no deadlock happened', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'plainInTask');
      await m.call(1, 'lockusage', 'sInSoftirq'); // another CPU even: the usage alone is enough
      const d = m.dmesg();
      expect(d).toMatch(/WARNING: inconsistent lock state/);
      expect(d).toMatch(/inconsistent \{SOFTIRQ-ON-W\} -> \{IN-SOFTIRQ-W\} usage\./);
      expect(d).toMatch(/sInSoftirq\/\d+ \[HC0\[0\]:SC1\[1\]:HE1:SE0\] takes:/);
      expect(d).toMatch(/ \(lockusage\.S\)\{\+\.\?\.\}, at: /);
      expect(d).toMatch(/\{SOFTIRQ-ON-W\} state was registered at:\n.*plainInTask \(CPU#0, task context\)/);
      expect(d).toMatch(/<Interrupt>/);
      expect(m.panicked()).toBe(false);
    });
  });

  it('S-LOCK-10: the reverse order and the hardirq twin: "{IN-HARDIRQ-W} -> {HARDIRQ-ON-W}"', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'hInHardirq');
      await m.call(0, 'lockusage', 'bhInTask'); // spin_lock_bh leaves hardirqs on
      expect(m.dmesg()).toMatch(/inconsistent \{IN-HARDIRQ-W\} -> \{HARDIRQ-ON-W\} usage\./);
    });
  });

  it('S-LOCK-6: the right variants (spin_lock_bh vs a softirq, spin_lock_irqsave vs a hardirq) produce no report', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'okPair');
      await m.call(1, 'lockusage', 'okPair');
      expect(grep(m, /WARNING|BUG/)).toEqual([]);
    });
  });

  it('S-LOCK-12/R-6: ABBA seen once each way, sequentially, is "possible circular locking dependency detected" — reported once per pair', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'ab');
      await m.call(1, 'lockusage', 'ba');
      await m.call(1, 'lockusage', 'ba');
      await m.call(0, 'lockusage', 'ab');
      const d = m.dmesg();
      expect(count(d, /WARNING: possible circular locking dependency detected/)).toBe(1);
      expect(d).toMatch(/ba\/\d+ is trying to acquire lock:\n.* \(lockusage\.A\)/);
      expect(d).toMatch(/but task is already holding lock:\n.* \(lockusage\.B\)/);
      expect(d).toMatch(/lock\(\(lockusage\.B\)\);\n.*lock\(\(lockusage\.A\)\);\n.*lock\(\(lockusage\.B\)\);\n.*lock\(\(lockusage\.A\)\);/);
    });
  });

  it('S-LOCK-12: a longer cycle (A -> B -> C -> A) is found too', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'ab');
      await m.call(0, 'lockusage', 'bc');
      expect(grep(m, /circular/)).toEqual([]);
      await m.call(1, 'lockusage', 'ca');
      expect(m.dmesg()).toMatch(/possible circular locking dependency detected/);
      expect(m.dmesg()).toMatch(/Chain exists of:/);
    });
  });

  it('S-LOCK-5/S-LOCK-14: rwlock readers may nest; releasing a lock that is not held is "bad unlock balance detected!"', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'readNest');
      expect(grep(m, /recursive/)).toEqual([]);
      await m.call(0, 'lockusage', 'badUnlock');
      expect(m.dmesg()).toMatch(
        /WARNING: bad unlock balance detected![\s\S]*badUnlock\/\d+ is trying to release lock \(lockusage\.A\) at:\n.*badUnlock/,
      );
    });
  });

  it('S-SIRQ-16: a softirq handler that returns holding a lock is reported ("lock held when returning")', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'leak');
      const d = m.dmesg();
      expect(d).toMatch(/WARNING: lock held when returning from softirq handler ld_block!/);
      expect(d).toMatch(/#0: \(lockusage\.LEAK\)/);
      expect(d).toMatch(/huh, entered softirq 4 BLOCK ld_block with preempt_count 00000101, exited with 00000102\?/);
    });
  });

  it("S-TIME-13(b)/R-3: del_timer_sync under a lock the timer function takes is a circular dependency with the timer's map — without the race happening", async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(1, 'lockusage', 'timerOnce'); // (&lockusage.timer) -> lockusage.T
      await m.call(0, 'lockusage', 'syncUnderLock'); // lockusage.T -> (&lockusage.timer)
      const d = m.dmesg();
      expect(d).toMatch(/possible circular locking dependency detected/);
      expect(d).toMatch(/is trying to acquire lock:\n.* \(&lockusage\.timer\)/);
      expect(m.panicked()).toBe(false);
    });
  });

  it('S-TIME-13: del_timer_sync from process context on a timer that has run, holding nothing, is not a report', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(1, 'lockusage', 'timerOnce');
      await m.call(0, 'lockusage', 'syncNoLock');
      await m.call(0, 'lockusage', 'syncNoLock');
      expect(grep(m, /WARNING/)).toEqual([]);
    });
  });

  it('kdefer-only (lockdep switch): with lockdep off at boot the same programs print nothing', async () => {
    await withMachine({ fixtures: ['lockusage'], lockdep: false }, async (m) => {
      await m.call(0, 'lockusage', 'plainInTask');
      await m.call(1, 'lockusage', 'sInSoftirq');
      await m.call(0, 'lockusage', 'ab');
      await m.call(1, 'lockusage', 'ba');
      expect(grep(m, /WARNING/)).toEqual([]);
    });
  });

  it('S-WQ-20/R-7: flush_work while holding a mutex the work function takes is a circular dependency with "(work_completion)(...)" — without the deadlock happening', async () => {
    await withMachine({ fixtures: ['ldwq'] }, async (m) => {
      await m.call(1, 'ldwq', 'runOnce'); // (work_completion)(ldwq.w) -> (ldwq.M), recorded while the work slept holding M
      await m.call(0, 'ldwq', 'flushUnderMutex'); // (ldwq.M) -> (work_completion)(ldwq.w): the cycle
      const d = m.dmesg();
      expect(d).toMatch(/possible circular locking dependency detected/);
      expect(d).toMatch(/is trying to acquire lock:\n.* \(work_completion\)\(ldwq\.w\)/);
      expect(d).toMatch(/but task is already holding lock:\n.* \(ldwq\.M\)/);
    });
  });

  it('S-WQ-20: flush_workqueue while holding a mutex an item of the workqueue takes is a circular dependency with "(wq_completion)<wq>"', async () => {
    await withMachine({ fixtures: ['ldwq'] }, async (m) => {
      await m.call(1, 'ldwq', 'runOnQ'); // (wq_completion)ldwq.q -> (ldwq.M), around the item
      expect(grep(m, /WARNING/)).toEqual([]);
      await m.call(0, 'ldwq', 'flushWqUnderMutex'); // (ldwq.M) -> (wq_completion)ldwq.q: the cycle
      const d = m.dmesg();
      expect(d).toMatch(/possible circular locking dependency detected/);
      expect(d).toMatch(/is trying to acquire lock:\n.* \(wq_completion\)ldwq\.q/);
      expect(d).toMatch(/but task is already holding lock:\n.* \(ldwq\.M\)/);
    });
  });

  it('S-WQ-20: cancel_work_sync under that mutex is the same cycle; flushing a work that does not take it is not', async () => {
    await withMachine({ fixtures: ['ldwq'] }, async (m) => {
      await m.call(0, 'ldwq', 'flushPlainUnderMutex');
      await m.call(0, 'ldwq', 'runOnce');
      expect(grep(m, /WARNING/)).toEqual([]);
      await m.call(1, 'ldwq', 'cancelUnderMutex');
      expect(m.dmesg()).toMatch(/possible circular locking dependency detected/);
    });
  });

  it('S-LOCK-12: two mutexes taken in both orders, by tasks that sleep holding them, are a circular dependency', async () => {
    await withMachine({ fixtures: ['ldwq'] }, async (m) => {
      await m.call(0, 'ldwq', 'mn');
      expect(grep(m, /WARNING/)).toEqual([]);
      await m.call(1, 'ldwq', 'nm');
      expect(m.dmesg()).toMatch(/possible circular locking dependency detected[\s\S]*\(ldwq\.M\)/);
    });
  });
});
