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
}

/** Options after defaults were applied and every value was checked. */
export interface ResolvedReliableImportsOptions {
  continueOnError: boolean;
  leaseMs: number;
}

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
