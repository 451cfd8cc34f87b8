import type { JsonObject } from './import-batch.interface';
import type { CorrectionMode, ItemCorrection } from './recovery.interface';
import type { BatchStatus, ItemStatus, LogLevel } from '../statuses';

/** Items accepted by `createBatch`: an array, any iterable, or an async iterable such as a CSV stream. */
export type ImportItemsSource<TSource> = Iterable<TSource> | AsyncIterable<TSource>;

/** Options of `BatchService.createBatch()`. */
export interface CreateBatchOptions {
  /** Where the items came from (file name, uploader, ...); stored as JSONB. */
  sourceInfo?: JsonObject;
  /** Free metadata stored with the batch. */
  metadata?: JsonObject;
  /**
   * A key that makes creation idempotent: a second `createBatch` with the same key and the same items
   * returns the first batch and stores nothing; the same key with other items is an error.
   */
  idempotencyKey?: string;
  /**
   * Stores the batch `awaiting_approval`: no run takes it (neither `processBatch` nor the worker) until
   * `approveBatch(id)`; `rejectBatch(id, reason)` ends it instead. Overrides the processor's and the
   * module's `requireApproval`. A reprocess's child batch never waits for approval.
   * @default the processor's `requireApproval`, else the module's (false)
   */
  requireApproval?: boolean;
}

/**
 * An error budget: how many failed rows a batch may have before a run stops claiming and pauses it with
 * the reason (Spring Batch's skip limit), so that a wrong file costs seconds rather than a whole run. The
 * failures are counted over the batch's rows, whichever process ran them. The rows not processed stay
 * pending: correct the failed ones and `resumeBatch` (the corrected rows go again), or cancel the batch.
 * Set per run, per processor (`@ImportProcessor`) or for the module; the run's wins, then the processor's.
 */
export interface ErrorBudget {
  /**
   * The most failed rows the batch may have: the failure after them pauses it. 0 pauses at the first.
   * @default no limit
   */
  maxFailures?: number;
  /**
   * The largest share of failed rows among the rows processed (completed, failed or skipped), from 0 to 1
   * (0.1 = 10%), applied once `failureRateMinItems` rows have been processed.
   * @default no limit
   */
  maxFailureRate?: number;
  /**
   * How many rows must have been processed before `maxFailureRate` applies (a sample, so that the first
   * rows alone do not decide).
   * @default 100
   */
  failureRateMinItems?: number;
}

/** Options of `BatchService.processBatch()`. */
export interface ProcessBatchOptions extends ErrorBudget {
  /**
   * Overrides the module's and the processor's `continueOnError` for this run.
   */
  continueOnError?: boolean;
  /**
   * How many items this call processes at once, each on a connection of its own (keep it within the
   * data source's pool size). On PGlite, which has one connection, it is always 1.
   * @default 1
   */
  concurrency?: number;
  /**
   * Chunked commits: run this many items in one transaction, so that a chunk costs one commit (one WAL
   * flush) instead of one per item. When an item of a chunk fails, the chunk is rolled back and its items
   * run again one transaction each, so only the failing item fails: `processItem` may then run twice for
   * the other items of that chunk (their first run was rolled back). Every guarantee holds in both modes.
   * @default 1 (a transaction per item)
   */
  commitEvery?: number;
  /**
   * Overrides the module's and the processor's `itemTimeoutMs` for this run: the longest one item may
   * take before it is failed with the code `ITEM_TIMEOUT` (100 to 86400000 ms).
   * @default the processor's `itemTimeoutMs`, else the module's (300000)
   */
  itemTimeoutMs?: number;
  /**
   * Overrides the module's `maxAttempts` for this run: how many times an item is tried when it fails in
   * a way that passes (a serialization failure, a deadlock, a `RetryableImportError`), from 1 (no retry)
   * to 100. E.g. more tries for a run against a busy table.
   * @default the module's `maxAttempts` (3)
   */
  maxAttempts?: number;
  /**
   * Runs a dry run instead (see `BatchService.dryRunBatch`): every pending row is validated and processed
   * in a transaction that is always rolled back, and its verdict stored beside it (`ImportItem.dryRun`);
   * no status changes. The call then resolves with the batch's summary as it stands, and the dry run's
   * in `dryRun`. Refused by `reprocessBatch` and `worker.run` (dry-run a batch you hold by its id).
   * @default false
   */
  dryRun?: boolean;
}

/** Options of `BatchService.dryRunBatch()`: how the rows are tried (the run options that apply). */
export type DryRunOptions = Pick<ProcessBatchOptions, 'itemTimeoutMs' | 'maxAttempts'>;

/** Options of `BatchService.createReprocessBatch()`: which rows the child batch takes, and corrections. */
export interface CreateReprocessBatchOptions {
  /**
   * Which rows that did not complete are copied into the child batch: true takes failed and skipped rows
   * and rows a stop left pending; false also takes rows left `processing` in an ended batch (by an earlier
   * version). A row that completed anywhere in the batch's tree is never copied.
   * @default true
   */
  failedItemsOnly?: boolean;
  /**
   * Corrections to apply before the rows are copied, in the same transaction (see `correctItems`): a
   * refused set creates no child batch. E.g. `readCorrections(createReadStream('fix.csv'))`.
   */
  corrections?: ImportItemsSource<ItemCorrection<object>>;
  /** How `corrections` change their rows. @default 'replace' */
  correctionMode?: CorrectionMode;
}

/** Options of `BatchService.reprocessBatch()`: the child batch's creation, then its run. */
export interface ReprocessBatchOptions extends CreateReprocessBatchOptions, ProcessBatchOptions {}

/** Options of `BatchService.import()`: creation and processing in one call. */
export type ImportOptions = CreateBatchOptions & ProcessBatchOptions;

/** Filter of `BatchService.listBatches()`. Newest first. */
export interface ListBatchesFilter {
  status?: BatchStatus | BatchStatus[];
  batchType?: string;
  parentBatchId?: string;
  /** @default 50 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/** Filter of `BatchService.getItems()`. In `itemIndex` order. */
export interface GetItemsFilter {
  status?: ItemStatus | ItemStatus[];
  /** @default 1000 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/** Filter of `BatchService.getLogs()`. Oldest first. */
export interface GetLogsFilter {
  level?: LogLevel | LogLevel[];
  itemId?: string;
  /** @default 1000 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/** Options of `pauseBatch`. */
export interface PauseBatchOptions {
  /** Why the batch is paused: stored as its `errorMessage` until it is resumed, and in its log. */
  reason?: string;
}

/** Options of `resumeBatch`. */
export interface ResumeBatchOptions {
  /**
   * Run every failed row of the batch again, not only those corrected since they failed: for a cause
   * outside the rows that is fixed now (a missing reference, a service that was down). A line of a file
   * that could not be read runs again only once it is corrected.
   * @default false
   */
  retryFailed?: boolean;
}

/** Options of `cancelBatch`. */
export interface CancelBatchOptions {
  /**
   * Why the batch is cancelled: stored as `cancelled: <reason>` in its `errorMessage`, on each row it
   * cancels, and in its log.
   */
  reason?: string;
}
