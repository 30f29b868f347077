/**
 * netdev.ts — the host face of the model network card: a device thread that
 * offers packets to a machine's RX rings at a set rate and raises their IRQs.
 *
 * The device runs outside the CPUs, in its own worker thread
 * (netdev_device.ts), so that the offered load does not depend on the CPUs
 * under test. It refills the rings in batches and sleeps in between, so
 * that on a small machine it takes little of the cores the CPUs need; it
 * measures its own CPU time, which the results report. The rings are a
 * shared array a driver module declared (the ring format is @kdefer/core's
 * nic.ts); the host hands the device their place, as a driver programs a
 * NIC's ring registers.
 *
 * The control block is a small SharedArrayBuffer of its own: the host
 * writes the rate and the state and rings CTL_WAKE; the device writes its
 * counters. Nothing of it goes through postMessage after start.
 */
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { type Geometry, type Mem, RxRing, RX_RING_DEFAULT, rx_ring_words, hostSharedArray, KdeferError, checkIrq } from '@kdefer/core';

// ------------------------------------------------------------ control block (Int32 words, Float64 slots)
export const CTL_STATE = 0; //       host: DEV_* below
export const CTL_WAKE = 1; //        host: bumped + notified on every change
export const CTL_GEN = 2; //         host: bumped when the rate or the limit changes
export const CTL_READY = 3; //       device: 1 once it runs its loop
export const CTL_INTERVAL_US = 4; // host: sleep between batches
export const CTL_PAUSED = 5; //      device: 1 while it waits in DEV_PAUSED (host waits on it)
export const CTL_I32_WORDS = 16;
// Float64 slots (index into the Float64Array over the same buffer)
export const F_RATE = 8; //          host: offered packets per second, all queues
export const F_MAX = 9; //           host: stop offering after this many (0: no limit)
export const F_OFFERED = 10; //      device: packets offered so far (written + missed)
export const F_CPU_MS = 11; //       device: its thread's CPU time while running (ms), -1 unknown
export const F_BUSY_MS = 12; //      device: wall time spent awake while running (ms)
export const F_RUN_MS = 13; //       device: wall time spent running (ms)
export const F_WAKEUPS = 14; //      device: batches
export const F_RAISES = 15; //       device: assertIrq calls
export const CTL_BYTES = 16 * 8;

export const DEV_PAUSED = 0;
export const DEV_RUNNING = 1;
export const DEV_EXIT = 2;

/** What the host hands the device thread. */
export interface DeviceStartup {
  sab: SharedArrayBuffer;
  geometry: Geometry;
  /** byte offset of ring 0 in `sab` */
  ringsByteOffset: number;
  ringSize: number;
  queues: number;
  /** queue q raises IRQ irqBase + q */
  irqBase: number;
  ctl: SharedArrayBuffer;
}

export interface NetDeviceOptions {
  /** name of the shared array (a driver module's) that holds the rings */
  rings: string;
  /** RX queues: ring q raises IRQ irqBase + q */
  queues: number;
  irqBase: number;
  /** descriptors per ring (power of two; default RX_RING_DEFAULT) */
  ringSize?: number;
  /** offered packets per second over all queues (default 0: nothing until setRate) */
  rate?: number;
  /** sleep between two batches, µs (default 500) */
  intervalUs?: number;
  /** stop offering after this many packets (default 0: no limit) */
  maxPackets?: number;
}

/** What the device did so far. */
export interface NetDeviceStats {
  /** packets offered (written to a ring or missed because it was full) */
  offered: number;
  /** per queue: packets written (the ring's head), missed, and waiting now */
  produced: number[];
  missed: number[];
  pending: number[];
  /** batches written and IRQs raised */
  wakeups: number;
  raises: number;
  /** wall time running, wall time awake, CPU time (ms; cpuMs -1 when the OS does not say) */
  runMs: number;
  busyMs: number;
  cpuMs: number;
  /** CPU time (or, if unknown, awake time) over running time */
  cpuShare: number;
}

