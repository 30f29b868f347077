/**
 * rx.ts — a built-in kdefer module: the receive path of a multi-queue NIC,
 * built three ways, for the SMP scalability lab (`kdefer bench scaling`).
 *
 * The device (@kdefer/workers NetDevice, its own thread) writes packets
 * into one ring per RX queue (rx.rings, the ring format of @kdefer/core's
 * nic.ts) and raises IRQ RX_IRQ_BASE + q. Every packet then costs the same
 * work whatever the path: `driverWork` iterations of cheap integer math
 * where the driver takes it off the ring (building the skb), and
 * `protoWork` iterations in the protocol handler (dev_add_pack), plus a
 * statistics update — per-CPU counters, or one shared counter set whose
 * cache line bounces between the CPUs. What differs is where it runs:
 *
 *   bh       Linux 2.2 (the machine booted with era '2.2'): the hardirq
 *            takes the ring's packets (driver work) into ONE global backlog
 *            and marks NET_BH; net_bh runs as an old-style bottom half
 *            (era/bh22.ts: one machine-wide bh_active bit, global_bh_count)
 *            — one CPU at a time, whatever the number of CPUs.
 *   softirq  softnet (2.4): the hardirq takes the ring's packets (driver
 *            work) into THIS CPU's backlog with netif_rx; NET_RX_SOFTIRQ
 *            on this CPU delivers them (process_backlog). Every packet
 *            costs interrupt-level work even when the backlog is full and
 *            it is dropped: under overload interrupt work crowds out
 *            delivery (receive livelock).
 *   napi     NAPI (2.6+): the hardirq masks the queue's IRQ and
 *            napi_schedule()s; the poll takes up to `budget` packets
 *            (driver work + delivery) and unmasks the IRQ when the ring is
 *            empty. Under overload the IRQ stays masked and the excess is
 *            dropped by the card for free.
 *
 * A non-NAPI handler takes at most RX_IRQ_WORK packets per interrupt (as
 * drivers bounded their work per interrupt) and, if the ring still holds
 * packets, raises its line again, as a NIC keeps asserting its interrupt
 * while descriptors are ready. With rr routing one queue's interrupts land
 * on several CPUs: the handler takes the queue's ring lock with
 * spin_trylock, and a CPU that finds it taken leaves the work to the CPU
 * draining the queue (see rx_ring_irq).
 *
 * Checks for the tests, always on and cheap: a flag counts bottom halves
 * running at once (bh), each poll looks at its IRQ's disable depth (napi),
 * and with `checkCap` > 0 every packet's fate is recorded in a bitmap
 * (delivered and dropped bits): exactly one of them must end up set.
 *
 * Differs from a real driver: a packet is a sequence number, there is no
 * skb, no DMA and no refill of receive buffers.
 */
import { readlinkSync } from 'node:fs';
import {
  defineModule,
  DEFINE_SPINLOCK,
  DEFINE_PER_CPU,
  shared_int32,
  request_irq,
  IRQ_HANDLED,
  IRQ_NONE,
  disable_irq_nosync,
  enable_irq,
  raiseIrq,
  irq_to_desc,
  spin_lock,
  spin_unlock,
  spin_trylock,
  spin_lock_irqsave,
  spin_unlock_irqrestore,
  net_dev_init,
  netif_napi_add,
  netif_napi_set_irq,
  napi_enable,
  napi_disable,
  napi_schedule_prep,
  __napi_schedule,
  napi_complete_done,
  netif_rx,
  netif_receive_skb,
  dev_add_pack,
  NET_RX_DROP,
  init_bh,
  mark_bh,
  NET_BH,
  booted_era,
  RxRing,
  rx_ring_words,
  smp_processor_id,
  pr_info,
  pr_err,
  KdeferError,
  type NapiStruct,
  type IrqDesc,
  type SpinlockT,
} from '@kdefer/core';
import { irqLine } from './irqs.js';

