import type { BatchStatus } from '../statuses';
import type { DryRunSummary } from './dry-run.interface';

/** Where a batch stands, counted from its items at the time of the call. */
export interface BatchSummary {
  batchId: string;
  batchType: string;
  status: BatchStatus;
  parentBatchId: string | null;
  totalItems: number;
  pendingItems: number;
  processingItems: number;
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  /** Rows no run took before the batch was cancelled or rejected (status `cancelled`). */
  cancelledItems: number;
  errorMessage: string | null;
  startedAt: Date | null;
  completedAt: Date | null;
  /** From `startedAt` to `completedAt` (or to now while the batch runs); null before it starts. */
  durationMs: number | null;
  /** Terminal items per second over `durationMs`; null before the batch starts. */
  itemsPerSecond: number | null;
  /** What a dry run found: set only by `processBatch(id, { dryRun: true })` and `import` with `dryRun`. */
  dryRun?: DryRunSummary;
}
