/**
 * commands/report.ts — `kdefer report FILE...`: merge the JSON results of a
 * campaign's shards (`kdefer stress <scenario> --shard K/N --json FILE`, one
 * per CI job or indexed Kubernetes job) into one summary.
 *
 * The files must be shards of ONE campaign (same scenario, options, seed,
 * amplification and trial count). Exit status 1 if any trial failed, or if
 * the files leave trials of the campaign uncovered.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { KdeferError } from '@kdefer/core';
import { mergeCampaigns, asCampaignResult, type CampaignResult } from '../scenarios/campaign.js';
import { campaignScenario } from '../scenarios/trials.js';
import { printCampaignSummary, printRerun } from './stress.js';
import { fmtAmplify } from '../seed.js';

/** The `report` command. */
export function reportCommand(): Command {
  return new Command('report')
    .description("merge the JSON results of a campaign's shards (kdefer stress <scenario> --shard K/N --json FILE) into one summary")
    .argument('<files...>', 'result files written by --json')
    .action(async (files: string[]) => {
      process.exitCode = await report(files);
    });
}

async function report(files: string[]): Promise<number> {
  const parts: { file: string; result: CampaignResult }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new KdeferError(`report: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new KdeferError(`report: ${file} is not JSON`);
    }
    parts.push({ file, result: asCampaignResult(data, file) });
  }
  const m = mergeCampaigns(parts);
  const out = process.stdout;
  out.write(
    `kdefer report — ${m.scenario}, campaign seed ${m.seedHex}, amplify ${fmtAmplify(m.amplify)}, ${m.trials} trials, options ${JSON.stringify(m.options)}\n` +
      `${m.files} file${m.files === 1 ? '' : 's'}: shards ${m.shards.map((s) => `${s.k}/${s.n}`).join(', ')}\n`,
  );
  printCampaignSummary(m.summary, { trials: m.results.length, elapsedMs: m.elapsedMs, machines: m.machines, shards: m.files });
  if (m.conflicts.length > 0) out.write(`conflicting results for trials ${m.conflicts.join(', ')} (kept the failing one)\n`);
  let flags: ReturnType<typeof campaignScenario>['flags'] = [];
  try {
    flags = campaignScenario(m.scenario).flags;
  } catch {
    // a scenario this kdefer does not know: no rerun line with its options
  }
  const cpus =
    parts.find((p) => p.result.summary.firstFailure?.index === m.summary.firstFailure?.index)?.result.cpus ?? parts[0]!.result.cpus;
  printRerun(m.summary, m.scenario, m.options, flags, m.amplify, cpus);
  if (m.summary.missing.length > 0) {
    out.write(`report: INCOMPLETE — ${m.summary.missing.length} of ${m.trials} trials are in no file\n`);
    return 1;
  }
  return m.summary.failed > 0 ? 1 : 0;
}