/** The module's name, for machine.call(cpu, RX, entry, ...). */
export const RX = 'rx';
/** Queue q raises IRQ RX_IRQ_BASE + q. */
export const RX_IRQ_BASE = irqLine('rx');
/** RX queues the module can drive (each has a ring, an IRQ and a NAPI instance). */
export const RX_MAX_QUEUES = 4;
/** Descriptors per RX ring. */
export const RX_RING_SIZE = 4096;
/** Packets a non-NAPI hardirq handler takes per interrupt before raising its line again. */
export const RX_IRQ_WORK = 64;
/** netdev_max_backlog of Linux 2.2: the global backlog of the bh path. */
export const BH_MAX_BACKLOG = 300;
/** 2.2's net_bh gives up after this long (its `jiffies - start_time > 1`: two jiffies at HZ=1000). */
export const BH_TIME_LIMIT_MS = 2;
/** Packets per queue whose fate the check bitmap can record. */
export const RX_CHECK_MAX = 1 << 17;

export const RX_MODES = ['bh', 'softirq', 'napi'] as const;
export type RxMode = (typeof RX_MODES)[number];
const MODE_BH = 0; // indices in RX_MODES, as CFG_MODE holds them
const MODE_NAPI = 2;

/** What the host passes to `up`. */
export interface RxConfig {
  mode: RxMode;
  /** active RX queues (1..RX_MAX_QUEUES) */
  queues: number;
  /** protocol work per packet, iterations (~2 ns each) */
  protoWork: number;
  /** driver work per packet, iterations, where the packet leaves the ring */
  driverWork: number;
  /** statistics in one shared counter set (true) or per CPU (false) */
  sharedStats: boolean;
  /** record each packet's fate for the first `checkCap` packets of every queue (0: off) */
  checkCap: number;
}

/** The names of what the module shares, for the host. */
export const RX_NAMES = {
  /** RX_MAX_QUEUES rings of RX_RING_SIZE (nic.ts format): the device writes them */
  rings: 'rx.rings',
  /** Int32Array of CFG_WORDS: the RxConfig */
  cfg: 'rx.cfg',
  /** Int32Array: ST_* below (shared statistics and checks) */
  stats: 'rx.stats',
  /** per-CPU Int32Array of PCPU_WORDS: PC_* below */
  pcpu: 'rx.pcpu',
  /** Int32Array: 2 bits per packet per queue, delivered (bit 2s) and dropped (bit 2s+1) */
  check: 'rx.check',
  /** Int32Array: the bh path's global backlog (BHQ_* below) */
  bhq: 'rx.bh_backlog',
} as const;

export const CFG_MODE = 0;
export const CFG_QUEUES = 1;
export const CFG_PROTO_WORK = 2;
export const CFG_DRIVER_WORK = 3;
export const CFG_SHARED_STATS = 4;
export const CFG_CHECK_CAP = 5;
const CFG_WORDS = 8;

// rx.stats: the shared counter set (line 0), then the checks (line 1).
export const ST_PACKETS = 0; //      A  shared-stats mode: packets delivered
export const ST_BYTES = 1; //        A  shared-stats mode: bytes delivered
export const ST_CSUM = 2; //         A  shared-stats mode: xor of the protocol work's results
export const ST_BH_RUNNING = 32; //  A  bottom halves running now
export const ST_BH_OVERLAP = 33; //  A  times a bottom half started while another ran (must stay 0)
export const ST_NAPI_IRQ_ON = 34; // A  polls that found their IRQ enabled (must stay 0)
export const ST_DUPLICATES = 35; //  A  packets delivered or dropped twice (must stay 0)
export const ST_UNCHECKED = 36; //   A  packets beyond the check bitmap
const STATS_WORDS = 64;

/** Per-CPU words of rx.pcpu, each written by its own CPU only. */
export const PC_PACKETS = 0; //      per-CPU-stats mode: packets delivered
export const PC_BYTES = 1; //        per-CPU-stats mode: bytes
export const PC_CSUM = 2; //         xor of the work's results (keeps the JIT from skipping it)
export const PC_HARDIRQS = 3; //     rx hardirqs taken here
export const PC_TAKEN = 4; //        packets taken off a ring here (driver work done)
export const PC_RETRIGGER = 5; //    handler raised its line again (ring not empty)
export const PC_BH_RUNS = 6; //      net_bh runs here
export const PC_BH_SQUEEZE = 7; //   net_bh out of time with packets left (2.2's time_squeeze)
export const PC_BH_DROPPED = 8; //   packets dropped: global backlog full
export const PC_POLLS = 9; //        rx_poll calls here
export const PC_IRQ_BUSY = 10; //    interrupts that found their queue drained by another CPU
export const PC_TID = 11; //         kdefer measurement: this CPU thread's OS thread id (0 unknown), so that
//                                  the host can read its CPU time from /proc/self/task/<tid>/schedstat
export const PCPU_WORDS = 12;

