import { Inject, Injectable } from '@nestjs/common';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ItemErrorDetails } from '../interfaces/import-item.interface';
import type {
  BatchLineage,
  FailedRow,
  GetFailuresFilter,
  LineageBatch,
} from '../interfaces/recovery.interface';
import type { BatchStatus, ItemStatus } from '../interfaces/statuses.interface';
import { ArgumentChecks } from '../utils/arguments.util';
import { isUuid } from '../utils/uuid.util';
import { DatabaseAdapter } from './database-adapter';
import {
  countUnresolved,
  failedRows,
  keysOfUnresolved,
  treeBatches,
  type Statement,
} from './recovery-sql';
import { date, numOrNull, str, toBatch, type Row } from './row-mappers';
import { SQL } from './sql';

/** Rows read per round trip when a tree's failures are streamed. */
const FAILURES_PAGE = 500;

/**
 * Reads a tree of batches (a first batch and its reprocesses) as one ledger: its failed rows as their
 * newest copies stand, and where each of its rows ended up.
 */
@Injectable()
export class TreeReader {
  constructor(@Inject(DatabaseAdapter) private readonly database: DatabaseAdapter) {}

  /** The first batch of the tree that `batchId` belongs to. @throws ImportBatchNotFoundError */
  async root(batchId: string): Promise<ImportBatch> {
    if (!isUuid(batchId)) throw new ImportBatchNotFoundError(String(batchId));
    const [found] = await this.database.rowsOnce<Row>(SQL.batchById, [batchId]);
    if (!found) throw new ImportBatchNotFoundError(batchId);
    if (found.parent_batch_id === null) return toBatch(found);
    const [root] = await this.database.rowsOnce<{ id: string }>(SQL.rootBatchId, [batchId]);
    const [row] = await this.database.rowsOnce<Row>(SQL.batchById, [root?.id ?? batchId]);
    return toBatch(row ?? found);
  }

  async failures<TSource>(
    batchId: string,
    filterArgument?: GetFailuresFilter,
  ): Promise<FailedRow<TSource>[]> {
    const check = new ArgumentChecks('getFailures');
    const filter = check.object(filterArgument, 'filter');
    const [limit, offset] = check.page(filter, 1000);
    check.optionalBoolean(filter.includeResolved, 'filter.includeResolved');
    const root = await this.root(batchId);
    const rows = await this.run(
      failedRows({
        rootId: root.id,
        includeResolved: filter.includeResolved ?? false,
        afterIndex: -1,
        limit,
        offset,
      }),
    );
    return rows.map((row) => toFailedRow<TSource>(row));
  }

  /**
   * The unresolved rows of a tree in source order, a page at a time, however many there are; each row's
   * data read from its JSON text by `parse`.
   */
  async *unresolvedPages(
    rootId: string,
    parse: (json: string) => unknown,
  ): AsyncGenerator<FailedRow<unknown>[]> {
    let afterIndex = -1;
    for (;;) {
      const rows = await this.run(
        failedRows({ rootId, includeResolved: false, afterIndex, limit: FAILURES_PAGE, offset: 0 }),
      );
      if (rows.length === 0) return;
      yield rows.map((row) => toFailedRow(row, parse));
      afterIndex = Number(rows[rows.length - 1].item_index);
      if (rows.length < FAILURES_PAGE) return;
    }
  }

  /** The columns of a tree's unresolved rows: the source's, in its order, then any others they have. */
  async columns(root: ImportBatch): Promise<string[]> {
    const columns = [...(root.sourceColumns ?? [])];
    const known = new Set(columns);
    for (const row of await this.run(keysOfUnresolved({ rootId: root.id }))) {
      const key = String(row.key);
      if (!known.has(key)) {
        known.add(key);
        columns.push(key);
      }
    }
    return columns;
  }

  async lineage(batchId: string): Promise<BatchLineage> {
    const root = await this.root(batchId);
    const batches = (await this.run(treeBatches({ rootId: root.id }))).map(toLineageBatch);
    const [{ count: unresolved }] = (await this.run(
      countUnresolved({ rootId: root.id }),
    )) as Array<{
      count: number;
    }>;
    const [first, ...reprocesses] = batches;
    const completedFirstTime = first?.completedItems ?? 0;
    // A row completes at most once in its tree, so the completions of the reprocesses are the resolved rows.
    const resolved = reprocesses.reduce((sum, batch) => sum + batch.completedItems, 0);
    const totalRows = first?.totalItems ?? 0;
    return {
      rootBatchId: root.id,
      batchType: root.batchType,
      totalRows,
      completedFirstTime,
      resolved,
      unresolved: Number(unresolved),
      notProcessed: totalRows - completedFirstTime - resolved - Number(unresolved),
      batches,
    };
  }

  private run(statement: Statement): Promise<Row[]> {
    return this.database.rowsOnce<Row>(statement.text, statement.values);
  }
}

function toFailedRow<TSource>(
  row: Row,
  parse: (json: string) => unknown = JSON.parse,
): FailedRow<TSource> {
  const details = (row.error_details ?? null) as (ItemErrorDetails & { raw?: unknown }) | null;
  const message = str(row.error_message);
  return {
    itemId: String(row.item_id),
    batchId: String(row.batch_id),
    itemIndex: Number(row.item_index),
    line: numOrNull(row.source_line),
    status: row.status as ItemStatus,
    reasons: details?.reasons ?? (message === null ? [] : [message]),
    errorCode: details?.code ?? null,
    rawLine: typeof details?.raw === 'string' ? details.raw : null,
    data: parse(String(row.data)) as TSource,
    corrected: row.corrected === true,
    resolvedBy: str(row.resolved_by),
  };
}

function toLineageBatch(row: Row): LineageBatch {
  return {
    batchId: String(row.id),
    parentBatchId: str(row.parent_batch_id),
    status: row.status as BatchStatus,
    createdAt: date(row.created_at) as Date,
    depth: Number(row.depth),
    totalItems: Number(row.total_items),
    completedItems: Number(row.completed_items),
    failedItems: Number(row.failed_items),
    skippedItems: Number(row.skipped_items),
    pendingItems: Number(row.pending_items),
  };
}
