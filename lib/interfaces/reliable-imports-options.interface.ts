/**
 * Options of `ReliableImportsModule.forRoot()` / `forRootAsync()`.
 *
 * They are validated once at bootstrap: an unknown key or an invalid value fails the application start
 * with a message that says how to fix it.
 */
export interface ReliableImportsModuleOptions {
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
}

/** Options after defaults were applied and every value was checked. */
export type ResolvedReliableImportsOptions = Required<ReliableImportsModuleOptions>;

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
