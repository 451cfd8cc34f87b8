import type { LogLevel } from '../statuses';

/** An entry of the audit log (`import_logs`). */
export interface ImportLogEntry {
  /** A bigserial, returned as a string so that no precision is lost. */
  id: string;
  batchId: string;
  itemId: string | null;
  level: LogLevel;
  message: string;
  details: Record<string, unknown> | null;
  createdAt: Date;
}
