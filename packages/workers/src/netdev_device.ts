/**
 * netdev_device.ts — the entry of the model network card's thread.
 *
 * Validates its startup data once, then runs one loop (device_loop) that
 * parks on the control block's CTL_WAKE word between batches. Each batch:
 * the packets due since the rate was set (a token bucket over the monotonic
 * clock, so that a late wake-up makes a bigger batch, not a lower rate) are
 * spread round-robin over the RX queues — what a NIC's RSS hash does to
 * many flows — written into each queue's ring (nic.ts: the ring's
 * overflow is counted as missed), and every queue that got packets has its
 * IRQ raised with assertIrq, which works from any thread.
 *
 * It measures its own CPU time from /proc/thread-self/schedstat (Linux),
 * falling back to /proc/thread-self/stat, and to its awake time elsewhere.
 */
import { workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { Mem, RxRing, assertIrq } from '@kdefer/core';
import {
  type DeviceStartup,
  CTL_STATE,
  CTL_WAKE,
  CTL_GEN,
  CTL_READY,
  CTL_INTERVAL_US,
  CTL_PAUSED,
  CTL_I32_WORDS,
  F_RATE,
  F_MAX,
  F_OFFERED,
  F_CPU_MS,
  F_BUSY_MS,
  F_RUN_MS,
  F_WAKEUPS,
  F_RAISES,
  DEV_RUNNING,
  DEV_EXIT,
} from './netdev.js';

function validate(d: unknown): DeviceStartup {
  const s = d as Partial<DeviceStartup> | null;
  if (
    !s ||
    !(s.sab instanceof SharedArrayBuffer) ||
    !(s.ctl instanceof SharedArrayBuffer) ||
    !s.geometry ||
    typeof s.ringsByteOffset !== 'number'
  ) {
    throw new TypeError(
      'kdefer netdev device: bad startup data (expected { sab, geometry, ringsByteOffset, ringSize, queues, irqBase, ctl })',
    );
  }
  return s as DeviceStartup;
}

/** This thread's CPU time in ms, or -1 if the OS does not tell. */
function threadCpuMs(): number {
  try {
    const f = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    const ns = Number(f[0]);
    if (Number.isFinite(ns)) return ns / 1e6;
  } catch {
    /* not Linux, or no schedstats */
  }
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 (utime, stime) are 11 and 12 after the comm; USER_HZ is 100
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return -1;
  }
}

/** How often the CPU time is read (reading /proc costs ~10-20 µs). */
const CPU_SAMPLE_MS = 100;

function device_loop(boot: DeviceStartup): void {
  const mem = new Mem(boot.sab, boot.geometry);
  const ctl = new Int32Array(boot.ctl, 0, CTL_I32_WORDS);
  const f64 = new Float64Array(boot.ctl);
  const view = new Int32Array(boot.sab, boot.ringsByteOffset);
  const rings = Array.from({ length: boot.queues }, (_, q) => RxRing.of(view, q, boot.ringSize));
  const nq = boot.queues;

  let gen = -1;
  let rate = 0;
  let max = 0;
  let t0 = 0;
  let base = 0; // offered when the rate was set
  let offered = 0;
  let rr = 0;
  let wakeups = 0;
  let raises = 0;
  let runMs = 0;
  let busyMs = 0;
  let cpuMs = 0;
  let cpuMark = -1; // CPU time at the start of the current running stretch
  let lastCpuRead = 0;
  let runStart = -1;

  Atomics.store(ctl, CTL_READY, 1);
  for (;;) {
    const state = Atomics.load(ctl, CTL_STATE);
    if (state === DEV_EXIT) break;
    if (state !== DEV_RUNNING) {
      if (runStart >= 0) {
        // End of a running stretch: settle the clocks.
        const now = performance.now();
        runMs += now - runStart;
        runStart = -1;
        const c = threadCpuMs();
        if (c >= 0 && cpuMark >= 0) cpuMs += c - cpuMark;
        else cpuMs = -1;
        f64[F_RUN_MS] = runMs;
        f64[F_CPU_MS] = cpuMs;
      }
      Atomics.store(ctl, CTL_PAUSED, 1);
      Atomics.wait(ctl, CTL_STATE, state);
      continue;
    }
    const awake = performance.now();
    if (runStart < 0) {
      Atomics.store(ctl, CTL_PAUSED, 0);
      runStart = awake;
      cpuMark = cpuMs >= 0 ? threadCpuMs() : -1;
      lastCpuRead = awake;
    }
    const g = Atomics.load(ctl, CTL_GEN);
    if (g !== gen) {
      gen = g;
      rate = f64[F_RATE]!;
      max = f64[F_MAX]!;
      t0 = awake;
      base = offered;
    }
    let due = Math.floor(((awake - t0) * rate) / 1000) + base - offered;
    if (max > 0) due = Math.min(due, max - offered);
    if (due > 0) {
      wakeups++;
      const per = Math.floor(due / nq);
      const extra = due - per * nq;
      for (let k = 0; k < nq; k++) {
        const q = (rr + k) % nq;
        const n = per + (k < extra ? 1 : 0);
        if (n === 0) continue;
        if (rings[q]!.produce(n) > 0) {
          assertIrq(mem, boot.irqBase + q);
          raises++;
        }
      }
      rr = (rr + extra) % nq;
      offered += due;
    }
    const done = performance.now();
    busyMs += done - awake;
    f64[F_OFFERED] = offered;
    f64[F_WAKEUPS] = wakeups;
    f64[F_RAISES] = raises;
    f64[F_BUSY_MS] = busyMs;
    f64[F_RUN_MS] = runMs + (done - runStart);
    if (done - lastCpuRead >= CPU_SAMPLE_MS && cpuMark >= 0) {
      lastCpuRead = done;
      const c = threadCpuMs();
      if (c >= 0) f64[F_CPU_MS] = cpuMs + (c - cpuMark);
    }
    const seq = Atomics.load(ctl, CTL_WAKE);
    if (Atomics.load(ctl, CTL_STATE) === DEV_RUNNING && Atomics.load(ctl, CTL_GEN) === gen) {
      Atomics.wait(ctl, CTL_WAKE, seq, Atomics.load(ctl, CTL_INTERVAL_US) / 1000);
    }
  }
}

device_loop(validate(workerData));
