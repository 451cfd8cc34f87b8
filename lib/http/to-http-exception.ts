import { HttpException, HttpStatus, Logger } from '@nestjs/common';
import type {
  ReliableImportsError,
  ReliableImportsErrorCode,
} from '../errors/reliable-imports.error';
import { messages } from '../reliable-imports.messages';

/**
 * The body of an HTTP error answer made from a module error: `error` is the error's stable `code`, to
 * branch on; `message` says what to do. `problems` is there when the error lists them (a refused
 * corrections file, line by line). Never a stack.
 */
export interface ReliableImportsHttpErrorBody {
  statusCode: number;
  /** The error's `code`, e.g. `BATCH_NOT_FOUND`. */
  error: string;
  message: string;
  /** The error's own list of problems, for the client to show, when it has one. */
  problems?: unknown[];
}

/**
 * The one table from error codes to HTTP statuses. It lists every code, so that a new code does not compile
 * until its status is chosen. A server error (500) keeps its message in the server's log: it may quote the
 * database (tables, constraints, hosts).
 */
const STATUS_BY_CODE: Readonly<Record<ReliableImportsErrorCode, HttpStatus>> = {
  BATCH_NOT_FOUND: HttpStatus.NOT_FOUND,
  ITEM_NOT_FOUND: HttpStatus.NOT_FOUND,

  UNKNOWN_BATCH_TYPE: HttpStatus.BAD_REQUEST,
  INVALID_SOURCE_DATA: HttpStatus.BAD_REQUEST,
  INVALID_SOURCE_FILE: HttpStatus.BAD_REQUEST,
  INVALID_BATCH_OPTIONS: HttpStatus.BAD_REQUEST,
  INVALID_ARGUMENT: HttpStatus.BAD_REQUEST,
  CORRECTIONS_REFUSED: HttpStatus.BAD_REQUEST,
  // processBatch's run options (concurrency, commitEvery, itemTimeoutMs), often taken from a request.
  INVALID_CONCURRENCY: HttpStatus.BAD_REQUEST,
  INVALID_COMMIT_EVERY: HttpStatus.BAD_REQUEST,
  INVALID_ITEM_TIMEOUT: HttpStatus.BAD_REQUEST,

  IDEMPOTENCY_CONFLICT: HttpStatus.CONFLICT,
  ITEM_NOT_CORRECTABLE: HttpStatus.CONFLICT,
  BATCH_NOT_REPROCESSABLE: HttpStatus.CONFLICT,
  BATCH_STATUS_CONFLICT: HttpStatus.CONFLICT,
  // The data is gone for good, not in a state that may change.
  ROW_SCRUBBED: HttpStatus.GONE,

  PROCESSING_INTERRUPTED: HttpStatus.SERVICE_UNAVAILABLE,
  PROCESSING_STOPPED: HttpStatus.SERVICE_UNAVAILABLE,

  // Set-up mistakes, a lost lease and an item's own failures (stored with the item) are not the client's
  // to fix.
  INVALID_OPTIONS: HttpStatus.INTERNAL_SERVER_ERROR,
  INVALID_PROCESSOR: HttpStatus.INTERNAL_SERVER_ERROR,
  DUPLICATE_BATCH_TYPE: HttpStatus.INTERNAL_SERVER_ERROR,
  SCHEMA_NOT_READY: HttpStatus.INTERNAL_SERVER_ERROR,
  VALIDATION_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
  ITEM_TIMEOUT: HttpStatus.INTERNAL_SERVER_ERROR,
  RETRYABLE: HttpStatus.INTERNAL_SERVER_ERROR,
  INVALID_RESULT: HttpStatus.INTERNAL_SERVER_ERROR,
  LEASE_LOST: HttpStatus.INTERNAL_SERVER_ERROR,
};

const logger = new Logger('ReliableImports');

/**
 * The HTTP exception to answer a module error with, for applications that have an exception filter of
 * their own (otherwise use `ReliableImportsExceptionFilter`). The status is chosen by the error's `code`:
 * not found 404, invalid input 400, conflict 409, a database outage or a shutdown 503 ("try again");
 * anything else 500, with its message withheld from the client and logged here, with its stack, through
 * Nest's `Logger`. The error is the exception's `cause`.
 *
 * ```ts
 * try { return await this.batches.getBatchSummary(id); }
 * catch (error) { throw error instanceof ReliableImportsError ? toHttpException(error) : error; }
 * ```
 */
export function toHttpException(error: ReliableImportsError): HttpException {
  // A code outside the table can still arrive at run time: a subclass of the application's, a newer version.
  // An own entry only: a code of an application's subclass named like `toString` is no known status.
  const status: HttpStatus = Object.hasOwn(STATUS_BY_CODE, error.code)
    ? STATUS_BY_CODE[error.code]
    : HttpStatus.INTERNAL_SERVER_ERROR;
  const body: ReliableImportsHttpErrorBody = {
    statusCode: status,
    error: error.code,
    message: error.message,
  };
  if (status === HttpStatus.SERVICE_UNAVAILABLE) {
    // The database's own words (a host, a port) stay in the log; the client only needs to come back.
    logger.warn(error.message);
    body.message = messages.httpTryAgain(error.code, error.context.batchId);
  } else if (status >= HttpStatus.INTERNAL_SERVER_ERROR) {
    logger.error(error.message, error.stack);
    body.message = messages.httpServerError(error.code);
  } else {
    const { problems } = error as { problems?: unknown };
    if (Array.isArray(problems)) body.problems = [...(problems as unknown[])];
  }
  return new HttpException(body, status, { cause: error });
}
