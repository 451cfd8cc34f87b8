import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ProcessingStoppedError } from '../errors/processing-stopped.error';
import { ImportProcessorRegistry } from '../import-processor.registry';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { toError } from '../utils/error-details.util';
import { BatchRunner } from './batch-runner';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { BATCH_CHANNEL, nextBatchForWorker } from './statements/batches.statements';

/**
 * The background worker (`worker.enabled`): in every application instance, picks up batches that need
 * work — pending, abandoned by a dead run, or running with items left — and processes them with the same
 * runner as `processBatch`, with the run options of `worker.run`; and cancels what dead runs left in
 * cancelled batches. A notification wakes it when a batch is
 * created; polling covers the rest.
 */
@Injectable()
export class BatchWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ReliableImports');
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private unlisten: (() => Promise<void>) | null = null;

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchRunner) private readonly runner: BatchRunner,
    @Inject(BatchStore) private readonly store: BatchStore,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.options.worker.enabled || this.registry.knownTypes().length === 0) return;
    this.loop = this.work();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // The runner's own shutdown hook stops the batch in progress; this waits for the loop to see it.
    await this.loop;
    await this.unlisten?.().catch(() => undefined);
  }

  private async work(): Promise<void> {
    await this.startListening();
    while (!this.stopping) {
      const batchId = await this.nextBatch();
      if (batchId) {
        try {
          const { concurrency, run } = this.options.worker;
          await this.runner.process(batchId, { ...run, concurrency }, false);
        } catch (error) {
          if (error instanceof ProcessingStoppedError) break;
          this.logger.warn(
            messages.workerCouldNotProcess({ batchId, reason: toError(error).message }),
          );
          await this.idle();
        }
        continue;
      }
      await this.idle();
    }
  }

  private async nextBatch(): Promise<string | null> {
    try {
      // What runs that died after a cancel left behind: no run comes back to a cancelled batch.
      await this.store.sweepCancelledBatches();
      const [row] = await this.database.run<{ id: string }>(
        nextBatchForWorker({ batchTypes: this.registry.knownTypes() }),
      );
      return row?.id ?? null;
    } catch (error) {
      this.logger.warn(messages.workerCouldNotLook({ reason: toError(error).message }));
      return null;
    }
  }

  /** Waits for a notification, the poll interval, or the shutdown, whichever comes first. */
  private idle(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (!this.unlisten) void this.startListening();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, this.options.worker.pollIntervalMs);
      this.wake = done;
    });
  }

  /** LISTENs for new batches; without it (PGlite, a pooler, a lost connection) the worker polls. */
  private async startListening(): Promise<void> {
    if (this.stopping) return;
    try {
      this.unlisten = await this.database.listen(
        BATCH_CHANNEL,
        () => this.wake?.(),
        (error) => {
          this.unlisten = null;
          this.logger.warn(messages.workerStoppedListening({ reason: error.message }));
        },
      );
    } catch (error) {
      this.unlisten = null;
      this.logger.warn(messages.workerCannotListen({ reason: toError(error).message }));
    }
  }
}
