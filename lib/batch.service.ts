import { Inject, Injectable } from '@nestjs/common';
import type {
  CancelBatchOptions,
  CreateBatchOptions,
  CreateReprocessBatchOptions,
  DryRunOptions,
  GetItemsFilter,
  GetLogsFilter,
  ImportItemsSource,
  ImportOptions,
  ListBatchesFilter,
  PauseBatchOptions,
  ProcessBatchOptions,
  ResumeBatchOptions,
  ReprocessBatchOptions,
} from './interfaces/batch-options.interface';
import type { BatchProgress, WatchBatchOptions } from './interfaces/batch-progress.interface';
import type { BatchSummary } from './interfaces/batch-summary.interface';
import type { DryRunSummary } from './interfaces/dry-run.interface';
import type { ResolvedReliableImportsOptions } from './interfaces/reliable-imports-options.interface';
import type {
  BatchLineage,
  CorrectItemsOptions,
  CorrectionMode,
  CorrectionsResult,
  ExportFailuresOptions,
  FailedRow,
  GetFailuresFilter,
  ItemCorrection,
} from './interfaces/recovery.interface';
import type {
  ApplyRetentionOptions,
  PruneImportsOptions,
  PruneLogsOptions,
  PruneLogsReport,
  PruneReport,
  RetentionReport,
} from './interfaces/retention.interface';
import type { Readable } from 'node:stream';
import type { ScrubReport, ScrubSourceDataOptions } from './interfaces/scrubbing.interface';
import type { ImportBatch } from './interfaces/import-batch.interface';
import type { ImportItem } from './interfaces/import-item.interface';
import type { ImportLogEntry } from './interfaces/import-log.interface';
import { ImportProcessorRegistry } from './import-processor.registry';
import { BatchApproval } from './processing/batch-approval';
import { BatchCreator } from './processing/batch-creator';
import { DryRunner } from './processing/dry-run';
import { BatchRunner } from './processing/batch-runner';
import { BatchStore } from './processing/batch-store';
import { ProgressReader } from './processing/progress-reader';
import { failuresFile } from './processing/failures-export';
import { ImportPruner } from './processing/import-pruner';
import { addScrubReports, emptyScrubReport, ImportScrubber } from './processing/import-scrubber';
import { scrubPolicies, scrubsBefore } from './processing/scrub-policies';
import { RetentionRunner } from './processing/retention-runner';
import { TreeReader } from './processing/tree-reader';
import { RESOLVED_OPTIONS } from './reliable-imports.constants';
import { messages } from './reliable-imports.messages';
import { ArgumentChecks } from './utils/arguments.util';
import { SLICE_SIZE_RANGE } from './utils/resolve-options.util';
import { ENDED_BATCH_STATUSES, type BatchStatus } from './statuses';
import { storableText, TEXT_LIMITS } from './utils/storable-text.util';
import { checkRunArguments, checkRunOptions, splitRunOptions } from './utils/run-options.util';

/**
 * The public API of the module: create, process, inspect, correct and reprocess import batches.
 * Inject it in controllers, jobs and command-line tools.
 */
