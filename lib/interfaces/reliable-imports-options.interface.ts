import type { ErrorBudget, ProcessBatchOptions } from './batch-options.interface';
import type { ResolvedRetentionOptions, RetentionOptions } from './retention.interface';

/**
 * Options of `ReliableImportsModule.forRoot()` / `forRootAsync()`.
 *
 * They are validated once at bootstrap: an unknown key or an invalid value fails the application start
 * with a message that says how to fix it.
 */
export interface ReliableImportsModuleOptions extends ErrorBudget {
  /**
   * Whether a batch goes on with its next item after one fails. When false, the first failure stops the
   * batch: it becomes `failed` and the items not yet processed stay `pending`.
   * A processor may override it with `@ImportProcessor({ continueOnError })`.
   * @default true
   */
  continueOnError?: boolean;
  /**
   * How long a claim on a batch or an item lasts without being renewed, in milliseconds. A worker that
   * dies holds its claims at most this long.
   * @default 30000
   */
  leaseMs?: number;
  /**
   * How many times an item is tried when it fails with a transient error (serialization failure,
   * deadlock, lost connection, or a `RetryableImportError` thrown by the processor). Any other error fails
   * the item at once. 1 means no retry.
   * @default 3
   */
  maxAttempts?: number;
  /**
   * The wait before the first retry, in milliseconds; it doubles with each further attempt, with random
   * jitter, up to `maxRetryDelayMs`.
   * @default 100
   */
  retryDelayMs?: number;
  /**
   * The longest wait between two attempts, in milliseconds.
   * @default 5000
   */
  maxRetryDelayMs?: number;
  /**
   * The longest an item's `validateItem` and `processItem` may take, in milliseconds. When it passes, the
   * item's `ctx.signal` is aborted, its statement in flight is cancelled, its transaction rolled back and
   * the attempt recorded as failed with the code `ITEM_TIMEOUT`; the run goes on with the other items. A
   * processor (`@ImportProcessor({ itemTimeoutMs })`) and a run (`processBatch(id, { itemTimeoutMs })`)
   * may override it. From 100 to 86400000 (a day).
   * @default 300000 (five minutes)
   */
  itemTimeoutMs?: number;
  /**
   * Whether a failed item's `errorDetails` (and its log entry) keep the error's stack. Off by default: a
   * stack holds absolute paths of the server, and whoever reads the failures (an API that returns them,
   * an export) would see them. A validation failure never has one.
   * @default false
   */
  storeErrorStacks?: boolean;
  /**
   * Whether the application start checks that the import tables exist and the newest of
   * `reliableImportsMigrations` was applied, and fails, naming the migration to run, when not. Turn it off
   * only in a tool that runs the migrations itself after starting (as `reliable-imports migrate` does).
   * @default true
   */
  checkSchema?: boolean;
  /**
   * Whether every new batch waits for an operator: it is stored `awaiting_approval`, and no run takes it
   * (neither `processBatch` nor the worker of any instance) until `approveBatch(id)`; `rejectBatch(id,
   * reason)` ends it. A processor (`@ImportProcessor({ requireApproval })`) and a call
   * (`createBatch(type, items, { requireApproval })`) may override it. A reprocess never waits.
   * @default false
   */
  requireApproval?: boolean;
  /**
   * What stands between the application and PostgreSQL, for what a pooler cannot carry: LISTEN/NOTIFY.
   * - `'detect'`: where the module listens (the worker, or an event emitter), it checks once per process
   *   that a notification reaches it; when none does (a pooler in transaction mode, such as PgBouncer's
   *   `pool_mode = transaction`), it logs one warning and polls.
   * - `'transaction'`: a pooler in transaction mode; the module never LISTENs (no check, no warning): the
   *   worker finds batches by polling every `worker.pollIntervalMs`, and an instance hears its own events
   *   only.
   * Nothing else the module does depends on the connection it runs on: its locks and settings last one
   * transaction.
   * @default 'detect'
   */
  connectionPooler?: ConnectionPooler;
  /**
   * Whether the statements a run sends for every row (its claims and the records of each outcome), and a
   * processor's `ctx.query(sql, params, { prepare: true })`, run as named prepared statements: parsed and
   * planned once per connection instead of at every row (a quarter more rows per second in per-row mode).
   * PgBouncer before 1.21 in transaction mode cannot carry them (1.21 and later can, with
   * `max_prepared_statements` set): hence the default, off when `connectionPooler` is `'transaction'`.
   * With `'detect'` behind such a pooler, the first statement that finds its prepared statement gone turns
   * them off for the process, with one warning, and runs again unprepared: no row fails for it.
   * @default true, false when `connectionPooler` is `'transaction'`
   */
  preparedStatements?: boolean;
  /**
   * The background worker: when enabled, every application instance picks up pending batches (and
   * batches whose run died, and running batches with items left, as a helper) by itself, so N instances
   * share the work with nobody calling `processBatch`.
   */
  worker?: WorkerOptions;
  /**
   * How long ended batches and audit logs are kept, e.g. `{ completedDays: 30, failedDays: 90,
   * logsDays: 14 }`: the background worker (`worker.enabled`) removes what is older every
   * `intervalMs`, one instance at a time; `BatchService.applyRetention()` and `reliable-imports prune` do
   * it on demand. A processor may set its own (`@ImportProcessor({ retention })`).
   * @default {} (everything is kept)
   */
  retention?: RetentionOptions;
}

