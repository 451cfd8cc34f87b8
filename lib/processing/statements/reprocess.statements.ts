/**
 * The statements of a reprocess: whether the tree has a batch that still runs, and the copies of the rows
 * that did not complete into the child batch. The caller holds the tree's root (`lockTreeRoot`).
 */

import {
  ITEM_STATUS,
  LIVE_BATCH_STATUSES,
  OPEN_ITEM_STATUSES,
  type ItemStatus,
} from '../../statuses';
import { MALFORMED_LINE_CODE } from '../../reliable-imports.constants';
import { sqlList, sqlWord, type Statement } from './statement';

/** A batch of the tree that starts at `rootId` that is still pending or processing. */
export function runningBatchInTree(args: { rootId: string }): Statement {
  return {
    text: `
    WITH RECURSIVE tree AS (
      SELECT "id", "status", "created_at", 0 AS depth FROM "import_batches" WHERE "id" = $1
      UNION ALL
      SELECT b."id", b."status", b."created_at", tree.depth + 1
      FROM "import_batches" b JOIN tree ON b."parent_batch_id" = tree."id"
      WHERE tree.depth < 1000
    )
    SELECT "id", "status" FROM tree WHERE "status" IN (${sqlList(LIVE_BATCH_STATUSES)})
    ORDER BY "created_at"
    LIMIT 1`,
    values: [args.rootId],
  };
}

/**
 * Copies the rows of batch `parentId` that did not complete, and the source rows `correctedRows`
 * (corrected with this reprocess), into the child `childId`, corrections applied, keeping their index. A
 * row of the tree is its source row (the root of its `original_item_id` chain): it is copied when its
 * newest copy anywhere in the tree has a status in `statuses` and no copy of it completed, and it is copied
 * from that newest copy, so that the correction made there is the one used. A row whose data was scrubbed
 * is not copied, and the first one is returned (`scrubbed_*`): the caller refuses the reprocess. The caller
 * holds the tree's root and has checked that no batch of the tree is running.
 */
export function copyItemsToChild(args: {
  childId: string;
  parentId: string;
  statuses: readonly ItemStatus[];
  correctedRows: readonly string[];
}): Statement {
  return {
    text: `
    WITH wanted AS (
      SELECT COALESCE(p."original_item_id", p."id") AS "source_id"
      FROM "import_batch_items" p
      WHERE p."batch_id" = $2 AND p."status" <> ${sqlWord(ITEM_STATUS.completed)}
      UNION
      SELECT unnest($4::uuid[])
    ), copies AS (
      SELECT w."source_id", i."batch_id", i."item_index", i."source_line", i."status", i."source_data",
             i."corrected_data", i."error_details", i."scrubbed_at", i."created_at"
      FROM wanted w JOIN "import_batch_items" i ON i."id" = w."source_id"
      UNION ALL
      SELECT w."source_id", i."batch_id", i."item_index", i."source_line", i."status", i."source_data",
             i."corrected_data", i."error_details", i."scrubbed_at", i."created_at"
      FROM wanted w JOIN "import_batch_items" i ON i."original_item_id" = w."source_id"
    ), newest AS (
      SELECT DISTINCT ON (c."source_id") c.*
      FROM copies c JOIN "import_batches" b ON b."id" = c."batch_id"
      ORDER BY c."source_id", b."created_at" DESC, c."created_at" DESC
    ), live AS (
      -- A copy that a running batch holds (found through the rows, should the tree's batches be split).
      SELECT c."source_id" FROM copies c JOIN "import_batches" b ON b."id" = c."batch_id"
      WHERE c."status" IN (${sqlList(OPEN_ITEM_STATUSES)}) AND b."status" IN (${sqlList(LIVE_BATCH_STATUSES)})
    ), candidates AS (
      SELECT n.*,
             -- A line that could not be read has no data to process until it is corrected.
             (n."corrected_data" IS NULL
              AND COALESCE(n."error_details" ->> 'code', '') = ${sqlWord(MALFORMED_LINE_CODE)}) AS "unread"
      FROM newest n
      WHERE n."status" = ANY($3::text[])
        -- NOT EXISTS, not NOT IN: an anti-join stays linear when the rows outgrow work_mem.
        AND NOT EXISTS (
          SELECT 1 FROM copies c WHERE c."source_id" = n."source_id" AND c."status" = ${sqlWord(ITEM_STATUS.completed)})
        AND NOT EXISTS (SELECT 1 FROM live l WHERE l."source_id" = n."source_id")
    ), copied AS (
      INSERT INTO "import_batch_items"
        ("batch_id", "item_index", "source_data", "original_item_id", "source_line")
      SELECT $1, c."item_index", COALESCE(c."corrected_data", c."source_data"), c."source_id",
             c."source_line"
      FROM candidates c
      WHERE NOT c."unread" AND c."scrubbed_at" IS NULL
      ORDER BY c."item_index"
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM copied)::integer AS "count",
           (SELECT count(*) FROM candidates WHERE "unread")::integer AS "unread",
           s."batch_id" AS "scrubbed_batch_id", s."item_index" AS "scrubbed_index",
           s."source_line" AS "scrubbed_line", s."scrubbed_at"
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
      SELECT c."batch_id", c."item_index", c."source_line", c."scrubbed_at" FROM candidates c
      WHERE c."scrubbed_at" IS NOT NULL ORDER BY c."item_index" LIMIT 1
    ) s ON true`,
    values: [args.childId, args.parentId, args.statuses, args.correctedRows],
  };
}
