/**
 * The statements of a dry run: the rows it tries, a page at a time, and their verdicts. A verdict writes
 * only the `dry_run_*` columns of its row: never its status, attempts, lease or data, so that a run that
 * works on the batch meanwhile is not changed by it.
 */

import { DRY_RUNNABLE_BATCH_STATUSES, ITEM_STATUS } from '../../statuses';
import { sqlList, sqlWord, type Statement } from './statement';

const PENDING_ITEMS_PAGE = `
    SELECT * FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "status" = ${sqlWord(ITEM_STATUS.pending)} AND "item_index" > $2
    ORDER BY "item_index"
    LIMIT $3`;

/** Up to `limit` pending rows of the batch after `afterIndex`, in order (on the claim index). */
export function pendingItemsPage(args: {
  batchId: string;
  afterIndex: number;
  limit: number;
}): Statement {
  return { text: PENDING_ITEMS_PAGE, values: [args.batchId, args.afterIndex, args.limit] };
}

const STORE_VERDICTS = `
    WITH b AS (
      SELECT "id" FROM "import_batches"
      WHERE "id" = $1 AND "status" IN (${sqlList(DRY_RUNNABLE_BATCH_STATUSES)})
      FOR SHARE
    ), stored AS (
      UPDATE "import_batch_items" i
      SET "dry_run_outcome" = v."outcome", "dry_run_error" = v."error", "dry_run_at" = now()
      FROM jsonb_to_recordset($2::jsonb) AS v("id" uuid, "outcome" text, "error" text), b
      WHERE i."id" = v."id" AND i."batch_id" = b."id"
    )
    SELECT EXISTS (SELECT 1 FROM b) AS "waiting"`;

/**
 * Stores the verdicts of rows of the batch, only while the batch waits (`waiting`: false when a run took
 * it or it ended, and nothing was stored). `verdicts` is a JSON array of `{ id, outcome, error }`, the
 * outcome one of `DRY_RUN_OUTCOMES` and the error storable text (or null).
 *
 * The batch row is share-locked for the statement: a run cannot take the batch (which updates that row)
 * while the verdicts' row locks are held, so that no claim of that run ever skips a row locked by a dry
 * run (a claim passes over locked rows, and a run that found none to claim would wait for them to end).
 */
export function storeVerdicts(args: { batchId: string; verdicts: string }): Statement {
  return { text: STORE_VERDICTS, values: [args.batchId, args.verdicts] };
}
