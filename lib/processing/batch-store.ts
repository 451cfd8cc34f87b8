import { Inject, Injectable } from '@nestjs/common';
import { BatchNotReprocessableError } from '../errors/batch-not-reprocessable.error';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import { ImportItemNotFoundError } from '../errors/import-item-not-found.error';
import { InvalidSourceDataError } from '../errors/invalid-source-data.error';
import { ItemNotCorrectableError } from '../errors/item-not-correctable.error';
import type {
  GetItemsFilter,
  GetLogsFilter,
  ListBatchesFilter,
} from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ImportLogEntry } from '../interfaces/import-log.interface';
import type { ItemStatus } from '../interfaces/statuses.interface';
import { isJsonProblem, serializeSourceData } from '../utils/source-data.util';
import { ArgumentChecks } from '../utils/arguments.util';
import { isUuid } from '../utils/uuid.util';
import { DatabaseAdapter } from './database-adapter';
import { runInItemTransaction } from './item-transaction';
import type { LogBuffer } from './log-buffer';
import { toBatch, toItem, toLogEntry, toSummary, type Row } from './row-mappers';
import { SQL } from './sql';

/** Reads batches, items and logs; every change of a batch's status; corrections and reprocess copies. */
@Injectable()
export class BatchStore {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  async getBatch(batchId: string): Promise<ImportBatch> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const [row] = await this.database.rowsOnce<Row>(SQL.batchById, [batchId]);
    if (!row) throw new ImportBatchNotFoundError(batchId);
    return toBatch(row);
  }

  async getSummary(batchId: string): Promise<BatchSummary> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const [row] = await this.database.rowsOnce<Row>(SQL.summary, [batchId]);
    if (!row) throw new ImportBatchNotFoundError(batchId);
    return toSummary(row);
  }

  /** The first batch of the reprocessing chain this batch belongs to; null for a batch that has no parent. */
  async getOriginalBatchId(batch: ImportBatch): Promise<string | null> {
    if (batch.parentBatchId === null) return null;
    const [row] = await this.database.rowsOnce<{ id: string }>(SQL.rootBatchId, [batch.id]);
    return row?.id ?? batch.parentBatchId;
  }

  async listBatches(filterArgument?: ListBatchesFilter): Promise<ImportBatch[]> {
    const check = new ArgumentChecks('listBatches');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 50);
    const statuses = check.batchStatuses(filter.status, 'filter.status');
    check.optionalString(filter.batchType, 'filter.batchType');
    check.optionalString(filter.parentBatchId, 'filter.parentBatchId');
    const params: unknown[] = [limit, offset];
    const conditions: string[] = [];
    if (statuses) conditions.push(`"status" = ANY($${params.push(statuses)}::text[])`);
    if (filter.batchType !== undefined)
      conditions.push(`"batch_type" = $${params.push(filter.batchType)}`);
    if (filter.parentBatchId !== undefined) {
      if (!isUuid(filter.parentBatchId)) return [];
      conditions.push(`"parent_batch_id" = $${params.push(filter.parentBatchId)}`);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = await this.database.rowsOnce<Row>(SQL.listBatches(where), params);
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
    const params: unknown[] = [limit, offset, batchId];
    const where = statuses ? `AND "status" = ANY($${params.push(statuses)}::text[])` : '';
    const rows = await this.database.rowsOnce<Row>(SQL.listItems(where), params);
    return rows.map((row) => toItem<TSource>(row));
  }

  async getLogs(batchId: string, filterArgument?: GetLogsFilter): Promise<ImportLogEntry[]> {
    const check = new ArgumentChecks('getLogs');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 1000);
    const levels = check.logLevels(filter.level, 'filter.level');
    check.optionalString(filter.itemId, 'filter.itemId');
    await this.getBatch(batchId);
    const params: unknown[] = [limit, offset, batchId];
    const conditions: string[] = [];
    if (levels) conditions.push(`"level" = ANY($${params.push(levels)}::text[])`);
    if (filter.itemId !== undefined) {
      if (!isUuid(filter.itemId)) return [];
      conditions.push(`"item_id" = $${params.push(filter.itemId)}`);
    }
    const where = conditions.map((condition) => `AND ${condition}`).join(' ');
    const rows = await this.database.rowsOnce<Row>(SQL.listLogs(where), params);
    return rows.map(toLogEntry);
  }

  /** pending → processing, or takes over a batch whose holder's lease expired. Null when another holds it. */
  async startBatch(
    batchId: string,
    workerId: string,
    leaseMs: number,
  ): Promise<ImportBatch | null> {
    const [row] = await this.database.rowsOnce<Row>(SQL.startBatch, [batchId, workerId, leaseMs]);
    return row ? toBatch(row) : null;
  }

  /**
   * processing → completed | completed_with_errors, or → failed when `failure` is given. Releases the lease.
   */
  async finishBatch(
    batchId: string,
    workerId: string,
    failure: string | null,
  ): Promise<ImportBatch | null> {
    const [row] = await this.database.rowsOnce<Row>(SQL.finishBatch, [batchId, workerId, failure]);
    return row ? toBatch(row) : null;
  }

  /** Gives the batch back unfinished (processing, no lease), for the next run to take over. */
  async releaseBatch(batchId: string, workerId: string): Promise<void> {
    await this.database.rowsOnce(SQL.releaseBatch, [batchId, workerId]);
  }

  /** Writes batch-level entries (not tied to an item) from a buffer; nothing when it is empty. */
  async writeLogs(batchId: string, itemId: string | null, logs: LogBuffer): Promise<void> {
    if (logs.size === 0) return;
    await this.database.rowsOnce(SQL.insertLogs, [batchId, itemId, logs.drain()]);
  }

  /** Stores corrected data for a failed or skipped item, and the old and new data in the audit log. */
  async correctItem<TSource>(itemId: string, sourceData: TSource): Promise<ImportItem<TSource>> {
    if (!isUuid(itemId)) throw new ImportItemNotFoundError(String(itemId));
    return runInItemTransaction(this.database, async (transaction) => {
      const [row] = await this.database.rows<Row>(transaction, SQL.itemForUpdate, [itemId]);
      if (!row) throw new ImportItemNotFoundError(itemId);
      const item = toItem<TSource>(row);
      if (item.status !== 'failed' && item.status !== 'skipped') {
        throw new ItemNotCorrectableError(itemId, item.itemIndex, item.status);
      }
      const json = serializeSourceData(sourceData);
      if (isJsonProblem(json)) {
        throw new InvalidSourceDataError(
          `the correction of item "${itemId}"`,
          item.itemIndex,
          json.path,
          json.problem,
          undefined,
          'call correctItem again',
        );
      }
      const [updated] = await this.database.rows<Row>(transaction, SQL.correctItem, [itemId, json]);
      const audit = JSON.stringify([
        {
          level: 'info',
          message: `Item ${item.itemIndex} corrected`,
          details: {
            itemIndex: item.itemIndex,
            old: item.correctedData ?? item.sourceData,
            new: JSON.parse(json) as unknown,
          },
          created_at: new Date().toISOString(),
        },
      ]);
      await this.database.rows(transaction, SQL.insertLogs, [item.batchId, itemId, audit]);
      return toItem<TSource>(updated);
    });
  }

  /**
   * Creates the child batch of a reprocess, with the chosen items of the parent (corrections applied),
   * in one transaction. The parent is not changed.
   */
  async createChildBatch(parent: ImportBatch, failedItemsOnly: boolean): Promise<ImportBatch> {
    if (parent.status === 'pending' || parent.status === 'processing') {
      throw BatchNotReprocessableError.stillRunning(parent.id, parent.status);
    }
    const statuses: ItemStatus[] = failedItemsOnly
      ? ['failed', 'skipped', 'pending']
      : ['failed', 'skipped', 'pending', 'completed'];
    return runInItemTransaction(this.database, async (transaction) => {
      await this.database.rows(transaction, SQL.lockBatch, [parent.id]);
      const [running] = await this.database.rows<{ id: string }>(transaction, SQL.runningChild, [
        parent.id,
      ]);
      if (running) throw BatchNotReprocessableError.reprocessRunning(parent.id, running.id);
      const [row] = await this.database.rows<Row>(transaction, SQL.insertBatch, [
        parent.batchType,
        JSON.stringify(parent.sourceInfo),
        JSON.stringify({ ...parent.metadata, reprocessOf: parent.id }),
        null,
        parent.id,
      ]);
      const child = toBatch(row);
      const [copied] = await this.database.rows<{ count: number }>(
        transaction,
        SQL.copyItemsToChild,
        [child.id, parent.id, statuses, failedItemsOnly],
      );
      const count = Number(copied?.count ?? 0);
      if (count === 0) throw BatchNotReprocessableError.nothingToReprocess(parent.id);
      const [sealed] = await this.database.rows<Row>(transaction, SQL.setTotalItems, [
        child.id,
        count,
      ]);
      const audit = JSON.stringify([
        {
          level: 'info',
          message: `Reprocessing ${count} item(s) in batch ${child.id}`,
          details: { childBatchId: child.id, failedItemsOnly },
          created_at: new Date().toISOString(),
        },
      ]);
      await this.database.rows(transaction, SQL.insertLogs, [parent.id, null, audit]);
      return toBatch(sealed);
    });
  }
}
