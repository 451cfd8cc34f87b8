/**
 * How a processing run ends, decided in one place from what happened to it. The run (`batch-run.ts`)
 * gathers the facts; `decideEnding` says what they mean; the run carries it out. A new way for a run to
 * end is a new fact and a new row of the table test (`run-ending.spec.ts`). A pause, a cancel and an
 * error budget need none: the batch is no longer runnable, so the attempt to end it finds it so
 * (`endAttempt: 'not-ended'`) and the run leaves it (`left-to-others`).
 */

/** Why the run's signal was aborted: the application shuts down, the batch was taken over, or ended. */
export type StopCause = 'shutdown' | 'lease-lost' | 'ended-elsewhere';

/** What a run threw, sorted by what it means for the batch. */
export type ThrownKind =
  /** A processor hook threw (`validateBatch`, `onBatchStart`, `onItemError`): the processor's error. */
  | 'hook'
  /** The module's own statements met a database error that passes (a lost connection, a restart). */
  | 'database-passing'
  /** The batch was taken over by another run (`LeaseLostError`). */
  | 'lease-lost'
  /** The run was stopped (`ProcessingStoppedError`). */
  | 'stopped'
  /** Anything else: a database error that does not pass, a bug. */
  | 'other';

/** What happened to a run so far. */
export interface RunFacts {
  /** `validateBatch` refused the batch, and the run ended it failed with the reasons. */
  refused: boolean;
  /** Why the run's signal was aborted; null while it is not. */
  stopCause: StopCause | null;
  /** A failed item stopped the batch (`continueOnError: false`, or `onItemError` said abort). */
  failureDecided: boolean;
  /**
   * The attempt to end the batch: not tried yet; this run ended it; it did not (another run ended it, or
   * holds items and will); or the wait for the other runs was cut short by the signal.
   */
  endAttempt: 'not-tried' | 'ended' | 'not-ended' | 'interrupted';
  /** What the run threw, and whether a lane threw it (the items' part of the run); null when nothing. */
  thrown: { kind: ThrownKind; inLanes: boolean } | null;
}

/**
 * What the run does next. Every value but `try-to-end` ends the run:
 * - `refused`: the batch failed validation; return its summary.
 * - `finished`: this run ended the batch; call `onBatchComplete`, return the summary.
 * - `left-to-others`: another run ended the batch, or holds items and will; give the batch back, return
 *   the summary.
 * - `stopped`: the application shuts down; give everything back, throw `ProcessingStoppedError`.
 * - `lease-lost`: another run took the batch over; throw `LeaseLostError`.
 * - `given-back`: the database failed in a way that passes; give everything back, throw
 *   `ProcessingInterruptedError`, and the next run goes on.
 * - `abandoned`: a hook threw, or the database failed for good; fail the batch with the reason, rethrow.
 */
export type RunEnding =
  | 'try-to-end'
  | 'refused'
  | 'finished'
  | 'left-to-others'
  | 'stopped'
  | 'lease-lost'
  | 'given-back'
  | 'abandoned';

const BY_STOP_CAUSE: Record<StopCause, RunEnding> = {
  shutdown: 'stopped',
  'lease-lost': 'lease-lost',
  'ended-elsewhere': 'left-to-others',
};

/** The run's next step, from its facts. Pure: no database, no clock. */
export function decideEnding(facts: RunFacts): RunEnding {
  const { thrown } = facts;
  if (thrown !== null) {
    if (thrown.kind === 'stopped') return 'stopped';
    if (thrown.kind === 'lease-lost') return 'lease-lost';
    if (thrown.kind !== 'database-passing') return 'abandoned';
    // A stop already decided wins over losing the database in another lane: the run goes on to end
    // the batch failed, as far as the database answers, as if nothing had been thrown.
    if (!thrown.inLanes || !facts.failureDecided) return 'given-back';
  }
  if (facts.refused) return 'refused';
  if (facts.endAttempt === 'ended') return 'finished';
  if (facts.endAttempt === 'not-ended') return 'left-to-others';
  // Only the signal cuts the wait for the other runs short.
  if (facts.endAttempt === 'interrupted') return BY_STOP_CAUSE[facts.stopCause ?? 'shutdown'];
  // A decided stop is carried out even while the application shuts down: it fails the batch.
  if (facts.stopCause !== null && !facts.failureDecided) return BY_STOP_CAUSE[facts.stopCause];
  return 'try-to-end';
}
