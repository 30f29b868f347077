/**
 * machine.ts — the host face: boot a machine of CPU threads, talk to it, stop it.
 *
 * One worker thread per simulated CPU, all sharing one SharedArrayBuffer.
 * The control plane (load modules, call entry points) is comlink over one
 * dedicated MessagePort per CPU; after posting, the host rings the CPU's
 * doorbell so that a parked CPU wakes and drains its port. Everything that
 * can be read from shared memory — dmesg, /proc, the task list, quiescence —
 * is read directly, without asking the CPUs: it works even when one is stuck.
 */
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { wrap, type Endpoint, type Remote } from 'comlink';
import {
  type Mem,
  type BootOptions,
  type LogRecord,
  type ThreadInfo,
  type PoolInfo,
  setup_machine_memory,
  kick_cpu,
  kick_cpu_control,
  readLog,
  formatLog,
  readReports,
  type Report,
  procSoftirqs,
  procInterrupts,
  procNetSoftnetStat,
  softnetStat,
  type SoftnetStat,
  kstat_softirqs,
  kstat_irqs,
  readTasks,
  readWorkers,
  assertIrq,
  checkIrq,
  irqSetAffinityMem,
  hostSharedArray,
  hostPercpuArray,
  KdeferError,
  H_STATE,
  H_ACTIVITY,
  H_OOPS_COUNT,
  H_PANIC_CPU,
  MACHINE_PANIC,
  MACHINE_SHUTDOWN,
  PC_IDLE,
  PC_IRQ_REQUEST,
  PC_SOFTIRQ_PENDING,
  PC_NR_RUNNING,
  PC_HALTED,
  PC_CONTROL_HOST,
  REQ_STOP,
  REQ_HARDIRQ,
  REQ_NMI,
  PC_NMI_REASON,
  NMI_REASON_WATCHDOG,
  REQ_RESCHED,
  REQ_CALL,
  jiffiesAt,
  MAX_CPUS,
  log_store,
  describeActivity,
  commOfPid,
  H_HARDLOCKUP_MS,
  PC_LOC_COUNT,
  PC_CURRENT_PID,
  chromeTrace,
  readTrace,
  kasanReportCount,
  lockdepReportCount,
  type TraceRecord,
} from '@kdefer/core';
import { writeFile } from 'node:fs/promises';
import type { CpuApi, CpuStartup } from './cpu.js';
import { DetPump } from './det_pump.js';
import {
  det_read_record,
  det_divergence,
  det_vclock,
  det_host_holds,
  det_finish_replay,
  type DetRecord,
  type DetDivergence,
  type ScheduleOptions,
} from '@kdefer/core';

type Listener = Parameters<Endpoint['addEventListener']>[1];

export interface MachineOptions extends Partial<BootOptions> {
  /** CPUs (worker threads); default one per available core, at least 2 */
  cpus?: number;
  /** modules to load on every CPU: URLs, file URLs or paths */
  modules?: (string | URL)[];
  /** how long to wait for the CPUs to come online (ms) */
  bootTimeoutMs?: number;
}

export interface QuiesceOptions {
  timeoutMs?: number;
}

type TypedCtor = Int32ArrayConstructor | Uint32ArrayConstructor | Float64ArrayConstructor;

function moduleUrl(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^(file|data|node):/.test(m)) return m;
  return pathToFileURL(isAbsolute(m) ? m : resolve(m)).href;
}

/** A booted kdefer machine. */
export class Machine {
  private exited = 0;
  private stopped = false;
  private readonly exitPromises: Promise<unknown>[];

  private constructor(
    readonly mem: Mem,
    private readonly cpuThreads: Worker[],
    private readonly ports: MessagePort[],
    private readonly cpusApi: Remote<CpuApi>[],
    private readonly pump: DetPump | null,
    private readonly scheduleOpts: ScheduleOptions | undefined,
  ) {
    this.exitPromises = cpuThreads.map((w, cpu) =>
      once(w, 'exit').then(([code]) => {
        this.exited++;
        if (!this.stopped) this.lost.set(cpu, `CPU ${cpu}'s thread exited unexpectedly (code ${String(code)})`);
      }),
    );
  }
  private readonly lost = new Map<number, string>();
  private nmiWatchdog: ReturnType<typeof setInterval> | undefined;

