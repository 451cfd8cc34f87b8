import type { ImportLogger } from '../interfaces/import-context.interface';
import type { LogLevel } from '../interfaces/statuses.interface';
import { isJsonProblem, serializeJsonValue } from '../utils/source-data.util';

/**
 * Collects log entries in memory until they are written with the statement that records the item's
 * outcome. An item's entries therefore survive its rollback and cost no round trip of their own.
 */
export class LogBuffer implements ImportLogger {
  private entries: string[] = [];

  get size(): number {
    return this.entries.length;
  }

  debug(message: string, details?: Record<string, unknown>): void {
    this.add('debug', message, details);
  }

  info(message: string, details?: Record<string, unknown>): void {
    this.add('info', message, details);
  }

  warn(message: string, details?: Record<string, unknown>): void {
    this.add('warn', message, details);
  }

  error(message: string, details?: Record<string, unknown>): void {
    this.add('error', message, details);
  }

  /** The entries as one JSON array, the parameter of the log-writing statements. */
  toJson(): string {
    return `[${this.entries.join(',')}]`;
  }

  /** Forgets the entries, once they are written. */
  clear(): void {
    this.entries = [];
  }

  /** `toJson()`, then `clear()`. */
  drain(): string {
    const json = this.toJson();
    this.clear();
    return json;
  }

  private add(level: LogLevel, message: string, details?: Record<string, unknown>): void {
    let detailsJson = 'null';
    if (details !== undefined) {
      const serialized = serializeJsonValue(details, 'details');
      // A log call must never fail the item it describes: unstorable details are replaced by the reason.
      detailsJson = isJsonProblem(serialized)
        ? JSON.stringify({ unstorableDetails: `${serialized.path} ${serialized.problem}` })
        : serialized;
    }
    const text = String(message).replaceAll('\u0000', '\uFFFD');
    this.entries.push(
      `{"level":"${level}","message":${JSON.stringify(text)},"details":${detailsJson},"created_at":"${new Date().toISOString()}"}`,
    );
  }
}
