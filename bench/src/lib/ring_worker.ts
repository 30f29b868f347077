/**
 * ring_worker.ts — one side of the bare single-producer single-consumer ring
 * baseline: two plain worker threads, no kdefer.
 *
 * The producer publishes every item on its own (a slot write, then an
 * Atomics.store of the head), waiting while the ring is full; the consumer
 * spins on the head, calls a trivial function on the item and publishes its
 * tail. This is the ceiling of one-at-a-time dispatch between two threads.
 *
 * Shared layout (Int32 words, the indices on their own 128-byte lines):
 *   HEAD, TAIL, GO (host → both: the item count, 0 until then)
 *   RING..RING+SIZE  the slots
 *   and Float64 stamps T_START (producer, before the first item) and
 *   T_END (consumer, after the last), epoch ms.
 */
import { workerData, parentPort, isMainThread } from 'node:worker_threads';

export const HEAD = 0;
export const TAIL = 32;
export const GO = 64;
export const RING = 128;
export const SIZE = 1024;
export const RING_BYTES = (RING + SIZE) * 4;
/** Float64 indices, after the ring. */
export const T_START = RING_BYTES / 8;
export const T_END = T_START + 16;
export const TOTAL_BYTES = RING_BYTES + 32 * 8;

export interface RingJob {
  role: 'producer' | 'consumer';
  sab: SharedArrayBuffer;
}

let sink = 0;
function trivial(v: number): void {
  sink = (sink + v) | 0;
}

function produce(a: Int32Array, f: Float64Array, n: number): void {
  f[T_START] = performance.timeOrigin + performance.now();
  let head = 0;
  for (let i = 0; i < n; i++) {
    while (head - Atomics.load(a, TAIL) >= SIZE);
    a[RING + (head & (SIZE - 1))] = i;
    Atomics.store(a, HEAD, ++head);
  }
}

function consume(a: Int32Array, f: Float64Array, n: number): void {
  let tail = 0;
  while (tail < n) {
    while (Atomics.load(a, HEAD) === tail);
    trivial(a[RING + (tail & (SIZE - 1))]!);
    Atomics.store(a, TAIL, ++tail);
  }
  f[T_END] = performance.timeOrigin + performance.now();
}

if (!isMainThread && workerData && (workerData as Partial<RingJob>).role) {
  const job = workerData as RingJob;
  const a = new Int32Array(job.sab);
  const f = new Float64Array(job.sab);
  let n = 0;
  while ((n = Atomics.load(a, GO)) === 0) Atomics.wait(a, GO, 0, 100);
  if (job.role === 'producer') produce(a, f, n);
  else consume(a, f, n);
  parentPort!.postMessage(sink);
}
