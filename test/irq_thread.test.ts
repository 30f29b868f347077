import { describe, it, expect } from 'vitest';
import { withMachine, grep } from './helpers.js';
import type { Machine } from '@kdefer/workers';

const THR_A = 30,
  THR_OS = 31,
  THR_STORM = 32,
  THR_NOOS = 33,
  THR_SH = 35,
  THR_F = 36,
  THR_NT = 37;
// words of the fixture's `st`
const W = {
  A_PRIMARY: 0,
  A_PRIMARY_CTX_BAD: 1,
  A_THREAD: 2,
  A_THREAD_CTX_BAD: 3,
  A_THREAD_SLEPT: 4,
  OS_RUNNING: 5,
  OS_DONE: 6,
  OS_GATE: 7,
  ST_INFLIGHT: 8,
  ST_VIOLATIONS: 9,
  ST_PRIMARY: 10,
  ST_THREAD: 11,
  NO_PRIMARY: 12,
  NO_THREAD: 13,
  NO_RUNNING: 14,
  NO_PRIMARY_WHILE_RUNNING: 15,
  SH_WHO: 16,
  SH_PLAIN: 17,
  SH_THREAD: 18,
  F_RAN: 19,
  F_HARDIRQ: 20,
  F_IRQS_OFF: 21,
  F_BH_OFF: 22,
  NT_RAN: 23,
  NT_HARDIRQ: 24,
  OS_SLOW_MS: 25,
  NO_GATE: 26,
} as const;

type State = { st: number[]; comm: string };
const state = (m: Machine): Promise<State> => m.call<State>(0, 'thr', 'state');

