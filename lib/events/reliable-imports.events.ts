import type { BatchProgress } from '../interfaces/batch-progress.interface';
import type { BatchStatus } from '../statuses';

/**
 * The names of the events the module publishes, for `@OnEvent()` of `@nestjs/event-emitter` (or
 * `EventEmitter2.on`). Each is delivered in the application instance where it happened and, through
 * PostgreSQL's LISTEN/NOTIFY, in every other instance on the same database that has the event emitter:
 * an instance that does not run a batch hears about it too. Their payloads: `ReliableImportsEventMap`.
 *
 * With `EventEmitterModule.forRoot({ wildcard: true })`, `'reliable-imports.batch.*'` hears every batch
 * event and `'reliable-imports.**'` every event.
 * @example
 * ```ts
 * @OnEvent(RELIABLE_IMPORTS_EVENTS.rowFailed)
 * onRowFailed(event: ImportRowFailedEvent) {
 *   this.alerts.send(`Row ${event.sourceLine ?? event.itemIndex} failed: ${event.errorMessage}`);
 * }
 * ```
 */
export const RELIABLE_IMPORTS_EVENTS = {
  /** A run took the batch and began it (its first start, not a resume or a takeover). */
  batchStarted: 'reliable-imports.batch.started',
  /** How far a running batch is; at most once per `worker.pollIntervalMs`, from the run that holds it. */
  batchProgress: 'reliable-imports.batch.progress',
  /** The batch was paused, by an operator or by a spent error budget. */
  batchPaused: 'reliable-imports.batch.paused',
  /** A paused batch was resumed. */
  batchResumed: 'reliable-imports.batch.resumed',
  /** The batch was cancelled. */
  batchCancelled: 'reliable-imports.batch.cancelled',
  /** A batch that awaited approval (`requireApproval`) was approved: the runs may take it. */
  batchApproved: 'reliable-imports.batch.approved',
  /** A batch that awaited approval was rejected: it ends, its rows cancelled. */
  batchRejected: 'reliable-imports.batch.rejected',
  /** The batch ended `completed` or `completed_with_errors`. */
  batchCompleted: 'reliable-imports.batch.completed',
  /** The batch ended `failed`: stopped by a failed row, refused by `validateBatch`, or abandoned. */
  batchFailed: 'reliable-imports.batch.failed',
  /** A row's failure was recorded (after its retries). */
  rowFailed: 'reliable-imports.row.failed',
} as const;

/** The name of an event of the module: a value of `RELIABLE_IMPORTS_EVENTS`. */
export type ReliableImportsEventName =
  (typeof RELIABLE_IMPORTS_EVENTS)[keyof typeof RELIABLE_IMPORTS_EVENTS];

/**
 * What every event of the module says. The texts in an event (reasons, error messages) are cut to 1,000
 * characters, or fewer where the event would not fit in a PostgreSQL notification (8,000 bytes): the
 * whole text stays in the batch or the item.
 */
export interface ReliableImportsEventBase<TName extends ReliableImportsEventName> {
  /** The event's name, as it was emitted (useful to a wildcard listener). */
  name: TName;
  batchId: string;
  batchType: string;
  /** The batch's status once the change the event tells of was recorded. */
  status: BatchStatus;
  /** When the instance that published the event published it. */
  at: Date;
  /**
   * The application instance that published the event (`host:pid:random`): compare it with another
   * event's to tell this instance's events from those heard from other instances.
   */
  instanceId: string;
}

/** A batch's counts when it ended, as stored on the batch. */
export interface ReliableImportsEventCounts {
  totalItems: number;
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  /** Rows no run took before the batch was cancelled. */
  cancelledItems: number;
}

/** `reliable-imports.batch.started`: a run took the batch and began it. */
export interface ImportBatchStartedEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchStarted
> {
  totalItems: number;
  /** The batch this one reprocesses, for a batch made by `reprocessBatch`. */
  parentBatchId: string | null;
}

/**
 * `reliable-imports.batch.progress`: how far a running batch is, read by the run that holds the batch
 * (as `getProgress` reads it), at most once per `worker.pollIntervalMs` and only when a count changed.
 */
