import type { BatchSummary } from './interfaces/batch-summary.interface';
import type { ImportBatch } from './interfaces/import-batch.interface';
import type { BatchContext, ImportContext } from './interfaces/import-context.interface';
import type { ImportItem } from './interfaces/import-item.interface';
import type {
  ItemErrorAction,
  ProcessItemResult,
  ValidationResult,
} from './interfaces/processor.interface';

/**
 * The class every `@ImportProcessor()` extends. Only `processItem` is required; the other hooks are
 * optional and run in this order, each once per processing run:
 * `validateBatch` → `onBatchStart` → (`validateItem` → `processItem`) per item → `onBatchComplete`.
 *
 * @typeParam TSource - the shape of an item's source data (a CSV row, a JSON record).
 * @typeParam TResult - what `processItem` returns; stored as the item's `processed_data`. Its
 *   `targetTable` and `targetId`, when present, also go to their own columns (see `ProcessItemResult`).
 */
export abstract class BaseProcessor<
  TSource extends object = Record<string, unknown>,
  TResult extends object | void = ProcessItemResult | void,
> {
  /**
   * Applies one item. Runs inside the item's own transaction (`ctx.manager`, `ctx.query`): what it writes
   * commits together with the item's `completed` status, or rolls back when it throws.
   */
  abstract processItem(
    item: ImportItem<TSource>,
    ctx: ImportContext<TSource>,
  ): Promise<TResult> | TResult;

  /**
   * Checks one item before `processItem`, in the same transaction. Returning false, a reason or a list
   * of reasons fails the item with those reasons, and `processItem` is not called.
   */
  validateItem?(
    item: ImportItem<TSource>,
    ctx: ImportContext<TSource>,
  ): ValidationResult | Promise<ValidationResult>;

  /** Checks the whole batch before any item runs. An invalid batch is marked `failed`; no item runs. */
  validateBatch?(
    batch: ImportBatch,
    ctx: BatchContext,
  ): ValidationResult | Promise<ValidationResult>;

  /** Runs once per processing run, after `validateBatch` and before the first item. */
  onBatchStart?(batch: ImportBatch, ctx: BatchContext): void | Promise<void>;

  /** Runs once per processing run, after the last item, with the batch's final summary. */
  onBatchComplete?(summary: BatchSummary, ctx: BatchContext): void | Promise<void>;

  /**
   * Runs after an item failed (its transaction is already rolled back) and decides whether the batch goes
   * on. Returning nothing applies `continueOnError`.
   */
  onItemError?(
    error: Error,
    item: ImportItem<TSource>,
    ctx: BatchContext,
  ): ItemErrorAction | void | Promise<ItemErrorAction | void>;
}
