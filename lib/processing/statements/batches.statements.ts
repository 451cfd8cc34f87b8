/**
 * The statements of a batch's run: reading it, taking it, keeping its lease, ending or giving it back, and
 * finding the next one for the worker.
 */

import {
  BATCH_STATUS,
  ITEM_STATUS,
  LIVE_BATCH_STATUSES,
  OPEN_ITEM_STATUSES,
  RUNNABLE_BATCH_STATUSES,
} from '../../statuses';
import { MALFORMED_LINE_CODE } from '../../reliable-imports.constants';
import { someItemIn, sqlList, sqlWord, type Statement } from './statement';
import { uncountFailedRows } from './progress.statements';

/** The LISTEN/NOTIFY channel on which new batches are announced. */
export const BATCH_CHANNEL = 'reliable_imports_batches';

/** Wakes the workers listening (delivered when the creating transaction commits). */
export function notifyBatchCreated(args: { batchId: string }): Statement {
  return { text: `SELECT pg_notify('${BATCH_CHANNEL}', $1)`, values: [args.batchId] };
}

const NEXT_BATCH_FOR_WORKER = `
    SELECT b."id" FROM "import_batches" b
    WHERE b."batch_type" = ANY($1::text[])
      AND (b."status" = ${sqlWord(BATCH_STATUS.pending)}
           OR (b."status" = ${sqlWord(BATCH_STATUS.processing)}
               AND (b."locked_until" IS NULL OR b."locked_until" < now()
                    OR EXISTS (
                      SELECT 1 FROM "import_batch_items" i
                      WHERE i."batch_id" = b."id"
                        AND (i."status" = ${sqlWord(ITEM_STATUS.pending)} OR (i."status" = ${sqlWord(ITEM_STATUS.processing)} AND i."locked_until" < now()))))))
    ORDER BY b."created_at", b."id"
    LIMIT 1`;

/**
 * The oldest batch of the given types with work for a worker: pending; held by nobody or by a run whose
 * lease expired; or running with items nobody holds, to help with.
 */
export function nextBatchForWorker(args: { batchTypes: readonly string[] }): Statement {
  return { text: NEXT_BATCH_FOR_WORKER, values: [args.batchTypes] };
}

/** The batch's row. */
export function batchById(args: { batchId: string }): Statement {
  return { text: `SELECT * FROM "import_batches" WHERE "id" = $1`, values: [args.batchId] };
}

/**
 * The batch a run is about to take, with the trace context stored with the batch it reprocesses
 * (`parent_trace_context`), which the run's span links to as well as to the batch's own.
 */
export function batchToRun(args: { batchId: string }): Statement {
  return {
    text: `
    SELECT b.*, p."trace_context" AS "parent_trace_context"
    FROM "import_batches" b
    LEFT JOIN "import_batches" p ON p."id" = b."parent_batch_id"
    WHERE b."id" = $1`,
    values: [args.batchId],
  };
}

/** The batch's counts, as the summary view reads them. */
export function batchSummary(args: { batchId: string }): Statement {
  return {
    text: `SELECT * FROM "import_batch_summary" WHERE "batch_id" = $1`,
    values: [args.batchId],
  };
}

/** A worker's lease on a batch: who holds it, and for how long from now. */
interface LeaseArgs {
  batchId: string;
  workerId: string;
  leaseMs: number;
}

const START_BATCH = `
    UPDATE "import_batches"
    SET "status" = ${sqlWord(BATCH_STATUS.processing)},
        "retry_count" = "retry_count" + CASE WHEN "started_at" IS NULL THEN 0 ELSE 1 END,
        "started_at" = COALESCE("started_at", now()),
        "completed_at" = NULL,
        "error_message" = NULL,
        "locked_by" = $2,
        "locked_until" = now() + $3 * interval '1 millisecond'
    WHERE "id" = $1
      AND ("status" = ${sqlWord(BATCH_STATUS.pending)}
           OR ("status" = ${sqlWord(BATCH_STATUS.processing)} AND ("locked_until" IS NULL OR "locked_until" < now())))
    RETURNING *`;

/** Takes a pending batch, or one whose previous holder's lease has expired. */
export function startBatch(args: LeaseArgs): Statement {
  return { text: START_BATCH, values: [args.batchId, args.workerId, args.leaseMs] };
}

const RENEW_LEASES = `
    WITH items AS (
      UPDATE "import_batch_items"
      SET "locked_until" = now() + $3 * interval '1 millisecond'
      WHERE "batch_id" = $1 AND "locked_by" = $2 AND "status" = ${sqlWord(ITEM_STATUS.processing)}
    ), batch AS (
      UPDATE "import_batches"
      SET "locked_until" = now() + $3 * interval '1 millisecond'
      WHERE "id" = $1 AND "locked_by" = $2
      RETURNING "id"
    )
    SELECT EXISTS (SELECT 1 FROM batch) AS "held"`;

/**
 * Extends the lease on the items this worker holds, and on the batch when this worker holds it, in one
 * round trip. Returns whether the batch is (still) this worker's (`held`).
 */
