/**
 * commands/workqueue.ts — `kdefer workqueue`: a tasklet and BH work side by
 * side, and concurrency management as machine.workers() shows it.
 *
 * Runs scenarios/workqueue.ts and prints its records, the target CPU's
 * kworkers while item A slept, /proc/softirqs and the checks. Exit status 1
 * if a check failed.
 */
import { Command, Option } from 'commander';
import type { PoolInfo } from '@kdefer/core';
import { runWorkqueueDemo, type WorkqueueResult } from '../scenarios/workqueue.js';
import { WQDEMO_IRQ } from '../modules/wqdemo.js';
import { cpusOption, intInRange } from '../options.js';
import { section } from './common.js';

interface WorkqueueFlags {
  cpus: number;
  irqs: number;
}

/** The `workqueue` command. */
export function workqueueCommand(): Command {
  return new Command('workqueue')
    .alias('wq')
    .description('a tasklet and BH work scheduled by one interrupt, side by side; then a sleeping work item and the kworkers of its pool')
    .addOption(cpusOption())
    .addOption(new Option('--irqs <n>', 'interrupts to raise in part 1').argParser(intInRange('--irqs', 1, 8)).default(3))
    .action(async (flags: WorkqueueFlags) => {
      const r = await runWorkqueueDemo({ cpus: flags.cpus, irqs: flags.irqs });
      print(r);
      process.exitCode = r.ok ? 0 : 1;
    });
}

function print(r: WorkqueueResult): void {
  const out = process.stdout;
  out.write(`kdefer workqueue — machine: ${r.cpus} CPUs; IRQ ${WQDEMO_IRQ} routed to CPU ${r.cpu}\n\n`);
  const rows = r.bh.map(
    (x, k) =>
      `${String(k + 1).padStart(2)}  ${x.who.padEnd(8)} CPU ${x.cpu}  ${x.softirq ? 'softirq' : x.task ? 'task   ' : 'other  '}  current_work() = ${x.currentWork === 'itself' ? 'the item' : x.currentWork === 'null' ? 'NULL' : 'another item'}`,
  );
  section(
    `part 1: one handler does tasklet_schedule(t) then queue_work(system_bh_wq, w); ${r.irqs} interrupts, callbacks in the order they ran`,
    rows.join('\n'),
  );
  section(
    `part 2: A (sleeps until released), B, C queued on CPU ${r.cpu}'s events pool`,
    r.items
      .map((i) =>
        `${i.name}  ${i.comm.padEnd(14)} pid ${String(i.pid).padEnd(4)} ${i.name === 'A' ? '' : `started while A slept: ${i.sawAAsleep ? 'yes' : 'no'}`}`.trimEnd(),
      )
      .join('\n'),
  );
  section(`CPU ${r.cpu}'s pools while A slept (machine.workers())`, workersTable(r.poolsWhileASlept));
  section('/proc/softirqs', r.procSoftirqs);
  const width = Math.max(...r.checks.map((c) => c.name.length));
  section('checks', r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`).join('\n'));
  out.write(`workqueue: ${r.checks.filter((c) => c.ok).length} of ${r.checks.length} checks passed\n`);
}

function workersTable(pools: PoolInfo[]): string {
  const lines = ['POOL  WORKERS IDLE RUNNING PENDING   PID  STATE     COMM                      WORK'];
  for (const p of pools) {
    const head = `${String(p.id).padEnd(5)} ${String(p.nrWorkers).padStart(7)} ${String(p.nrIdle).padStart(4)} ${String(p.nrRunning).padStart(7)} ${String(p.pending).padStart(7)}`;
    if (p.workers.length === 0) lines.push(head);
    p.workers.forEach((w, k) => {
      lines.push(
        `${k === 0 ? head : ' '.repeat(head.length)}  ${String(w.pid).padStart(4)}  ${w.state.padEnd(8)}  ${w.comm.padEnd(24)}  ${w.work ?? '-'}`,
      );
    });
  }
  return lines.join('\n');
}
