/**
 * seed.ts — seeds, seeded randomness and race amplification for the
 * commands that take `--seed S` and `--amplify L` (stress, race, campaigns).
 *
 * A seed is an unsigned 32-bit integer, printed as 0x%08x, accepted in
 * decimal or hex. A campaign's trial i runs with trialSeed(S, i): trial 0
 * with S itself, so that `--seed <a failing trial's seed> --trials 1`
 * reruns exactly that trial.
 */
import { randomInt } from 'node:crypto';
import { Option, InvalidArgumentError } from 'commander';

/** 0x%08x */
export function fmtSeed(seed: number): string {
  return `0x${(seed >>> 0).toString(16).padStart(8, '0')}`;
}

/** Parse a seed: decimal or 0x-hex, 0 .. 2^32-1. @throws on anything else */
export function parseSeed(value: string): number {
  const v = value.trim();
  const n = /^0x[0-9a-f]{1,8}$/i.test(v) ? parseInt(v.slice(2), 16) : /^\d{1,10}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError('--seed must be an integer from 0 to 0xffffffff (decimal or 0x-hex).');
  return n;
}

/** A fresh random seed (when none is given: it is printed, so the run can be repeated). */
export function randomSeed(): number {
  return randomInt(0, 0xffffffff);
}

/** splitmix32: a well-mixed 32-bit hash of `x`. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit hash of a string (FNV-1a), to derive per-cell seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The seed of trial `index` of the campaign seeded `seed` (trial 0 runs with `seed` itself). */
export function trialSeed(seed: number, index: number): number {
  return index === 0 ? seed >>> 0 : mix32((seed ^ mix32(index)) >>> 0);
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Race amplification levels (boot option `amplify`). */
export const AMPLIFY_LEVELS = ['off', 'low', 'medium', 'high'] as const;

/** "2 (medium)" */
export function fmtAmplify(level: number): string {
  return `${level} (${AMPLIFY_LEVELS[level] ?? '?'})`;
}

/** --seed S */
export function seedOption(what = 'seed of the run (decimal or 0x-hex); random if not given, and printed'): Option {
  return new Option('--seed <s>', what).argParser(parseSeed);
}

/** --amplify L */
export function amplifyOption(): Option {
  return new Option('--amplify <level>', 'race amplification: seeded random delays at preemption points, 0 (off) to 3')
    .argParser((v: string) => {
      const n = Number(v);
      if (!/^\s*\d\s*$/.test(v) || n < 0 || n > 3) throw new InvalidArgumentError('--amplify must be 0, 1, 2 or 3.');
      return n;
    })
    .default(0);
}
