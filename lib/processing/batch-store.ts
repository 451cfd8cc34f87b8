import { Inject, Injectable } from '@nestjs/common';
import { BatchNotReprocessableError } from '../errors/batch-not-reprocessable.error';
import { BatchStatusConflictError } from '../errors/batch-status-conflict.error';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import { ImportItemNotFoundError } from '../errors/import-item-not-found.error';
import { aboutBatch } from '../events/event-payloads';
import { ImportEventPublisher } from '../events/import-event-publisher';
import { RELIABLE_IMPORTS_EVENTS } from '../events/reliable-imports.events';
import { InvalidSourceDataError } from '../errors/invalid-source-data.error';
import { ItemNotCorrectableError } from '../errors/item-not-correctable.error';
import { RowScrubbedError } from '../errors/row-scrubbed.error';
import type {
  GetItemsFilter,
  GetLogsFilter,
  ListBatchesFilter,
} from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ImportLogEntry } from '../interfaces/import-log.interface';
import {
  BATCH_STATUS,
  ITEM_STATUS,
  LIVE_BATCH_STATUSES,
  UNAPPLIED_ITEM_STATUSES,
  UNCOMPLETED_ITEM_STATUSES,
  holdsRow,
  isRunnableBatch,
  LOG_LEVEL,
  type BatchStatus,
  type ItemStatus,
  type LogLevel,
} from '../statuses';
import type { QueryRunner } from 'typeorm';
import { isJsonProblem, serializeSourceData } from '../utils/source-data.util';
import { ArgumentChecks } from '../utils/arguments.util';
import { isUuid } from '../utils/uuid.util';
import { messages, type BatchControl } from '../reliable-imports.messages';
import { storableText, TEXT_LIMITS } from '../utils/storable-text.util';
import type { ImportItemsSource } from '../interfaces/batch-options.interface';
import type {
  CorrectionMode,
  CorrectionsResult,
  ItemCorrection,
} from '../interfaces/recovery.interface';
import { ImportTelemetry } from '../telemetry/import-telemetry';
import type { StoredCreators } from '../telemetry/trace-context';
import { CorrectionWriter } from './correction-writer';
import type { FailureCounts } from './error-budget';
import { DatabaseAdapter } from './database-adapter';
import { LogBuffer } from './log-buffer';
import { toBatch, toItem, toLogEntry, toSummary, type Row } from './row-mappers';
import {
  batchById,
  batchSummary,
  batchToRun,
  cancelBatch,
  cancelItems,
  countCancelledBatch,
  finishBatch,
  lockBatch,
  lockBatchToStop,
  notifyBatchCreated,
  pauseBatch,
  releaseBatch,
  renewLeases,
  resumeBatch,
  startBatch,
  sweepCancelledBatches,
} from './statements/batches.statements';
import { insertBatch, setTotalItems } from './statements/creation.statements';
import { failureCounts } from './statements/progress.statements';
import { firstFailedItem, releaseEveryClaim } from './statements/items.statements';
import { insertLogs } from './statements/logs.statements';
import { itemById, listBatches, listItems, listLogs } from './statements/reads.statements';
import { copiesOfRow, itemForUpdate, storeCorrections } from './statements/recovery.statements';
import { copyItemsToChild, runningBatchInTree } from './statements/reprocess.statements';
import { lockTreeRoot, rootBatchId } from './statements/tree.statements';
import type { Statement } from './statements/statement';
import { inTransaction } from './transaction';

/**
 * Reads batches, items and logs; every change of a batch's status, and the renewal of a run's leases;
 * corrections and reprocess copies.
 */
@Injectable()
export class BatchStore {
  constructor(
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(CorrectionWriter) private readonly corrections: CorrectionWriter,
    @Inject(ImportEventPublisher) private readonly events: ImportEventPublisher,
    @Inject(ImportTelemetry) private readonly telemetry: ImportTelemetry,
  ) {}

  async getBatch(batchId: string): Promise<ImportBatch> {
    return toBatch(await this.rowOfBatch(batchId, batchById));
  }

