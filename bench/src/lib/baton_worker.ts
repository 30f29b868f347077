/**
 * baton_worker.ts — the bare two-thread Atomics ping-pong that
 * bench/src/explore.ts sets against deterministic mode's baton hand-off:
 * the same protocol as packages/core/src/det.ts (store the other side's
 * word, notify only if it parked; spin SPIN loads, then Atomics.wait), with
 * no kernel around it. Worker `side` (0 or 1) waits for its turn, passes it,
 * `rounds` times; side 0 posts the elapsed ms.
 */
import { workerData, parentPort } from 'node:worker_threads';

export interface BatonJob {
  sab: SharedArrayBuffer;
  side: number;
  rounds: number;
}

/** words: [0] side 0's baton, [1] side 1's, [2] side 0 parked, [3] side 1 parked, [4] ready count */
export const BATON_WORDS = 8;
const SPIN = 4000; // as det.ts

const { sab, side, rounds } = workerData as BatonJob;
const a = new Int32Array(sab);
const me = side;
const other = 1 - side;

function park(): void {
  for (let i = 0; i < SPIN; i++) if (Atomics.load(a, me) !== 0) return;
  Atomics.store(a, 2 + me, 1);
  while (Atomics.load(a, me) === 0) Atomics.wait(a, me, 0, 100);
  Atomics.store(a, 2 + me, 0);
}
function give(): void {
  Atomics.store(a, me, 0);
  Atomics.store(a, other, 1);
  if (Atomics.load(a, 2 + other) !== 0) Atomics.notify(a, other);
}

Atomics.add(a, 4, 1);
while (Atomics.load(a, 4) < 2) {
  /* both up */
}
const t0 = performance.now();
for (let i = 0; i < rounds; i++) {
  if (Atomics.load(a, me) === 0) park();
  give();
}
if (side === 0) {
  park(); // the last pass comes back
  parentPort!.postMessage(performance.now() - t0);
}