  /**
   * The NMI watchdog: a busy CPU whose local timer interrupt count does not
   * move for hardLockupMs takes no interrupt at all — a hard lockup. It runs
   * on the host, as the NMI lives outside the stuck CPU, and writes the
   * report into that CPU's log as an NMI would.
   */
  private startNmiWatchdog(): void {
    const a = this.mem.i32;
    const limit = a[H_HARDLOCKUP_MS]! || 10_000;
    const last = new Array<number>(this.cpus).fill(-1);
    const since = new Array<number>(this.cpus).fill(performance.now());
    const reported = new Array<boolean>(this.cpus).fill(false);
    this.nmiWatchdog = setInterval(
      () => {
        const now = performance.now();
        for (let c = 0; c < this.cpus; c++) {
          const f = (x: number): number => Atomics.load(a, this.mem.cpu(c, x));
          const loc = f(PC_LOC_COUNT);
          if (f(PC_IDLE) === 1 || f(PC_HALTED) !== 0 || loc !== last[c]) {
            last[c] = loc;
            since[c] = now;
            reported[c] = false;
            continue;
          }
          if (!reported[c] && now - since[c]! > limit) {
            reported[c] = true;
            const pid = f(PC_CURRENT_PID);
            const say = (s: string): void => log_store(this.mem, c, 3, pid, 0, s);
            say(`NMI watchdog: Watchdog detected hard LOCKUP on cpu ${c}`);
            say(`CPU: ${c} PID: ${pid} Comm: ${pid ? commOfPid(this.mem, pid) : `swapper/${c}`} Not tainted 6.12.0-kdefer #1`);
            say(`doing: ${describeActivity(this.mem, c)} (no interrupt taken for ${Math.round(now - since[c]!)} ms)`);
            // and the NMI itself: at its next preemption point, even with interrupts off, the CPU prints its backtrace
            if (!this.pump) {
              Atomics.or(a, this.mem.cpu(c, PC_NMI_REASON), NMI_REASON_WATCHDOG);
              kick_cpu(this.mem, c, REQ_NMI);
            }
          }
        }
      },
      Math.max(100, Math.floor(limit / 4)),
    );
    this.nmiWatchdog.unref();
  }

  /** Number of CPUs. */
  get cpus(): number {
    return this.mem.g.cpus;
  }

  /**
   * Boot options every later boot in this process starts from (a command's
   * `--trace` sets `trace: true` here); a boot's own options win.
   */
  static readonly defaults: Partial<MachineOptions> = {};
  private static readonly shutdownHooks = new Set<(m: Machine) => void>();
  /**
   * Run `hook(machine)` at the start of every shutdown (the machine is still
   * readable: dmesg, trace, /proc). @returns a function that removes the hook.
   */
  static onShutdown(hook: (m: Machine) => void): () => void {
    Machine.shutdownHooks.add(hook);
    return () => Machine.shutdownHooks.delete(hook);
  }

