import type { BatchStatus } from '../statuses';
import type { ScrubReport } from './scrubbing.interface';

/**
 * How long ended batches and audit logs are kept, in days: the `retention` option of `forRoot` (for every
 * batch type) and of `@ImportProcessor()` (for its own type, key by key over the module's). A key left out
 * keeps those batches (or logs) forever. A tree of batches (a first batch and its reprocesses) is removed
 * as a whole, once every batch of it is past the days of its status; a tree with a batch that may still
 * run is never removed, and one with unresolved rows only with `includeUnresolved`.
 */
export interface RetentionPolicy {
  /** Days a `completed` batch is kept after it ended (from 0 to 36500). */
  completedDays?: number;
  /** Days a `completed_with_errors` batch is kept after it ended. */
  completedWithErrorsDays?: number;
  /** Days a `failed` batch is kept after it ended. */
  failedDays?: number;
  /** Days a `cancelled` batch is kept after it ended. */
  cancelledDays?: number;
  /** Days a `rejected` batch is kept after it ended. */
  rejectedDays?: number;
  /**
   * Days an audit-log entry of a batch that is kept is kept (entries of a removed batch go with it).
   */
  logsDays?: number;
  /**
   * Whether a tree with rows that never completed (failed, skipped, cancelled, or left pending, with no
   * copy that completed) is removed too. A cancelled or rejected batch holds such rows by definition.
   * @default false
   */
  includeUnresolved?: boolean;
}

/** The module's `retention` option: the policy of every batch type, and how the worker applies it. */
export interface RetentionOptions extends RetentionPolicy {
  /**
   * How often the background worker (`worker.enabled`) applies retention, in milliseconds; one instance
   * at a time across processes (a PostgreSQL advisory lock). From 1000 to 604800000 (a week).
   * @default 3600000 (an hour)
   */
  intervalMs?: number;
  /**
   * The most batches one slice removes: each slice is one short transaction (whole trees; a slice also
   * stops at 50,000 rows, but always takes one tree). From 1 to 10000.
   * @default 100
   */
  sliceSize?: number;
}

/** Retention options after defaults were applied. */
export type ResolvedRetentionOptions = RetentionPolicy &
  Required<Pick<RetentionOptions, 'intervalMs' | 'sliceSize' | 'includeUnresolved'>>;

/** Options of `BatchService.pruneImports`. */
export interface PruneImportsOptions {
  /** Trees whose every batch ended before this moment are removed (and only those). */
  olderThan: Date;
  /**
   * The statuses a tree's batches must all have: ended statuses only.
   * @default every ended status (completed, completed_with_errors, failed, cancelled, rejected)
   */
  statuses?: BatchStatus[];
  /** Only trees of these batch types. @default every type */
  batchTypes?: string[];
  /**
   * Also trees with rows that never completed (see `RetentionPolicy.includeUnresolved`).
   * @default false
   */
  includeUnresolved?: boolean;
  /**
   * Reports what would be removed, and removes nothing: each slice runs as it would and is rolled back.
   * @default false
   */
  dryRun?: boolean;
  /**
   * The most batches one slice (one transaction) removes; see `RetentionOptions.sliceSize`.
   * @default the module's `retention.sliceSize` (100)
   */
  sliceSize?: number;
}

/** Options of `BatchService.pruneLogs`. */
export interface PruneLogsOptions {
  /** Audit-log entries written before this moment are removed. */
  olderThan: Date;
  /** Only entries of batches of these types. @default every type */
  batchTypes?: string[];
  /** Counts, and removes nothing. @default false */
  dryRun?: boolean;
}

/** Options of `BatchService.applyRetention`. */
export interface ApplyRetentionOptions {
  /** Says what it would remove, and removes nothing. @default false */
  dryRun?: boolean;
}

/** What `pruneImports` removed (or, in a dry run, would remove). */
export interface PruneReport {
  dryRun: boolean;
  /** Trees (a first batch and its reprocesses) removed. */
  trees: number;
  /** Batches removed, and by status. */
  batches: number;
  batchesByStatus: Partial<Record<BatchStatus, number>>;
  /** Rows (items) removed with them. */
  items: number;
  /** Audit-log entries removed with them. */
  logs: number;
  /** Progress counter rows removed with them. */
  progressRows: number;
  /** Transactions it ran, each removing at most `sliceSize` batches. */
  slices: number;
  /**
   * Trees old enough that were kept: one of their batches may still run (`live`), they hold unresolved
   * rows (`unresolved`), or another pruner or a reprocess held them (`busy`: the next run sees them again).
   */
  kept: { live: number; unresolved: number; busy: number };
}

/** What `pruneLogs` removed (or would remove). */
export interface PruneLogsReport {
  dryRun: boolean;
  /** Audit-log entries removed. */
  logs: number;
  /** Transactions it ran. */
  slices: number;
}

/** What one application of the configured retention did: per policy (the module's, each processor's). */
export interface RetentionReport {
  dryRun: boolean;
  /** False when another instance was applying retention (it ran nothing). */
  ran: boolean;
  /**
   * The policies applied (the module's, each processor's retention and scrub); 0 when none is configured.
   */
  policies: number;
  batches: PruneReport;
  logs: PruneLogsReport;
  /** The personal data scrubbed by the processors' `scrub` options. */
  scrubbed: ScrubReport;
}
