/**
 * napi.ts — NAPI, the softnet backlog and NET_RX_SOFTIRQ.
 *
 * Follows net/core/dev.c (6.x): napi_schedule_prep / __napi_schedule /
 * napi_complete_done on the NAPI_STATE_SCHED and NAPI_STATE_MISSED bits,
 * napi_enable / napi_disable, net_rx_action with netdev_budget and
 * netdev_budget_usecs, the per-CPU softnet_data with its poll list, and the
 * non-NAPI receive path: netif_rx queues to the current CPU's backlog
 * (at most netdev_max_backlog packets), drained by the process_backlog
 * pseudo-NAPI (weight dev_rx_weight); net/core/net-procfs.c for
 * /proc/net/softnet_stat (S-NAPI-1 .. S-NAPI-7).
 *
 * A napi_struct is a line of the shared napi table; its state word is
 * changed only by compareExchange loops, exactly as the kernel's
 * try_cmpxchg loops, so "scheduled" means owned: one CPU at a time runs
 * its poll. Each CPU's softnet_data (poll list, statistics, backlog ring)
 * is touched by that CPU only, with interrupts off where the kernel turns
 * them off; others read it with Atomics.load.
 *
 *   hardirq (CPU n)                       NET_RX_SOFTIRQ (CPU n)
 *   mask the device's IRQ                 net_rx_action: budget 300, 2 jiffies
 *   napi_schedule(n) ──poll_list[n]──►    napi->poll(napi, weight)
 *                                         done < weight: napi_complete_done,
 *                                           the driver unmasks its IRQ
 *                                         done == weight: stays scheduled,
 *                                           back at the tail of the list
 *
 * Differs from Linux:
 * - a packet (sk_buff) is two numbers, the receiving device's id and one
 *   data word; nothing is allocated per packet. Protocol handlers are
 *   functions `(dev, data)` registered with dev_add_pack on every CPU.
 * - napi_structs are declared by name (`netif_napi_add('eth0-rx-0', poll)`)
 *   like every shared object; there is no net_device.
 * - NET_RX_SOFTIRQ is opened by net_dev_init(), which a module using NAPI
 *   or netif_rx calls at load (the kernel opens it at boot); a module that
 *   opens NET_RX_SOFTIRQ itself must not call it.
 * - netdev_budget_usecs is measured with the monotonic clock, as
 *   MAX_SOFTIRQ_TIME is (softirq.ts); its default is the kernel's
 *   2 * USEC_PER_SEC / HZ (2000 µs at HZ=1000).
 * - no GRO, busy polling, threaded NAPI, napi_defer_hard_irqs, RPS or RFS:
 *   netif_rx always queues to the current CPU's backlog.
 * - ____napi_schedule always raises NET_RX (6.x skips the raise while
 *   net_rx_action runs on that CPU; the softirq restart loop makes the two
 *   equivalent here).
 * - napi_disable is async (await it): it sleeps a jiffy at a time while the
 *   instance is owned, and reports instead of hanging forever (a second
 *   napi_disable never returns in the kernel).
 */
import { clock_now } from './clock.js';
import {
  type Mem,
  SD_POLL_HEAD,
  SD_POLL_TAIL,
  SD_INPUT_HEAD,
  SD_BACKLOG_HEAD,
  SD_BACKLOG_TAIL,
  SD_PROCESSED,
  SD_DROPPED,
  SD_TIME_SQUEEZE,
  SD_RX_ACTIONS,
  SD_POLLS,
  SD_RX_WORK_MAX,
  SD_RX_POLLS_MAX,
  SD_BACKLOG,
  BACKLOG_SLOTS,
  SKB_WORDS,
  NP_STATE,
  NP_FLAGS,
  NP_WEIGHT,
  NP_POLL,
  NP_NAME,
  NP_IRQ,
  NP_NEXT,
  NP_LIST_OWNER,
  NP_POLLING,
  NP_POLLS,
  NP_WORK,
  H_SOFTLOCKUP_MS,
  H_HZ,
} from './layout.js';
import { mem, i32, cpuId, nrCpus } from './smp.js';
import { preempt_point } from './entry.js';
import { KdeferError, fn_id, fn_by_id, fn_name, intern, name_of, registry_resolve, NAME_KIND_OBJECT, loading } from './module.js';
import { pr_err, printk, KERN_EMERG, WARN_ONCE, dump_context, oops_end, BUG } from './printk.js';
import { local_irq_save, local_irq_restore, local_irq_disable, local_irq_enable } from './preempt.js';
import { open_softirq, raise_softirq_irqoff, __raise_softirq_irqoff, NET_RX_SOFTIRQ } from './softirq.js';
import { run_handler } from './oops.js';
import { SlotTable } from './slot.js';
import { might_sleep, schedule_timeout_uninterruptible } from './sched.js';
import { spin_lockup_ms } from './spinlock.js';