  /**
   * Boot a machine: one worker thread per CPU, online when this resolves,
   * with `modules` loaded on every CPU.
   */
  static async boot(opts: MachineOptions = {}): Promise<Machine> {
    opts = { ...Machine.defaults, ...opts };
    const cpus = opts.cpus ?? Math.min(MAX_CPUS, Math.max(2, availableParallelism()));
    const mem = setup_machine_memory({ ...opts, cpus });
    const workers: Worker[] = [];
    const ports: MessagePort[] = [];
    const apis: Remote<CpuApi>[] = [];
    const entry = new URL('./cpu.js', import.meta.url);
    let lost: () => string | undefined = () => undefined;
    const pump = opts.schedule ? new DetPump(mem, () => lost()) : null;
    for (let cpu = 0; cpu < cpus; cpu++) {
      const { port1, port2 } = new MessageChannel();
      const startup: CpuStartup = { sab: mem.sab, geometry: mem.g, cpu, port: port2 };
      const w = new Worker(entry, { workerData: startup, transferList: [port2], name: `cpu${cpu}` });
      workers.push(w);
      ports.push(port1);
      apis.push(wrap<CpuApi>(pump ? detEndpoint(pump, cpu, port1) : hostEndpoint(port1, () => kick_cpu_control(mem, cpu))));
    }
    const m = new Machine(mem, workers, ports, apis, pump, opts.schedule);
    lost = () => (m.lost.size > 0 ? [...m.lost.values()].join('; ') : undefined);
    if (!pump) m.startNmiWatchdog(); // in deterministic mode a lockup is the schedule's, seen by the CPUs' own watchdogs
    const failure = new Promise<never>((_, reject) => {
      for (const [cpu, w] of workers.entries()) {
        w.once('error', (e) => reject(new KdeferError(`CPU ${cpu} failed to start: ${e instanceof Error ? e.message : String(e)}`)));
      }
    });
    failure.catch(() => {});
    try {
      const timeout = opts.bootTimeoutMs ?? 30_000;
      if (pump) await Promise.race([pump.boot(timeout), failure]);
      await Promise.race([
        Promise.all(apis.map((a) => a.ping())),
        failure,
        rejectAfter(timeout, `boot: CPUs not online after ${timeout} ms`),
      ]);
      if (opts.modules && opts.modules.length > 0) await m.loadModules(opts.modules);
    } catch (e) {
      await m.shutdown();
      throw e;
    }
    return m;
  }

  /** Load modules on every CPU (each runs its init once per CPU). */
  async loadModules(modules: (string | URL)[]): Promise<Record<string, string[]>> {
    const urls = modules.map(moduleUrl);
    const res = await Promise.all(this.cpusApi.map((a) => a.loadModules(urls)));
    return res[0]!;
  }

  /**
   * Run `module.entry(...args)` in process context on `cpu`, as a task, and
   * return its result. Rejects with the entry's error, or if the CPU halts.
   */
  async call<T = unknown>(cpu: number, module: string, entry: string, ...args: unknown[]): Promise<T> {
    this.checkCpu(cpu);
    if (this.stopped) throw new KdeferError('machine is shut down');
    const gone = this.exitPromises[cpu]!.then(() => {
      throw new KdeferError(this.lost.get(cpu) ?? `CPU ${cpu} stopped`);
    });
    const racers: Promise<unknown>[] = [this.cpusApi[cpu]!.call(module, entry, args), gone];
    if (this.pump) racers.push(this.pump.stuck());
    return (await Promise.race(racers)) as T;
  }

  /**
   * Assert IRQ `irq` as a device would: delivered to one CPU of its affinity
   * (round-robin among them by default).
   * @returns the CPU it went to, or -1 if the line is disabled
   */
  raiseIrq(irq: number): number {
    checkIrq(this.mem, irq, 'raiseIrq');
    // Deterministic mode: applied while the host holds the baton (-1 when queued until it does).
    if (this.pump) return this.pump.hostOp(() => assertIrq(this.mem, irq)) ?? -1;
    return assertIrq(this.mem, irq);
  }

