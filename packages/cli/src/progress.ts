/**
 * progress.ts — progress of a long run, for people watching it.
 *
 * On a terminal, a cli-progress bar redrawn in place; when stdout is a file
 * or a pipe (CI logs, tests), one plain line per second, so that logs stay
 * readable and diffable. Either way the caller only says "this much of the
 * run is done, and here is a one-line summary".
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of `total` units (seconds, trials...) are done; `info` is a one-line summary. */
  update(done: number, info: string): void;
  /** Finish: draw the final state and leave the cursor on a fresh line. */
  stop(): void;
}

export interface ProgressOptions {
  /** what is running, shown first */
  label: string;
  /** the value that means "done" */
  total: number;
  /** the unit of `total`, for the plain lines ("s") */
  unit?: string;
  /** where to write (default process.stdout) */
  stream?: NodeJS.WriteStream;
  /** force the bar (true) or the plain lines (false); default: the bar iff the stream is a TTY */
  tty?: boolean;
}

/** Start showing progress. */
export function startProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stdout;
  const tty = opts.tty ?? stream.isTTY === true;
  return tty ? barProgress(opts, stream) : lineProgress(opts, stream);
}

function barProgress(opts: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${opts.label} [{bar}] {percentage}% | {info}`,
      stream,
      barsize: 24,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(opts.total, 0, { info: '' });
  let stopped = false;
  return {
    update(done, info) {
      if (!stopped) bar.update(Math.min(done, opts.total), { info });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

function lineProgress(opts: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const unit = opts.unit ?? '';
  let lastWhole = 0;
  let last: { done: number; info: string } | null = null;
  let printedLast = false;
  const print = (done: number, info: string): void => {
    stream.write(`${opts.label} ${fmt(done)}${unit}/${fmt(opts.total)}${unit}  ${info}\n`);
  };
  return {
    update(done, info) {
      last = { done, info };
      printedLast = false;
      // One line per whole unit crossed (a second, for timed runs).
      if (Math.floor(done) > lastWhole) {
        lastWhole = Math.floor(done);
        print(done, info);
        printedLast = true;
      }
    },
    stop() {
      if (last && !printedLast) print(last.done, last.info);
      last = null;
    },
  };
}

const fmt = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));
