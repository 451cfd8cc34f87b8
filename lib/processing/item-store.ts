import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import type { ImportItem } from '../interfaces/import-item.interface';
import { DatabaseAdapter } from './database-adapter';
import { toItem, type Row } from './row-mappers';
import {
  claimExpiredItems,
  claimPendingItems,
  completeChunk,
  completeItem,
  finishItemWithoutResult,
  hasClaimableItems,
  itemsHeldByOthers,
  releaseItems,
  releaseSomeItems,
  type CompletedChunkItem,
  type CompletedItem,
  type UnappliedItem,
} from './statements/items.statements';

/**
 * Where a run's next claim of pending items starts looking: past the highest item it claimed
 * (`ItemStore.claim`). One per run, shared by its lanes.
 */
export interface ClaimCursor {
  fromIndex: number;
}

/**
 * Every change of an item's status in a run: claims, completions, failures and skips, and claims given
 * back. A claim puts the item under this worker's lease (`locked_by`, `locked_until`); every later change
 * applies only while the claim is still this worker's (fencing).
 */
@Injectable()
export class ItemStore {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  /**
   * Claims up to `limit` items in `item_index` order; `[]` when none is left to claim. Pending items are
   * looked for from `cursor` on first, then, when there are none, from the start: items that became
   * pending behind it (given back by another run, or kept from a claim by a lock) are claimed last, and
   * never left behind.
   * @param cursor - shared by the claims of one run; moved past what each claim takes.
   * @param onExpired - told how many items were taken from runs whose lease had run out, when any were.
   */
  async claim<TSource>(
    batchId: string,
    workerId: string,
    leaseMs: number,
    limit: number,
    cursor: ClaimCursor,
    onExpired?: (count: number) => void,
  ): Promise<ImportItem<TSource>[]> {
    const claim = { batchId, workerId, leaseMs, limit };
    let rows = await this.database.run<Row>(
      claimPendingItems({ ...claim, fromIndex: cursor.fromIndex }),
    );
    if (rows.length === 0 && cursor.fromIndex > 0)
      rows = await this.database.run<Row>(claimPendingItems({ ...claim, fromIndex: 0 }));
    for (const row of rows)
      cursor.fromIndex = Math.max(cursor.fromIndex, Number(row.item_index) + 1);
    if (rows.length === 0) {
      rows = await this.database.run<Row>(claimExpiredItems(claim));
      if (rows.length > 0) onExpired?.(rows.length);
    }
    return rows.map((row) => toItem<TSource>(row)).sort((a, b) => a.itemIndex - b.itemIndex);
  }

  /**
   * Inside the item's transaction: marks it completed with its result and writes its logs (`logsJson`);
   * `attempts` is how many tries this run made.
   * @returns false when the claim was lost, in which case the transaction must roll back.
   */
  async complete(transaction: QueryRunner, item: CompletedItem): Promise<boolean> {
    const rows = await this.database.run(completeItem(item), transaction);
    return rows.length === 1;
  }

  /**
   * Inside a chunk's transaction: marks its items completed with their results and logs.
   * @returns how many were still this worker's; fewer than given means the chunk must roll back.
   */
  async completeChunk(
    transaction: QueryRunner,
    workerId: string,
    items: readonly CompletedChunkItem[],
  ): Promise<number> {
    const [row] = await this.database.run<{ count: number }>(
      completeChunk({ workerId, items }),
      transaction,
    );
    return Number(row?.count ?? 0);
  }

  /**
   * After the item's transaction rolled back: records it failed or skipped, with the reason and its logs.
   * @returns false when the claim was lost (another worker owns the item now).
   */
  async finishWithoutResult(item: UnappliedItem): Promise<boolean> {
    const rows = await this.database.run(finishItemWithoutResult(item));
    return rows.length === 1;
  }

  /** Gives back every item this worker claimed and did not finish; they become pending again. */
  async releaseAll(batchId: string, workerId: string): Promise<number> {
    return (await this.database.run(releaseItems({ batchId, workerId }))).length;
  }

  /** Gives back the given items of this worker's claim; they become pending again. */
  async release(batchId: string, workerId: string, itemIds: readonly string[]): Promise<void> {
    if (itemIds.length === 0) return;
    await this.database.run(releaseSomeItems({ batchId, workerId, itemIds }));
  }

  /** Whether the batch has items to claim: pending, or held by a run whose lease ran out. */
  async hasClaimable(batchId: string): Promise<boolean> {
    const [row] = await this.database.run<{ claimable: boolean }>(hasClaimableItems({ batchId }));
    return row?.claimable === true;
  }

  /** How many items of the batch another worker is processing right now. */
  async countHeldByOthers(batchId: string, workerId: string): Promise<number> {
    const [row] = await this.database.run<{ count: number }>(
      itemsHeldByOthers({ batchId, workerId }),
    );
    return Number(row?.count ?? 0);
  }
}