// ------------------------------------------------------------ tunables

/** NAPI_POLL_WEIGHT: the default and largest sane weight (a larger one is reported). */
export const NAPI_POLL_WEIGHT = 64;
/**
 * netdev_budget: packets one net_rx_action run may process over all its
 * instances (net.core.netdev_budget): enough to amortise the softirq, small
 * enough that one CPU's receive work cannot starve everything else.
 */
export const netdev_budget = 300;
/** netdev_max_backlog: packets a CPU's backlog (input_pkt_queue) holds before netif_rx drops. */
export const netdev_max_backlog = 1000;
/** dev_rx_weight (net.core.dev_weight): the backlog pseudo-NAPI's weight. */
export const dev_rx_weight = 64;
/**
 * netdev_budget_usecs - the time one net_rx_action run may take, the
 * kernel's default 2 * USEC_PER_SEC / HZ (two jiffies: 2000 µs at HZ=1000).
 * Context: any, on a CPU. Does not sleep.
 * @returns the budget in µs.
 */
export function netdev_budget_usecs(): number {
  return Math.round((2 * 1_000_000) / (i32[H_HZ]! || 1000));
}

/** NAPI_STATE_* bit numbers (include/linux/netdevice.h) and their NAPIF_STATE_* masks. */
export const NAPI_STATE_SCHED = 0; //   poll is scheduled: the instance is owned
export const NAPI_STATE_MISSED = 1; //  a schedule came while it was scheduled: poll again
export const NAPI_STATE_DISABLE = 2; // napi_disable is pending
export const NAPI_STATE_NPSVC = 3; //   owned by napi_disable / not yet enabled
export const NAPI_STATE_LISTED = 4; //  added with netif_napi_add
export const NAPIF_STATE_SCHED = 1 << NAPI_STATE_SCHED;
export const NAPIF_STATE_MISSED = 1 << NAPI_STATE_MISSED;
export const NAPIF_STATE_DISABLE = 1 << NAPI_STATE_DISABLE;
export const NAPIF_STATE_NPSVC = 1 << NAPI_STATE_NPSVC;
export const NAPIF_STATE_LISTED = 1 << NAPI_STATE_LISTED;

/** netif_rx / netif_receive_skb results. */
export const NET_RX_SUCCESS = 0;
export const NET_RX_DROP = 1;

const NPF_ALLOCATED = 1;

// ------------------------------------------------------------ types

/** A napi_struct: a line of the shared napi table. */
export class NapiStruct {
  constructor(
    readonly id: number,
    readonly name: string,
  ) {}
  /** NAPIF_STATE_* bits. */
  get state(): number {
    return Atomics.load(i32, mem.napi(this.id, NP_STATE));
  }
  get weight(): number {
    return i32[mem.napi(this.id, NP_WEIGHT)]!;
  }
  /** The IRQ line netif_napi_set_irq associated, -1 if none. */
  get irq(): number {
    return i32[mem.napi(this.id, NP_IRQ)]! - 1;
  }
}
export type napi_struct = NapiStruct;

/** A poll function: process at most `budget` packets, return how many it did. */
export type NapiPoll = (napi: NapiStruct, budget: number) => number;
/** A protocol handler: one received packet (see the header: a packet is two numbers). */
export type PacketHandler = (dev: number, data: number) => void;
/** struct packet_type: what dev_add_pack registers. */
export interface PacketType {
  func: PacketHandler;
}

// ------------------------------------------------------------ this CPU's state

