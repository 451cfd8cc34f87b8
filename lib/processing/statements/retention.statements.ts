/**
 * The statements of retention: which trees of batches are due, what holds them, their removal in slices,
 * the removal of old audit-log entries, and the advisory lock that lets one instance at a time apply it.
 *
 * A policy is two parallel arrays: the ended statuses it removes and, for each, the moment before which a
 * batch of that status must have ended (`cutoffs`). A tree is removed whole: a reprocess whose first batch
 * is gone would have lost its lineage.
 */

import { ITEM_STATUS, LIVE_BATCH_STATUSES } from '../../statuses';
import { sqlList, sqlWord, type Statement } from './statement';

/** A policy, as the statements read it. */
export interface PolicyArgs {
  statuses: readonly string[];
  cutoffs: readonly Date[];
  /** Only these batch types; null for every type. */
  batchTypes: readonly string[] | null;
  /** Never these batch types (those a processor gives a policy of its own). */
  excludedTypes: readonly string[];
}

const POLICY = `policy AS (
      SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS p("status", "cutoff")
    )`;

/** When a batch ended; a batch that ended with no time recorded counts from its creation. */
const ENDED_AT = (alias: string): string =>
  `COALESCE(${alias}."completed_at", ${alias}."started_at", ${alias}."created_at")`;

/**
 * The next first batches of trees with status `status` (after the cursor, oldest first) that the policy
 * may remove: their own age is due. Whether the rest of their tree is, is read under their lock
 * (`treeFacts`). A batch with no parent whose rows are copies is a reprocess whose parent was deleted by
 * hand: it is not a first batch, and goes with its tree. One status at a time, so that the index on
 * `(status, created_at)` gives the batches in order and the scan stops at `limit`, however many there are.
 */
export function dueRoots(args: {
  status: string;
  cutoff: Date;
  batchTypes: readonly string[] | null;
  excludedTypes: readonly string[];
  afterCreatedAt: string | null;
  afterId: string | null;
  limit: number;
}): Statement {
  return {
    text: `
    SELECT b."id", b."created_at"::text AS "cursor"
    FROM "import_batches" b
    WHERE b."status" = $1
      -- A batch ends after it is created: the first bound is the index's, the second the rule.
      AND b."created_at" < $2::timestamptz AND ${ENDED_AT('b')} < $2::timestamptz
      AND b."parent_batch_id" IS NULL
      AND ($3::text[] IS NULL OR b."batch_type" = ANY($3::text[]))
      AND NOT (b."batch_type" = ANY($4::text[]))
      AND ($5::timestamptz IS NULL
           OR (b."created_at" >= $5::timestamptz AND (b."created_at", b."id") > ($5::timestamptz, $6::uuid)))
      AND NOT EXISTS (
        SELECT 1 FROM (
          SELECT i."original_item_id" FROM "import_batch_items" i
          WHERE i."batch_id" = b."id" ORDER BY i."item_index" LIMIT 1
        ) f WHERE f."original_item_id" IS NOT NULL)
    ORDER BY b."created_at", b."id"
    LIMIT $7`,
    values: [
      args.status,
      args.cutoff,
      args.batchTypes,
      args.excludedTypes,
      args.afterCreatedAt,
      args.afterId,
      args.limit,
    ],
  };
}

/**
 * Locks the given first batches for the slice's transaction, skipping those another transaction holds (a
 * reprocess being created, a correction, another pruner): those are left for the next run. A reprocess
 * and a correction lock the same row (`lockTreeRoot`), so none of them can add to a tree being removed,
 * and a tree they changed is read here as they left it.
 */
export function lockRoots(args: { rootIds: readonly string[] }): Statement {
  return {
    text: `
    SELECT "id" FROM "import_batches"
    WHERE "id" = ANY($1::uuid[]) AND "parent_batch_id" IS NULL
    ORDER BY "id"
    FOR UPDATE SKIP LOCKED`,
    values: [args.rootIds],
  };
}

/**
 * For each of the given (locked) first batches, its tree as it stands: its batches (by their parents, and
 * by their copies of its rows, should a batch between them have been deleted by hand), whether one of them
 * may still run (`live`), whether every one is due by the policy (`due`), whether a row of it never
 * completed anywhere in the tree (`unresolved`), and its size.
 */
export function treeFacts(args: {
  rootIds: readonly string[];
  statuses: readonly string[];
  cutoffs: readonly Date[];
}): Statement {
  return {
    text: `
    WITH RECURSIVE ${POLICY}, roots AS (
      SELECT unnest($3::uuid[]) AS "id"
    ), tree AS (
      SELECT r."id" AS "root_id", r."id" FROM roots r
      UNION
      SELECT r."id", c."batch_id"
      FROM roots r
      JOIN "import_batch_items" s
        ON s."batch_id" = r."id" AND s."status" <> ${sqlWord(ITEM_STATUS.completed)}
      JOIN "import_batch_items" c ON c."original_item_id" = s."id"
      UNION
      SELECT tree."root_id", b."id" FROM "import_batches" b JOIN tree ON b."parent_batch_id" = tree."id"
    )
    SELECT t."root_id",
           array_agg(b."id"::text ORDER BY b."created_at", b."id") AS "batch_ids",
           count(*)::integer AS "batches",
           sum(b."total_items")::bigint AS "rows",
           bool_or(b."status" IN (${sqlList(LIVE_BATCH_STATUSES)})) AS "live",
           bool_and(p."cutoff" IS NOT NULL AND ${ENDED_AT('b')} < p."cutoff") AS "due",
           EXISTS (
             SELECT 1 FROM "import_batch_items" s
             WHERE s."batch_id" = t."root_id" AND s."status" <> ${sqlWord(ITEM_STATUS.completed)}
               AND NOT EXISTS (
                 SELECT 1 FROM "import_batch_items" c
                 WHERE c."original_item_id" = s."id" AND c."status" = ${sqlWord(ITEM_STATUS.completed)})
           ) AS "unresolved"
    FROM tree t
    JOIN "import_batches" b ON b."id" = t."id"
    LEFT JOIN policy p ON p."status" = b."status"
    GROUP BY t."root_id"`,
    values: [args.statuses, args.cutoffs, args.rootIds],
  };
}

