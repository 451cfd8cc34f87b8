import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** A class marked with `@ImportProcessor()` cannot be used as a processor; the message says why. */
export class InvalidProcessorError extends ReliableImportsError {
  constructor(
    readonly className: string,
    message: string,
    /** Each problem of the class's `@ImportProcessor()` options, when they are what is invalid. */
    readonly problems: readonly string[] = [],
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
  static invalidOptions(className: string, problems: readonly string[]): InvalidProcessorError {
    return new InvalidProcessorError(
      className,
      messages.invalidProcessorOptions(className, problems),
      problems,
    );
  }
}