let SD = 0; //                    word index of this CPU's softnet_data
let initialised = false; //       net_dev_init ran on this CPU
const ptype_all: PacketHandler[] = [];
const byId = new Map<number, NapiStruct>();

const np = (id: number, f: number): number => mem.napi(id, f);

function napi_by_id(id: number): NapiStruct {
  let n = byId.get(id);
  if (!n) {
    n = new NapiStruct(id, name_of(mem, i32[np(id, NP_NAME)]!) || `napi#${id}`);
    byId.set(id, n);
  }
  return n;
}

function check_napi(n: NapiStruct, who: string): void {
  if (!(n instanceof NapiStruct)) throw new KdeferError(`${who}: not a napi_struct`);
  if (!initialised) throw new KdeferError(`${who}(${n.name}): call net_dev_init() at module load first`);
}

// ------------------------------------------------------------ poll list (this CPU, irqs off)

function poll_list_add_tail(id: number): void {
  i32[np(id, NP_NEXT)] = 0;
  const tail = i32[SD + SD_POLL_TAIL]!;
  if (tail !== 0) i32[np(tail - 1, NP_NEXT)] = id + 1;
  else i32[SD + SD_POLL_HEAD] = id + 1;
  i32[SD + SD_POLL_TAIL] = id + 1;
}

/** Detach this CPU's whole poll list into `out` (list_splice_init). */
function poll_list_splice(out: number[]): void {
  let next = i32[SD + SD_POLL_HEAD]!;
  i32[SD + SD_POLL_HEAD] = 0;
  i32[SD + SD_POLL_TAIL] = 0;
  while (next !== 0) {
    out.push(next - 1);
    next = i32[np(next - 1, NP_NEXT)]!;
  }
}

/** ____napi_schedule: queue `id` on this CPU's poll list and raise NET_RX. Irqs off. */
function ____napi_schedule(id: number): void {
  poll_list_add_tail(id);
  Atomics.store(i32, np(id, NP_LIST_OWNER), cpuId);
  raise_softirq_irqoff(NET_RX_SOFTIRQ);
}

// ------------------------------------------------------------ receive

function __netif_receive_skb(dev: number, data: number): number {
  i32[SD + SD_PROCESSED]!++;
  const n = ptype_all.length;
  if (n === 0) return NET_RX_DROP;
  for (let k = 0; k < n; k++) ptype_all[k]!(dev, data);
  return NET_RX_SUCCESS;
}

/** enqueue_to_backlog: this CPU's backlog, interrupts off. */
function enqueue_to_backlog(dev: number, data: number): number {
  const tail = i32[SD + SD_BACKLOG_TAIL]!;
  const qlen = (tail - i32[SD + SD_INPUT_HEAD]!) | 0;
  if (qlen <= netdev_max_backlog) {
    if (qlen === 0) {
      // The backlog NAPI is ours alone: a plain test-and-set in the kernel.
      const s = np(cpuId, NP_STATE);
      if ((Atomics.or(i32, s, NAPIF_STATE_SCHED) & NAPIF_STATE_SCHED) === 0) ____napi_schedule(cpuId);
    }
    const w = SD + SD_BACKLOG + (tail & (BACKLOG_SLOTS - 1)) * SKB_WORDS;
    i32[w] = dev;
    i32[w + 1] = data;
    i32[SD + SD_BACKLOG_TAIL] = (tail + 1) | 0;
    return NET_RX_SUCCESS;
  }
  i32[SD + SD_DROPPED]!++;
  return NET_RX_DROP;
}

/**
 * process_backlog - the poll function of this CPU's backlog pseudo-NAPI:
 * deliver the process_queue, then splice the input_pkt_queue into it with
 * interrupts off, until `quota` packets or both queues are empty.
 */