  /**
   * Raise an NMI on `cpu`: it is taken at that CPU's next preemption point,
   * even with interrupts disabled or inside a hardirq handler (not inside
   * another NMI: it stays latched until that one returns); /proc/interrupts
   * counts it in the NMI row.
   */
  raiseNmi(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new KdeferError(`raiseNmi: CPU ${String(cpu)} does not exist (CPUs 0-${this.cpus - 1})`);
    }
    if (this.pump) {
      this.pump.hostOp(() => kick_cpu(this.mem, cpu, REQ_NMI));
      return;
    }
    kick_cpu(this.mem, cpu, REQ_NMI);
  }

  /** Route `irq` to the CPUs of `mask` (a bitmask or a list of CPUs). */
  setIrqAffinity(irq: number, mask: number | number[]): void {
    checkIrq(this.mem, irq, 'setIrqAffinity');
    if (this.pump) this.pump.hostOp(() => irqSetAffinityMem(this.mem, irq, mask));
    else irqSetAffinityMem(this.mem, irq, mask);
  }

  /** Whether this machine runs in deterministic mode (boot option `schedule`). */
  get deterministic(): boolean {
    return this.pump !== null;
  }

  /**
   * Let time pass: `ms` of virtual time in deterministic mode (the machine
   * runs, timers fire on the way), `ms` of wall time otherwise.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new KdeferError(`advance: ${String(ms)} is not a number of milliseconds >= 0`);
    if (this.pump) return this.pump.advance(ms);
    await delay(ms);
  }

  /**
   * Deterministic mode: the schedule this run followed — the strategy as
   * booted, the steps taken, virtual time, and the switches (step, cpu) a
   * replay feeds back; with the divergence when a replay left its schedule.
   * Throws in the free-running mode.
   */
  scheduleRecord(): { schedule: ScheduleOptions; record: DetRecord; divergence: DetDivergence | null } {
    if (!this.pump || !this.scheduleOpts)
      throw new KdeferError('scheduleRecord: this machine was booted without a schedule (not deterministic)');
    if (det_host_holds(this.mem)) det_finish_replay(this.mem);
    return { schedule: this.scheduleOpts, record: det_read_record(this.mem), divergence: det_divergence(this.mem) };
  }

  /**
   * Resolve when no CPU has a pending interrupt, softirq or runnable task
   * (timers waiting for their time do not count).
   */
  async quiesce(opts: QuiesceOptions = {}): Promise<void> {
    const timeout = opts.timeoutMs ?? 30_000;
    if (this.pump) {
      await Promise.race([this.pump.quiesce(), rejectAfter(timeout, `quiesce: still busy after ${timeout} ms:\n${this.cpuStatus()}`)]);
      return;
    }
    const t0 = performance.now();
    let stable = 0;
    for (;;) {
      const a1 = Atomics.load(this.mem.i32, H_ACTIVITY);
      const idle = this.allIdle();
      const a2 = Atomics.load(this.mem.i32, H_ACTIVITY);
      if (idle && a1 === a2) {
        if (++stable >= 2) return;
      } else stable = 0;
      if (performance.now() - t0 > timeout) {
        throw new KdeferError(`quiesce: still busy after ${timeout} ms:\n${this.cpuStatus()}`);
      }
      await new Promise((r) => setTimeout(r, stable > 0 ? 0 : 1));
    }
  }

  private allIdle(): boolean {
    const a = this.mem.i32;
    for (let c = 0; c < this.cpus; c++) {
      if (a[this.mem.cpu(c, PC_HALTED)] !== 0) continue;
      if (Atomics.load(a, this.mem.cpu(c, PC_IDLE)) !== 1) return false;
      if ((Atomics.load(a, this.mem.cpu(c, PC_IRQ_REQUEST)) & (REQ_HARDIRQ | REQ_RESCHED | REQ_CALL)) !== 0) return false;
      if (Atomics.load(a, this.mem.cpu(c, PC_SOFTIRQ_PENDING)) !== 0) return false;
      if (Atomics.load(a, this.mem.cpu(c, PC_NR_RUNNING)) !== 0) return false;
      if (Atomics.load(a, this.mem.cpu(c, PC_CONTROL_HOST)) !== 0) return false;
    }
    return true;
  }

  /** One line per CPU: idle, request bits, pending softirqs, runnable tasks. */
  cpuStatus(): string {
    const a = this.mem.i32;
    const lines: string[] = [];
    for (let c = 0; c < this.cpus; c++) {
      const f = (x: number): number => Atomics.load(a, this.mem.cpu(c, x));
      lines.push(
        `CPU${c}: ${f(PC_HALTED) ? 'halted' : f(PC_IDLE) ? 'idle' : 'busy'} req=${f(PC_IRQ_REQUEST).toString(16)} softirq_pending=${f(PC_SOFTIRQ_PENDING).toString(16)} nr_running=${f(PC_NR_RUNNING)}`,
      );
    }
    return lines.join('\n');
  }

  /** The kernel log, as `dmesg` prints it. */
  dmesg(): string {
    return formatLog(this.mem);
  }
  /** The kernel log as records (CPU, context, level, time, text). */
  dmesgRecords(from = 0): LogRecord[] {
    return readLog(this.mem, from);
  }
  /**
   * The reports printed so far (BUG, WARNING, KASAN, lockdep, lockup, Oops,
   * INFO, panic), oldest first; with `since`, those whose opening record has
   * that sequence number or a later one. Each names its kind, title line,
   * CPU, record seq/time and its full text. Printk decides what a report is.
   */
  reports(since = 0): Report[] {
    return readReports(this.mem, since);
  }
  /** /proc/softirqs */
  procSoftirqs(): string {
    return procSoftirqs(this.mem);
  }
  /** /proc/interrupts */
  procInterrupts(): string {
    return procInterrupts(this.mem);
  }
  /** /proc/net/softnet_stat: one line per CPU, hex fields (processed, dropped, time_squeeze, ...). */
  procNetSoftnetStat(): string {
    return procNetSoftnetStat(this.mem);
  }
  /** Every CPU's softnet_data counters (napi.ts). */
  softnetStat(): SoftnetStat[] {
    return softnetStat(this.mem);
  }
  /** Softirq handler runs [cpu][vector]. */
  softirqCounts(): number[][] {
    return kstat_softirqs(this.mem);
  }
  /** Deliveries of `irq` per CPU. */
  irqCounts(irq: number): number[] {
    return kstat_irqs(this.mem, irq);
  }
  /**
   * The workqueue worker pools and their kworkers, read from shared memory:
   * per pool (BH, normal and highpri per CPU, then the unbound ones) its
   * counters and each kworker's state (idle, running, sleeping) and current
   * work, with the comm /proc shows ("kworker/0:1+events").
   */
  workers(): PoolInfo[] {
    return readWorkers(this.mem);
  }
  /** The kernel threads and tasks, by CPU, with their kernel names and states. */
  threads(): ThreadInfo[] {
    return readTasks(this.mem).sort((x, y) => x.cpu - y.cpu || x.pid - y.pid);
  }
  /** `ps -eo pid,psr,stat,comm`: kernel threads in brackets. */
  ps(): string {
    const rows = this.threads().map(
      (t) => `${String(t.pid).padStart(5)} ${String(t.cpu).padStart(3)} ${t.state.padEnd(4)} ${t.kthread ? `[${t.comm}]` : t.comm}`,
    );
    return ['  PID PSR STAT COMMAND', ...rows].join('\n') + '\n';
  }
  /** A shared array a module declared, by name. */
  sharedArray<C extends TypedCtor>(name: string, ctor: C, length?: number): InstanceType<C> {
    return hostSharedArray(this.mem, name, ctor, length);
  }
  /** A per-CPU array a module declared, one view per CPU. */
  perCpuArray<C extends TypedCtor>(name: string, ctor: C, length = 1): InstanceType<C>[] {
    return hostPercpuArray(this.mem, name, ctor, length);
  }
  /** The trace (boot with `trace: true`) as Chrome trace-event JSON, for Perfetto. */
  trace(): ReturnType<typeof chromeTrace> {
    return chromeTrace(this.mem);
  }
  /** The raw trace records of every CPU. */
  traceRecords(): TraceRecord[] {
    return readTrace(this.mem);
  }
  /** Write the trace to `file` (Chrome trace-event JSON). @returns the number of events */
  async writeTrace(file: string): Promise<number> {
    const t = this.trace();
    await writeFile(file, JSON.stringify(t));
    return t.traceEvents.length;
  }
  /** jiffies now. */
  jiffies(): number {
    return this.pump ? jiffiesAt(this.mem, det_vclock(this.mem)) : jiffiesAt(this.mem);
  }
  /** Whether a BUG or Oops stopped the machine. */
  panicked(): boolean {
    return Atomics.load(this.mem.i32, H_STATE) === MACHINE_PANIC;
  }
  /** The CPU that panicked first, -1 if none. */
  panicCpu(): number {
    return Atomics.load(this.mem.i32, H_PANIC_CPU);
  }
  /** KASAN reports so far. */
  kasanReports(): number {
    return kasanReportCount(this.mem);
  }
  /** Lock validator reports so far. */
  lockdepReports(): number {
    return lockdepReportCount(this.mem);
  }
  /** Oopses and BUGs so far. */
  oopses(): number {
    return Atomics.load(this.mem.i32, H_OOPS_COUNT);
  }
  /** Which CPUs halted after a BUG. */
  haltedCpus(): number[] {
    const out: number[] = [];
    for (let c = 0; c < this.cpus; c++) if (this.mem.i32[this.mem.cpu(c, PC_HALTED)] !== 0) out.push(c);
    return out;
  }
  /** Worker threads still running (0 after shutdown). */
  liveThreads(): number {
    return this.cpuThreads.length - this.exited;
  }

  /**
   * Stop every CPU and end its thread. Busy or stuck CPUs are interrupted
   * at their next preemption point; a thread that does not end within
   * `graceMs` is terminated. When this resolves no worker thread is left.
   */
  async shutdown(graceMs = 2000): Promise<void> {
    if (this.stopped) {
      await Promise.all(this.exitPromises);
      return;
    }
    this.stopped = true;
    this.pump?.end();
    for (const h of Machine.shutdownHooks) {
      try {
        h(this);
      } catch {
        /* a hook must not keep the machine from stopping */
      }
    }
    clearInterval(this.nmiWatchdog);
    const a = this.mem.i32;
    if (Atomics.load(a, H_STATE) !== MACHINE_PANIC) Atomics.store(a, H_STATE, MACHINE_SHUTDOWN);
    for (let c = 0; c < this.cpus; c++) kick_cpu(this.mem, c, REQ_STOP);
    await Promise.all(
      this.cpusApi.map(async (api, c) => {
        const done = this.exitPromises[c]!;
        const stop = api.stop().catch(() => {});
        const ok = await Promise.race([done.then(() => true), stop.then(() => done.then(() => true)), delay(graceMs).then(() => false)]);
        if (!ok) await this.cpuThreads[c]!.terminate();
      }),
    );
    await Promise.all(this.exitPromises);
    for (const p of this.ports) p.close();
  }

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus)
      throw new KdeferError(`CPU ${String(cpu)} does not exist (CPUs 0-${this.cpus - 1})`);
  }
}

