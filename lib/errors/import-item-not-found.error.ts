import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** No item has the given id (or the id is not a uuid). */
export class ImportItemNotFoundError extends ReliableImportsError {
  constructor(itemId: string) {
    super('ITEM_NOT_FOUND', messages.itemNotFound(itemId), { itemId });
  }
}
