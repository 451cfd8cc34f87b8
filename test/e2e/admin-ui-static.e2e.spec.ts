import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  UnauthorizedException,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  ImportProcessor,
  ReliableImportsAdminModule,
  type ReliableImportsAdminOptions,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

// Needs the built page (dist/admin-ui): `npm run build` first, as `npm test` does.

const ADMIN = { authorization: 'Bearer admin' };
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  processItem(): void {}
}

/** The app's own guard: no token 401, a token without the admin role 403. */
class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const { headers } = context.switchToHttp().getRequest<IncomingMessage>();
    if (!headers.authorization) throw new UnauthorizedException();
    return headers.authorization === 'Bearer admin';
  }
}

/** Every security header of the page, on the HTML and on each file. */
function expectSecurityHeaders(res: request.Response): void {
  expect(res.headers['content-security-policy']).toBe(CSP);
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
}

/** The relative module imports of a built module (`from './api.js'`). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/\bfrom\s+'\.\/([\w.-]+)'/g)].map((match) => match[1]);
}

describe('the admin page (ReliableImportsAdminModule, ui)', () => {
  const database = useTestDatabase();

  async function start(
    admin?: ReliableImportsAdminOptions,
    prefix?: string,
  ): Promise<INestApplication<App>> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...moduleImports(database.db.url),
        ...(admin ? [ReliableImportsAdminModule.register(admin)] : []),
      ],
      providers: [ContactProcessor],
    }).compile();
    const app = moduleRef.createNestApplication<INestApplication<App>>({ logger: false });
    database.closeBeforeCheck(() => app.close());
    if (prefix) app.setGlobalPrefix(prefix);
    await app.init();
    return app;
  }

  describe('served at the path, behind the guards', () => {
    let app: INestApplication<App>;
    const get = (path: string, headers: Record<string, string> = ADMIN) =>
      request(app.getHttpServer()).get(`/imports-admin${path}`).set(headers);

    beforeAll(async () => {
      app = await start({ guards: [TokenGuard] });
    });

    it('answers index.html at <path>/ with the config meta, the CSP and no caching', async () => {
      const res = await get('/').expect(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expectSecurityHeaders(res);
      expect(res.text).toContain(
        '<meta name="reliable-imports-admin" ' +
          'content="{&quot;csrfHeader&quot;:&quot;x-reliable-imports-request&quot;}" />',
      );
      // The CSP allows no inline script: every script of the page is a file of its own.
      expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(res.text).not.toContain('__RELIABLE_IMPORTS_ADMIN_CONFIG__');
    });

    it('redirects <path> to <path>/, relatively, keeping the query', async () => {
      const bare = await get('').expect(301);
      expect(bare.headers.location).toBe('imports-admin/');
      const query = await get('?from=mail').expect(301);
      expect(query.headers.location).toBe('imports-admin/?from=mail');
    });

    it('serves every file the page loads, with its type', async () => {
      const index = await get('/').expect(200);
      const stylesheet = /href="(ui\/[\w.-]+\.css)"/.exec(index.text)?.[1];
      const entry = /<script type="module" src="(ui\/[\w.-]+\.js)"/.exec(index.text)?.[1];
      expect([stylesheet, entry]).toEqual(['ui/admin.css', 'ui/main.js']);

      const css = await get(`/${stylesheet}`).expect(200);
      expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
      expectSecurityHeaders(css);

      // Every module reachable from the entry: a missing one, or one of another type, breaks the page.
      const pending = ['main.js'];
      const seen = new Set<string>();
      while (pending.length > 0) {
        const name = pending.pop() as string;
        if (seen.has(name)) continue;
        seen.add(name);
        const res = await get(`/ui/${name}`).expect(200);
        expect([name, res.headers['content-type']]).toEqual([
          name,
          'text/javascript; charset=utf-8',
        ]);
        expectSecurityHeaders(res);
        // Row data is text typed by strangers: no module may parse anything as HTML.
        expect([name, res.text]).not.toEqual([
          name,
          expect.stringMatching(/\.(inner|outer)HTML\s*=|insertAdjacentHTML\(|document\.write\(/),
        ]);
        pending.push(...importsOf(res.text));
      }
      expect([...seen]).toEqual(
        expect.arrayContaining(['main.js', 'api.js', 'dom.js', 'list-page.js', 'batch-page.js']),
      );
    });

    it.each([
      'nope.js',
      'index.html',
      'main.ts',
      '..%2Fpackage.json',
      '..%2F..%2F..%2Fpackage.json',
      '%2E%2E%2Fpackage.json',
      '..%5C..%5Cpackage.json',
      '%2Fetc%2Fpasswd',
      '%252E%252E%252Fpackage.json',
      'main.js%00.css',
      '.',
      '..',
    ])('answers 404 for ui/%s', async (name) => {
      const res = await get(`/ui/${name}`);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('nestjs-reliable-imports');
      expect(res.text).not.toContain('root:');
    });

    it.each(['/ui/../../../package.json', '/ui/', '/ui', '/index.html', '/ui/sub/main.js'])(
      'answers 404 for <path>%s',
      async (path) => {
        const res = await get(path);
        expect(res.status).toBe(404);
        expect(res.text).not.toContain('nestjs-reliable-imports');
      },
    );

    it.each(['', '/', '/ui/main.js', '/ui/admin.css', '/ui/nope.js'])(
      '<path>%s: 401 without a token, 403 with a token the guard refuses',
      async (path) => {
        const anonymous = await get(path, {});
        expect(anonymous.status).toBe(401);
        expect(anonymous.text).not.toContain('<html');
        const viewer = await get(path, { authorization: 'Bearer viewer' });
        expect(viewer.status).toBe(403);
        expect(viewer.text).not.toContain('<html');
      },
    );

    it('leaves the page out of the OpenAPI document', () => {
      const document = SwaggerModule.createDocument(
        app,
        new DocumentBuilder().setTitle('app').setVersion('1').build(),
      );
      const paths = Object.keys(document.paths);
      expect(paths).toContain('/imports-admin/batches');
      expect(paths.filter((path) => path === '/imports-admin' || path.includes('/ui/'))).toEqual(
        [],
      );
    });
  });

  it('writes a header name HTML-escaped into the meta, at a nested path under a global prefix', async () => {
    const app = await start(
      { path: 'ops/imports', guards: [TokenGuard], csrfHeader: "X-Ops'&$&" },
      'api',
    );
    const server = app.getHttpServer();
    const bare = await request(server).get('/api/ops/imports').set(ADMIN).expect(301);
    expect(bare.headers.location).toBe('imports/');
    const index = await request(server).get('/api/ops/imports/').set(ADMIN).expect(200);
    expect(index.text).toContain(
      'content="{&quot;csrfHeader&quot;:&quot;x-ops&#39;&amp;$&amp;&quot;}"',
    );
    await request(server).get('/api/ops/imports/ui/main.js').set(ADMIN).expect(200);
    await request(server).get('/imports-admin/').set(ADMIN).expect(404);
  });

  it('serves no page with ui: false, and the API still', async () => {
    const app = await start({ guards: [TokenGuard], ui: false });
    const server = app.getHttpServer();
    for (const path of ['', '/', '/ui/main.js', '/ui/admin.css']) {
      const res = await request(server).get(`/imports-admin${path}`).set(ADMIN);
      expect([path, res.status]).toEqual([path, 404]);
    }
    await request(server).get('/imports-admin/batches').set(ADMIN).expect(200);
  });

  it('serves no page and no file without the admin module', async () => {
    const app = await start();
    const server = app.getHttpServer();
    for (const path of ['', '/', '/ui/main.js', '/ui/admin.css', '/ui/index.html']) {
      const res = await request(server).get(`/imports-admin${path}`).set(ADMIN);
      expect([path, res.status]).toEqual([path, 404]);
    }
  });
});
