import { RetryableImportError } from '../errors/retryable-import.error';

/**
 * SQLSTATEs after which the same work may well succeed: serialization failure, deadlock, the server
 * shutting down or refusing connections, and the connection-exception class.
 */
const TRANSIENT_SQLSTATES = new Set([
  '40001',
  '40P01',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** `pg` reports a dropped connection by message only. */
const LOST_CONNECTION =
  /Connection terminated|connection (was )?(lost|closed)|terminating connection/i;

/** Whether work that failed with this error should be tried again (an item, or the run of a batch). */
export function isTransientError(error: Error): boolean {
  if (error instanceof RetryableImportError) return true;
  const { code, driverError } = error as Error & {
    code?: unknown;
    driverError?: { code?: unknown };
  };
  const sqlState = driverError?.code ?? code;
  if (typeof sqlState === 'string') {
    if (TRANSIENT_SQLSTATES.has(sqlState) || TRANSIENT_NETWORK_CODES.has(sqlState)) return true;
  }
  return LOST_CONNECTION.test(error.message);
}

/**
 * The wait before attempt `attempt + 1`: exponential from `initialMs`, capped at `maxMs`, with "equal
 * jitter" (half fixed, half random) so that workers that collided do not collide again in step.
 */
export function retryDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
