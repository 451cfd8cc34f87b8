import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * The worker lost its claim on an item (its lease expired and another worker took the item); the item's
 * writes were rolled back so that it is not applied twice.
 */
export class LeaseLostError extends ReliableImportsError {
  constructor(batchId: string, itemIndex: number) {
    super('LEASE_LOST', messages.leaseLost(batchId, itemIndex), { batchId, itemIndex });
  }
}
