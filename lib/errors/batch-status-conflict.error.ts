import type { ImportBatch } from '../interfaces/import-batch.interface';
import { messages, type BatchControl } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * An operator's control (pause, resume, cancel) was asked of a batch whose status does not allow it: a
 * batch that has ended, or one awaiting approval. The message names the status and what to do instead.
 */
export class BatchStatusConflictError extends ReliableImportsError {
  /** The batch's status when the control was refused. */
  readonly status: string;

  /** @internal */
  constructor(batch: Pick<ImportBatch, 'id' | 'status'>, control: BatchControl) {
    super('BATCH_STATUS_CONFLICT', messages.batchStatusConflict(batch.id, batch.status, control), {
      batchId: batch.id,
    });
    this.status = batch.status;
  }
}
