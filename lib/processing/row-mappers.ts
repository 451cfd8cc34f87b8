import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { DryRunOutcome } from '../interfaces/dry-run.interface';
import type { ImportBatch, JsonObject } from '../interfaces/import-batch.interface';
import type { ImportItem, ItemErrorDetails } from '../interfaces/import-item.interface';
import type { ImportLogEntry } from '../interfaces/import-log.interface';
import type { FailedRow, LineageBatch } from '../interfaces/recovery.interface';
import type { BatchStatus, ItemStatus, LogLevel } from '../statuses';

/** A row as the driver returns it; column names are snake_case. */
export type Row = Record<string, unknown>;

const date = (value: unknown): Date | null =>
  value === null || value === undefined
    ? null
    : value instanceof Date
      ? value
      : new Date(value as string | number);

const num = (value: unknown): number => (typeof value === 'number' ? value : Number(value ?? 0));

const numOrNull = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

const str = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : typeof value === 'string'
      ? value
      : JSON.stringify(value);

/** A row of `import_batches` as the public `ImportBatch`. */
export function toBatch(row: Row): ImportBatch {
  return {
    id: String(row.id),
    batchType: String(row.batch_type),
    status: row.status as BatchStatus,
    sourceInfo: (row.source_info ?? {}) as JsonObject,
    metadata: (row.metadata ?? {}) as JsonObject,
    idempotencyKey: str(row.idempotency_key),
    parentBatchId: str(row.parent_batch_id),
    sourceColumns: (row.source_columns ?? null) as string[] | null,
    totalItems: num(row.total_items),
    completedItems: num(row.completed_items),
    failedItems: num(row.failed_items),
    skippedItems: num(row.skipped_items),
    cancelledItems: num(row.cancelled_items),
    errorMessage: str(row.error_message),
    retryCount: num(row.retry_count),
    createdAt: date(row.created_at) as Date,
    startedAt: date(row.started_at),
    completedAt: date(row.completed_at),
    lockedBy: str(row.locked_by),
    lockedUntil: date(row.locked_until),
  };
}

/** A row of `import_batch_items` as the public `ImportItem`. */
export function toItem<TSource>(row: Row): ImportItem<TSource> {
  return {
    id: String(row.id),
    batchId: String(row.batch_id),
    itemIndex: num(row.item_index),
    sourceLine: numOrNull(row.source_line),
    status: row.status as ItemStatus,
    sourceData: row.source_data as TSource,
    correctedData: (row.corrected_data ?? null) as TSource | null,
    processedData: row.processed_data ?? null,
    targetTable: str(row.target_table),
    targetId: str(row.target_id),
    errorMessage: str(row.error_message),
    errorDetails: (row.error_details ?? null) as ItemErrorDetails | null,
    attempts: num(row.attempts),
    originalItemId: str(row.original_item_id),
    createdAt: date(row.created_at) as Date,
    startedAt: date(row.started_at),
    completedAt: date(row.completed_at),
    correctedAt: date(row.corrected_at),
    scrubbedAt: date(row.scrubbed_at),
    sourceDigest: str(row.source_digest),
    dryRun:
      row.dry_run_outcome === null || row.dry_run_outcome === undefined
        ? null
        : {
            outcome: row.dry_run_outcome as DryRunOutcome,
            error: str(row.dry_run_error),
            at: date(row.dry_run_at) as Date,
          },
  };
}

/** A row of `import_logs` as the public `ImportLogEntry` (its id as text: it is a bigint). */
export function toLogEntry(row: Row): ImportLogEntry {
  return {
    id: String(row.id),
    batchId: String(row.batch_id),
    itemId: str(row.item_id),
    level: row.level as LogLevel,
    message: String(row.message),
    details: (row.details ?? null) as Record<string, unknown> | null,
    createdAt: date(row.created_at) as Date,
  };
}

/** A row of the `import_batch_summary` view as the public `BatchSummary`. */
export function toSummary(row: Row): BatchSummary {
  return {
    batchId: String(row.batch_id),
    batchType: String(row.batch_type),
    status: row.status as BatchStatus,
    parentBatchId: str(row.parent_batch_id),
    totalItems: num(row.total_items),
    pendingItems: num(row.pending_items),
    processingItems: num(row.processing_items),
    completedItems: num(row.completed_items),
    failedItems: num(row.failed_items),
    skippedItems: num(row.skipped_items),
    cancelledItems: num(row.cancelled_items),
    errorMessage: str(row.error_message),
    startedAt: date(row.started_at),
    completedAt: date(row.completed_at),
    durationMs: numOrNull(row.duration_ms),
    itemsPerSecond: numOrNull(row.items_per_second),
  };
}

/** A failed row of a tree (`statements/recovery.statements.ts` `failedRows`); its data JSON read by `parse`. */
export function toFailedRow<TSource>(
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

/** A batch of a tree with its counts, as `getLineage` returns it. */
export function toLineageBatch(row: Row): LineageBatch {
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
