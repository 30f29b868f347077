/**
 * @kdefer/cli — the kdefer command's scenarios, callable in-process (tests,
 * notebooks) without spawning the `kdefer` executable.
 */
export { runTour, netdevModule, type TourOptions, type TourProgress, type TourCheck, type TourResult } from './scenarios/tour.js';
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