export interface ImportBatchProgressEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchProgress
> {
  /** Counts, rate and ETA: `getProgress`'s answer (its times are `Date`s in every instance). */
  progress: BatchProgress;
}

/** `reliable-imports.batch.paused`: by an operator (`reason` null unless given) or by an error budget. */
export interface ImportBatchPausedEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchPaused
> {
  /** The operator's reason, or the spent budget's ("stopped: 51 of 120 rows failed…"); null when none. */
  reason: string | null;
}

/** `reliable-imports.batch.resumed`: a paused batch goes on. */
export interface ImportBatchResumedEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchResumed
> {
  /** Failed rows put back to pending by the resume: those corrected since they failed (all with `retryFailed`). */
  requeuedItems: number;
}

/** `reliable-imports.batch.cancelled`: the rows no run holds are cancelled; those in flight finish. */
export interface ImportBatchCancelledEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchCancelled
> {
  /** The batch's reason, as stored ("cancelled: …", or "cancelled by an operator"). */
  reason: string;
  /** The rows cancelled so far (rows in flight still finish in their runs). */
  cancelledItems: number;
}

/** `reliable-imports.batch.approved`: the batch is `pending`, for the runs to take. */
export type ImportBatchApprovedEvent = ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchApproved
>;

/** `reliable-imports.batch.rejected`: the batch ended `rejected`, its rows cancelled. */
export interface ImportBatchRejectedEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.batchRejected
> {
  /** The reason, as stored on the batch. */
  reason: string;
}

/** `reliable-imports.batch.completed`: status `completed` or `completed_with_errors`. */
export interface ImportBatchCompletedEvent
  extends
    ReliableImportsEventBase<typeof RELIABLE_IMPORTS_EVENTS.batchCompleted>,
    ReliableImportsEventCounts {}

/** `reliable-imports.batch.failed`: status `failed`, with the reason stored on the batch. */
export interface ImportBatchFailedEvent
  extends
    ReliableImportsEventBase<typeof RELIABLE_IMPORTS_EVENTS.batchFailed>,
    ReliableImportsEventCounts {
  reason: string;
}

/** `reliable-imports.row.failed`: a row's failure was recorded, after its retries. */
export interface ImportRowFailedEvent extends ReliableImportsEventBase<
  typeof RELIABLE_IMPORTS_EVENTS.rowFailed
> {
  itemId: string;
  itemIndex: number;
  /** The row's line in its source file, when it was read from one; else null. */
  sourceLine: number | null;
  /** The error's message, as stored on the item (cut as the event's texts are). */
  errorMessage: string;
  /** The SQLSTATE, the error's own `code`, or `VALIDATION_FAILED`; null when it has none. */
  errorCode: string | null;
  /** How many attempts the row took. */
  attempts: number;
}

/**
 * Each event's payload by its name, to type a listener of any of them.
 * @example
 * ```ts
 * @OnEvent(RELIABLE_IMPORTS_EVENTS.batchCompleted)
 * onCompleted(event: ReliableImportsEventMap[typeof RELIABLE_IMPORTS_EVENTS.batchCompleted]) { … }
 * ```
 */
export interface ReliableImportsEventMap {
  [RELIABLE_IMPORTS_EVENTS.batchStarted]: ImportBatchStartedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchProgress]: ImportBatchProgressEvent;
  [RELIABLE_IMPORTS_EVENTS.batchPaused]: ImportBatchPausedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchResumed]: ImportBatchResumedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchCancelled]: ImportBatchCancelledEvent;
  [RELIABLE_IMPORTS_EVENTS.batchApproved]: ImportBatchApprovedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchRejected]: ImportBatchRejectedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchCompleted]: ImportBatchCompletedEvent;
  [RELIABLE_IMPORTS_EVENTS.batchFailed]: ImportBatchFailedEvent;
  [RELIABLE_IMPORTS_EVENTS.rowFailed]: ImportRowFailedEvent;
}

/** Any event of the module: its `name` tells which. */
export type ReliableImportsEvent = ReliableImportsEventMap[ReliableImportsEventName];
