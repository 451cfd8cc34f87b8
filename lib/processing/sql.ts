/**
 * Every SQL statement of the module. Table names are fixed by the migrations; every value is a parameter.
 * Item logs travel as one JSON array parameter, so that writing them costs no extra round trip.
 */

import { BATCH_CHANNEL } from './statements/batches.statements';

export const SQL = {
  /**
   * The creation time is the statement's, not the transaction's (`now()`): a reprocess orders the copies
   * of a row by it, and its transaction may have begun before it waited for the tree's lock while another
   * reprocess of the tree was made and ran.
   */
  insertBatch: `
    INSERT INTO "import_batches"
      ("batch_type", "source_info", "metadata", "idempotency_key", "parent_batch_id", "created_at")
    VALUES ($1, $2::jsonb, $3::jsonb, $4, $5, clock_timestamp())
    ON CONFLICT ("idempotency_key") WHERE "idempotency_key" IS NOT NULL DO NOTHING
    RETURNING *`,

  /**
   * Rows $3 (a JSON array) of batch $1 from index $2, with their source lines $4 (an array beside it, or
   * null) and, for rows of a file that could not be read, their failure $5 (`{ ordinality, message,
   * details }`, or null): those are stored failed at once, to be corrected and reprocessed.
   */
  insertItemsChunk: `
    INSERT INTO "import_batch_items"
      ("batch_id", "item_index", "source_data", "source_line", "status", "error_message", "error_details",
       "completed_at")
    SELECT $1, $2 + e."ordinality"::integer - 1, e."value", e."line",
           CASE WHEN f."ordinality" IS NULL THEN 'pending' ELSE 'failed' END,
           f."message", f."details", CASE WHEN f."ordinality" IS NOT NULL THEN now() END
    FROM ROWS FROM (jsonb_array_elements($3::jsonb), unnest($4::integer[]))
      WITH ORDINALITY AS e("value", "line", "ordinality")
    LEFT JOIN jsonb_to_recordset($5::jsonb) AS f("ordinality" bigint, "message" text, "details" jsonb)
      ON f."ordinality" = e."ordinality"
    WHERE e."value" IS NOT NULL`,

  sealBatch: `
    UPDATE "import_batches" SET "total_items" = $2, "content_hash" = $3, "source_columns" = $4::jsonb
    WHERE "id" = $1
    RETURNING *`,

  /** Wakes the workers listening (delivered when the creating transaction commits). */
  notifyBatchCreated: `SELECT pg_notify('${BATCH_CHANNEL}', $1)`,

  batchByIdempotencyKey: `SELECT * FROM "import_batches" WHERE "idempotency_key" = $1`,

  batchById: `SELECT * FROM "import_batches" WHERE "id" = $1`,

  /**
   * The root of the tree of batch $1: the batch of the original of its rows (which holds even when a batch
   * between them was deleted), or else the top of its chain of parents.
   */
  rootBatchId: `
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

  itemById: `SELECT * FROM "import_batch_items" WHERE "id" = $1`,

  itemForUpdate: `SELECT * FROM "import_batch_items" WHERE "id" = $1 FOR UPDATE`,

  /**
   * Copies the rows of batch $2 that did not complete, and the source rows $4 (corrected with this
   * reprocess), into the child $1, corrections applied, keeping their index. A row of the tree is its
   * source row (the root of its `original_item_id` chain): it is copied when its newest copy anywhere in the tree has a status in $3 and no copy of it completed, and
   * it is copied from that newest copy, so that the correction made there is the one used. The caller
   * holds the tree's root and has checked that no batch of the tree is running.
   */
  copyItemsToChild: `
    WITH wanted AS (
      SELECT COALESCE(p."original_item_id", p."id") AS "source_id"
      FROM "import_batch_items" p
      WHERE p."batch_id" = $2 AND p."status" <> 'completed'
      UNION
      SELECT unnest($4::uuid[])
    ), copies AS (
      SELECT w."source_id", i."batch_id", i."item_index", i."source_line", i."status", i."source_data",
             i."corrected_data", i."error_details", i."created_at"
      FROM wanted w JOIN "import_batch_items" i ON i."id" = w."source_id"
      UNION ALL
      SELECT w."source_id", i."batch_id", i."item_index", i."source_line", i."status", i."source_data",
             i."corrected_data", i."error_details", i."created_at"
      FROM wanted w JOIN "import_batch_items" i ON i."original_item_id" = w."source_id"
    ), newest AS (
      SELECT DISTINCT ON (c."source_id") c.*
      FROM copies c JOIN "import_batches" b ON b."id" = c."batch_id"
      ORDER BY c."source_id", b."created_at" DESC, c."created_at" DESC
    ), live AS (
      -- A copy that a running batch holds (found through the rows, should the tree's batches be split).
      SELECT c."source_id" FROM copies c JOIN "import_batches" b ON b."id" = c."batch_id"
      WHERE c."status" IN ('pending', 'processing') AND b."status" IN ('pending', 'processing')
    ), candidates AS (
      SELECT n.*,
             -- A line that could not be read has no data to process until it is corrected.
             (n."corrected_data" IS NULL
              AND COALESCE(n."error_details" ->> 'code', '') = 'MALFORMED_LINE') AS "unread"
      FROM newest n
      WHERE n."status" = ANY($3::text[])
        -- NOT EXISTS, not NOT IN: an anti-join stays linear when the rows outgrow work_mem.
        AND NOT EXISTS (
          SELECT 1 FROM copies c WHERE c."source_id" = n."source_id" AND c."status" = 'completed')
        AND NOT EXISTS (SELECT 1 FROM live l WHERE l."source_id" = n."source_id")
    ), copied AS (
      INSERT INTO "import_batch_items"
        ("batch_id", "item_index", "source_data", "original_item_id", "source_line")
      SELECT $1, c."item_index", COALESCE(c."corrected_data", c."source_data"), c."source_id",
             c."source_line"
      FROM candidates c
      WHERE NOT c."unread"
      ORDER BY c."item_index"
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM copied)::integer AS "count",
           (SELECT count(*) FROM candidates WHERE "unread")::integer AS "unread"`,

  /**
   * Every copy in its tree of the source row of item $1, newest first, with the status of its batch:
   * what decides whether a correction of the item would be used.
   */
  copiesOfRow: `
    WITH source AS (
      SELECT COALESCE("original_item_id", "id") AS "source_id" FROM "import_batch_items" WHERE "id" = $1
    ), copies AS (
      SELECT i.* FROM source s JOIN "import_batch_items" i ON i."id" = s."source_id"
      UNION ALL
      SELECT i.* FROM source s JOIN "import_batch_items" i ON i."original_item_id" = s."source_id"
    )
    SELECT c."id", c."batch_id", c."status", b."status" AS "batch_status"
    FROM copies c JOIN "import_batches" b ON b."id" = c."batch_id"
    ORDER BY b."created_at" DESC, c."created_at" DESC`,

  listBatches: (where: string): string => `
    SELECT * FROM "import_batches" ${where}
    ORDER BY "created_at" DESC, "id" DESC
    LIMIT $1 OFFSET $2`,

  listItems: (where: string): string => `
    SELECT * FROM "import_batch_items" WHERE "batch_id" = $3 ${where}
    ORDER BY "item_index"
    LIMIT $1 OFFSET $2`,

  listLogs: (where: string): string => `
    SELECT "id"::text AS "id", "batch_id", "item_id", "level", "message", "details", "created_at"
    FROM "import_logs" WHERE "batch_id" = $3 ${where}
    -- The table's column, not the output's: that one is text, and '10' would sort before '9'.
    ORDER BY "import_logs"."id"
    LIMIT $1 OFFSET $2`,

  /**
   * Locks the root of a tree of batches: reprocesses and corrections of any batch of one tree run one
   * after the other.
   */
  lockBatch: `SELECT "id" FROM "import_batches" WHERE "id" = $1 FOR NO KEY UPDATE`,

  /** A batch of the tree that starts at $1 (its root) that is still pending or processing. */
  runningBatchInTree: `
    WITH RECURSIVE tree AS (
      SELECT "id", "status", "created_at", 0 AS depth FROM "import_batches" WHERE "id" = $1
      UNION ALL
      SELECT b."id", b."status", b."created_at", tree.depth + 1
      FROM "import_batches" b JOIN tree ON b."parent_batch_id" = tree."id"
      WHERE tree.depth < 1000
    )
    SELECT "id", "status" FROM tree WHERE "status" IN ('pending', 'processing')
    ORDER BY "created_at"
    LIMIT 1`,

  setTotalItems: `
    UPDATE "import_batches" SET "total_items" = $2, "source_columns" = $3::jsonb
    WHERE "id" = $1
    RETURNING *`,
};
