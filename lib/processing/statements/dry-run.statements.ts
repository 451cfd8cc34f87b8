/**
 * The statements of a dry run: the rows it tries, a page at a time, and their verdicts. A verdict writes
 * only the `dry_run_*` columns of its row: never its status, attempts, lease or data, so that a run that
 * works on the batch meanwhile is not changed by it.
 */

import { ITEM_STATUS } from '../../statuses';
import { sqlWord, type Statement } from './statement';

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
    UPDATE "import_batch_items" i
    SET "dry_run_outcome" = v."outcome", "dry_run_error" = v."error", "dry_run_at" = now()
    FROM jsonb_to_recordset($2::jsonb) AS v("id" uuid, "outcome" text, "error" text)
    WHERE i."id" = v."id" AND i."batch_id" = $1`;

/**
 * Stores the verdicts of rows of the batch: `verdicts` is a JSON array of `{ id, outcome, error }`, the
 * outcome one of `DRY_RUN_OUTCOMES` and the error storable text (or null).
 */
export function storeVerdicts(args: { batchId: string; verdicts: string }): Statement {
  return { text: STORE_VERDICTS, values: [args.batchId, args.verdicts] };
}
