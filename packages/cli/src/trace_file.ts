/**
 * trace_file.ts — `--trace FILE` for commands that boot machines.
 *
 * While a command runs, every machine it boots records the kernel's
 * tracepoints (Machine.defaults.trace); each machine's trace is taken at its
 * shutdown, and at the end all of them go into one Chrome trace-event file:
 * machine k's CPUs are processes "machine k CPU n", so a run that boots one
 * machine per API variant shows them side by side in Perfetto.
 */
import { writeFile } from 'node:fs/promises';
import { Machine } from '@kdefer/workers';

interface ChromeEvent {
  name: string;
  pid: number;
  args?: Record<string, unknown>;
  [k: string]: unknown;
}

/** Start collecting; `finish()` writes the file and returns the number of events. */
export function collectTraces(file: string, opts: { locks?: boolean } = {}): { finish: () => Promise<number> } {
  const prev = { trace: Machine.defaults.trace, traceLocks: Machine.defaults.traceLocks };
  Machine.defaults.trace = true;
  Machine.defaults.traceLocks = opts.locks ?? true;
  const events: ChromeEvent[] = [];
  let k = 0;
  const off = Machine.onShutdown((m) => {
    const id = k++;
    for (const e of m.trace().traceEvents as unknown as ChromeEvent[]) {
      const ev: ChromeEvent = { ...e, pid: id * 1000 + e.pid };
      if (e.name === 'process_name') ev.args = { name: `machine ${id} ${String(e.args?.name ?? '')}` };
      if (e.name === 'process_sort_index') ev.args = { sort_index: id * 1000 + Number(e.args?.sort_index ?? 0) };
      events.push(ev);
    }
  });
  return {
    async finish() {
      off();
      Machine.defaults.trace = prev.trace;
      Machine.defaults.traceLocks = prev.traceLocks;
      await writeFile(file, JSON.stringify({ traceEvents: events, displayTimeUnit: 'ms' }));
      return events.length;
    },
  };
}
