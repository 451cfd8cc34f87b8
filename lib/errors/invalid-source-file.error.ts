import { ReliableImportsError } from './reliable-imports.error';

/**
 * A file given to `readCsv`, `readJsonl` or `readCorrections` cannot be read at all, or not past a line:
 * bytes that are not UTF-8, a quote never closed, a CSV header that is missing, names a column twice or
 * lacks the columns a corrections file needs. A line that is only malformed is not an error: the readers
 * yield it as a malformed row. `context.line` is the line at fault, when there is one.
 */
export class InvalidSourceFileError extends ReliableImportsError {
  /** `message` comes from a factory of `messages`. */
  constructor(message: string, line?: number) {
    super('INVALID_SOURCE_FILE', message, line === undefined ? {} : { line });
  }
}
