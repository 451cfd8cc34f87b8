/**
 * The statements of a batch that waits for an operator (`requireApproval`): approving it, which lets the
 * runs take it, or rejecting it, which ends it. Each is one conditional UPDATE on the batch row, from
 * `awaiting_approval` only, so that of two decisions made at once (by two operators, or processes),
 * exactly one is made.
 */

import { BATCH_STATUS, ITEM_STATUS } from '../../statuses';
import { INSERT_LOGS, logRecordset } from './logs.statements';
import { sqlWord, type Statement } from './statement';

const APPROVE_BATCH = `
    WITH approved AS (
      UPDATE "import_batches" SET "status" = ${sqlWord(BATCH_STATUS.pending)}
      WHERE "id" = $1 AND "status" = ${sqlWord(BATCH_STATUS.awaitingApproval)}
      RETURNING *
    ), logged AS (
      ${INSERT_LOGS}
      SELECT approved."id", NULL, l."level", l."message", l."details", l."created_at"
      FROM approved, ${logRecordset('$2')}
    )
    SELECT * FROM approved`;

/**
 * awaiting_approval → pending, with its audit entries (`entries`, a JSON array of `logEntryJson`); no row
 * when the batch was not awaiting approval.
 */
export function approveBatch(args: { batchId: string; entries: string }): Statement {
  return { text: APPROVE_BATCH, values: [args.batchId, args.entries] };
}

const REJECT_BATCH = `
    WITH c AS (
      SELECT
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.pending)}))::integer AS pending,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.failed)}))::integer AS failed
      FROM "import_batch_items" WHERE "batch_id" = $1
    ), rejected AS (
      UPDATE "import_batches" b
      SET "status" = ${sqlWord(BATCH_STATUS.rejected)}, "error_message" = $2, "completed_at" = now(),
          "cancelled_items" = c.pending, "failed_items" = c.failed, "completed_items" = 0,
          "skipped_items" = 0, "locked_by" = NULL, "locked_until" = NULL
      FROM c
      WHERE b."id" = $1 AND b."status" = ${sqlWord(BATCH_STATUS.awaitingApproval)}
      RETURNING b.*
    ), cancelled AS (
      UPDATE "import_batch_items"
      SET "status" = ${sqlWord(ITEM_STATUS.cancelled)}, "error_message" = $2, "completed_at" = now()
      WHERE "batch_id" IN (SELECT "id" FROM rejected) AND "status" = ${sqlWord(ITEM_STATUS.pending)}
    ), logged AS (
      ${INSERT_LOGS}
      SELECT rejected."id", NULL, l."level", l."message", l."details", l."created_at"
      FROM rejected, ${logRecordset('$3')}
    )
    SELECT * FROM rejected`;

/**
 * awaiting_approval → rejected with `reason`, its pending rows → cancelled with the reason (as a cancel's)
 * (rows of lines that could not be read stay failed), the counts stored, and its audit entries written; no
 * row when the batch could not be rejected. (A run cannot claim a row meanwhile: claims need the batch
 * processing.)
 */
export function rejectBatch(args: { batchId: string; reason: string; entries: string }): Statement {
  return { text: REJECT_BATCH, values: [args.batchId, args.reason, args.entries] };
}
