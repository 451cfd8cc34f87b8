import type { Logger } from '@nestjs/common';
import type { BaseProcessor } from '../base-processor';
import { LeaseLostError } from '../errors/lease-lost.error';
import { ProcessingInterruptedError } from '../errors/processing-interrupted.error';
import { ProcessingStoppedError } from '../errors/processing-stopped.error';
import { BatchStatusConflictError } from '../errors/batch-status-conflict.error';
import { aboutBatch, countsOf } from '../events/event-payloads';
import type { ImportEventPublisher } from '../events/import-event-publisher';
import { RELIABLE_IMPORTS_EVENTS } from '../events/reliable-imports.events';
import type { ErrorBudget } from '../interfaces/batch-options.interface';
import type { BatchSummary } from '../interfaces/batch-summary.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { messages } from '../reliable-imports.messages';
import { BATCH_STATUS, isEndedBatch, isRunnableBatch, type BatchStatus } from '../statuses';
import { isInstance, messageOf, nameOf, toError } from '../utils/error-details.util';
import { sleep } from '../utils/sleep.util';
import { storableText, TEXT_LIMITS } from '../utils/storable-text.util';
import { isTransientError, retryDelay } from '../utils/transient-error.util';
import type { BatchStore } from './batch-store';
import type { DatabaseAdapter } from './database-adapter';
import { BatchContextImpl, type RunState } from './contexts';
import type { ClaimCursor, ItemStore } from './item-store';
import { reasonsOf, type ItemRunner } from './item-runner';
import { runClaim, type ClaimRun } from './claim-runner';
import { hasBudget, spentBudget } from './error-budget';
import { runLanes } from './lanes';
import { LeaseKeeper } from './lease-keeper';
import { callHook, HookThrew } from './processor-hook';
import {
  decideEnding,
  type RunEnding,
  type RunFacts,
  type StopCause,
  type ThrownKind,
} from './run-ending';
import type { ProgressReader } from './progress-reader';
import type { ImportTelemetry } from '../telemetry/import-telemetry';
import { RunTelemetry } from '../telemetry/run-telemetry';
import type { OtelSpanContext } from '../telemetry/opentelemetry-api';
import type { StoredCreators } from '../telemetry/trace-context';
import { claimSize } from './run-options';
import { newWorkerId } from './worker-id';

/** The services a run works with, all the injected runner's. */
export interface RunServices {
  options: ResolvedReliableImportsOptions;
  database: DatabaseAdapter;
  store: BatchStore;
  items: ItemStore;
  itemRunner: ItemRunner;
  progress: ProgressReader;
  events: ImportEventPublisher;
  telemetry: ImportTelemetry;
  /** The span of the run of this process that holds the batch, if one does: a helper links to it. */
  holderSpan(batchId: string): OtelSpanContext | null;
  logger: Logger;
}

/** A run's settings, from its options, the processor's and the module's. */
export interface RunSettings {
  concurrency: number;
  commitEvery: number;
  continueOnError: boolean;
  itemTimeoutMs: number;
  maxAttempts: number;
  /** The error budget, each limit the call's, else the processor's, else the module's. */
  budget: ErrorBudget;
  /** False for the worker: leave when nothing is left to claim, rather than wait for other runs' items. */
  waitForOthers: boolean;
}

/** A batch the run has found or taken, with the run's part in it. */
interface Taken {
  batch: ImportBatch;
  /** This run holds the batch (it took it); otherwise it helps the run that holds it. */
  owner: boolean;
}

/**
 * One call's processing run of a batch, made per call and owning its state: its worker id (which fences
 * every write it makes), whether it holds the batch, its signal, its lease keeper and its lanes. It takes the
 * batch (or joins the live run that holds it, as a helper), runs the hooks in order, claims and runs the
 * items on `concurrency` lanes, and gathers what happens as facts; `decideEnding` says how the run ends,
 * and `conclude` carries it out. `validateBatch` runs only in the run that takes the batch,
 * `onBatchComplete` only in the run that ends it.
 */
