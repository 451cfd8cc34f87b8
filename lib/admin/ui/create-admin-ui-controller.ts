import {
  Controller,
  Get,
  Inject,
  NotFoundException,
  Param,
  Req,
  Res,
  StreamableFile,
  type Type,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ReliableImportsExceptionFilter } from '../../http/reliable-imports-exception.filter';
import type { ResolvedAdminOptions } from '../reliable-imports-admin-options.interface';
import { type AdminUiFile, loadAdminUiFiles, renderIndex } from './admin-ui-files';

/**
 * What the page may do: its own scripts, styles and API, nothing inline, nothing elsewhere, and no frame
 * of another site around it (clickjacking of the action buttons).
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** `@nestjs/swagger`'s exclusion, when the app has it: the page is not part of the API document. */
function excludeFromOpenApi(controller: Type<unknown>): void {
  let swagger: { ApiExcludeController?: () => ClassDecorator } | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    swagger = require('@nestjs/swagger') as typeof swagger;
  } catch {
    return;
  }
  swagger?.ApiExcludeController?.()(controller);
}

/**
 * The controller of the admin page for one registration: `GET <path>` (a redirect to `<path>/`, so that
 * the page's relative URLs resolve under the path), `GET <path>/` (index.html with this registration's
 * config) and `GET <path>/ui/<file>` (the built files), behind the registration's guards. Answered through
 * Nest's HTTP adapter, so Express and Fastify alike.
 */
export function createAdminUiController(options: ResolvedAdminOptions): Type<unknown> {
  let index: AdminUiFile | undefined;
  /** Rendered at the first request, not at registration: an API-only test run need not build the page. */
  function indexFile(): AdminUiFile {
    index ??= {
      body: Buffer.from(
        renderIndex(loadAdminUiFiles().indexTemplate, { csrfHeader: options.csrfHeader }),
      ),
      contentType: 'text/html; charset=utf-8',
    };
    return index;
  }

  class ReliableImportsAdminUiController {
    constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

    @Get()
    page(@Req() request: unknown, @Res() response: unknown): void {
      const adapter = this.adapterHost.httpAdapter;
      const url = String(adapter.getRequestUrl(request));
      const [path, query] = url.split(/\?(.*)/s, 2);
      if (!path.endsWith('/')) {
        // Relative, so that it holds behind a proxy that mounts the app under a prefix of its own.
        const last = path.slice(path.lastIndexOf('/') + 1);
        adapter.redirect(response, 301, `${last}/${query ? `?${query}` : ''}`);
        return;
      }
      this.send(response, indexFile(), 'no-store');
    }

    @Get('ui/:file')
    asset(@Param('file') name: string, @Res() response: unknown): void {
      const file = loadAdminUiFiles().assets.get(name);
      if (!file) throw new NotFoundException();
      // Not versioned by name: the browser asks again, so an upgraded package is seen at once.
      this.send(response, file, 'no-cache');
    }

    private send(response: unknown, file: AdminUiFile, cacheControl: string): void {
      const adapter = this.adapterHost.httpAdapter;
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        adapter.setHeader(response, name, value);
      }
      adapter.setHeader(response, 'Cache-Control', cacheControl);
      adapter.reply(
        response,
        new StreamableFile(file.body, { type: file.contentType, length: file.body.length }),
        200,
      );
    }
  }

  Controller(options.path)(ReliableImportsAdminUiController);
  UseGuards(...options.guards)(ReliableImportsAdminUiController);
  UseFilters(ReliableImportsExceptionFilter)(ReliableImportsAdminUiController);
  excludeFromOpenApi(ReliableImportsAdminUiController);
  return ReliableImportsAdminUiController;
}
