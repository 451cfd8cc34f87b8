/**
 * Every status and log level the module stores, spelled once. The types, the entities' checks, the
 * statements, the runner and the CLI read them from here; the frozen migrations spell them too, and a unit
 * test holds the two together (`test/unit/statuses.spec.ts`). To add a status: add it here, and write a
 * new migration that replaces the table's check.
 */

/**
 * The statuses of a batch: `pending → processing → completed | completed_with_errors | failed`. An
 * operator may pause a live batch (`paused`, until `resumeBatch`) or cancel it (`cancelled`); with
 * `requireApproval` a batch starts `awaiting_approval`, then becomes `pending` (approved) or `rejected`.
 * @example `if (batch.status === BATCH_STATUS.completedWithErrors) …`
 */
export const BATCH_STATUS = {
  pending: 'pending',
  processing: 'processing',
  completed: 'completed',
  completedWithErrors: 'completed_with_errors',
  failed: 'failed',
  paused: 'paused',
  cancelled: 'cancelled',
  awaitingApproval: 'awaiting_approval',
  rejected: 'rejected',
} as const;

/**
 * Lifecycle of a batch: `[awaiting_approval →] pending → processing → completed | completed_with_errors |
 * failed`, with `paused` (and back) and `cancelled` on the way, and `rejected` instead of `pending`.
 */
export type BatchStatus = (typeof BATCH_STATUS)[keyof typeof BATCH_STATUS];

/**
 * The statuses of an item (a row): `pending → processing → completed | failed | skipped`; a row that no
 * run took before its batch was cancelled (or rejected) is `cancelled`.
 */
export const ITEM_STATUS = {
  pending: 'pending',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
} as const;

/** Lifecycle of an item: `pending → processing → completed | failed | skipped`, or `pending → cancelled`. */
export type ItemStatus = (typeof ITEM_STATUS)[keyof typeof ITEM_STATUS];

/** The levels of an audit-log entry, least severe first. */
export const LOG_LEVEL = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' } as const;

/** Severity of an audit-log entry. */
export type LogLevel = (typeof LOG_LEVEL)[keyof typeof LOG_LEVEL];

/** Every batch status, in lifecycle order. @internal */
export const BATCH_STATUSES: readonly BatchStatus[] = Object.values(BATCH_STATUS);

/** Every item status, in lifecycle order. @internal */
export const ITEM_STATUSES: readonly ItemStatus[] = Object.values(ITEM_STATUS);

/** What a dry run may find for a row: what its status would become. @internal */
export const DRY_RUN_OUTCOMES: readonly ItemStatus[] = [
  ITEM_STATUS.completed,
  ITEM_STATUS.failed,
  ITEM_STATUS.skipped,
];

/** Every log level, least severe first. @internal */
export const LOG_LEVELS: readonly LogLevel[] = Object.values(LOG_LEVEL);

/** A batch in one of these has ended: no run takes it again. @internal */
export const ENDED_BATCH_STATUSES: readonly BatchStatus[] = [
  BATCH_STATUS.completed,
  BATCH_STATUS.completedWithErrors,
  BATCH_STATUS.failed,
  BATCH_STATUS.cancelled,
  BATCH_STATUS.rejected,
];

/** A batch in one of these is taken by a run (`processBatch`, the worker) and its items claimed. @internal */
export const RUNNABLE_BATCH_STATUSES: readonly BatchStatus[] = [
  BATCH_STATUS.pending,
  BATCH_STATUS.processing,
];

/** A batch in one of these waits, and a dry run may try its rows (a dry run does not take it). @internal */
export const DRY_RUNNABLE_BATCH_STATUSES: readonly BatchStatus[] = [
  BATCH_STATUS.pending,
  BATCH_STATUS.awaitingApproval,
  BATCH_STATUS.paused,
];

/**
 * A batch in one of these may still run, now or once an operator lets it (a reprocess of its tree waits
 * for it, and a correction of a row it holds open is refused). @internal
 */
export const LIVE_BATCH_STATUSES: readonly BatchStatus[] = [
  ...RUNNABLE_BATCH_STATUSES,
  BATCH_STATUS.paused,
  BATCH_STATUS.awaitingApproval,
];

/** An item in one of these has not been run to an outcome yet. @internal */
export const OPEN_ITEM_STATUSES: readonly ItemStatus[] = [
  ITEM_STATUS.pending,
  ITEM_STATUS.processing,
];

/** An item in one of these ended without being applied: a correction and a reprocess are for it. @internal */
export const UNAPPLIED_ITEM_STATUSES: readonly ItemStatus[] = [
  ITEM_STATUS.failed,
  ITEM_STATUS.skipped,
  ITEM_STATUS.cancelled,
];

/**
 * An item in one of these did not complete: its row is still to be recovered (a failures export lists it, a
 * reprocess copies it), including a row left open in an ended batch. @internal
 */
export const UNCOMPLETED_ITEM_STATUSES: readonly ItemStatus[] = [
  ...UNAPPLIED_ITEM_STATUSES,
  ...OPEN_ITEM_STATUSES,
];

/**
 * Whether a batch holds a row of its, so that a correction of it would not be used: a run may be working on
 * it (processing, in a batch that has not ended) or take it any moment (pending, in a batch a run takes).
 * A pending row of a paused batch, or of one awaiting approval, is not held: a correction of it is used
 * when the batch runs. @internal
 */
export function holdsRow(itemStatus: ItemStatus, batchStatus: BatchStatus): boolean {
  return (
    (itemStatus === ITEM_STATUS.processing && LIVE_BATCH_STATUSES.includes(batchStatus)) ||
    (itemStatus === ITEM_STATUS.pending && RUNNABLE_BATCH_STATUSES.includes(batchStatus))
  );
}

/** Whether a batch has ended (completed, completed with errors, failed, cancelled or rejected). @internal */
export function isEndedBatch(status: BatchStatus): boolean {
  return ENDED_BATCH_STATUSES.includes(status);
}

/** Whether a run may take the batch and claim its items (pending or processing). @internal */
export function isRunnableBatch(status: BatchStatus): boolean {
  return RUNNABLE_BATCH_STATUSES.includes(status);
}