function process_backlog(_napi: NapiStruct, quota: number): number {
  let work = 0;
  for (;;) {
    let head = i32[SD + SD_BACKLOG_HEAD]!;
    while (head !== i32[SD + SD_INPUT_HEAD]) {
      const w = SD + SD_BACKLOG + (head & (BACKLOG_SLOTS - 1)) * SKB_WORDS;
      const dev = i32[w]!;
      const data = i32[w + 1]!;
      head = (head + 1) | 0;
      i32[SD + SD_BACKLOG_HEAD] = head;
      preempt_point();
      __netif_receive_skb(dev, data);
      if (++work >= quota) return work;
    }
    local_irq_disable();
    const tail = i32[SD + SD_BACKLOG_TAIL]!;
    if (tail === i32[SD + SD_INPUT_HEAD]) {
      // __napi_complete inlined: only this CPU owns the backlog NAPI.
      Atomics.store(i32, np(cpuId, NP_STATE), 0);
      local_irq_enable();
      return work;
    }
    i32[SD + SD_INPUT_HEAD] = tail;
    local_irq_enable();
  }
}

// ------------------------------------------------------------ the core loop

/** napi_poll: run one instance's poll; returns its work, queues it on `repoll` if it used its whole weight. */
function napi_poll(id: number, repoll: number[]): number {
  const n = napi_by_id(id);
  const weight = i32[np(id, NP_WEIGHT)]!;
  let work = 0;
  if (Atomics.load(i32, np(id, NP_STATE)) & NAPIF_STATE_SCHED) {
    // Owning SCHED means nobody else polls it (S-NAPI-2): check it.
    const other = Atomics.exchange(i32, np(id, NP_POLLING), cpuId + 1);
    if (other !== 0) {
      BUG(`BUG: napi ${n.name} polled on CPU#${cpuId} while CPU#${other - 1} polls it (NAPI_STATE_SCHED broken)`, [dump_context()]);
    }
    i32[SD + SD_POLLS]!++;
    Atomics.add(i32, np(id, NP_POLLS), 1);
    const fid = i32[np(id, NP_POLL)]! - 1;
    try {
      const ok = run_handler(
        () => {
          work = fid < 0 ? process_backlog(n, weight) : (fn_by_id(fid) as NapiPoll)(n, weight);
        },
        () => `napi ${n.name} poll ${fid < 0 ? 'process_backlog' : fn_name(fid)}`,
        null,
      );
      if (!ok) work = 0;
    } finally {
      Atomics.compareExchange(i32, np(id, NP_POLLING), cpuId + 1, 0);
    }
    if (typeof work !== 'number' || !Number.isInteger(work) || work < 0) {
      WARN_ONCE(true, `NAPI poll function of ${n.name} returned ${String(work)}, not a packet count`);
      work = 0;
    }
    Atomics.add(i32, np(id, NP_WORK), work);
  }
  if (work > weight) pr_err(`NAPI poll function ${n.name} returned ${work}, exceeding its budget of ${weight}.`);
  if (work < weight) return work;
  // Drivers must not modify the NAPI state if they consume the entire weight.
  if (Atomics.load(i32, np(id, NP_STATE)) & NAPIF_STATE_DISABLE) {
    napi_complete_done(n, 0);
    return work;
  }
  repoll.push(id);
  return work;
}

/**
 * net_rx_action - NET_RX_SOFTIRQ's action: poll the instances on this CPU's
 * poll list until netdev_budget packets or netdev_budget_usecs have gone
 * (then time_squeeze++); leftovers go back on the list and NET_RX is
 * raised again (S-NAPI-3).
 */
function net_rx_action(): void {
  const time_limit = clock_now() + netdev_budget_usecs() / 1000;
  let budget = netdev_budget;
  const list: number[] = [];
  const repoll: number[] = [];
  let polls = 0;
  let k = 0;
  i32[SD + SD_RX_ACTIONS]!++;
  local_irq_disable();
  poll_list_splice(list);
  local_irq_enable();
  for (;;) {
    if (k === list.length) {
      if (repoll.length === 0) {
        // Refilled by a hardirq while we polled: take those too (goto start).
        local_irq_disable();
        const more = i32[SD + SD_POLL_HEAD] !== 0;
        if (more) poll_list_splice(list);
        local_irq_enable();
        if (more) continue;
      }
      break;
    }
    budget -= napi_poll(list[k++]!, repoll);
    polls++;
    if (budget <= 0 || clock_now() >= time_limit) {
      i32[SD + SD_TIME_SQUEEZE]!++;
      break;
    }
  }
  const work = netdev_budget - budget;
  if (work > i32[SD + SD_RX_WORK_MAX]!) i32[SD + SD_RX_WORK_MAX] = work;
  if (polls > i32[SD + SD_RX_POLLS_MAX]!) i32[SD + SD_RX_POLLS_MAX] = polls;
  // The poll list becomes: the instances not reached, those scheduled
  // meanwhile, then those that used their whole weight.
  local_irq_disable();
  const fresh: number[] = [];
  poll_list_splice(fresh);
  for (let i = k; i < list.length; i++) poll_list_add_tail(list[i]!);
  for (const id of fresh) poll_list_add_tail(id);
  for (const id of repoll) poll_list_add_tail(id);
  if (i32[SD + SD_POLL_HEAD] !== 0) __raise_softirq_irqoff(NET_RX_SOFTIRQ);
  local_irq_enable();
}

