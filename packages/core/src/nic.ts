/**
 * nic.ts — the hardware interface of kdefer's model network card: receive
 * descriptor rings in shared memory.
 *
 * Not a kernel mechanism but the contract between the device thread
 * (@kdefer/workers' NetDevice, which plays the NIC, outside the CPUs) and a
 * driver module running on the CPUs. The driver allocates the rings — a
 * shared array, its "DMA memory" — and the host tells the device where they
 * are, as a driver programs a NIC's ring base registers. The device raises
 * the queue's IRQ line after it adds packets (irq.ts assertIrq works from
 * any thread).
 *
 * One ring per RX queue, single producer (the device) and single consumer
 * (whoever owns the queue: its NAPI poll, or a hardirq handler holding the
 * queue's lock). Counters are free-running u32 that wrap; head - tail is
 * the fill level:
 *
 *   line 0  RXR_HEAD    A(device)  packets ever written (stored after the slots)
 *           RXR_MISSED  A(device)  packets dropped, ring full (rx_missed_errors)
 *   line 1  RXR_TAIL    A(driver)  packets ever taken (stored after reading them)
 *   slots   RXR_SLOTS + (i & (size - 1)): packet i's data word (its sequence
 *           number within the queue)
 */

export const RXR_HEAD = 0;
export const RXR_MISSED = 1;
export const RXR_TAIL = 32;
export const RXR_SLOTS = 64;
/** Descriptors per ring by default (e1000e and most 1-10G NICs default to 256-4096). */
export const RX_RING_DEFAULT = 4096;

/**
 * rx_ring_words - the words one RX ring of `size` descriptors takes (a multiple of a cache line).
 * @param size - descriptors, a power of two >= 2.
 * Context: any (pure); throws a RangeError naming the size when it is not a power of two >= 2.
 * @returns RXR_SLOTS plus the slots rounded up to 32 words.
 */
export function rx_ring_words(size: number): number {
  if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0)
    throw new RangeError(`kdefer nic: ring size ${size} is not a power of two >= 2`);
  return RXR_SLOTS + Math.ceil(size / 32) * 32;
}

/** One RX ring over the words of `view` starting at `base`. Either side uses it. */
export class RxRing {
  readonly mask: number;
  readonly slots: number;
  constructor(
    readonly view: Int32Array,
    readonly base: number,
    readonly size: number,
  ) {
    rx_ring_words(size);
    this.mask = size - 1;
    this.slots = base + RXR_SLOTS;
  }

  /** Ring `q` of `queues` consecutive rings of `size` in `view`. */
  static of(view: Int32Array, q: number, size: number): RxRing {
    return new RxRing(view, q * rx_ring_words(size), size);
  }

  /** Packets written and not yet taken. */
  pending(): number {
    return (Atomics.load(this.view, this.base + RXR_HEAD) - Atomics.load(this.view, this.base + RXR_TAIL)) >>> 0;
  }
  /** Packets ever written (device side: the next sequence number). */
  head(): number {
    return Atomics.load(this.view, this.base + RXR_HEAD) >>> 0;
  }
  /** Packets ever taken. */
  tail(): number {
    return Atomics.load(this.view, this.base + RXR_TAIL) >>> 0;
  }
  /** Packets the device dropped because the ring was full. */
  missed(): number {
    return Atomics.load(this.view, this.base + RXR_MISSED) >>> 0;
  }

  /**
   * Device side: write up to `n` packets (sequence numbers continue from
   * head), publish them, count the rest as missed.
   * @returns how many were written.
   */
  produce(n: number): number {
    const v = this.view;
    const head = v[this.base + RXR_HEAD]! | 0;
    const free = this.size - ((head - Atomics.load(v, this.base + RXR_TAIL)) >>> 0);
    const k = Math.min(n, free);
    for (let i = 0; i < k; i++) v[this.slots + ((head + i) & this.mask)] = (head + i) | 0;
    if (k > 0) Atomics.store(v, this.base + RXR_HEAD, (head + k) | 0);
    if (k < n) Atomics.add(v, this.base + RXR_MISSED, n - k);
    return k;
  }

  /** Driver side: the data word of the packet `i` places after the tail. */
  peek(tail: number, i: number): number {
    return this.view[this.slots + ((tail + i) & this.mask)]!;
  }
  /** Driver side: give back `n` descriptors to the device (after reading them). */
  consume(n: number): void {
    const t = this.base + RXR_TAIL;
    Atomics.store(this.view, t, (this.view[t]! + n) | 0);
  }
}
