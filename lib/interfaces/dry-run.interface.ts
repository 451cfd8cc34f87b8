import type { ITEM_STATUS } from '../statuses';

/** What a dry run found a row would become. */
export type DryRunOutcome =
  typeof ITEM_STATUS.completed | typeof ITEM_STATUS.failed | typeof ITEM_STATUS.skipped;

/** The verdict of the last dry run that tried a row (`ImportItem.dryRun`). */
export interface DryRunVerdict {
  outcome: DryRunOutcome;
  /** Why it would fail, or the reason it would be skipped; null when it would complete. */
  error: string | null;
  /** When the verdict was stored. */
  at: Date;
}

/** A row a dry run found would fail. */
export interface DryRunFailure {
  itemId: string;
  itemIndex: number;
  /** The row's line in its source file, when it came from one. */
  sourceLine: number | null;
  /** Why it would fail, as a real run would store it (`ImportItem.errorMessage`). */
  reason: string;
  /** The error's code, as a real run would store it (`errorDetails.code`): a SQLSTATE, `VALIDATION_FAILED`... */
  errorCode: string | null;
}

/**
 * What a dry run found: how many of the rows it tried (the batch's pending rows) would complete, fail or
 * be skipped, and the first failures. Nothing was applied: every transaction was rolled back.
 */
export interface DryRunSummary {
  batchId: string;
  /** The rows tried: the batch's pending rows, in order. */
  total: number;
  wouldComplete: number;
  wouldFail: number;
  wouldSkip: number;
  /**
   * Set when `validateBatch` refused the batch (or a batch hook threw): a real run would fail the batch
   * before its first row, so no row was tried. Null otherwise.
   */
  batchRefused: string | null;
  /** The first 100 rows that would fail, in order; every verdict is stored on its row too. */
  failures: DryRunFailure[];
  /** True when more rows would fail than `failures` lists (`getItems` reads each row's verdict). */
  failuresTruncated: boolean;
}
