import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** An idempotency key was reused for a batch with other content. */
export class IdempotencyConflictError extends ReliableImportsError {
  constructor(
    readonly idempotencyKey: string,
    existingBatchId: string,
    why: string,
  ) {
    super(
      'IDEMPOTENCY_CONFLICT',
      messages.idempotencyConflict(idempotencyKey, existingBatchId, why),
      {
        batchId: existingBatchId,
      },
    );
  }
}
