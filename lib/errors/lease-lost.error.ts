import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** Where a lease was lost: on an item of a batch, or on the whole batch. */
export interface LeaseLostErrorContext {
  readonly batchId: string;
  /** The item whose lease was lost; absent when the run lost its lease on the whole batch. */
  readonly itemIndex?: number;
}

/**
 * The worker lost its claim on an item or a batch (its lease expired and another worker took it over);
 * what it had not committed was rolled back so that nothing is applied twice.
 */
export class LeaseLostError extends ReliableImportsError {
  declare readonly context: LeaseLostErrorContext;

  /** The lease on item `itemIndex` of batch `batchId` was lost. */
  constructor(batchId: string, itemIndex: number, message?: string);
  /** @internal The lease on the whole batch was lost: the context names no item. */
  constructor(batchId: string, itemIndex: null, message: string);
  constructor(batchId: string, itemIndex: number | null, message?: string) {
    super(
      'LEASE_LOST',
      // Without a message, the first signature holds: the index is a number.
      message ?? messages.leaseLost(batchId, itemIndex as number),
      itemIndex === null ? { batchId } : { batchId, itemIndex },
    );
  }

  /** @internal The run lost its lease on the whole batch. */
  static forBatch(batchId: string, status: string, lockedBy: string | null): LeaseLostError {
    return new LeaseLostError(batchId, null, messages.batchLeaseLost(batchId, status, lockedBy));
  }
}