export class BatchRun {
  readonly batchId: string;
  private readonly workerId = newWorkerId();
  private readonly controller = new AbortController();
  private readonly facts: RunFacts = {
    refused: false,
    stopCause: null,
    failureDecided: false,
    endAttempt: 'not-tried',
    thrown: null,
  };
  /** What was thrown, as `facts.thrown` sorts it. */
  private thrownError: unknown = null;
  /** The reason a failed item stopped the batch with; set by the first item that stops it. */
  private failure: string | null = null;
  /** A lane threw: the others stop after their item in flight. */
  private broken = false;
  private leaseLost: LeaseLostError | null = null;
  /**
   * The batch was paused (by an operator, or by this run's error budget) or cancelled: the run claims no
   * more, lets its items in flight finish and leaves. Not an abort: the items in flight must finish.
   */
  private halted: typeof BATCH_STATUS.paused | typeof BATCH_STATUS.cancelled | null = null;
  private owner = false;
  /**
   * The progress readings (once per poll interval) tell the batch's status too: while they run, the status
   * check reads nothing of its own.
   */
  private progressWatchesStatus = false;
  /** The counts of the last progress event this run published, to publish only a change. */
  private lastProgress = '';
  /** The run's span and metrics; off until the run starts. */
  private telemetry = RunTelemetry.off;
  /** How the run ended, for its span: `not-runnable` until it is decided. */
  private ending = 'not-runnable';
  private batch!: ImportBatch;
  private state!: RunState;
  private context!: BatchContextImpl;

  constructor(
    private readonly services: RunServices,
    /** The batch as the caller found it, before this run took it. */
    private readonly found: ImportBatch,
    /** The trace contexts stored with the batch and its parent: the run's span links to their spans. */
    private readonly creators: StoredCreators,
    private readonly processor: BaseProcessor<object, object | void>,
    private readonly settings: RunSettings,
  ) {
    this.batchId = found.id;
  }

  /** The run's span, while this run holds the batch; null otherwise, or when it is not recorded. */
  get holderSpan(): OtelSpanContext | null {
    return this.owner ? this.telemetry.spanContext : null;
  }

  /** Stops the run at the next claim; the items in flight see their signal aborted. */
  stop(cause: StopCause): void {
    if (this.controller.signal.aborted) return;
    this.facts.stopCause = cause;
    // The reason processors see on `ctx.signal.reason`, in the shape it has always had.
    this.controller.abort({ kind: cause });
  }

  async execute(): Promise<BatchSummary> {
    this.telemetry = this.services.telemetry.startRun(this.found, this.workerId, this.creators);
    try {
      // Whatever the run and the processor's hooks do is the run span's child.
      const summary = await this.telemetry.within(() => this.runBatch());
      this.telemetry.end(this.ending);
      return summary;
    } catch (error) {
      this.telemetry.end(this.ending, error);
      throw error;
    }
  }

  private async runBatch(): Promise<BatchSummary> {
    const taken = await this.take();
    if (taken === null) return this.services.store.getSummary(this.batchId);
    this.batch = taken.batch;
    this.owner = taken.owner;
    this.state = {
      batch: taken.batch,
      processor: this.processor,
      workerId: this.workerId,
      maxAttempts: this.settings.maxAttempts,
      originalBatchId: await this.services.store.getOriginalBatchId(taken.batch),
      database: this.services.database,
      shared: new Map(),
      signal: this.controller.signal,
      telemetry: this.telemetry,
      itemTimeoutMs: this.settings.itemTimeoutMs,
      // Within the wait of the application's shutdown (leaseMs), so that the run has settled by then.
      stopGraceMs: Math.floor(this.services.options.leaseMs / 2),
    };
    this.context = new BatchContextImpl(this.state);
    const leases = new LeaseKeeper(
      () => this.renewLeases(),
      Math.floor(this.services.options.leaseMs / 3),
      (error) =>
        this.services.logger.warn(
          messages.leaseRenewalFailed({ batchId: this.batchId, reason: toError(error).message }),
        ),
    );
    // A pause or a cancel takes effect at the next claim in SQL; this check stops the run before its next
    // item too, within one poll interval, rather than after the items it has claimed.
    const control = new LeaseKeeper(
      () => this.watchStatus(),
      this.services.options.worker.pollIntervalMs,
      // Not worth a warning each second: an outage shows in the renewals and the items' statements.
      () => undefined,
    );
    // The run that holds the batch tells how far it is, at most once per poll interval.
    const progress = new LeaseKeeper(
      () => this.publishProgress(),
      this.services.options.worker.pollIntervalMs,
      () => undefined,
    );
    leases.start();
    control.start();
    if (this.owner && this.services.events.listened) {
      progress.start();
      this.progressWatchesStatus = true;
    }
    try {
      if ((await this.step(() => this.validate())) && !this.facts.refused) {
        if (await this.step(() => this.start())) await this.step(() => this.runItems());
      }
      // No progress after the end: a reading in flight is published before it.
      await progress.stop();
      this.progressWatchesStatus = false;
      let ending = decideEnding(this.facts);
      if (ending === 'try-to-end') {
        await this.step(async () => {
          this.facts.endAttempt = await this.end();
        });
        ending = decideEnding(this.facts);
      }
      return await this.conclude(ending);
    } finally {
      // Not waited for: a renewal on a connection that hangs must not hold the run's caller.
      void leases.stop();
      void control.stop();
      void progress.stop();
    }
  }

