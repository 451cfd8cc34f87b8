import type { BatchStatus } from '../statuses';

/**
 * How far a batch is, read by `getProgress` and yielded by `watchBatch`: cheap enough to poll every second
 * on a batch of a million rows while it runs.
 *
 * The done counts come from counters that the statement recording each row's outcome writes with it (so
 * they cannot drift from the rows' statuses, whichever process or machine runs the batch); the rows in
 * flight and cancelled are counted on an index of the claims; `pending` is what is left. All figures are
 * read in one statement, so they add up: `done + inFlight + pending + cancelled = totalItems`.
 */
export interface BatchProgress {
  batchId: string;
  status: BatchStatus;
  totalItems: number;
  /** Rows applied. */
  completed: number;
  /** Rows that failed (a resume that puts corrected failed rows back to pending takes them back out). */
  failed: number;
  /** Rows the processor skipped. */
  skipped: number;
  /** Rows no run took before the batch was cancelled or rejected. */
  cancelled: number;
  /** Rows a run has claimed and not finished yet (status `processing`). */
  inFlight: number;
  /** Rows no run has claimed yet: `totalItems - done - inFlight - cancelled`. */
  pending: number;
  /** `completed + failed + skipped`: rows with an outcome. */
  done: number;
  /**
   * `done` as a percentage of `totalItems`, rounded down to one decimal (so 100 means every row is done);
   * 100 for a batch without rows.
   */
  percent: number;
  /**
   * Rows done per second over the last minute: the outcomes recorded in the last six 10-second buckets
   * (the current one and the five before it), divided by the seconds from the start of the oldest of them
   * (or from the batch's start, when later) to now — for an ended batch, to its end. Two decimals. 0 when
   * nothing was recorded in that minute (a paused or stalled batch); null before the batch has started
   * and in its first second.
   */
  itemsPerSecond: number | null;
  /**
   * Milliseconds until every row left (pending and in flight) is done at `itemsPerSecond`; 0 when none is
   * left. Null when the batch is not running or waiting to (ended, paused, awaiting approval) or when there
   * is no rate to go by (`itemsPerSecond` null or 0).
   */
  etaMs: number | null;
  startedAt: Date | null;
  completedAt: Date | null;
  /** Why the batch failed, was paused or was cancelled, when it says. */
  errorMessage: string | null;
  /** The database's time of the reading (its `now()`), which the rate is measured to. */
  measuredAt: Date;
}

/** How `watchBatch` polls. */
export interface WatchBatchOptions {
  /**
   * The time between two readings, in milliseconds (a whole number from 10 to 3,600,000).
   * @default 1000
   */
  intervalMs?: number;
}
