/**
 * workqueue.ts — the workqueue scenario: a tasklet and BH work side by side,
 * then concurrency management seen through machine.workers().
 *
 * Scenario:
 *   1. boot a machine with the wqdemo module; route its IRQ to the last CPU
 *      and raise it `irqs` times from the host, waiting for each to be
 *      handled: every hardirq schedules a tasklet and queues a work item on
 *      system_bh_wq; both must run on that CPU, in softirq context, the BH
 *      work first (TASKLET_SOFTIRQ runs the BH pool before the tasklets);
 *   2. queue items A, B, C on that CPU's events pool; A sleeps until
 *      released. Once B and C ran, take machine.workers() (A's kworker is
 *      sleeping in A; B and C ran on another kworker of the same pool),
 *      then release A;
 *   3. flush, quiesce, check, shut down (no thread left).
 *
 * Prints nothing: commands/workqueue.ts prints the WorkqueueResult.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Machine } from '@kdefer/workers';
import type { PoolInfo } from '@kdefer/core';
import {
  WQDEMO,
  WQDEMO_IRQ,
  S_NR_BH,
  S_BH_REC,
  BH_REC_WORDS,
  BH_REC_MAX,
  REC_BH_WORK,
  S_HARDIRQS,
  S_ITEMS,
  ITEM_WORDS,
  S_A_ASLEEP,
} from '../modules/wqdemo.js';
import { defaultCpus } from '../options.js';

/** The built-in wqdemo module, as Machine.boot loads it. */
export const wqdemoModule = new URL('../modules/wqdemo.js', import.meta.url);

/** How long a step may take before the scenario gives up (a hang is a failed check, not a hang). */
const STEP_TIMEOUT_MS = 10_000;

export interface WorkqueueOptions {
  /** simulated CPUs (default one per core, at least 2) */
  cpus?: number;
  /** interrupts to raise in part 1 (default 3) */
  irqs?: number;
}

export interface BhRecord {
  who: 'BH work' | 'tasklet';
  cpu: number;
  softirq: boolean;
  task: boolean;
  /** what current_work() returned: the item itself, null, or another item */
  currentWork: 'itself' | 'null' | 'other';
}

export interface ItemRecord {
  name: 'A' | 'B' | 'C';
  pid: number;
  comm: string;
  cpu: number;
  finished: boolean;
  sawAAsleep: boolean;
}

export interface WorkqueueCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface WorkqueueResult {
  cpus: number;
  /** the CPU the IRQ is routed to and the items are queued on */
  cpu: number;
  irqs: number;
  hardirqs: number;
  bh: BhRecord[];
  items: ItemRecord[];
  /** the target CPU's pools (normal, highpri) while A slept */
  poolsWhileASlept: PoolInfo[];
  procSoftirqs: string;
  dmesg: string;
  threadsAfterShutdown: number;
  checks: WorkqueueCheck[];
  ok: boolean;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > STEP_TIMEOUT_MS) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/** Run the scenario; the machine is always shut down. */
