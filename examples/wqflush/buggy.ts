// The wqflush example with its bug: remove() flushes the work holding the mutex it takes (see wqflush.ts).
import { wqflush } from './wqflush.js';

export default wqflush(false);
