/**
 * campaign_worker.ts — a piscina pool worker of a campaign
 * (scenarios/campaign.ts): it boots ONE machine, runs trial after trial on
 * it, and boots a fresh one only when a trial stopped it, the scenario's
 * trialsPerMachine is reached, or a task asks for another configuration.
 *
 * The machine's host side (comlink ports, exit listeners) lives in this
 * thread; its CPUs are worker threads of this worker. A 'shutdown' task
 * stops the machine before the pool is destroyed, so that no CPU thread is
 * left to be torn down with its parent.
 */
import { threadId } from 'node:worker_threads';
import { Machine } from '@kdefer/workers';
import type { WorkerTask, WorkerTrialReply, WorkerShutdownReply, TrialOutcome } from './scenarios/campaign.js';
import { campaignScenario } from './scenarios/trials.js';

/** How long a shutdown task waits for its siblings at the barrier. */
const BARRIER_TIMEOUT_MS = 10_000;

interface Held {
  key: string;
  m: Machine;
  trials: number;
}
let held: Held | null = null;
let machines = 0;

async function drop(): Promise<void> {
  const h = held;
  held = null;
  if (h) await h.m.shutdown();
}

export default async function campaignTask(task: WorkerTask): Promise<WorkerTrialReply | WorkerShutdownReply> {
  if (task.kind === 'shutdown') {
    const b = new Int32Array(task.barrier);
    Atomics.add(b, 0, 1);
    const t0 = performance.now();
    while (Atomics.load(b, 0) < task.jobs && performance.now() - t0 < BARRIER_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 2));
    await drop();
    return { worker: threadId, machines };
  }
  const sc = campaignScenario(task.scenario);
  const options = { ...sc.defaults, ...task.options };
  const key = JSON.stringify([task.scenario, options, task.cpus, task.amplify]);
  if (held && (held.key !== key || held.m.panicked() || held.trials >= sc.trialsPerMachine)) await drop();
  const t0 = performance.now();
  let out: TrialOutcome;
  try {
    if (!held) {
      const m = await Machine.boot({
        ...sc.machine(options, task.cpus),
        cpus: task.cpus,
        seed: task.seed,
        ...(task.amplify > 0 ? { amplify: task.amplify } : {}),
      });
      machines++;
      held = { key, m, trials: 0 };
    }
    out = await sc.trial(held.m, options, { index: task.index, seed: task.seed, amplify: task.amplify, onMachine: held.trials });
    held.trials++;
  } catch (e) {
    out = { ok: false, outcome: 'error', detail: e instanceof Error ? e.message : String(e), stopped: true };
  }
  if (out.stopped) await drop();
  return {
    result: {
      index: task.index,
      seed: task.seed,
      amplify: task.amplify,
      ok: out.ok,
      outcome: out.outcome,
      detail: out.detail,
      lost: out.lost ?? null,
      reports: out.reports ?? [],
      ms: performance.now() - t0,
      worker: threadId,
      machine: machines,
    },
  };
}
