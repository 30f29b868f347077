/**
 * rand.ts — the one pseudo-random step of kdefer: xorshift32 (Marsaglia).
 *
 * The machine's seeded generator (entry.ts, race amplification) and the
 * race lab's replayable trials (racekit's prng) both step through it, so a
 * seed means the same sequence everywhere. No kernel counterpart: Linux's
 * prandom is a different generator, and kdefer needs only a fast,
 * reproducible one. Pure: layer 1.
 */

/**
 * xorshift32 - the next state after `x` (a non-zero 32-bit state).
 * Context: any (pure).
 * @returns the next state as a signed 32-bit integer, never 0 when `x` is not 0.
 */
export function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x | 0;
}
