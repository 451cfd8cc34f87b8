import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * An item's `validateItem` and `processItem` did not settle within `itemTimeoutMs`. Recorded as the item's
 * failure (code `ITEM_TIMEOUT`): its transaction was rolled back, its statement in flight cancelled, and
 * its `ctx.signal` aborted with this error.
 */
export class ItemTimeoutError extends ReliableImportsError {
  constructor(batchId: string, itemIndex: number, timeoutMs: number) {
    super('ITEM_TIMEOUT', messages.itemTimedOut(batchId, itemIndex, timeoutMs), {
      batchId,
      itemIndex,
    });
  }
}
