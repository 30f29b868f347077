// @kdefer/test (issue 13), a kdefer-only behaviour: withMachine() boots with a
// user's .ts module, always shuts down, and fails on an unexpected report;
// expectReport() turns a report into the test's expectation.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { withMachine, expectReport, type Machine } from '@kdefer/test';
import { NIC_IRQ } from '../examples/nic/nic.js';

const example = (p: string): string => fileURLToPath(new URL(`../examples/${p}`, import.meta.url));

describe('kdefer-only (test helper): @kdefer/test', () => {
  it("expectReport(m, 'circular-locking'): the wqflush bug is caught through the work's lockdep map, and the test passes", async () => {
    const r = await withMachine({ modules: [example('wqflush/buggy.ts')] }, async (m) => {
      await m.call(0, 'wqflush_buggy', 'probe');
      await m.call(0, 'wqflush_buggy', 'remove');
      return expectReport(m, 'circular-locking', 'wqflush.reset_work');
    });
    expect(r.kind).toBe('lockdep');
  });

  it('withMachine fails on a report the body did not expect, with the dmesg excerpt', async () => {
    await expect(
      withMachine({ modules: [example('wqflush/buggy.ts')] }, async (m) => {
        await m.call(0, 'wqflush_buggy', 'probe');
        await m.call(0, 'wqflush_buggy', 'remove');
      }),
    ).rejects.toThrow(
      /unexpected report\(s\): WARNING: possible circular locking dependency detected[\s\S]*--- dmesg ---[\s\S]*reset_work/,
    );
  });

  it('the fixed module passes with no report; expectReport on a clean machine fails naming the kind', async () => {
    await withMachine({ modules: [example('wqflush/fixed.ts')] }, async (m) => {
      expect(await m.call(0, 'wqflush_fixed', 'probe')).toBe(1);
      expect(await m.call(0, 'wqflush_fixed', 'remove')).toBe(1);
      await expect(expectReport(m, 'KASAN', undefined, 100)).rejects.toThrow(/no KASAN report in 100 ms/);
    });
  });

  it('a body past timeoutMs fails the test and the machine is still shut down', async () => {
    await expect(
      withMachine({ modules: [example('wqflush/fixed.ts')], timeoutMs: 300 }, () => new Promise<void>(() => undefined)),
    ).rejects.toThrow(/ran past 300 ms/);
  });
});

describe('S-TIME-12 (examples/nic, through @kdefer/test): the watchdog <-> reset cycle needs timer_shutdown_sync()', () => {
  /** probe, traffic on the NIC's IRQ, a TX stall the watchdog resets, remove — as kdefer run drives it. */
  async function lifecycle(m: Machine, mod: string): Promise<{ rx: number; tx: number; resets: number }> {
    expect(await m.call(0, mod, 'probe')).toBe(0);
    m.setIrqAffinity(NIC_IRQ, [1]);
    for (let k = 0; k < 20; k++) m.raiseIrq(NIC_IRQ);
    await m.call(0, mod, 'xmit', 200);
    expect(await m.call(0, mod, 'stall')).toBeGreaterThanOrEqual(1); // a reset is running when it returns
    return (await m.call(0, mod, 'remove')) as { rx: number; tx: number; resets: number };
  }

  it('buggy: the re-armed watchdog reads freed priv — expectReport(m, "use-after-free") in nic_watchdog', async () => {
    const r = await withMachine({ modules: [example('nic/buggy.ts')] }, async (m) => {
      await lifecycle(m, 'nic_buggy');
      return expectReport(m, 'use-after-free', /in nic_watchdog[\s\S]*Freed by task/);
    });
    expect(r.kind).toBe('KASAN');
  });

  it('fixed: no report, the reset ran, the transmits completed; the machine is shut down with no thread left', async () => {
    const stats = await withMachine({ modules: [example('nic/fixed.ts')] }, async (m) => {
      const s = await lifecycle(m, 'nic_fixed');
      await new Promise((r) => setTimeout(r, 50)); // past WATCHDOG_JIFFIES: nothing left to fire
      await expect(expectReport(m, 'KASAN', undefined, 50)).rejects.toThrow(/no KASAN report/);
      return s;
    });
    expect(stats.tx).toBeGreaterThanOrEqual(201);
    expect(stats.resets).toBeGreaterThanOrEqual(1);
    expect(stats.rx).toBeGreaterThan(0);
  });
});

describe('kdefer-only (test helper): a module that does not load fails withMachine with a clear message naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdefer-helper-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const body = async (): Promise<void> => undefined;

  it.each([
    ['a missing file', () => join(dir, 'nope.ts'), /nope\.ts: no such file/],
    [
      'a syntax error',
      () =>
        file('syn.ts', "import { defineModule } from '@kdefer/core';\nexport default defineModule('syn', () => {\n  const x = ;\n});\n"),
      /syn\.ts:3:\d+: /,
    ],
    ['no default export', () => file('nodef.ts', 'export const x = 1;\n'), /nodef\.ts: no defineModule\(\.\.\.\) default export/],
    [
      'an unknown kernel name',
      () =>
        file(
          'unk.ts',
          "import { defineModule, del_timer_sync, tasklet_kil } from '@kdefer/core';\nexport default defineModule('unk', () => { void del_timer_sync; void tasklet_kil; });\n",
        ),
      /unk\.ts: imports 'tasklet_kil', which kdefer does not provide \(kdefer has 'tasklet_kill'\)/,
    ],
  ])('%s', async (_what, make, message) => {
    await expect(withMachine({ modules: [make()] }, body)).rejects.toThrow(message);
  });

  it('an entry that awaits a foreign promise: expectReport(m, "foreign-promise") catches it', async () => {
    const f = file(
      'fp.ts',
      "import { defineModule } from '@kdefer/core';\nexport default defineModule('fp', () => ({\n  async go() {\n    await new Promise((r) => setTimeout(r, 10));\n    return 1;\n  },\n}));\n",
    );
    const r = await withMachine({ modules: [f] }, async (m) => {
      await m.call(0, 'fp', 'go').catch(() => undefined);
      return expectReport(m, 'foreign-promise');
    });
    expect(r.line).toMatch(/awaited a promise that is not a kernel primitive/);
  });
});