// The bh path's global backlog: indices on their own lines, then (queue, seq) pairs.
export const BHQ_HEAD = 0; //        L(rx.bh_backlog_lock) next packet net_bh takes
export const BHQ_TAIL = 32; //       L(rx.bh_backlog_lock) where the hardirq appends
export const BHQ_SLOTS_AT = 64;
export const BHQ_SLOTS = 512; //     >= BH_MAX_BACKLOG + 1
const BHQ_WORDS = BHQ_SLOTS_AT + 2 * BHQ_SLOTS;

const CHECK_WORDS = (RX_CHECK_MAX * 2) / 32; // per queue
/** The packet size the byte counters assume (a minimum Ethernet frame). */
const PACKET_BYTES = 64;

/** The per-packet work: `n` rounds of a multiply-xorshift mix (about 2 ns a round). */
function work(seed: number, n: number): number {
  let x = seed | 0;
  for (let i = 0; i < n; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
    x ^= x >>> 12;
  }
  return x;
}

/** This thread's OS thread id on Linux (/proc/thread-self -> <pid>/task/<tid>), 0 elsewhere. */
function threadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

export default defineModule(RX, () => {
  net_dev_init();
  const cfg = shared_int32(RX_NAMES.cfg, CFG_WORDS);
  const stats = shared_int32(RX_NAMES.stats, STATS_WORDS);
  const pcpu = DEFINE_PER_CPU(RX_NAMES.pcpu, Int32Array, PCPU_WORDS);
  const ringMem = shared_int32(RX_NAMES.rings, RX_MAX_QUEUES * rx_ring_words(RX_RING_SIZE));
  const check = shared_int32(RX_NAMES.check, RX_MAX_QUEUES * CHECK_WORDS);
  const bhq = shared_int32(RX_NAMES.bhq, BHQ_WORDS);
  const bhq_lock = DEFINE_SPINLOCK('rx.bh_backlog_lock');
  const pc = pcpu.ptr(smp_processor_id()); // this CPU's counters
  pc[PC_TID] = threadId();
  const rings: RxRing[] = [];
  const ring_locks: SpinlockT[] = [];
  const napis: NapiStruct[] = [];
  const descs: IrqDesc[] = [];
  const queue_of = new Map<number, number>(); // napi id -> queue
  const taken = new Int32Array(RX_IRQ_WORK); // this CPU's packets of one interrupt (bh path)

  // ---------------------------------------------------------- the fate of a packet
  function mark(q: number, seq: number, bit: number): void {
    const cap = cfg[CFG_CHECK_CAP]!;
    if (cap === 0) return;
    const s = seq >>> 0;
    if (s >= cap) {
      Atomics.add(stats, ST_UNCHECKED, 1);
      return;
    }
    const b = 2 * s + bit;
    const w = q * CHECK_WORDS + (b >>> 5);
    const m = 1 << (b & 31);
    if (Atomics.or(check, w, m) & (3 << (b & 30))) Atomics.add(stats, ST_DUPLICATES, 1);
  }

  // ---------------------------------------------------------- protocol handler (every path)
  function rx_deliver(dev: number, data: number): void {
    const x = work(data ^ (dev << 24), cfg[CFG_PROTO_WORK]!);
    if (cfg[CFG_SHARED_STATS] !== 0) {
      Atomics.add(stats, ST_PACKETS, 1);
      Atomics.add(stats, ST_BYTES, PACKET_BYTES);
      Atomics.xor(stats, ST_CSUM, x);
    } else {
      pc[PC_PACKETS]!++;
      pc[PC_BYTES]! += PACKET_BYTES;
      pc[PC_CSUM]! ^= x;
    }
    if (cfg[CFG_CHECK_CAP] !== 0) mark(dev, data, 0);
  }

  // ---------------------------------------------------------- bh: 2.2's net_bh
  function bh_enqueue(q: number, seq: number): boolean {
    const head = bhq[BHQ_HEAD]!;
    const tail = bhq[BHQ_TAIL]!;
    if (((tail - head) | 0) > BH_MAX_BACKLOG) return false;
    const w = BHQ_SLOTS_AT + 2 * (tail & (BHQ_SLOTS - 1));
    bhq[w] = q;
    bhq[w + 1] = seq;
    bhq[BHQ_TAIL] = (tail + 1) | 0;
    return true;
  }

  function net_bh(): void {
    if (Atomics.add(stats, ST_BH_RUNNING, 1) !== 0) Atomics.add(stats, ST_BH_OVERLAP, 1);
    try {
      pc[PC_BH_RUNS]!++;
      const start = performance.now();
      for (;;) {
        // Give other bottom halves a chance: 2.2 stopped after two jiffies.
        if (performance.now() - start >= BH_TIME_LIMIT_MS) {
          pc[PC_BH_SQUEEZE]!++;
          mark_bh(NET_BH);
          return;
        }
        const flags = spin_lock_irqsave(bhq_lock);
        const head = bhq[BHQ_HEAD]!;
        if (head === bhq[BHQ_TAIL]) {
          spin_unlock_irqrestore(bhq_lock, flags);
          return;
        }
        const w = BHQ_SLOTS_AT + 2 * (head & (BHQ_SLOTS - 1));
        const q = bhq[w]!;
        const seq = bhq[w + 1]!;
        bhq[BHQ_HEAD] = (head + 1) | 0;
        spin_unlock_irqrestore(bhq_lock, flags);
        netif_receive_skb(q, seq);
      }
    } finally {
      Atomics.sub(stats, ST_BH_RUNNING, 1);
    }
  }

  // ---------------------------------------------------------- hardirq
  /**
   * bh and softirq paths: take up to RX_IRQ_WORK packets off ring q at
   * interrupt level. One CPU drains a queue at a time: with rr routing a
   * second CPU that takes the queue's interrupt meanwhile leaves at once,
   * and the draining CPU raises the line again if packets remain (what
   * handle_edge_irq's IRQS_PENDING replay does for one line).
   */
  function rx_ring_irq(q: number, irq: number, bh: boolean): void {
    const ring = rings[q]!;
    if (!spin_trylock(ring_locks[q]!)) {
      pc[PC_IRQ_BUSY]!++;
      return;
    }
    const driverWork = cfg[CFG_DRIVER_WORK]!;
    const tail = ring.tail();
    const n = Math.min(ring.pending(), RX_IRQ_WORK);
    for (let i = 0; i < n; i++) {
      const seq = ring.peek(tail, i);
      pc[PC_CSUM]! ^= work(seq, driverWork);
      if (bh) taken[i] = seq;
      else if (netif_rx(q, seq) === NET_RX_DROP && cfg[CFG_CHECK_CAP] !== 0) mark(q, seq, 1);
    }
    if (bh && n > 0) {
      // 2.2's netif_rx: the global backlog, under its lock, for the batch.
      spin_lock(bhq_lock);
      for (let i = 0; i < n; i++) {
        if (bh_enqueue(q, taken[i]!)) continue;
        pc[PC_BH_DROPPED]!++;
        if (cfg[CFG_CHECK_CAP] !== 0) mark(q, taken[i]!, 1);
      }
      spin_unlock(bhq_lock);
    }
    ring.consume(n);
    pc[PC_TAKEN]! += n;
    spin_unlock(ring_locks[q]!);
    if (bh && n > 0) mark_bh(NET_BH);
    // After the unlock: packets whose interrupt found the queue busy are seen here.
    if (ring.pending() > 0) {
      pc[PC_RETRIGGER]!++;
      raiseIrq(irq);
    }
  }

  function rx_interrupt(irq: number, dev_id: unknown): number {
    const q = typeof dev_id === 'number' ? dev_id : irq - RX_IRQ_BASE;
    if (q < 0 || q >= cfg[CFG_QUEUES]!) return IRQ_NONE;
    pc[PC_HARDIRQS]!++;
    const mode = cfg[CFG_MODE]!;
    if (mode === MODE_NAPI) {
      // NAPI: mask the queue's interrupt, poll from NET_RX_SOFTIRQ.
      const n = napis[q]!;
      if (napi_schedule_prep(n)) {
        disable_irq_nosync(irq);
        __napi_schedule(n);
      }
    } else {
      rx_ring_irq(q, irq, mode === MODE_BH);
    }
    return IRQ_HANDLED;
  }

  // ---------------------------------------------------------- napi
  function rx_poll(napi: NapiStruct, budget: number): number {
    pc[PC_POLLS]!++;
    const q = queue_of.get(napi.id)!;
    if (descs[q]!.depth === 0) Atomics.add(stats, ST_NAPI_IRQ_ON, 1);
    const ring = rings[q]!;
    const driverWork = cfg[CFG_DRIVER_WORK]!;
    const tail = ring.tail();
    const n = Math.min(ring.pending(), budget);
    for (let i = 0; i < n; i++) {
      const seq = ring.peek(tail, i);
      pc[PC_CSUM]! ^= work(seq, driverWork);
      netif_receive_skb(q, seq);
    }
    ring.consume(n);
    pc[PC_TAKEN]! += n;
    if (n < budget && napi_complete_done(napi, n)) enable_irq(RX_IRQ_BASE + q);
    return n;
  }

  for (let q = 0; q < RX_MAX_QUEUES; q++) {
    rings.push(RxRing.of(ringMem, q, RX_RING_SIZE));
    ring_locks.push(DEFINE_SPINLOCK(`rx.ring${q}_lock`));
    const n = netif_napi_add(`eth0-rx-${q}`, rx_poll);
    netif_napi_set_irq(n, RX_IRQ_BASE + q);
    napis.push(n);
    queue_of.set(n.id, q);
    descs.push(irq_to_desc(RX_IRQ_BASE + q));
    const ret = request_irq(RX_IRQ_BASE + q, rx_interrupt, 0, `eth0-rx-${q}`, q);
    if (ret !== 0) pr_err(`rx: request_irq(${RX_IRQ_BASE + q}) for eth0-rx-${q} failed: ${ret}`);
  }
  dev_add_pack({ func: rx_deliver });
  // NET_BH exists only in 2.2 (2.3.43's softnet turned it into NET_RX_SOFTIRQ).
  if (booted_era() === '2.2') init_bh(NET_BH, net_bh);
  if (smp_processor_id() === 0)
    pr_info(
      `rx: eth0: ${RX_MAX_QUEUES} RX queues on IRQs ${RX_IRQ_BASE}-${RX_IRQ_BASE + RX_MAX_QUEUES - 1}, NAPI weight ${napis[0]!.weight}`,
    );

  let enabled = 0;
  return {
    /**
     * up - configure the receive path and bring the interface up (ndo_open):
     * enable the NAPI instances of the active queues. Call it once, on one CPU.
     */
    up(c: RxConfig): void {
      const mode = RX_MODES.indexOf(c.mode);
      if (mode < 0) throw new KdeferError(`rx: unknown mode '${String(c.mode)}' (${RX_MODES.join(', ')})`);
      if (!Number.isInteger(c.queues) || c.queues < 1 || c.queues > RX_MAX_QUEUES)
        throw new KdeferError(`rx: queues must be 1-${RX_MAX_QUEUES}`);
      if (!(c.checkCap >= 0 && c.checkCap <= RX_CHECK_MAX)) throw new KdeferError(`rx: checkCap must be 0-${RX_CHECK_MAX}`);
      cfg[CFG_PROTO_WORK] = Math.max(0, Math.floor(c.protoWork));
      cfg[CFG_DRIVER_WORK] = Math.max(0, Math.floor(c.driverWork));
      cfg[CFG_SHARED_STATS] = c.sharedStats ? 1 : 0;
      cfg[CFG_CHECK_CAP] = c.checkCap;
      cfg[CFG_MODE] = mode;
      for (let q = enabled; q < c.queues; q++) napi_enable(napis[q]!);
      enabled = Math.max(enabled, c.queues);
      Atomics.store(cfg, CFG_QUEUES, c.queues);
    },

    /** down - disable the active queues' NAPI instances (waits for running polls). */
    async down(): Promise<number> {
      Atomics.store(cfg, CFG_QUEUES, 0);
      for (let q = 0; q < enabled; q++) await napi_disable(napis[q]!);
      const n = enabled;
      enabled = 0;
      return n;
    },
  };
});
