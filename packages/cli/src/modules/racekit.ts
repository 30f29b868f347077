/**
 * racekit.ts — what the race modules (modules/races/*.ts) share: the
 * shared-memory gates that force an interleaving, the "gate IRQ" that opens
 * a gate from inside a waiting kernel call, bounded waits, busy work, and a
 * seeded random source. Loaded on every CPU as part of each race module; it
 * is not a module itself.
 *
 * A forced reproducer works as a kernel test forces a race: the deferred
 * context (a timer function, a tasklet) announces that it is inside
 * (`GATE_INSIDE`) and spins at a gate until the teardown path opens it
 * (`GATE_GO`). Where the teardown path would open the gate "from inside" a
 * call that waits (del_timer_sync, tasklet_kill, cancel_work_sync, free_irq), it raises the
 * race module's gate IRQ on its own CPU just before the call: the hardirq is
 * taken at the first preemption point inside that call — a kdefer CPU takes
 * interrupts at every kernel API call — and its handler opens the gate and
 * records, from the stack it interrupted, which call it landed in.
 *
 * Every wait is bounded (GATE_LIMIT_MS): a reproducer whose interleaving
 * cannot happen fails with a message instead of hanging.
 *
 * Each race module also describes itself with `defineRace()` (at the end of
 * this file): its case descriptor — name, SEMANTICS statement, buggy and
 * fixed API variants, boot options, IRQ lines, what a natural trial starts —
 * is the one place a case is described; the race lab's table and any other
 * host (tests, a future explorer) enumerate those descriptors. The
 * descriptor is plain data with no host or CLI type in it, so the module can
 * import it on a CPU thread as well.
 *
 * Adding a race case is one file plus its test:
 *   1. modules/races/<name>.ts — `defineModule('race.<name>', ...)` with the
 *      entries `trial(api, seed)` (natural, no gate) and `forced(api)` (the
 *      interleaving forced with gate_hold / open_gate_inside_next_call), and
 *      `export const CASE = defineRace({...})`, its lines from a new row of
 *      irqs.ts; list CASE in scenarios/race.ts's RACE_MODULES;
 *   2. test/races.test.ts — the forced reproducer of each variant, titled
 *      with the SEMANTICS statement.
 */
import { cpu_relax, cond_resched, IRQ_HANDLED, request_irq, irq_set_affinity, raiseIrq, KdeferError, xorshift32 } from '@kdefer/core';

/** How long any forced wait may take before the reproducer gives up (ms). */
export const GATE_LIMIT_MS = 5000;

// Words of a race module's control array (its shared_int32 'race.<case>.s').
// Each is written by the side named, read by the other with Atomics.
/** teardown path: hold the next deferred run at the gate (1), or not (0) */
export const GATE_ARM = 0;
/** deferred context: 1 while it waits at the gate */
export const GATE_INSIDE = 1;
/** teardown path / gate IRQ: open the gate */
export const GATE_GO = 2;
/** gate IRQ: 1 + index into GATE_CALLS of the call it interrupted, or -1 if none of them */
export const GATE_WHERE = 3;
/** deferred context: 1 if the gate stayed shut for GATE_LIMIT_MS */
export const GATE_TIMEOUT = 4;
/** deferred context: runs so far */
export const RUNS = 5;
/** deferred context: 1 while a run is in progress (set at entry, cleared at return) */
export const RUNNING = 6;
/** deferred context: runs completed */
export const DONE = 7;
/** first word a race module may use for itself */
export const FIRST_FREE = 16;
/** words in a race module's control array */
export const CTL_WORDS = 64;

/** The kernel calls a gate IRQ can report having interrupted (GATE_WHERE - 1 indexes it). */
export const GATE_CALLS = [
  'timer_delete_sync',
  'timer_shutdown_sync',
  'tasklet_kill',
  'cancel_work_sync',
  'free_irq',
  'timer_delete',
  'kfree',
] as const;

/** Reset the control words of a trial. */
export function gate_reset(s: Int32Array): void {
  for (let k = 0; k < FIRST_FREE; k++) Atomics.store(s, k, 0);
}

/**
 * In the deferred context: if the gate is armed, take the arming, say we are
 * inside and spin (interrupts still land: cpu_relax is a preemption point)
 * until GATE_GO, or GATE_LIMIT_MS. Context: atomic (timer, tasklet).
 */
