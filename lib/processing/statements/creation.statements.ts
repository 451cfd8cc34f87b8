/**
 * The statements that create a batch: the batch row, its items in chunks, and its seal (counts, hash and
 * columns) once every item is in; a reprocess creates its child batch with the same ones.
 */

import { BATCH_STATUS, ITEM_STATUS } from '../../statuses';
import { countUnreadLines } from './progress.statements';
import { sqlWord, type Statement } from './statement';

/**
 * A batch, or nothing when `idempotencyKey` is taken. `sourceInfo` and `metadata` are JSON text, and so
 * is `traceContext` (the creator's W3C trace context, or null).
 *
 * The creation time is the statement's, not the transaction's (`now()`): a reprocess orders the copies
 * of a row by it, and its transaction may have begun before it waited for the tree's lock while another
 * reprocess of the tree was made and ran. `status` is `pending` unless the batch waits for approval.
 */
export function insertBatch(args: {
  batchType: string;
  sourceInfo: string;
  metadata: string;
  idempotencyKey: string | null;
  parentBatchId: string | null;
  traceContext: string | null;
  status?: typeof BATCH_STATUS.pending | typeof BATCH_STATUS.awaitingApproval;
}): Statement {
  return {
    text: `
    INSERT INTO "import_batches"
      ("batch_type", "source_info", "metadata", "idempotency_key", "parent_batch_id", "created_at", "status",
       "trace_context")
    VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, clock_timestamp(), $6, $7::jsonb)
    ON CONFLICT ("idempotency_key") WHERE "idempotency_key" IS NOT NULL DO NOTHING
    RETURNING *`,
    values: [
      args.batchType,
      args.sourceInfo,
      args.metadata,
      args.idempotencyKey,
      args.parentBatchId,
      args.status ?? BATCH_STATUS.pending,
      args.traceContext,
    ],
  };
}

/**
 * Rows `rows` (a JSON array) of batch `batchId` from index `firstIndex`, with their source lines `lines`
 * (an array beside it, or null) and, for rows of a file that could not be read, their `failures` (a JSON
 * array of `{ ordinality, message, details }`, or null): those are stored failed at once, to be corrected
 * and reprocessed.
 */
export function insertItemsChunk(args: {
  batchId: string;
  firstIndex: number;
  rows: string;
  lines: (number | null)[] | null;
  failures: string | null;
}): Statement {
  return {
    text: `
    WITH inserted AS (
      INSERT INTO "import_batch_items"
        ("batch_id", "item_index", "source_data", "source_line", "status", "error_message", "error_details",
         "completed_at")
      SELECT $1, $2 + e."ordinality"::integer - 1, e."value", e."line",
             CASE WHEN f."ordinality" IS NULL THEN ${sqlWord(ITEM_STATUS.pending)} ELSE ${sqlWord(ITEM_STATUS.failed)} END,
             f."message", f."details", CASE WHEN f."ordinality" IS NOT NULL THEN now() END
      FROM ROWS FROM (jsonb_array_elements($3::jsonb), unnest($4::integer[]))
        WITH ORDINALITY AS e("value", "line", "ordinality")
      LEFT JOIN jsonb_to_recordset($5::jsonb) AS f("ordinality" bigint, "message" text, "details" jsonb)
        ON f."ordinality" = e."ordinality"
      WHERE e."value" IS NOT NULL
      RETURNING "batch_id", "status"
    ), ${countUnreadLines('inserted')}
    SELECT count(*)::integer AS "count" FROM inserted`,
    values: [args.batchId, args.firstIndex, args.rows, args.lines, args.failures],
  };
}

/** A `COPY ... FROM STDIN` and the data it reads, in COPY's text format. */
export interface CopyStatement {
  text: string;
  data: string;
}

const COPY_ITEMS = `COPY "import_batch_items" ("batch_id", "item_index", "source_data", "source_line") FROM STDIN`;

/** What COPY's text format reads otherwise in a field: a backslash starts an escape, a tab or a newline ends it. */
const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/** A field as COPY's text format must carry it. */
function copyField(text: string): string {
  COPY_SPECIAL.lastIndex = 0;
  return COPY_SPECIAL.test(text)
    ? text.replace(COPY_SPECIAL, (character) => COPY_ESCAPES[character])
    : text;
}

/**
 * Rows `rows` (JSON texts) of batch `batchId` from index `firstIndex`, with their source lines (or null),
 * stored pending by COPY: what `insertItemsChunk` stores for a chunk with no failed row, at COPY's speed.
 */
export function copyItemsChunk(args: {
  batchId: string;
  firstIndex: number;
  rows: readonly string[];
  lines: readonly (number | null)[] | null;
}): CopyStatement {
  let data = '';
  for (let i = 0; i < args.rows.length; i++) {
    const line = args.lines?.[i] ?? null;
    data += `${args.batchId}\t${args.firstIndex + i}\t${copyField(args.rows[i])}\t${line === null ? '\\N' : line}\n`;
  }
  return { text: COPY_ITEMS, data };
}

/** Seals a new batch once its items are in: their count, their hash and the source's columns (JSON). */
export function sealBatch(args: {
  batchId: string;
  totalItems: number;
  contentHash: string;
  sourceColumns: string | null;
}): Statement {
  return {
    text: `
    UPDATE "import_batches" SET "total_items" = $2, "content_hash" = $3, "source_columns" = $4::jsonb
    WHERE "id" = $1
    RETURNING *`,
    values: [args.batchId, args.totalItems, args.contentHash, args.sourceColumns],
  };
}

/** Seals the child batch of a reprocess: the count of its copied items and the source's columns (JSON). */
export function setTotalItems(args: {
  batchId: string;
  totalItems: number;
  sourceColumns: string | null;
}): Statement {
  return {
    text: `
    UPDATE "import_batches" SET "total_items" = $2, "source_columns" = $3::jsonb
    WHERE "id" = $1
    RETURNING *`,
    values: [args.batchId, args.totalItems, args.sourceColumns],
  };
}

/** The batch that holds `idempotencyKey`, when a creation finds it taken. */
export function batchByIdempotencyKey(args: { idempotencyKey: string | null }): Statement {
  return {
    text: `SELECT * FROM "import_batches" WHERE "idempotency_key" = $1`,
    values: [args.idempotencyKey],
  };
}
