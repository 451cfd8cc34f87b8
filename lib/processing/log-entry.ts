import type { LogLevel } from '../statuses';

/**
 * One audit-log entry as the JSON object that the log statements read (`logRecordset`). Every entry the
 * module writes is encoded here; `detailsJson` is JSON text already made storable (`storableDetailsJson`).
 */
export function logEntryJson(
  level: LogLevel,
  message: string,
  detailsJson: string = 'null',
  createdAt: Date = new Date(),
): string {
  return `{"level":${JSON.stringify(level)},"message":${JSON.stringify(message)},"details":${detailsJson},"created_at":"${createdAt.toISOString()}"}`;
}
