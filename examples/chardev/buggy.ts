// The chardev example with its bug: read() takes the lock with spin_lock() (see chardev.ts).
import { chardev } from './chardev.js';

export default chardev(false);
