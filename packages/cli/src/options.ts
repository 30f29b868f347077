/**
 * options.ts — the command-line options several kdefer commands share
 * (--cpus, --seconds, --hz), with their parsers and defaults.
 *
 * Each command adds the ones it takes with `program.addOption(cpusOption())`
 * so that the flags, their help text and their validation stay the same
 * across `tour`, `race`, `stress` and `bench`.
 */
import { availableParallelism } from 'node:os';
import { Option, InvalidArgumentError } from 'commander';
import { MAX_CPUS } from '@kdefer/core';

/** One CPU per core, at least 2 (what Machine.boot does without `cpus`). */
export function defaultCpus(): number {
  return Math.min(MAX_CPUS, Math.max(2, availableParallelism()));
}

/** A commander parser for an integer in [min, max]. */
export function intInRange(what: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A commander parser for a finite number in (0, max]. */
export function positiveNumber(what: string, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`${what} must be a number greater than 0 and at most ${max}.`);
    }
    return n;
  };
}

/** --cpus N: simulated CPUs (worker threads). */
export function cpusOption(): Option {
  return new Option('--cpus <n>', 'simulated CPUs, one worker thread each')
    .argParser(intInRange('--cpus', 1, MAX_CPUS))
    .default(defaultCpus(), `one per core, at least 2: ${defaultCpus()}`);
}

/** --seconds S: how long the scenario drives the machine. */
export function secondsOption(defaultSeconds = 2): Option {
  return new Option('--seconds <s>', 'how long to drive the machine').argParser(positiveNumber('--seconds', 3600)).default(defaultSeconds);
}

/** --hz N: the tick rate (jiffies per second). */
export function hzOption(): Option {
  return new Option('--hz <n>', 'timer tick rate, jiffies per second').argParser(intInRange('--hz', 1, 10_000)).default(1000);
}

/** `--trace FILE`: record tracepoints and write Chrome trace-event JSON (opens in Perfetto). */
export function traceOption(): Option {
  return new Option('--trace <file>', 'record the kernel tracepoints and write them as Chrome trace JSON (open it in ui.perfetto.dev)');
}

/** The options above, as commander hands them to an action. */
export interface MachineFlags {
  cpus: number;
  seconds: number;
  hz: number;
}