// ------------------------------------------------------------ public API

/**
 * netif_napi_add - declare the NAPI instance named `name` with poll function
 * `poll` and weight NAPI_POLL_WEIGHT (64). It starts disabled: call
 * napi_enable() before it can be scheduled.
 * @returns the napi_struct (every CPU gets the same one).
 * Context: module load (every CPU registers its copy of `poll`).
 */
export function netif_napi_add(name: string, poll: NapiPoll): NapiStruct {
  return netif_napi_add_weight(name, poll, NAPI_POLL_WEIGHT);
}

/**
 * netif_napi_add_weight - netif_napi_add with an explicit weight; a weight
 * above NAPI_POLL_WEIGHT is reported, as the kernel does.
 * Context: module load.
 * @returns the NAPI instance; a KdeferError if net_dev_init() was not called or the weight is not a positive integer.
 */
export function netif_napi_add_weight(name: string, poll: NapiPoll, weight: number): NapiStruct {
  if (!initialised) throw new KdeferError(`netif_napi_add(${name}): call net_dev_init() at module load first`);
  if (!Number.isInteger(weight) || weight <= 0)
    throw new KdeferError(`netif_napi_add(${name}): weight ${String(weight)} is not a positive integer`);
  const fid = fn_id(poll as (...a: never[]) => unknown, `napi:${name}`);
  const e = registry_resolve(mem, NAME_KIND_OBJECT, `napi:${name}`, () => ({ value: napi_slot_alloc(name), size: 0 }));
  const id = e.value;
  if (e.created) {
    if (weight > NAPI_POLL_WEIGHT) pr_err(`netif_napi_add_weight() called with weight ${weight} (${name})`);
    i32[np(id, NP_WEIGHT)] = weight;
    i32[np(id, NP_POLL)] = fid + 1;
    i32[np(id, NP_NAME)] = intern(name);
    i32[np(id, NP_IRQ)] = 0;
    i32[np(id, NP_NEXT)] = 0;
    Atomics.store(i32, np(id, NP_LIST_OWNER), -1);
    // Added disabled: owned (SCHED | NPSVC) until napi_enable.
    Atomics.store(i32, np(id, NP_STATE), NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC | NAPIF_STATE_LISTED);
  }
  return napi_by_id(id);
}

/** The shared napi_struct table's slots (slot.ts): claimed through NP_FLAGS; the first nrCpus are the CPUs' backlogs. */
const napis = new SlotTable({
  what: 'napi',
  size: 'maxNapi',
  word: (m, id, f) => m.napi(id, f),
  claim: NP_FLAGS,
  taken: NPF_ALLOCATED,
  first: (m) => m.g.cpus,
  full: (n, name) => `napi table full: maxNapi=${n} (${nrCpus} are the CPUs' backlogs) while adding ${name} (boot option maxNapi)`,
});

function napi_slot_alloc(name: string): number {
  return napis.alloc(0, undefined, name);
}

/**
 * netif_napi_set_irq - record the IRQ line that schedules `n` (napi->irq).
 * Context: any, before the instance is enabled.
 */
export function netif_napi_set_irq(n: NapiStruct, irq: number): void {
  i32[np(n.id, NP_IRQ)] = irq + 1;
}

/**
 * napi_enable - allow `n` to be scheduled. BUG if it was not disabled.
 * Context: process context.
 */
