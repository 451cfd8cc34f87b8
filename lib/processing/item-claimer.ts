import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ItemStatus } from '../statuses';
import { DatabaseAdapter } from './database-adapter';
import { toItem, type Row } from './row-mappers';
import { SQL } from './sql';

/**
 * Every change of an item's status. A claim puts the item under this worker's lease (`locked_by`,
 * `locked_until`); every later change applies only while the claim is still this worker's (fencing).
 */
@Injectable()
export class ItemClaimer {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  /** Claims up to `limit` items in `item_index` order; `[]` when none is left to claim. */
  async claim<TSource>(
    batchId: string,
    workerId: string,
    leaseMs: number,
    limit: number,
  ): Promise<ImportItem<TSource>[]> {
    const params = [batchId, workerId, leaseMs, limit];
    let rows = await this.database.queryAutocommit<Row>(SQL.claimPendingItems, params);
    if (rows.length === 0) {
      rows = await this.database.queryAutocommit<Row>(SQL.claimExpiredItems, params);
    }
    return rows.map((row) => toItem<TSource>(row)).sort((a, b) => a.itemIndex - b.itemIndex);
  }

  /**
   * Inside the item's transaction: marks it completed with its result and writes its logs; `attempts` is
   * how many tries this run made.
   * @returns false when the claim was lost, in which case the transaction must roll back.
   */
  async complete(
    transaction: QueryRunner,
    itemId: string,
    workerId: string,
    result: { processedJson: string; targetTable: string | null; targetId: string | null },
    logsJson: string,
    attempts: number,
  ): Promise<boolean> {
    const rows = await this.database.query(transaction, SQL.completeItem, [
      itemId,
      workerId,
      result.processedJson,
      result.targetTable,
      result.targetId,
      logsJson,
      attempts,
    ]);
    return rows.length === 1;
  }

  /**
   * Inside a chunk's transaction: marks its items completed with their results and logs.
   * @returns how many were still this worker's; fewer than given means the chunk must roll back.
   */
  async completeChunk(
    transaction: QueryRunner,
    workerId: string,
    itemsJson: string,
  ): Promise<number> {
    const [row] = await this.database.query<{ count: number }>(transaction, SQL.completeChunk, [
      workerId,
      itemsJson,
    ]);
    return Number(row?.count ?? 0);
  }

  /**
   * After the item's transaction rolled back: records it failed or skipped, with the reason and its logs.
   * @returns false when the claim was lost (another worker owns the item now).
   */
  async finishWithoutResult(
    itemId: string,
    workerId: string,
    status: Extract<ItemStatus, 'failed' | 'skipped'>,
    errorMessage: string,
    errorDetailsJson: string | null,
    logsJson: string,
    attempts: number,
  ): Promise<boolean> {
    const rows = await this.database.queryAutocommit(SQL.finishItemWithoutResult, [
      itemId,
      workerId,
      status,
      errorMessage,
      errorDetailsJson,
      logsJson,
      attempts,
    ]);
    return rows.length === 1;
  }

  /** Gives back every item this worker claimed and did not finish; they become pending again. */
  async releaseAll(batchId: string, workerId: string): Promise<number> {
    return (await this.database.queryAutocommit(SQL.releaseItems, [batchId, workerId])).length;
  }

  /** Gives back the given items of this worker's claim; they become pending again. */
  async release(batchId: string, workerId: string, itemIds: readonly string[]): Promise<void> {
    if (itemIds.length === 0) return;
    await this.database.queryAutocommit(SQL.releaseSomeItems, [batchId, workerId, itemIds]);
  }

  /** Extends the leases of the items this worker holds and of the batch; false when it does not hold the batch. */
  async renewLeases(batchId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const [row] = await this.database.queryAutocommit<{ held: boolean }>(SQL.renewLeases, [
      batchId,
      workerId,
      leaseMs,
    ]);
    return row?.held === true;
  }

  /** How many items of the batch another worker is processing right now. */
  async countHeldByOthers(batchId: string, workerId: string): Promise<number> {
    const [row] = await this.database.queryAutocommit<{ count: number }>(SQL.itemsHeldByOthers, [
      batchId,
      workerId,
    ]);
    return Number(row?.count ?? 0);
  }
}
