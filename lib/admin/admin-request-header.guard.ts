import { type CanActivate, type ExecutionContext, ForbiddenException } from '@nestjs/common';
import { messages } from '../reliable-imports.messages';

/** Methods that only read: everything else must prove it was not sent by a form of another site. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a state-changing request of the admin routes that does not carry the admin module's custom
 * header, with 403. A browser sends a custom header only from a script of the page's own origin, or of
 * another origin that the server's CORS answer allows: never from a plain cross-site form or link.
 */
export class AdminRequestHeaderGuard implements CanActivate {
  constructor(private readonly header: string) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<{ method: string; headers: Record<string, string | string[] | undefined> }>();
    if (SAFE_METHODS.has(request.method.toUpperCase())) return true;
    const value = request.headers[this.header];
    const present = Array.isArray(value) ? value.some((v) => v !== '') : !!value;
    if (!present) {
      throw new ForbiddenException({
        statusCode: 403,
        error: 'CSRF_HEADER_MISSING',
        message: messages.adminHeaderMissing(this.header),
      });
    }
    return true;
  }
}
