import { Inject, Injectable } from '@nestjs/common';
import type { BaseProcessor } from '../base-processor';
import { ItemValidationError } from '../errors/item-validation.error';
import { LeaseLostError } from '../errors/lease-lost.error';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import type { ImportItem } from '../interfaces/import-item.interface';
import type { ProcessItemResult, ValidationResult } from '../interfaces/processor.interface';
import { errorDetailsOf, toError } from '../utils/error-details.util';
import { isJsonProblem, serializeJsonValue } from '../utils/source-data.util';
import { DatabaseAdapter } from './database-adapter';
import { ItemContextImpl, SkipItemSignal, type RunState } from './import-context';
import { ItemClaimer } from './item-claimer';
import { runInItemTransaction } from './item-transaction';

/** How one item ended. `lost` means another worker took it over; nothing was recorded by this one. */
export type ItemOutcome =
  | { status: 'completed' }
  | { status: 'skipped' }
  | { status: 'failed'; error: Error }
  | { status: 'lost' };

/** Turns what `validateItem` returned into a list of reasons; empty when the item is valid. */
export function reasonsOf(result: ValidationResult): string[] {
  if (result === undefined || result === true) return [];
  if (result === false) return ['validation failed'];
  if (typeof result === 'string') return [result];
  if (Array.isArray(result)) return (result as readonly unknown[]).map(String);
  return [];
}

/**
 * Runs one claimed item: `validateItem` and `processItem` in the item's own transaction, which also
 * records the item `completed`. On failure the transaction rolls back and the failure is recorded after.
 */
@Injectable()
export class ItemRunner {
  constructor(
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(ItemClaimer) private readonly claimer: ItemClaimer,
  ) {}

  async run(
    item: ImportItem<object>,
    processor: BaseProcessor<object, object | void>,
    run: RunState,
    workerId: string,
  ): Promise<ItemOutcome> {
    let context: ItemContextImpl<object> | undefined;
    // The item's data to work on: a child of a reprocess already holds the corrected data.
    const workItem: ImportItem<object> = {
      ...item,
      sourceData: item.correctedData ?? item.sourceData,
    };
    try {
      await runInItemTransaction(this.database, async (transaction) => {
        context = new ItemContextImpl(run, workItem, transaction);
        if (processor.validateItem) {
          const reasons = reasonsOf(await processor.validateItem(workItem, context));
          if (reasons.length > 0) throw new ItemValidationError(reasons, item.itemIndex);
        }
        const result = await processor.processItem(workItem, context);
        const stored = this.storedResult(result, item);
        const kept = await this.claimer.complete(
          transaction,
          item.id,
          workerId,
          stored,
          context.log.drain(),
        );
        if (!kept) throw new LeaseLostError(item.batchId, item.itemIndex);
      });
      return { status: 'completed' };
    } catch (thrown) {
      const logs = context?.log;
      if (thrown instanceof LeaseLostError) return { status: 'lost' };
      if (thrown instanceof SkipItemSignal) {
        logs?.info(`Item ${item.itemIndex} skipped: ${thrown.reason}`);
        const kept = await this.claimer.finishWithoutResult(
          item.id,
          workerId,
          'skipped',
          thrown.reason,
          null,
          logs?.drain() ?? '[]',
        );
        return kept ? { status: 'skipped' } : { status: 'lost' };
      }
      const error = toError(thrown);
      const validation = error instanceof ItemValidationError;
      const message = error.message || error.name;
      if (validation)
        logs?.warn(`Item ${item.itemIndex} failed validation: ${message}`, {
          reasons: [...error.reasons],
        });
      else
        logs?.error(`Item ${item.itemIndex} failed: ${message}`, { error: errorDetailsOf(error) });
      const kept = await this.claimer.finishWithoutResult(
        item.id,
        workerId,
        'failed',
        message,
        JSON.stringify(errorDetailsOf(error)),
        logs?.drain() ?? this.singleLog(item.itemIndex, message),
      );
      return kept ? { status: 'failed', error } : { status: 'lost' };
    }
  }

  private storedResult(
    result: object | void,
    item: ImportItem<object>,
  ): { processedJson: string; targetTable: string | null; targetId: string | null } {
    const raw = (result ?? null) as (ProcessItemResult & Record<string, unknown>) | null;
    const value =
      raw !== null && typeof raw.targetId === 'bigint'
        ? { ...raw, targetId: String(raw.targetId) }
        : raw;
    const json = serializeJsonValue(value, 'the result of processItem');
    if (isJsonProblem(json)) {
      throw new ReliableImportsError(
        'INVALID_RESULT',
        `processItem of item ${item.itemIndex} of batch "${item.batchId}" returned a value that cannot be ` +
          `stored: ${json.path} ${json.problem}. Return plain JSON data (targetTable, targetId, ...).`,
        { batchId: item.batchId, itemIndex: item.itemIndex },
      );
    }
    const target = (value ?? {}) as ProcessItemResult;
    return {
      processedJson: json,
      targetTable: typeof target.targetTable === 'string' ? target.targetTable : null,
      targetId:
        target.targetId === undefined || target.targetId === null ? null : String(target.targetId),
    };
  }

  /** The failure's own log entry, when the item failed before it had a context. */
  private singleLog(itemIndex: number, message: string): string {
    return JSON.stringify([
      {
        level: 'error',
        message: `Item ${itemIndex} failed: ${message}`,
        details: null,
        created_at: new Date().toISOString(),
      },
    ]);
  }
}
