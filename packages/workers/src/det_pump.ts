/**
 * det_pump.ts — the host's side of deterministic mode (boot option `schedule`).
 *
 * The host is one more baton holder (@kdefer/core det.ts). While it holds
 * the baton no CPU runs, so everything the host does to the machine — post a
 * control message (comlink: calls, module loads), raise an IRQ, route one —
 * is applied then, and only then: queued while a CPU runs. The pump:
 *
 * - boots the CPUs one at a time (their init takes shared slots in order);
 * - when host operations are waiting, applies them and hands the baton to
 *   the CPU the strategy picks among the runnable ones;
 * - when the baton comes back (no CPU can run), drains every CPU's port with
 *   receiveMessageOnPort, so that the replies that came in are seen before
 *   it decides anything, and lets the host's own code run one macrotask;
 * - while calls are outstanding (or an advance() is asked for) and nothing
 *   can run, jumps virtual time to the earliest idle CPU's next event, as a
 *   discrete-event simulator does;
 * - when nothing can run, no timer is armed and calls are still outstanding,
 *   rejects them with a clear error rather than wait forever.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import {
  type Mem,
  KdeferError,
  kick_cpu_control,
  det_choose,
  det_host_grant,
  det_host_holds,
  det_next_deadline,
  det_advance_clock,
  det_vclock,
  det_end,
  det_cpu_booting,
  det_finish_replay,
  DET_HOST,
  DP_IDLE,
  H_DET_STEP,
  H_DET_HOST_BATON,
} from '@kdefer/core';

/** The longest a deterministic run may go in virtual time while calls wait (10 virtual minutes). */
export const DET_MAX_VIRTUAL_MS = 600_000;

type Dispatch = (data: unknown) => void;

interface Deferred {
  resolve: () => void;
  reject: (e: Error) => void;
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The host pump of one deterministic machine. */
export class DetPump {
  private readonly ports: MessagePort[] = [];
  private readonly dispatch: Dispatch[] = [];
  private readonly outbox: [number, unknown, unknown[] | undefined][] = [];
  private readonly ops: (() => void)[] = [];
  private readonly outstanding = new Map<string, number>();
  private quiesceWaiters: Deferred[] = [];
  private advanceWaiters: { until: number; d: Deferred }[] = [];
  private stuckSignal!: Promise<never>;
  private rejectStuck!: (e: Error) => void;
  private running = false;
  private booted = false;
  private ended = false;

  constructor(
    private readonly mem: Mem,
    private readonly lostReason: () => string | undefined,
  ) {
    this.newStuckSignal();
  }

  private newStuckSignal(): void {
    this.stuckSignal = new Promise<never>((_, reject) => (this.rejectStuck = reject));
    this.stuckSignal.catch(() => {});
  }

  /** A promise that rejects when the machine can never answer the calls outstanding now. */
  stuck(): Promise<never> {
    return this.stuckSignal;
  }

  /** Register CPU `cpu`'s control port and what hands its messages to comlink. */
  addPort(cpu: number, port: MessagePort, dispatch: Dispatch): void {
    this.ports[cpu] = port;
    const d: Dispatch = (data) => {
      const id = (data as { id?: unknown } | null)?.id;
      if (typeof id === 'string') this.outstanding.delete(id);
      dispatch(data);
    };
    this.dispatch[cpu] = d;
    port.on('message', d);
  }

  /** comlink's postMessage to `cpu`: sent when the host holds the baton. */
  post(cpu: number, msg: unknown, transfer?: unknown[]): void {
    const id = (msg as { id?: unknown } | null)?.id;
    if (this.ended) {
      this.ports[cpu]!.postMessage(msg, transfer as never);
      kick_cpu_control(this.mem, cpu);
      return;
    }
    if (typeof id === 'string') this.outstanding.set(id, cpu);
    this.outbox.push([cpu, msg, transfer]);
    this.wake();
  }

  /**
   * A host operation on the machine's memory (raise an IRQ, route one):
   * applied now if the host holds the baton, else when it next does.
   * @returns what `op` returned, or undefined when it was queued.
   */
  hostOp<T>(op: () => T): T | undefined {
    if (this.ended || (det_host_holds(this.mem) && this.booted)) return op();
    this.ops.push(op);
    this.wake();
    return undefined;
  }

