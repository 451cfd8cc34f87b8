import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  type LoggerService,
  Module,
  RequestMethod,
  UnauthorizedException,
  ValidationPipe,
} from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { Test } from '@nestjs/testing';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchService,
  ImportProcessor,
  InvalidOptionsError,
  ReliableImportsAdminModule,
  type ImportItem,
  type ReliableImportsAdminOptions,
} from '../../lib';
import { createAdminController } from '../../lib/admin/create-admin-controller';
import { resolveAdminOptions } from '../../lib/admin/resolve-admin-options.util';
import { ProgressReader } from '../../lib/processing/progress-reader';
import { moduleImports } from '../fixtures/test-app';
import {
  CREATE_APPLIED_TABLE,
  type ProcessingChild,
  resultOf,
  startProcessingChild,
} from '../support/child-process';
import { useTestDatabase } from '../support/use-test-app';
import { waitFor } from '../support/timing';

const MISSING = '0b6c1f0e-1111-4000-8000-000000000001';
const HEADER = { 'x-reliable-imports-request': '1' };
const ADMIN = { authorization: 'Bearer admin' };
/** What a stack trace or a database error looks like in a body. */
const LEAK = /\bat .*\.(ts|js):\d+|QueryFailedError|SELECT |INSERT |relation "/;

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  validateItem(item: ImportItem<{ email: string }>): string[] {
    return item.sourceData.email.includes('@')
      ? []
      : [`email "${item.sourceData.email}" is malformed`];
  }

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

@Injectable()
class Keys {
  readonly valid = new Set(['k-1']);
}

@Module({ providers: [Keys], exports: [Keys] })
class KeysModule {}

/** A guard class with a dependency, made by Nest in the admin module from its `imports`. */
@Injectable()
class KeyGuard implements CanActivate {
  constructor(private readonly keys: Keys) {}
  canActivate(context: ExecutionContext): boolean {
    const key = context.switchToHttp().getRequest<IncomingMessage>().headers['x-key'];
    return typeof key === 'string' && this.keys.valid.has(key);
  }
}

/** The batch type of the processing child (`test/support/processing-child.ts`), to create its batches. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  processItem(): void {}
}

class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  log(): void {}
  error(): void {}
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

type Method = 'get' | 'post' | 'patch';
/** A sample request of a route: what the tests send to it. */
interface Sample {
  path: (ids: { batch: string; item: string }) => string;
  body?: object | string;
  /** The body's Content-Type, when it is not JSON. */
  type?: string;
  /** The route names no batch or row (it cannot answer 404). */
  unnamed?: true;
}
interface Route extends Sample {
  method: Method;
}

/** A corrections file with one line, as a failures export is edited. */
const CORRECTIONS_CSV = '_item_id,_line,_status,_reason,email\n,2,failed,,fixed@x.com\n';

/**
 * A sample request of every admin route, by the route as the controller declares it (`GET batches/:id`):
 * a route the controller mounts without an entry here fails the first test, so that no route escapes
 * the guard and cross-site tests below.
 */
const SAMPLES: Record<string, Sample> = {
  'GET batch-types': { path: () => 'batch-types', unnamed: true },
  'GET batches': { path: () => 'batches', unnamed: true },
  'GET batches/stream': { path: () => 'batches/stream', unnamed: true },
  'POST batches': {
    path: () => 'batches?batchType=contact',
    body: 'email\nnew@x.com\n',
    type: 'text/csv',
    unnamed: true,
  },
  'GET batches/:id': { path: ({ batch }) => `batches/${batch}` },
  'GET batches/:id/stream': { path: ({ batch }) => `batches/${batch}/stream` },
  'GET batches/:id/items': { path: ({ batch }) => `batches/${batch}/items` },
  'GET batches/:id/failures': { path: ({ batch }) => `batches/${batch}/failures` },
  'GET batches/:id/failures/export': { path: ({ batch }) => `batches/${batch}/failures/export` },
  'GET batches/:id/logs': { path: ({ batch }) => `batches/${batch}/logs` },
  'GET batches/:id/progress': { path: ({ batch }) => `batches/${batch}/progress` },
  'GET batches/:id/progress/stream': { path: ({ batch }) => `batches/${batch}/progress/stream` },
  'GET batches/:id/events/stream': { path: ({ batch }) => `batches/${batch}/events/stream` },
  'PATCH items/:itemId': {
    path: ({ item }) => `items/${item}`,
    body: { data: { email: 'x@y.z' } },
  },
  'POST batches/:id/corrections': {
    path: ({ batch }) => `batches/${batch}/corrections`,
    body: { corrections: [{ line: 2, data: { email: 'x@y.z' } }] },
  },
  'POST batches/:id/corrections/file': {
    path: ({ batch }) => `batches/${batch}/corrections/file`,
    body: CORRECTIONS_CSV,
    type: 'text/csv',
  },
  'POST batches/:id/reprocess': { path: ({ batch }) => `batches/${batch}/reprocess`, body: {} },
  'POST batches/:id/pause': { path: ({ batch }) => `batches/${batch}/pause`, body: {} },
  'POST batches/:id/resume': { path: ({ batch }) => `batches/${batch}/resume`, body: {} },
  'POST batches/:id/cancel': { path: ({ batch }) => `batches/${batch}/cancel`, body: {} },
  'POST batches/:id/approve': { path: ({ batch }) => `batches/${batch}/approve` },
  'POST batches/:id/reject': { path: ({ batch }) => `batches/${batch}/reject`, body: {} },
};