/** comlink's endpoint over a Node MessagePort, ringing the CPU after each post. */
function hostEndpoint(port: MessagePort, ring: () => void): Endpoint {
  const map = new Map<Listener, (data: unknown) => void>();
  return {
    postMessage(msg: unknown, transfer?: unknown[]) {
      port.postMessage(msg, transfer as never);
      ring();
    },
    addEventListener(_type: string, l: Listener) {
      const f = (data: unknown): void => {
        if (typeof l === 'function') l({ data } as MessageEvent);
        else l.handleEvent({ data } as MessageEvent);
      };
      map.set(l, f);
      port.on('message', f);
    },
    removeEventListener(_type: string, l: Listener) {
      const f = map.get(l);
      if (f) port.off('message', f);
      map.delete(l);
    },
  };
}

/** comlink's endpoint in deterministic mode: posts go through the host pump. */
function detEndpoint(pump: DetPump, cpu: number, port: MessagePort): Endpoint {
  const listeners = new Set<Listener>();
  pump.addPort(cpu, port, (data) => {
    for (const l of listeners) {
      if (typeof l === 'function') l({ data } as MessageEvent);
      else l.handleEvent({ data } as MessageEvent);
    }
  });
  return {
    postMessage: (msg: unknown, transfer?: unknown[]) => pump.post(cpu, msg, transfer),
    addEventListener: (_type: string, l: Listener) => listeners.add(l),
    removeEventListener: (_type: string, l: Listener) => listeners.delete(l),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
function rejectAfter(ms: number, msg: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new KdeferError(msg)), ms).unref());
}
