import { describe, it, expect } from 'vitest';
import type { Machine } from '@kdefer/workers';
import { withMachine, grep, until } from './helpers.js';
import {
  NAPIT_IRQ,
  MODE,
  STOP,
  WORK,
  POLLS,
  POLL_CPU,
  DEPTH_IN_POLL,
  NOT_SOFTIRQ,
  IRQ_CPU,
  DELIVERED,
  OUT_OF_ORDER,
  LOG_N,
  LOG,
  OVERLAP,
  BUDGET_SEEN,
  COMPLETED,
  PER_NAPI_POLLS,
  MODE_ONESHOT,
  MODE_FULL,
  MODE_SLOW,
} from './fixtures/dist/napi.js';

const SCHED = 1,
  MISSED = 2,
  NPSVC = 8,
  LISTED = 16;

/** The fixture's shared words, read directly (no call into a busy CPU). */
const words = (m: Machine): Int32Array => m.sharedArray('napit.s', Int32Array);

describe('NAPI', () => {
  it('S-NAPI-1: netif_napi_add adds the instance disabled with weight 64; napi_enable and napi_disable hand ownership back and forth', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      expect(await m.call(0, 'napit', 'weight', 0)).toBe(64);
      expect(await m.call(0, 'napit', 'state', 0)).toBe(SCHED | NPSVC | LISTED); // owned until enabled
      expect(await m.call(0, 'napit', 'prep', 2)).toBe(false); // instance 2 is never enabled here
      await m.call(0, 'napit', 'enable', 2);
      expect(await m.call(1, 'napit', 'state', 0)).toBe(LISTED);
      // 1. prep takes ownership; 2. a second prep finds it taken and sets MISSED;
      // 3. complete then keeps it scheduled (returns false) for the missed poll.
      expect(await m.call(1, 'napit', 'prep', 1)).toBe(true);
      expect(await m.call(0, 'napit', 'prep', 1)).toBe(false);
      expect(await m.call(0, 'napit', 'state', 1)).toBe(SCHED | MISSED | LISTED);
      words(m)[MODE] = MODE_ONESHOT;
      words(m)[WORK] = 1;
      expect(await m.call(1, 'napit', 'complete', 1)).toBe(false); // re-scheduled on CPU 1: polled once more
      await m.quiesce();
      expect(words(m)[PER_NAPI_POLLS + 1]).toBe(1);
      expect(await m.call(0, 'napit', 'state', 1)).toBe(LISTED);
      // napi_disable leaves it owned: schedules are refused until napi_enable.
      expect(await m.call(0, 'napit', 'disable', 0)).toBe(SCHED | NPSVC | LISTED);
      expect(await m.call(1, 'napit', 'prep', 0)).toBe(false);
      await m.call(1, 'napit', 'enable', 1);
      // As in the kernel, the refused schedule left MISSED behind: one extra poll later, harmless.
      expect(await m.call(0, 'napit', 'state', 0)).toBe(LISTED | MISSED);
      expect(grep(m, /BUG|WARNING/)).toEqual([]);
    });
  });

  it('S-NAPI-2: the interrupt masks the line and schedules the poll on the CPU that took it; the poll runs in softirq context with the line still masked', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      await m.call(0, 'napit', 'enable', 1);
      const s = words(m);
      s[MODE] = MODE_ONESHOT;
      s[WORK] = 3;
      for (const cpu of [1, 0, 1]) {
        m.setIrqAffinity(NAPIT_IRQ, [cpu]);
        const before = s[POLLS]!;
        s[DEPTH_IN_POLL] = -1;
        m.raiseIrq(NAPIT_IRQ);
        await until(() => s[POLLS]! > before, 'the poll');
        await m.quiesce();
        expect(s[IRQ_CPU]).toBe(cpu);
        expect(s[POLL_CPU]).toBe(cpu);
        expect(s[DEPTH_IN_POLL]).toBe(1); // masked while polling
      }
      expect(s[NOT_SOFTIRQ]).toBe(0);
      expect(s[COMPLETED]).toBe(3);
      expect(m.irqCounts(NAPIT_IRQ)).toEqual([1, 2]);
      // Completed and unmasked: the next interrupt schedules it again.
      expect(await m.call(0, 'napit', 'state', 0)).toBe(LISTED);
    });
  });

  it('S-NAPI-3: one net_rx_action run stops at netdev_budget (300) with time_squeeze, and the rest is polled later', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      // 1. six instances that always use their whole weight (64), all on CPU 0;
      // 2. after enough polls, tell them to stop; 3. read softnet_stat.
      await m.call(0, 'napit', 'enable', 6);
      const s = words(m);
      s[MODE] = MODE_FULL;
      await m.call(0, 'napit', 'schedule', 6);
      await until(() => s[POLLS]! >= 600, '600 polls');
      Atomics.store(s, STOP, 1);
      await m.quiesce();
      const sn = m.softnetStat()[0]!;
      expect(sn.rx_work_max).toBe(320); // 5 polls of 64: the budget went below 0 after the fifth
      expect(sn.time_squeeze).toBeGreaterThan(0);
      expect(s[BUDGET_SEEN]).toBe(64); // each poll is offered its weight
      expect(s[COMPLETED]).toBe(6);
      for (let i = 0; i < 6; i++) expect(s[PER_NAPI_POLLS + i]).toBeGreaterThan(50); // nobody starved
      expect(m.softnetStat()[1]!.rx_actions).toBe(0); // everything stayed on the CPU that scheduled it
    });
  });

  it('S-NAPI-3: one net_rx_action run stops after netdev_budget_usecs (2000 µs at HZ=1000): polls of 1.2 ms, at most two per run', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      await m.call(1, 'napit', 'enable', 3);
      const s = words(m);
      s[MODE] = MODE_SLOW;
      await m.call(1, 'napit', 'schedule', 3);
      await until(() => s[POLLS]! >= 30, '30 slow polls');
      Atomics.store(s, STOP, 1);
      await m.quiesce();
      const sn = m.softnetStat()[1]!;
      expect(sn.rx_polls_max).toBeLessThanOrEqual(2); // 2 × 1.2 ms > 2 ms: the time limit, not the budget (3 × 64 < 300)
      expect(sn.rx_work_max).toBeLessThanOrEqual(128);
      expect(sn.time_squeeze).toBeGreaterThan(0);
    });
  });

  it('S-NAPI-4: an instance that uses its whole weight stays scheduled and goes to the tail: two instances alternate', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      await m.call(0, 'napit', 'enable', 2);
      const s = words(m);
      s[MODE] = MODE_FULL;
      await m.call(0, 'napit', 'schedule', 2);
      await until(() => s[LOG_N]! >= 200, '200 polls');
      Atomics.store(s, STOP, 1);
      await m.quiesce();
      const log = Array.from(s.subarray(LOG, LOG + 200));
      expect(log.slice(0, 4)).toEqual([0, 1, 0, 1]);
      expect(log.every((v, k) => v === k % 2)).toBe(true);
      expect(s[OVERLAP]).toBe(0);
    });
  });

  it('S-NAPI-1: napi_disable waits for a poll running on another CPU and leaves the instance owned', async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      await m.call(1, 'napit', 'enable', 1);
      const s = words(m);
      s[MODE] = MODE_SLOW;
      await m.call(1, 'napit', 'schedule', 1);
      await until(() => s[POLLS]! >= 3, 'slow polls on CPU 1');
      const state = await m.call<number>(0, 'napit', 'disable', 0);
      expect(state & (SCHED | NPSVC)).toBe(SCHED | NPSVC);
      const polls = s[POLLS]!;
      await m.quiesce();
      expect(s[POLLS]).toBe(polls); // no poll after napi_disable returned
      expect(s[OVERLAP]).toBe(0);
    });
  });

  it('kdefer-only (hang report): napi_disable twice never returns in the kernel: kdefer reports it and stops', async () => {
    await withMachine({ fixtures: ['napi'], softLockupMs: 300, spinLockupMs: 300 }, async (m) => {
      await m.call(0, 'napit', 'enable', 1);
      await m.call(0, 'napit', 'disable', 0);
      await expect(m.call(0, 'napit', 'disable', 0)).rejects.toThrow();
      expect(grep(m, /BUG: napi_disable\(napit\.0\).*disabled twice\?/).length).toBe(1);
      expect(m.panicked()).toBe(true);
    });
  });

  it("S-NAPI-7: netif_rx queues to this CPU's backlog up to netdev_max_backlog, counts the rest as dropped, and process_backlog delivers them in order", async () => {
    await withMachine({ fixtures: ['napi'] }, async (m) => {
      const dropped = await m.call<number>(1, 'napit', 'backlog', 1500);
      await m.quiesce();
      const s = words(m);
      expect(dropped).toBe(499); // qlen <= 1000 is accepted: 1001 packets
      expect(s[DELIVERED]).toBe(1001);
      expect(s[OUT_OF_ORDER]).toBe(0);
      const sn = m.softnetStat();
      expect(sn[1]).toMatchObject({ processed: 1001, dropped: 499, input_qlen: 0, process_qlen: 0 });
      expect(sn[0]).toMatchObject({ processed: 0, dropped: 0 });
      // /proc/net/softnet_stat: one line per CPU, fifteen %08x fields; col 1 processed, col 2 dropped, col 13 the CPU.
      const lines = m.procNetSoftnetStat().trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(/^[0-9a-f]{8}( [0-9a-f]{8}){14}$/);
      const f = lines[1]!.split(' ');
      expect([f[0], f[1], f[12]]).toEqual(['000003e9', '000001f3', '00000001']);
      expect(m.softirqCounts()[1]![3]).toBeGreaterThan(0); // NET_RX ran on CPU 1
    });
  });
});
