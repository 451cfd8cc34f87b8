/**
 * The progress counters of a batch (table `import_batch_progress`) and the read of its progress.
 *
 * A counter row is one run's outcomes in one 10-second bucket: `completed`, `failed` and `skipped` deltas,
 * written by the same statement that records the outcomes (`items.statements.ts`; a line a creation could
 * not read, `creation.statements.ts`), so that they cannot drift from the rows' statuses. A batch's done
 * count is the sum of its rows; its recent rate the sum of the last few buckets. One row per run (and per connection, see `countOutcomes`) and bucket: runs and
 * lanes never wait on each other's counter.
 */

import { BATCH_STATUS, ITEM_STATUS } from '../../statuses';
import { sqlList, sqlWord, type Statement } from './statement';

/** The width of a counter's bucket, and so the grain of the recent rate. */
export const PROGRESS_BUCKET_SECONDS = 10;

/** How far back the recent rate looks: the current bucket and the five before it, 50 to 60 seconds. */
export const PROGRESS_RATE_BUCKETS = 6;

/**
 * The `worker_id` of the counter rows that take back failures, written by a resume that puts corrected
 * failed rows back to pending (`uncountFailedRows`). These rows are left out of the recent rate.
 */
export const RESUME_COUNTER_WORKER = 'resume';

/**
 * The `worker_id` of the counter rows of the lines a creation stored failed (lines of a file that could not
 * be read, `countUnreadLines`): outcomes no run recorded, so the recent rate leaves them out too.
 */
export const CREATION_COUNTER_WORKER = 'create';

/**
 * The `worker_id` of the counter row of the outcomes recorded before the counters existed, written once by
 * the migration that made them; left out of the recent rate.
 */
export const MIGRATION_COUNTER_WORKER = 'migration';

/** The counter rows that are no run's outcomes, which the recent rate leaves out. */
const NOT_RUN_COUNTER_WORKERS = sqlList([
  RESUME_COUNTER_WORKER,
  CREATION_COUNTER_WORKER,
  MIGRATION_COUNTER_WORKER,
]);

/**
 * The bucket of an outcome recorded now: the 10-second bin of the statement's start (not of the
 * transaction's, `now()`: a chunk that ran for a minute is counted when it is recorded, so the recent rate
 * sees it).
 */
const BUCKET_NOW = `date_bin('${PROGRESS_BUCKET_SECONDS} seconds', statement_timestamp(), TIMESTAMPTZ '2000-01-01')`;

/**
 * A CTE `name AS (INSERT ... ON CONFLICT ... DO UPDATE)` that adds `select`'s deltas to the counters.
 * `select` yields `"batch_id", "worker_id", "completed", "failed", "skipped"`, at most one row per batch.
 */
function upsertCounters(name: string, select: string): string {
  return `${name} AS (
      INSERT INTO "import_batch_progress" AS p ("batch_id", "bucket", "worker_id", "completed", "failed", "skipped")
      SELECT d."batch_id", ${BUCKET_NOW}, d."worker_id", d."completed", d."failed", d."skipped"
      FROM (${select}) d
      ON CONFLICT ("batch_id", "bucket", "worker_id") DO UPDATE
      SET "completed" = p."completed" + EXCLUDED."completed",
          "failed" = p."failed" + EXCLUDED."failed",
          "skipped" = p."skipped" + EXCLUDED."skipped"
    )`;
}

/**
 * A CTE `counted AS (...)` that counts, in the same statement, the outcomes it records: the rows of CTE
 * `source` (with the columns `"batch_id"` and the row's new `"status"`), which must be only the rows the
 * statement changed (its fenced UPDATE's RETURNING), so that a lost claim counts nothing. `workerId` is the
 * SQL of the run's worker id (a parameter); the counter row is the run's on this connection
 * (`worker id/backend pid`): the lanes of one run each have their connection, so that a lane never waits
 * for another's commit to write its counter.
 */
export function countOutcomes(source: string, workerId: string): string {
  return upsertCounters(
    'counted',
    `SELECT "batch_id", ${workerId} || '/' || pg_backend_pid() AS "worker_id",
        count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.completed)})::integer AS "completed",
        count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.failed)})::integer AS "failed",
        count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.skipped)})::integer AS "skipped"
      FROM ${source} GROUP BY "batch_id"`,
  );
}

/**
 * For a resume that puts failed rows back to pending: a CTE `uncounted AS (...)` that takes them back out
 * of the failed count, in the same statement as the re-queue, so that done + pending stays the total.
 * `source` is the name of a CTE whose rows are exactly the rows that statement moved from `failed` to
 * `pending` (the RETURNING of its UPDATE, with a `"batch_id"` column); an empty source writes nothing.
 * The delta goes to the `RESUME_COUNTER_WORKER` row of the bucket, which the recent rate leaves out.
 *
 * @example
 *   WITH requeued AS (
 *     UPDATE "import_batch_items" SET "status" = 'pending', ...
 *     WHERE "batch_id" = $1 AND "status" = 'failed' AND ...
 *     RETURNING "id", "batch_id"
 *   ), ${uncountFailedRows('requeued')}
 *   SELECT count(*)::integer AS "count" FROM requeued
 */
export function uncountFailedRows(source: string): string {
  return upsertCounters(
    'uncounted',
    `SELECT "batch_id", ${sqlWord(RESUME_COUNTER_WORKER)} AS "worker_id", 0 AS "completed",
        -count(*)::integer AS "failed", 0 AS "skipped"
      FROM ${source} GROUP BY "batch_id"`,
  );
}