  /** Takes the batch, or joins the live run that holds it; null when it has ended. */
  private async take(): Promise<Taken | null> {
    const { store, options } = this.services;
    // Ended, paused, cancelled, awaiting approval: nothing to run (the summary says where it stands).
    if (!isRunnableBatch(this.found.status)) return null;
    const started = await store.startBatch(this.batchId, this.workerId, options.leaseMs);
    const batch = started ?? (await store.getBatch(this.batchId));
    if (!isRunnableBatch(batch.status)) return null;
    // Its first start: not a takeover of a run that died (which counts a retry), nor of a resumed batch.
    if (started && this.found.startedAt === null && started.retryCount === this.found.retryCount) {
      this.services.events.publish(RELIABLE_IMPORTS_EVENTS.batchStarted, {
        ...aboutBatch(started),
        totalItems: started.totalItems,
        parentBatchId: started.parentBatchId,
      });
    }
    // Taken from a run whose lease ran out: it held the batch when this run read it (a pause clears it).
    const tookOver =
      started !== null &&
      this.found.status === BATCH_STATUS.processing &&
      this.found.lockedBy !== null;
    this.telemetry.took(
      started ? 'owner' : 'helper',
      started ? this.found.lockedBy : batch.lockedBy,
      tookOver,
    );
    // Across processes, the holder's worker id (an attribute) is what ties the runs together.
    if (!started) this.telemetry.linkTo(this.services.holderSpan(this.batchId), 'holder');
    return { batch, owner: started !== null };
  }

