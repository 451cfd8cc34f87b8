import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** No batch has the given id (or the id is not a uuid). */
export class ImportBatchNotFoundError extends ReliableImportsError {
  constructor(batchId: string) {
    super('BATCH_NOT_FOUND', messages.batchNotFound(batchId), { batchId });
  }
}
