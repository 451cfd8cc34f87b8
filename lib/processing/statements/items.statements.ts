/**
 * The statements of an item's life in a run: claimed under this worker's lease, completed, failed or
 * skipped (each only while the claim is still this worker's), or given back.
 */

import { BATCH_STATUS, ITEM_STATUS } from '../../statuses';
import { INSERT_LOGS, logRecordset } from './logs.statements';
import { countOutcomes } from './progress.statements';
import { someItemIn, sqlWord, type Statement } from './statement';

/** What an item's run produced, as its row stores it. */
export interface ItemResult {
  /** The result of `processItem` as JSON text. */
  processedJson: string;
  targetTable: string | null;
  targetId: string | null;
}

/** An item of a chunk to record completed: its result and its logs (a JSON array of `logEntryJson`). */
export interface CompletedChunkItem extends ItemResult {
  id: string;
  logsJson: string;
}

/** What every claim of items is given. */
interface ClaimArgs {
  batchId: string;
  workerId: string;
  leaseMs: number;
  limit: number;
}

/** What every outcome of an item is recorded with. */
export interface ItemOutcomeArgs {
  itemId: string;
  workerId: string;
  /** How many tries this run made. */
  attempts: number;
  /** The item's logs, a JSON array of `logEntryJson`. */
  logsJson: string;
}

/**
 * Writes the logs of the items whose outcome the statement records (CTE `done`), in the same statement:
 * `source` is `done` or `done` joined to what holds the logs, `entries` the parameter or column that holds
 * them.
 */
function logDone(source: string, entries: string): string {
  return `logged AS (
      ${INSERT_LOGS}
      SELECT done."batch_id", done."id", l."level", l."message", l."details", l."created_at"
      FROM ${source}, ${logRecordset(entries)}
    )`;
}

/**
 * The fence of an outcome: the row is still held by the worker `$n`. Only a processing row has a holder
 * (`CHK_import_batch_items_lease`: every statement that takes a row out of processing clears it), so the
 * holder alone says it, and the status is not named: a condition on the status would let the planner
 * find the row on the index of rows in flight, which holds an entry for every row claimed since the last
 * vacuum, rather than on its primary key, at every row.
 */
function heldBy(worker: string, alias = ''): string {
  return `${alias}"locked_by" = ${worker}`;
}

/**
 * When an outcome is recorded: the statement's start, not the transaction's (`now()`), which began before
 * the processor ran (in a chain, with the previous row's commit), so that a slow row's `completed_at`
 * says when it completed.
 */
const RECORDED_AT = 'statement_timestamp()';

/**
 * The text that records the outcome of an item, writes its logs and counts it in the batch's progress, in
 * one statement, only while this worker still holds the item (fencing: a lost claim changes, logs and
 * counts nothing). `set` writes the outcome's own columns, from `$5` on, after the item ($1), the worker
 * ($2), the attempts ($3) and the logs ($4).
 */
function outcomeText(set: string): string {
  return `
    WITH done AS (
      UPDATE "import_batch_items"
      SET ${set}, "attempts" = "attempts" + $3,
          "completed_at" = ${RECORDED_AT}, "locked_by" = NULL, "locked_until" = NULL
      WHERE "id" = $1 AND ${heldBy('$2')}
      RETURNING "id", "batch_id", "status"
    ), ${logDone('done', '$4')}, ${countOutcomes('done', '$2')}
    SELECT "id" FROM done`;
}

/**
 * The columns a claim returns, those `toItem` reads, named rather than `i.*`: a claim is a prepared
 * statement, whose result type is fixed when it is prepared, so that a column added to the table while a
 * run goes on (a migration of a newer version, in a rolling deploy) would fail every later claim on that
 * connection with "cached plan must not change result type" (0A000), and the run with it.
 */
const CLAIMED_COLUMNS = [
  'id',
  'batch_id',
  'item_index',
  'source_line',
  'status',
  'source_data',
  'corrected_data',
  'processed_data',
  'target_table',
  'target_id',
  'error_message',
  'error_details',
  'attempts',
  'original_item_id',
  'created_at',
  'started_at',
  'completed_at',
  'corrected_at',
  'scrubbed_at',
  'source_digest',
  'dry_run_outcome',
  'dry_run_error',
  'dry_run_at',
]
  .map((column) => `i."${column}"`)
  .join(', ');

/**
 * The text that claims up to `limit` ($4) items of the batch ($1) that match `which` for the worker ($2),
 * leased for `leaseMs` ($3). `which` is a literal condition, not a parameter, so that the planner can see it
 * matches the index of pending items. The batch row is share-locked for the claim: a stop
 * (`lockBatchToStop`) waits for the claims in flight, and a claim that comes after it finds the batch ended,
 * so that an ended batch never gains a claimed item. (Not FOR UPDATE in the stop: that would also wait for
 * the key-share locks that the log inserts of item transactions take, while those wait for the item rows
 * the stop releases.)
 */
