import { InvalidOptionsError } from '../errors/invalid-options.error';
import { messages } from '../reliable-imports.messages';
import type {
  ReliableImportsAdminOptions,
  ResolvedAdminOptions,
} from './reliable-imports-admin-options.interface';

/**
 * Segments of letters, digits, `-`, `_` and `.` (not dots alone), joined by `/`; slashes at either end
 * are dropped.
 */
const PATH = /^(?!(.*\/)?\.+(\/|$))[\w.-]+(\/[\w.-]+)*$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER = /^[!#$%&'*+.^`|~\w-]+$/;

/**
 * The admin options with their defaults. Throws one `InvalidOptionsError` listing every problem, with its
 * fix: above all, guards or an explicit `allowUnauthenticated: true`.
 */
export function resolveAdminOptions(
  options: ReliableImportsAdminOptions | undefined,
): ResolvedAdminOptions {
  const raw = options ?? {};
  const problems: string[] = [];
  const path = (raw.path ?? 'imports-admin').replace(/^\/+|\/+$/g, '');
  if (typeof raw.path !== 'undefined' && (typeof raw.path !== 'string' || !PATH.test(path))) {
    problems.push(messages.adminBadPath(String(raw.path)));
  }
  const guards = raw.guards ?? [];
  if (!Array.isArray(guards)) {
    problems.push(messages.adminBadGuard(0));
  } else {
    guards.forEach((guard, index) => {
      const usable =
        typeof guard === 'function' ||
        (typeof guard === 'object' && guard !== null && typeof guard.canActivate === 'function');
      if (!usable) problems.push(messages.adminBadGuard(index));
    });
  }
  const allowUnauthenticated = raw.allowUnauthenticated === true;
  if (Array.isArray(guards) && guards.length === 0 && !allowUnauthenticated) {
    problems.push(messages.adminNoGuard());
  }
  const csrfHeader = raw.csrfHeader ?? 'x-reliable-imports-request';
  if (typeof csrfHeader !== 'string' || !HEADER.test(csrfHeader)) {
    problems.push(messages.adminBadHeader(String(csrfHeader)));
  }
  if (typeof raw.ui !== 'undefined' && typeof raw.ui !== 'boolean') {
    problems.push(messages.adminBadUi(raw.ui));
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return {
    path,
    guards: Array.isArray(guards) ? guards : [],
    imports: raw.imports ?? [],
    allowUnauthenticated,
    csrfHeader: csrfHeader.toLowerCase(),
    ui: raw.ui ?? true,
  };
}
