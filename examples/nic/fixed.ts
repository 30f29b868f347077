// The nic example fixed: remove() stops the watchdog with timer_shutdown_sync() (see nic.ts).
import { nic } from './nic.js';

export default nic(true);
