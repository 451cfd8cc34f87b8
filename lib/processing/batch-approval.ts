import { Inject, Injectable } from '@nestjs/common';
import { BatchStatusConflictError } from '../errors/batch-status-conflict.error';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import { aboutBatch } from '../events/event-payloads';
import { ImportEventPublisher } from '../events/import-event-publisher';
import { RELIABLE_IMPORTS_EVENTS } from '../events/reliable-imports.events';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import { messages } from '../reliable-imports.messages';
import { storableText, TEXT_LIMITS } from '../utils/storable-text.util';
import { isUuid } from '../utils/uuid.util';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { LogBuffer } from './log-buffer';
import { toBatch, type Row } from './row-mappers';
import { approveBatch, rejectBatch } from './statements/approval.statements';
import { notifyBatchCreated } from './statements/batches.statements';
import { inTransaction } from './transaction';

/**
 * The operator's decision on a batch that waits for approval (`requireApproval`): approve it (the runs may
 * take it) or reject it (it ends, its rows cancelled). Each decision is one conditional statement: of two
 * decisions made at once, in one process or two, exactly one is made and the other is refused.
 */
@Injectable()
export class BatchApproval {
  constructor(
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(ImportEventPublisher) private readonly events: ImportEventPublisher,
  ) {}

  /** awaiting_approval → pending, and the workers told (when the approval commits). */
  async approve(batchId: string): Promise<ImportBatch> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const audit = new LogBuffer();
    audit.info(messages.batchApproved());
    const approved = await inTransaction(this.database, async (transaction) => {
      const [row] = await this.database.run<Row>(
        approveBatch({ batchId, entries: audit.toJson() }),
        transaction,
      );
      if (row) await this.database.run(notifyBatchCreated({ batchId }), transaction);
      return row;
    });
    if (approved) {
      const batch = toBatch(approved);
      this.events.publish(RELIABLE_IMPORTS_EVENTS.batchApproved, aboutBatch(batch));
      return batch;
    }
    throw new BatchStatusConflictError(await this.store.getBatch(batchId), 'approve');
  }

  /** awaiting_approval → rejected with the reason; its pending rows are cancelled. */
  async reject(batchId: string, reason: string | undefined): Promise<ImportBatch> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const stored = storableText(
      reason === undefined || reason.trim() === '' ? messages.rejectedWithoutReason() : reason,
      TEXT_LIMITS.message,
    );
    const [row] = await this.database.run<Row>(
      rejectBatch({ batchId, reason: stored.text, entries: this.rejectionEntry(stored) }),
    );
    if (row) {
      const batch = toBatch(row);
      this.events.publish(RELIABLE_IMPORTS_EVENTS.batchRejected, {
        ...aboutBatch(batch),
        reason: batch.errorMessage ?? stored.text,
      });
      return batch;
    }
    throw new BatchStatusConflictError(await this.store.getBatch(batchId), 'reject');
  }

  /** The audit entry of a rejection, with the reason as given when it had to be changed to be stored. */
  private rejectionEntry(reason: { text: string; original?: string }): string {
    const audit = new LogBuffer();
    audit.warn(messages.batchRejected({ reason: reason.text }), {
      ...(reason.original === undefined ? {} : { originalReason: reason.original }),
    });
    return audit.toJson();
  }
}
