import { type ArgumentsHost, Catch, type ExceptionFilter, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ReliableImportsError } from '../errors/reliable-imports.error';
import { toHttpException } from './to-http-exception';

/**
 * Answers the module's errors over HTTP with the status their `code` calls for and the body
 * `{ statusCode, error: code, message }` (see `toHttpException`). Register it for the whole app with
 * `app.useGlobalFilters(new ReliableImportsExceptionFilter())` or as an `APP_FILTER` provider, or on a
 * controller with `@UseFilters(ReliableImportsExceptionFilter)`. It answers through Nest's HTTP adapter, so
 * Express and Fastify alike.
 */
@Catch(ReliableImportsError)
export class ReliableImportsExceptionFilter implements ExceptionFilter {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(error: ReliableImportsError, host: ArgumentsHost): void {
    const exception = toHttpException(error);
    const response: unknown = host.switchToHttp().getResponse();
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) {
      adapter.reply(response, exception.getResponse(), exception.getStatus());
      return;
    }
    // Made with `new` for useGlobalFilters, so nothing was injected: Express and Fastify both answer this.
    (response as { status(code: number): { send(body: unknown): void } })
      .status(exception.getStatus())
      .send(exception.getResponse());
  }
}
