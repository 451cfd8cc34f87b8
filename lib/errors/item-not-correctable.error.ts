import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** `correctItem` was called on an item that is not failed or skipped. */
export class ItemNotCorrectableError extends ReliableImportsError {
  constructor(itemId: string, itemIndex: number, status: string) {
    super('ITEM_NOT_CORRECTABLE', messages.itemNotCorrectable(itemId, itemIndex, status), {
      itemId,
      itemIndex,
    });
  }
}
