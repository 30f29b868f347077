/**
 * cpu.ts — the entry of one CPU worker thread.
 *
 * Validates its startup data once, binds the thread to its CPU, exposes the
 * control plane (comlink, on a dedicated port), and runs the CPU loop
 * (cpu_startup_entry) for the life of the thread. The loop parks on the
 * CPU's wake word (PC_WAKE); the host rings it after posting a control
 * message, and the loop then drains the port with receiveMessageOnPort and
 * hands the messages to comlink — the worker's event loop is never what
 * keeps the CPU going.
 */
import { workerData, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { expose, type Endpoint } from 'comlink';
import type { Geometry } from '@kdefer/core';
import {
  start_cpu,
  cpu_startup_entry,
  cpu_request_stop,
  create_task,
  task_on_exit,
  load_module,
  module_entry,
  loaded_modules,
  sched_foreign_begin,
  sched_foreign_end,
} from '@kdefer/core/cpu';

type Listener = Parameters<Endpoint['addEventListener']>[1];

/** What the host hands a CPU thread. */
export interface CpuStartup {
  sab: SharedArrayBuffer;
  geometry: Geometry;
  cpu: number;
  port: MessagePort;
}

function validate(d: unknown): CpuStartup {
  const s = d as Partial<CpuStartup> | null;
  if (!s || !(s.sab instanceof SharedArrayBuffer) || typeof s.cpu !== 'number' || !s.geometry || !s.port) {
    throw new TypeError('kdefer cpu worker: bad startup data (expected { sab, geometry, cpu, port })');
  }
  return s as CpuStartup;
}

// A user's .ts module is compiled with an inline source map: call traces
// (printk's dump_stack) then name the user's .ts file and line.
process.setSourceMapsEnabled(true);

const boot = validate(workerData);
const { port, cpu } = boot;

// comlink over the dedicated port, drained by the CPU loop.
const listeners = new Set<(ev: MessageEvent) => void>();
const endpoint: Endpoint = {
  postMessage: (msg: unknown, transfer?: unknown[]) => port.postMessage(msg, transfer as never),
  addEventListener: (_type: string, l: Listener) => {
    listeners.add(l as (ev: MessageEvent) => void);
  },
  removeEventListener: (_type: string, l: Listener) => {
    listeners.delete(l as (ev: MessageEvent) => void);
  },
};

function drainControl(): void {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    for (const l of listeners) l({ data: m.message } as MessageEvent);
  }
}

let haltReason: string | null = null;

/** The control plane of one CPU: setup, teardown, calls. Never the data plane. */
const api = {
  ping(): number {
    return cpu;
  },
  /** Import and initialise modules on this CPU, in order. */
  async loadModules(urls: string[]): Promise<Record<string, string[]>> {
    const out: Record<string, string[]> = {};
    sched_foreign_begin();
    try {
      for (const url of urls) {
        const mod = (await import(url)) as { default?: unknown };
        const def = mod.default as Parameters<typeof load_module>[0];
        if (!def) throw new Error(`kdefer: ${url} has no default export (expected defineModule(...))`);
        out[def.name] = load_module(def);
      }
    } finally {
      sched_foreign_end();
    }
    return out;
  },
  /** Run `module.entry(...args)` as a task in process context on this CPU. */
  call(module: string, entry: string, args: unknown[]): Promise<unknown> {
    if (haltReason !== null) return Promise.reject(new Error(`kdefer: CPU ${cpu} is halted (${haltReason})`));
    const fn = module_entry(module, entry) as (...a: unknown[]) => unknown;
    return new Promise((resolve, reject) => {
      const t = create_task(() => fn(...args), null, entry.slice(0, 15), 0, true);
      task_on_exit(t, (done) => (done.error !== undefined ? reject(done.error) : resolve(done.result)));
    });
  },
  modules(): string[] {
    return loaded_modules();
  },
  stop(): void {
    cpu_request_stop();
  },
};
export type CpuApi = typeof api;

start_cpu(boot.sab, boot.geometry, cpu);
expose(api, endpoint);
await cpu_startup_entry({
  drainControl,
  onHalt: (reason) => {
    haltReason = reason;
  },
});
port.close();