  /** Runs a step of the run; what it throws becomes a fact. @returns whether it went through. */
  private async step(work: () => Promise<unknown>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      this.noteThrown(error, false);
      return false;
    }
  }

  private noteThrown(error: unknown, inLanes: boolean): void {
    this.thrownError = error;
    this.facts.thrown = { kind: kindOf(error), inLanes };
  }

  /** `validateBatch`, in the run that took the batch: a refusal ends the batch failed with the reasons. */
  private async validate(): Promise<void> {
    const { processor, batch, context } = this;
    if (!this.owner || !processor.validateBatch) return;
    const validateBatch = processor.validateBatch.bind(processor);
    const reasons = reasonsOf(await callHook(() => validateBatch(batch, context)));
    if (reasons.length === 0) return;
    const reason = messages.batchValidationFailed(reasons);
    context.log.error(reason, {
      reasons: reasons.map((text) => storableText(text, TEXT_LIMITS.message).text),
    });
    await this.services.store.writeLogs(this.batchId, null, context.log);
    const ended = await this.services.store.finishBatch(
      this.batchId,
      this.workerId,
      storableText(reason, TEXT_LIMITS.message).text,
    );
    if (ended) this.publishEnded(ended);
    this.facts.refused = true;
  }

  /** `onBatchStart`, then where a run that must stop at the first failure stands. */
  private async start(): Promise<void> {
    const { processor, batch, context } = this;
    await callHook(() => processor.onBatchStart?.(batch, context));
    await this.services.store.writeLogs(this.batchId, null, context.log);
    // A run that must stop at the first failure and finds one recorded (by a run that died, or whose
    // stop could not be written) stops at once: the stop is derived from the rows, not remembered.
    // (Not where onItemError decides: it may have said 'continue' for that failure.)
    if (!this.settings.continueOnError && !processor.onItemError) {
      this.decideFailure(await this.services.store.stopAtFirstFailure(this.batchId));
    }
    // A file whose lines could not be read (failed at creation) may have spent the budget before any row
    // ran: its first run pauses it at once. (A resumed batch goes on until its next failure.)
    if (this.owner && this.found.startedAt === null) await this.checkBudget();
  }

  /** Claims and runs the items on the run's lanes, then gives back what this run claimed and left. */
  private async runItems(): Promise<void> {
    const { leaseMs } = this.services.options;
    const { items } = this.services;
    // The pace of the claim a lane finished last, which sizes the next claims (per row).
    let rowsPerSecond = 0;
    const claimRun: ClaimRun = {
      state: this.state,
      context: this.context,
      commitEvery: this.settings.commitEvery,
      continueOnError: this.settings.continueOnError,
      services: this.services,
      stopped: () => this.stopped(),
      stopAt: (reason) => this.decideFailure(reason),
      afterFailure: () => this.checkBudget(),
    };
    const cursor: ClaimCursor = { fromIndex: 0 };
    const errors = await runLanes<ImportItem<object>>(
      this.settings.concurrency,
      {
        stopped: () => this.stopped(),
        claim: async () => {
          const started = this.telemetry.claimStarted();
          let expired = 0;
          const claimed = await items.claim<object>(
            this.batchId,
            this.workerId,
            leaseMs,
            claimSize(
              this.batch.totalItems,
              this.settings.concurrency,
              this.settings.commitEvery,
              rowsPerSecond,
            ),
            cursor,
            (count) => (expired = count),
          );
          this.telemetry.claimed(started, claimed.length, expired);
          return claimed;
        },
        nothingClaimed: async () => {
          // Another run's items are not ours to finish, unless its lease runs out: then we claim them.
          if (!this.settings.waitForOthers) return false;
          if ((await items.countHeldByOthers(this.batchId, this.workerId)) === 0) return false;
          await sleep(Math.min(1000, leaseMs / 4));
          return true;
        },
        run: async (claimed) => {
          const started = performance.now();
          await runClaim(claimed, claimRun);
          const ms = performance.now() - started;
          if (ms > 0) rowsPerSecond = (claimed.length * 1000) / ms;
        },
      },
      () => (this.broken = true),
    );
    if (errors.length > 0) {
      // The error that says most: a lane's hook or bug over another lane's lost connection.
      this.noteThrown(
        errors.find((error) => kindOf(error) !== 'database-passing') ?? errors[0],
        true,
      );
      return;
    }
    await items.releaseAll(this.batchId, this.workerId);
  }

  private stopped(): boolean {
    return (
      this.failure !== null || this.broken || this.halted !== null || this.controller.signal.aborted
    );
  }

  /**
   * After a failed item: when the batch's failures (over every run's rows) have spent the error budget,
   * the run stops claiming and pauses the batch with the reason, in every process.
   */
  private async checkBudget(): Promise<void> {
    const { budget } = this.settings;
    if (!hasBudget(budget) || this.stopped()) return;
    const reason = spentBudget(await this.services.store.failureCounts(this.batchId), budget);
    if (reason === null) return;
    // First, so that this run's lanes stop before their next item while the pause is written.
    this.halted = BATCH_STATUS.paused;
    try {
      await this.services.store.pauseBatch(this.batchId, reason);
    } catch (error) {
      // Cancelled, or ended by another run meanwhile: nothing left to pause.
      if (!isInstance(error, BatchStatusConflictError)) throw error;
    }
  }

  /** Publishes the batch's progress, when this run holds the batch and a count changed. */
  private async publishProgress(): Promise<void> {
    if (!this.owner || this.stopped()) return;
    const progress = await this.services.progress.read(this.batchId);
    const { status, done, inFlight, pending, cancelled } = progress;
    this.halt(status);
    const key = JSON.stringify([status, done, inFlight, pending, cancelled]);
    if (key === this.lastProgress || !this.owner || this.stopped()) return;
    this.lastProgress = key;
    this.services.events.publish(RELIABLE_IMPORTS_EVENTS.batchProgress, {
      batchId: this.batchId,
      batchType: this.batch.batchType,
      status,
      progress,
    });
  }

  /**
   * The batch was paused or cancelled (an event told, or the run's own reading of it): the run stops
   * before its next item, lets its items in flight finish, and leaves.
   */
  halt(status: BatchStatus): void {
    if (status === BATCH_STATUS.paused || status === BATCH_STATUS.cancelled) {
      this.halted ??= status;
    }
  }

  /** Notes a pause or a cancel of the batch: the run stops claiming, and leaves once its items finish. */
  private async watchStatus(): Promise<void> {
    if (this.halted !== null || (this.progressWatchesStatus && this.owner)) return;
    const { status } = await this.services.store.getBatch(this.batchId);
    if (status === BATCH_STATUS.paused || status === BATCH_STATUS.cancelled) this.halted = status;
  }

  private decideFailure(reason: string | null): void {
    if (reason === null || this.failure !== null) return;
    this.failure = storableText(reason, TEXT_LIMITS.message).text;
    this.facts.failureDecided = true;
  }

  /**
   * Ends the batch; when other runs still hold items, waits until the one that finishes last has ended it
   * (taking over if that run's lease expires) — or, for the worker, leaves it to them.
   */
  private async end(): Promise<RunFacts['endAttempt']> {
    const { store } = this.services;
    for (;;) {
      if (await this.endBatch()) return 'ended';
      const { status } = await store.getBatch(this.batchId);
      // The last run whose items finish after a cancel counts them.
      if (status === BATCH_STATUS.cancelled) await store.recountCancelledBatch(this.batchId);
      // Ended, paused or cancelled: nothing left for this run.
      if (!this.settings.waitForOthers || !isRunnableBatch(status)) return 'not-ended';
      // Runnable again, though this run was halted: resumed since the pause, or told of a pause that was
      // over (a late event). The pause is over: the run goes on with the batch (as a helper, when its
      // lease was cleared), so that a call made to finish it does.
      this.halted = null;
      if (this.controller.signal.aborted) return 'interrupted';
      await sleep(Math.min(500, this.services.options.leaseMs / 4));
      // Rows that a lock kept from the claims (a correction, a dry run's verdicts) or that another run gave
      // back: nobody else may come for them (this run may hold the batch), so this run claims them.
      if (await this.services.items.hasClaimable(this.batchId)) {
        await this.runItems();
        if (this.facts.thrown !== null) return 'not-ended';
      }
    }
  }

  /**
   * Ends the batch when no item is open, or stops it with the failure. A stop is retried through a passing
   * database error (as an item is), so that a blip does not hand a batch that must stop to the next run.
   * @returns whether this call ended the batch.
   */
  private async endBatch(): Promise<boolean> {
    const { retryDelayMs, maxRetryDelayMs } = this.services.options;
    const { maxAttempts } = this.settings;
    for (let attempt = 1; ; attempt++) {
      try {
        const ended = await this.services.store.finishBatch(
          this.batchId,
          this.workerId,
          this.failure,
        );
        if (ended) this.publishEnded(ended);
        return ended !== null;
      } catch (error) {
        if (this.failure === null || attempt >= maxAttempts || !isTransientError(toError(error))) {
          throw error;
        }
        await sleep(retryDelay(attempt, retryDelayMs, maxRetryDelayMs));
      }
    }
  }

  /** Carries out the run's ending: returns the batch's summary, or throws what the ending calls for. */
  private async conclude(ending: RunEnding): Promise<BatchSummary> {
    const { store } = this.services;
    this.ending = ending;
    switch (ending) {
      case 'refused':
        // The batch has ended: an error from here on changes nothing of it, and is the caller's.
        return store.getSummary(this.batchId);
      case 'finished':
        return this.complete();
      case 'left-to-others':
      case 'stopped': {
        const released = await this.step(async () => {
          if (this.owner) await store.releaseBatch(this.batchId, this.workerId);
        });
        if (!released) return this.conclude(decideEnding(this.facts));
        if (ending === 'stopped') {
          throw isInstance(this.thrownError, ProcessingStoppedError)
            ? this.thrownError
            : new ProcessingStoppedError(this.batchId);
        }
        try {
          return await store.getSummary(this.batchId);
        } catch (error) {
          // This run did not end the batch: losing the database here is an interruption like any other.
          this.noteThrown(error, false);
          return this.conclude(decideEnding(this.facts));
        }
      }
      case 'lease-lost':
        throw this.leaseLost ?? this.thrownError;
      case 'given-back':
        return this.giveBack();
      case 'abandoned':
        return this.abandon();
      case 'try-to-end':
        // decideEnding asks to try only once: the end was tried, and its outcome is a fact by now.
        throw new Error(messages.runEndingUndecided({ batchId: this.batchId }));
    }
  }

  /** This run ended the batch: `onBatchComplete`, with what it logs. */
  private async complete(): Promise<BatchSummary> {
    const { store } = this.services;
    try {
      const summary = await store.getSummary(this.batchId);
      await callHook(() => this.processor.onBatchComplete?.(summary, this.context));
      await store.writeLogs(this.batchId, null, this.context.log);
      return summary;
    } catch (error) {
      // The batch has ended: a later error changes nothing of it, and is the caller's as it was thrown.
      throw error instanceof HookThrew ? error.error : error;
    }
  }

  /**
   * The database failed in a way that passes: give back the items and the batch, as far as the database
   * answers, so that the next run takes them at once; otherwise their leases run out.
   */
  private async giveBack(): Promise<never> {
    const interrupted = new ProcessingInterruptedError(this.batchId, toError(this.thrownError));
    const { store, items } = this.services;
    // Giving back first: the log is worth less than a batch the next run can take at once.
    await this.bestEffort(async () => {
      await items.releaseAll(this.batchId, this.workerId);
      if (this.owner) await store.releaseBatch(this.batchId, this.workerId);
    });
    await this.bestEffort(() => {
      this.context.log.warn(interrupted.message, { code: interrupted.code });
      return store.writeLogs(this.batchId, null, this.context.log);
    });
    throw interrupted;
  }

  /**
   * A hook threw, or the database failed for good: give the claimed items back and mark the batch failed
   * with the reason, as far as the database still answers; then rethrow what was thrown.
   */
  private async abandon(): Promise<never> {
    const thrown = this.thrownError;
    const original = thrown instanceof HookThrew ? thrown.error : thrown;
    const error = toError(original);
    const { store, items } = this.services;
    // A hook's error is the processor's text: stored as an item's would be, the original in the log.
    const reason = messages.processingAbandoned({ reason: messageOf(error) });
    await this.bestEffort(async () => {
      await items.releaseAll(this.batchId, this.workerId);
      const ended = await store.finishBatch(
        this.batchId,
        this.workerId,
        storableText(reason, TEXT_LIMITS.message).text,
      );
      if (ended) this.publishEnded(ended);
    });
    await this.bestEffort(() => {
      this.context.log.error(reason, { name: nameOf(error) });
      return store.writeLogs(this.batchId, null, this.context.log);
    });
    throw original;
  }

  /** Publishes the end of the batch this run ended: completed (with errors or not), or failed. */
  private publishEnded(ended: ImportBatch): void {
    const { events } = this.services;
    if (ended.status === BATCH_STATUS.failed) {
      events.publish(RELIABLE_IMPORTS_EVENTS.batchFailed, {
        ...aboutBatch(ended),
        ...countsOf(ended),
        reason: ended.errorMessage ?? messages.failedWithoutReason(),
      });
    } else {
      events.publish(RELIABLE_IMPORTS_EVENTS.batchCompleted, {
        ...aboutBatch(ended),
        ...countsOf(ended),
      });
    }
  }

  /** Cleanup after an error, as far as the database answers; what it cannot do, the leases undo. */
  private async bestEffort(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (cleanupError) {
      this.services.logger.warn(
        messages.cleanupFailed({ batchId: this.batchId, reason: toError(cleanupError).message }),
      );
    }
  }

  /**
   * Extends the run's leases. The holder of the batch stops its run when the batch was taken over; a
   * helper holds only items.
   */
  private async renewLeases(): Promise<void> {
    const { store, options } = this.services;
    const kept = await store.renewLeases(this.batchId, this.workerId, options.leaseMs);
    if (kept || !this.owner || this.controller.signal.aborted) return;
    const current = await store.getBatch(this.batchId);
    // Paused or cancelled (the lease is cleared): the items in flight finish, the run leaves.
    if (current.status === BATCH_STATUS.paused || current.status === BATCH_STATUS.cancelled) {
      this.halted = current.status;
      this.owner = false;
      return;
    }
    // Paused and resumed since the last renewal: nobody holds the batch, or the next run took it. This run
    // stops claiming and, once its items are done, goes on as a helper (end()); it lost nothing to another
    // run: the pause cleared its lease.
    if (isRunnableBatch(current.status) && (current.lockedBy === null || this.halted !== null)) {
      this.halted = BATCH_STATUS.paused;
      this.owner = false;
      return;
    }
    // A helper that stopped the batch ended it: this run has nothing left to do, and lost nothing.
    if (isEndedBatch(current.status)) return this.stop('ended-elsewhere');
    this.leaseLost = LeaseLostError.forBatch(this.batchId, current.status, current.lockedBy);
    this.telemetry.leaseExpired('batch');
    this.stop('lease-lost');
  }
}

/** Sorts what a run threw by what it means for the batch. */
function kindOf(error: unknown): ThrownKind {
  if (isInstance(error, ProcessingStoppedError)) return 'stopped';
  if (isInstance(error, LeaseLostError)) return 'lease-lost';
  if (error instanceof HookThrew) return 'hook';
  // A hook's errors are its own (its HTTP client's ECONNREFUSED is no database outage); the module's own
  // statements' passing errors are an outage: the batch waits for the next run.
  return isTransientError(toError(error)) ? 'database-passing' : 'other';
}
