/**
 * @kdefer/test — a user's driver module under test, for vitest (or any
 * runner that awaits a promise and reports a thrown error).
 *
 * Models nothing of Linux: the harness around it, the way a kselftest or
 * KUnit case boots, runs and checks dmesg. withMachine() boots a machine
 * with the user's module files (.js, .mjs or .ts, compiled on the fly),
 * runs the test body, always shuts the machine down (also when the body
 * throws or runs past its time), and fails on any report in dmesg the body
 * did not expect with expectReport().
 *
 * Reports are read from dmesg by @kdefer/cli's findReports(), one function:
 * when @kdefer/workers gains machine.reports() (typed records), that
 * function switches over and this package follows.
 */
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Machine, type MachineOptions } from '@kdefer/workers';
import { prepareModule, explainLoadError, findReports, reportExcerpt, type FoundReport, type PreparedModule } from '@kdefer/cli';

export type { FoundReport } from '@kdefer/cli';
export type { Machine } from '@kdefer/workers';

/** withMachine's options: the machine's boot options, the module files, the time allowed. */
export interface WithMachineOptions extends Omit<MachineOptions, 'modules'> {
  /** module files to load on every CPU (paths or file URLs; .js, .mjs or .ts) */
  modules?: (string | URL)[];
  /** the body's time limit; past it the machine is shut down and the test fails (default 20 000 ms) */
  timeoutMs?: number;
  /** report kinds or names that do not fail the test even without expectReport() */
  allow?: string[];
}

const expected = new WeakMap<Machine, FoundReport[]>();

/**
 * Boot a machine (2 CPUs unless `cpus`), load `modules`, run `fn`, shut
 * down whatever happens. Throws when loading fails, `fn` throws or runs past
 * `timeoutMs`, or dmesg holds a report neither expected nor allowed; the
 * message carries the dmesg excerpt of the report.
 * @returns what `fn` returned
 */
export async function withMachine<T>(opts: WithMachineOptions, fn: (m: Machine) => Promise<T>): Promise<T> {
  const { modules = [], timeoutMs = 20_000, allow = [], ...boot } = opts;
  const prepared: PreparedModule[] = [];
  try {
    for (const f of modules) prepared.push(await prepareModule(f instanceof URL ? fileURLToPath(f) : f));
    const m = await Machine.boot({ cpus: 2, ...boot });
    let result: T;
    let dmesg = '';
    try {
      for (const p of prepared) {
        try {
          await m.loadModules([p.url]);
        } catch (e) {
          throw new Error(await explainLoadError(e, p));
        }
      }
      expected.set(m, []);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`withMachine: the test body ran past ${timeoutMs} ms\n${m.dmesg()}`)), timeoutMs);
      });
      try {
        result = await Promise.race([fn(m), late]);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      dmesg = m.dmesg();
      await m.shutdown();
    }
    const seen = expected.get(m) ?? [];
    const unexpected = findReports(dmesg).filter(
      (r) => !seen.some((x) => x.at === r.at) && !allow.some((a) => a === r.kind || r.names.includes(a)),
    );
    if (unexpected.length > 0)
      throw new Error(
        `withMachine: ${unexpected.length} unexpected report(s): ${unexpected.map((r) => r.line).join('; ')}\n--- dmesg ---\n${reportExcerpt(dmesg, unexpected[0]!)}`,
      );
    if (m.liveThreads() !== 0) throw new Error(`withMachine: shutdown left ${m.liveThreads()} threads`);
    return result;
  } finally {
    for (const p of prepared) p.cleanup();
  }
}

/**
 * Wait (up to `timeoutMs`, default 5000) for a report of `kind` in m's dmesg
 * — a coarse kind ('BUG', 'WARNING', 'KASAN', 'lockdep', 'lockup',
 * 'foreign-promise') or a finer name ('spinlock-recursion',
 * 'sleeping-in-atomic', 'circular-locking', 'inconsistent-lock-state',
 * 'use-after-free', 'soft-lockup', ...) — whose lines match `match` if
 * given; it is then expected, and withMachine does not fail on it.
 * @returns the report; throws with the dmesg when none came
 */
export async function expectReport(m: Machine, kind: string, match?: string | RegExp, timeoutMs = 5000): Promise<FoundReport> {
  const t0 = performance.now();
  for (;;) {
    const dmesg = m.dmesg();
    const seen = expected.get(m) ?? [];
    const r = findReports(dmesg).find((x) => {
      if (x.kind !== kind && !x.names.includes(kind)) return false;
      if (seen.some((y) => y.at === x.at)) return false;
      if (match === undefined) return true;
      const text = reportExcerpt(dmesg, x);
      return typeof match === 'string' ? text.includes(match) : match.test(text);
    });
    if (r !== undefined) {
      seen.push(r);
      expected.set(m, seen);
      return r;
    }
    if (performance.now() - t0 > timeoutMs)
      throw new Error(
        `expectReport: no ${kind} report${match !== undefined ? ` matching ${String(match)}` : ''} in ${timeoutMs} ms\n--- dmesg ---\n${dmesg}`,
      );
    await sleep(5);
  }
}
