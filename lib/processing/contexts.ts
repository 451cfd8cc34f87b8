import type { EntityManager, QueryRunner } from 'typeorm';
import type { BaseProcessor } from '../base-processor';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type {
  BatchContext,
  ImportContext,
  QueryOptions,
} from '../interfaces/import-context.interface';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { RunTelemetry } from '../telemetry/run-telemetry';
import type { DatabaseAdapter } from './database-adapter';
import { LogBuffer } from './log-buffer';
import { markOwnConnectionError } from './own-connection-errors';

// The implementations of the contexts a processor's hooks are given, and the run state they share; the
// types users see are in interfaces/import-context.interface.ts.

/** Thrown by `ctx.skip()`; caught by the item runner, never seen by users. */
export class SkipItemSignal {
  constructor(readonly reason: string) {}
}

/** What every context of one processing run shares. */
export interface RunState {
  readonly batch: ImportBatch;
  readonly processor: BaseProcessor<object, object | void>;
  /** The run's id as the holder of its claims: every write it makes is fenced by it. */
  readonly workerId: string;
  readonly originalBatchId: string | null;
  readonly database: DatabaseAdapter;
  readonly shared: Map<string, unknown>;
  /** Aborted when the run loses its lease or the application shuts down. */
  readonly signal: AbortSignal;
  /** The run's span (the parent of its rows') and metrics; `RunTelemetry.off` in a dry run. */
  readonly telemetry: RunTelemetry;
  /** The time limit of one item's `validateItem` and `processItem`. */
  readonly itemTimeoutMs: number;
  /** How many times an item is tried when the database fails in a way that passes. */
  readonly maxAttempts: number;
  /** How long an item in flight may go on once `signal` is aborted, before it is given up. */
  readonly stopGraceMs: number;
  /**
   * A dry run (`dry-run.ts`): every transaction is rolled back, and no outcome, log or lease is written;
   * the item runner returns the outcome it would have recorded.
   */
  readonly dryRun?: boolean;
}

/** The context of the batch-level hooks. Its statements run outside any item transaction. */
export class BatchContextImpl implements BatchContext {
  constructor(
    protected readonly run: RunState,
    readonly log: LogBuffer = new LogBuffer(),
  ) {}

  get batch(): ImportBatch {
    return this.run.batch;
  }

  get originalBatchId(): string | null {
    return this.run.originalBatchId;
  }

  get signal(): AbortSignal {
    return this.run.signal;
  }

  query<TRow = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    options?: QueryOptions,
  ): Promise<TRow[]> {
    return this.run.database.queryAutocommit<TRow>(sql, params, options);
  }

  async queryOne<TRow = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    options?: QueryOptions,
  ): Promise<TRow | null> {
    const rows = await this.query<TRow>(sql, params, options);
    return rows[0] ?? null;
  }

  set(key: string, value: unknown): void {
    this.run.shared.set(key, value);
  }

  get<TValue = unknown>(key: string): TValue | undefined {
    return this.run.shared.get(key) as TValue | undefined;
  }

  isReprocess(): boolean {
    return this.run.batch.parentBatchId !== null;
  }

  isDryRun(): boolean {
    return this.run.dryRun === true;
  }
}

/**
 * The context of the batch-level hooks of a dry run: its statements run in the transaction the dry run
 * rolls back, as an item's do.
 */
export class DryRunBatchContext extends BatchContextImpl {
  constructor(
    run: RunState,
    private readonly transaction: QueryRunner,
  ) {
    super(run);
  }

  override query<TRow = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    options?: QueryOptions,
  ): Promise<TRow[]> {
    return this.run.database.query<TRow>(this.transaction, sql, params, options);
  }
}

/** The context of `validateItem` and `processItem`, bound to the item's transaction. */
export class ItemContextImpl<TSource> extends BatchContextImpl implements ImportContext<TSource> {
  constructor(
    run: RunState,
    readonly item: ImportItem<TSource>,
    private readonly transaction: QueryRunner,
    log: LogBuffer,
    private readonly itemSignal: AbortSignal,
  ) {
    super(run, log);
  }

  /** Aborted, in addition, when this item's time limit passes. */
  override get signal(): AbortSignal {
    return this.itemSignal;
  }

  override async query<TRow = Record<string, unknown>>(
    sql: string,
    params: readonly unknown[] = [],
    options?: QueryOptions,
  ): Promise<TRow[]> {
    try {
      return await this.run.database.query<TRow>(this.transaction, sql, params, options);
    } catch (error) {
      // A prepared statement does not go through the transaction's query, which marks the others.
      markOwnConnectionError(error);
      throw error;
    }
  }

  get manager(): EntityManager {
    return this.transaction.manager;
  }

  skip(reason: string): never {
    // Not an Error on purpose: a processor's catch-all that wraps errors must not turn a skip into a failure.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw new SkipItemSignal(reason);
  }
}
