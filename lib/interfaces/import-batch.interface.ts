import type { BatchStatus } from '../statuses';

/** JSON object stored with a batch (`source_info`, `metadata`). */
export type JsonObject = { [key: string]: unknown };

/** A stored batch, as returned by `BatchService`. */
export interface ImportBatch {
  id: string;
  batchType: string;
  status: BatchStatus;
  /** Where the items came from (file name, uploader, ...), as given to `createBatch`. */
  sourceInfo: JsonObject;
  metadata: JsonObject;
  idempotencyKey: string | null;
  /** The batch this one reprocesses, for a batch made by `reprocessBatch`. */
  parentBatchId: string | null;
  /**
   * The column names of the source in their order: a CSV's header, or the first item's keys. A failures
   * export writes its columns in this order.
   */
  sourceColumns: string[] | null;
  totalItems: number;
  /** Item counters, brought up to date whenever a processing run ends. `getBatchSummary` counts live. */
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  /** Rows no run took before the batch was cancelled or rejected. */
  cancelledItems: number;
  /** Why the batch failed, when it did. */
  errorMessage: string | null;
  /** How many times a processing run was started on this batch after its first. */
  retryCount: number;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  /** The worker holding the batch, while one does. */
  lockedBy: string | null;
  lockedUntil: Date | null;
}
