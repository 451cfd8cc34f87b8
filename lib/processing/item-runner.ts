import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { ItemTimeoutError } from '../errors/item-timeout.error';
import { ItemValidationError } from '../errors/item-validation.error';
import { LeaseLostError } from '../errors/lease-lost.error';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import type { ImportItem, ItemErrorDetails } from '../interfaces/import-item.interface';
import type { ProcessItemResult, ValidationResult } from '../interfaces/processor.interface';
import { errorDetailsOf, isInstance, messageOf, toError } from '../utils/error-details.util';
import { isJsonProblem, jsonSizeProblem, serializeJsonValue } from '../utils/source-data.util';
import { sleep } from '../utils/sleep.util';
import { storableText, TEXT_LIMITS, textOf } from '../utils/storable-text.util';
import { isConnectionLoss, isTransientError, retryDelay } from '../utils/transient-error.util';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { MAX_VARCHAR_LENGTH, RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { ITEM_STATUS } from '../statuses';
import { DatabaseAdapter } from './database-adapter';
import { ItemContextImpl, SkipItemSignal, type RunState } from './contexts';
import { LogBuffer } from './log-buffer';
import { ItemStore } from './item-store';
import type { CompletedChunkItem, ItemResult } from './statements/items.statements';
import { callHook, HookThrew } from './processor-hook';
import { inTransaction } from './transaction';
import type { ChainPlace } from './transaction-chain';
import { isOwnConnectionError, markErrorsOf } from './own-connection-errors';
import { ROW_OUTCOME } from '../telemetry/telemetry-names';
import type { RowAttempt } from '../telemetry/run-telemetry';

function invalidResult(item: ImportItem<object>, problem: string): ReliableImportsError {
  const { batchId, itemIndex } = item;
  return new ReliableImportsError(
    'INVALID_RESULT',
    messages.invalidResult({ batchId, itemIndex, problem }),
    { batchId, itemIndex },
  );
}

/** An item in flight given up because its run stopped: it goes back to pending, not failed. */
class ItemGivenUpSignal extends Error {}

/**
 * A try whose transaction met a prepared statement gone (a pooler that cannot carry them) or stale (its
 * result type changed): `error` is what the try threw, whatever the processor made of the statement's.
 */
class PreparedStatementGone extends Error {
  constructor(readonly error: unknown) {
    super('A prepared statement was gone from its connection, or stale there');
  }
}

/** How one item ended. `lost` means another worker took it over; nothing was recorded by this one. */
export type ItemOutcome =
  | { status: typeof ITEM_STATUS.completed }
  /** `reason` is the skip's reason as stored. */
  | { status: typeof ITEM_STATUS.skipped; reason: string }
  /**
   * `message` is the error's message as stored: safe to read, to store and to quote; `code` the stored
   * code (`errorDetails.code`); `attempts` the attempts made.
   */
  | {
      status: typeof ITEM_STATUS.failed;
      error: Error;
      message: string;
      code: string | null;
      attempts: number;
    }
  | { status: 'lost' };

/** How a chunk ended; an item of it that timed out is named, so that it is not given its time twice. */
export type ChunkOutcome =
  | { committed: true }
  | { committed: false; timedOut?: { itemId: string; error: ItemTimeoutError } };

/** The item's data to work on: a child of a reprocess already holds the corrected data. */
function dataToWorkOn(item: ImportItem<object>): ImportItem<object> {
  return { ...item, sourceData: item.correctedData ?? item.sourceData };
}

/** Turns what `validateItem` returned into a list of reasons; empty when the item is valid. */
export function reasonsOf(result: ValidationResult): string[] {
  if (result === undefined || result === true) return [];
  if (result === false) return [messages.validationFailed()];
  if (typeof result === 'string') return [result];
  if (Array.isArray(result)) return (result as readonly unknown[]).map((reason) => textOf(reason));
  return [];
}

/**
 * Runs one claimed item: `validateItem` and `processItem` in the item's own transaction, which also
 * records the item `completed`. On failure the transaction rolls back and the failure is recorded after.
 * In a dry run (`run.dryRun`) the same code runs the item, with its retries and time limit, but its
 * transaction is always rolled back and nothing is recorded: `run` returns the outcome it would record.
 */
@Injectable()
export class ItemRunner {
  constructor(
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(ItemStore) private readonly items: ItemStore,
  ) {}

  /**
   * Runs the item to its outcome. With `chain`, its transaction is the lane's next (see `TransactionChain`),
   * and with `next` its commit starts the transaction of the lane's next item.
   */
  async run(item: ImportItem<object>, run: RunState, chain?: ChainPlace): Promise<ItemOutcome> {
    const workItem = dataToWorkOn(item);
    // One buffer for every attempt: what a rolled-back attempt logged explains the retry.
    const logs = new LogBuffer();
    const { retryDelayMs, maxRetryDelayMs } = this.options;
    const { maxAttempts } = run;
    // Once at most: prepared statements are off before the try again starts, so that it cannot meet one
    // gone; and a try that throws again what a spoilt try threw (a processor's memo) counts.
    let triedUnprepared = false;
    for (let attempt = 1; ; attempt++) {
      const telemetry = run.telemetry.startAttempt(item, attempt);
      const logged = logs.size;
      try {
        await this.attempt(workItem, run, logs, attempt, telemetry, chain);
        logs.clear();
        telemetry.end(ROW_OUTCOME.completed);
        return { status: ITEM_STATUS.completed };
      } catch (failure) {
        if (failure instanceof PreparedStatementGone && !triedUnprepared) {
          // Prepared statements are off now: the same try again, unprepared, as if this one never was.
          triedUnprepared = true;
          logs.truncate(logged);
          telemetry.end(ROW_OUTCOME.retried, { error: toError(failure.error) });
          attempt--;
          continue;
        }
        const caught = failure instanceof PreparedStatementGone ? failure.error : failure;
        const fromProcessor = caught instanceof HookThrew;
        const thrown = fromProcessor ? caught.error : caught;
        if (isInstance(thrown, LeaseLostError)) {
          telemetry.end(ROW_OUTCOME.lost);
          return { status: 'lost' };
        }
        if (isInstance(thrown, ItemGivenUpSignal)) {
          telemetry.end(ROW_OUTCOME.givenBack);
          return { status: 'lost' };
        }
        if (isInstance(thrown, SkipItemSignal)) {
          return this.ended(telemetry, this.recordSkip(item, run, thrown.reason, logs, attempt));
        }
        const error = toError(thrown);
        if (attempt < maxAttempts && isTransientError(error)) {
          // Ended before the wait: the attempt's duration is its work's, not the backoff's.
          telemetry.end(ROW_OUTCOME.retried, { error });
          const delay = retryDelay(attempt, retryDelayMs, maxRetryDelayMs);
          logs.warn(
            messages.itemRetrying({
              itemIndex: item.itemIndex,
              attempt,
              maxAttempts,
              reason: messageOf(error),
              delayMs: delay,
            }),
            { error: this.detailsOf(error) },
          );
          await sleep(delay);
          continue;
        }
        // An outage is no fault of the item: the run is interrupted and gives the item back, pending.
        // (What the processor's code threw is an outage only when it came from the item's own connection:
        // its HTTP client's ECONNRESET, or another database of its own, fails the item, or a worker would
        // retry it for good.)
        if (isConnectionLoss(error) && (!fromProcessor || isOwnConnectionError(thrown))) {
          telemetry.end(ROW_OUTCOME.givenBack, { error });
          throw error;
        }
        return this.ended(telemetry, this.recordFailure(item, run, error, logs, attempt));
      }
    }
  }

  /** Ends the attempt's telemetry with the outcome its recording came to (or its error). */
  private async ended(
    telemetry: RowAttempt,
    recording: Promise<ItemOutcome>,
  ): Promise<ItemOutcome> {
    try {
      const outcome = await recording;
      if (outcome.status === ITEM_STATUS.failed) {
        telemetry.end(ROW_OUTCOME.failed, { error: outcome.error, code: outcome.code });
      } else {
        telemetry.end(outcome.status === 'lost' ? ROW_OUTCOME.lost : outcome.status);
      }
      return outcome;
    } catch (error) {
      // The failure could not be recorded (the database went away): the row goes back, pending.
      telemetry.end(ROW_OUTCOME.givenBack, { error: toError(error) });
      throw error;
    }
  }

  /** Records the item skipped, with its reason made storable (the original kept escaped in the details). */
  private async recordSkip(
    item: ImportItem<object>,
    run: RunState,
    reason: unknown,
    logs: LogBuffer,
    attempt: number,
  ): Promise<ItemOutcome> {
    const text = storableText(reason, TEXT_LIMITS.message);
    logs.info(messages.itemSkipped({ itemIndex: item.itemIndex, reason: textOf(reason) }));
    if (run.dryRun) return { status: ITEM_STATUS.skipped, reason: text.text };
    const details: ItemErrorDetails | null =
      text.original === undefined ? null : { name: 'SkippedItem', originalMessage: text.original };
    const kept = await this.items.finishWithoutResult({
      itemId: item.id,
      workerId: run.workerId,
      status: ITEM_STATUS.skipped,
      errorMessage: text.text,
      errorDetailsJson: details && JSON.stringify(details),
      logsJson: logs.drain(),
      attempts: attempt,
    });
    return kept ? { status: ITEM_STATUS.skipped, reason: text.text } : { status: 'lost' };
  }

  /**
   * Records the item failed. Whatever was thrown, the statement cannot fail on it: the message and the
   * details are made storable first.
   */
  private async recordFailure(
    item: ImportItem<object>,
    run: RunState,
    error: Error,
    logs: LogBuffer,
    attempt: number,
  ): Promise<ItemOutcome> {
    const message = messageOf(error);
    const details = this.detailsOf(error);
    if (details.reasons) {
      logs.warn(messages.itemFailedValidation({ itemIndex: item.itemIndex, reason: message }), {
        reasons: details.reasons,
      });
    } else {
      logs.error(messages.itemFailed({ itemIndex: item.itemIndex, reason: message }), {
        error: details,
      });
    }
    const stored = storableText(message, TEXT_LIMITS.message).text;
    const failed = {
      status: ITEM_STATUS.failed,
      error,
      message: stored,
      code: details.code ?? null,
      attempts: attempt,
    } as const;
    if (run.dryRun) return failed;
    const kept = await this.items.finishWithoutResult({
      itemId: item.id,
      workerId: run.workerId,
      status: ITEM_STATUS.failed,
      errorMessage: stored,
      errorDetailsJson: JSON.stringify(details),
      logsJson: logs.drain(),
      attempts: attempt,
    });
    return kept ? failed : { status: 'lost' };
  }

  private detailsOf(error: Error): ItemErrorDetails {
    return errorDetailsOf(error, { stack: this.options.storeErrorStacks });
  }

  /** One try: validate, process and record the item completed, all in one transaction. */
  private attempt(
    item: ImportItem<object>,
    run: RunState,
    logs: LogBuffer,
    attempt: number,
    telemetry: RowAttempt,
    chain?: ChainPlace,
  ): Promise<void> {
    // A dry run's transaction is always rolled back, and nothing of the item is recorded. The attempt's
    // span is active throughout, so that the processor's spans (and its database's) are its children.
    return telemetry.within(() => this.attemptInTransaction(item, run, logs, attempt, chain));
  }

  private async attemptInTransaction(
    item: ImportItem<object>,
    run: RunState,
    logs: LogBuffer,
    attempt: number,
    chain?: ChainPlace,
  ): Promise<void> {
    // The try's transaction, asked after it rolled back whether it met a prepared statement gone.
    const held: { runner: QueryRunner | null } = { runner: null };
    const inItsTransaction = (work: (transaction: QueryRunner) => Promise<void>) =>
      chain && !run.dryRun && this.database.chainsTransactions
        ? chain.chain.run(work, chain.next)
        : inTransaction(this.database, work, run.dryRun ? 'rollback' : 'commit');
    try {
      await inItsTransaction(async (transaction) => {
        held.runner = transaction;
        markErrorsOf(transaction);
        const stored = await this.withinTimeLimit(item, run, transaction, (signal) =>
          this.validateAndProcess(item, run, transaction, logs, signal),
        );
        if (run.dryRun) return;
        // toJson, not drain: if the commit fails, the entries must still be there for the next attempt.
        const kept = await this.items.complete(transaction, {
          ...stored,
          itemId: item.id,
          workerId: run.workerId,
          logsJson: logs.toJson(),
          attempts: attempt,
        });
        if (!kept) throw new LeaseLostError(item.batchId, item.itemIndex);
      });
    } catch (error) {
      // A time limit or a stop is why the try ended, whatever its transaction met.
      const ended = isInstance(error, ItemTimeoutError) || isInstance(error, ItemGivenUpSignal);
      if (!ended && held.runner && this.database.preparedStatementWasGoneIn(held.runner)) {
        throw new PreparedStatementGone(error);
      }
      throw error;
    }
  }

  /**
   * Runs a chunk of claimed items in one transaction and records them completed with one statement.
   * @returns committed, or not when any item failed (or was skipped, or a claim was lost): the chunk then
   *   rolled back, and its items must run one by one with `run()` — but for an item that timed out, which
   *   is recorded with `recordTimeout()` rather than given its time again.
   */
  async runChunk(items: Array<ImportItem<object>>, run: RunState): Promise<ChunkOutcome> {
    // Each row's attempt ends with the chunk's commit or rollback: a row is done only when it commits.
    const attempts: RowAttempt[] = [];
    try {
      await inTransaction(this.database, async (transaction) => {
        const completed: CompletedChunkItem[] = [];
        for (const claimed of items) {
          const item = dataToWorkOn(claimed);
          const logs = new LogBuffer();
          const telemetry = run.telemetry.startAttempt(claimed, 1);
          attempts.push(telemetry);
          const stored = await telemetry.within(() =>
            this.withinTimeLimit(item, run, transaction, (signal) =>
              this.validateAndProcess(item, run, transaction, logs, signal),
            ),
          );
          completed.push({ ...stored, id: item.id, logsJson: logs.toJson() });
        }
        const kept = await this.items.completeChunk(transaction, run.workerId, completed);
        if (kept !== items.length) throw new LeaseLostError(items[0].batchId, items[0].itemIndex);
      });
      for (const telemetry of attempts) telemetry.end(ROW_OUTCOME.completed);
      return { committed: true };
    } catch (error) {
      for (const telemetry of attempts) telemetry.end(ROW_OUTCOME.rolledBack);
      // Whatever else went wrong is found again, and recorded, when the items run one by one.
      const timedOut = isInstance(error, ItemTimeoutError)
        ? items.find((item) => item.itemIndex === error.context.itemIndex)
        : undefined;
      return {
        committed: false,
        timedOut: timedOut && { itemId: timedOut.id, error: error as ItemTimeoutError },
      };
    }
  }

  /** Records the failure of an item that timed out in a chunk (one attempt, already made). */
  async recordTimeout(
    item: ImportItem<object>,
    error: ItemTimeoutError,
    run: RunState,
  ): Promise<ItemOutcome> {
    const outcome = await this.recordFailure(item, run, error, new LogBuffer(), 1);
    // Its attempt's span ended with the chunk's rollback; its outcome is counted now it is recorded.
    if (outcome.status === ITEM_STATUS.failed) run.telemetry.rowRecorded(ROW_OUTCOME.failed);
    return outcome;
  }

  /** `validateItem` then `processItem` inside the caller's transaction; returns what to store. */
  private async validateAndProcess(
    item: ImportItem<object>,
    run: RunState,
    transaction: QueryRunner,
    logs: LogBuffer,
    signal: AbortSignal,
  ): Promise<ItemResult> {
    const context = new ItemContextImpl(run, item, transaction, logs, signal);
    const { processor } = run;
    const result = await callHook(async () => {
      if (processor.validateItem) {
        const reasons = reasonsOf(await processor.validateItem(item, context));
        if (reasons.length > 0) throw new ItemValidationError(reasons, item.itemIndex);
      }
      return processor.processItem(item, context);
    });
    return this.storedResult(result, item);
  }

  /**
   * Runs an item's work within its time limit, and within a grace period once the run is stopped. When
   * either passes, the item's signal is aborted and its transaction given up (its statement in flight
   * cancelled, its connection closed): an item that never settles must not hold its claim, its locks or
   * the run. A timeout fails the attempt (`ItemTimeoutError`); a stop gives the item back.
   */
  private async withinTimeLimit<T>(
    item: ImportItem<object>,
    run: RunState,
    transaction: QueryRunner,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    // The item's own signal, which the run's stop aborts too (not AbortSignal.any: every item of a long
    // run would be registered on the run's signal).
    const controller = new AbortController();
    const timers: NodeJS.Timeout[] = [];
    const given: { up: Error | null } = { up: null };
    let onStop = (): void => undefined;
    const limit = new Promise<never>((_resolve, reject) => {
      const giveUp = (reason: Error): void => {
        given.up = reason;
        if (!controller.signal.aborted) controller.abort(reason);
        reject(reason);
      };
      timers.push(
        setTimeout(
          () => giveUp(new ItemTimeoutError(item.batchId, item.itemIndex, run.itemTimeoutMs)),
          run.itemTimeoutMs,
        ),
      );
      onStop = () => {
        controller.abort(run.signal.reason);
        timers.push(setTimeout(() => giveUp(new ItemGivenUpSignal()), run.stopGraceMs));
      };
      if (run.signal.aborted) onStop();
      else run.signal.addEventListener('abort', onStop, { once: true });
    });
    const working = work(controller.signal);
    try {
      return await Promise.race([working, limit]);
    } catch (error) {
      if (given.up) {
        // Whatever the abandoned work does later (it may still settle) is nobody's business; and what it
        // threw on its abort is not why the item ended.
        working.catch(() => undefined);
        await this.database.abandon(transaction);
        throw given.up;
      }
      throw error;
    } finally {
      for (const timer of timers) clearTimeout(timer);
      run.signal.removeEventListener('abort', onStop);
    }
  }

  /**
   * What to store of `processItem`'s result. The target columns are taken from the serialized JSON, so that
   * what is stored is what was checked; a result the columns cannot hold is the item's failure, found here
   * rather than by the statement that records it.
   */
  private storedResult(result: object | void, item: ImportItem<object>): ItemResult {
    const raw = (result ?? null) as (ProcessItemResult & Record<string, unknown>) | null;
    const value =
      raw !== null && typeof raw.targetId === 'bigint'
        ? { ...raw, targetId: String(raw.targetId) }
        : raw;
    const serialized = serializeJsonValue(value, messages.resultPath());
    const problem = isJsonProblem(serialized)
      ? serialized
      : jsonSizeProblem(serialized, messages.resultPath());
    if (problem) throw invalidResult(item, `${problem.path} ${problem.problem}`);
    const json = serialized as string;
    const stored = JSON.parse(json) as unknown;
    const target =
      stored !== null && typeof stored === 'object' && !Array.isArray(stored)
        ? (stored as Record<string, unknown>)
        : {};
    const targetTable = typeof target.targetTable === 'string' ? target.targetTable : null;
    if (targetTable !== null && targetTable.length > MAX_VARCHAR_LENGTH) {
      throw invalidResult(item, messages.targetTableTooLong({ max: MAX_VARCHAR_LENGTH }));
    }
    const id = target.targetId;
    const targetId =
      id === undefined || id === null
        ? null
        : typeof id === 'string' || typeof id === 'number' || typeof id === 'boolean'
          ? String(id)
          : JSON.stringify(id);
    return { processedJson: json, targetTable, targetId };
  }
}
