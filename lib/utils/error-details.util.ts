import type { ItemErrorDetails } from '../interfaces/import-item.interface';

/** Turns anything thrown into an Error, so that hooks and the log always get one. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `Non-error thrown: ${String(thrown)}`);
}

/**
 * What is stored about a failure. TypeORM wraps driver errors in `QueryFailedError`; the SQLSTATE lives on
 * the error itself or on its `driverError`.
 */
export function errorDetailsOf(error: Error): ItemErrorDetails {
  const withCode = error as Error & { code?: unknown; driverError?: { code?: unknown } };
  const code = withCode.driverError?.code ?? withCode.code;
  const reasons = (error as Error & { reasons?: unknown }).reasons;
  return {
    name: error.name || error.constructor.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(Array.isArray(reasons) ? { reasons: reasons.map(String) } : {}),
    // A validation failure is the data's fault: its stack says nothing and would expose server paths.
    ...(error.stack && !Array.isArray(reasons) ? { stack: error.stack } : {}),
  };
}
