/** Lifecycle of a batch: `pending → processing → completed | completed_with_errors | failed`. */
export type BatchStatus =
  'pending' | 'processing' | 'completed' | 'completed_with_errors' | 'failed';

/** Lifecycle of an item: `pending → processing → completed | failed | skipped`. */
export type ItemStatus = 'pending' | 'processing' | 'completed' | 'failed' | 'skipped';

/** Severity of an audit-log entry. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
