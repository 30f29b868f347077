// machine.reports(): printk marks the record that opens a report with its
// kind, and the host lists reports from those marks (kdefer-only: Linux's
// dmesg has no such mark). Each kind is produced by the kernel path that
// prints it and must come back classified, with its CPU and full text.
import { describe, it, expect } from 'vitest';
import type { Machine } from '@kdefer/workers';
import { reportKindOf } from '@kdefer/core';
import { withMachine, until } from './helpers.js';

const only = (m: Machine, kind: string): ReturnType<Machine['reports']> => m.reports().filter((r) => r.kind === kind);

describe('kdefer-only (reports): machine.reports() classifies each report kind printk marks', () => {
  it('kdefer-only (reports): S-LOCK-10: an inconsistent lock state is one lockdep report whose text holds its banner and the usage line', async () => {
    await withMachine({ fixtures: ['lockusage'] }, async (m) => {
      await m.call(0, 'lockusage', 'plainInTask');
      await m.call(1, 'lockusage', 'sInSoftirq');
      const r = m.reports();
      expect(r.map((x) => [x.kind, x.title, x.cpu])).toEqual([['lockdep', 'WARNING: inconsistent lock state', 1]]);
      expect(r[0]!.text).toMatch(/^={20,}\nWARNING: inconsistent lock state\n/);
      expect(r[0]!.text).toMatch(/inconsistent \{SOFTIRQ-ON-W\} -> \{IN-SOFTIRQ-W\} usage\./);
      expect(m.reports(r[0]!.seq + 1)).toEqual([]);
    });
  });

  it('kdefer-only (reports): a use after kfree is a KASAN report, S-LOCK-15 kmalloc(GFP_KERNEL) from a softirq a BUG report', async () => {
    await withMachine({ fixtures: ['slabkasan'] }, async (m) => {
      await m.call(0, 'slabkasan', 'handOver');
      await m.call(0, 'slabkasan', 'freeHandle');
      await m.call(1, 'slabkasan', 'readHandle');
      const k = only(m, 'KASAN');
      expect(k).toHaveLength(1);
      expect(k[0]!.title).toMatch(/^BUG: KASAN: slab-use-after-free in (Object\.)?readHandle/);
      expect(k[0]!.cpu).toBe(1);
      expect(k[0]!.text).toMatch(/Read of size 4 at addr/);
      await m.call(0, 'slabkasan', 'fromSoftirq');
      const b = only(m, 'BUG');
      expect(b.map((x) => x.title)).toEqual(['BUG: sleeping function called from invalid context at kmalloc(GFP_KERNEL)']);
      expect(b[0]!.seq).toBeGreaterThan(k[0]!.seq);
      expect(m.reports(b[0]!.seq).map((x) => x.kind)).toEqual(['BUG']);
    });
  });

  it('kdefer-only (reports): a DEBUG_LOCKS_WARN_ON is a WARNING report whose text holds the message above its WARNING line', async () => {
    await withMachine({ fixtures: ['sync'] }, async (m) => {
      await m.call(0, 'sync', 'lockOnly');
      await m.call(1, 'sync', 'unlock');
      const w = only(m, 'WARNING');
      expect(w).toHaveLength(1);
      expect(w[0]!.title).toMatch(/^WARNING: CPU: 1 at /);
      expect(w[0]!.text).toMatch(/cut here[^\n]*\nDEBUG_LOCKS_WARN_ON\(__owner_task\(owner\) != current\)\nWARNING: CPU: 1/);
    });
  });

  it('kdefer-only (reports): a throwing IRQ handler is an Oops report, then a panic report', async () => {
    await withMachine({ fixtures: ['irqs'] }, async (m) => {
      await expect(m.call(1, 'irqs', 'raiseOops')).rejects.toThrow();
      const r = m.reports().filter((x) => x.kind === 'Oops' || x.kind === 'panic');
      expect(r.map((x) => x.kind)).toEqual(['Oops', 'panic']);
      expect(r[0]!.title).toMatch(/^Oops: exception in irq 12 handler irq_oops/);
      expect(r[0]!.text).toMatch(/Context: hardirq/);
      expect(r[1]!.title).toBe('Kernel panic - not syncing: Fatal exception in interrupt');
    });
  });

  it('kdefer-only (reports): soft lockup and hard lockup are lockup reports; a hung task is an INFO report', async () => {
    await withMachine({ fixtures: ['watchdogs'], softLockupMs: 150 }, async (m) => {
      await m.call(1, 'watchdogs', 'stuckInSoftirq', 400);
      const s = only(m, 'lockup');
      expect(s[0]!.title).toMatch(/^watchdog: BUG: soft lockup - CPU#1 stuck for/);
      expect(s[0]!.text).toMatch(/wd_busy_softirq/);
    });
    await withMachine({ fixtures: ['watchdogs'], hardLockupMs: 200 }, async (m) => {
      await m.call(0, 'watchdogs', 'irqsOff', 700);
      expect(only(m, 'lockup').map((x) => [x.title, x.cpu])).toContainEqual(['NMI watchdog: Watchdog detected hard LOCKUP on cpu 0', 0]);
    });
    await withMachine({ fixtures: ['watchdogs'], hungTaskMs: 150 }, async (m) => {
      void m.call(1, 'watchdogs', 'sleepForever').catch(() => {});
      await until(() => only(m, 'INFO').length > 0, 'the hung-task report', 5000);
      expect(only(m, 'INFO')[0]!.title).toMatch(/^INFO: task sleepForever:\d+ blocked for more than 0 seconds\./);
    });
  });

  it('kdefer-only (reports): the openers of the other kdefer reports are classified (spinlock recursion and lockup, del_timer_sync on its own timer, scheduling while atomic)', () => {
    const cases: [string, string | null][] = [
      ['BUG: spinlock recursion on CPU#0, task/12', 'BUG'],
      ['BUG: spinlock lockup suspected on CPU#1, task/12', 'lockup'],
      ['BUG: del_timer_sync() called from the function of timer t on CPU#0: it would wait for itself forever', 'BUG'],
      ['BUG: del_timer_sync() lockup suspected on CPU#0: the function of timer t has run on CPU#1 for 500 ms', 'lockup'],
      ['BUG: scheduling while atomic: task/12/0x00000002', 'BUG'],
      ['BUG: MAX_LOCK_DEPTH too low!', 'lockdep'],
      ['WARNING: possible circular locking dependency detected', 'lockdep'],
      ['WARNING: bad unlock balance detected!', 'lockdep'],
      ['CPU: 1 PID: 0 Comm: swapper/1', null],
      ['inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.', null],
    ];
    for (const [line, kind] of cases) expect(reportKindOf(line), line).toBe(kind);
  });
});
