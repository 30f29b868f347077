// The wqflush example fixed: remove() flushes after dropping the mutex (see wqflush.ts).
import { wqflush } from './wqflush.js';

export default wqflush(true);
