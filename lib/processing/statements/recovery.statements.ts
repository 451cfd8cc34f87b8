/**
 * The statements of recovery: failed rows of a tree, its lineage, corrections.
 *
 * A tree's source rows are the items of its first batch (the root); every copy of a row in a reprocess
 * points at it through `original_item_id`. At most one copy of a row completes in the whole tree.
 */

import { messages } from '../../reliable-imports.messages';
import {
  ITEM_STATUS,
  LIVE_BATCH_STATUSES,
  LOG_LEVEL,
  OPEN_ITEM_STATUSES,
  RUNNABLE_BATCH_STATUSES,
  UNAPPLIED_ITEM_STATUSES,
  UNCOMPLETED_ITEM_STATUSES,
} from '../../statuses';
import { INSERT_LOGS } from './logs.statements';
import { sqlItemStatusIn, sqlList, sqlWord, type Statement } from './statement';

/**
 * `holdsRow` (lib/statuses.ts) in SQL, for the copy `c` of a row in its batch `b`: a run works on it, or
 * may take it any moment, so that a correction of it would not be used.
 */
const HOLDS_ROW = `((c."status" = ${sqlWord(ITEM_STATUS.processing)} AND b."status" IN (${sqlList(LIVE_BATCH_STATUSES)}))
             OR (c."status" = ${sqlWord(ITEM_STATUS.pending)} AND b."status" IN (${sqlList(RUNNABLE_BATCH_STATUSES)})))`;

/** Every copy of source row `r` (the row itself included), with the creation time of its batch. */
const COPIES_OF_R = (columns: string): string => `
      SELECT ${columns}, b."created_at" AS "batch_created_at"
      FROM (
        SELECT i.* FROM "import_batch_items" i WHERE i."id" = r."id"
        UNION ALL
        SELECT i.* FROM "import_batch_items" i WHERE i."original_item_id" = r."id"
      ) c JOIN "import_batches" b ON b."id" = c."batch_id"`;

/**
 * Rows of root `rootId` ($1) that did not complete the first time, each with its newest failed or skipped
 * copy (`f`), its newest copy of all (`n`) and the batch in which a copy completed (`d`). Unresolved: no
 * copy completed and the newest copy is the failed one (not one pending in a reprocess).
 */
const FAILED_ROWS = `
    FROM "import_batch_items" r
    CROSS JOIN LATERAL (
      ${COPIES_OF_R('c."id"')}
      ORDER BY "batch_created_at" DESC, c."created_at" DESC LIMIT 1
    ) n
    CROSS JOIN LATERAL (
      ${COPIES_OF_R('c."id", c."batch_id", c."status", c."error_message", c."error_details", c."source_data", c."corrected_data", c."created_at"')}
      WHERE c."status" IN (${sqlList(UNAPPLIED_ITEM_STATUSES)})
      ORDER BY "batch_created_at" DESC, c."created_at" DESC LIMIT 1
    ) f
    LEFT JOIN LATERAL (
      SELECT i."batch_id" FROM "import_batch_items" i
      WHERE i."original_item_id" = r."id" AND i."status" = ${sqlWord(ITEM_STATUS.completed)}
      LIMIT 1
    ) d ON true
    WHERE r."batch_id" = $1 AND ${sqlItemStatusIn('r."status"', UNCOMPLETED_ITEM_STATUSES)}`;

const UNRESOLVED = `d."batch_id" IS NULL AND n."id" = f."id"`;

/**
 * A page of the failed rows of a tree in source order, from after `afterIndex`. The data comes as JSON
 * text, so that an export can keep every digit of its numbers.
 */
export function failedRows(args: {
  rootId: string;
  includeResolved: boolean;
  afterIndex: number;
  limit: number;
  offset: number;
}): Statement {
  return {
    text: `
    SELECT r."item_index", r."source_line", f."id" AS "item_id", f."batch_id", f."status",
           f."error_message", f."error_details",
           COALESCE(f."corrected_data", f."source_data")::text AS "data",
           f."corrected_data" IS NOT NULL AS "corrected", d."batch_id" AS "resolved_by"
    ${FAILED_ROWS}
      AND r."item_index" > $2
      AND ($3::boolean OR (${UNRESOLVED}))
    ORDER BY r."item_index"
    LIMIT $4 OFFSET $5`,
    values: [args.rootId, args.afterIndex, args.includeResolved, args.limit, args.offset],
  };
}

/**
 * Where the rows of the tree stand, counted by the rows themselves (not by the batches, one of which may
 * have been deleted): completed the first time, completed by a copy, unresolved.
 */
