/**
 * Every status and log level the module stores, spelled once. The types, the entities' checks, the
 * statements, the runner and the CLI read them from here; the frozen migrations spell them too, and a unit
 * test holds the two together (`test/unit/statuses.spec.ts`). To add a status: add it here, and write a
 * new migration that replaces the table's check.
 */

/**
 * The statuses of a batch: `pending → processing → completed | completed_with_errors | failed`.
 * @example `if (batch.status === BATCH_STATUS.completedWithErrors) …`
 */
export const BATCH_STATUS = {
  pending: 'pending',
  processing: 'processing',
  completed: 'completed',
  completedWithErrors: 'completed_with_errors',
  failed: 'failed',
} as const;

/** Lifecycle of a batch: `pending → processing → completed | completed_with_errors | failed`. */
export type BatchStatus = (typeof BATCH_STATUS)[keyof typeof BATCH_STATUS];

/** The statuses of an item (a row): `pending → processing → completed | failed | skipped`. */
export const ITEM_STATUS = {
  pending: 'pending',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
  skipped: 'skipped',
} as const;

/** Lifecycle of an item: `pending → processing → completed | failed | skipped`. */
export type ItemStatus = (typeof ITEM_STATUS)[keyof typeof ITEM_STATUS];

/** The levels of an audit-log entry, least severe first. */
export const LOG_LEVEL = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' } as const;

/** Severity of an audit-log entry. */
export type LogLevel = (typeof LOG_LEVEL)[keyof typeof LOG_LEVEL];

/** Every batch status, in lifecycle order. @internal */
export const BATCH_STATUSES: readonly BatchStatus[] = Object.values(BATCH_STATUS);

/** Every item status, in lifecycle order. @internal */
export const ITEM_STATUSES: readonly ItemStatus[] = Object.values(ITEM_STATUS);

/** Every log level, least severe first. @internal */
export const LOG_LEVELS: readonly LogLevel[] = Object.values(LOG_LEVEL);

/** A batch in one of these has ended: no run takes it again. @internal */
export const ENDED_BATCH_STATUSES: readonly BatchStatus[] = [
  BATCH_STATUS.completed,
  BATCH_STATUS.completedWithErrors,
  BATCH_STATUS.failed,
];

/** A batch in one of these may still run (a reprocess of its tree waits for it). @internal */
export const LIVE_BATCH_STATUSES: readonly BatchStatus[] = [
  BATCH_STATUS.pending,
  BATCH_STATUS.processing,
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
];

/**
 * An item in one of these did not complete: its row is still to be recovered (a failures export lists it, a
 * reprocess copies it), including a row left open in an ended batch. @internal
 */
export const UNCOMPLETED_ITEM_STATUSES: readonly ItemStatus[] = [
  ...UNAPPLIED_ITEM_STATUSES,
  ...OPEN_ITEM_STATUSES,
];

/** Whether a batch has ended (completed, completed with errors, or failed). @internal */
export function isEndedBatch(status: BatchStatus): boolean {
  return ENDED_BATCH_STATUSES.includes(status);
}
