// The nic example with its bug: remove() stops the watchdog with timer_delete_sync(), which the reset work re-arms (see nic.ts).
import { nic } from './nic.js';

export default nic(false);
