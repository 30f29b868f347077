/**
 * cpu_entry.ts — what the CPU worker calls: bring up, load, call, stop.
 * Kept in core (pure: no worker_threads) so that the worker entry is thin.
 */
export { start_cpu } from './init.js';
export { cpu_startup_entry, cpu_request_stop, cpu_halted, type CpuLoopHooks } from './sched/idle.js';
export { create_task, task_on_exit, sched_foreign_begin, sched_foreign_end } from './sched.js';
export { load_module, module_entry, loaded_modules } from './module.js';
export { kick_cpu } from './smp.js';
