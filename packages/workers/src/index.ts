/**
 * @kdefer/workers — the host face: Machine.boot, calls, /proc, dmesg, shutdown.
 */
export { Machine, type MachineOptions, type QuiesceOptions } from './machine.js';
export type { CpuApi, CpuStartup } from './cpu.js';
export { NetDevice, type NetDeviceOptions, type NetDeviceStats } from './netdev.js';