export function gate_hold(s: Int32Array): void {
  if (Atomics.compareExchange(s, GATE_ARM, 1, 0) !== 1) return;
  Atomics.store(s, GATE_INSIDE, 1);
  const t0 = performance.now();
  let spins = 0;
  while (Atomics.load(s, GATE_GO) === 0) {
    cpu_relax();
    if ((++spins & 255) === 0 && performance.now() - t0 > GATE_LIMIT_MS) {
      Atomics.store(s, GATE_TIMEOUT, 1);
      break;
    }
  }
  Atomics.store(s, GATE_INSIDE, 0);
}

/**
 * Process context: wait (yielding) until `cond()` holds; bounded.
 * @throws KdeferError naming `what` after GATE_LIMIT_MS
 */
export async function wait_until(cond: () => boolean, what: string, limitMs = GATE_LIMIT_MS): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    await cond_resched();
    cpu_relax();
    if (performance.now() - t0 > limitMs) throw new KdeferError(`race: gave up after ${limitMs} ms waiting for ${what}`);
  }
}

/** Atomic context (holding a spinlock): spin until `cond()` holds; bounded. */
export function spin_until(cond: () => boolean, what: string, limitMs = GATE_LIMIT_MS): void {
  const t0 = performance.now();
  let spins = 0;
  while (!cond()) {
    cpu_relax();
    if ((++spins & 255) === 0 && performance.now() - t0 > limitMs)
      throw new KdeferError(`race: gave up after ${limitMs} ms waiting for ${what}`);
  }
}

/**
 * Busy for `us` microseconds, calling `each` between preemption points —
 * a handler "talking to the device", a teardown "quiescing the hardware".
 */
export function busy_us(us: number, each?: () => void): void {
  const end = performance.now() + us / 1000;
  do {
    each?.();
    cpu_relax();
  } while (performance.now() < end);
}

/**
 * Declare the module's gate IRQ at load: line `irq`, routed to CPU 0 (the
 * teardown CPU), shown as `<name>-gate` in /proc/interrupts; its handler
 * opens the gate of `s` and records which kernel call it interrupted.
 * (Keep `name` short: the handler's registry name includes it.)
 */
export function gate_irq_init(irq: number, s: Int32Array, name: string): void {
  const race_gate = (): number => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64;
    const stack = new Error().stack ?? '';
    Error.stackTraceLimit = limit;
    const where = GATE_CALLS.findIndex((fn) => new RegExp(`\\bat (async )?${fn} `).test(stack));
    Atomics.store(s, GATE_WHERE, where + 1 || -1);
    Atomics.store(s, GATE_GO, 1);
    return IRQ_HANDLED;
  };
  request_irq(irq, race_gate, 0, `${name}-gate`, null);
  irq_set_affinity(irq, [0]);
}

/**
 * Process context on CPU 0: raise the gate IRQ, so that it lands at the
 * first preemption point of the kernel call made next.
 */
export function open_gate_inside_next_call(irq: number): void {
  raiseIrq(irq);
}

/**
 * The API variant `api` of race module `mod`, checked against its `apis`.
 * Context: any.
 * @returns `api`, typed as one of `apis`
 * @throws KdeferError naming the module and its variants if `api` is none of them
 */
export function raceApi<A extends string>(mod: string, apis: readonly A[], api: string): A {
  if (!(apis as readonly string[]).includes(api))
    throw new KdeferError(`${mod}: unknown API '${api}' (${apis.map((x) => `'${x}'`).join(', ')})`);
  return api as A;
}

/** Where the gate IRQ landed, by name ('' if it has not fired, 'elsewhere' if in none of GATE_CALLS). */
export function gate_where(s: Int32Array): string {
  const w = Atomics.load(s, GATE_WHERE);
  return w === 0 ? '' : w < 0 ? 'elsewhere' : GATE_CALLS[w - 1]!;
}

/** A seeded random source in [0, 1) (xorshift32): trials are replayable from their seed. */
export function prng(seed: number): () => number {
  let x = (seed >>> 0) ^ 0x9e3779b9 || 1;
  return () => {
    x = xorshift32(x);
    return (x >>> 0) / 2 ** 32;
  };
}

