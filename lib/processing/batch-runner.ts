import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BaseProcessor } from '../base-processor';
import { BatchLockedError } from '../errors/batch-locked.error';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { ImportProcessorRegistry } from '../import-processor.registry';
import { CLAIM_CHUNK_SIZE, RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { sleep } from '../utils/sleep.util';
import { toError } from '../utils/error-details.util';
import { reasonsOf } from './item-runner';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { BatchContextImpl, type RunState } from './import-context';
import { ItemClaimer } from './item-claimer';
import { ItemRunner } from './item-runner';
import { newWorkerId } from './worker-id';

const TERMINAL = new Set(['completed', 'completed_with_errors', 'failed']);

/**
 * One processing run of a batch: takes the batch, runs the hooks in order, claims and runs the items, and
 * ends the batch. The run's worker id fences every write it makes.
 */
@Injectable()
export class BatchRunner {
  private readonly logger = new Logger('ReliableImports');

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(ItemClaimer) private readonly claimer: ItemClaimer,
    @Inject(ItemRunner) private readonly itemRunner: ItemRunner,
  ) {}

  async process(batchId: string, options: ProcessBatchOptions = {}): Promise<BatchSummary> {
    const found = await this.store.getBatch(batchId);
    const registered = this.registry.get(found.batchType);
    if (TERMINAL.has(found.status)) return this.store.getSummary(batchId);

    const workerId = newWorkerId();
    const { leaseMs } = this.options;
    const batch = await this.store.startBatch(batchId, workerId, leaseMs);
    if (!batch) {
      const current = await this.store.getBatch(batchId);
      if (TERMINAL.has(current.status)) return this.store.getSummary(batchId);
      throw new BatchLockedError(batchId, current.lockedBy, current.lockedUntil);
    }

    const processor = registered.instance;
    const continueOnError =
      options.continueOnError ?? registered.continueOnError ?? this.options.continueOnError;
    const run: RunState = {
      batch,
      originalBatchId: await this.store.getOriginalBatchId(batch),
      database: this.database,
      shared: new Map(),
    };
    const context = new BatchContextImpl(run);

    try {
      if (processor.validateBatch) {
        const reasons = reasonsOf(await processor.validateBatch(batch, context));
        if (reasons.length > 0) {
          const reason = messages.batchValidationFailed(reasons);
          context.log.error(reason, { reasons });
          await this.store.writeLogs(batchId, null, context.log);
          await this.store.finishBatch(batchId, workerId, reason);
          return this.store.getSummary(batchId);
        }
      }
      await processor.onBatchStart?.(batch, context);
      await this.store.writeLogs(batchId, null, context.log);

      const failure = await this.processItems(
        batch,
        processor,
        run,
        workerId,
        continueOnError,
        context,
      );
      await this.store.finishBatch(batchId, workerId, failure);
      const summary = await this.store.getSummary(batchId);
      await processor.onBatchComplete?.(summary, context);
      await this.store.writeLogs(batchId, null, context.log);
      return summary;
    } catch (thrown) {
      await this.abandon(batchId, workerId, toError(thrown), context);
      throw thrown;
    }
  }

  /** Claims and runs items until none is left. Returns why the batch stopped early, or null. */
  private async processItems(
    batch: ImportBatch,
    processor: BaseProcessor<object, object | void>,
    run: RunState,
    workerId: string,
    continueOnError: boolean,
    context: BatchContextImpl,
  ): Promise<string | null> {
    const { leaseMs } = this.options;
    let renewedAt = Date.now();
    for (;;) {
      const claimed = await this.claimer.claim<object>(
        batch.id,
        workerId,
        leaseMs,
        CLAIM_CHUNK_SIZE,
      );
      if (claimed.length === 0) {
        // Items another worker holds are not ours to finish, unless its lease runs out: then we claim them.
        if ((await this.claimer.countHeldByOthers(batch.id, workerId)) === 0) return null;
        await sleep(Math.min(1000, leaseMs / 4));
        await this.renew(batch.id, workerId);
        renewedAt = Date.now();
        continue;
      }
      for (const item of claimed) {
        const outcome = await this.itemRunner.run(item, processor, run, workerId);
        if (outcome.status === 'failed') {
          const stop = await this.shouldStop(
            processor,
            outcome.error,
            item,
            context,
            continueOnError,
          );
          await this.store.writeLogs(batch.id, null, context.log);
          if (stop) {
            await this.claimer.releaseAll(batch.id, workerId);
            return messages.abortedAfterItem(item.itemIndex, outcome.error.message);
          }
        }
        if (Date.now() - renewedAt > leaseMs / 3) {
          await this.renew(batch.id, workerId);
          renewedAt = Date.now();
        }
      }
    }
  }

  private async shouldStop(
    processor: BaseProcessor<object, object | void>,
    error: Error,
    item: ImportItem<object>,
    context: BatchContextImpl,
    continueOnError: boolean,
  ): Promise<boolean> {
    const action = await processor.onItemError?.(error, item, context);
    return action ? action === 'abort' : !continueOnError;
  }

  private async renew(batchId: string, workerId: string): Promise<void> {
    if (!(await this.claimer.renewLeases(batchId, workerId, this.options.leaseMs))) {
      const current = await this.store.getBatch(batchId);
      throw new BatchLockedError(batchId, current.lockedBy, current.lockedUntil);
    }
  }

  /**
   * A hook threw or the database failed: give the claimed items back and mark the batch failed with the
   * reason, as far as the database still answers. The caller rethrows the error.
   */
  private async abandon(
    batchId: string,
    workerId: string,
    error: Error,
    context: BatchContextImpl,
  ): Promise<void> {
    try {
      context.log.error(`Processing stopped: ${error.message}`, { name: error.name });
      await this.store.writeLogs(batchId, null, context.log);
      await this.claimer.releaseAll(batchId, workerId);
      await this.store.finishBatch(batchId, workerId, `Processing stopped: ${error.message}`);
    } catch (cleanupError) {
      // The lease expires by itself; the next run takes the batch over.
      this.logger.warn(
        `Could not record the failure of batch ${batchId}: ${toError(cleanupError).message}`,
      );
    }
  }
}
