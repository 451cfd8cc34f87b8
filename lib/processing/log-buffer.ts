import type { ImportLogger } from '../interfaces/import-context.interface';
import { LOG_LEVEL, type LogLevel } from '../statuses';
import { logEntryJson } from './log-entry';
import { storableDetailsJson, storableText, TEXT_LIMITS } from '../utils/storable-text.util';

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
    this.add(LOG_LEVEL.debug, message, details);
  }

  info(message: string, details?: Record<string, unknown>): void {
    this.add(LOG_LEVEL.info, message, details);
  }

  warn(message: string, details?: Record<string, unknown>): void {
    this.add(LOG_LEVEL.warn, message, details);
  }

  error(message: string, details?: Record<string, unknown>): void {
    this.add(LOG_LEVEL.error, message, details);
  }

  /** The entries as one JSON array, the parameter of the log-writing statements. */
  toJson(): string {
    return `[${this.entries.join(',')}]`;
  }

  /** Forgets the entries, once they are written. */
  clear(): void {
    this.entries = [];
  }

  /** Forgets the entries added after the first `size`: what a try that must leave no trace logged. */
  truncate(size: number): void {
    this.entries.length = Math.min(this.entries.length, size);
  }

  /** `toJson()`, then `clear()`. */
  drain(): string {
    const json = this.toJson();
    this.clear();
    return json;
  }

  /**
   * Never throws, whatever a processor passes (it may be plain JavaScript): the message is made storable
   * (its original kept escaped in `details.originalMessage` when it had to change), and details JSON
   * cannot hold are described.
   */
  private add(level: LogLevel, message: unknown, details?: unknown): void {
    const text = storableText(message, TEXT_LIMITS.logMessage);
    let detailsJson = details === undefined ? 'null' : storableDetailsJson(details);
    if (text.original !== undefined) detailsJson = withOriginalMessage(detailsJson, text.original);
    this.entries.push(logEntryJson(level, text.text, detailsJson));
  }
}

/**
 * Adds `originalMessage` to details given as JSON text. It goes last in an object: jsonb keeps the last
 * of duplicate keys, so a processor's key of the same name cannot hide it. Details that are not an object
 * are nested under `details`.
 */
function withOriginalMessage(detailsJson: string, original: string): string {
  const entry = `"originalMessage":${JSON.stringify(original)}`;
  if (detailsJson === 'null') return `{${entry}}`;
  if (!detailsJson.startsWith('{')) return `{${entry},"details":${detailsJson}}`;
  return detailsJson === '{}' ? `{${entry}}` : `${detailsJson.slice(0, -1)},${entry}}`;
}
