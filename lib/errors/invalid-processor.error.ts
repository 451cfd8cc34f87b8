import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** A class marked with `@ImportProcessor()` cannot be used as a processor; the message says why. */
export class InvalidProcessorError extends ReliableImportsError {
  constructor(
    readonly className: string,
    message: string,
  ) {
    super('INVALID_PROCESSOR', message);
  }

  /** @internal */
  static notABaseProcessor(className: string): InvalidProcessorError {
    return new InvalidProcessorError(className, messages.notABaseProcessor(className));
  }

  /** @internal */
  static requestScoped(className: string): InvalidProcessorError {
    return new InvalidProcessorError(className, messages.requestScopedProcessor(className));
  }

  /** @internal */
  static withoutBatchType(className: string): InvalidProcessorError {
    return new InvalidProcessorError(className, messages.processorWithoutBatchType(className));
  }

  /** @internal */
  static invalidBatchType(batchType: string, className: string): InvalidProcessorError {
    return new InvalidProcessorError(
      className,
      messages.invalidBatchTypeName(batchType, className),
    );
  }

  /** @internal */
  static invalidOption(
    className: string,
    option: string,
    expected: string,
    value: unknown,
  ): InvalidProcessorError {
    return new InvalidProcessorError(
      className,
      messages.invalidProcessorOption(className, option, expected, value),
    );
  }
}
