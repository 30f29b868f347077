/**
 * irqs.ts — the IRQ lines of the built-in modules, in one table (kdefer-only;
 * Linux gets its numbers from the platform's interrupt controller, not from a
 * list). A module takes its lines from here (`irqLines('rx')`) instead of
 * writing a number of its own, and the table refuses, when it is loaded, two
 * modules that claim the same line — so a scenario can load any two built-in
 * modules on one machine without their handlers landing on each other's line.
 *
 * A new module adds its row here. Every line must be below the default boot
 * option nrIrqs (64).
 */
import { KdeferError } from '@kdefer/core';

/** First line and count of each built-in module's IRQs. */
const TABLE = {
  /** stress: the line side A raises to trigger side B */
  stress: { first: 9, count: 1 },
  /** torture: the IRQ writer's line */
  torture: { first: 10, count: 1 },
  /**
   * netdev: one RX queue per online CPU from line 16. The table reserves 4
   * (16-19); on a machine of more than 4 CPUs netdev's higher queues reach
   * into wqdemo's and rx's lines (netdev is loaded alone, by `kdefer tour`).
   */
  netdev: { first: 16, count: 4 },
  /** wqdemo: the interrupt line of its part 1 */
  wqdemo: { first: 20, count: 1 },
  /** rx: RX_MAX_QUEUES queues */
  rx: { first: 24, count: 4 },
  /** history: the forgetful driver's line, then the unrelated driver's */
  history: { first: 28, count: 2 },
  'race.del-timer-uaf': { first: 48, count: 1 },
  'race.rearm': { first: 49, count: 1 },
  'race.sync-deadlock': { first: 50, count: 1 },
  'race.shutdown': { first: 51, count: 1 },
  /** the device line, then the gate line */
  'race.tasklet-teardown': { first: 52, count: 2 },
  'race.del-timer-narrow': { first: 54, count: 1 },
  /** family: the tour's threaded line (issue 14) */
  family: { first: 56, count: 1 },
} as const satisfies Record<string, { first: number; count: number }>;

/** A built-in module that has IRQ lines. */
export type BuiltinIrqModule = keyof typeof TABLE;

/** The default boot option nrIrqs: every line of the table lies below it. */
const DEFAULT_NR_IRQS = 64;

function checkTable(): void {
  const owner = new Map<number, string>();
  for (const [mod, { first, count }] of Object.entries(TABLE)) {
    for (let irq = first; irq < first + count; irq++) {
      if (irq >= DEFAULT_NR_IRQS) throw new KdeferError(`irqs: ${mod}'s line ${irq} is not below nrIrqs ${DEFAULT_NR_IRQS}`);
      const other = owner.get(irq);
      if (other !== undefined) throw new KdeferError(`irqs: IRQ ${irq} is claimed by both ${other} and ${mod}`);
      owner.set(irq, mod);
    }
  }
}
checkTable();

/** The IRQ lines of built-in module `mod`, in order. */
export function irqLines(mod: BuiltinIrqModule): number[] {
  const { first, count } = TABLE[mod];
  return Array.from({ length: count }, (_, k) => first + k);
}

/** The first IRQ line of built-in module `mod`. */
export function irqLine(mod: BuiltinIrqModule): number {
  const lines = irqLines(mod);
  if (lines.length === 0) throw new KdeferError(`irqs: ${mod} has no IRQ line`);
  return lines[0]!;
}

/** Every line of the table, by module: for /proc/interrupts checks and tests. */
export function builtinIrqTable(): Record<string, number[]> {
  return Object.fromEntries(Object.keys(TABLE).map((m) => [m, irqLines(m as BuiltinIrqModule)]));
}
