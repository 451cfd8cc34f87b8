/**
 * The statements that find and hold a tree of batches (a first batch and its reprocesses) as one: its root,
 * and the lock on it under which corrections and reprocesses of the tree run.
 */

import type { Statement } from './statement';

/**
 * The root of the tree of batch `batchId`: the batch of the original of its rows (which holds even when a
 * batch between them was deleted), or else the top of its chain of parents.
 */
export function rootBatchId(args: { batchId: string }): Statement {
  return {
    text: `
    WITH RECURSIVE chain AS (
      SELECT "id", "parent_batch_id", 0 AS depth FROM "import_batches" WHERE "id" = $1
      UNION ALL
      SELECT b."id", b."parent_batch_id", chain.depth + 1
      FROM "import_batches" b JOIN chain ON b."id" = chain."parent_batch_id"
      WHERE chain.depth < 1000
    )
    SELECT COALESCE(
      (SELECT o."batch_id"
       FROM (SELECT "original_item_id" FROM "import_batch_items" WHERE "batch_id" = $1
             ORDER BY "item_index" LIMIT 1) first
       JOIN "import_batch_items" o ON o."id" = first."original_item_id"),
      (SELECT "id" FROM chain WHERE "parent_batch_id" IS NULL LIMIT 1)
    ) AS "id"`,
    values: [args.batchId],
  };
}

/**
 * Locks the root of a tree of batches: reprocesses and corrections of any batch of one tree run one
 * after the other.
 */
export function lockTreeRoot(args: { rootId: string }): Statement {
  return {
    text: `SELECT "id" FROM "import_batches" WHERE "id" = $1 FOR NO KEY UPDATE`,
    values: [args.rootId],
  };
}