export function countRows(args: { rootId: string }): Statement {
  return {
    text: `
    SELECT (count(*) FILTER (WHERE r."status" = ${sqlWord(ITEM_STATUS.completed)}))::integer AS "completed_first_time",
           (count(*) FILTER (WHERE r."status" <> ${sqlWord(ITEM_STATUS.completed)} AND EXISTS (
              SELECT 1 FROM "import_batch_items" i
              WHERE i."original_item_id" = r."id" AND i."status" = ${sqlWord(ITEM_STATUS.completed)})))::integer AS "resolved",
           (SELECT count(*) ${FAILED_ROWS} AND ${UNRESOLVED})::integer AS "unresolved"
    FROM "import_batch_items" r WHERE r."batch_id" = $1`,
    values: [args.rootId],
  };
}

/**
 * The keys of the data of the tree's unresolved rows, in the order of their first appearance: the columns
 * a failures export needs beyond the source's own.
 */
export function keysOfUnresolved(args: { rootId: string }): Statement {
  return {
    text: `
    SELECT k."key" FROM (
      SELECT r."item_index", COALESCE(f."corrected_data", f."source_data") AS "data"
      ${FAILED_ROWS} AND ${UNRESOLVED}
    ) u CROSS JOIN LATERAL jsonb_object_keys(u."data") WITH ORDINALITY AS k("key", "position")
    GROUP BY k."key"
    ORDER BY min(u."item_index"), min(k."position")`,
    values: [args.rootId],
  };
}

/**
 * The batches of a tree with their item counts, the root first, then in the order they were made. A batch
 * whose parent was deleted (its `parent_batch_id` set to null) is found through its copies of the root's
 * rows, with its reprocesses, at depth 1.
 */
export function treeBatches(args: { rootId: string }): Statement {
  return {
    text: `
    WITH RECURSIVE orphans AS (
      SELECT DISTINCT c."batch_id" AS "id"
      FROM "import_batch_items" r JOIN "import_batch_items" c ON c."original_item_id" = r."id"
      -- Only rows that did not complete the first time were ever copied: the others need no look.
      WHERE r."batch_id" = $1 AND r."status" <> ${sqlWord(ITEM_STATUS.completed)}
    ), tree AS (
      SELECT "id", "parent_batch_id", "status", "created_at", 0 AS "depth"
      FROM "import_batches" WHERE "id" = $1
      UNION ALL
      SELECT b."id", b."parent_batch_id", b."status", b."created_at", 1
      FROM "import_batches" b JOIN orphans o ON o."id" = b."id"
      WHERE b."parent_batch_id" IS NULL AND b."id" <> $1
      UNION ALL
      SELECT b."id", b."parent_batch_id", b."status", b."created_at", tree."depth" + 1
      FROM "import_batches" b JOIN tree ON b."parent_batch_id" = tree."id"
      WHERE tree."depth" < 1000
    )
    SELECT t.*, c.*
    FROM tree t CROSS JOIN LATERAL (
      SELECT count(*)::integer AS "total_items",
             (count(*) FILTER (WHERE i."status" = ${sqlWord(ITEM_STATUS.completed)}))::integer AS "completed_items",
             (count(*) FILTER (WHERE i."status" = ${sqlWord(ITEM_STATUS.failed)}))::integer AS "failed_items",
             (count(*) FILTER (WHERE i."status" = ${sqlWord(ITEM_STATUS.skipped)}))::integer AS "skipped_items",
             (count(*) FILTER (WHERE i."status" IN (${sqlList(OPEN_ITEM_STATUSES)})))::integer AS "pending_items"
      FROM "import_batch_items" i WHERE i."batch_id" = t."id"
    ) c
    ORDER BY t."created_at", t."id"`,
    values: [args.rootId],
  };
}

/** The source row (and the batch of the source row) of each of the given item ids. */
export function sourcesOfItems(args: { itemIds: string[] }): Statement {
  return {
    text: `
    SELECT i."id"::text AS "item_id", s."id" AS "source_id", s."batch_id" AS "source_batch_id"
    FROM "import_batch_items" i
    JOIN "import_batch_items" s ON s."id" = COALESCE(i."original_item_id", i."id")
    WHERE i."id" = ANY($1::uuid[])`,
    values: [args.itemIds],
  };
}

/** The source rows of root `rootId` that came from the given lines. */
export function sourcesOfLines(args: { rootId: string; lines: number[] }): Statement {
  return {
    text: `
    SELECT "id" AS "source_id", "source_line" FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "source_line" = ANY($2::integer[])`,
    values: [args.rootId, args.lines],
  };
}

const LOCK_COPIES_OF_ROWS = `
    SELECT 1 FROM "import_batch_items"
    WHERE "id" = ANY($1::uuid[]) OR "original_item_id" = ANY($1::uuid[])
    ORDER BY "id"
    FOR UPDATE`;

