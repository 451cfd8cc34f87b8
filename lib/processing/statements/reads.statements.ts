/**
 * The statements behind the public reads: pages of batches, of a batch's items and of its logs, each with
 * optional filters, and one item. A filter left out adds no condition; one given adds its condition and
 * its parameter together, so that their numbers cannot drift apart.
 */

import type { BatchStatus, ItemStatus, LogLevel } from '../../statuses';
import type { Statement } from './statement';

/** A page of batches, newest first. */
export function listBatches(args: {
  limit: number;
  offset: number;
  statuses?: readonly BatchStatus[];
  batchType?: string;
  parentBatchId?: string;
}): Statement {
  const values: unknown[] = [args.limit, args.offset];
  const conditions: string[] = [];
  if (args.statuses) conditions.push(`"status" = ANY(${parameter(values, args.statuses)}::text[])`);
  if (args.batchType !== undefined) {
    conditions.push(`"batch_type" = ${parameter(values, args.batchType)}`);
  }
  if (args.parentBatchId !== undefined) {
    conditions.push(`"parent_batch_id" = ${parameter(values, args.parentBatchId)}`);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  return {
    text: `
    SELECT * FROM "import_batches" ${where}
    ORDER BY "created_at" DESC, "id" DESC
    LIMIT $1 OFFSET $2`,
    values,
  };
}

/** A page of the items of batch `batchId`, in item order. */
export function listItems(args: {
  batchId: string;
  limit: number;
  offset: number;
  statuses?: readonly ItemStatus[];
}): Statement {
  const values: unknown[] = [args.limit, args.offset, args.batchId];
  const where = args.statuses
    ? `AND "status" = ANY(${parameter(values, args.statuses)}::text[])`
    : '';
  return {
    text: `
    SELECT * FROM "import_batch_items" WHERE "batch_id" = $3 ${where}
    ORDER BY "item_index"
    LIMIT $1 OFFSET $2`,
    values,
  };
}

/** A page of the log entries of batch `batchId`, in the order they were written. */
export function listLogs(args: {
  batchId: string;
  limit: number;
  offset: number;
  levels?: readonly LogLevel[];
  itemId?: string;
}): Statement {
  const values: unknown[] = [args.limit, args.offset, args.batchId];
  const conditions: string[] = [];
  if (args.levels) conditions.push(`"level" = ANY(${parameter(values, args.levels)}::text[])`);
  if (args.itemId !== undefined) conditions.push(`"item_id" = ${parameter(values, args.itemId)}`);
  const where = conditions.map((condition) => `AND ${condition}`).join(' ');
  return {
    text: `
    SELECT "id"::text AS "id", "batch_id", "item_id", "level", "message", "details", "created_at"
    FROM "import_logs" WHERE "batch_id" = $3 ${where}
    -- The table's column, not the output's: that one is text, and '10' would sort before '9'.
    ORDER BY "import_logs"."id"
    LIMIT $1 OFFSET $2`,
    values,
  };
}

/** Item `itemId`. */
export function itemById(args: { itemId: string }): Statement {
  return {
    text: `SELECT * FROM "import_batch_items" WHERE "id" = $1`,
    values: [args.itemId],
  };
}

/** Adds `value` to the statement's `values` and returns its placeholder (`$4` for the fourth). */
function parameter(values: unknown[], value: unknown): string {
  return `$${values.push(value)}`;
}
