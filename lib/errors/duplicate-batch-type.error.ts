import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** Two processors claim one batch type; the message names both classes. */
export class DuplicateBatchTypeError extends ReliableImportsError {
  constructor(
    batchType: string,
    readonly classNames: readonly string[],
  ) {
    super('DUPLICATE_BATCH_TYPE', messages.duplicateBatchType(batchType, classNames), {
      batchType,
    });
  }
}