/** One API variant of a race case: a row of the race lab's table. */
export interface RaceVariant {
  /** the API (or the order of the APIs) the teardown uses: the row's name */
  api: string;
  /** whether this is a fixed variant (it must never produce a report) */
  fixed: boolean;
}

/**
 * One module entry a natural trial starts: `entry` on CPU `cpu`, called with
 * `(api, seed)` if `api`, with `((seed ^ seedXor) >>> 0)` otherwise.
 */
export interface RaceEntry {
  cpu: number;
  entry: string;
  api: boolean;
  seedXor?: number;
}

/** What a race module declares about itself: its case descriptor. */
export interface RaceCaseSpec {
  /** the case's name (`kdefer race <name>`); the module is `race.<name>` */
  name: string;
  /** the SEMANTICS.md statement it reproduces */
  statement: string;
  /** one line for listings (`kdefer race --help`) */
  summary: string;
  /** what makes a trial a hit, in words */
  hit: string;
  /** the API variants: the buggy ones, then the fixed ones */
  buggy: readonly string[];
  fixed: readonly string[];
  /** natural trials per variant when a caller gives no count */
  defaultTrials: number;
  /** boot options beyond the race lab's own (plain data: any host can pass them on) */
  boot?: Readonly<Record<string, unknown>>;
  /** the module's IRQ lines (from irqs.ts) */
  irqs: readonly number[];
  /**
   * what one natural trial starts, all at once; the trial's outcome is the
   * value of the first entry called with the API. Default: `trial(api, seed)`
   * on CPU 0.
   */
  natural?: readonly RaceEntry[];
  /** the module file: `import.meta.url` of the race module */
  url: string;
}

/** A race case as hosts enumerate it: the spec, normalised. */
export interface RaceCase {
  name: string;
  statement: string;
  summary: string;
  hit: string;
  variants: readonly RaceVariant[];
  defaultTrials: number;
  boot: Readonly<Record<string, unknown>>;
  irqs: readonly number[];
  natural: readonly RaceEntry[];
  /** the module's name (`race.<name>`) and file */
  moduleName: string;
  module: URL;
}

/**
 * Describe a race case. Each race module (modules/races/<name>.ts) exports
 * `CASE = defineRace({...})`; the race lab's table (scenarios/race.ts) is
 * built from those descriptors, and nothing else describes a case.
 *
 * Adding a race case is one file plus its test:
 *   1. modules/races/<name>.ts: a `defineModule('race.<name>', ...)` whose
 *      entries are `trial(api, seed)` (natural: no gate) and `forced(api)`
 *      (the interleaving, forced with gate_hold / open_gate_inside_next_call
 *      above), and `export const CASE = defineRace({ name, statement, ... })`
 *      with its IRQ lines from a new row of irqs.ts;
 *   2. add the module to the list in scenarios/race.ts's RACE_MODULES;
 *   3. test/races.test.ts: the forced reproducer of each variant, titled with
 *      the SEMANTICS statement.
 *
 * @throws KdeferError naming what is wrong with the spec
 */
export function defineRace(spec: RaceCaseSpec): RaceCase {
  const who = `defineRace(${spec.name})`;
  if (!/^[a-z0-9-]+$/.test(spec.name)) throw new KdeferError(`${who}: the name must be [a-z0-9-]+`);
  if (spec.buggy.length + spec.fixed.length === 0) throw new KdeferError(`${who}: no API variant`);
  const apis = [...spec.buggy, ...spec.fixed];
  if (new Set(apis).size !== apis.length) throw new KdeferError(`${who}: an API variant is listed twice`);
  if (!Number.isInteger(spec.defaultTrials) || spec.defaultTrials < 1)
    throw new KdeferError(`${who}: defaultTrials must be a positive integer`);
  const natural = spec.natural ?? [{ cpu: 0, entry: 'trial', api: true }];
  if (!natural.some((e) => e.api)) throw new KdeferError(`${who}: no natural entry is called with the API`);
  return {
    name: spec.name,
    statement: spec.statement,
    summary: spec.summary,
    hit: spec.hit,
    variants: [...spec.buggy.map((api) => ({ api, fixed: false })), ...spec.fixed.map((api) => ({ api, fixed: true }))],
    defaultTrials: spec.defaultTrials,
    boot: spec.boot ?? {},
    irqs: spec.irqs,
    natural,
    moduleName: `race.${spec.name}`,
    module: new URL(spec.url),
  };
}
