import type { EntityManager } from 'typeorm';
import type { ImportBatch } from './import-batch.interface';
import type { ImportItem } from './import-item.interface';

/**
 * Writes to the audit log (`import_logs`). An item's entries are kept even when its transaction rolls
 * back, so a failure can be explained afterwards.
 *
 * A call never throws and never fails the item: a message PostgreSQL cannot store (a NUL, half of a
 * character) is stored with U+FFFD in its place and the original, JSON-escaped, in
 * `details.originalMessage`; messages are cut at 10,000 characters; details that JSON cannot hold
 * (cycles, BigInt, a getter that throws) or over 100,000 characters of JSON are replaced by
 * `{ unstorableDetails: <why> }`.
 */
export interface ImportLogger {
  debug(message: string, details?: Record<string, unknown>): void;
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/** How `ctx.query` and `ctx.queryOne` run a statement. */
export interface QueryOptions {
  /**
   * Run it as a named prepared statement: PostgreSQL parses and plans it once per connection instead of
   * at every row (for an upsert of a dozen columns, a tenth of a millisecond a row). Only for a text that
   * never changes (values go in `params`): each distinct text is kept prepared on every connection of the
   * pool, and past 500 distinct texts in a process new ones run unprepared, with one warning. Ignored when
   * the module's `preparedStatements` is off (behind PgBouncer before 1.21 in transaction mode) and on
   * PGlite.
   * @default false
   */
  prepare?: boolean;
}

/** What the batch-level hooks (`validateBatch`, `onBatchStart`, `onBatchComplete`, `onItemError`) get. */
export interface BatchContext {
  /** The batch being processed. */
  readonly batch: ImportBatch;
  /** The audit log of this batch. */
  readonly log: ImportLogger;
  /**
   * For a batch made by `reprocessBatch`: the id of the first batch of the chain, the one the data was
   * imported with. Null for a batch that reprocesses nothing.
   */
  readonly originalBatchId: string | null;
  /**
   * Runs a statement and returns its rows, whatever the statement (SELECT, or INSERT/UPDATE/DELETE with
   * RETURNING; an empty array without RETURNING). Values go in `params` as `$1`, `$2`, ... A statement
   * run at every row may be prepared: `ctx.query(UPSERT, values, { prepare: true })`.
   */
  query<TRow = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<TRow[]>;
  /** Like `query`, returning the first row, or null when there is none. */
  queryOne<TRow = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<TRow | null>;
  /** Stores a value shared by every hook and item of this processing run. */
  set(key: string, value: unknown): void;
  /** Reads a value stored with `set`. */
  get<TValue = unknown>(key: string): TValue | undefined;
  /**
   * Aborted when the item passes its time limit (`itemTimeoutMs`; in item hooks), or this processing run
   * must stop: its lease on the batch was lost (another worker took the batch over), another run ended the
   * batch, or the application is shutting down. Pass it to long calls (`fetch(url, { signal })`).
   */
  readonly signal: AbortSignal;
  /** True when the batch was made by `reprocessBatch`. */
  isReprocess(): boolean;
  /**
   * True in a dry run (`dryRunBatch`, `processBatch(id, { dryRun: true })`): whatever the hooks write
   * through `query`, `queryOne` and `manager` is rolled back, and nothing of the item is recorded but its
   * verdict. What they do outside the database is not undone: skip sending e-mails or calling other
   * services when it is true.
   */
  isDryRun(): boolean;
}

/**
 * What `validateItem` and `processItem` get: the batch context, plus the item and its transaction.
 * `query`, `queryOne` and `manager` all run inside the item's own transaction.
 */
export interface ImportContext<TSource = Record<string, unknown>> extends BatchContext {
  /** The item being processed. */
  readonly item: ImportItem<TSource>;
  /** The EntityManager of this item's transaction: what it writes commits or rolls back with the item. */
  readonly manager: EntityManager;
  /**
   * Marks the item `skipped` with the given reason and stops processing it; its writes are rolled back.
   * Use it as `return ctx.skip('already imported')`.
   */
  skip(reason: string): never;
}
