import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** An item failed `validateItem`; `reasons` holds every reason it gave. */
export class ItemValidationError extends ReliableImportsError {
  constructor(
    readonly reasons: readonly string[],
    itemIndex?: number,
  ) {
    super('VALIDATION_FAILED', messages.itemValidationFailed(reasons), { itemIndex });
  }
}
