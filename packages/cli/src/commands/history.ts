/**
 * commands/history.ts — `kdefer history [story]`: the seed paper's history
 * on machines booted as each kernel era (scenarios/history.ts), one story or
 * every story that is built. Each prints its table, the figures it turns on,
 * and what it shows, citing the paper's section.
 */
import { Command, Option, InvalidArgumentError } from 'commander';
import {
  STORIES,
  EXPLANATIONS,
  hostCores,
  runForgottenMarkBh,
  runMindcraft,
  runTimers,
  formatTimers,
  runPingFlood,
  formatPingFlood,
  formatMarkBh,
  formatMindcraft,
  type StoryId,
} from '../scenarios/history.js';
import { cpusOption, positiveNumber } from '../options.js';
import { section, withInterrupt } from './common.js';

interface HistoryFlags {
  cpus: number;
  seconds?: number;
}

function parseStory(v: string): StoryId {
  const s = STORIES.find((x) => x.id === v || String(x.n) === v);
  if (!s) throw new InvalidArgumentError(`unknown story '${v}': one of ${STORIES.map((x) => `${x.n} ${x.id}`).join(', ')}`);
  if (!s.ready)
    throw new InvalidArgumentError(
      `story ${s.n} (${s.id}) is not built yet; built: ${STORIES.filter((x) => x.ready)
        .map((x) => x.id)
        .join(', ')}`,
    );
  return s.id;
}

/** The `history` command. */
export function historyCommand(): Command {
  return new Command('history')
    .description(
      "the seed paper's history replayed on machines booted as Linux 2.2, 2.4, ... (stories: mindcraft, pingflood, mark_bh, timers)",
    )
    .argument('[story]', `one story (${STORIES.map((x) => `${x.n} ${x.id}`).join(', ')}); default: every built one`, parseStory)
    .addOption(cpusOption().default(2, '2'))
    .addOption(new Option('--seconds <s>', 'seconds per measured run').argParser(positiveNumber('--seconds', 600)))
    .action(async (story: StoryId | undefined, flags: HistoryFlags) => {
      const which = story ? [story] : STORIES.filter((x) => x.ready).map((x) => x.id);
      const cores = hostCores();
      process.stdout.write(`kdefer history — host: ${cores} cores; machines of up to ${flags.cpus} CPUs\n\n`);
      if (flags.cpus > cores)
        process.stdout.write(`note: --cpus ${flags.cpus} is above the host's ${cores} cores: no speedup is claimed past ${cores} CPUs\n\n`);
      await withInterrupt(async (signal) => {
        for (const id of which) {
          const meta = STORIES.find((x) => x.id === id)!;
          const title = `story ${meta.n}: ${meta.title} — seed paper ${meta.section}`;
          const progress = (l: string): void => void process.stderr.write(`  ${l}\n`);
          if (id === 'mark_bh') {
            const r = await runForgottenMarkBh({
              cpus: Math.max(1, Math.min(flags.cpus, 2)),
              seconds: flags.seconds ?? 1,
              signal,
              onProgress: progress,
            });
            section(title, formatMarkBh(r));
            section(
              'figures',
              Object.entries(r.figures)
                .map(([k, v]) => `${k} = ${Number.isFinite(v) ? Number(v.toFixed(3)) : 'n/a'}`)
                .join('\n') +
                `\n(driver A interrupts every ${r.aPeriodMs} ms; the other driver every ${r.bPeriodMs} ms; a jiffy is ${r.jiffyMs} ms)`,
            );
            section('what it shows', EXPLANATIONS.mark_bh);
          } else if (id === 'pingflood') {
            const cpus = Math.max(2, Math.min(flags.cpus, 4));
            const r = await runPingFlood({ cpus, seconds: flags.seconds ?? 1, signal, onProgress: progress });
            section(title, formatPingFlood(r));
            section(
              'figures',
              `one flow (one RX queue) offered ${r.loadPps.toFixed(0)} packets/s = 2 × the 1-CPU NAPI capacity, on ${cpus} CPUs`,
            );
            section('what it shows', EXPLANATIONS.pingflood);
          } else if (id === 'timers') {
            const r = await runTimers({ maxCpus: Math.min(flags.cpus, 8), seconds: flags.seconds ?? 1, signal, onProgress: progress });
            section(title, formatTimers(r));
            const fmt = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
            section(
              'figures',
              `timers26_speedup_2cpu = ${fmt(r.figures.timers26_speedup_2cpu)}\ntimers24_speedup_2cpu = ${fmt(r.figures.timers24_speedup_2cpu)}\ntimers22_speedup_2cpu = ${fmt(r.figures.timers22_speedup_2cpu)}\n(${r.perCpu} timers per CPU, ${r.cost} iterations of work each)`,
            );
            section('what it shows', EXPLANATIONS.timers);
          } else if (id === 'mindcraft') {
            const r = await runMindcraft({ maxCpus: flags.cpus, seconds: flags.seconds ?? 1, signal, onProgress: progress });
            section(title, formatMindcraft(r));
            const fmt = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
            section(
              'figures',
              `softnet24_speedup_2cpu = ${fmt(r.figures.softnet24_speedup_2cpu)}\nbh22_speedup_2cpu = ${fmt(r.figures.bh22_speedup_2cpu)}\nnapi24_speedup_2cpu = ${fmt(r.figures.napi24_speedup_2cpu)}\n(1-CPU NAPI capacity ${r.capacityPps.toFixed(0)} packets/s; each row the best of its offered loads)`,
            );
            section('what it shows', EXPLANATIONS.mindcraft);
          }
        }
      });
    });
}
