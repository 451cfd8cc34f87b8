import {
  type CallHandler,
  createParamDecorator,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Observable } from 'rxjs';

const SENT = Symbol('reliable-imports-admin-sent-body');

type WithSentBody = { body?: unknown; [SENT]?: unknown };

/**
 * Keeps a copy of the JSON body as the client sent it, before the validation pipe runs: the pipe deletes
 * every `__proto__` and `constructor` key, at any depth, and in a row's data such a key is a column.
 * The copy goes through JSON, which keeps `__proto__` as a key.
 */
export class KeepSentBody implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<WithSentBody>();
    request[SENT] =
      request.body === undefined
        ? undefined
        : (JSON.parse(JSON.stringify(request.body)) as unknown);
    return next.handle();
  }
}

/** The body as sent (see `KeepSentBody`), for the row data a validated body has lost keys of. */
export const SentBody = createParamDecorator(
  (_: unknown, context: ExecutionContext): unknown =>
    context.switchToHttp().getRequest<WithSentBody>()[SENT],
);
