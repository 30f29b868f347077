import { Machine } from '@kdefer/workers';
const t0 = performance.now();
const m = await Machine.boot({ cpus: 2, modules: ['/work/main/test/fixtures/dist/netdev.js'] });
console.log('booted in', (performance.now() - t0).toFixed(1), 'ms');
const r = await Promise.all([m.call(0, 'netdev', 'bump', 100000), m.call(1, 'netdev', 'bump', 100000)]);
console.log('bumped', r);
for (let i = 0; i < 1000; i++) m.raiseIrq(11);
await m.quiesce();
console.log(
  'total',
  m.sharedArray('netdev.total', Int32Array)[0],
  'per cpu',
  m.perCpuArray('netdev.rx', Int32Array).map((a) => a[0]),
);
console.log(m.procSoftirqs());
console.log(m.procInterrupts());
console.log(m.ps());
console.log(m.dmesg());
const t1 = performance.now();
await m.shutdown();
console.log('shutdown', (performance.now() - t1).toFixed(1), 'ms live', m.liveThreads());