/** The `connectionPooler` option: see `ReliableImportsModuleOptions.connectionPooler`. */
export type ConnectionPooler = 'detect' | 'transaction';

/** Every value of `connectionPooler`, for its check. */
export const CONNECTION_POOLERS: readonly ConnectionPooler[] = ['detect', 'transaction'];

/**
 * Options of the background worker: the `worker` option of `forRoot` and of the `forRootAsync` factory.
 * Every field is optional; the worker stays off unless `enabled` is true.
 */
export interface WorkerOptions {
  /**
   * Start the worker with the application.
   * @default false
   */
  enabled?: boolean;
  /**
   * Items this instance processes at once (each on a connection of its own); 1 on PGlite.
   * @default 1
   */
  concurrency?: number;
  /**
   * How often the worker looks for work when no notification arrives (LISTEN/NOTIFY wakes it at once
   * when a batch is created; polling covers what notifications miss, such as a transaction-mode pooler).
   * @default 1000
   */
  pollIntervalMs?: number;
  /**
   * The run options of every batch the worker runs, as `processBatch(id, options)` takes them, e.g.
   * `{ commitEvery: 100, itemTimeoutMs: 60000 }`; checked at bootstrap. Its concurrency is
   * `worker.concurrency`; `dryRun` is refused (a dry run is asked for one batch). A value left out is the processor's, else the module's (as for `processBatch`).
   * @default {} (a transaction per item; `continueOnError` and `itemTimeoutMs` of the processor, else
   *   of the module)
   */
  run?: Omit<ProcessBatchOptions, 'concurrency' | 'dryRun'>;
}

/** Worker options after defaults were applied. */
export type ResolvedWorkerOptions = Required<WorkerOptions>;

/** Options after defaults were applied and every value was checked. */
export type ResolvedReliableImportsOptions = Required<
  Omit<ReliableImportsModuleOptions, 'worker' | 'retention' | keyof ErrorBudget>
> &
  ErrorBudget & {
    worker: ResolvedWorkerOptions;
    retention: ResolvedRetentionOptions;
  };

/** Settings fixed when the module is imported, because they decide which providers are wired. */
export interface ReliableImportsModuleExtras {
  /**
   * Name of the TypeORM data source (as given to `TypeOrmModule.forRoot({ name })`) that holds the import
   * tables. Leave it out to use the application's default data source.
   */
  dataSource?: string;
  /**
   * Register the module globally, so `BatchService` can be injected in every module without importing it.
   * @default false
   */
  isGlobal?: boolean;
}
