import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * What an `InvalidSourceDataError` is made of. The module makes these errors and an application reads them
 * (`path`, `problem`, `context`), so the type is not in the package's index; it stays in the declarations,
 * since the constructor's declaration names it.
 */
export interface InvalidSourceDataErrorOptions {
  /** What was being stored, as the message names it, e.g. `a new "customer_data" batch`. */
  where: string;
  /** The index of the item at fault in its batch. */
  itemIndex: number;
  /** Where in the item the problem is, e.g. `sourceData.address.zip`. */
  path: string;
  /** What is wrong there, e.g. `is a BigInt, which JSON cannot hold; ...`. */
  problem: string;
  /** The type of the batch being created; absent for a correction. */
  batchType?: string;
  /** What to do once the item is fixed; by default, create the batch again. */
  retry?: string;
}

/**
 * An item given to `createBatch` (or `correctItem`) cannot be stored as JSON: not an object, a BigInt, a
 * cycle, a `\u0000` in a string... Nothing of the batch was stored.
 */
export class InvalidSourceDataError extends ReliableImportsError {
  /** Where in the item the problem is, e.g. `sourceData.address.zip`. */
  readonly path: string;
  /** What is wrong there. */
  readonly problem: string;

  constructor({
    where,
    itemIndex,
    path,
    problem,
    batchType,
    retry,
  }: InvalidSourceDataErrorOptions) {
    super(
      'INVALID_SOURCE_DATA',
      messages.invalidSourceData(where, itemIndex, path, problem, retry),
      {
        itemIndex,
        batchType,
      },
    );
    this.path = path;
    this.problem = problem;
  }
}
