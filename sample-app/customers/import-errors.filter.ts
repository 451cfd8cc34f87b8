import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { CsvError } from 'csv-parse';

/**
 * Answers a malformed CSV upload with 400 and the parser's message, in the body the module's own
 * `ReliableImportsExceptionFilter` gives its errors (`{ statusCode, error: code, message }`).
 */
@Catch(CsvError)
export class ImportErrorsFilter implements ExceptionFilter {
  catch(error: CsvError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(400)
      .json({ statusCode: 400, error: error.code, message: error.message });
  }
}
