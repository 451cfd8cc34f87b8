import type { LogLevel } from '../statuses';

/**
 * One audit-log entry as the JSON object that the log statements read (`logRecordset`). Every entry the
 * module writes is encoded here; `detailsJson` is JSON text already made storable (`storableDetailsJson`), or `null`; the time is now.
 */
export function logEntryJson(level: LogLevel, message: string, detailsJson: string): string {
  return `{"level":${JSON.stringify(level)},"message":${JSON.stringify(message)},"details":${detailsJson},"created_at":"${new Date().toISOString()}"}`;
}
