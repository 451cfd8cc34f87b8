import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * A method of `BatchService` (or a function such as `readCsv`) was called with an argument it cannot use: a
 * `limit` that is not a whole number, a status that does not exist, a batch type that is not a string...
 * Nothing was read or changed.
 */
export class InvalidArgumentError extends ReliableImportsError {
  constructor(
    /** The method called, e.g. `listBatches`. */
    readonly method: string,
    /** The argument, or the property of one, e.g. `filter.limit`. */
    readonly argument: string,
    /** What it must be, e.g. `a whole number from 0 to 100,000`. */
    readonly expected: string,
    received: unknown,
    /** What `method` belongs to; null for a function of the package such as `readCsv`. */
    owner: string | null = 'BatchService',
  ) {
    super(
      'INVALID_ARGUMENT',
      messages.invalidArgument(method, argument, expected, received, owner),
    );
  }
}
