import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { CsvError } from 'csv-parse';
import { ReliableImportsError } from 'nestjs-reliable-imports';

const STATUS: Record<string, number> = {
  BATCH_NOT_FOUND: 404,
  ITEM_NOT_FOUND: 404,
  UNKNOWN_BATCH_TYPE: 400,
  INVALID_SOURCE_DATA: 400,
  INVALID_BATCH_OPTIONS: 400,
  INVALID_ARGUMENT: 400,
  INVALID_SOURCE_FILE: 400,
  CORRECTIONS_REFUSED: 400,
  IDEMPOTENCY_CONFLICT: 409,
  ITEM_NOT_CORRECTABLE: 409,
  BATCH_NOT_REPROCESSABLE: 409,
};

/**
 * Answers the module's errors (and a malformed CSV) with a status and the message, which says what to do.
 * A server-side failure's message may quote the database (tables, indexes): it goes to the log, and the
 * client gets the code alone.
 */
@Catch(ReliableImportsError, CsvError)
export class ImportErrorsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ImportErrorsFilter.name);

  catch(error: ReliableImportsError | CsvError, host: ArgumentsHost): void {
    const status = error instanceof CsvError ? 400 : (STATUS[error.code] ?? 500);
    let message = error.message;
    if (status >= 500) {
      this.logger.error(error.message, error.stack);
      message = `The server could not finish this request (${error.code}). Nothing is lost; try again later.`;
    }
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(status)
      .json({ statusCode: status, error: error.code, message });
  }
}