export function napi_enable(n: NapiStruct): void {
  preempt_point();
  check_napi(n, 'napi_enable');
  const s = np(n.id, NP_STATE);
  let val = Atomics.load(i32, s);
  for (;;) {
    if (!(val & NAPIF_STATE_SCHED)) BUG(`kernel BUG: napi_enable(${n.name}) on an instance that is not disabled`, [dump_context()]);
    const nv = val & ~(NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC);
    const old = Atomics.compareExchange(i32, s, val, nv);
    if (old === val) return;
    val = old;
  }
}

/**
 * napi_disable - stop `n` from being scheduled and wait until it is not
 * owned (its poll is not running and will not run); on return the caller
 * owns it. Not idempotent: disabling a disabled instance never returns in
 * the kernel; kdefer reports it after the soft-lockup bound and stops.
 * Context: process context (await it); it sleeps.
 */
export async function napi_disable(n: NapiStruct): Promise<void> {
  preempt_point();
  check_napi(n, 'napi_disable');
  might_sleep('napi_disable');
  const s = np(n.id, NP_STATE);
  Atomics.or(i32, s, NAPIF_STATE_DISABLE);
  const bound = Math.max(i32[H_SOFTLOCKUP_MS]!, spin_lockup_ms());
  const t0 = clock_now();
  let val = Atomics.load(i32, s);
  for (;;) {
    while (val & (NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC)) {
      if (clock_now() - t0 > bound) {
        printk(
          KERN_EMERG +
            `BUG: napi_disable(${n.name}) on CPU#${cpuId}: the instance stayed owned for ${Math.round(clock_now() - t0)} ms (state ${val.toString(16)}: disabled twice?)`,
        );
        printk(KERN_EMERG + dump_context());
        oops_end('napi_disable never returns');
      }
      await schedule_timeout_uninterruptible(1); // usleep_range(20, 200)
      val = Atomics.load(i32, s);
    }
    const old = Atomics.compareExchange(i32, s, val, val | NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC);
    if (old === val) break;
    val = old;
  }
  Atomics.and(i32, s, ~NAPIF_STATE_DISABLE);
}

/**
 * napi_schedule_prep - try to take ownership of `n` (test-and-set
 * NAPI_STATE_SCHED). If it is already scheduled, NAPI_STATE_MISSED is set
 * so that its poll runs once more.
 * @returns true if the caller now owns it and must __napi_schedule() it;
 *          false if it was scheduled already or a napi_disable is pending.
 * Context: any (usually the device's hardirq handler).
 */
export function napi_schedule_prep(n: NapiStruct): boolean {
  const s = np(n.id, NP_STATE);
  let val = Atomics.load(i32, s);
  for (;;) {
    if (val & NAPIF_STATE_DISABLE) return false;
    let nv = val | NAPIF_STATE_SCHED;
    if (val & NAPIF_STATE_SCHED) nv |= NAPIF_STATE_MISSED;
    const old = Atomics.compareExchange(i32, s, val, nv);
    if (old === val) return (val & NAPIF_STATE_SCHED) === 0;
    val = old;
  }
}

/**
 * __napi_schedule - queue `n`, which the caller owns (napi_schedule_prep
 * returned true), on THIS CPU's poll list and raise NET_RX_SOFTIRQ: the poll
 * runs on the CPU that took the interrupt (S-NAPI-2).
 * Context: any; the caller owns `n`.
 */
export function __napi_schedule(n: NapiStruct): void {
  check_napi(n, '__napi_schedule');
  const flags = local_irq_save();
  ____napi_schedule(n.id);
  local_irq_restore(flags);
}

/**
 * napi_schedule - napi_schedule_prep() and, if it succeeded, __napi_schedule().
 * @returns true if `n` was scheduled by this call.
 * Context: any.
 */
export function napi_schedule(n: NapiStruct): boolean {
  preempt_point();
  if (!napi_schedule_prep(n)) return false;
  __napi_schedule(n);
  return true;
}

/**
 * napi_complete_done - the poll of `n` is done (`work_done` < its weight):
 * give up ownership. If a schedule was missed meanwhile, `n` is scheduled
 * again instead.
 * @returns true if the driver may re-enable its interrupt; false if `n`
 *          stays scheduled (missed schedule) or is being disabled.
 * Context: the poll function of `n`.
 */
