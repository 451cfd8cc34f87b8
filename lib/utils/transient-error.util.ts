import { RetryableImportError } from '../errors/retryable-import.error';

/** SQLSTATEs of a connection lost or refused, or of the server going away: the database failed, not the work. */
const CONNECTION_SQLSTATES = new Set([
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

/** Serialization failure and deadlock: the same transaction may well succeed when tried again. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

const CONNECTION_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** `pg` reports a dropped connection by message only. */
const LOST_CONNECTION =
  /Connection terminated|connection (was )?(lost|closed)|terminating connection/i;

function codeOf(error: Error): string | undefined {
  const { code, driverError } = error as Error & {
    code?: unknown;
    driverError?: { code?: unknown };
  };
  const found = driverError?.code ?? code;
  return typeof found === 'string' ? found : undefined;
}

/** Whether the database connection was lost or refused: an outage, not a fault of the work. */
export function isConnectionError(error: Error): boolean {
  const code = codeOf(error);
  if (
    code !== undefined &&
    (CONNECTION_SQLSTATES.has(code) || CONNECTION_NETWORK_CODES.has(code))
  ) {
    return true;
  }
  return LOST_CONNECTION.test(error.message);
}

/** Whether an item that failed with this error should be tried again. */
export function isTransientError(error: Error): boolean {
  if (error instanceof RetryableImportError) return true;
  const code = codeOf(error);
  return (code !== undefined && RETRYABLE_SQLSTATES.has(code)) || isConnectionError(error);
}

/**
 * The wait before attempt `attempt + 1`: exponential from `initialMs`, capped at `maxMs`, with "equal
 * jitter" (half fixed, half random) so that workers that collided do not collide again in step.
 */
export function retryDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