export function renewLeases(args: LeaseArgs): Statement {
  return { text: RENEW_LEASES, values: [args.batchId, args.workerId, args.leaseMs] };
}

const RELEASE_BATCH = `
    UPDATE "import_batches" SET "locked_by" = NULL, "locked_until" = NULL
    WHERE "id" = $1 AND "locked_by" = $2 AND "status" = ${sqlWord(BATCH_STATUS.processing)}
    RETURNING "id"`;

/** Gives the batch back without finishing it: the next run takes it over at once. */
export function releaseBatch(args: { batchId: string; workerId: string }): Statement {
  return { text: RELEASE_BATCH, values: [args.batchId, args.workerId] };
}

const LOCK_BATCH_TO_STOP = `
    SELECT "id" FROM "import_batches" WHERE "id" = $1 AND "status" = ${sqlWord(BATCH_STATUS.processing)} FOR NO KEY UPDATE`;

/** The first statement of a stop: waits for the claims in flight and keeps new ones out. */
export function lockBatchToStop(args: { batchId: string }): Statement {
  return { text: LOCK_BATCH_TO_STOP, values: [args.batchId] };
}

const FINISH_BATCH = `
    WITH c AS (
      SELECT
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.completed)}))::integer AS completed,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.failed)}))::integer AS failed,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.skipped)}))::integer AS skipped
      FROM "import_batch_items" WHERE "batch_id" = $1
    )
    UPDATE "import_batches" b
    SET "status" = CASE WHEN $3::text IS NOT NULL THEN ${sqlWord(BATCH_STATUS.failed)}
                        WHEN c.failed > 0 THEN ${sqlWord(BATCH_STATUS.completedWithErrors)}
                        ELSE ${sqlWord(BATCH_STATUS.completed)} END,
        "error_message" = $3::text,
        "completed_items" = c.completed, "failed_items" = c.failed, "skipped_items" = c.skipped,
        "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
    FROM c
    WHERE b."id" = $1 AND b."status" = ${sqlWord(BATCH_STATUS.processing)}
      AND ($3::text IS NOT NULL
           OR ((b."locked_by" = $2 OR b."locked_by" IS NULL OR b."locked_until" < now())
               AND NOT ${someItemIn('$1', OPEN_ITEM_STATUSES)}))
    RETURNING b.*`;

/**
 * Ends the batch once no item is open: counters from the items, status from the counters, lease
 * released. The holder of the batch does it, or any run once the holder's lease has expired; a stop
 * (`failure`, the reason) fails the batch whoever asks.
 */
export function finishBatch(args: {
  batchId: string;
  workerId: string;
  failure: string | null;
}): Statement {
  return { text: FINISH_BATCH, values: [args.batchId, args.workerId, args.failure] };
}

/** The statuses a batch can be paused in: those a run takes. */
const PAUSABLE = sqlList(RUNNABLE_BATCH_STATUSES);

const PAUSE_BATCH = `
    UPDATE "import_batches"
    SET "status" = ${sqlWord(BATCH_STATUS.paused)}, "error_message" = $2::text,
        "locked_by" = NULL, "locked_until" = NULL
    WHERE "id" = $1 AND "status" IN (${PAUSABLE})
    RETURNING *`;

/**
 * Pauses a pending or running batch, with the reason (null for an operator's pause). The update waits for
 * the claims in flight (they share-lock the batch row) and every later claim finds the batch paused, so
 * that no item is claimed once it has committed; the items in flight finish in their runs.
 */
export function pauseBatch(args: { batchId: string; reason: string | null }): Statement {
  return { text: PAUSE_BATCH, values: [args.batchId, args.reason] };
}

/**
 * Rows a resume puts back to pending when they were corrected after they failed: none was applied. Only
 * failed ones: the statement takes them back out of the failed count (`uncountFailedRows`).
 */
const REQUEUED_ON_RESUME = [ITEM_STATUS.failed] as const;

const RESUME_BATCH = `
    WITH batch AS (
      UPDATE "import_batches"
      SET "status" = CASE WHEN "started_at" IS NULL THEN ${sqlWord(BATCH_STATUS.pending)}
                          ELSE ${sqlWord(BATCH_STATUS.processing)} END,
          "error_message" = NULL, "locked_by" = NULL, "locked_until" = NULL
      WHERE "id" = $1 AND "status" = ${sqlWord(BATCH_STATUS.paused)}
      RETURNING *
    ), requeued AS (
      UPDATE "import_batch_items" i
      SET "status" = ${sqlWord(ITEM_STATUS.pending)}, "error_message" = NULL, "error_details" = NULL,
          "started_at" = NULL, "completed_at" = NULL
      FROM batch
      WHERE i."batch_id" = batch."id" AND i."status" IN (${sqlList(REQUEUED_ON_RESUME)})
        AND (i."corrected_at" > i."completed_at"
             -- Every failed row, when asked; but a line that could not be read has no data to run until
             -- it is corrected.
             OR ($2::boolean AND (i."corrected_data" IS NOT NULL
                                  OR COALESCE(i."error_details" ->> 'code', '') <> ${sqlWord(MALFORMED_LINE_CODE)})))
      RETURNING i."id", i."batch_id"
    ), ${uncountFailedRows('requeued')}
    SELECT batch.*, (SELECT count(*)::integer FROM requeued) AS "requeued_items" FROM batch`;

