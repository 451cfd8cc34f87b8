import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * `reprocessBatch` was called on a batch that is still running, whose tree has a batch still running, or
 * that has nothing left to reprocess.
 */
export class BatchNotReprocessableError extends ReliableImportsError {
  /** The status of the batch that was refused because it has not ended; null for the other refusals. */
  readonly status: string | null;

  constructor(batchId: string, message: string, status: string | null = null) {
    super('BATCH_NOT_REPROCESSABLE', message, { batchId });
    this.status = status;
  }

  /** @internal */
  static nothingToReprocess(batchId: string): BatchNotReprocessableError {
    return new BatchNotReprocessableError(batchId, messages.nothingToReprocess(batchId));
  }

  /** @internal */
  static onlyUnreadLines(batchId: string, lines: number): BatchNotReprocessableError {
    return new BatchNotReprocessableError(batchId, messages.onlyUnreadLines(batchId, lines));
  }

  /** @internal */
  static reprocessRunning(
    batchId: string,
    runningId: string,
    status: string,
  ): BatchNotReprocessableError {
    return new BatchNotReprocessableError(
      batchId,
      messages.reprocessRunning(batchId, runningId, status),
    );
  }

  /** @internal */
  static stillRunning(batchId: string, status: string): BatchNotReprocessableError {
    return new BatchNotReprocessableError(
      batchId,
      messages.batchStillRunning(batchId, status),
      status,
    );
  }
}