/**
 * The routes of the controller the admin module mounts, as Nest reads them (`METHOD path`): from the
 * route metadata of its methods, its own and those it inherits.
 */
function mountedRoutes(): string[] {
  const controller = createAdminController(resolveAdminOptions({ allowUnauthenticated: true }));
  const routes = new Set<string>();
  for (
    let proto: object | null = controller.prototype as object;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      // The descriptor's value: a getter is not called.
      const handler = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown;
      if (typeof handler !== 'function') continue;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (path === undefined || method === undefined) continue;
      routes.add(`${RequestMethod[method]} ${path}`);
    }
  }
  return [...routes].sort();
}

const MOUNTED = mountedRoutes();
/** Every route the controller mounts that has a sample request, with it. */
const ROUTES: Route[] = MOUNTED.filter((key) => SAMPLES[key]).map((key) => ({
  method: key.split(' ')[0].toLowerCase() as Method,
  ...SAMPLES[key],
}));
const CHANGING = ROUTES.filter((route) => route.method !== 'get');
const NAMING = ROUTES.filter((route) => !route.unnamed);
const name = (route: Route) =>
  `${route.method.toUpperCase()} ${route.path({ batch: ':id', item: ':itemId' })}`;

describe('the admin REST API (ReliableImportsAdminModule)', () => {
  const database = useTestDatabase();
  const logger = new CapturingLogger();
  let app: INestApplication<App>;
  let batches: BatchService;

  async function start(admin?: ReliableImportsAdminOptions): Promise<INestApplication<App>> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...moduleImports(database.db.url),
        ...(admin ? [ReliableImportsAdminModule.register(admin)] : []),
      ],
      providers: [ContactProcessor, AppliedRowProcessor],
    }).compile();
    const started = moduleRef.createNestApplication<INestApplication<App>>({ logger });
    database.closeBeforeCheck(() => started.close());
    await started.init();
    return started;
  }

  /** The main app's port, for clients that read a stream as it comes (it listens from the first call). */
  async function listening(): Promise<number> {
    const server = app.getHttpServer() as unknown as Server;
    if (!server.listening) await app.listen(0);
    return (server.address() as AddressInfo).port;
  }

  /** A request to the main app's admin routes, its error bodies kept to check for leaks. */
  function call(method: Method, path: string, headers: Record<string, string> = {}) {
    const req = request(app.getHttpServer())[method](`/imports-admin/${path}`).set(headers);
    return req;
  }

  /** Checks an error answer: never a stack or the database's words. */
  function keep(res: request.Response): request.Response {
    if (res.status >= 400) expect(JSON.stringify(res.body)).not.toMatch(LEAK);
    return res;
  }

  /** A batch of three rows, one of them bad, processed: 2 completed, 1 failed. */
  async function processedBatch() {
    const batch = await batches.createBatch('contact', [
      { email: 'a@x.com' },
      { email: 'not-an-email' },
      { email: 'c@x.com' },
    ]);
    await batches.processBatch(batch.id);
    const [failed] = await batches.getItems(batch.id, { status: 'failed' });
    return { batch: batch.id, item: failed.id };
  }

  beforeAll(async () => {
    app = await start({ guards: [TokenGuard] });
    batches = app.get(BatchService);
  });

  it('has a sample request for every route the controller mounts, and none for a route it does not', () => {
    // A new route gets its sample in SAMPLES, and with it the guard, cross-site and 404 tests.
    expect(MOUNTED).toEqual(Object.keys(SAMPLES).sort());
    // Nest reads the routes where this does: the metadata of the mounted controller.
    expect(MOUNTED).toContain('GET batches/:id/events/stream');
  });

  describe('guards', () => {
    let ids: { batch: string; item: string };
    beforeAll(async () => {
      ids = await processedBatch();
    });

    it.each(ROUTES.map((route) => [name(route), route] as const))(
      '%s: 401 without a token, 403 with a token the guard refuses',
      async (_name, route) => {
        const anonymous = keep(
          await call(route.method, route.path(ids), HEADER)
            .type(route.type ?? 'json')
            .send(route.body),
        );
        expect(anonymous.status).toBe(401);
        const viewer = keep(
          await call(route.method, route.path(ids), {
            ...HEADER,
            authorization: 'Bearer viewer',
          })
            .type(route.type ?? 'json')
            .send(route.body),
        );
        expect(viewer.status).toBe(403);
        // The state is as it was: nothing was changed by a refused request.
        expect((await batches.getBatch(ids.batch)).status).toBe(BATCH_STATUS.completedWithErrors);
      },
    );
  });

  describe('cross-site protection', () => {
    it.each(CHANGING.map((route) => [name(route), route] as const))(
      '%s: 403 without the header, reaches the route with it',
      async (_name, route) => {
        const ids = await processedBatch();
        const refused = keep(
          await call(route.method, route.path(ids), ADMIN)
            .type(route.type ?? 'json')
            .send(route.body),
        );
        expect(refused.status).toBe(403);
        expect(refused.body).toMatchObject({
          error: 'CSRF_HEADER_MISSING',
          message: expect.stringContaining('x-reliable-imports-request'),
        });
        // A refused request changed nothing: the item keeps its data, the batch its status.
        const [item] = await batches.getItems(ids.batch, { status: 'failed' });
        expect(item.correctedData).toBeNull();
        expect((await batches.getBatch(ids.batch)).status).toBe(BATCH_STATUS.completedWithErrors);
        expect(await batches.listBatches({ parentBatchId: ids.batch })).toEqual([]);
        expect((await batches.listBatches({ limit: 1 }))[0].id).toBe(ids.batch);
        if (route.unnamed) {
          const taken = keep(
            await call(route.method, route.path(ids), { ...ADMIN, ...HEADER })
              .type(route.type ?? 'json')
              .send(route.body),
          );
          expect(taken.status).toBeLessThan(300);
          return;
        }

        // With the header, on a batch and an item that do not exist: the route itself answers.
        const missing = keep(
          await call(route.method, route.path({ batch: MISSING, item: MISSING }), {
            ...ADMIN,
            ...HEADER,
          })
            .type(route.type ?? 'json')
            .send(route.body),
        );
        expect(missing.status).toBe(404);
      },
    );

    it('refuses the header empty, and takes another name when configured', async () => {
      const ids = await processedBatch();
      const empty = keep(
        await call('post', `batches/${ids.batch}/pause`, {
          ...ADMIN,
          'x-reliable-imports-request': '',
        }).send({}),
      );
      expect(empty.status).toBe(403);

      const custom = await start({ path: 'custom', guards: [TokenGuard], csrfHeader: 'X-Admin' });
      const server = custom.getHttpServer();
      const withDefault = await request(server)
        .post(`/custom/batches/${ids.batch}/pause`)
        .set({ ...ADMIN, ...HEADER })
        .send({});
      expect(withDefault.status).toBe(403);
      const withCustom = await request(server)
        .post(`/custom/batches/${MISSING}/pause`)
        .set({ ...ADMIN, 'x-admin': '1' })
        .send({});
      expect(withCustom.status).toBe(404);
    });
  });

  describe('unknown batches and items', () => {
    it.each(NAMING.map((route) => [name(route), route] as const))(
      '%s: 404 with the code',
      async (_name, route) => {
        const res = keep(
          await call(route.method, route.path({ batch: MISSING, item: MISSING }), {
            ...ADMIN,
            ...HEADER,
          })
            .type(route.type ?? 'json')
            .send(route.body),
        );
        expect(res.status).toBe(404);
        expect(res.body).toEqual({
          statusCode: 404,
          error: expect.stringMatching(/^(BATCH|ITEM)_NOT_FOUND$/),
          message: expect.stringContaining(MISSING),
        });
      },
    );
  });

  describe('validation', () => {
    const both = { ...ADMIN, ...HEADER };
    it.each([
      ['get', 'batches?limit=abc', 'limit', undefined],
      ['get', 'batches?limit=100000', 'limit', undefined],
      ['get', 'batches?offset=-1', 'offset', undefined],
      ['get', 'batches?status=nope', 'status', undefined],
      ['get', 'batches?parentBatchId=x', 'parentBatchId', undefined],
      ['get', 'batches?evil=1', 'evil', undefined],
      ['get', 'batches/not-a-uuid', 'id must be a UUID', undefined],
      ['get', `batches/${MISSING}/items?status=done`, 'status', undefined],
      ['get', `batches/${MISSING}/logs?level=loud`, 'level', undefined],
      ['get', `batches/${MISSING}/failures?includeResolved=yes`, 'includeResolved', undefined],
      ['get', `batches/${MISSING}/failures/export?format=xml`, 'format', undefined],
      ['patch', 'items/not-a-uuid', 'itemId must be a UUID', { data: {} }],
      ['patch', `items/${MISSING}`, 'data', { data: 'x' }],
      ['patch', `items/${MISSING}`, 'data', {}],
      ['patch', `items/${MISSING}`, 'mode', { data: {}, mode: 'append' }],
      ['patch', `items/${MISSING}`, 'evil', { data: {}, evil: 1 }],
      ['post', `batches/${MISSING}/corrections`, 'corrections', { corrections: [] }],
      ['post', `batches/${MISSING}/corrections`, 'corrections', { corrections: 'x' }],
      [
        'post',
        `batches/${MISSING}/corrections`,
        'corrections.0.line',
        { corrections: [{ line: 0, data: {} }] },
      ],
      [
        'post',
        `batches/${MISSING}/corrections`,
        'corrections.0.property problem',
        { corrections: [{ line: 2, data: {}, problem: 'x' }] },
      ],
      ['post', `batches/${MISSING}/resume`, 'retryFailed', { retryFailed: 'yes' }],
      ['post', `batches/${MISSING}/cancel`, 'reason', { reason: 42 }],
      ['post', `batches/${MISSING}/pause`, 'reason', { reason: 'x'.repeat(2001) }],
      ['post', `batches/${MISSING}/reprocess`, 'concurrency', { concurrency: 99 }],
      ['post', `batches/${MISSING}/reprocess`, 'wait', { wait: 'no' }],
      ['post', 'batches', 'batchType', undefined],
      ['post', `batches?batchType=${'t'.repeat(201)}`, 'batchType', undefined],
      ['get', 'batches/stream?status=nope', 'status', undefined],
    ] as const)('%s %s: 400 naming %s', async (method, path, field, body) => {
      const res = keep(await call(method, path, both).send(body));
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.message)).toContain(field);
    });
  });

  describe('happy paths', () => {
    const both = { ...ADMIN, ...HEADER };

    it('lists and filters batches, newest first', async () => {
      const ids = await processedBatch();
      const pending = await batches.createBatch('contact', [{ email: 'p@x.com' }]);
      const all = await call('get', 'batches?limit=2', ADMIN).expect(200);
      expect((all.body as Array<{ id: string }>).map((b) => b.id)).toEqual([pending.id, ids.batch]);
      const completed = await call(
        'get',
        'batches?status=completed_with_errors&batchType=contact&limit=1',
        ADMIN,
      ).expect(200);
      expect(completed.body).toEqual([expect.objectContaining({ id: ids.batch })]);
      const two = await call(
        'get',
        'batches?status=pending&status=completed_with_errors&limit=2',
        ADMIN,
      );
      expect(two.body).toHaveLength(2);
      const skipped = await call('get', 'batches?limit=1&offset=1', ADMIN).expect(200);
      expect(skipped.body[0].id).toBe(ids.batch);
    });

    it('reads a batch with its summary and lineage, its rows, failures, logs and progress', async () => {
      const ids = await processedBatch();
      const before = new Date().toISOString();
      const one = await call('get', `batches/${ids.batch}`, ADMIN).expect(200);
      // When the reading began, comparable with the stream's readings (ISO 8601, UTC).
      expect((one.body as { readAt: string }).readAt >= before).toBe(true);
      expect(one.body).toMatchObject({
        readAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
        batch: { id: ids.batch, status: 'completed_with_errors' },
        summary: { totalItems: 3, completedItems: 2, failedItems: 1 },
        lineage: { batches: [expect.objectContaining({ batchId: ids.batch })] },
      });
      const items = await call('get', `batches/${ids.batch}/items?status=failed`, ADMIN);
      expect(items.body).toEqual([expect.objectContaining({ id: ids.item, status: 'failed' })]);
      const page = await call('get', `batches/${ids.batch}/items?limit=1&offset=2`, ADMIN);
      expect(page.body).toEqual([expect.objectContaining({ itemIndex: 2 })]);
      const failures = await call('get', `batches/${ids.batch}/failures`, ADMIN).expect(200);
      expect(failures.body).toEqual([
        expect.objectContaining({
          itemId: ids.item,
          reasons: ['email "not-an-email" is malformed'],
        }),
      ]);
      const logs = await call('get', `batches/${ids.batch}/logs`, ADMIN).expect(200);
      expect(logs.body.length).toBeGreaterThan(0);
      const errors = await call('get', `batches/${ids.batch}/logs?level=error&level=warn`, ADMIN);
      expect(errors.status).toBe(200);
      const progress = await call('get', `batches/${ids.batch}/progress`, ADMIN).expect(200);
      expect(progress.body).toMatchObject({ status: 'completed_with_errors', percent: 100 });
    });

    it('exports the failures as CSV and as JSON lines, as files', async () => {
      const ids = await processedBatch();
      const csv = await call('get', `batches/${ids.batch}/failures/export`, ADMIN).expect(200);
      expect(csv.headers['content-type']).toContain('text/csv');
      expect(csv.headers['content-disposition']).toContain(`failures-${ids.batch}.csv`);
      expect(csv.text.split('\n')[0]).toContain('_item_id');
      expect(csv.text).toContain('not-an-email');
      const jsonl = await call(
        'get',
        `batches/${ids.batch}/failures/export?format=jsonl`,
        ADMIN,
      ).expect(200);
      const lines = jsonl.text.trim().split('\n');
      expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
        expect.objectContaining({ itemId: ids.item, data: { email: 'not-an-email' } }),
      ]);
    });

    it('corrects one row, then a set, then reprocesses: every row is in', async () => {
      const ids = await processedBatch();
      // The data arrives as sent: nested values, dates as text, keys a class would not declare.
      // (JSON text: an object literal would take "__proto__" as its prototype.)
      const sent = `{"email":"fixed@x.com","extra":{"tags":[1,"two",null],"constructor":{}},
        "constructor":"c","__proto__":"p","toString":"t"}`;
      const one = await call('patch', `items/${ids.item}`, both)
        .set('content-type', 'application/json')
        .send(`{"data":${sent}}`)
        .expect(200);
      expect(one.body).toMatchObject({ id: ids.item });
      // Every key kept (PostgreSQL's jsonb orders them its own way).
      const entries = (value: unknown) => JSON.stringify(Object.entries(value as object).sort());
      expect(entries(one.body.correctedData)).toBe(entries(JSON.parse(sent)));
      expect(Object.keys(one.body.correctedData as object)).toContain('__proto__');
      await call('patch', `items/${ids.item}`, both)
        .send({ data: { email: 'fixed@x.com' } })
        .expect(200);
      const set = await call('post', `batches/${ids.batch}/corrections`, both)
        .set('content-type', 'application/json')
        .send(
          `{"corrections":[{"itemId":"${ids.item}","data":{"email":"b@x.com","constructor":"c2"}}],` +
            `"mode":"merge"}`,
        )
        .expect(200);
      expect(set.body).toMatchObject({ corrected: 1 });
      const [merged] = await batches.getItems(ids.batch, { status: 'failed' });
      expect(merged.correctedData).toEqual({ email: 'b@x.com', constructor: 'c2' });
      const child = await call('post', `batches/${ids.batch}/reprocess`, both).send({}).expect(201);
      expect(child.body).toMatchObject({ status: 'completed', completedItems: 1, failedItems: 0 });
      const failures = await call('get', `batches/${ids.batch}/failures`, ADMIN).expect(200);
      expect(failures.body).toEqual([]);
      const refused = keep(
        await call('post', `batches/${ids.batch}/reprocess`, both).send({}).expect(409),
      );
      expect(refused.body.error).toBe('BATCH_NOT_REPROCESSABLE');
    });

    it('applies an edited failures export sent as a file, CSV or JSON lines; refuses other types and a bad file', async () => {
      const ids = await processedBatch();
      const exported = await call('get', `batches/${ids.batch}/failures/export`, ADMIN);
      // The data cell, last on its line (the reason quotes the value too).
      const csv = exported.text.replace(/,not-an-email(\r?\n)/, ',csv@x.com$1');
      expect(csv).not.toBe(exported.text);
      const fromCsv = await call('post', `batches/${ids.batch}/corrections/file`, both)
        .type('text/csv')
        .send(csv)
        .expect(200);
      expect(fromCsv.body).toMatchObject({ corrected: 1 });
      const [afterCsv] = await batches.getItems(ids.batch, { status: 'failed' });
      expect(afterCsv.correctedData).toEqual({ email: 'csv@x.com' });

      const jsonl = await call('get', `batches/${ids.batch}/failures/export?format=jsonl`, ADMIN);
      const line = JSON.parse(jsonl.text.trim()) as { data: object };
      const edited = JSON.stringify({ ...line, data: { ...line.data, email: 'jsonl@x.com' } });
      const fromJsonl = await call('post', `batches/${ids.batch}/corrections/file?mode=merge`, both)
        .type('application/x-ndjson')
        .send(`${edited}\n`)
        .expect(200);
      expect(fromJsonl.body).toMatchObject({ corrected: 1 });
      const [afterJsonl] = await batches.getItems(ids.batch, { status: 'failed' });
      expect(afterJsonl.correctedData).toEqual({ email: 'jsonl@x.com' });

      const asJson = keep(
        await call('post', `batches/${ids.batch}/corrections/file`, both).send({ rows: [] }),
      );
      expect(asJson.status).toBe(415);
      expect(asJson.body.message).toContain('Content-Type: text/csv');
      const latin = keep(
        await call('post', `batches/${ids.batch}/corrections/file`, both)
          .type('text/csv; charset=latin1')
          .send(csv),
      );
      expect(latin.status).toBe(415);
      const unknownItem = keep(
        await call('post', `batches/${ids.batch}/corrections/file`, both)
          .type('text/csv')
          .send(csv.replace(ids.item, MISSING)),
      );
      expect(unknownItem.status).toBe(400);
      expect(unknownItem.body).toMatchObject({
        error: 'CORRECTIONS_REFUSED',
        problems: [expect.objectContaining({ line: 2 })],
      });
      const huge = keep(
        await call('post', `batches/${ids.batch}/corrections/file`, both)
          .type('text/csv')
          .send(`${csv}${'x'.repeat(17 * 1024 * 1024)}`),
      );
      expect(huge.status).toBe(413);
      const badMode = keep(
        await call('post', `batches/${ids.batch}/corrections/file?mode=append`, both)
          .type('text/csv')
          .send(csv),
      );
      expect(badMode.status).toBe(400);
      expect(JSON.stringify(badMode.body.message)).toContain('mode');
      // Nothing of the refused files was applied.
      const [still] = await batches.getItems(ids.batch, { status: 'failed' });
      expect(still.correctedData).toEqual({ email: 'jsonl@x.com' });
    });

    it('pauses, resumes and cancels a batch, with reasons; a second cancel of an ended batch is 409', async () => {
      const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
      const paused = await call('post', `batches/${batch.id}/pause`, both)
        .send({ reason: 'checking the file' })
        .expect(200);
      expect(paused.body).toMatchObject({ status: 'paused', errorMessage: 'checking the file' });
      const resumed = await call('post', `batches/${batch.id}/resume`, both)
        .send({ retryFailed: true })
        .expect(200);
      expect(resumed.body).toMatchObject({ status: 'pending' });
      const cancelled = await call('post', `batches/${batch.id}/cancel`, both)
        .send({ reason: 'wrong file' })
        .expect(200);
      expect(cancelled.body).toMatchObject({ status: 'cancelled' });
      const ended = await batches.createBatch('contact', [{ email: 'e@x.com' }]);
      await batches.processBatch(ended.id);
      const conflict = keep(
        await call('post', `batches/${ended.id}/pause`, both).send({}).expect(409),
      );
      expect(conflict.body.error).toBe('BATCH_STATUS_CONFLICT');
    });

    it('approves and rejects batches that wait for approval', async () => {
      const first = await batches.createBatch('contact', [{ email: 'a@x.com' }], {
        requireApproval: true,
      });
      const second = await batches.createBatch('contact', [{ email: 'b@x.com' }], {
        requireApproval: true,
      });
      const approved = await call('post', `batches/${first.id}/approve`, both).expect(200);
      expect(approved.body).toMatchObject({ status: 'pending' });
      const rejected = await call('post', `batches/${second.id}/reject`, both)
        .send({ reason: 'not this month' })
        .expect(200);
      expect(rejected.body).toMatchObject({ status: 'rejected', errorMessage: 'not this month' });
      const again = keep(await call('post', `batches/${second.id}/approve`, both).expect(409));
      expect(again.body.error).toBe('BATCH_STATUS_CONFLICT');
    });
  });

  describe('progress as Server-Sent Events', () => {
    /** Reads a progress stream to its end: its status code and its events' data. */
    async function readStream(batchId: string, onFirst: () => void) {
      const port = await listening();
      return new Promise<{ status: number; events: string[] }>((resolve, reject) => {
        get(
          { port, path: `/imports-admin/batches/${batchId}/progress/stream`, headers: ADMIN },
          (res) => {
            let text = '';
            let first = true;
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
              // Nest 11 writes a blank line before the first event, in a chunk of its own.
              if (first && text.includes('data:')) {
                first = false;
                onFirst();
              }
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                events: text.split('\n\n').filter((block) => block.includes('data:')),
              }),
            );
          },
        ).on('error', reject);
      });
    }
    const dataOf = (event: string) =>
      JSON.parse(event.split('data: ')[1]) as { status: string; percent: number };

    it('streams the progress of a batch another process runs, and ends when it ends', async () => {
      await database.connect().then((client) => client.query(CREATE_APPLIED_TABLE));
      const rows = Array.from({ length: 40 }, (_, n) => ({ n }));
      const batch = await batches.createBatch('applied_row', rows);
      let child: ProcessingChild | undefined;
      const stream = await readStream(batch.id, () => {
        // The first event is out: only now does the other process start the batch.
        child = startProcessingChild({
          databaseUrl: database.db.url,
          batchId: batch.id,
          itemPauseMs: 50,
        });
      });
      expect(stream.status).toBe(200);
      const exit = await (child as ProcessingChild).exited;
      expect({ code: exit.code, stderr: exit.stderr }).toEqual({ code: 0, stderr: '' });
      expect(resultOf(exit.stdout)).toEqual({ processed: 40, status: 'completed' });
      expect(stream.events[0]).toContain('event: progress');
      expect(dataOf(stream.events[0])).toMatchObject({ status: 'pending', percent: 0 });
      expect(dataOf(stream.events[stream.events.length - 1])).toMatchObject({
        status: 'completed',
        percent: 100,
      });
      const percents = stream.events.map((event) => dataOf(event).percent);
      expect(percents).toEqual([...percents].sort((x, y) => x - y));
    });

    it('ends the stream with a failure event when a reading fails, without the database words', async () => {
      const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
      const client = await database.connect();
      let moved = false;
      try {
        const stream = await readStream(batch.id, () => {
          // After the first event, the table the readings count on goes away.
          moved = true;
          void client.query('ALTER TABLE import_batch_progress RENAME TO progress_elsewhere');
        });
        expect(stream.status).toBe(200);
        expect(stream.events[0]).toContain('event: progress');
        const last = stream.events[stream.events.length - 1];
        expect(last).toContain('event: failure');
        expect(JSON.parse(last.split('data: ')[1])).toEqual({
          statusCode: 500,
          error: 'INTERNAL_ERROR',
          message: expect.stringContaining('could not finish this request'),
        });
        expect(stream.events.join('\n')).not.toMatch(LEAK);
        expect(stream.events.join('\n')).not.toContain('progress_elsewhere');
      } finally {
        if (moved)
          await client.query('ALTER TABLE progress_elsewhere RENAME TO import_batch_progress');
      }
    });

    it('stops reading the progress when the client goes away', async () => {
      const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
      const port = await listening();
      // The reader's watches under way: internal, the one place where a stopped watch shows.
      const reader: unknown = app.get(ProgressReader);
      const { watches } = reader as { watches: Set<unknown> };
      let first = false;
      const client = get(
        { port, path: `/imports-admin/batches/${batch.id}/progress/stream`, headers: ADMIN },
        (res) => res.once('data', () => (first = true)),
      );
      client.on('error', () => undefined);
      await waitFor(() => first && watches.size === 1, { what: 'the stream, watching' });
      client.destroy();
      // The batch never ends; the watch stops at its next reading at the latest.
      await waitFor(() => watches.size === 0, { what: 'the watch, stopped' });
    });
  });

  describe('registration', () => {
    it('mounts twice in one app, each at its path behind its guards, a guard with its dependencies', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...moduleImports(database.db.url),
          ReliableImportsAdminModule.register({ path: 'first', guards: [TokenGuard] }),
          ReliableImportsAdminModule.register({
            path: 'second',
            guards: [KeyGuard],
            imports: [KeysModule],
          }),
        ],
        providers: [ContactProcessor, AppliedRowProcessor],
      }).compile();
      const twice = moduleRef.createNestApplication<INestApplication<App>>({ logger });
      database.closeBeforeCheck(() => twice.close());
      await twice.init();
      const server = twice.getHttpServer();
      await request(server).get('/first/batches').set(ADMIN).expect(200);
      await request(server).get('/first/batches').set({ 'x-key': 'k-1' }).expect(401);
      await request(server).get('/second/batches').set({ 'x-key': 'k-1' }).expect(200);
      await request(server).get('/second/batches').set(ADMIN).expect(403);
    });

    it('refuses to register without a guard, naming the fix', () => {
      for (const options of [{}, { guards: [] }, { allowUnauthenticated: false }]) {
        expect(() => ReliableImportsAdminModule.register(options)).toThrow(InvalidOptionsError);
        expect(() => ReliableImportsAdminModule.register(options)).toThrow(
          /register\(\{ guards: \[AdminGuard\] \}\).*allowUnauthenticated: true/s,
        );
      }
    });

    it("works under the app's global prefix and its own global ValidationPipe", async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          ...moduleImports(database.db.url),
          ReliableImportsAdminModule.register({ guards: [TokenGuard] }),
        ],
        providers: [ContactProcessor, AppliedRowProcessor],
      }).compile();
      const prefixed = moduleRef.createNestApplication<INestApplication<App>>({ logger });
      prefixed.setGlobalPrefix('api');
      prefixed.useGlobalPipes(
        new ValidationPipe({ whitelist: true, transform: true, validateCustomDecorators: true }),
      );
      database.closeBeforeCheck(() => prefixed.close());
      await prefixed.init();
      const server = prefixed.getHttpServer();
      const ids = await processedBatch();
      await request(server).get('/api/imports-admin/batches?limit=1').set(ADMIN).expect(200);
      const bad = await request(server).get('/api/imports-admin/batches?limit=x').set(ADMIN);
      expect(bad.status).toBe(400);
      const fixed = await request(server)
        .patch(`/api/imports-admin/items/${ids.item}`)
        .set({ ...ADMIN, ...HEADER, 'content-type': 'application/json' })
        .send('{"data":{"email":"z@x.com","constructor":"kept"}}')
        .expect(200);
      expect(fixed.body.correctedData).toEqual({ email: 'z@x.com', constructor: 'kept' });
    });

    it('refuses to start without ReliableImportsModule, naming it', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [ReliableImportsAdminModule.register({ guards: [TokenGuard] })],
      }).compile();
      const alone = moduleRef.createNestApplication({ logger: false });
      await expect(alone.init()).rejects.toThrow(
        /import ReliableImportsModule\.forRoot\(\) in the application too/,
      );
      await alone.close();
    });

    it('mounts without a guard when told to, with a warning', async () => {
      const open = await start({ path: 'open', allowUnauthenticated: true });
      expect(logger.warnings.filter((w) => w.includes('"/open" has no guard'))).toHaveLength(1);
      await request(open.getHttpServer()).get('/open/batches').expect(200);
      // The cross-site protection stays.
      await request(open.getHttpServer()).post(`/open/batches/${MISSING}/pause`).expect(403);
    });

    it('mounts at the path each app chooses', async () => {
      const ops = await start({ path: '/ops/imports/', guards: [TokenGuard] });
      await request(ops.getHttpServer()).get('/ops/imports/batches').set(ADMIN).expect(200);
      await request(ops.getHttpServer()).get('/ops/imports/batches').expect(401);
      await request(ops.getHttpServer()).get('/imports-admin/batches').set(ADMIN).expect(404);
      await call('get', 'batches', ADMIN).expect(200);
    });

    it('has no route at all without the admin module', async () => {
      const plain = await start();
      const ids = { batch: MISSING, item: MISSING };
      for (const route of ROUTES) {
        const res = await request(plain.getHttpServer())
          [route.method](`/imports-admin/${route.path(ids)}`)
          .set({ ...ADMIN, ...HEADER })
          .type(route.type ?? 'json')
          .send(route.body);
        expect([name(route), res.status]).toEqual([name(route), 404]);
      }
    });
  });
});