export function napi_complete_done(n: NapiStruct, work_done: number): boolean {
  void work_done;
  const s = np(n.id, NP_STATE);
  let val = Atomics.load(i32, s);
  if (val & NAPIF_STATE_NPSVC) return false;
  // Once SCHED is clear another CPU may take the instance and poll it while
  // this one still returns from ->poll: that is legal, so stop counting
  // this CPU as its poller first.
  Atomics.compareExchange(i32, np(n.id, NP_POLLING), cpuId + 1, 0);
  for (;;) {
    WARN_ONCE(!(val & NAPIF_STATE_SCHED), `napi_complete_done(${n.name}) on an instance that is not scheduled`);
    let nv = val & ~(NAPIF_STATE_MISSED | NAPIF_STATE_SCHED);
    if (val & NAPIF_STATE_MISSED) nv |= NAPIF_STATE_SCHED;
    const old = Atomics.compareExchange(i32, s, val, nv);
    if (old === val) break;
    val = old;
  }
  if (val & NAPIF_STATE_MISSED) {
    __napi_schedule(n);
    return false;
  }
  Atomics.store(i32, np(n.id, NP_LIST_OWNER), -1);
  return true;
}

/**
 * napi_complete - napi_complete_done(n, 0).
 * @param n - the NAPI instance.
 * Context: the poll function of `n`.
 * @returns as napi_complete_done.
 */
export function napi_complete(n: NapiStruct): boolean {
  return napi_complete_done(n, 0);
}

/**
 * netif_rx - queue one received packet on THIS CPU's backlog, for
 * process_backlog to deliver from NET_RX_SOFTIRQ (S-NAPI-7). Over
 * netdev_max_backlog packets it is dropped and softnet_stat's "dropped"
 * counts it.
 * @returns NET_RX_SUCCESS, or NET_RX_DROP.
 * Context: any (usually a non-NAPI driver's hardirq handler).
 */
export function netif_rx(dev: number, data: number): number {
  const flags = local_irq_save();
  if (!initialised) {
    local_irq_restore(flags);
    throw new KdeferError('netif_rx: call net_dev_init() at module load first');
  }
  const ret = enqueue_to_backlog(dev, data);
  local_irq_restore(flags);
  return ret;
}

/**
 * netif_receive_skb - hand one packet to the protocol handlers now
 * (softnet_stat's "processed" counts it).
 * @returns NET_RX_SUCCESS, or NET_RX_DROP if no handler is registered.
 * Context: softirq (a NAPI poll function), or process context.
 */
export function netif_receive_skb(dev: number, data: number): number {
  preempt_point();
  return __netif_receive_skb(dev, data);
}

/**
 * dev_add_pack - register a protocol handler for every received packet.
 * Context: module load (each CPU registers its own copy).
 */
export function dev_add_pack(pt: PacketType): void {
  if (typeof pt?.func !== 'function') throw new KdeferError('dev_add_pack: packet_type.func is not a function');
  if (loading === null) throw new KdeferError('dev_add_pack: call it at module load, so that every CPU has the handler');
  ptype_all.push(pt.func);
}

/**
 * dev_remove_pack - unregister a handler added with dev_add_pack on this CPU.
 * @param pt - the packet type added.
 * Context: module load or unload, on each CPU that added it. Does not sleep.
 */
export function dev_remove_pack(pt: PacketType): void {
  const k = ptype_all.indexOf(pt.func);
  if (k >= 0) ptype_all.splice(k, 1);
}

// ------------------------------------------------------------ statistics (any thread)

/** One CPU's softnet_data counters. */
export interface SoftnetStat {
  cpu: number;
  processed: number;
  dropped: number;
  time_squeeze: number;
  /** packets waiting in input_pkt_queue / process_queue now */
  input_qlen: number;
  process_qlen: number;
  /** net_rx_action runs, poll calls, and the most packets / polls one run made */
  rx_actions: number;
  polls: number;
  rx_work_max: number;
  rx_polls_max: number;
}

/**
 * softnetStat - every CPU's softnet_data counters.
 * @param m - the machine's memory.
 * Context: any thread, host side too; reads shared words with Atomics.load. Does not sleep.
 * @returns one record per CPU.
 */
