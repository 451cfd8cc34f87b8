import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { BaseProcessor } from '../base-processor';
import { ItemTimeoutError } from '../errors/item-timeout.error';
import { LeaseLostError } from '../errors/lease-lost.error';
import { ProcessingInterruptedError } from '../errors/processing-interrupted.error';
import { ProcessingStoppedError } from '../errors/processing-stopped.error';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { ImportProcessorRegistry } from '../import-processor.registry';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { messageOf, nameOf, toError } from '../utils/error-details.util';
import { sleep } from '../utils/sleep.util';
import { storableText, TEXT_LIMITS } from '../utils/storable-text.util';
import { isTransientError, retryDelay } from '../utils/transient-error.util';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { BatchContextImpl, type RunState } from './contexts';
import { ItemClaimer } from './item-claimer';
import { ItemRunner, reasonsOf } from './item-runner';
import { HookThrew, callHook } from './processor-hook';
import { claimSize } from './run-options';
import { newWorkerId } from './worker-id';

const TERMINAL = new Set(['completed', 'completed_with_errors', 'failed']);

/** Why a run's signal was aborted. */
type StopCause =
  { kind: 'shutdown' } | { kind: 'lease-lost'; error: LeaseLostError } | { kind: 'ended' };

/** What one run shares between its lanes. */
interface Lanes {
  batch: ImportBatch;
  processor: BaseProcessor<object, object | void>;
  run: RunState;
  workerId: string;
  continueOnError: boolean;
  context: BatchContextImpl;
  /** Set by the first item that stops the batch. */
  failure: string | null;
  /** Set when a lane threw: the others stop after their item in flight. */
  broken: boolean;
  waitForOthers: boolean;
  commitEvery: number;
  /** Items claimed per round trip: a chunk, or a few items per lane so that lanes share small batches. */
  claimSize: number;
}

/**
 * One processing run of a batch: takes the batch (or joins the live run that holds it, as a helper), runs
 * the hooks in order, claims and runs the items on `concurrency` lanes, and ends the batch once no item is
 * open. `validateBatch` runs only in the run that takes the batch, `onBatchComplete` only in the run that
 * ends it. The run's worker id fences every write it makes; a timer renews
 * its leases while it works.
 */
