import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** Another live worker holds the batch. */
export class BatchLockedError extends ReliableImportsError {
  constructor(
    batchId: string,
    readonly lockedBy: string | null,
    readonly lockedUntil: Date | null,
  ) {
    super('BATCH_LOCKED', messages.batchLocked(batchId, lockedBy, lockedUntil), { batchId });
  }
}
