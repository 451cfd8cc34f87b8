import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
} from '@nestjs/common';
import type { Request } from 'express';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The sample app's guard of the admin page and API: only requests from this machine pass. Enough for a
 * laptop; an app on a server puts its own authentication here (a session, a bearer token, a role check),
 * since behind a reverse proxy on the same host every request comes from loopback.
 */
@Injectable()
export class LoopbackOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    if (LOOPBACK.has(request.socket.remoteAddress ?? '')) return true;
    throw new ForbiddenException(
      'The admin pages of the sample app answer requests from this machine only.',
    );
  }
}
