import { messages } from '../reliable-imports.messages';
import { messageOf } from '../utils/error-details.util';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * `processBatch` stopped because the database failed in a way that passes (a lost connection, the server
 * restarting, a serialization failure) outside any item's transaction. The batch is not marked failed: it
 * stays `processing`, its unfinished items go back to `pending`, and the next `processBatch` of the batch,
 * or a worker, goes on with them. `cause` is the database's error.
 */
export class ProcessingInterruptedError extends ReliableImportsError {
  constructor(batchId: string, cause: Error) {
    super(
      'PROCESSING_INTERRUPTED',
      messages.processingInterrupted(batchId, messageOf(cause)),
      { batchId },
      { cause },
    );
  }
}