/** A model network card attached to a machine's memory, driven from its own thread. */
export class NetDevice {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly rings: RxRing[];
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    ctl: SharedArrayBuffer,
    readonly queues: number,
    readonly irqBase: number,
    ringsView: Int32Array,
    readonly ringSize: number,
  ) {
    this.i32 = new Int32Array(ctl, 0, CTL_I32_WORDS);
    this.f64 = new Float64Array(ctl);
    this.rings = Array.from({ length: queues }, (_, q) => RxRing.of(ringsView, q, ringSize));
  }

  /**
   * Start the device thread, paused: nothing is offered until start().
   * `mem` is the machine's memory (machine.mem).
   */
  static async create(mem: Mem, opts: NetDeviceOptions): Promise<NetDevice> {
    const ringSize = opts.ringSize ?? RX_RING_DEFAULT;
    if (!Number.isInteger(opts.queues) || opts.queues < 1)
      throw new KdeferError(`NetDevice: queues=${String(opts.queues)} must be a positive integer`);
    checkIrq(mem, opts.irqBase, 'NetDevice irqBase');
    checkIrq(mem, opts.irqBase + opts.queues - 1, `NetDevice queue ${opts.queues - 1}`);
    const words = rx_ring_words(ringSize) * opts.queues;
    const view = hostSharedArray(mem, opts.rings, Int32Array);
    if (view.length < words)
      throw new KdeferError(
        `NetDevice: shared array '${opts.rings}' has ${view.length} words, ${opts.queues} rings of ${ringSize} need ${words}`,
      );
    const ctl = new SharedArrayBuffer(CTL_BYTES);
    const i32 = new Int32Array(ctl, 0, CTL_I32_WORDS);
    const f64 = new Float64Array(ctl);
    i32[CTL_STATE] = DEV_PAUSED;
    i32[CTL_INTERVAL_US] = Math.max(50, Math.round(opts.intervalUs ?? 500));
    f64[F_RATE] = opts.rate ?? 0;
    f64[F_MAX] = opts.maxPackets ?? 0;
    const startup: DeviceStartup = {
      sab: mem.sab,
      geometry: mem.g,
      ringsByteOffset: view.byteOffset,
      ringSize,
      queues: opts.queues,
      irqBase: opts.irqBase,
      ctl,
    };
    const worker = new Worker(new URL('./netdev_device.js', import.meta.url), { workerData: startup, name: 'netdev' });
    const failed = once(worker, 'error').then(([e]) => {
      throw new KdeferError(`NetDevice: the device thread failed: ${e instanceof Error ? e.message : String(e)}`);
    });
    failed.catch(() => {});
    const t0 = performance.now();
    while (Atomics.load(i32, CTL_READY) === 0) {
      await Promise.race([new Promise((r) => setTimeout(r, 2)), failed]);
      if (performance.now() - t0 > 10_000) {
        await worker.terminate();
        throw new KdeferError('NetDevice: the device thread did not start within 10 s');
      }
    }
    return new NetDevice(worker, ctl, opts.queues, opts.irqBase, view, ringSize);
  }

  private ring(): void {
    Atomics.add(this.i32, CTL_WAKE, 1);
    Atomics.notify(this.i32, CTL_WAKE);
    Atomics.notify(this.i32, CTL_STATE);
  }

  /** Start (or resume) offering packets at the current rate. */
  start(): void {
    Atomics.add(this.i32, CTL_GEN, 1);
    Atomics.store(this.i32, CTL_STATE, DEV_RUNNING);
    this.ring();
  }

  /** Stop offering; resolves once the device is idle (no batch half written). */
  async pause(): Promise<void> {
    Atomics.store(this.i32, CTL_STATE, DEV_PAUSED);
    this.ring();
    const t0 = performance.now();
    while (Atomics.load(this.i32, CTL_PAUSED) === 0 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 1));
  }

  /** Change the offered rate (packets per second over all queues) from now on. */
  setRate(pps: number): void {
    if (!(pps >= 0) || !Number.isFinite(pps)) throw new KdeferError(`NetDevice: rate ${pps} must be a finite number >= 0`);
    this.f64[F_RATE] = pps;
    Atomics.add(this.i32, CTL_GEN, 1);
    this.ring();
  }

  /** Stop offering after `n` packets in all (0: no limit). */
  setMaxPackets(n: number): void {
    this.f64[F_MAX] = n;
    Atomics.add(this.i32, CTL_GEN, 1);
    this.ring();
  }

  /** The device's counters now. */
  stats(): NetDeviceStats {
    const f = this.f64;
    const runMs = f[F_RUN_MS]!;
    const cpuMs = f[F_CPU_MS]!;
    const busyMs = f[F_BUSY_MS]!;
    return {
      offered: f[F_OFFERED]!,
      produced: this.rings.map((r) => r.head()),
      missed: this.rings.map((r) => r.missed()),
      pending: this.rings.map((r) => r.pending()),
      wakeups: f[F_WAKEUPS]!,
      raises: f[F_RAISES]!,
      runMs,
      busyMs,
      cpuMs,
      cpuShare: runMs > 0 ? (cpuMs >= 0 ? cpuMs : busyMs) / runMs : 0,
    };
  }

  /** End the device thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = once(this.worker, 'exit');
    Atomics.store(this.i32, CTL_STATE, DEV_EXIT);
    this.ring();
    const ok = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())]);
    if (!ok) await this.worker.terminate();
  }
}