@Injectable()
export class BatchRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger('ReliableImports');
  private readonly active = new Map<AbortController, Promise<unknown>>();

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(ItemClaimer) private readonly claimer: ItemClaimer,
    @Inject(ItemRunner) private readonly itemRunner: ItemRunner,
  ) {}

  /**
   * @param waitForOthers - false for the worker: leave when nothing is left to claim, rather than wait
   *   for the items other runs hold; the last run to finish an item ends the batch.
   */
  process(
    batchId: string,
    options: ProcessBatchOptions = {},
    waitForOthers = true,
  ): Promise<BatchSummary> {
    const controller = new AbortController();
    const running = this.processWith(batchId, options, controller, waitForOthers);
    const settled = running.catch(() => undefined);
    this.active.set(controller, settled);
    void settled.then(() => this.active.delete(controller));
    return running;
  }

  /**
   * Stops claiming, lets the items in flight finish (their `ctx.signal` is aborted) within the lease, and
   * gives everything unfinished back, so that another instance or the next start goes on with it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.active.size === 0) return;
    const cause: StopCause = { kind: 'shutdown' };
    for (const controller of this.active.keys()) controller.abort(cause);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, this.options.leaseMs)),
    );
    await Promise.race([Promise.all(this.active.values()), timeout]);
    clearTimeout(timer);
  }

  private async processWith(
    batchId: string,
    options: ProcessBatchOptions,
    controller: AbortController,
    waitForOthers: boolean,
  ): Promise<BatchSummary> {
    // The callers checked the options: processBatch and the like per call, the worker's at bootstrap.
    const concurrency = this.concurrency(options.concurrency ?? 1);
    const commitEvery = options.commitEvery ?? 1;
    const found = await this.store.getBatch(batchId);
    const registered = this.registry.get(found.batchType);
    const itemTimeoutMs =
      options.itemTimeoutMs ?? registered.itemTimeoutMs ?? this.options.itemTimeoutMs;
    if (TERMINAL.has(found.status)) return this.store.getSummary(batchId);

    const workerId = newWorkerId();
    const { leaseMs } = this.options;
    // The batch is ours, or a live run holds it: then this run joins it as a helper.
    const started = await this.store.startBatch(batchId, workerId, leaseMs);
    const owner = started !== null;
    const batch = started ?? (await this.store.getBatch(batchId));
    if (TERMINAL.has(batch.status)) return this.store.getSummary(batchId);

    const processor = registered.instance;
    const run: RunState = {
      batch,
      originalBatchId: await this.store.getOriginalBatchId(batch),
      database: this.database,
      shared: new Map(),
      signal: controller.signal,
      itemTimeoutMs,
      // Within the wait of the application's shutdown (leaseMs), so that the run has settled by then.
      stopGraceMs: Math.floor(leaseMs / 2),
    };
    const context = new BatchContextImpl(run);
    const renewal = this.renewEvery(batchId, workerId, controller, owner);
    // Once the batch has ended, a later error (onBatchComplete, a summary) changes nothing of it.
    let ended = false;

    try {
      if (owner && processor.validateBatch) {
        const validateBatch = processor.validateBatch.bind(processor);
        const reasons = reasonsOf(await callHook(() => validateBatch(batch, context)));
        if (reasons.length > 0) {
          const reason = messages.batchValidationFailed(reasons);
          const stored = storableText(reason, TEXT_LIMITS.message).text;
          context.log.error(reason, {
            reasons: reasons.map((text) => storableText(text, TEXT_LIMITS.message).text),
          });
          await this.store.writeLogs(batchId, null, context.log);
          ended = (await this.store.finishBatch(batchId, workerId, stored)) !== null;
          return await this.store.getSummary(batchId);
        }
      }
      await callHook(() => processor.onBatchStart?.(batch, context));
      await this.store.writeLogs(batchId, null, context.log);

      const continueOnError =
        options.continueOnError ?? registered.continueOnError ?? this.options.continueOnError;
      const lanes: Lanes = {
        batch,
        processor,
        run,
        workerId,
        continueOnError,
        context,
        // A run that must stop at the first failure and finds one recorded (by a run that died, or whose
        // stop could not be written) stops at once: the stop is derived from the rows, not remembered.
        // (Not where onItemError decides: it may have said 'continue' for that failure.)
        failure:
          continueOnError || processor.onItemError
            ? null
            : await this.store.stopAtFirstFailure(batchId),
        broken: false,
        waitForOthers,
        commitEvery,
        claimSize: claimSize(batch.totalItems, concurrency, commitEvery),
      };
      await this.runLanes(lanes, concurrency);
      await this.claimer.releaseAll(batchId, workerId);

      if (controller.signal.aborted && lanes.failure === null) {
        const cause = controller.signal.reason as StopCause;
        if (cause.kind === 'ended') return await this.store.getSummary(batchId);
        if (cause.kind === 'lease-lost') throw cause.error;
        if (owner) await this.store.releaseBatch(batchId, workerId);
        throw new ProcessingStoppedError(batchId);
      }
      ended = waitForOthers
        ? await this.finish(batchId, workerId, lanes.failure, controller.signal)
        : await this.endBatch(batchId, workerId, lanes.failure);
      if (!ended) {
        // Others still hold items: let whichever of them finishes last end the batch.
        if (owner) await this.store.releaseBatch(batchId, workerId);
        return await this.store.getSummary(batchId);
      }
      const summary = await this.store.getSummary(batchId);
      await callHook(() => processor.onBatchComplete?.(summary, context));
      await this.store.writeLogs(batchId, null, context.log);
      return summary;
    } catch (thrown) {
      // A stop, or a batch another worker holds now, is no failure of the batch.
      if (thrown instanceof ProcessingStoppedError || thrown instanceof LeaseLostError) {
        throw thrown;
      }
      const fromHook = thrown instanceof HookThrew;
      const original = fromHook ? thrown.error : thrown;
      if (ended) throw original;
      const error = toError(original);
      // Nor is a database error that passes (a lost connection, a serialization failure) in the module's
      // own statements: the batch waits for the next run. A hook's errors are its own (its HTTP client's
      // ECONNREFUSED is no database outage), and fail the batch.
      if (!fromHook && isTransientError(error)) {
        const interrupted = new ProcessingInterruptedError(batchId, error);
        await this.giveBack(batchId, workerId, owner, interrupted, context);
        throw interrupted;
      }
      await this.abandon(batchId, workerId, error, context);
      throw original;
    } finally {
      clearInterval(renewal);
    }
  }

  /**
   * Ends the batch, or waits until the run that holds it has (taking over if that run's lease expires).
   * @returns whether this run ended the batch.
   */
  private async finish(
    batchId: string,
    workerId: string,
    failure: string | null,
    signal: AbortSignal,
  ): Promise<boolean> {
    for (;;) {
      if (await this.endBatch(batchId, workerId, failure)) return true;
      if (TERMINAL.has((await this.store.getBatch(batchId)).status)) return false;
      if (signal.aborted) throw new ProcessingStoppedError(batchId);
      await sleep(Math.min(500, this.options.leaseMs / 4));
    }
  }

  /**
   * Ends the batch when no item is open, or stops it with `failure`. A stop is retried through a passing
   * database error (as an item is), so that a blip does not hand a batch that must stop to the next run.
   * @returns whether this call ended the batch.
   */
  private async endBatch(
    batchId: string,
    workerId: string,
    failure: string | null,
  ): Promise<boolean> {
    const { maxAttempts, retryDelayMs, maxRetryDelayMs } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.store.finishBatch(batchId, workerId, failure)) !== null;
      } catch (error) {
        if (failure === null || attempt >= maxAttempts || !isTransientError(toError(error))) {
          throw error;
        }
        await sleep(retryDelay(attempt, retryDelayMs, maxRetryDelayMs));
      }
    }
  }

  /**
   * Runs the lanes until none has work left. When one throws, the others stop after their item in flight
   * and are waited for, so that nothing of this run is still working while the caller cleans up.
   */
  private async runLanes(lanes: Lanes, concurrency: number): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, () =>
        this.lane(lanes).catch((error: unknown) => {
          errors.push(error);
          lanes.broken = true;
        }),
      ),
    );
    if (errors.length === 0) return;
    // A stop already decided (continueOnError: false) wins over losing the database in another lane: the
    // run goes on to end the batch failed, as far as the database answers.
    const databaseOnly = errors.every(
      (error) => !(error instanceof HookThrew) && isTransientError(toError(error)),
    );
    if (lanes.failure !== null && databaseOnly) return;
    throw errors[0];
  }

  /** One lane: claims a few items at a time and runs them, until none is left or the run stops. */
  private async lane(lanes: Lanes): Promise<void> {
    const { batch, workerId, run } = lanes;
    const stopped = (): boolean => lanes.failure !== null || lanes.broken || run.signal.aborted;
    while (!stopped()) {
      const claimed = await this.claimer.claim<object>(
        batch.id,
        workerId,
        this.options.leaseMs,
        lanes.claimSize,
      );
      if (claimed.length === 0) {
        // Another worker's items are not ours to finish, unless its lease runs out: then we claim them.
        if (!lanes.waitForOthers) return;
        if ((await this.claimer.countHeldByOthers(batch.id, workerId)) === 0) return;
        await sleep(Math.min(1000, this.options.leaseMs / 4));
        continue;
      }
      for (let start = 0; start < claimed.length; start += lanes.commitEvery) {
        if (stopped()) return;
        const chunk = claimed.slice(start, start + lanes.commitEvery);
        const outcome =
          chunk.length > 1
            ? await this.itemRunner.runChunk(chunk, lanes.processor, run, workerId)
            : null;
        if (outcome?.committed) continue;
        if (await this.runOneByOne(lanes, chunk, outcome?.timedOut)) {
          // An item timed out: the rest of the claim waited on it; give it back for any lane to take.
          await this.claimer.release(
            batch.id,
            workerId,
            claimed.slice(start).map((item) => item.id),
          );
          break;
        }
      }
    }
  }

  /**
   * Runs items one transaction each, and applies `continueOnError`/`onItemError` to their failures.
   * @returns true when an item timed out: the caller gives back the items this call did not run.
   */
  private async runOneByOne(
    lanes: Lanes,
    items: Array<ImportItem<object>>,
    timedOut?: { itemId: string; error: ItemTimeoutError },
  ): Promise<boolean> {
    const { batch, workerId, run } = lanes;
    for (const item of items) {
      if (lanes.failure !== null || lanes.broken || run.signal.aborted) return false;
      const outcome =
        item.id === timedOut?.itemId
          ? await this.itemRunner.recordTimeout(item, timedOut.error, workerId)
          : await this.itemRunner.run(item, lanes.processor, run, workerId);
      if (outcome.status !== 'failed') continue;
      const stop = await this.shouldStop(lanes, outcome.error, item);
      // Decided before anything else can fail, so that the stop is not lost with the database.
      if (stop && lanes.failure === null) {
        lanes.failure = storableText(
          messages.abortedAfterItem(item.itemIndex, outcome.message),
          TEXT_LIMITS.message,
        ).text;
      }
      await this.store.writeLogs(batch.id, null, lanes.context.log);
      if (outcome.error instanceof ItemTimeoutError) return true;
    }
    return false;
  }

  private async shouldStop(lanes: Lanes, error: Error, item: ImportItem<object>): Promise<boolean> {
    const action = await callHook(() => lanes.processor.onItemError?.(error, item, lanes.context));
    return action ? action === 'abort' : !lanes.continueOnError;
  }

  /**
   * Renews the run's leases a few times per lease. The holder of the batch aborts its run when the batch
   * was taken over; a helper holds only items.
   */
  private renewEvery(
    batchId: string,
    workerId: string,
    controller: AbortController,
    owner: boolean,
  ): NodeJS.Timeout {
    const timer = setInterval(
      () => {
        void this.claimer
          .renewLeases(batchId, workerId, this.options.leaseMs)
          .then(async (kept) => {
            if (kept || !owner || controller.signal.aborted) return;
            const current = await this.store.getBatch(batchId);
            // A helper that stopped the batch ended it: this run has nothing left to do, and lost nothing.
            const cause: StopCause = TERMINAL.has(current.status)
              ? { kind: 'ended' }
              : {
                  kind: 'lease-lost',
                  error: LeaseLostError.forBatch(batchId, current.status, current.lockedBy),
                };
            controller.abort(cause);
          })
          .catch((error: unknown) => {
            // A failed renewal is retried at the next tick; the lease leaves room for two misses.
            this.logger.warn(
              messages.leaseRenewalFailed({ batchId, reason: toError(error).message }),
            );
          });
      },
      Math.floor(this.options.leaseMs / 3),
    );
    timer.unref();
    return timer;
  }

  private concurrency(value: number): number {
    if (value > 1 && this.database.singleConnection) {
      this.logger.warn(messages.concurrencyOnPGlite(value));
      return 1;
    }
    return value;
  }

  /**
   * The database failed in a way that passes: give back the items and the batch, as far as the database
   * answers, so that the next run takes them at once; otherwise their leases run out.
   */
  private async giveBack(
    batchId: string,
    workerId: string,
    owner: boolean,
    interrupted: ProcessingInterruptedError,
    context: BatchContextImpl,
  ): Promise<void> {
    // Giving back first: the log is worth less than a batch the next run can take at once.
    await this.bestEffort(batchId, async () => {
      await this.claimer.releaseAll(batchId, workerId);
      if (owner) await this.store.releaseBatch(batchId, workerId);
    });
    await this.bestEffort(batchId, () => {
      context.log.warn(interrupted.message, { code: interrupted.code });
      return this.store.writeLogs(batchId, null, context.log);
    });
  }

  /**
   * A hook threw, or the database failed for good: give the claimed items back and mark the batch failed
   * with the reason, as far as the database still answers. The caller rethrows the error.
   */
  private async abandon(
    batchId: string,
    workerId: string,
    error: Error,
    context: BatchContextImpl,
  ): Promise<void> {
    // A hook's error is the processor's text: stored as an item's would be, the original in the log.
    const reason = messages.processingAbandoned({ reason: messageOf(error) });
    await this.bestEffort(batchId, async () => {
      await this.claimer.releaseAll(batchId, workerId);
      await this.store.finishBatch(
        batchId,
        workerId,
        storableText(reason, TEXT_LIMITS.message).text,
      );
    });
    await this.bestEffort(batchId, () => {
      context.log.error(reason, { name: nameOf(error) });
      return this.store.writeLogs(batchId, null, context.log);
    });
  }

  /** Cleanup after an error, as far as the database answers; what it cannot do, the leases undo. */
  private async bestEffort(batchId: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (cleanupError) {
      this.logger.warn(messages.cleanupFailed({ batchId, reason: toError(cleanupError).message }));
    }
  }
}