function claimText(which: string): string {
  return `
    UPDATE "import_batch_items" AS i
    SET "status" = ${sqlWord(ITEM_STATUS.processing)},
        "locked_by" = $2,
        "locked_until" = now() + $3 * interval '1 millisecond',
        "started_at" = now()
    FROM (
      SELECT "id" FROM "import_batch_items"
      WHERE "batch_id" = $1 AND ${which}
        AND EXISTS (
          SELECT 1 FROM "import_batches" WHERE "id" = $1 AND "status" = ${sqlWord(BATCH_STATUS.processing)} FOR SHARE)
      ORDER BY "item_index"
      LIMIT $4
      FOR UPDATE SKIP LOCKED
    ) AS next
    WHERE i."id" = next."id"
    RETURNING ${CLAIMED_COLUMNS}`;
}

const CLAIM_PENDING_ITEMS = claimText(
  `"status" = ${sqlWord(ITEM_STATUS.pending)} AND "item_index" >= $5`,
);

/**
 * Claims the next pending items in order (`limit` at most) from `fromIndex` on; on the index of pending
 * items. A run starts its claims past the items it claimed already: the index entries of their pending
 * versions stay until vacuum removes them, and while any transaction older than them is open (a long
 * report, a forgotten session) vacuum cannot, so a claim from the start would visit every one of them, and
 * a batch would slow down with every row done.
 */
export function claimPendingItems(args: ClaimArgs & { fromIndex: number }): Statement {
  return {
    text: CLAIM_PENDING_ITEMS,
    values: [args.batchId, args.workerId, args.leaseMs, args.limit, args.fromIndex],
    prepared: true,
  };
}

const CLAIM_EXPIRED_ITEMS = claimText(
  `"status" = ${sqlWord(ITEM_STATUS.processing)} AND "locked_until" < now()`,
);

/** Claims, in order, items whose holder's lease expired (`limit` at most): when none is pending. */
export function claimExpiredItems(args: ClaimArgs): Statement {
  return {
    text: CLAIM_EXPIRED_ITEMS,
    values: [args.batchId, args.workerId, args.leaseMs, args.limit],
    prepared: true,
  };
}

const HAS_CLAIMABLE_ITEMS = `
    SELECT ${someItemIn('$1', [ITEM_STATUS.pending])}
        OR ${someItemIn('$1', [ITEM_STATUS.processing], '"locked_until" < now()')} AS "claimable"`;

/** Whether the batch has items a claim would take: pending, or held past their lease. */
export function hasClaimableItems(args: { batchId: string }): Statement {
  return { text: HAS_CLAIMABLE_ITEMS, values: [args.batchId] };
}

const ITEMS_HELD_BY_OTHERS = `
    SELECT count(*)::integer AS "count" FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "status" = ${sqlWord(ITEM_STATUS.processing)} AND "locked_by" IS DISTINCT FROM $2`;

/** Items still held by another worker whose lease has not expired. */
export function itemsHeldByOthers(args: { batchId: string; workerId: string }): Statement {
  return { text: ITEMS_HELD_BY_OTHERS, values: [args.batchId, args.workerId] };
}

/** An item to record completed, with its result. */
export type CompletedItem = ItemOutcomeArgs & ItemResult;

/** An item to record failed or skipped (not applied), with the reason. */
export interface UnappliedItem extends ItemOutcomeArgs {
  status: typeof ITEM_STATUS.failed | typeof ITEM_STATUS.skipped;
  errorMessage: string;
  /** JSON text, or null. */
  errorDetailsJson: string | null;
}

const COMPLETE_ITEM =
  outcomeText(`"status" = ${sqlWord(ITEM_STATUS.completed)}, "processed_data" = $5::jsonb, "target_table" = $6, "target_id" = $7,
          "error_message" = NULL, "error_details" = NULL`);

/**
 * Inside the item's transaction: the item becomes completed only while this worker still holds it
 * (fencing), and its logs are written with it.
 */
export function completeItem(args: CompletedItem): Statement {
  return {
    text: COMPLETE_ITEM,
    values: [
      args.itemId,
      args.workerId,
      args.attempts,
      args.logsJson,
      args.processedJson,
      args.targetTable,
      args.targetId,
    ],
    prepared: true,
  };
}

const FINISH_ITEM_WITHOUT_RESULT = outcomeText(
  `"status" = $5, "error_message" = $6, "error_details" = $7::jsonb`,
);

/** After the item's transaction rolled back: records the outcome (failed or skipped) and its logs. */
export function finishItemWithoutResult(args: UnappliedItem): Statement {
  return {
    text: FINISH_ITEM_WITHOUT_RESULT,
    values: [
      args.itemId,
      args.workerId,
      args.attempts,
      args.logsJson,
      args.status,
      args.errorMessage,
      args.errorDetailsJson,
    ],
    prepared: true,
  };
}

