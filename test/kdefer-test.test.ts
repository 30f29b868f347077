// @kdefer/test (issue 13), a kdefer-only behaviour: withMachine() boots with a
// user's .ts module, always shuts down, and fails on an unexpected report;
// expectReport() turns a report into the test's expectation.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withMachine, expectReport } from '@kdefer/test';

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
