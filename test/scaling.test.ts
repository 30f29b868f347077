import { describe, it, expect } from 'vitest';
import {
  runScalingOnce,
  parseLoad,
  computeSpeedups,
  scalingCharts,
  formatScalingTable,
  type ScalingRunResult,
  type ScalingRow,
  type ScalingReport,
} from '@kdefer/cli';

// Correctness of the scalability lab, never its speed: each run offers a
// bounded burst (the device stops after PACKETS) well past what the CPUs
// can take, so that every drop path is exercised, with lockdep on; then the
// books must balance packet by packet (the rx module's check bitmap).
const PACKETS = 2 * 12_000;
const burst = (mode: 'bh' | 'softirq' | 'napi', routing: 'rr' | 'affinity'): Promise<ScalingRunResult> =>
  runScalingOnce({
    mode,
    routing,
    cpus: 2,
    queues: 2,
    load: 1_500_000,
    seconds: 0.05,
    warmupSeconds: 0,
    check: true,
    maxPackets: PACKETS,
    lockdep: true,
  });

function expectBalancedBooks(r: ScalingRunResult): void {
  const a = r.accounting;
  expect(a.offered).toBe(PACKETS);
  expect(a.delivered).toBeGreaterThan(0);
  expect(a.delivered + a.droppedDevice + a.droppedBacklog + a.droppedBh).toBe(a.offered);
  expect(a.unaccounted).toBe(0);
  expect(a.leftInRings).toBe(0);
  // Packet by packet: delivered exactly once, or dropped exactly once.
  expect({ missing: a.missing, both: a.both, duplicates: a.duplicates, unchecked: a.unchecked }).toEqual({
    missing: 0,
    both: 0,
    duplicates: 0,
    unchecked: 0,
  });
  expect(r.kernelReports).toEqual([]);
}

describe('scaling lab: every packet offered is delivered exactly once or counted as dropped', () => {
  for (const routing of ['affinity', 'rr'] as const) {
    it(`bh (${routing}): the 2.2 global bottom half never runs on two CPUs at once (S-TASK-6(iii) under global_bh_lock)`, async () => {
      const r = await burst('bh', routing);
      expectBalancedBooks(r);
      expect(r.bhOverlap).toBe(0);
      expect(r.bhRuns.reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
      expect(r.accounting.droppedBacklog).toBe(0); // the softnet backlog is not used
    });

    it(`softirq (${routing}): netif_rx to the per-CPU backlog, drops counted in softnet_stat (S-NAPI-7)`, async () => {
      const r = await burst('softirq', routing);
      expectBalancedBooks(r);
      expect(r.accounting.droppedBh).toBe(0);
      expect(r.bhRuns).toEqual([0, 0]);
    });

    it(`napi (${routing}): the queue's IRQ is never enabled while its poll runs (S-NAPI-2), nothing is dropped past the ring`, async () => {
      const r = await burst('napi', routing);
      expectBalancedBooks(r);
      expect(r.napiIrqOn).toBe(0);
      expect(r.accounting.droppedBacklog + r.accounting.droppedBh).toBe(0);
    });
  }

  it('kdefer-only (bench loads): loads parse as packets/s or as multiples of the capacity; speedups are relative to 1 CPU and never claimed past the cores', () => {
    expect(parseLoad('250000')).toEqual({ pps: 250000 });
    expect(parseLoad('250k')).toEqual({ pps: 250000 });
    expect(parseLoad('1.5M')).toEqual({ pps: 1.5e6 });
    expect(parseLoad('2x')).toEqual({ perCpu: 2 });
    expect(() => parseLoad('fast')).toThrow(/neither packets\/s/);
    const row = (cpus: number, pps: number): ScalingRow =>
      ({
        mode: 'napi',
        routing: 'affinity',
        cpus,
        loadSpec: '2x',
        deliveredPps: pps,
        offeredPps: pps * 2,
        speedup: null,
      }) as unknown as ScalingRow;
    const rows = [row(1, 100), row(2, 190), row(4, 300)];
    computeSpeedups(rows, 2);
    expect(rows.map((r) => r.speedup)).toEqual([1, 1.9, null]);
    const rep = {
      date: '',
      node: 'v20',
      cores: 2,
      workload: { protoWork: 1, driverWork: 1, sharedStats: false, queues: 2, intervalUs: 500 },
      seconds: 1,
      capacity: 100,
      rows: rows.map((r) => ({ ...r, irqsPerPacket: 0, dropPps: 0, timeSqueeze: 0, cpuThreadCores: 1, deviceCpuShare: 0 })),
      aborted: false,
    } as unknown as ScalingReport;
    expect(formatScalingTable(rep)).toMatch(/napi\s+affinity\s+4\s+2x\s+.*>2 cores/);
    const svgs = scalingCharts(rep);
    expect(svgs.map((c) => c.file)).toEqual(['scaling-cpus.svg']);
    expect(svgs[0]!.svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  });
});