  /**
   * The batch a run is about to take, and the trace contexts stored with it and with the batch it
   * reprocesses, as read (unchecked: the run's telemetry checks them), in the one read a run starts with.
   */
  async getBatchToRun(batchId: string): Promise<{ batch: ImportBatch; creators: StoredCreators }> {
    const row = await this.rowOfBatch(batchId, batchToRun);
    return {
      batch: toBatch(row),
      creators: { batch: row.trace_context, parentBatch: row.parent_trace_context },
    };
  }

  async getSummary(batchId: string): Promise<BatchSummary> {
    return toSummary(await this.rowOfBatch(batchId, batchSummary));
  }

  /** The one row `read` finds for a batch; a batch id that is no uuid is not found, never a SQL error. */
  private async rowOfBatch(
    batchId: string,
    read: (args: { batchId: string }) => Statement,
  ): Promise<Row> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const [row] = await this.database.run<Row>(read({ batchId }));
    if (!row) throw new ImportBatchNotFoundError(batchId);
    return row;
  }

  /** The first batch of the reprocessing chain this batch belongs to; null for a batch that has no parent. */
  async getOriginalBatchId(batch: ImportBatch): Promise<string | null> {
    if (batch.parentBatchId === null) return null;
    const [row] = await this.database.run<{ id: string }>(rootBatchId({ batchId: batch.id }));
    return row?.id ?? batch.parentBatchId;
  }

  async listBatches(filterArgument?: ListBatchesFilter): Promise<ImportBatch[]> {
    const check = new ArgumentChecks('listBatches');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 50);
    const statuses = check.batchStatuses(filter.status, 'filter.status');
    check.optionalString(filter.batchType, 'filter.batchType');
    check.optionalString(filter.parentBatchId, 'filter.parentBatchId');
    if (filter.parentBatchId !== undefined && !isUuid(filter.parentBatchId)) return [];
    const rows = await this.database.run<Row>(
      listBatches({
        limit,
        offset,
        statuses,
        batchType: filter.batchType,
        parentBatchId: filter.parentBatchId,
      }),
    );
    return rows.map(toBatch);
  }

  async getItems<TSource>(
    batchId: string,
    filterArgument?: GetItemsFilter,
  ): Promise<ImportItem<TSource>[]> {
    const check = new ArgumentChecks('getItems');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 1000);
    const statuses = check.itemStatuses(filter.status, 'filter.status');
    await this.getBatch(batchId);
    const rows = await this.database.run<Row>(listItems({ batchId, limit, offset, statuses }));
    return rows.map((row) => toItem<TSource>(row));
  }

  async getLogs(batchId: string, filterArgument?: GetLogsFilter): Promise<ImportLogEntry[]> {
    const check = new ArgumentChecks('getLogs');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 1000);
    const levels = check.logLevels(filter.level, 'filter.level');
    check.optionalString(filter.itemId, 'filter.itemId');
    await this.getBatch(batchId);
    if (filter.itemId !== undefined && !isUuid(filter.itemId)) return [];
    const rows = await this.database.run<Row>(
      listLogs({ batchId, limit, offset, levels, itemId: filter.itemId }),
    );
    return rows.map(toLogEntry);
  }

  /** pending → processing, or takes over a batch whose holder's lease expired. Null when another holds it. */
  async startBatch(
    batchId: string,
    workerId: string,
    leaseMs: number,
  ): Promise<ImportBatch | null> {
    const [row] = await this.database.run<Row>(startBatch({ batchId, workerId, leaseMs }));
    return row ? toBatch(row) : null;
  }

  /**
   * Extends the leases of the batch, when this worker holds it, and of the items it holds, in one round
   * trip; false when it does not hold the batch.
   */
  async renewLeases(batchId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const [row] = await this.database.run<{ held: boolean }>(
      renewLeases({ batchId, workerId, leaseMs }),
    );
    return row?.held === true;
  }

  /**
   * processing → completed | completed_with_errors, or → failed when `failure` is given. Releases the lease.
   */
  async finishBatch(
    batchId: string,
    workerId: string,
    failure: string | null,
  ): Promise<ImportBatch | null> {
    if (failure === null) {
      const [row] = await this.database.run<Row>(finishBatch({ batchId, workerId, failure }));
      return row ? toBatch(row) : null;
    }
    // A stop ends the batch whoever holds its items: every claim is given back in the same transaction,
    // so that no item stays processing in a failed batch when the run that held it dies.
    return inTransaction(this.database, async (transaction) => {
      const [held] = await this.database.run(lockBatchToStop({ batchId }), transaction);
      if (!held) return null;
      await this.database.run(releaseEveryClaim({ batchId }), transaction);
      const [row] = await this.database.run<Row>(
        finishBatch({ batchId, workerId, failure }),
        transaction,
      );
      return row ? toBatch(row) : null;
    });
  }

  /**
   * The stop reason of a batch that must stop at its first failure, when a failed item is recorded (in
   * item order); null when none is. The run makes it storable with the stop it decides.
   */
  async stopAtFirstFailure(batchId: string): Promise<string | null> {
    const [row] = await this.database.run<{ item_index: number; error_message: string | null }>(
      firstFailedItem({ batchId }),
    );
    if (!row) return null;
    return messages.abortedAfterItem(
      row.item_index,
      row.error_message ?? messages.failedWithoutReason(),
    );
  }

  /**
   * pending | processing → paused, with the reason (null for an operator's pause); a paused batch is
   * returned as it is. No item is claimed once this returns; the items in flight finish in their runs.
   * @throws BatchStatusConflictError when the batch has ended or awaits approval.
   */
  async pauseBatch(batchId: string, reason: string | null): Promise<ImportBatch> {
    const paused = await this.controlled(batchId, async (transaction) => {
      const [row] = await this.database.run<Row>(pauseBatch({ batchId, reason }), transaction);
      if (!row) return null;
      await this.log(transaction, batchId, LOG_LEVEL.info, messages.batchPausedLog(reason));
      return toBatch(row);
    });
    if (!paused) return this.unchanged(batchId, BATCH_STATUS.paused, 'pause');
    this.events.publish(RELIABLE_IMPORTS_EVENTS.batchPaused, { ...aboutBatch(paused), reason });
    return paused;
  }

  /**
   * paused → pending (never started) or processing with no holder, for the next run to take at once; the
   * rows corrected since they failed go again (every failed row with `retryFailed`). A running or pending batch is returned as it is.
   * @throws BatchStatusConflictError when the batch has ended or awaits approval.
   */
  async resumeBatch(batchId: string, retryFailed: boolean): Promise<ImportBatch> {
    const resumed = await this.controlled(batchId, async (transaction) => {
      const [row] = await this.database.run<Row>(
        resumeBatch({ batchId, retryFailed }),
        transaction,
      );
      if (!row) return null;
      await this.log(
        transaction,
        batchId,
        LOG_LEVEL.info,
        messages.batchResumedLog(Number(row.requeued_items ?? 0)),
      );
      await this.database.run(notifyBatchCreated({ batchId }), transaction);
      return { batch: toBatch(row), requeuedItems: Number(row.requeued_items ?? 0) };
    });
    if (resumed) {
      this.events.publish(RELIABLE_IMPORTS_EVENTS.batchResumed, {
        ...aboutBatch(resumed.batch),
        requeuedItems: resumed.requeuedItems,
      });
      return resumed.batch;
    }
    const batch = await this.getBatch(batchId);
    if (isRunnableBatch(batch.status)) return batch;
    throw new BatchStatusConflictError(batch, 'resume');
  }

  /**
   * A live batch → cancelled, with the reason: its rows that no live run holds become cancelled at once,
   * the rows in flight finish in their runs (which cancel what they claimed and did not start). A
   * cancelled batch is cancelled again: rows a dead run left are cancelled, and the counts brought up to
   * date. @throws BatchStatusConflictError when the batch has ended otherwise.
   */
  async cancelBatch(batchId: string, reason: string | null): Promise<ImportBatch> {
    const { batch, again } = await this.controlled(batchId, async (transaction) => {
      const [locked] = await this.database.run<Row>(lockBatch({ batchId }), transaction);
      if (!locked) throw new ImportBatchNotFoundError(batchId);
      const batch = toBatch(locked);
      const again = batch.status === BATCH_STATUS.cancelled;
      if (!again && !LIVE_BATCH_STATUSES.includes(batch.status)) {
        throw new BatchStatusConflictError(batch, 'cancel');
      }
      const message = again
        ? (batch.errorMessage ?? messages.batchCancelled(null))
        : storableText(messages.batchCancelled(reason), TEXT_LIMITS.message).text;
      const cancelled = await this.database.run(
        cancelItems({ batchId, reason: message }),
        transaction,
      );
      if (!again) {
        await this.database.run(cancelBatch({ batchId, reason: message }), transaction);
        await this.log(
          transaction,
          batchId,
          LOG_LEVEL.info,
          messages.batchCancelledLog(message, cancelled.length),
        );
      }
      const [row] = await this.database.run<Row>(countCancelledBatch({ batchId }), transaction);
      return { batch: toBatch(row), again };
    });
    if (!again) {
      this.events.publish(RELIABLE_IMPORTS_EVENTS.batchCancelled, {
        ...aboutBatch(batch),
        reason: batch.errorMessage ?? messages.batchCancelled(null),
        cancelledItems: batch.cancelledItems,
      });
    }
    return batch;
  }

  /**
   * Brings the counts of a cancelled batch up to date, once a run's items in flight have finished: each
   * run does it as it leaves, so that the last one counts every outcome.
   */
  async recountCancelledBatch(batchId: string): Promise<void> {
    await inTransaction(this.database, async (transaction) => {
      await this.database.run(lockBatch({ batchId }), transaction);
      await this.database.run(countCancelledBatch({ batchId }), transaction);
    });
  }

  /** The batch's failed rows among those processed, from its progress counters (a few rows to sum). */
  async failureCounts(batchId: string): Promise<FailureCounts> {
    const [row] = await this.database.run<{ failed: number; processed: number }>(
      failureCounts({ batchId }),
    );
    return { failed: Number(row?.failed ?? 0), processed: Number(row?.processed ?? 0) };
  }

  /**
   * Cancels the rows that dead runs left `processing` in cancelled batches once their leases ran out, and
   * counts those batches again. @returns how many batches were swept.
   */
  async sweepCancelledBatches(): Promise<number> {
    const swept = await this.database.run<{ batch_id: string }>(sweepCancelledBatches());
    for (const { batch_id } of swept) await this.recountCancelledBatch(String(batch_id));
    return swept.length;
  }

  /** Runs an operator's change of a batch in a transaction; an id that is no uuid is not found. */
  private async controlled<T>(
    batchId: string,
    change: (transaction: QueryRunner) => Promise<T>,
  ): Promise<T> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    return inTransaction(this.database, change);
  }

  /** The batch, when a control found it already where it would bring it; otherwise why it refused. */
  private async unchanged(
    batchId: string,
    status: BatchStatus,
    control: BatchControl,
  ): Promise<ImportBatch> {
    const batch = await this.getBatch(batchId);
    if (batch.status === status) return batch;
    throw new BatchStatusConflictError(batch, control);
  }

  private async log(
    transaction: QueryRunner,
    batchId: string,
    level: LogLevel,
    message: string,
  ): Promise<void> {
    const entries = new LogBuffer();
    entries[level](message);
    await this.database.run(
      insertLogs({ batchId, itemId: null, entries: entries.drain() }),
      transaction,
    );
  }

  /** Gives the batch back unfinished (processing, no lease), for the next run to take over. */
  async releaseBatch(batchId: string, workerId: string): Promise<void> {
    await this.database.run(releaseBatch({ batchId, workerId }));
  }

  /** Writes batch-level entries (not tied to an item) from a buffer; nothing when it is empty. */
  async writeLogs(batchId: string, itemId: string | null, logs: LogBuffer): Promise<void> {
    if (logs.size === 0) return;
    await this.database.run(insertLogs({ batchId, itemId, entries: logs.drain() }));
  }

  /**
   * Stores corrected data for an item whose row has not completed anywhere in its tree, and the old and
   * new data in the audit log. Refused unless the next reprocess of the tree would use it: the row must
   * not be completed or being processed in any batch of the tree, and the item must be its newest copy.
   */
  async correctItem<TSource>(
    itemId: string,
    sourceData: TSource,
    mode: CorrectionMode,
  ): Promise<ImportItem<TSource>> {
    if (!isUuid(itemId)) throw new ImportItemNotFoundError(String(itemId));
    const [found] = await this.database.run<Row>(itemById({ itemId }));
    if (!found) throw new ImportItemNotFoundError(itemId);
    return inTransaction(this.database, async (transaction) => {
      await this.lockTree(transaction, String(found.batch_id));
      const [row] = await this.database.run<Row>(itemForUpdate({ itemId }), transaction);
      if (!row) throw new ImportItemNotFoundError(itemId);
      const item = toItem<TSource>(row);
      if (item.scrubbedAt !== null) {
        throw new RowScrubbedError(
          'correct',
          item.batchId,
          item.itemIndex,
          item.sourceLine,
          item.scrubbedAt,
          item.id,
        );
      }
      if (item.status === ITEM_STATUS.completed) {
        throw new ItemNotCorrectableError(itemId, item.itemIndex, item.status);
      }
      const copies = await this.database.run<{
        id: string;
        batch_id: string;
        status: ItemStatus;
        batch_status: BatchStatus;
      }>(copiesOfRow({ itemId }), transaction);
      const completed = copies.find((copy) => copy.status === ITEM_STATUS.completed);
      if (completed) {
        throw ItemNotCorrectableError.applied(item, completed.id, completed.batch_id);
      }
      const live = copies.find((copy) => holdsRow(copy.status, copy.batch_status));
      if (live) {
        throw ItemNotCorrectableError.held(item, live.id, live.batch_id, live.batch_status);
      }
      const newest = copies[0];
      if (newest && newest.id !== itemId) {
        throw ItemNotCorrectableError.notNewest(item, newest.id, newest.batch_id);
      }
      const json = serializeSourceData(sourceData);
      if (isJsonProblem(json)) {
        throw new InvalidSourceDataError({
          where: messages.correctionOf({ itemId }),
          itemIndex: item.itemIndex,
          ...json,
          retry: messages.retryCorrection(),
        });
      }
      const [updated] = await this.database.run<Row>(
        storeCorrections({
          corrections: `[{"id":${JSON.stringify(itemId)},"data":${json},"line":null}]`,
          mode,
        }),
        transaction,
      );
      return toItem<TSource>(updated);
    });
  }

  /**
   * Applies a set of corrections to the rows of the tree of `batchId`, all or nothing (see
   * `CorrectionWriter`), in one transaction on the tree's root.
   */
  async correctItems(
    batchId: string,
    corrections: ImportItemsSource<ItemCorrection<object>>,
    mode: CorrectionMode,
  ): Promise<CorrectionsResult> {
    const batch = await this.getBatch(batchId);
    return inTransaction(this.database, async (transaction) => {
      const rootId = await this.lockTree(transaction, batch.id);
      const { corrected, unchanged } = await this.corrections.apply(
        transaction,
        rootId,
        corrections,
        mode,
      );
      return { rootBatchId: rootId, corrected, unchanged };
    });
  }

  /**
   * Creates the child batch of a reprocess, with the rows of the parent that did not complete anywhere in
   * their tree (corrections applied), in one transaction. The parent is not changed. Reprocesses of one
   * tree run one after the other (on a lock of its root), and none starts while a batch of the tree runs.
   */
  async createChildBatch(
    parent: ImportBatch,
    failedItemsOnly: boolean,
    corrections?: { items: ImportItemsSource<ItemCorrection<object>>; mode: CorrectionMode },
  ): Promise<ImportBatch> {
    if (LIVE_BATCH_STATUSES.includes(parent.status)) {
      throw BatchNotReprocessableError.stillRunning(parent.id, parent.status);
    }
    // The span of the call that asks for the reprocess: the child's runs link to it.
    const traceContext = this.telemetry.traceContextToStore();
    // Rows left processing in an ended batch (by a version that could leave them) did not complete either.
    const statuses = failedItemsOnly
      ? [...UNAPPLIED_ITEM_STATUSES, ITEM_STATUS.pending]
      : UNCOMPLETED_ITEM_STATUSES;
    return inTransaction(this.database, async (transaction) => {
      const rootId = await this.lockTree(transaction, parent.id);
      const [running] = await this.database.run<{ id: string; status: BatchStatus }>(
        runningBatchInTree({ rootId }),
        transaction,
      );
      if (running) {
        throw BatchNotReprocessableError.reprocessRunning(parent.id, running.id, running.status);
      }
      // In the same transaction: a refused set, or a reprocess that cannot start, applies nothing.
      // A row corrected here is reprocessed here, even when it is not a row of this batch (a file of the
      // tree's failures given to the reprocess of one of its batches).
      const correctedRows = corrections
        ? (await this.corrections.apply(transaction, rootId, corrections.items, corrections.mode))
            .rows
        : [];
      const [row] = await this.database.run<Row>(
        insertBatch({
          batchType: parent.batchType,
          sourceInfo: JSON.stringify(parent.sourceInfo),
          metadata: JSON.stringify({ ...parent.metadata, reprocessOf: parent.id }),
          idempotencyKey: null,
          parentBatchId: parent.id,
          traceContext,
        }),
        transaction,
      );
      const child = toBatch(row);
      const [copied] = await this.database.run<Row>(
        copyItemsToChild({ childId: child.id, parentId: parent.id, statuses, correctedRows }),
        transaction,
      );
      // Thrown in the transaction: the child and its copies roll back with it.
      if (copied?.scrubbed_at) {
        throw new RowScrubbedError(
          'reprocess',
          String(copied.scrubbed_batch_id),
          Number(copied.scrubbed_index),
          copied.scrubbed_line === null ? null : Number(copied.scrubbed_line),
          new Date(copied.scrubbed_at as string | Date),
        );
      }
      const count = Number(copied?.count ?? 0);
      const unread = Number(copied?.unread ?? 0);
      if (count === 0 && unread > 0) {
        throw BatchNotReprocessableError.onlyUnreadLines(parent.id, unread);
      }
      if (count === 0) throw BatchNotReprocessableError.nothingToReprocess(parent.id);
      const [sealed] = await this.database.run<Row>(
        setTotalItems({
          batchId: child.id,
          totalItems: count,
          sourceColumns:
            parent.sourceColumns === null ? null : JSON.stringify(parent.sourceColumns),
        }),
        transaction,
      );
      const audit = new LogBuffer();
      audit.info(messages.reprocessing({ count, childBatchId: child.id }), {
        childBatchId: child.id,
        failedItemsOnly,
        ...(unread > 0 ? { uncorrectedUnreadLines: unread } : {}),
      });
      await this.database.run(
        insertLogs({ batchId: parent.id, itemId: null, entries: audit.drain() }),
        transaction,
      );
      return toBatch(sealed);
    });
  }

  /** Locks the root of the batch's tree for the transaction; returns the root's id. */
  private async lockTree(transaction: QueryRunner, batchId: string): Promise<string> {
    const [root] = await this.database.run<{ id: string }>(rootBatchId({ batchId }), transaction);
    const rootId = root?.id ?? batchId;
    const [held] = await this.database.run(lockTreeRoot({ rootId }), transaction);
    // Removed meanwhile by retention (which holds the same row while it removes a tree): the batch is gone.
    if (!held) throw new ImportBatchNotFoundError(batchId);
    return rootId;
  }
}
