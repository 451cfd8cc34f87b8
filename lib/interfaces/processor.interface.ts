import type { ErrorBudget } from './batch-options.interface';
import type { RetentionPolicy } from './retention.interface';
import type { ScrubPolicy } from './scrubbing.interface';

/**
 * What a validation hook returns: `true` (or nothing, or an empty list) when valid; `false`, a reason, or a
 * list of reasons when not.
 */
export type ValidationResult = boolean | string | readonly string[] | undefined | void;

/** What `onItemError` decides: go on with the next item, or stop the batch. */
export type ItemErrorAction = 'continue' | 'abort';

/**
 * What `processItem` may return. `targetTable` and `targetId` are stored in their own columns, so that an
 * item can be traced to the row it wrote; the whole value is stored as `processed_data`.
 */
export interface ProcessItemResult {
  targetTable?: string;
  targetId?: string | number | bigint;
}

/** Options of `@ImportProcessor()`; its error budget overrides the module's for batches of this type. */
export interface ImportProcessorOptions extends ErrorBudget {
  /**
   * The batch type this processor handles. By default it is derived from the class name:
   * `CustomerDataProcessor` handles `customer_data`.
   */
  batchType?: string;
  /** Overrides the module's `continueOnError` for batches of this type. */
  continueOnError?: boolean;
  /**
   * Overrides the module's `itemTimeoutMs` for batches of this type (100 to 86400000 ms).
   * @default the module's `itemTimeoutMs` (300000)
   */
  itemTimeoutMs?: number;
  /**
   * Overrides the module's `requireApproval` for batches of this type: each new batch waits
   * (`awaiting_approval`) until `approveBatch(id)`.
   * @default the module's `requireApproval` (false)
   */
  requireApproval?: boolean;
  /**
   * How long ended batches of this type and their audit logs are kept: over the module's `retention`,
   * key by key (a key left out is the module's), e.g. `{ completedDays: 7 }`.
   * @default the module's `retention`
   */
  retention?: RetentionPolicy;
  /**
   * When the personal data of this type's rows is scrubbed, and which fields are kept, e.g.
   * `{ afterDays: 30, keepFields: ['country'] }`: applied with retention (by the worker, every
   * `retention.intervalMs`, or `applyRetention` / `scrubSourceData`). See `ScrubPolicy`.
   * @default none: rows keep their data (until retention removes them)
   */
  scrub?: ScrubPolicy;
}