  /** Resolve when no CPU can run (timers waiting for their time do not count). */
  quiesce(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.quiesceWaiters.push({ resolve, reject });
      this.wake();
    });
  }

  /** Run the machine until virtual time has moved `ms` forward (timers fire on the way). */
  advance(ms: number): Promise<void> {
    const until = det_vclock(this.mem) + ms;
    return new Promise((resolve, reject) => {
      this.advanceWaiters.push({ until, d: { resolve, reject } });
      this.wake();
    });
  }

  /** Boot the CPUs one at a time: each runs its init holding the baton. */
  async boot(timeoutMs: number): Promise<void> {
    const t0 = performance.now();
    for (let c = 0; c < this.mem.g.cpus; c++) {
      while (!det_cpu_booting(this.mem, c)) {
        this.checkLost();
        if (performance.now() - t0 > timeoutMs) throw new KdeferError(`boot: CPU ${c} not up after ${timeoutMs} ms (deterministic mode)`);
        await new Promise((r) => setTimeout(r, 1));
      }
      det_host_grant(this.mem, c);
      await this.waitHost();
    }
    this.booted = true;
    this.wake();
  }

  /** Stop pumping (shutdown): every CPU runs free so that it can stop. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    det_end(this.mem);
    const e = new KdeferError('machine is shut down');
    for (const w of this.quiesceWaiters) w.reject(e);
    for (const w of this.advanceWaiters) w.d.reject(e);
    this.quiesceWaiters = [];
    this.advanceWaiters = [];
    this.rejectStuck(e);
  }

  private wake(): void {
    if (!this.running && this.booted && !this.ended) void this.loop();
  }

  private checkLost(): void {
    const why = this.lostReason();
    if (why !== undefined) throw new KdeferError(why);
  }

  private async waitHost(): Promise<void> {
    const a = this.mem.i32;
    while (!det_host_holds(this.mem)) {
      if (this.ended) return;
      this.checkLost();
      const r = Atomics.waitAsync(a, H_DET_HOST_BATON, 0, 1000);
      if (r.async) await r.value;
    }
  }

  private drain(): void {
    for (const [cpu, port] of this.ports.entries()) {
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) this.dispatch[cpu]!(m.message);
    }
  }

  private fail(e: Error): void {
    this.rejectStuck(e);
    this.newStuckSignal();
    this.outstanding.clear();
    for (const w of this.advanceWaiters) w.d.reject(e);
    this.advanceWaiters = [];
  }

  private async loop(): Promise<void> {
    this.running = true;
    const m = this.mem;
    try {
      for (;;) {
        if (this.ended) return;
        this.drain();
        await immediate(); // the host's continuations run and may queue more
        if (this.ended) return;
        this.drain();
        for (const op of this.ops.splice(0)) op();
        for (const [cpu, msg, transfer] of this.outbox.splice(0)) {
          this.ports[cpu]!.postMessage(msg, transfer as never);
          kick_cpu_control(m, cpu);
        }
        const next = det_choose(m, DET_HOST, DP_IDLE, m.i32[H_DET_STEP]!);
        if (next !== DET_HOST) {
          det_host_grant(m, next);
          try {
            await this.waitHost();
          } catch (e) {
            this.fail(e as Error);
            return;
          }
          continue;
        }
        // Nothing can run.
        if (this.quiesceWaiters.length > 0) {
          for (const w of this.quiesceWaiters.splice(0)) w.resolve();
          continue;
        }
        const now = det_vclock(m);
        for (const w of this.advanceWaiters.filter((x) => x.until <= now)) w.d.resolve();
        this.advanceWaiters = this.advanceWaiters.filter((x) => x.until > now);
        const limit = Math.min(...this.advanceWaiters.map((x) => x.until));
        if (this.outstanding.size === 0 && this.advanceWaiters.length === 0) {
          det_finish_replay(m);
          return;
        }
        const t = det_next_deadline(m);
        if (this.outstanding.size === 0 && t > limit) {
          det_advance_clock(m, limit);
          continue;
        }
        if (t === Infinity || t - m.bootTime() > DET_MAX_VIRTUAL_MS) {
          const calls = [...this.outstanding.values()].map((c) => `CPU ${c}`).join(', ');
          this.fail(
            new KdeferError(
              t === Infinity
                ? `deterministic mode: every CPU is idle with no timer armed, and ${this.outstanding.size} host call(s) never returned (${calls}): a lost wake-up or a deadlock`
                : `deterministic mode: ${DET_MAX_VIRTUAL_MS / 1000} virtual seconds passed and ${this.outstanding.size} host call(s) never returned (${calls})`,
            ),
          );
          continue;
        }
        det_advance_clock(m, t);
      }
    } finally {
      this.running = false;
    }
  }
}
