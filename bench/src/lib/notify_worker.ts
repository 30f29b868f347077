/**
 * notify_worker.ts — one side of the bare one-way wake-up baseline: two plain
 * worker threads, no kdefer.
 *
 * The waiter parks in Atomics.wait on the doorbell word (or, for the busy
 * baseline, spins on it with Atomics.load) and stamps the time when it sees
 * the doorbell change. The sender, on each command from the host, takes
 * `count` samples: pause `gapUs` (so that a parking waiter is parked),
 * stamp, store the next doorbell value, Atomics.notify, spin until the
 * waiter has stamped; it writes the latencies (µs) to the shared result
 * slots and acknowledges. The host drives it sample by sample, to
 * interleave it with kdefer's samples, or in blocks.
 *
 * Timestamps are (timeOrigin - hostOrigin) + now(), in ms: valid across
 * threads whatever each thread's origin, without the 0.24 µs rounding of a
 * raw epoch value (timeOrigin + now is ~1.8e12 ms, whose ulp is 2^-12 ms).
 *
 * Shared layout (Int32 words, each on its own 128-byte line):
 *   ctl[DOOR]   doorbell, written by the sender; -1 tells the waiter to exit
 *   ctl[DONE]   last doorbell value the waiter stamped
 *   ctl[READY]  1 once the waiter runs
 *   ctl[CMD]    host → sender: a command sequence number (-1: exit)
 *   ctl[COUNT]  host → sender: samples to take for this command
 *   ctl[ACK]    sender → host: the command sequence number it finished
 *   ts[SEND], ts[WAKE]  stamps; res[0..count-1] the latencies of the last command,
 *   res[MAX_COUNT + i] 1 where the sender's wait loop stalled (preempted), else 0
 */
import { workerData, parentPort, isMainThread } from 'node:worker_threads';

export const DOOR = 0;
export const DONE = 32;
export const READY = 64;
export const CMD = 96;
export const COUNT = 112;
export const ACK = 128;
export const CTL_BYTES = 1024;
export const SEND = 0;
export const WAKE = 16;
export const TS_SLOTS = 32;
/** The most samples one command may take. */
export const MAX_COUNT = 1024;

/** A stall of the sender's wait loop longer than this means its thread was preempted (µs). */
export const PREEMPTED_GAP_US = 5;

export function notifySabBytes(): number {
  return CTL_BYTES + TS_SLOTS * 8 + 2 * MAX_COUNT * 8;
}

export interface NotifyJob {
  role: 'waiter' | 'sender';
  sab: SharedArrayBuffer;
  /** the waiter spins instead of parking */
  spin: boolean;
  gapUs: number;
  /** the host's performance.timeOrigin: the common base of every stamp */
  hostOrigin: number;
}

/** How long the sender waits for one wake-up before counting it lost (ms). */
const LOST_AFTER_MS = 1000;

function waiter(ctl: Int32Array, ts: Float64Array, job: NotifyJob, base: number): void {
  Atomics.store(ctl, READY, 1);
  let seen = 0;
  for (;;) {
    let v: number;
    if (job.spin) while ((v = Atomics.load(ctl, DOOR)) === seen);
    else while ((v = Atomics.load(ctl, DOOR)) === seen) Atomics.wait(ctl, DOOR, seen);
    ts[WAKE] = base + performance.now();
    if (v < 0) return;
    seen = v;
    Atomics.store(ctl, DONE, v);
  }
}

function sender(ctl: Int32Array, ts: Float64Array, res: Float64Array, job: NotifyJob, base: number): void {
  while (Atomics.load(ctl, READY) === 0);
  let door = 0;
  let cmd = 0;
  for (;;) {
    Atomics.wait(ctl, CMD, cmd);
    cmd = Atomics.load(ctl, CMD);
    if (cmd < 0) break;
    const count = Math.min(Atomics.load(ctl, COUNT), MAX_COUNT);
    for (let i = 0; i < count; i++) {
      const pauseEnd = performance.now() + job.gapUs / 1000;
      while (performance.now() < pauseEnd);
      const t0 = base + performance.now();
      ts[SEND] = t0;
      door++;
      Atomics.store(ctl, DOOR, door);
      Atomics.notify(ctl, DOOR, 1);
      // The same wait loop as the kdefer sender's: note its longest stall.
      const start = performance.now();
      let prev = start;
      let maxGap = 0;
      let ok = true;
      while (Atomics.load(ctl, DONE) !== door) {
        const now = performance.now();
        if (now - prev > maxGap) maxGap = now - prev;
        prev = now;
        if (now - start > LOST_AFTER_MS) {
          ok = false;
          break;
        }
      }
      res[i] = ok ? (ts[WAKE]! - t0) * 1e3 : NaN;
      res[MAX_COUNT + i] = maxGap * 1e3 > PREEMPTED_GAP_US ? 1 : 0;
    }
    Atomics.store(ctl, ACK, cmd);
    Atomics.notify(ctl, ACK);
  }
  Atomics.store(ctl, DOOR, -1);
  Atomics.notify(ctl, DOOR, 1);
}

// The host imports this file for its layout constants: run only as a worker.
if (!isMainThread && parentPort !== null) {
  const job = workerData as NotifyJob;
  const ctl = new Int32Array(job.sab, 0, CTL_BYTES / 4);
  const ts = new Float64Array(job.sab, CTL_BYTES, TS_SLOTS);
  const res = new Float64Array(job.sab, CTL_BYTES + TS_SLOTS * 8, 2 * MAX_COUNT);
  const base = performance.timeOrigin - job.hostOrigin;
  if (job.role === 'waiter') waiter(ctl, ts, job, base);
  else sender(ctl, ts, res, job, base);
}
