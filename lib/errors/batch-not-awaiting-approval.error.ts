import { messages } from '../reliable-imports.messages';
import type { BatchStatus } from '../statuses';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * `approveBatch` or `rejectBatch` was called on a batch that is not awaiting approval (another operator may
 * have decided first). Nothing was changed; the message names the batch, its status and what to do.
 */
export class BatchNotAwaitingApprovalError extends ReliableImportsError {
  constructor(
    batchId: string,
    /** The batch's status when it was refused. */
    readonly status: BatchStatus,
    /** What was refused. */
    readonly action: 'approve' | 'reject',
  ) {
    super(
      'BATCH_NOT_AWAITING_APPROVAL',
      action === 'approve'
        ? messages.cannotApprove(batchId, status)
        : messages.cannotReject(batchId, status),
      { batchId },
    );
  }
}
