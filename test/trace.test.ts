import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withMachine } from './helpers.js';

describe('tracing', () => {
  it("kdefer-only (trace): records the kernel's tracepoints per CPU and exports Chrome trace JSON with one track per CPU and context", async () => {
    await withMachine({ fixtures: ['locks', 'timers'], trace: true }, async (m) => {
      await m.call(0, 'locks', 'bumpBh', 50);
      for (let i = 0; i < 20; i++) m.raiseIrq(7);
      await m.call(1, 'timers', 'armIn', 2);
      await m.quiesce();
      const names = new Set(m.traceRecords().map((r) => r.name));
      for (const n of [
        'irq_handler_entry',
        'irq_handler_exit',
        'softirq_raise',
        'softirq_entry',
        'softirq_exit',
        'timer_start',
        'timer_expire_entry',
        'timer_expire_exit',
        'lock_acquire',
        'lock_release',
        'sched_switch',
        'local_timer_entry',
      ]) {
        expect(names, n).toContain(n);
      }
      const t = m.trace();
      const threads = t.traceEvents.filter((e) => e.name === 'thread_name').map((e) => (e.args as { name: string }).name);
      expect(threads).toContain('CPU0 hardirq');
      expect(threads).toContain('CPU1 softirq');
      const begins = t.traceEvents.filter((e) => e.ph === 'B').length;
      const ends = t.traceEvents.filter((e) => e.ph === 'E').length;
      expect(begins).toBeGreaterThan(0);
      expect(ends).toBeLessThanOrEqual(begins);
      expect(t.traceEvents.some((e) => e.name.startsWith('softirq_entry: vec=3 [action=NET_RX]'))).toBe(true);
      expect(JSON.parse(JSON.stringify(t)).traceEvents.length).toBe(t.traceEvents.length);
    });
  });

  it('S-WQ-22/S-WQ-23 traced: workqueue_queue_work, workqueue_execute_start and workqueue_execute_end — a kworker item on the task track, BH work on the softirq track', async () => {
    await withMachine({ fixtures: ['wq'], trace: true }, async (m) => {
      await m.call(0, 'wq', 'probeOn', 1, 'events');
      await m.call(0, 'wq', 'probeOn', 1, 'events_bh');
      await m.quiesce();
      const recs = m.traceRecords().filter((r) => r.name.startsWith('workqueue_'));
      expect(recs.filter((r) => r.name === 'workqueue_queue_work' && r.cpu === 0).length).toBeGreaterThanOrEqual(2);
      const starts = recs.filter((r) => r.name === 'workqueue_execute_start' && r.cpu === 1);
      expect(starts.length).toBeGreaterThanOrEqual(2);
      expect(recs.filter((r) => r.name === 'workqueue_execute_end' && r.cpu === 1).length).toBe(starts.length);
      const slices = m.trace().traceEvents.filter((e) => e.ph === 'B' && e.name.startsWith('workqueue_execute_start: work=wq.probe'));
      // CPU 1's task track (tid 10) for the kworker, its softirq track (tid 11) for the BH work
      expect(slices.map((e) => e.tid).sort()).toEqual([10, 11]);
    });
  });

  it('kdefer-only (trace): a lockup report includes the last trace events of both CPUs', async () => {
    await withMachine({ fixtures: ['locks'], trace: true, spinLockupMs: 200 }, async (m) => {
      const holder = m.call(0, 'locks', 'holdUntilReleased');
      holder.catch(() => {});
      await m.call(1, 'locks', 'waitHolder');
      await expect(m.call(1, 'locks', 'takeL')).rejects.toThrow();
      const d = m.dmesg();
      expect(d).toMatch(/Last trace events of CPU#1:/);
      expect(d).toMatch(/Last trace events of CPU#0:\n(.*\n)*.*lock_acquire: locks\.L/);
    });
  });

  it('kdefer-only (trace): with tracing off nothing is recorded', async () => {
    await withMachine({ fixtures: ['locks'] }, async (m) => {
      await m.call(0, 'locks', 'bumpBh', 10);
      expect(m.traceRecords()).toEqual([]);
    });
  });

  it('kdefer-only (trace): kdefer <command> --trace FILE merges the traces of every machine the command booted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kdefer-trace-'));
    const file = join(dir, 'torture.json');
    const main = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [
      main,
      'stress',
      'torture',
      '--seconds',
      '0.3',
      '--seed',
      '5',
      '--trace',
      file,
    ]);
    expect(stdout).toMatch(/trace: \d+ events of every machine written to/);
    const t = JSON.parse(await readFile(file, 'utf8')) as { traceEvents: { name: string; args?: { name?: string } }[] };
    expect(t.traceEvents.some((e) => e.name === 'process_name' && e.args?.name === 'machine 0 CPU 1')).toBe(true);
    expect(t.traceEvents.some((e) => e.name === 'lock_acquire')).toBe(true);
  });
});