/**
 * For a creation that stores the lines it could not read as failed rows: a CTE `counted AS (...)` that
 * counts them, in the statement that inserts them, so that a resume that re-queues them once corrected
 * (`uncountFailedRows`) takes back what was counted, and done + pending stays the total. `source` is the
 * name of a CTE whose rows are exactly the rows that statement inserted (with `"batch_id"` and
 * `"status"`); a chunk of readable rows writes nothing.
 */
export function countUnreadLines(source: string): string {
  return upsertCounters(
    'counted',
    `SELECT "batch_id", ${sqlWord(CREATION_COUNTER_WORKER)} AS "worker_id", 0 AS "completed",
        count(*)::integer AS "failed", 0 AS "skipped"
      FROM ${source} WHERE "status" = ${sqlWord(ITEM_STATUS.failed)} GROUP BY "batch_id"`,
  );
}

/** A batch's progress, as `batchProgress` reads it. */
export interface ProgressRow {
  batch_id: string;
  status: string;
  total_items: string | number;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  error_message: string | null;
  measured_at: Date | string;
  completed: string | number;
  failed: string | number;
  skipped: string | number;
  in_flight: string | number;
  cancelled: string | number;
  /** Outcomes recorded in the rate's window. */
  recent: string | number;
  /** Seconds from the window's start (or the batch's, when later) to its end. */
  recent_seconds: string | number | null;
}

/**
 * The end of the rate's window: now, or when the batch ended (an ended batch keeps the rate of its last
 * minute). Its start: the start of the bucket `PROGRESS_RATE_BUCKETS - 1` before the end's, or the
 * batch's start when it is later.
 */
const RATE_END = `COALESCE(b."completed_at", now())`;
const RATE_START = `date_bin('${PROGRESS_BUCKET_SECONDS} seconds', ${RATE_END}, TIMESTAMPTZ '2000-01-01')
          - interval '${(PROGRESS_RATE_BUCKETS - 1) * PROGRESS_BUCKET_SECONDS} seconds'`;

const BATCH_PROGRESS = `
    SELECT b."id" AS "batch_id", b."status", b."total_items", b."started_at", b."completed_at",
           b."error_message", now() AS "measured_at",
           COALESCE(c."completed", 0) AS "completed", COALESCE(c."failed", 0) AS "failed",
           COALESCE(c."skipped", 0) AS "skipped", COALESCE(c."recent", 0) AS "recent",
           EXTRACT(EPOCH FROM (${RATE_END} - GREATEST(${RATE_START}, b."started_at")))::float8 AS "recent_seconds",
           (SELECT count(*) FROM "import_batch_items" i
            WHERE i."batch_id" = b."id" AND i."status" = ${sqlWord(ITEM_STATUS.processing)})::integer AS "in_flight",
           (SELECT count(*) FROM "import_batch_items" i
            WHERE i."batch_id" = b."id" AND i."status" = ${sqlWord(ITEM_STATUS.cancelled)})::integer AS "cancelled"
    FROM "import_batches" b
    LEFT JOIN LATERAL (
      SELECT sum(p."completed") AS "completed", sum(p."failed") AS "failed", sum(p."skipped") AS "skipped",
             sum(p."completed" + p."failed" + p."skipped") FILTER (
               WHERE p."bucket" >= ${RATE_START} AND p."worker_id" NOT IN (${NOT_RUN_COUNTER_WORKERS})
             ) AS "recent"
      FROM "import_batch_progress" p
      WHERE p."batch_id" = b."id"
    ) c ON true
    WHERE b."id" = $1`;

/**
 * A batch's progress: its counters summed (a few rows per run and 10 seconds), the items in flight and
 * cancelled counted on the index of rows in flight or not applied
 * (`IDX_import_batch_items_in_flight_or_unapplied`: only those entries are read),
 * and the outcomes of the rate's window. No read of the batch's other items.
 */
export function batchProgress(args: { batchId: string }): Statement {
  return { text: BATCH_PROGRESS, values: [args.batchId] };
}

const FAILURE_COUNTS = `
    SELECT COALESCE(sum("failed"), 0)::integer AS "failed",
           COALESCE(sum("completed" + "failed" + "skipped"), 0)::integer AS "processed"
    FROM "import_batch_progress" WHERE "batch_id" = $1`;

/** The batch's failed rows and rows processed, summed from its progress counters (for an error budget). */
export function failureCounts(args: { batchId: string }): Statement {
  return { text: FAILURE_COUNTS, values: [args.batchId] };
}

/** The batches whose rows may still run: the rows of the others have an outcome, or never will. */
const WAITING_BATCH_STATUSES = sqlList([
  BATCH_STATUS.awaitingApproval,
  BATCH_STATUS.pending,
  BATCH_STATUS.processing,
  BATCH_STATUS.paused,
]);

const ROWS_WAITING_BY_TYPE = `
    SELECT b."batch_type", sum(b."total_items" - COALESCE(c."done", 0))::bigint AS "waiting"
    FROM "import_batches" b
    LEFT JOIN LATERAL (
      SELECT sum(p."completed" + p."failed" + p."skipped") AS "done"
      FROM "import_batch_progress" p
      WHERE p."batch_id" = b."id"
    ) c ON true
    WHERE b."status" IN (${WAITING_BATCH_STATUSES})
    GROUP BY b."batch_type"`;

/**
 * Per batch type, the rows without an outcome (pending or in flight) in batches that may still run them,
 * from the progress counters: the open batches (on the index of statuses) and their few counter rows,
 * never their items. For the telemetry's gauge, read only when a metrics SDK collects.
 */
export function rowsWaitingByType(): Statement {
  return { text: ROWS_WAITING_BY_TYPE, values: [] };
}
