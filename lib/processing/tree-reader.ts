import { Inject, Injectable } from '@nestjs/common';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { BatchLineage, FailedRow, GetFailuresFilter } from '../interfaces/recovery.interface';
import { ArgumentChecks } from '../utils/arguments.util';
import { isUuid } from '../utils/uuid.util';
import { DatabaseAdapter } from './database-adapter';
import {
  countRows,
  failedRows,
  keysOfUnresolved,
  treeBatches,
} from './statements/recovery.statements';
import { rootBatchId } from './statements/tree.statements';
import { toBatch, toFailedRow, toLineageBatch, type Row } from './row-mappers';
import { batchById } from './statements/batches.statements';

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
    const [found] = await this.database.run<Row>(batchById({ batchId }));
    if (!found) throw new ImportBatchNotFoundError(batchId);
    // Asked even of a batch without a parent: its parent may have been deleted, and its rows still say
    // whose copies they are (as the tree's lock finds the root).
    const [root] = await this.database.run<{ id: string }>(rootBatchId({ batchId }));
    if (!root?.id || root.id === found.id) return toBatch(found);
    const [row] = await this.database.run<Row>(batchById({ batchId: root.id }));
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
    const rows = await this.database.run<Row>(
      failedRows({
        rootId: root.id,
        includeResolved: filter.includeResolved ?? false,
        afterIndex: -1,
        limit,
        offset,
      }),
    );
    const columns = root.sourceColumns ?? [];
    return rows.map((row) => inColumnOrder(toFailedRow<TSource>(row), columns));
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
      const rows = await this.database.run<Row>(
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
    for (const row of await this.database.run<Row>(keysOfUnresolved({ rootId: root.id }))) {
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
    const batches = (await this.database.run<Row>(treeBatches({ rootId: root.id }))).map(
      toLineageBatch,
    );
    const [counts] = await this.database.run<Row>(countRows({ rootId: root.id }));
    const totalRows = batches[0]?.totalItems ?? 0;
    const completedFirstTime = Number(counts.completed_first_time);
    const resolved = Number(counts.resolved);
    const unresolved = Number(counts.unresolved);
    return {
      rootBatchId: root.id,
      batchType: root.batchType,
      totalRows,
      completedFirstTime,
      resolved,
      unresolved,
      notProcessed: totalRows - completedFirstTime - resolved - unresolved,
      batches,
    };
  }
}

/** The row's data with the source's columns first, in their order (jsonb keeps no order of keys). */
function inColumnOrder<TSource>(
  row: FailedRow<TSource>,
  columns: readonly string[],
): FailedRow<TSource> {
  const data = row.data as Record<string, unknown>;
  if (columns.length === 0 || data === null || typeof data !== 'object') return row;
  const ordered: Record<string, unknown> = {};
  for (const column of columns) {
    if (Object.hasOwn(data, column)) Object.defineProperty(ordered, column, own(data[column]));
  }
  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(ordered, key)) Object.defineProperty(ordered, key, own(data[key]));
  }
  return { ...row, data: ordered as TSource };
}

/** A plain data property: `__proto__` too stays a key, as it was in the stored row. */
const own = (value: unknown): PropertyDescriptor => ({
  value,
  enumerable: true,
  writable: true,
  configurable: true,
});