@Injectable()
export class BatchService {
  constructor(
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(BatchCreator) private readonly creator: BatchCreator,
    @Inject(BatchRunner) private readonly runner: BatchRunner,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(TreeReader) private readonly tree: TreeReader,
    @Inject(BatchApproval) private readonly approval: BatchApproval,
    @Inject(DryRunner) private readonly dryRunner: DryRunner,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ProgressReader) private readonly progress: ProgressReader,
    @Inject(ImportPruner) private readonly pruner: ImportPruner,
    @Inject(RetentionRunner) private readonly retention: RetentionRunner,
    @Inject(ImportScrubber) private readonly scrubber: ImportScrubber,
  ) {}

  /**
   * Stores a batch and all its items in one transaction (all or nothing), in the order given. Items may
   * come from an array, an iterable or an async iterable (a CSV stream): they are written in chunks of at
   * most 1,000 items or 4 MiB, so memory stays flat whatever the size of the batch.
   *
   * Each item is read once, checked and serialized in one pass: what is stored is what was checked. An item
   * (and `sourceInfo`, `metadata`) may be up to 16 MiB of JSON in UTF-8, nested up to 1,000 levels deep.
   *
   * @throws UnknownBatchTypeError when no processor handles `batchType`.
   * @throws InvalidSourceDataError when an item cannot be stored as JSON (a BigInt, a cycle, `\u0000`, a
   *   getter that throws, more than 16 MiB or 1,000 levels...), with its index; nothing is stored then.
   * @throws IdempotencyConflictError when `idempotencyKey` was used for other content.
   * @throws InvalidArgumentError when `batchType` is not a string or `options` not an object.
   * @throws ReliableImportsError (`INVALID_BATCH_OPTIONS`) when the items are not iterable, or an option
   *   cannot be stored (an idempotency key with `\u0000` or broken text, `sourceInfo` JSON cannot hold...).
   *
   * With `requireApproval` (the call's, else the processor's, else the module's), the batch is stored
   * `awaiting_approval`: no run takes it until `approveBatch`.
   */
  async createBatch<TSource extends object>(
    batchType: string,
    items: ImportItemsSource<TSource>,
    options?: CreateBatchOptions,
  ): Promise<ImportBatch> {
    const check = new ArgumentChecks('createBatch');
    check.string(batchType, 'batchType');
    const checked = check.object(options, 'options');
    check.optionalBoolean(checked.requireApproval, 'options.requireApproval');
    const registered = this.registry.get(batchType);
    const requireApproval =
      checked.requireApproval ?? registered.requireApproval ?? this.options.requireApproval;
    return this.creator.create(batchType, items, checked, requireApproval);
  }

  /**
   * Processes every pending item of a batch, each in its own transaction, and resolves with the batch's
   * summary once every item is finished. A finished batch is returned as it is: no item is processed twice.
   * On a batch another live run holds, this call joins it as a helper. When the batch is paused (by an
   * operator or by the run's error budget) or cancelled meanwhile, the run lets its items in flight finish
   * and resolves with the summary as it stands (status `paused` or `cancelled`); a paused, cancelled or
   * not yet approved batch is returned as it is, without running anything.
   *
   * @throws ImportBatchNotFoundError when the batch does not exist.
   * @throws ProcessingStoppedError when the application shuts down first (the next call goes on).
   * @throws ProcessingInterruptedError when the database failed outside an item, e.g. a lost connection
   *   (the batch is not failed: the next call goes on).
   * @throws LeaseLostError when this run stalled past its lease and another worker took the batch over.
   *
   * A batch that waits (`awaiting_approval`, `paused`) or has ended is not run: the call resolves with its
   * summary at once. With `{ dryRun: true }` the batch is dry-run instead (see `dryRunBatch`, which also
   * throws `BatchStatusConflictError`), and the summary, of a batch left as it was, carries the dry run's
   * in `dryRun`; the other run options but `itemTimeoutMs` and `maxAttempts` do not apply to it.
   */
  async processBatch(batchId: string, options?: ProcessBatchOptions): Promise<BatchSummary> {
    const checked = checkProcessOptions('processBatch', options);
    // Checked before the batch is touched: a wrong option must not fail the batch.
    checkRunOptions(batchId, checked);
    if (checked.dryRun === true) {
      const dryRun = await this.dryRunBatch(batchId, checked);
      return { ...(await this.store.getSummary(batchId)), dryRun };
    }
    return this.runner.process(batchId, checked);
  }

  /**
   * Tries the batch without applying anything: `validateBatch` and `onBatchStart`, then `validateItem`
   * and `processItem` of each pending row in order, each in a transaction that is always rolled back, so
   * that constraint violations of the target tables and the processor's errors show up (with the same
   * retries, time limit and stored reasons as a real run). Each row's verdict is stored on it
   * (`ImportItem.dryRun`) and nothing else changes: not its status, attempts or logs, nor the batch's
   * status or lease. Hooks can tell with `ctx.isDryRun()`; `onItemError` and `onBatchComplete` are not
   * called, and every row is tried whatever `continueOnError` says.
   *
   * Allowed on a batch that waits: `pending`, `awaiting_approval` (create it with `requireApproval`, so
   * that no worker runs it meanwhile) or `paused`. A real run that starts meanwhile is not changed by it.
   *
   * @throws BatchStatusConflictError when a run is processing the batch, or it has ended.
   * @throws ImportBatchNotFoundError, InvalidArgumentError (an option)
   */
  async dryRunBatch(batchId: string, options?: DryRunOptions): Promise<DryRunSummary> {
    const check = new ArgumentChecks('dryRunBatch');
    check.string(batchId, 'batchId');
    const checked = check.object(options, 'options');
    const { itemTimeoutMs, maxAttempts } = checked;
    checkRunArguments('dryRunBatch', { maxAttempts });
    checkRunOptions(batchId, { itemTimeoutMs });
    return this.dryRunner.dryRun(batchId, { itemTimeoutMs, maxAttempts });
  }

  /**
   * Lets the runs take a batch that waits for approval (`awaiting_approval` → `pending`), and wakes the
   * workers. Of two decisions on one batch made at once (in any processes), exactly one is made.
   *
   * @throws BatchStatusConflictError when the batch is not awaiting approval (approved or rejected
   *   already, or created without `requireApproval`); nothing is changed.
   * @throws ImportBatchNotFoundError
   */
  async approveBatch(batchId: string): Promise<ImportBatch> {
    new ArgumentChecks('approveBatch').string(batchId, 'batchId');
    return this.approval.approve(batchId);
  }

  /**
   * Ends a batch that waits for approval: it becomes `rejected` with the reason as its `errorMessage`,
   * and its pending rows `cancelled`, none processed. Of two decisions on one batch made at once (in any
   * processes), exactly one is made.
   *
   * @throws BatchStatusConflictError when the batch is not awaiting approval (approved or rejected
   *   already; to stop a batch that may run, cancel it); nothing is changed.
   * @throws ImportBatchNotFoundError, InvalidArgumentError (a reason that is not a string)
   */
  async rejectBatch(batchId: string, reason?: string): Promise<ImportBatch> {
    const check = new ArgumentChecks('rejectBatch');
    check.string(batchId, 'batchId');
    check.optionalString(reason, 'reason');
    return this.approval.reject(batchId, reason);
  }

  /**
   * Creates a child batch (`parentBatchId` = this batch) of the rows of this batch that did not complete
   * anywhere in its tree (the batch and its reprocesses), each from its newest copy with its correction,
   * and processes it. The parent batch is left as it was. Resolves with the child batch's summary.
   * Reprocesses of any batch of one tree run one after the other; a row that completed in the tree is
   * never copied again. A line of a file that could not be read is copied only once it is corrected.
   *
   * With `corrections` (e.g. `readCorrections(file)` of an edited failures export), they are applied
   * first, in the same transaction as the child's creation: a refused set creates no child, and a
   * reprocess that cannot start applies no correction.
   *
   * @throws BatchNotReprocessableError when the batch, or another batch of its tree, is still running
   *   (the message names it), or nothing is left to reprocess.
   * @throws CorrectionsRefusedError when `corrections` has a problem (every one is listed by line).
   */
  async reprocessBatch(batchId: string, options?: ReprocessBatchOptions): Promise<BatchSummary> {
    const [runOptions, createOptions] = splitRunOptions(
      checkProcessOptions('reprocessBatch', options),
    );
    if (runOptions.dryRun === true) {
      new ArgumentChecks('reprocessBatch').fail(
        'options.dryRun',
        messages.dryRunAsReprocess(),
        true,
      );
    }
    const child = await this.createChild('reprocessBatch', batchId, createOptions, (parent) =>
      checkRunOptions(parent.id, runOptions),
    );
    return this.runner.process(child.id, runOptions);
  }

  /**
   * Creates the child batch of a reprocess (as `reprocessBatch` does, corrections included) and returns
   * it, `pending`, without running it: the worker takes it, or `processBatch(child.id)` runs it. For a
   * caller that answers at once and lets the run go on elsewhere (an HTTP request, a queue's job).
   *
   * @throws BatchNotReprocessableError, CorrectionsRefusedError, ImportBatchNotFoundError,
   *   InvalidArgumentError (as `reprocessBatch`)
   */
  async createReprocessBatch(
    batchId: string,
    options?: CreateReprocessBatchOptions,
  ): Promise<ImportBatch> {
    return this.createChild(
      'createReprocessBatch',
      batchId,
      checkProcessOptions('createReprocessBatch', options),
    );
  }

  /** The batch types of the registered processors (`@ImportProcessor()`), in alphabetical order. */
  getBatchTypes(): string[] {
    return this.registry.knownTypes();
  }

  /**
   * Creates a batch and processes it: `createBatch` then `processBatch`. A batch that waits for approval
   * is not run: the call resolves with its summary (`awaiting_approval`). With `dryRun`, the batch is
   * created awaiting approval (unless `requireApproval: false`), so that no worker runs it, and dry-run.
   */
  async import<TSource extends object>(
    batchType: string,
    items: ImportItemsSource<TSource>,
    options?: ImportOptions,
  ): Promise<BatchSummary> {
    const [runOptions, createOptions] = splitRunOptions(checkProcessOptions('import', options));
    checkRunOptions(null, runOptions);
    if (runOptions.dryRun === true) createOptions.requireApproval ??= true;
    const batch = await this.createBatch(batchType, items, createOptions);
    return this.processBatch(batch.id, runOptions);
  }

  /**
   * Pauses a pending or running batch, in every process that works on it: no row is claimed once this
   * resolves; the rows in flight finish; each run then leaves (a `processBatch` call resolves with the
   * summary, status `paused`), and the worker leaves the batch alone until `resumeBatch`. The pause is
   * stored: it survives restarts. A paused batch is returned as it is.
   *
   * @throws ImportBatchNotFoundError; BatchStatusConflictError when the batch has ended or awaits approval.
   */
  async pauseBatch(batchId: string, options?: PauseBatchOptions): Promise<ImportBatch> {
    const check = new ArgumentChecks('pauseBatch');
    check.string(batchId, 'batchId');
    const { reason } = check.object(options, 'options');
    check.optionalString(reason, 'options.reason');
    return this.store.pauseBatch(batchId, storableReason(reason));
  }

  /**
   * Resumes a paused batch (one an operator paused, or an error budget stopped): the worker takes it at
   * once (or call `processBatch`). Its failed rows corrected since they failed (`correctItem`,
   * `correctItems`) go again with their correction; with `retryFailed`, every failed row does (when the
   * cause was outside the rows and is fixed: a missing reference, a service that was down). A row that
   * completed never runs again. A pending or running batch is returned as it is.
   *
   * @throws ImportBatchNotFoundError; BatchStatusConflictError when the batch has ended or awaits approval.
   */
  async resumeBatch(batchId: string, options?: ResumeBatchOptions): Promise<ImportBatch> {
    const check = new ArgumentChecks('resumeBatch');
    check.string(batchId, 'batchId');
    const { retryFailed = false } = check.object(options, 'options');
    check.optionalBoolean(retryFailed, 'options.retryFailed');
    return this.store.resumeBatch(batchId, retryFailed);
  }

  /**
   * Cancels a batch that has not ended (running, pending, paused or awaiting approval), in every process
   * that works on it: its rows that no run holds become `cancelled` at once (never `failed`); the rows in
   * flight finish in their runs, which then leave. Cancelled rows are reported as such
   * (`cancelledItems`), and a `reprocessBatch` of the batch runs them later, like failures. Cancelling a
   * cancelled batch again cancels the rows a dead run left behind.
   *
   * @throws ImportBatchNotFoundError; BatchStatusConflictError when the batch has ended otherwise.
   */
  async cancelBatch(batchId: string, options?: CancelBatchOptions): Promise<ImportBatch> {
    const check = new ArgumentChecks('cancelBatch');
    check.string(batchId, 'batchId');
    const { reason } = check.object(options, 'options');
    check.optionalString(reason, 'options.reason');
    return this.store.cancelBatch(batchId, storableReason(reason));
  }

  /** Counts of a batch's items by status, timestamps, duration and throughput, counted now. */
  getBatchSummary(batchId: string): Promise<BatchSummary> {
    return this.store.getSummary(batchId);
  }

  /**
   * How far a batch is: rows done (completed, failed, skipped), in flight, pending and cancelled, the
   * percentage, the rate over the last minute and the time left at that rate (see `BatchProgress`), from
   * whichever processes or machines run it.
   *
   * Cheap enough to poll every second on a batch of a million rows while it runs: one statement that sums
   * the batch's progress counters (a few rows per run and 10 seconds, written by the statement that
   * records each row's outcome) and counts the rows in flight and cancelled on the index of rows in flight
   * or not applied; it never counts the batch's rows. (`getBatchSummary` counts every row: exact too, but
   * its cost grows with the batch.)
   *
   * @throws ImportBatchNotFoundError
   */
  getProgress(batchId: string): Promise<BatchProgress> {
    return this.progress.read(batchId);
  }

  /**
   * The batch's progress (`getProgress`) now and then every `intervalMs` (1 second by default), until the
   * batch has ended: the reading that finds it ended is the last, then the iteration finishes. A paused
   * batch is watched on (it may be resumed). Use it with `for await`; a `break` stops it at once, leaving
   * no timer or query behind. When the application shuts down, the iteration finishes without a last
   * reading (its `status` then tells that the batch had not ended).
   *
   * @example
   *   for await (const p of batches.watchBatch(id)) {
   *     console.log(`${p.percent}% ${p.itemsPerSecond ?? '-'} rows/s, ${p.etaMs ?? '?'} ms left`);
   *   }
   *
   * @throws ImportBatchNotFoundError (from the first reading), InvalidArgumentError (at the call: an
   *   `intervalMs` that is not a whole number from 10 to 3,600,000)
   */
  watchBatch(batchId: string, options?: WatchBatchOptions): AsyncIterable<BatchProgress> {
    const check = new ArgumentChecks('watchBatch');
    const { intervalMs = 1000 } = check.object(options, 'options');
    if (
      typeof intervalMs !== 'number' ||
      !Number.isInteger(intervalMs) ||
      intervalMs < WATCH_INTERVAL_RANGE.min ||
      intervalMs > WATCH_INTERVAL_RANGE.max
    ) {
      check.fail(
        'options.intervalMs',
        messages.orLeftOut({
          expected: messages.expectedMilliseconds({ ...WATCH_INTERVAL_RANGE, named: true }),
        }),
        intervalMs,
      );
    }
    return this.progress.watch(batchId, intervalMs);
  }

  /** A stored batch. @throws ImportBatchNotFoundError */
  getBatch(batchId: string): Promise<ImportBatch> {
    return this.store.getBatch(batchId);
  }

  /**
   * Stored batches, newest first, filtered by status, type or parent.
   *
   * @throws InvalidArgumentError when a filter value is not what its type says (a `limit` that is not a
   *   whole number from 0 to 100,000, an unknown status...).
   */
  listBatches(filter: ListBatchesFilter = {}): Promise<ImportBatch[]> {
    return this.store.listBatches(filter);
  }

  /**
   * The items of a batch in order, optionally only those with the given status(es).
   *
   * @throws ImportBatchNotFoundError, InvalidArgumentError (a bad `limit`, `offset` or status).
   */
  getItems<TSource = Record<string, unknown>>(
    batchId: string,
    filter: GetItemsFilter = {},
  ): Promise<ImportItem<TSource>[]> {
    return this.store.getItems<TSource>(batchId, filter);
  }

  /**
   * The audit log of a batch, oldest first, optionally filtered by level or item.
   *
   * @throws ImportBatchNotFoundError, InvalidArgumentError (a bad `limit`, `offset` or level).
   */
  getLogs(batchId: string, filter: GetLogsFilter = {}): Promise<ImportLogEntry[]> {
    return this.store.getLogs(batchId, filter);
  }

  /**
   * Stores corrected data for an item whose row has not completed; the next `reprocessBatch` of its tree
   * uses it. The original data is kept, and the change (old and new data) is written to the audit log.
   * With `{ mode: 'merge' }` only the fields given change. A correction that no reprocess would use is
   * refused: when the row completed somewhere in the tree, when a running batch holds it, or when the item
   * is not the row's newest copy (the message names the batch and the item to correct instead).
   *
   * @throws ImportItemNotFoundError, ItemNotCorrectableError, InvalidSourceDataError
   */
  correctItem<TSource extends object>(
    itemId: string,
    sourceData: Partial<TSource>,
    options?: CorrectItemsOptions,
  ): Promise<ImportItem<TSource>> {
    const check = new ArgumentChecks('correctItem');
    const checked = check.object(options, 'options');
    const mode = checkCorrectionMode('correctItem', checked.mode, 'options.mode');
    return this.store.correctItem(itemId, sourceData as TSource, mode);
  }

  /**
   * Applies a set of corrections to the rows of a batch's tree (the batch, its first batch and their
   * reprocesses), all or nothing: each correction names a row by the id of any of its copies or by its
   * line in the source file, and is stored on the row's newest copy, audited with its old and new data.
   * When any correction has a problem (an unknown id or line, a row that completed or that a running batch
   * holds, data that cannot be stored, two corrections of one row, a line of the file that could not be
   * read), nothing is applied and the error lists every problem by line. Corrections may come from an
   * array or a stream (`readCorrections` of an edited failures export); they are read once, inside the
   * transaction that holds the tree: a stream that stalls (a slow upload) keeps the tree's reprocesses and
   * corrections waiting until it ends, so read an upload from a client you do not trust into memory or a
   * file first. A correction that gives a row back as it stands (a cell given back as the text of its
   * stored value keeps that value) is not stored, and counted as `unchanged`; so is a line that could not
   * be read given back untouched (to take what could be read of it as it is, use `correctItem`).
   *
   * @throws ImportBatchNotFoundError, CorrectionsRefusedError, InvalidArgumentError
   */
  correctItems<TSource extends object = Record<string, unknown>>(
    batchId: string,
    corrections: ImportItemsSource<ItemCorrection<TSource>>,
    options?: CorrectItemsOptions,
  ): Promise<CorrectionsResult> {
    const check = new ArgumentChecks('correctItems');
    check.string(batchId, 'batchId');
    const checked = check.object(options, 'options');
    const mode = checkCorrectionMode('correctItems', checked.mode, 'options.mode');
    return this.store.correctItems(
      batchId,
      checkCorrections('correctItems', corrections, 'corrections'),
      mode,
    );
  }

  /**
   * The rows of a batch's tree that failed or were skipped and that no reprocess has completed, as their
   * newest copies stand (reasons, line, the data a reprocess would use), in source order. With
   * `includeResolved`, also the rows a reprocess completed since (`resolvedBy`).
   *
   * @throws ImportBatchNotFoundError, InvalidArgumentError
   */
  getFailures<TSource = Record<string, unknown>>(
    batchId: string,
    filter: GetFailuresFilter = {},
  ): Promise<FailedRow<TSource>[]> {
    return this.tree.failures<TSource>(batchId, filter);
  }

  /**
   * The unresolved rows of a batch's tree as a file to fix and give back (to `correctItems`,
   * `reprocessBatch({ corrections })` or `reliable-imports reprocess <id> --corrections FILE`): CSV with
   * `_item_id`, `_line`, `_status`, `_reason` and then the data under the source's column names in its
   * order, or JSON lines (`{ itemId, line, status, reasons, errorCode, data }`). The stream reads the rows
   * a page at a time; pipe it to a file or an HTTP response. Cells a spreadsheet would run as formulas are
   * written with a leading `'`, which `readCorrections` removes again.
   *
   * @throws ImportBatchNotFoundError, InvalidArgumentError (an unknown format)
   */
  async exportFailures(batchId: string, options?: ExportFailuresOptions): Promise<Readable> {
    const check = new ArgumentChecks('exportFailures');
    const checked = check.object(options, 'options');
    const format = checked.format ?? 'csv';
    check.oneOf(format, ['csv', 'jsonl'], 'options.format');
    const root = await this.tree.root(batchId);
    return failuresFile(this.tree, root, format);
  }

  /**
   * Where every row of a batch's tree stands: completed the first time, resolved by a reprocess (per
   * batch), unresolved, or not processed yet; and the tree's batches with their counts.
   *
   * @throws ImportBatchNotFoundError
   */
  getLineage(batchId: string): Promise<BatchLineage> {
    return this.tree.lineage(batchId);
  }

  private async createChild(
    method: string,
    batchId: string,
    { failedItemsOnly = true, corrections, correctionMode }: CreateReprocessBatchOptions,
    beforeCreate?: (parent: ImportBatch) => void,
  ): Promise<ImportBatch> {
    const mode = checkCorrectionMode(method, correctionMode, 'options.correctionMode');
    const parent = await this.store.getBatch(batchId);
    this.registry.get(parent.batchType);
    beforeCreate?.(parent);
    return this.store.createChildBatch(
      parent,
      failedItemsOnly,
      corrections === undefined
        ? undefined
        : { items: checkCorrections(method, corrections, 'options.corrections'), mode },
    );
  }

  /**
   * Removes trees of batches (a first batch and its reprocesses, always as a whole) whose every batch
   * ended before `olderThan` with one of `statuses`, with their rows, audit logs and progress counters,
   * in slices: each slice is one short transaction that removes at most `sliceSize` batches (and stops
   * at 50,000 rows, but always takes one tree), so that no lock is held long. A tree with a batch that may
   * still run (pending, running, paused, awaiting approval) is never removed; one with rows that never
   * completed only with `includeUnresolved`; one that a reprocess, a correction or another pruner holds at
   * that moment is left for the next run. A reprocess being created for a tree waits for the slice that
   * removes it, then fails with `ImportBatchNotFoundError`. With `dryRun`, each slice is rolled back: the
   * report says what would be removed.
   *
   * @throws InvalidArgumentError when an option is not what its type says (a status that is not an ended
   *   one, `olderThan` that is not a valid Date...).
   */
  async pruneImports(options: PruneImportsOptions): Promise<PruneReport> {
    const check = new ArgumentChecks('pruneImports');
    const given = check.object(options, 'options');
    const olderThan = checkDate(check, given.olderThan, 'options.olderThan');
    const statuses = checkEndedStatuses(check, given.statuses, 'options.statuses');
    const batchTypes = checkBatchTypes(check, given.batchTypes, 'options.batchTypes');
    check.optionalBoolean(given.includeUnresolved, 'options.includeUnresolved');
    check.optionalBoolean(given.dryRun, 'options.dryRun');
    const sliceSize = given.sliceSize ?? this.options.retention.sliceSize;
    if (
      !Number.isInteger(sliceSize) ||
      sliceSize < SLICE_SIZE_RANGE.min ||
      sliceSize > SLICE_SIZE_RANGE.max
    ) {
      check.fail(
        'options.sliceSize',
        messages.orLeftOut({ expected: messages.expectedWholeNumber(SLICE_SIZE_RANGE) }),
        sliceSize,
      );
    }
    return this.pruner.pruneTrees({
      statuses,
      cutoffs: statuses.map(() => olderThan),
      batchTypes: batchTypes ?? null,
      excludedTypes: [],
      includeUnresolved: given.includeUnresolved ?? false,
      dryRun: given.dryRun ?? false,
      sliceSize,
    });
  }

  /**
   * Removes the audit-log entries written before `olderThan` (of batches of `batchTypes`), a few thousand
   * at a time, each slice its own statement. With `dryRun`, counts them and removes nothing.
   *
   * @throws InvalidArgumentError
   */
  async pruneLogs(options: PruneLogsOptions): Promise<PruneLogsReport> {
    const check = new ArgumentChecks('pruneLogs');
    const given = check.object(options, 'options');
    const cutoff = checkDate(check, given.olderThan, 'options.olderThan');
    const batchTypes = checkBatchTypes(check, given.batchTypes, 'options.batchTypes');
    check.optionalBoolean(given.dryRun, 'options.dryRun');
    return this.pruner.pruneLogs({
      cutoff,
      batchTypes: batchTypes ?? null,
      excludedTypes: [],
      dryRun: given.dryRun ?? false,
    });
  }

  /**
   * Applies the configured retention (the module's `retention` and the processors') once, now: what the
   * background worker does every `retention.intervalMs`. One instance at a time: when another is applying
   * it, resolves with `ran: false` and removes nothing. With `{ dryRun: true }`, removes nothing and says
   * what it would remove. With no retention configured, removes nothing.
   */
  async applyRetention(options?: ApplyRetentionOptions): Promise<RetentionReport> {
    const check = new ArgumentChecks('applyRetention');
    const given = check.object(options, 'options');
    check.optionalBoolean(given.dryRun, 'options.dryRun');
    return this.retention.apply(given.dryRun ?? false);
  }

  /**
   * Scrubs the personal data of ended trees of batches (a first batch and its reprocesses, whose every
   * batch ended before the cutoff and none may still run): their completed rows and the failed ones a
   * reprocess resolved (every row with `includeUnresolved`) keep only the fields their processor's `scrub`
   * keeps (`keepFields`) and a SHA-256 of their source data; their results, error texts and the data in
   * their audit-log entries are removed, and `scrubbedAt` is set. A scrubbed row is never corrected or
   * reprocessed (`RowScrubbedError`). Without `olderThan`, applies each processor's `scrub` (what the
   * background worker does with retention); with it, every type (the types of `batchTypes`). In slices,
   * each a short transaction; a tree that a reprocess or a correction holds at that moment is left for the
   * next run. A row is scrubbed once: a second call scrubs nothing. With `dryRun`, each slice is rolled
   * back: the report says what would be scrubbed.
   *
   * @throws InvalidArgumentError when an option is not what its type says.
   */
  async scrubSourceData(options?: ScrubSourceDataOptions): Promise<ScrubReport> {
    const check = new ArgumentChecks('scrubSourceData');
    const given = check.object(options, 'options');
    const olderThan =
      given.olderThan === undefined
        ? undefined
        : checkDate(check, given.olderThan, 'options.olderThan');
    const batchTypes = checkBatchTypes(check, given.batchTypes, 'options.batchTypes') ?? null;
    check.optionalBoolean(given.includeUnresolved, 'options.includeUnresolved');
    check.optionalBoolean(given.dryRun, 'options.dryRun');
    const sliceSize = given.sliceSize ?? this.options.retention.sliceSize;
    if (
      !Number.isInteger(sliceSize) ||
      sliceSize < SLICE_SIZE_RANGE.min ||
      sliceSize > SLICE_SIZE_RANGE.max
    ) {
      check.fail(
        'options.sliceSize',
        messages.orLeftOut({ expected: messages.expectedWholeNumber(SLICE_SIZE_RANGE) }),
        sliceSize,
      );
    }
    const dryRun = given.dryRun ?? false;
    const processors = this.registry.all();
    const scrubs =
      olderThan === undefined
        ? scrubPolicies(processors, new Date(), batchTypes).map((scrub) => ({
            ...scrub,
            includeUnresolved: given.includeUnresolved ?? scrub.includeUnresolved,
          }))
        : scrubsBefore(processors, olderThan, batchTypes, given.includeUnresolved ?? false);
    const report = emptyScrubReport(dryRun);
    for (const scrub of scrubs) {
      addScrubReports(report, await this.scrubber.scrubTrees({ ...scrub, dryRun, sliceSize }));
    }
    return report;
  }
}

