/**
 * @kdefer/cli — the kdefer command's scenarios, callable in-process (tests,
 * notebooks) without spawning the `kdefer` executable.
 */
export {
  runTour,
  netdevModule,
  familyModule,
  type TourOptions,
  type TourProgress,
  type TourCheck,
  type TourResult,
} from './scenarios/tour.js';
export {
  runWorkqueueDemo,
  wqdemoModule,
  type WorkqueueOptions,
  type WorkqueueResult,
  type WorkqueueCheck,
  type BhRecord,
  type ItemRecord,
} from './scenarios/workqueue.js';
export {
  IRQ_BASE,
  NETDEV,
  NETDEV_NAMES,
  STAT_TOTAL,
  STAT_CTL,
  PCPU_RX_RUNS,
  PCPU_RX_PACKETS,
  PCPU_BACKLOG,
  PCPU_WRITES,
  PCPU_WORDS,
} from './modules/netdev.js';
export { startProgress, type Progress, type ProgressOptions } from './progress.js';
export { defaultCpus } from './options.js';
export {
  runStressLocking,
  runCell,
  mayStop,
  guideSaysCorrect,
  stressModule,
  type LockingOptions,
  type LockingResult,
  type CellResult,
  type CellSpec,
  type CellRun,
} from './scenarios/locking.js';
export { runTorture, tortureModule, type TortureOptions, type TortureResult } from './scenarios/torture.js';
export {
  runCampaign,
  mergeCampaigns,
  summarize,
  shardIndices,
  parseShard,
  defaultJobs,
  type CampaignScenario,
  type CampaignOptions,
  type CampaignResult,
  type CampaignSummary,
  type TrialResult,
} from './scenarios/campaign.js';
export { CAMPAIGN_SCENARIOS, campaignScenario, lostUpdate, lostUpdateWindows, type LostUpdateOptions } from './scenarios/trials.js';
export { STRESS_ROWS, VARIANTS, type StressRow, type VariantName } from './modules/stress.js';
export { trialSeed, fmtSeed, parseSeed, seededRandom } from './seed.js';
export {
  runScalingOnce,
  runScalingSweep,
  calibrate,
  computeSpeedups,
  parseLoad,
  loadLabel,
  formatScalingTable,
  SCALING_TABLE_LEGEND,
  scalingCharts,
  compactRate,
  rxModule,
  ROUTINGS,
  DEFAULT_WORKLOAD,
  type Routing,
  type LoadSpec,
  type ScalingWorkload,
  type RunOptions as ScalingRunOptions,
  type RunResult as ScalingRunResult,
  type RunAccounting,
  type SweepOptions,
  type SweepProgress,
  type ScalingRow,
  type ScalingReport,
} from './scenarios/scaling.js';
export { problems as scalingProblems, reportJson as scalingReportJson } from './commands/bench.js';
export {
  RX,
  RX_IRQ_BASE,
  RX_MAX_QUEUES,
  RX_RING_SIZE,
  RX_NAMES,
  RX_MODES,
  RX_CHECK_MAX,
  type RxMode,
  type RxConfig,
} from './modules/rx.js';
export { lineChart, compactNumber, type Series, type LineChartOptions } from './charts.js';
export {
  runRace,
  raceCase,
  RACE_CASES,
  type RaceOptions,
  type RaceResult,
  type RaceRow,
  type RaceProgress,
  type RaceVariant,
  type RaceCaseInfo,
  type RaceCase,
} from './scenarios/race.js';
export { defineRace, type RaceCaseSpec, type RaceEntry } from './modules/racekit.js';
export { builtinIrqTable, irqLines } from './modules/irqs.js';
export { formatRaceTable } from './commands/race.js';
export {
  prepareModule,
  explainLoadError,
  findReports,
  reportExcerpt,
  closestName,
  ModuleFileError,
  REPORT_KINDS,
  type PreparedModule,
  type FoundReport,
  type ReportKind,
} from './usermod.js';
export {
  STORIES,
  type StoryId,
  EXPLANATIONS,
  hostCores,
  runForgottenMarkBh,
  runMindcraft,
  runTimers,
  formatTimers,
  runPingFlood,
  formatPingFlood,
  type PingFloodResult,
  type TimersResult,
  formatMarkBh,
  formatMindcraft,
  historyCharts,
  MINDCRAFT_PATHS,
  type MarkBhResult,
  type MindcraftResult,
} from './scenarios/history.js';
export {
  explore,
  exhaustive,
  detRun,
  replay,
  shrink,
  readScheduleFile,
  scheduleFile,
  reportSignature,
  changedModules,
  runSeed,
  type DetTarget,
  type DetRunResult,
  type DetReport,
  type ScheduleFile,
  type ExploreOptions,
  type ExploreResult,
  type ExhaustiveOptions,
  type ExhaustiveResult,
  type ReplayResult,
  type ShrinkResult,
} from './scenarios/explore.js';
