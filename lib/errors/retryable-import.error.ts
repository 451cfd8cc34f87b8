import { ReliableImportsError } from './reliable-imports.error';

/**
 * Throw it from a processor for a failure worth trying again (a rate limit, a service briefly down): the
 * item is retried with backoff up to `maxAttempts`, like a serialization failure or a deadlock.
 */
export class RetryableImportError extends ReliableImportsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RETRYABLE', message, {}, options);
  }
}
