import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * An item given to `createBatch` (or `correctItem`) cannot be stored as JSON: not an object, a BigInt, a
 * cycle, a `\u0000` in a string... Nothing of the batch was stored.
 */
export class InvalidSourceDataError extends ReliableImportsError {
  constructor(
    where: string,
    itemIndex: number,
    /** Where in the item the problem is, e.g. `sourceData.address.zip`. */
    readonly path: string,
    /** What is wrong there. */
    readonly problem: string,
    batchType?: string,
    /** What to do once the item is fixed; by default, create the batch again. */
    retry?: string,
  ) {
    super(
      'INVALID_SOURCE_DATA',
      messages.invalidSourceData(where, itemIndex, path, problem, retry),
      {
        itemIndex,
        batchType,
      },
    );
  }
}
