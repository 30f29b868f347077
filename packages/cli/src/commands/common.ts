/**
 * commands/common.ts — what every command's printing and signal handling share.
 */
import { startProgress, type Progress, type ProgressOptions } from '../progress.js';

/**
 * Run `fn` with an AbortSignal that fires on the first SIGINT or SIGTERM,
 * so that the scenario winds down and shuts its machine down (no thread
 * left behind). A second signal exits at once.
 */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) {
      process.stderr.write(`\nkdefer: ${sig} again, exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\nkdefer: ${sig}, winding down (again to exit now)\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Print a titled block, as the kernel's files are printed: verbatim. */
export function section(title: string, body: string): void {
  process.stdout.write(`== ${title} ==\n${body.endsWith('\n') ? body : body + '\n'}\n`);
}

/** 1234567 -> "1.23M": for progress lines that must not jump in width. */
export function compact(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(2)}M`;
}

/** Redraw a bar at most every `ms` when it is plain lines (a log), always on a terminal. */
export function throttled(bar: Progress, ms = 1000): Progress {
  if (process.stdout.isTTY) return bar;
  let last = -Infinity;
  return {
    update(done, info) {
      const now = performance.now();
      if (now - last >= ms) {
        last = now;
        bar.update(done, info);
      }
    },
    stop() {
      bar.stop();
    },
  };
}

/**
 * The long-run scaffolding of the commands: show progress (plain lines at
 * most every `throttleMs` when not on a terminal, if given), run `fn` with the
 * SIGINT/SIGTERM signal of withInterrupt and the bar, and stop the bar however
 * `fn` ends.
 */
export async function withProgress<T>(
  opts: ProgressOptions & { throttleMs?: number },
  fn: (signal: AbortSignal, bar: Progress) => Promise<T>,
): Promise<T> {
  const started = startProgress(opts);
  const bar = opts.throttleMs === undefined ? started : throttled(started, opts.throttleMs);
  try {
    return await withInterrupt((signal) => fn(signal, bar));
  } finally {
    bar.stop();
  }
}

/** A command's exit status: 130 if interrupted, else 0 if `ok`, 1 if not. */
export function exitStatus(aborted: boolean, ok: boolean): number {
  return aborted ? 130 : ok ? 0 : 1;
}
