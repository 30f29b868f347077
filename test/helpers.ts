// Shared test helpers: boot a machine with fixture modules, always shut it down.
import { Machine, type MachineOptions } from '@kdefer/workers';

export const fixture = (name: string): URL => new URL(`./fixtures/dist/${name}.js`, import.meta.url);

/** Boot, run `fn`, and shut down whatever happens (no thread left behind). */
export async function withMachine<T>(opts: MachineOptions & { fixtures?: string[] }, fn: (m: Machine) => Promise<T>): Promise<T> {
  const m = await Machine.boot({ cpus: 2, ...opts, modules: [...(opts.modules ?? []), ...(opts.fixtures ?? []).map(fixture)] });
  let result: T;
  try {
    result = await fn(m);
  } finally {
    await m.shutdown();
  }
  if (m.liveThreads() !== 0) throw new Error(`shutdown left ${m.liveThreads()} threads`);
  return result;
}

/** Lines of dmesg matching `re`. */
export const grep = (m: Machine, re: RegExp): string[] =>
  m
    .dmesg()
    .split('\n')
    .filter((l) => re.test(l));

/** Poll host-visible state until `cond` holds (bounded: a broken kernel fails, never hangs). */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** What a run of the built `kdefer` command gave. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
const kdeferBin = new URL('../packages/cli/bin/kdefer.js', import.meta.url);

/** Run the built `kdefer` command as a user does; a hang fails the test (execFile's timeout), it does not hang it. */
export async function runKdefer(args: string[], timeoutMs: number): Promise<Ran> {
  const { execFile } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  return new Promise((resolve) => {
    execFile(process.execPath, [fileURLToPath(kdeferBin), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}
