import { HttpStatus, Logger } from '@nestjs/common';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import { toHttpException, type ReliableImportsHttpErrorBody } from '../http/to-http-exception';
import { messages } from '../reliable-imports.messages';

const logger = new Logger('ReliableImportsAdmin');

/**
 * What a progress stream tells its client when a reading fails after the stream began (the status and
 * headers are sent already): the body an error answer would have, never a stack or the database's words,
 * which go to the server's log.
 */
export function streamFailure(error: unknown): ReliableImportsHttpErrorBody {
  if (error instanceof ReliableImportsError) {
    return toHttpException(error).getResponse() as ReliableImportsHttpErrorBody;
  }
  logger.error(
    error instanceof Error ? error.message : String(error),
    error instanceof Error ? error.stack : undefined,
  );
  return {
    statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
    error: 'INTERNAL_ERROR',
    message: messages.httpServerError('INTERNAL_ERROR'),
  };
}