/** The interval `watchBatch` accepts, in milliseconds: from 10 ms to an hour. */
const WATCH_INTERVAL_RANGE = { min: 10, max: 3_600_000 };

/**
 * The argument checks every processing call shares; the run options with codes of their own are checked
 * with the batch id in view (`checkRunOptions`).
 */
function checkProcessOptions<T extends ProcessBatchOptions | CreateReprocessBatchOptions>(
  method: string,
  options: T | undefined,
): Partial<T> {
  const check = new ArgumentChecks(method);
  const checked = check.object(options, 'options');
  const read: ProcessBatchOptions & CreateReprocessBatchOptions = checked;
  checkRunArguments(method, read);
  check.optionalBoolean(read.failedItemsOnly, 'options.failedItemsOnly');
  return checked;
}

/** An operator's reason as it can be stored (cut, and without what PostgreSQL cannot hold). */
function storableReason(reason: string | undefined): string | null {
  return reason === undefined ? null : storableText(reason, TEXT_LIMITS.message).text;
}

function checkCorrectionMode(method: string, value: unknown, argument: string): CorrectionMode {
  if (value === undefined) return 'replace';
  new ArgumentChecks(method).oneOf(value, ['replace', 'merge'], argument);
  return value as CorrectionMode;
}

function checkCorrections<T>(method: string, value: T, argument: string): T {
  if (
    value === null ||
    typeof value !== 'object' ||
    !(Symbol.iterator in value || Symbol.asyncIterator in value)
  ) {
    new ArgumentChecks(method).fail(argument, messages.expectedCorrections(), value);
  }
  return value;
}

function checkDate(check: ArgumentChecks, value: unknown, argument: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    check.fail(argument, messages.expectedDate(), value);
  }
  return value;
}

function checkEndedStatuses(
  check: ArgumentChecks,
  value: unknown,
  argument: string,
): BatchStatus[] {
  if (value === undefined) return [...ENDED_BATCH_STATUSES];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  const ended = (entry: unknown): entry is BatchStatus =>
    typeof entry === 'string' && (ENDED_BATCH_STATUSES as readonly string[]).includes(entry);
  if (list.length === 0 || !list.every(ended)) {
    check.fail(argument, messages.expectedEndedStatuses({ values: ENDED_BATCH_STATUSES }), value);
  }
  return [...new Set(list)];
}

function checkBatchTypes(
  check: ArgumentChecks,
  value: unknown,
  argument: string,
): string[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((entry) => typeof entry === 'string')
  ) {
    check.fail(argument, messages.expectedBatchTypes(), value);
  }
  return value;
}
