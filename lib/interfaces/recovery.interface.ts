import type { BatchStatus, ItemStatus } from '../statuses';

/** The formats of a failures export and of a corrections file. */
export type RecoveryFileFormat = 'csv' | 'jsonl';

/** How a correction changes a row: `replace` stores the data given; `merge` changes only the fields given. */
export type CorrectionMode = 'replace' | 'merge';

/** Options of `BatchService.exportFailures()`. */
export interface ExportFailuresOptions {
  /** @default 'csv' */
  format?: RecoveryFileFormat;
}

/** Filter of `BatchService.getFailures()`. In source order. */
export interface GetFailuresFilter {
  /** Also list failed rows that a reprocess has since completed (with `resolvedBy`). @default false */
  includeResolved?: boolean;
  /** @default 1000 */
  limit?: number;
  /** @default 0 */
  offset?: number;
}

/**
 * A row of a batch's tree that failed or was skipped, as its newest copy stands: what to correct.
 * `TSource` is the shape of its data.
 */
export interface FailedRow<TSource = Record<string, unknown>> {
  /** The newest copy of the row: the item a correction is stored on. */
  itemId: string;
  /** The batch that holds the newest copy. */
  batchId: string;
  /** The row's index in the tree's first batch, from 0. */
  itemIndex: number;
  /** The row's line in the source file (the header of a CSV is line 1); null when it came from no file. */
  line: number | null;
  status: ItemStatus;
  /** Why it failed or was skipped: the validation reasons, or the one message. */
  reasons: string[];
  /** The failure's code (`VALIDATION_FAILED`, `MALFORMED_LINE`, a SQLSTATE...), when there is one. */
  errorCode: string | null;
  /** The text of a line that could not be read as a row (`errorCode` `MALFORMED_LINE`); else null. */
  rawLine: string | null;
  /** The data a reprocess would use now: the correction when there is one, else the source data. */
  data: TSource;
  corrected: boolean;
  /** The batch in which a later copy of the row completed; null while the row is unresolved. */
  resolvedBy: string | null;
}

/**
 * A correction of one row, found by the id of any of its copies or by its line in the source file.
 * `data` is the whole row (`replace`) or the fields to change (`merge`).
 */
export interface ItemCorrection<TSource extends object = Record<string, unknown>> {
  itemId?: string;
  /** The row's line in the source file of the tree's first batch (as in the failures export). */
  line?: number;
  data: Partial<TSource>;
  /** Where the correction was read from (its line in a corrections file), named in errors. */
  fileLine?: number;
  /** Set by `readCorrections` for a line it could not read: the whole set is refused with this reason. */
  problem?: string;
}

/** Options of `BatchService.correctItems()` and `correctItem()`. */
export interface CorrectItemsOptions {
  /** @default 'replace' */
  mode?: CorrectionMode;
}

/** What `correctItems` stored. */
export interface CorrectionsResult {
  /** The first batch of the tree the rows belong to. */
  rootBatchId: string;
  /** How many rows were corrected (each audited in the log with its old and new data). */
  corrected: number;
  /**
   * How many corrections would have left their row as it stands (a file that gives back every row, of
   * which only some were fixed): they are not stored, nor audited.
   */
  unchanged: number;
}

/** A batch of a tree, with the counts of its items. */
export interface LineageBatch {
  batchId: string;
  parentBatchId: string | null;
  status: BatchStatus;
  createdAt: Date;
  /** 0 for the first batch, 1 for its reprocesses, ... */
  depth: number;
  totalItems: number;
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  pendingItems: number;
}

/**
 * Where the rows of a tree of batches stand (the first batch and its reprocesses, one ledger): each source
 * row is completed the first time, resolved by a reprocess, unresolved (its newest copy failed or was
 * skipped), or not processed yet. The four counts add up to `totalRows`.
 */
export interface BatchLineage {
  rootBatchId: string;
  batchType: string;
  totalRows: number;
  completedFirstTime: number;
  /** Completed by a reprocess; per batch in `batches[].completedItems`. */
  resolved: number;
  unresolved: number;
  /** Pending or being processed (in a running batch, or left by a stop). */
  notProcessed: number;
  /** The tree, the first batch first, then each batch's reprocesses in the order they were made. */
  batches: LineageBatch[];
}
