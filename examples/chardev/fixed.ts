// The chardev example fixed: read() takes the lock with spin_lock_irqsave() (see chardev.ts).
import { chardev } from './chardev.js';

export default chardev(true);
