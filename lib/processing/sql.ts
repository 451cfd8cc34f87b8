/**
 * Every SQL statement of the module. Table names are fixed by the migrations; every value is a parameter.
 * Item logs travel as one JSON array parameter, so that writing them costs no extra round trip.
 */

import { INSERT_LOGS, logRecordset } from './statements/logs.statements';

const logRows = (param: number): string => logRecordset(`$${param}`);

/** Writes the item's logs (parameter $6; $7 is the number of attempts made) with the statement that records its outcome (CTE `done`). */
const LOG_DONE_ITEM = `logged AS (
      ${INSERT_LOGS}
      SELECT done."batch_id", done."id", l."level", l."message", l."details", l."created_at"
      FROM done, ${logRows(6)}
    )`;

/**
 * Claims up to $4 items of batch $1 that match `which` for worker $2, leased for $3 ms. `which` is a
 * literal condition, not a parameter, so that the planner can see it matches the index of pending items.
 * The batch row is share-locked for the claim: a stop (`lockBatchToStop`) waits for the claims in flight,
 * and a claim that comes after it finds the batch ended, so that an ended batch never gains a claimed item.
 * (Not FOR UPDATE in the stop: that would also wait for the key-share locks that the log inserts of item
 * transactions take, while those wait for the item rows the stop releases.)
 */
const claimItems = (which: string): string => `
    UPDATE "import_batch_items" AS i
    SET "status" = 'processing',
        "locked_by" = $2,
        "locked_until" = now() + $3 * interval '1 millisecond',
        "started_at" = now()
    FROM (
      SELECT "id" FROM "import_batch_items"
      WHERE "batch_id" = $1 AND ${which}
        AND EXISTS (
          SELECT 1 FROM "import_batches" WHERE "id" = $1 AND "status" = 'processing' FOR SHARE)
      ORDER BY "item_index"
      LIMIT $4
      FOR UPDATE SKIP LOCKED
    ) AS next
    WHERE i."id" = next."id"
    RETURNING i.*`;

/** The LISTEN/NOTIFY channel on which new batches are announced. */
export const BATCH_CHANNEL = 'reliable_imports_batches';

