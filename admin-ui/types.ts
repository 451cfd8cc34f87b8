// The server's answers as JSON gives them (dates as ISO strings): see lib/interfaces/ for their meaning.

export type BatchStatus =
  | 'pending'
  | 'processing'
  | 'completed'
  | 'completed_with_errors'
  | 'failed'
  | 'paused'
  | 'cancelled'
  | 'awaiting_approval'
  | 'rejected';

export interface ImportBatch {
  id: string;
  batchType: string;
  status: BatchStatus;
  sourceInfo: Record<string, unknown>;
  parentBatchId: string | null;
  sourceColumns: string[] | null;
  totalItems: number;
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  cancelledItems: number;
  errorMessage: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

export interface BatchProgress {
  batchId: string;
  status: BatchStatus;
  totalItems: number;
  completed: number;
  failed: number;
  skipped: number;
  done: number;
  percent: number;
  itemsPerSecond: number | null;
  etaMs: number | null;
  errorMessage: string | null;
}

export interface LineageBatch {
  batchId: string;
  parentBatchId: string | null;
  status: BatchStatus;
  createdAt: string;
  depth: number;
  totalItems: number;
  completedItems: number;
  failedItems: number;
  skippedItems: number;
  pendingItems: number;
}

export interface BatchLineage {
  rootBatchId: string;
  batchType: string;
  totalRows: number;
  completedFirstTime: number;
  resolved: number;
  unresolved: number;
  notProcessed: number;
  batches: LineageBatch[];
}

/** `GET batches/:id`, and the data of the `batch` event of `GET batches/:id/stream`. */
export interface BatchView {
  /** When the server began the reading (ISO 8601): of two readings, the page keeps the newer. */
  readAt: string;
  batch: ImportBatch;
  lineage: BatchLineage;
  progress?: Record<string, BatchProgress>;
}

/** A batch of `GET batches/stream`: with its progress while it is pending or running. */
export type ListedBatch = ImportBatch & { progress?: BatchProgress | null };

export interface FailedRow {
  itemId: string;
  batchId: string;
  itemIndex: number;
  line: number | null;
  status: string;
  reasons: string[];
  errorCode: string | null;
  rawLine: string | null;
  data: Record<string, unknown>;
  corrected: boolean;
}

export interface LogEntry {
  id: string;
  level: string;
  message: string;
  createdAt: string;
}

export interface CorrectionsResult {
  corrected: number;
  unchanged: number;
}
