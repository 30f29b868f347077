/**
 * dependency-cruiser rules for kdefer: no import cycles anywhere, and the
 * layers of packages/core (drawn in packages/core/README.md): a file may
 * import only files of its own layer or of a lower one. Run by
 * `npm run depcruise` (part of `npm run lint`). There is no baseline of
 * known violations: any cycle or upward import fails the check.
 */
const src = '^packages/core/src/';
const f = (names) => `${src}(${names.join('|')})\\.ts$`;

// Bottom up. Where a file sits differently from issue 10's sketch, the
// README says why.
const LAYERS = [
  // 1: memory map and machine words, log and report layer, module table, NIC rings, the slot allocator, the boot option era
  ['layout', 'smp', 'printk', 'module', 'ipi', 'nic', 'upcall', 'preempt_mask', 'clock', 'rand', 'slot', 'era/era'],
  // 2: preempt_count and the preemption point, trace, the watchdog's counters
  ['preempt', 'entry', 'det', 'trace', 'watchdog', 'sched/task'],
  // 3: lock validator and spinlocks, the handler guard (it checks lockdep's depth)
  ['lockdep', 'spinlock', 'oops'],
  // 4: softirq, then hardirq, the tick interrupt and the IRQ work interrupt
  ['softirq', 'irq', 'tick', 'irq_work', 'nmi'],
  // 5: the scheduler and what sleeps or defers on it (rcu: grace periods and their callbacks)
  [
    'sched',
    'ksoftirqd',
    'wait',
    'mutex',
    'completion',
    'tasklet',
    'timer',
    'hrtimer',
    'irq_thread',
    'slab',
    'rcu',
    'era/bh22',
    'era/tqueue',
  ],
  // 6: workqueues, NAPI, bottom-half helpers, the eras' switch tables
  ['workqueue', 'napi', 'bh', 'era/boot'],
  // 7: the CPU loop, init, host readers, the package's faces
  ['sched/idle', 'init', 'cpu_entry', 'proc', 'index'],
];

const layerRules = LAYERS.slice(0, -1).map((files, i) => ({
  name: `core-layer-${i + 1}`,
  comment: `layer ${i + 1} (${files.join(', ')}) may import only layers 1..${i + 1}`,
  severity: 'error',
  from: { path: f(files) },
  to: { path: f(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle: the layers must form one straight descent',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-file-has-a-layer',
      comment: 'every file of packages/core/src belongs to one layer in .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: src, pathNot: f(LAYERS.flat()) },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
  },
};
