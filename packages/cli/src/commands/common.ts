/**
 * commands/common.ts — what every command's printing and signal handling share.
 */

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
