import { RetryableImportError } from '../errors/retryable-import.error';
import { codeOf, isInstance, messageOf, nameOf } from './error-details.util';

/** SQLSTATEs after which the same work may well succeed on the same connection: serialization, deadlock. */
const CONFLICT_SQLSTATES = new Set(['40001', '40P01']);

/**
 * SQLSTATEs of a connection lost or refused: the server shutting down (57P01 admin, 57P02 crash, 57P03
 * cannot connect now), too many connections (53300); class 08 (connection exception) is matched whole.
 */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** How the socket under the driver fails. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
]);

/**
 * TypeORM's errors for a query runner that was released under the caller: it releases the runner when its
 * connection errors (a terminated backend), so the next statement of the item (its completion, COMMIT)
 * fails with one of these.
 */
const RELEASED_RUNNER = new Set([
  'QueryRunnerAlreadyReleasedError',
  'QueryRunnerProviderAlreadyReleasedError',
]);

/**
 * What `pg` and `pg-pool` say, by message only, when a connection drops or cannot be made: "Connection
 * terminated unexpectedly", "Connection terminated due to connection timeout", "Client has encountered a
 * connection error and is not queryable", "timeout exceeded when trying to connect". Anchored: a
 * processor's own error that merely mentions a connection is no outage of the database.
 */
const LOST_CONNECTION =
  /^(Connection terminated|Client has encountered a connection error and is not queryable|timeout exceeded when trying to connect)/;

/** Looser wordings of a lost connection: worth a retry, but no proof of an outage. */
const MAYBE_LOST_CONNECTION = /connection (was )?(lost|closed)|terminating connection/i;

/**
 * Whether this error means the connection to the database was lost or could not be made: the failed work
 * is no fault of the item, and must fail neither the item nor the batch. A `RetryableImportError` is the
 * processor's own word, never taken for an outage.
 */
export function isConnectionLoss(error: Error): boolean {
  if (isInstance(error, RetryableImportError)) return false;
  const code = codeOf(error);
  if (code !== undefined) {
    if (CONNECTION_SQLSTATES.has(code) || NETWORK_CODES.has(code) || code.startsWith('08')) {
      return true;
    }
  }
  return RELEASED_RUNNER.has(nameOf(error)) || LOST_CONNECTION.test(messageOf(error));
}

/**
 * Whether work that failed with this error should be tried again (an item, or the run of a batch): a
 * serialization failure, a deadlock, a lost connection, or a `RetryableImportError`.
 */
export function isTransientError(error: Error): boolean {
  if (isInstance(error, RetryableImportError)) return true;
  const code = codeOf(error);
  if (code !== undefined && CONFLICT_SQLSTATES.has(code)) return true;
  return isConnectionLoss(error) || MAYBE_LOST_CONNECTION.test(messageOf(error));
}

/**
 * The wait before attempt `attempt + 1`: exponential from `initialMs`, capped at `maxMs`, with "equal
 * jitter" (half fixed, half random) so that workers that collided do not collide again in step.
 */
export function retryDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