/**
 * Resumes a paused batch: pending again when no run had started it, otherwise running with no holder (the
 * next run takes it over at once). Its failed rows corrected since they failed go back to
 * pending with their correction, so that "correct, then resume" finishes the file; with `retryFailed`,
 * every failed row does (for a cause outside the rows, fixed since: a missing reference, a service down).
 */
export function resumeBatch(args: { batchId: string; retryFailed: boolean }): Statement {
  return { text: RESUME_BATCH, values: [args.batchId, args.retryFailed] };
}

const LOCK_BATCH = `SELECT * FROM "import_batches" WHERE "id" = $1 FOR NO KEY UPDATE`;

/**
 * The first statement of an operator's change of a batch: waits for the claims in flight and keeps new
 * ones out until the transaction ends; returns the batch as it stands then.
 */
export function lockBatch(args: { batchId: string }): Statement {
  return { text: LOCK_BATCH, values: [args.batchId] };
}

const CANCEL_ITEMS = `
    UPDATE "import_batch_items"
    SET "status" = ${sqlWord(ITEM_STATUS.cancelled)}, "error_message" = $2::text,
        "locked_by" = NULL, "locked_until" = NULL, "completed_at" = now()
    WHERE "batch_id" = $1
      AND ("status" = ${sqlWord(ITEM_STATUS.pending)}
           OR ("status" = ${sqlWord(ITEM_STATUS.processing)} AND "locked_until" < now()))
    RETURNING "id"`;

/**
 * Cancels the rows of a batch that no live run holds: the pending ones, and those whose run's lease ran out
 * (a dead run's; should it come back, its outcome is fenced out). Rows a live run holds finish there.
 */
export function cancelItems(args: { batchId: string; reason: string }): Statement {
  return { text: CANCEL_ITEMS, values: [args.batchId, args.reason] };
}

const CANCEL_BATCH = `
    UPDATE "import_batches"
    SET "status" = ${sqlWord(BATCH_STATUS.cancelled)}, "error_message" = $2::text,
        "completed_at" = now(), "locked_by" = NULL, "locked_until" = NULL
    WHERE "id" = $1 AND "status" IN (${sqlList(LIVE_BATCH_STATUSES)})
    RETURNING "id"`;

/** Ends a live batch cancelled, with the reason. */
export function cancelBatch(args: { batchId: string; reason: string }): Statement {
  return { text: CANCEL_BATCH, values: [args.batchId, args.reason] };
}

const COUNT_ENDED_BATCH = `
    UPDATE "import_batches" b
    SET "completed_items" = c.completed, "failed_items" = c.failed, "skipped_items" = c.skipped,
        "cancelled_items" = c.cancelled
    FROM (
      SELECT
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.completed)}))::integer AS completed,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.failed)}))::integer AS failed,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.skipped)}))::integer AS skipped,
        (count(*) FILTER (WHERE "status" = ${sqlWord(ITEM_STATUS.cancelled)}))::integer AS cancelled
      FROM "import_batch_items" WHERE "batch_id" = $1
    ) c
    WHERE b."id" = $1 AND b."status" = ${sqlWord(BATCH_STATUS.cancelled)}
    RETURNING b.*`;

/**
 * Brings the counts of a cancelled batch up to date from its rows: the cancel counts what stands then, and
 * each run whose items in flight finished after it counts again. Run after `lockBatch` in the same
 * transaction, so that this statement's snapshot sees every outcome committed before the lock.
 */
export function countCancelledBatch(args: { batchId: string }): Statement {
  return { text: COUNT_ENDED_BATCH, values: [args.batchId] };
}

const SWEEP_CANCELLED = `
    WITH swept AS (
      UPDATE "import_batch_items" i
      SET "status" = ${sqlWord(ITEM_STATUS.cancelled)}, "error_message" = b."error_message",
          "locked_by" = NULL, "locked_until" = NULL, "completed_at" = now()
      FROM "import_batches" b
      WHERE b."status" = ${sqlWord(BATCH_STATUS.cancelled)} AND i."batch_id" = b."id"
        AND i."status" = ${sqlWord(ITEM_STATUS.processing)} AND i."locked_until" < now()
      RETURNING i."batch_id"
    )
    SELECT DISTINCT "batch_id" FROM swept`;

/**
 * Cancels the rows that runs which died after a cancel left `processing` in cancelled batches, once their
 * leases ran out (a run that comes back finds them taken: its outcome is fenced out). The worker does it
 * as it looks for work; returns the batches swept, whose counts are then brought up to date.
 */
export function sweepCancelledBatches(): Statement {
  return { text: SWEEP_CANCELLED, values: [] };
}
