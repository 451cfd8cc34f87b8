import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { BatchStatusConflictError } from '../errors/batch-status-conflict.error';
import { ProcessingStoppedError } from '../errors/processing-stopped.error';
import { ImportProcessorRegistry } from '../import-processor.registry';
import type { DryRunOptions } from '../interfaces/batch-options.interface';
import type { DryRunFailure, DryRunOutcome, DryRunSummary } from '../interfaces/dry-run.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { DRY_RUNNABLE_BATCH_STATUSES, ITEM_STATUS } from '../statuses';
import { codeOf, messageOf, toError } from '../utils/error-details.util';
import { storableText, TEXT_LIMITS } from '../utils/storable-text.util';
import { BatchStore } from './batch-store';
import { DatabaseAdapter } from './database-adapter';
import { DryRunBatchContext, type RunState } from './contexts';
import { ItemRunner, reasonsOf } from './item-runner';
import { LogBuffer } from './log-buffer';
import { callHook, HookThrew } from './processor-hook';
import { toItem, type Row } from './row-mappers';
import { pendingItemsPage, storeVerdicts } from './statements/dry-run.statements';
import { insertLogs } from './statements/logs.statements';
import { inTransaction } from './transaction';
import { newWorkerId } from './worker-id';
import { RunTelemetry } from '../telemetry/run-telemetry';

/** How many rows a dry run reads, tries and stores the verdicts of at a time. */
const PAGE_SIZE = 100;

/** How many failures a dry run's summary lists (each row's verdict is stored in any case). */
const FAILURES_LISTED = 100;

/**
 * Dry runs: `validateBatch` and `onBatchStart`, then `validateItem` and `processItem` of every pending row
 * in order, each through the item runner (the same retries, time limit and errors as a real run) in a
 * transaction that is always rolled back. Each row's verdict is stored in its `dry_run_*` columns, and
 * nothing else: no status, attempt, lease or log of the row, and the batch is not taken. A real run may
 * start meanwhile unharmed: the dry run then gives way at its next page of verdicts
 * (`BatchStatusConflictError`), the verdicts it stored before kept. The processor's hooks see `ctx.isDryRun()`; `onItemError` and
 * `onBatchComplete` are not called, and every row is tried whatever `continueOnError` says.
 */
