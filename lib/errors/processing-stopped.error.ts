import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * `processBatch` stopped before the batch was finished because the application is shutting down. The items
 * it had not finished were given back: the next `processBatch` of the batch goes on with them.
 */
export class ProcessingStoppedError extends ReliableImportsError {
  constructor(batchId: string) {
    super('PROCESSING_STOPPED', messages.processingStopped(batchId), { batchId });
  }
}
