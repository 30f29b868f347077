/**
 * era/era.ts — which kernel era the machine booted as (boot option `era`).
 *
 * kdefer's machine is today's kernel (6.x). An era selects, once at boot,
 * which deferral back-ends exist and how the shared API names map onto them
 * (a switch table each era's files install at CPU bring-up, never a test in
 * a hot path): '2.2' (old-style bottom halves, task queues), '2.4' (softnet:
 * softirqs, tasklets, the old BHs as HI tasklets under global_bh_lock, task
 * queues), '2.6' (early 2.6, before cmwq), '6.x' (the default: today's
 * machine) and 'rt' (PREEMPT_RT on 6.x). Sources per statement are in
 * shared/history.md (H-…).
 *
 * An API that the booted era lacks is a clear error naming the era that has
 * it (era_missing below).
 */
import { H_ERA } from '../layout.js';
import { mem } from '../smp.js';
import { KdeferError } from '../module.js';

/** The eras, as the boot option spells them. */
export const ERAS = ['6.x', '2.2', '2.4', '2.6', 'rt'] as const;
export type Era = (typeof ERAS)[number];

/** H_ERA codes: the index in ERAS (0 = 6.x, the default, so a zeroed header is 6.x). */
export const ERA_6X = 0;
export const ERA_22 = 1;
export const ERA_24 = 2;
export const ERA_26 = 3;
export const ERA_RT = 4;

/**
 * era_code - validate the boot option `era`.
 * @param v - the option's value (undefined: the default, '6.x').
 * Context: the host, at boot. Throws a RangeError listing the valid eras.
 * @returns its H_ERA code.
 */
export function era_code(v: unknown): number {
  if (v === undefined) return ERA_6X;
  const i = ERAS.indexOf(v as Era);
  if (typeof v !== 'string' || i < 0) {
    throw new RangeError(`kdefer: boot option era=${JSON.stringify(v)} is not an era: use one of ${ERAS.map((e) => `'${e}'`).join(', ')}`);
  }
  return i;
}

/**
 * booted_era - the era this machine booted as.
 * Context: any, on a CPU (after bring-up). Does not sleep.
 * @returns '2.2', '2.4', '2.6', '6.x' or 'rt'.
 */
export function booted_era(): Era {
  return ERAS[mem.i32[H_ERA]!] ?? '6.x';
}

/**
 * era_of - the era a machine's memory says it booted as (host side).
 * @param m - anything with the machine's words.
 * Context: the host. Does not sleep.
 * @returns the era.
 */
export function era_of(m: { i32: Int32Array }): Era {
  return ERAS[m.i32[H_ERA]!] ?? '6.x';
}

/**
 * era_missing - a function that throws the error for `api` in this era:
 * `${api}: ${why}; boot with era ${eras}`.
 * @param api - the API's kernel name.
 * @param why - what happened to it (when it came or went, which release).
 * @param eras - the eras that have it.
 * Context: era bring-up (it builds the switch table's entries).
 * @returns a function that always throws a KdeferError.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- it stands in for any API
export function era_missing(api: string, why: string, eras: readonly Era[]): (...a: any[]) => never {
  const list = eras.map((e) => `'${e}'`);
  const where = list.length <= 1 ? list.join('') : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
  const msg = `${api}: ${why}; boot with era ${where} (this machine booted as '${booted_era()}')`;
  return () => {
    throw new KdeferError(msg);
  };
}
