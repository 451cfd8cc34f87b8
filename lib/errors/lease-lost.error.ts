import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * The worker lost its claim on an item or a batch (its lease expired and another worker took it over);
 * what it had not committed was rolled back so that nothing is applied twice.
 */
export class LeaseLostError extends ReliableImportsError {
  constructor(
    batchId: string,
    itemIndex: number,
    message = messages.leaseLost(batchId, itemIndex),
  ) {
    super('LEASE_LOST', message, { batchId, itemIndex });
  }

  /** @internal The run lost its lease on the whole batch. */
  static forBatch(batchId: string, status: string, lockedBy: string | null): LeaseLostError {
    return new LeaseLostError(batchId, -1, messages.batchLeaseLost(batchId, status, lockedBy));
  }
}