const COMPLETE_CHUNK = `
    WITH input AS (
      SELECT * FROM jsonb_to_recordset($2::jsonb)
        AS x("id" uuid, "processed" jsonb, "target_table" text, "target_id" text, "logs" jsonb)
    ), done AS (
      UPDATE "import_batch_items" i
      SET "status" = ${sqlWord(ITEM_STATUS.completed)}, "processed_data" = input."processed",
          "target_table" = input."target_table", "target_id" = input."target_id",
          "error_message" = NULL, "error_details" = NULL, "attempts" = i."attempts" + 1,
          "completed_at" = ${RECORDED_AT}, "locked_by" = NULL, "locked_until" = NULL
      FROM input
      WHERE i."id" = input."id" AND ${heldBy('$1', 'i.')}
      RETURNING i."id", i."batch_id", i."status"
    ), ${logDone('done JOIN input ON input."id" = done."id"', 'input."logs"')}, ${countOutcomes('done', '$1')}
    SELECT count(*)::integer AS "count" FROM done`;

/**
 * Inside a chunk's transaction: marks every item of the chunk completed (only those this worker still
 * holds), writes their logs and counts them in the batch's progress, in one statement. The items travel as one JSON array of
 * `{ id, processed, target_table, target_id, logs }`.
 */
export function completeChunk(args: {
  workerId: string;
  items: readonly CompletedChunkItem[];
}): Statement {
  return {
    text: COMPLETE_CHUNK,
    values: [args.workerId, chunkJson(args.items)],
    prepared: true,
  };
}

/** The items of a chunk as the JSON array `completeChunk` reads; results and logs are JSON text already. */
function chunkJson(items: readonly CompletedChunkItem[]): string {
  const entries = items.map(
    (item) =>
      `{"id":${JSON.stringify(item.id)},"processed":${item.processedJson},` +
      `"target_table":${JSON.stringify(item.targetTable)},"target_id":${JSON.stringify(item.targetId)},` +
      `"logs":${item.logsJson}}`,
  );
  return `[${entries.join(',')}]`;
}

/**
 * A claim given back: the item is pending again, as if it had never been claimed — or cancelled, when its
 * batch was cancelled meanwhile. The batch row is share-locked, so that a cancel (which locks it first)
 * either sees the item given back or is seen by the release.
 */
const RELEASE = `
    WITH b AS (SELECT "status", "error_message" FROM "import_batches" WHERE "id" = $1 FOR SHARE)
    UPDATE "import_batch_items" AS i
    SET "status" = CASE WHEN b."status" = ${sqlWord(BATCH_STATUS.cancelled)} THEN ${sqlWord(ITEM_STATUS.cancelled)}
                        ELSE ${sqlWord(ITEM_STATUS.pending)} END,
        "error_message" = CASE WHEN b."status" = ${sqlWord(BATCH_STATUS.cancelled)} THEN b."error_message"
                               ELSE i."error_message" END,
        "completed_at" = CASE WHEN b."status" = ${sqlWord(BATCH_STATUS.cancelled)} THEN now() END,
        "locked_by" = NULL, "locked_until" = NULL, "started_at" = NULL
    FROM b`;

const RELEASE_ITEMS = `${RELEASE}
    WHERE i."batch_id" = $1 AND i."locked_by" = $2 AND i."status" = ${sqlWord(ITEM_STATUS.processing)}
    RETURNING i."id"`;

/** Gives back the items this worker claimed but will not process. */
export function releaseItems(args: { batchId: string; workerId: string }): Statement {
  return { text: RELEASE_ITEMS, values: [args.batchId, args.workerId] };
}

const RELEASE_SOME_ITEMS = `${RELEASE}
    WHERE i."id" = ANY($3::uuid[]) AND i."batch_id" = $1 AND ${heldBy('$2', 'i.')}
    RETURNING i."id"`;

/** Gives back the items `itemIds` of this worker's claim (found by their keys: see `heldBy`). */
export function releaseSomeItems(args: {
  batchId: string;
  workerId: string;
  itemIds: readonly string[];
}): Statement {
  return {
    text: RELEASE_SOME_ITEMS,
    values: [args.batchId, args.workerId, args.itemIds],
    prepared: true,
  };
}

const RELEASE_EVERY_CLAIM = `${RELEASE}
    WHERE i."batch_id" = $1 AND i."status" = ${sqlWord(ITEM_STATUS.processing)}
    RETURNING i."id"`;

/**
 * A stop gives back every claim on the batch, whichever run holds it: a claim that completes later is
 * fenced out, and a completion in flight is waited for (its row lock), so no item stays processing in
 * an ended batch.
 */
export function releaseEveryClaim(args: { batchId: string }): Statement {
  return { text: RELEASE_EVERY_CLAIM, values: [args.batchId] };
}

const FIRST_FAILED_ITEM = `
    SELECT "item_index", "error_message" FROM "import_batch_items"
    WHERE "batch_id" = $1 AND "status" = ${sqlWord(ITEM_STATUS.failed)}
    ORDER BY "item_index"
    LIMIT 1`;

/** The first failed item of a batch, in item order: where a stop at the first failure stops. */
export function firstFailedItem(args: { batchId: string }): Statement {
  return { text: FIRST_FAILED_ITEM, values: [args.batchId] };
}