@Injectable()
export class DryRunner implements BeforeApplicationShutdown {
  /** The dry runs under way, to stop at shutdown. */
  private readonly active = new Set<{ stop: AbortController; done: Promise<unknown> }>();

  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(ImportProcessorRegistry) private readonly registry: ImportProcessorRegistry,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(ItemRunner) private readonly itemRunner: ItemRunner,
  ) {}

  /** Dry-runs the batch (options checked by the caller). */
  async dryRun(batchId: string, options: DryRunOptions): Promise<DryRunSummary> {
    const batch = await this.store.getBatch(batchId);
    if (!DRY_RUNNABLE_BATCH_STATUSES.includes(batch.status)) {
      throw new BatchStatusConflictError(batch, 'dry-run');
    }
    const registered = this.registry.get(batch.batchType);
    const stop = new AbortController();
    const state: RunState = {
      batch,
      processor: registered.instance,
      // Never written anywhere: a dry run holds no claim.
      workerId: newWorkerId(),
      originalBatchId: await this.store.getOriginalBatchId(batch),
      database: this.database,
      shared: new Map(),
      signal: stop.signal,
      // A dry run is a rehearsal: its rows are not the batch's outcomes, nor counted as such.
      telemetry: RunTelemetry.off,
      itemTimeoutMs:
        options.itemTimeoutMs ?? registered.itemTimeoutMs ?? this.options.itemTimeoutMs,
      maxAttempts: options.maxAttempts ?? this.options.maxAttempts,
      stopGraceMs: Math.floor(this.options.leaseMs / 2),
      dryRun: true,
    };
    const done = this.tryBatch(batch, state);
    const entry = { stop, done: done.catch(() => undefined) };
    this.active.add(entry);
    try {
      return await done;
    } finally {
      this.active.delete(entry);
    }
  }

  /** Stops the dry runs under way at their next row, and waits for them (within the lease). */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.active.size === 0) return;
    for (const { stop } of this.active) stop.abort({ kind: 'shutdown' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, this.options.leaseMs)),
    );
    await Promise.race([Promise.all([...this.active].map(({ done }) => done)), timeout]);
    clearTimeout(timer);
  }

  private async tryBatch(batch: ImportBatch, state: RunState): Promise<DryRunSummary> {
    const summary: DryRunSummary = {
      batchId: batch.id,
      total: 0,
      wouldComplete: 0,
      wouldFail: 0,
      wouldSkip: 0,
      batchRefused: await this.batchHooks(state),
      failures: [],
      failuresTruncated: false,
    };
    if (summary.batchRefused === null) {
      for (let after = -1; ;) {
        const rows = await this.database.run<Row>(
          pendingItemsPage({ batchId: batch.id, afterIndex: after, limit: PAGE_SIZE }),
        );
        if (rows.length === 0) break;
        const verdicts: Array<{ id: string; outcome: DryRunOutcome; error: string | null }> = [];
        for (const row of rows) {
          if (state.signal.aborted) throw new ProcessingStoppedError(batch.id);
          const item = toItem<object>(row);
          const outcome = await this.itemRunner.run(item, state);
          if (outcome.status === 'lost') throw new ProcessingStoppedError(batch.id);
          summary.total++;
          if (outcome.status === ITEM_STATUS.completed) {
            summary.wouldComplete++;
            verdicts.push({ id: item.id, outcome: outcome.status, error: null });
          } else if (outcome.status === ITEM_STATUS.skipped) {
            summary.wouldSkip++;
            verdicts.push({ id: item.id, outcome: outcome.status, error: outcome.reason });
          } else {
            summary.wouldFail++;
            verdicts.push({ id: item.id, outcome: outcome.status, error: outcome.message });
            const failure: DryRunFailure = {
              itemId: item.id,
              itemIndex: item.itemIndex,
              sourceLine: item.sourceLine,
              reason: outcome.message,
              errorCode: codeOf(outcome.error) ?? null,
            };
            if (summary.failures.length < FAILURES_LISTED) summary.failures.push(failure);
            else summary.failuresTruncated = true;
          }
        }
        const [stored] = await this.database.run<{ waiting: boolean }>(
          storeVerdicts({ batchId: batch.id, verdicts: JSON.stringify(verdicts) }),
        );
        // A run took the batch (or it ended) meanwhile: the dry run gives way, and stores no more.
        if (stored?.waiting !== true) {
          throw new BatchStatusConflictError(await this.store.getBatch(batch.id), 'dry-run');
        }
        after = toItem(rows[rows.length - 1]).itemIndex;
      }
    }
    const audit = new LogBuffer();
    audit.info(
      summary.batchRefused === null
        ? messages.dryRunDone(summary)
        : messages.dryRunBatchRefused({ reason: summary.batchRefused }),
      { dryRun: true },
    );
    await this.database.run(
      insertLogs({ batchId: batch.id, itemId: null, entries: audit.drain() }),
    );
    return summary;
  }

  /**
   * `validateBatch` and `onBatchStart`, as a real run calls them, in a transaction that is rolled back.
   * @returns why a real run would fail the batch before its first row (a refusal, or a hook that threw);
   *   null when it would go on.
   */
  private async batchHooks(state: RunState): Promise<string | null> {
    const { processor, batch } = state;
    for (let tries = 1; ; tries++) {
      // The hooks' transaction, asked after it rolled back whether it met a prepared statement gone.
      const held: { runner: QueryRunner | null } = { runner: null };
      try {
        return await inTransaction(
          this.database,
          async (transaction) => {
            held.runner = transaction;
            const context = new DryRunBatchContext(state, transaction);
            if (processor.validateBatch) {
              const validateBatch = processor.validateBatch.bind(processor);
              const reasons = reasonsOf(await callHook(() => validateBatch(batch, context)));
              if (reasons.length > 0) {
                return storableText(messages.batchValidationFailed(reasons), TEXT_LIMITS.message)
                  .text;
              }
            }
            await callHook(() => processor.onBatchStart?.(batch, context));
            return null;
          },
          'rollback',
        );
      } catch (error) {
        // Prepared statements are off now: the hooks again, unprepared, as a real run's would go on.
        if (tries === 1 && held.runner && this.database.preparedStatementWasGoneIn(held.runner)) {
          continue;
        }
        if (!(error instanceof HookThrew)) throw error;
        return storableText(
          messages.processingAbandoned({ reason: messageOf(toError(error.error)) }),
          TEXT_LIMITS.message,
        ).text;
      }
    }
  }
}