/** Poll the fixture's state until `cond` holds (bounded: a broken kernel fails, never hangs). */
async function until(m: Machine, cond: (s: State) => boolean, what: string, ms = 10_000): Promise<State> {
  const t0 = performance.now();
  for (;;) {
    const s = await state(m);
    if (cond(s)) return s;
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('threaded interrupts', () => {
  it('S-TIRQ-1/S-TIRQ-9: the primary handler runs in hardirq and returns IRQ_WAKE_THREAD; thread_fn runs in process context in irq/N-name (it sleeps); ps shows the threads', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      const comms = m.threads().map((t) => t.comm);
      expect(comms).toEqual(expect.arrayContaining(['irq/30-thr-a', 'irq/31-thr-os', 'irq/32-thr-stor', 'irq/35-thr-sh-t']));
      expect(comms).not.toContain('irq/35-thr-sh-p'); // a plain action has no thread
      expect(m.threads().find((t) => t.comm === 'irq/30-thr-a')!.kthread).toBe(true);
      m.raiseIrq(THR_A);
      const s = await until(m, (x) => x.st[W.A_THREAD] === 1, 'the thread to run');
      expect(s.st[W.A_PRIMARY]).toBe(1);
      expect(s.st[W.A_PRIMARY_CTX_BAD]).toBe(0);
      expect(s.st[W.A_THREAD_CTX_BAD]).toBe(0);
      expect(s.st[W.A_THREAD_SLEPT]).toBe(1);
      expect(s.comm).toBe('irq/30-t'); // the first 8 characters of current_comm() in thread_fn
      expect(m.irqCounts(THR_A).reduce((a, b) => a + b, 0)).toBe(1); // /proc/interrupts counts the hardirq, per CPU
    });
  });

  it('S-TIRQ-2: a NULL primary handler is the default one (it wakes the thread); NULL with no IRQF_ONESHOT, or no handler at all, is refused with -EINVAL as the kernel refuses it', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      await m.call(0, 'thr', 'set', W.OS_SLOW_MS, 1);
      m.raiseIrq(THR_OS);
      await until(m, (x) => x.st[W.OS_DONE] === 1, 'the default primary handler to wake the thread');
      expect(await m.call(0, 'thr', 'badRequests')).toEqual({ noPrimaryNoOneshot: -22, nothing: -22 });
      expect(grep(m, /genirq: Threaded irq requested with handler=NULL and !ONESHOT for thr-bad \(irq 34\)/).length).toBe(1);
    });
  });

  it('S-TIRQ-3: IRQF_ONESHOT keeps the line masked until thread_fn returns; a raise meanwhile is replayed once after it', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      await m.call(0, 'thr', 'set', W.OS_SLOW_MS, 5000);
      m.raiseIrq(THR_OS);
      await until(m, (x) => x.st[W.OS_RUNNING] === 1, 'the thread to start');
      for (let i = 0; i < 3; i++) expect(m.raiseIrq(THR_OS)).toBe(-1); // masked: held pending
      expect(m.irqCounts(THR_OS).reduce((a, b) => a + b, 0)).toBe(1);
      await m.call(0, 'thr', 'set', W.OS_GATE, 1);
      const s = await until(m, (x) => x.st[W.OS_DONE] === 2, 'the replayed interrupt to run the thread again');
      expect(s.st[W.OS_DONE]).toBe(2);
      await m.quiesce();
      expect(m.irqCounts(THR_OS).reduce((a, b) => a + b, 0)).toBe(2);
    });
  });

  it('S-TIRQ-4: without IRQF_ONESHOT the line stays unmasked: the primary runs again while the thread runs, and the wake-ups coalesce into one more run', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      m.raiseIrq(THR_NOOS);
      await until(m, (x) => x.st[W.NO_RUNNING] === 1, 'the thread to start');
      m.raiseIrq(THR_NOOS);
      await until(m, (x) => x.st[W.NO_PRIMARY] === 2, 'the primary handler to run again');
      m.raiseIrq(THR_NOOS);
      await until(m, (x) => x.st[W.NO_PRIMARY] === 3, 'the primary handler to run a third time');
      await m.call(0, 'thr', 'set', W.NO_GATE, 1);
      const s = await until(m, (x) => x.st[W.NO_THREAD] === 2 && x.st[W.NO_RUNNING] === 0, 'the second run');
      expect(s.st[W.NO_PRIMARY_WHILE_RUNNING]).toBe(2);
      await m.quiesce();
      expect((await state(m)).st[W.NO_THREAD]).toBe(2); // two wake-ups while it ran: one more run (IRQTF_RUNTHREAD)
    });
  });

  it('S-TIRQ-5: IRQF_SHARED: each action says IRQ_NONE or IRQ_HANDLED (or wakes its thread); a line nobody handles for 99 900 of 100 000 interrupts is reported ("nobody cared") and disabled', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      await m.call(0, 'thr', 'set', W.SH_WHO, 1);
      m.raiseIrq(THR_SH);
      await until(m, (x) => x.st[W.SH_PLAIN] === 1, 'the plain action');
      await m.call(0, 'thr', 'set', W.SH_WHO, 2);
      m.raiseIrq(THR_SH);
      const s = await until(m, (x) => x.st[W.SH_THREAD] === 1, 'the threaded action');
      expect(s.st[W.SH_PLAIN]).toBe(1);
      expect(grep(m, /nobody cared/).length).toBe(0);
      await m.call(0, 'thr', 'set', W.SH_WHO, 0);
      // 100 000 interrupts counted from the first unhandled one; a pause of more than HZ/10 between two
      // unhandled ones restarts the count (a loaded host can cause one), so the storm may take another round
      let r = { refused: 0, depth: 0 };
      for (let round = 0; round < 3 && grep(m, /nobody cared/).length === 0; round++) {
        r = await m.call<{ refused: number; depth: number }>(1, 'thr', 'storm', THR_SH, 100_010);
      }
      expect(grep(m, /irq 35: nobody cared \(try booting with the "irqpoll" option\)/).length).toBe(1);
      expect(grep(m, /Disabling IRQ #35/).length).toBe(1);
      expect(grep(m, /thr_sh_plain/).length).toBeGreaterThan(0); // the handlers are listed
      expect(r.depth).toBe(1);
      expect(r.refused).toBeGreaterThan(0); // raised after it was disabled: held back
    });
  });

  it('S-TIRQ-6: disable_irq_nosync returns while the thread runs; disable_irq and synchronize_irq wait for the thread to finish', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      await m.call(0, 'thr', 'set', W.OS_SLOW_MS, 150);
      m.raiseIrq(THR_OS);
      await until(m, (x) => x.st[W.OS_RUNNING] === 1, 'the thread to start');
      const n = await m.call<Record<string, number>>(0, 'thr', 'nosync', THR_OS);
      expect(n).toEqual({ runningAtEntry: 1, runningAfter: 1, doneAfter: 0 });
      await m.call(0, 'thr', 'enable', THR_OS);
      await until(m, (x) => x.st[W.OS_DONE] === 1, 'the first run');
      for (const how of ['disable_irq', 'synchronize_irq'] as const) {
        const done = (await state(m)).st[W.OS_DONE]!;
        if (how === 'synchronize_irq') expect(await m.call(0, 'thr', 'enable', THR_OS)).toBe(0);
        m.raiseIrq(THR_OS);
        await until(m, (x) => x.st[W.OS_RUNNING] === 1, 'the thread to start');
        const r = await m.call<Record<string, number>>(1, 'thr', 'waitFor', how);
        expect([how, r.runningAtEntry, r.doneAtEntry, r.runningAfter, r.doneAfter]).toEqual([how, 1, done, 0, done + 1]);
      }
    });
  });

  it('S-TIRQ-7: free_irq waits for a running thread_fn and stops the thread: irq/N-name leaves ps', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      await m.call(0, 'thr', 'set', W.OS_SLOW_MS, 150);
      m.raiseIrq(THR_OS);
      await until(m, (x) => x.st[W.OS_RUNNING] === 1, 'the thread to start');
      const r = await m.call<Record<string, number | string>>(1, 'thr', 'waitFor', 'free_irq');
      expect(r).toMatchObject({ runningAtEntry: 1, doneAtEntry: 0, runningAfter: 0, doneAfter: 1, name: 'thr-os' });
      expect(m.threads().map((t) => t.comm)).not.toContain('irq/31-thr-os');
      expect(m.threads().map((t) => t.comm)).toContain('irq/30-thr-a');
    });
  });

  it('S-TIRQ-8: boot option threadirqs forces a plain handler into irq/N-name (with bottom halves and interrupts off, as irq_forced_thread_fn runs it); IRQF_NO_THREAD stays in hardirq', async () => {
    await withMachine({ fixtures: ['thr'], threadirqs: true }, async (m) => {
      expect(m.threads().map((t) => t.comm)).toEqual(expect.arrayContaining(['irq/36-thr-f']));
      expect(m.threads().map((t) => t.comm)).not.toContain('irq/37-thr-nt');
      m.raiseIrq(THR_F);
      m.raiseIrq(THR_NT);
      const s = await until(m, (x) => x.st[W.F_RAN] === 1 && x.st[W.NT_RAN] === 1, 'both handlers');
      expect([s.st[W.F_HARDIRQ], s.st[W.F_IRQS_OFF], s.st[W.F_BH_OFF], s.comm]).toEqual([0, 1, 1, 'irq/36-t']);
      expect(s.st[W.NT_HARDIRQ]).toBe(1);
    });
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      expect(m.threads().map((t) => t.comm)).not.toContain('irq/36-thr-f');
      m.raiseIrq(THR_F);
      const s = await until(m, (x) => x.st[W.F_RAN] === 1, 'the handler');
      expect(s.st[W.F_HARDIRQ]).toBe(1);
    });
  });

  it('S-TIRQ-10 (stress): over a storm of raises on both CPUs, an IRQF_ONESHOT line never re-enters its primary handler before its thread returned, and every wake-up is one thread run', async () => {
    await withMachine({ fixtures: ['thr'] }, async (m) => {
      m.setIrqAffinity(THR_STORM, [0, 1]);
      let raised = 0;
      for (let i = 0; i < 3000; i++) {
        m.raiseIrq(THR_STORM);
        raised++;
        if (i % 40 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      const s = await until(m, (x) => x.st[W.ST_INFLIGHT] === 0 && x.st[W.ST_PRIMARY] === x.st[W.ST_THREAD], 'the storm to drain');
      await m.quiesce();
      const f = await state(m);
      expect(f.st[W.ST_VIOLATIONS]).toBe(0);
      expect(f.st[W.ST_PRIMARY]).toBe(f.st[W.ST_THREAD]);
      expect(s.st[W.ST_PRIMARY]).toBeGreaterThan(1);
      expect(f.st[W.ST_PRIMARY]).toBeLessThanOrEqual(raised);
      // the line is unmasked again: one more raise runs the pair once more
      m.raiseIrq(THR_STORM);
      await until(m, (x) => x.st[W.ST_THREAD] === f.st[W.ST_THREAD]! + 1 && x.st[W.ST_INFLIGHT] === 0, 'one more run');
    });
  });
});