export const SQL = {
  /** Wakes the workers listening (delivered when the creating transaction commits). */
  notifyBatchCreated: `SELECT pg_notify('${BATCH_CHANNEL}', $1)`,

  /**
   * The oldest batch of the given types with work for a worker: pending; held by nobody or by a run whose
   * lease expired; or running with items nobody holds, to help with.
   */
  nextBatchForWorker: `
    SELECT b."id" FROM "import_batches" b
    WHERE b."batch_type" = ANY($1::text[])
      AND (b."status" = 'pending'
           OR (b."status" = 'processing'
               AND (b."locked_until" IS NULL OR b."locked_until" < now()
                    OR EXISTS (
                      SELECT 1 FROM "import_batch_items" i
                      WHERE i."batch_id" = b."id"
                        AND (i."status" = 'pending' OR (i."status" = 'processing' AND i."locked_until" < now()))))))
    ORDER BY b."created_at", b."id"
    LIMIT 1`,

  batchById: `SELECT * FROM "import_batches" WHERE "id" = $1`,

  summary: `SELECT * FROM "import_batch_summary" WHERE "batch_id" = $1`,

  /** Takes a pending batch, or one whose previous holder's lease has expired. */
  startBatch: `
    UPDATE "import_batches"
    SET "status" = 'processing',
        "retry_count" = "retry_count" + CASE WHEN "started_at" IS NULL THEN 0 ELSE 1 END,
        "started_at" = COALESCE("started_at", now()),
        "completed_at" = NULL,
        "error_message" = NULL,
        "locked_by" = $2,
        "locked_until" = now() + $3 * interval '1 millisecond'
    WHERE "id" = $1
      AND ("status" = 'pending'
           OR ("status" = 'processing' AND ("locked_until" IS NULL OR "locked_until" < now())))
    RETURNING *`,

  /**
   * Extends the lease on the items this worker holds, and on the batch when this worker holds it.
   * Returns whether the batch is (still) this worker's.
   */
  renewLeases: `
    WITH items AS (
      UPDATE "import_batch_items"
      SET "locked_until" = now() + $3 * interval '1 millisecond'
      WHERE "batch_id" = $1 AND "locked_by" = $2 AND "status" = 'processing'
    ), batch AS (
      UPDATE "import_batches"
      SET "locked_until" = now() + $3 * interval '1 millisecond'
      WHERE "id" = $1 AND "locked_by" = $2
      RETURNING "id"
    )
    SELECT EXISTS (SELECT 1 FROM batch) AS "held"`,

  /** Claims the next pending items in order ($4 at most); on the index of pending items. */
  claimPendingItems: claimItems(`"status" = 'pending'`),

  /** Claims, in order, items whose holder's lease expired ($4 at most): when none is pending. */
  claimExpiredItems: claimItems(`"status" = 'processing' AND "locked_until" < now()`),

  /** Items still held by another worker whose lease has not expired. */
  itemsHeldByOthers: `
    SELECT count(*)::integer AS "count" FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "status" = 'processing' AND "locked_by" IS DISTINCT FROM $2`,

  /**
   * Inside the item's transaction: the item becomes completed only while this worker still holds it
   * (fencing), and its logs are written with it.
   */
  completeItem: `
    WITH done AS (
      UPDATE "import_batch_items"
      SET "status" = 'completed', "processed_data" = $3::jsonb, "target_table" = $4, "target_id" = $5,
          "error_message" = NULL, "error_details" = NULL, "attempts" = "attempts" + $7,
          "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
      WHERE "id" = $1 AND "status" = 'processing' AND "locked_by" = $2
      RETURNING "id", "batch_id"
    ), ${LOG_DONE_ITEM}
    SELECT "id" FROM done`,

  /**
   * Inside a chunk's transaction: marks every item of the chunk completed (only those this worker still
   * holds) and writes their logs, in one statement. $2 is a JSON array of
   * `{ id, processed, target_table, target_id, logs }`.
   */
  completeChunk: `
    WITH input AS (
      SELECT * FROM jsonb_to_recordset($2::jsonb)
        AS x("id" uuid, "processed" jsonb, "target_table" text, "target_id" text, "logs" jsonb)
    ), done AS (
      UPDATE "import_batch_items" i
      SET "status" = 'completed', "processed_data" = input."processed",
          "target_table" = input."target_table", "target_id" = input."target_id",
          "error_message" = NULL, "error_details" = NULL, "attempts" = i."attempts" + 1,
          "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
      FROM input
      WHERE i."id" = input."id" AND i."status" = 'processing' AND i."locked_by" = $1
      RETURNING i."id", i."batch_id"
    ), logged AS (
      ${INSERT_LOGS}
      SELECT done."batch_id", done."id", l."level", l."message", l."details", l."created_at"
      FROM done JOIN input ON input."id" = done."id",
        ${logRecordset('input."logs"')}
    )
    SELECT count(*)::integer AS "count" FROM done`,

  /** After the item's transaction rolled back: records the outcome (failed or skipped) and its logs. */
  finishItemWithoutResult: `
    WITH done AS (
      UPDATE "import_batch_items"
      SET "status" = $3, "error_message" = $4, "error_details" = $5::jsonb, "attempts" = "attempts" + $7,
          "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
      WHERE "id" = $1 AND "status" = 'processing' AND "locked_by" = $2
      RETURNING "id", "batch_id"
    ), ${LOG_DONE_ITEM}
    SELECT "id" FROM done`,

  /** The first failed item of a batch, in item order: where a stop at the first failure stops. */
  firstFailedItem: `
    SELECT "item_index", "error_message" FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "status" = 'failed'
    ORDER BY "item_index"
    LIMIT 1`,

  /** Gives the batch back without finishing it: the next run takes it over at once. */
  releaseBatch: `
    UPDATE "import_batches" SET "locked_by" = NULL, "locked_until" = NULL
    WHERE "id" = $1 AND "locked_by" = $2 AND "status" = 'processing'
    RETURNING "id"`,

  /** Gives back the items this worker claimed but will not process. */
  releaseItems: `
    UPDATE "import_batch_items"
    SET "status" = 'pending', "locked_by" = NULL, "locked_until" = NULL, "started_at" = NULL
    WHERE "batch_id" = $1 AND "locked_by" = $2 AND "status" = 'processing'
    RETURNING "id"`,

  /** The first statement of a stop: waits for the claims in flight and keeps new ones out. */
  lockBatchToStop: `
    SELECT "id" FROM "import_batches" WHERE "id" = $1 AND "status" = 'processing' FOR NO KEY UPDATE`,

  /**
   * A stop gives back every claim on the batch, whichever run holds it: a claim that completes later is
   * fenced out, and a completion in flight is waited for (its row lock), so no item stays processing in
   * an ended batch.
   */
  releaseEveryClaim: `
    UPDATE "import_batch_items"
    SET "status" = 'pending', "locked_by" = NULL, "locked_until" = NULL, "started_at" = NULL
    WHERE "batch_id" = $1 AND "status" = 'processing'
    RETURNING "id"`,

  /** Gives back the items $3 of this worker's claim. */
  releaseSomeItems: `
    UPDATE "import_batch_items"
    SET "status" = 'pending', "locked_by" = NULL, "locked_until" = NULL, "started_at" = NULL
    WHERE "batch_id" = $1 AND "locked_by" = $2 AND "status" = 'processing' AND "id" = ANY($3::uuid[])
    RETURNING "id"`,

  /**
   * Ends the batch once no item is open: counters from the items, status from the counters, lease
   * released. The holder of the batch does it, or any run once the holder's lease has expired; a stop
   * ($3, the reason) fails the batch whoever asks.
   */
  finishBatch: `
    WITH c AS (
      SELECT
        (count(*) FILTER (WHERE "status" = 'completed'))::integer AS completed,
        (count(*) FILTER (WHERE "status" = 'failed'))::integer AS failed,
        (count(*) FILTER (WHERE "status" = 'skipped'))::integer AS skipped
      FROM "import_batch_items" WHERE "batch_id" = $1
    )
    UPDATE "import_batches" b
    SET "status" = CASE WHEN $3::text IS NOT NULL THEN 'failed'
                        WHEN c.failed > 0 THEN 'completed_with_errors'
                        ELSE 'completed' END,
        "error_message" = $3::text,
        "completed_items" = c.completed, "failed_items" = c.failed, "skipped_items" = c.skipped,
        "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
    FROM c
    WHERE b."id" = $1 AND b."status" = 'processing'
      AND ($3::text IS NOT NULL
           OR ((b."locked_by" = $2 OR b."locked_by" IS NULL OR b."locked_until" < now())
               AND NOT EXISTS (
                 SELECT 1 FROM "import_batch_items"
                 WHERE "batch_id" = $1 AND "status" IN ('pending', 'processing'))))
    RETURNING b.*`,

  insertLogs: `
    ${INSERT_LOGS}
    SELECT $1, $2, l."level", l."message", l."details", l."created_at"
    FROM ${logRows(3)}`,
};
