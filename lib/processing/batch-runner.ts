import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { ImportEventPublisher } from '../events/import-event-publisher';
import { RELIABLE_IMPORTS_EVENTS } from '../events/reliable-imports.events';
import { ImportProcessorRegistry } from '../import-processor.registry';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { BatchRun, type RunServices } from './batch-run';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { ItemStore } from './item-store';
import { ItemRunner } from './item-runner';
import { ProgressReader } from './progress-reader';
import { ImportTelemetry } from '../telemetry/import-telemetry';

/**
 * Starts processing runs (`batch-run.ts`: one per call, which owns the run and decides how it ends) with
 * the settings of the call, the processor and the module, and stops the runs in flight when the
 * application shuts down.
 */
@Injectable()
export class BatchRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger('ReliableImports');
  /** The runs under way, to stop. */
  private readonly active = new Set<BatchRun>();
  /** Every call of `process` that has not settled, to wait for (a run is made once its batch is read). */
  private readonly settling = new Set<Promise<unknown>>();
  private readonly services: RunServices;
  private shuttingDown = false;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchStore) store: BatchStore,
    @Inject(ItemStore) items: ItemStore,
    @Inject(ItemRunner) itemRunner: ItemRunner,
    @Inject(ProgressReader) progress: ProgressReader,
    @Inject(ImportEventPublisher) private readonly events: ImportEventPublisher,
    @Inject(ImportTelemetry) telemetry: ImportTelemetry,
  ) {
    this.services = {
      options,
      database,
      store,
      items,
      itemRunner,
      progress,
      events,
      telemetry,
      holderSpan: (batchId) => {
        for (const run of this.active) {
          if (run.batchId === batchId && run.holderSpan !== null) return run.holderSpan;
        }
        return null;
      },
      logger: this.logger,
    };
    // A pause or a cancel, from this instance or another: its runs here stop before their next item, at
    // once rather than at their next check of the batch's status.
    events.watch((event) => {
      if (
        event.name !== RELIABLE_IMPORTS_EVENTS.batchPaused &&
        event.name !== RELIABLE_IMPORTS_EVENTS.batchCancelled
      ) {
        return;
      }
      for (const run of this.active) {
        if (run.batchId === event.batchId) run.halt(event.status);
      }
    });
  }

  /**
   * Runs the batch with the call's options (checked by the callers: processBatch and the like per call,
   * the worker's at bootstrap).
   * @param waitForOthers - false for the worker: leave when nothing is left to claim, rather than wait
   *   for the items other runs hold; the last run to finish an item ends the batch.
   */
  process(
    batchId: string,
    options: ProcessBatchOptions = {},
    waitForOthers = true,
  ): Promise<BatchSummary> {
    // Counted from the call on, not once the batch is read: a shutdown during that read waits for it.
    const running = this.run(batchId, options, waitForOthers);
    const settled = running.catch(() => undefined);
    this.settling.add(settled);
    void settled.then(() => this.settling.delete(settled));
    return running;
  }

  private async run(
    batchId: string,
    options: ProcessBatchOptions,
    waitForOthers: boolean,
  ): Promise<BatchSummary> {
    const { batch, creators } = await this.services.store.getBatchToRun(batchId);
    const registered = this.registry.get(batch.batchType);
    const run = new BatchRun(this.services, batch, creators, registered.instance, {
      concurrency: this.concurrency(options.concurrency ?? 1),
      commitEvery: options.commitEvery ?? 1,
      continueOnError:
        options.continueOnError ?? registered.continueOnError ?? this.options.continueOnError,
      itemTimeoutMs:
        options.itemTimeoutMs ?? registered.itemTimeoutMs ?? this.options.itemTimeoutMs,
      maxAttempts: options.maxAttempts ?? this.options.maxAttempts,
      budget: {
        maxFailures:
          options.maxFailures ?? registered.budget.maxFailures ?? this.options.maxFailures,
        maxFailureRate:
          options.maxFailureRate ?? registered.budget.maxFailureRate ?? this.options.maxFailureRate,
        failureRateMinItems:
          options.failureRateMinItems ??
          registered.budget.failureRateMinItems ??
          this.options.failureRateMinItems,
      },
      waitForOthers,
    });
    // A run that starts while the application shuts down stops at once, giving back what it took.
    if (this.shuttingDown) run.stop('shutdown');
    this.active.add(run);
    try {
      return await run.execute();
    } finally {
      this.active.delete(run);
    }
  }

  /**
   * Stops claiming, lets the items in flight finish (their `ctx.signal` is aborted) within the lease, and
   * gives everything unfinished back, so that another instance or the next start goes on with it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.settling.size === 0) return;
    for (const run of this.active) run.stop('shutdown');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, this.options.leaseMs)),
    );
    await Promise.race([Promise.all(this.settling), timeout]);
    clearTimeout(timer);
    // What the stopped runs published goes out before the application closes its database.
    await this.events.flush();
  }

  private concurrency(value: number): number {
    if (value > 1 && this.database.singleConnection) {
      this.logger.warn(messages.concurrencyOnPGlite(value));
      return 1;
    }
    return value;
  }
}