/**
 * Locks every copy of the source rows `sourceIds` for a set of corrections, before their states are read
 * (`rowStates`): a claim (which skips locked rows) cannot take a copy between the check and the store, so
 * that a row whose batch is resumed and claimed meanwhile never runs with the data the correction replaced;
 * a claim that came first is waited for, and its row then reads as held.
 */
export function lockCopiesOfRows(args: { sourceIds: string[] }): Statement {
  return { text: LOCK_COPIES_OF_ROWS, values: [args.sourceIds] };
}

/**
 * What decides whether a row can be corrected: its newest copy (and the data a reprocess would use now),
 * a copy that completed, and a copy that a running batch holds.
 */
export function rowStates(args: { sourceIds: string[] }): Statement {
  return {
    text: `
    SELECT r."id" AS "source_id", n."id" AS "newest_id", n."batch_id" AS "newest_batch_id",
           n."item_index", n."status" AS "newest_status", n."data"::text AS "data",
           n."scrubbed_at" AS "newest_scrubbed_at",
           d."id" AS "completed_id", d."batch_id" AS "completed_batch_id",
           l."id" AS "live_id", l."batch_id" AS "live_batch_id", l."batch_status" AS "live_batch_status"
    FROM "import_batch_items" r
    CROSS JOIN LATERAL (
      ${COPIES_OF_R('c."id", c."batch_id", c."item_index", c."status", c."corrected_data", c."error_details", COALESCE(c."corrected_data", c."source_data") AS "data", c."scrubbed_at", c."created_at"')}
      ORDER BY "batch_created_at" DESC, c."created_at" DESC LIMIT 1
    ) n
    LEFT JOIN LATERAL (
      ${COPIES_OF_R('c."id", c."batch_id"')}
      WHERE c."status" = ${sqlWord(ITEM_STATUS.completed)} LIMIT 1
    ) d ON true
    LEFT JOIN LATERAL (
      SELECT c."id", c."batch_id", b."status" AS "batch_status"
      FROM (
        SELECT i.* FROM "import_batch_items" i WHERE i."id" = r."id"
        UNION ALL
        SELECT i.* FROM "import_batch_items" i WHERE i."original_item_id" = r."id"
      ) c JOIN "import_batches" b ON b."id" = c."batch_id"
      WHERE ${HOLDS_ROW}
      LIMIT 1
    ) l ON true
    WHERE r."id" = ANY($1::uuid[])`,
    values: [args.sourceIds],
  };
}

/**
 * Stores corrections (`{ id, data, line }` each, as a JSON array): `replace` stores the data given, `merge`
 * adds its fields to the row's current data (in SQL, so that no number of the stored row passes through a
 * JavaScript double). Writes one audit entry per row with its old and new data, in the same statement:
 * its text is the message's, passed as the parts around the row's index, which only SQL knows here.
 */
export function storeCorrections(args: {
  corrections: string;
  mode: 'replace' | 'merge';
}): Statement {
  const corrected = messages.itemCorrected();
  return {
    text: `
    WITH input AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS x("id" uuid, "data" jsonb, "line" integer)
    ), old AS (
      SELECT i."id", COALESCE(i."corrected_data", i."source_data") AS "data"
      FROM "import_batch_items" i JOIN input ON input."id" = i."id"
    ), updated AS (
      UPDATE "import_batch_items" i
      SET "corrected_data" = CASE WHEN $2::text = 'merge'
                                  THEN COALESCE(i."corrected_data", i."source_data") || input."data"
                                  ELSE input."data" END,
          "corrected_at" = now()
      FROM input WHERE i."id" = input."id"
      RETURNING i.*
    ), logged AS (
      ${INSERT_LOGS}
      SELECT u."batch_id", u."id", ${sqlWord(LOG_LEVEL.info)}, $3::text || u."item_index" || $4::text,
             jsonb_strip_nulls(jsonb_build_object(
               'itemIndex', u."item_index", 'mode', $2::text, 'fileLine', input."line")) ||
             jsonb_build_object('old', old."data", 'new', u."corrected_data"),
             clock_timestamp()
      FROM updated u JOIN input ON input."id" = u."id" JOIN old ON old."id" = u."id"
      -- The audit reads in row order (its ids follow this order), not in the order the rows sit on disk.
      ORDER BY u."item_index"
    )
    SELECT * FROM updated`,
    values: [args.corrections, args.mode, corrected.before, corrected.after],
  };
}

/** Item `itemId`, locked for the correction of it. */
export function itemForUpdate(args: { itemId: string }): Statement {
  return {
    text: `SELECT * FROM "import_batch_items" WHERE "id" = $1 FOR UPDATE`,
    values: [args.itemId],
  };
}

/**
 * Every copy in its tree of the source row of item `itemId`, newest first, with the status of its batch:
 * what decides whether a correction of the item would be used.
 */
export function copiesOfRow(args: { itemId: string }): Statement {
  return {
    text: `
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
    values: [args.itemId],
  };
}
