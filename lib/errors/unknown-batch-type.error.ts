import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** No processor handles a batch type; the message and `context.knownTypes` list the registered ones. */
export class UnknownBatchTypeError extends ReliableImportsError {
  constructor(batchType: string, knownTypes: readonly string[]) {
    super('UNKNOWN_BATCH_TYPE', messages.unknownBatchType(batchType, knownTypes), {
      batchType,
      knownTypes,
    });
  }
}