/**
 * How long a statement of the slice's transaction waits for a lock before it fails: a slice that would
 * wait behind a long transaction gives up (and is tried again) rather than hold its trees meanwhile.
 */
export function sliceLockTimeout(args: { ms: number }): Statement {
  return { text: `SELECT set_config('lock_timeout', $1, true)`, values: [`${args.ms}ms`] };
}

/** Removes the audit-log entries of the given batches; returns how many. */
export function deleteLogsOfBatches(args: { batchIds: readonly string[] }): Statement {
  return {
    text: `
    WITH gone AS (DELETE FROM "import_logs" WHERE "batch_id" = ANY($1::uuid[]) RETURNING 1)
    SELECT count(*)::integer AS "count" FROM gone`,
    values: [args.batchIds],
  };
}

/** Removes the progress counters of the given batches; returns how many rows. */
export function deleteProgressOfBatches(args: { batchIds: readonly string[] }): Statement {
  return {
    text: `
    WITH gone AS (DELETE FROM "import_batch_progress" WHERE "batch_id" = ANY($1::uuid[]) RETURNING 1)
    SELECT count(*)::integer AS "count" FROM gone`,
    values: [args.batchIds],
  };
}

/** Removes the rows (items) of the given batches; returns how many. */
export function deleteItemsOfBatches(args: { batchIds: readonly string[] }): Statement {
  return {
    text: `
    WITH gone AS (DELETE FROM "import_batch_items" WHERE "batch_id" = ANY($1::uuid[]) RETURNING 1)
    SELECT count(*)::integer AS "count" FROM gone`,
    values: [args.batchIds],
  };
}

/**
 * Removes the given batches, never one that may still run (checked again here, whatever the caller
 * read); returns how many, by status.
 */
export function deleteBatches(args: { batchIds: readonly string[] }): Statement {
  return {
    text: `
    WITH gone AS (
      DELETE FROM "import_batches"
      WHERE "id" = ANY($1::uuid[]) AND "status" NOT IN (${sqlList(LIVE_BATCH_STATUSES)})
      RETURNING "status"
    )
    SELECT "status", count(*)::integer AS "count" FROM gone GROUP BY "status"`,
    values: [args.batchIds],
  };
}

/**
 * One slice of the audit-log entries written before `cutoff` (of batches of the given types): looks at
 * the next `window` entries after `afterId` in the order they were written, and removes (or, with
 * `dryRun`, counts) the old ones among them. Returns the last id looked at and whether any entry of the
 * window was old: the caller stops at a window with none (entries are written in time order, give or
 * take a run's buffer), so that no run reads the whole table for nothing.
 */
export function pruneLogsSlice(args: {
  cutoff: Date;
  batchTypes: readonly string[] | null;
  excludedTypes: readonly string[];
  afterId: string;
  window: number;
  dryRun: boolean;
}): Statement {
  return {
    text: `
    WITH seen AS (
      SELECT l."id", l."batch_id", l."created_at" FROM "import_logs" l
      WHERE l."id" > $4::bigint ORDER BY l."id" LIMIT $5
    ), doomed AS (
      SELECT s."id" FROM seen s JOIN "import_batches" b ON b."id" = s."batch_id"
      WHERE s."created_at" < $1::timestamptz
        AND ($2::text[] IS NULL OR b."batch_type" = ANY($2::text[]))
        AND NOT (b."batch_type" = ANY($3::text[]))
    ), gone AS (
      DELETE FROM "import_logs" l USING doomed d WHERE l."id" = d."id" AND NOT $6::boolean RETURNING 1
    )
    SELECT (SELECT max("id") FROM seen)::text AS "last_id",
           COALESCE((SELECT bool_or("created_at" < $1::timestamptz) FROM seen), false) AS "any_old",
           (SELECT count(*) FROM doomed)::integer AS "count",
           (SELECT count(*) FROM gone)::integer AS "removed"`,
    values: [
      args.cutoff,
      args.batchTypes,
      args.excludedTypes,
      args.afterId,
      args.window,
      args.dryRun,
    ],
  };
}

/**
 * The key of the advisory lock under which one instance at a time applies retention (any 64-bit number
 * the application does not use for its own locks; spelled out in the README).
 */
export const RETENTION_LOCK_KEY = '7236178342150377473';

/**
 * Takes the retention lock for the transaction it runs in, if no other transaction or session holds it;
 * `locked` says whether. A transaction's lock, not a session's, so that it works behind a pooler in
 * transaction mode too (which pins a server connection for a transaction, never for a session); the
 * transaction's end gives it back.
 */
export function tryRetentionLock(): Statement {
  return {
    text: `SELECT pg_try_advisory_xact_lock($1::bigint) AS "locked"`,
    values: [RETENTION_LOCK_KEY],
  };
}