export function softnetStat(m: Mem): SoftnetStat[] {
  const a = m.i32;
  const out: SoftnetStat[] = [];
  for (let c = 0; c < m.g.cpus; c++) {
    const f = (w: number): number => Atomics.load(a, m.softnet(c, w));
    const head = f(SD_BACKLOG_HEAD);
    const input = f(SD_INPUT_HEAD);
    const tail = f(SD_BACKLOG_TAIL);
    out.push({
      cpu: c,
      processed: f(SD_PROCESSED) >>> 0,
      dropped: f(SD_DROPPED) >>> 0,
      time_squeeze: f(SD_TIME_SQUEEZE) >>> 0,
      input_qlen: (tail - input) >>> 0,
      process_qlen: (input - head) >>> 0,
      rx_actions: f(SD_RX_ACTIONS) >>> 0,
      polls: f(SD_POLLS) >>> 0,
      rx_work_max: f(SD_RX_WORK_MAX),
      rx_polls_max: f(SD_RX_POLLS_MAX),
    });
  }
  return out;
}

/**
 * procNetSoftnetStat - /proc/net/softnet_stat as net/core/net-procfs.c (6.x) prints it: one
 * line per CPU, fifteen %08x fields — processed, dropped, time_squeeze,
 * six zeros (fastroute, cpu_collision: gone), received_rps, flow_limit_count,
 * backlog length, the CPU's index, input_pkt_queue and process_queue lengths.
 * @param m - the machine's memory.
 * Context: any thread, host side too; reads shared words with Atomics.load. Does not sleep.
 * @returns the file's text.
 */
export function procNetSoftnetStat(m: Mem): string {
  const x = (v: number): string => (v >>> 0).toString(16).padStart(8, '0');
  let s = '';
  for (const st of softnetStat(m)) {
    const fields = [
      st.processed,
      st.dropped,
      st.time_squeeze,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      st.input_qlen + st.process_qlen,
      st.cpu,
      st.input_qlen,
      st.process_qlen,
    ];
    s += fields.map(x).join(' ') + '\n';
  }
  return s;
}

/**
 * napiStat - NAPI instance `id`'s counters.
 * @param m - the machine's memory.
 * @param id - the instance's slot.
 * Context: any thread, host side too; reads shared words with Atomics.load. Does not sleep.
 * @returns its name, NAPI_STATE_* word, poll count, packets done and the CPU whose poll list holds it (-1: none).
 */
export function napiStat(m: Mem, id: number): { name: string; state: number; polls: number; work: number; listOwner: number } {
  const a = m.i32;
  return {
    name: name_of(m, a[m.napi(id, NP_NAME)]!),
    state: Atomics.load(a, m.napi(id, NP_STATE)),
    polls: Atomics.load(a, m.napi(id, NP_POLLS)) >>> 0,
    work: Atomics.load(a, m.napi(id, NP_WORK)) >>> 0,
    listOwner: Atomics.load(a, m.napi(id, NP_LIST_OWNER)),
  };
}

// ------------------------------------------------------------ init

/**
 * net_dev_init - bring up this CPU's networking core: its softnet_data and
 * backlog pseudo-NAPI, and NET_RX_SOFTIRQ's action (net_rx_action).
 * Idempotent per CPU. See the header: opt-in, unlike the kernel.
 * Context: module load (which runs it on every CPU).
 */
export function net_dev_init(): void {
  if (initialised) return;
  if (loading === null) throw new KdeferError('net_dev_init: call it at module load, so that every CPU opens NET_RX_SOFTIRQ');
  SD = mem.softnet(cpuId);
  const b = cpuId; // the backlog pseudo-NAPI of CPU n is napi id n
  Atomics.store(i32, np(b, NP_FLAGS), NPF_ALLOCATED);
  i32[np(b, NP_WEIGHT)] = dev_rx_weight;
  i32[np(b, NP_POLL)] = 0;
  i32[np(b, NP_NAME)] = intern(`backlog/${cpuId}`);
  Atomics.store(i32, np(b, NP_LIST_OWNER), -1);
  open_softirq(NET_RX_SOFTIRQ, net_rx_action);
  initialised = true;
}