export async function runWorkqueueDemo(opts: WorkqueueOptions = {}): Promise<WorkqueueResult> {
  const cpus = opts.cpus ?? defaultCpus();
  const irqs = opts.irqs ?? 3;
  const cpu = cpus - 1;
  const m = await Machine.boot({ cpus, modules: [wqdemoModule] });
  const checks: WorkqueueCheck[] = [];
  const check = (name: string, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });
  let result: Omit<WorkqueueResult, 'threadsAfterShutdown' | 'checks' | 'ok'>;
  try {
    const s = m.sharedArray('wqdemo.s', Int32Array);
    // 1. bottom halves
    m.setIrqAffinity(WQDEMO_IRQ, [cpu]);
    for (let k = 0; k < irqs; k++) {
      const before = Atomics.load(s, S_NR_BH);
      m.raiseIrq(WQDEMO_IRQ);
      await until(() => Atomics.load(s, S_NR_BH) >= before + 2, `the tasklet and the BH work of interrupt ${k + 1}`);
    }
    const bh: BhRecord[] = [];
    for (let k = 0; k < Math.min(Atomics.load(s, S_NR_BH), BH_REC_MAX); k++) {
      const b = S_BH_REC + k * BH_REC_WORDS;
      bh.push({
        who: s[b] === REC_BH_WORK ? 'BH work' : 'tasklet',
        cpu: s[b + 1]!,
        softirq: s[b + 2] === 1,
        task: s[b + 3] === 1,
        currentWork: s[b + 4] === 1 ? 'itself' : s[b + 4] === 0 ? 'null' : 'other',
      });
    }
    // 2. concurrency management
    await m.call(0, WQDEMO, 'queueItems', cpu);
    const item = (k: number): number => S_ITEMS + k * ITEM_WORDS;
    await until(
      () => Atomics.load(s, S_A_ASLEEP) === 1 && Atomics.load(s, item(1) + 3) === 1 && Atomics.load(s, item(2) + 3) === 1,
      'B and C while A sleeps',
    );
    const poolsWhileASlept = m.workers().filter((p) => p.cpu === cpu && !p.bh);
    const comms = new Map(m.threads().map((t) => [t.pid, t.comm]));
    await m.call(0, WQDEMO, 'releaseA');
    await m.call(0, WQDEMO, 'flushItems');
    await m.quiesce({ timeoutMs: STEP_TIMEOUT_MS });
    const items: ItemRecord[] = (['A', 'B', 'C'] as const).map((name, k) => ({
      name,
      pid: s[item(k)]!,
      comm: (comms.get(s[item(k)]!) ?? '?').replace(/[+-].*$/, ''),
      cpu: s[item(k) + 1]!,
      finished: s[item(k) + 3] === 1,
      sawAAsleep: s[item(k) + 4] === 1,
    }));
    result = {
      cpus,
      cpu,
      irqs,
      hardirqs: Atomics.load(s, S_HARDIRQS),
      bh,
      items,
      poolsWhileASlept,
      procSoftirqs: m.procSoftirqs(),
      dmesg: m.dmesg(),
    };
  } finally {
    await m.shutdown();
  }

  const { bh, items } = result;
  const works = bh.filter((r) => r.who === 'BH work');
  const tasklets = bh.filter((r) => r.who === 'tasklet');
  check(
    'one BH work run and one tasklet run per interrupt',
    works.length === irqs && tasklets.length === irqs && result.hardirqs === irqs,
    `${result.hardirqs} hardirqs, ${works.length} BH work runs, ${tasklets.length} tasklet runs`,
  );
  const elsewhere = bh.filter((r) => !(r.cpu === cpu && r.softirq && !r.task));
  check(
    `both ran on CPU ${cpu}, the CPU that took the interrupt, in softirq context`,
    elsewhere.length === 0,
    elsewhere.length === 0
      ? `${bh.length} of ${bh.length} callbacks`
      : elsewhere.map((r) => `${r.who}: CPU ${r.cpu}${r.softirq ? ' softirq' : ''}${r.task ? ' task' : ''}`).join(', '),
  );
  check(
    'each interrupt: the BH work before the tasklet (TASKLET_SOFTIRQ runs the BH pool first)',
    bh.length === 2 * irqs && bh.every((r, k) => r.who === (k % 2 === 0 ? 'BH work' : 'tasklet')),
    bh.map((r) => r.who).join(' -> '),
  );
  check(
    'current_work() is the BH work in its function, NULL in the tasklet',
    works.every((r) => r.currentWork === 'itself') && tasklets.every((r) => r.currentWork === 'null'),
    `BH work: ${works.map((r) => r.currentWork).join(',')}; tasklet: ${tasklets.map((r) => r.currentWork).join(',')}`,
  );
  const [a, b, c] = items as [ItemRecord, ItemRecord, ItemRecord];
  check(
    'A, B and C ran on their CPU and finished',
    items.every((i) => i.cpu === cpu && i.finished),
    items.map((i) => `${i.name}: CPU ${i.cpu}${i.finished ? '' : ' unfinished'}`).join(', '),
  );
  check(
    `B started while A slept, on another kworker of the same pool (S-WQ-8)`,
    b.sawAAsleep && b.pid !== a.pid && /^kworker\/\d+:\d+$/.test(b.comm) && b.comm.startsWith(`kworker/${cpu}:`),
    `A on ${a.comm} (pid ${a.pid}), B on ${b.comm} (pid ${b.pid}), B saw A asleep: ${b.sawAAsleep}`,
  );
  const pool = result.poolsWhileASlept.find((p) => !p.highpri);
  const sleepingA = pool?.workers.find((w) => w.pid === a.pid);
  check(
    'machine.workers() while A slept: its kworker sleeping in wqdemo.A',
    sleepingA?.state === 'sleeping' && sleepingA.work === 'wqdemo.A',
    sleepingA ? `${sleepingA.comm}: ${sleepingA.state}, work ${sleepingA.work}` : `no kworker with pid ${a.pid}`,
  );
  check('C ran after B on the same kworker (one running worker at a time)', c.pid === b.pid, `B pid ${b.pid}, C pid ${c.pid}`);
  const bad = m.reports().map((r) => r.title);
  check('dmesg: no BUG, Oops or WARNING', bad.length === 0, bad.length === 0 ? 'none' : bad.slice(0, 3).join(' | '));
  const threadsAfterShutdown = m.liveThreads();
  check('no thread left after shutdown', threadsAfterShutdown === 0, `${threadsAfterShutdown} CPU threads alive`);
  return { ...result, threadsAfterShutdown, checks, ok: checks.every((x) => x.ok) };
}
