import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  UnauthorizedException,
} from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BatchService,
  type ImportItem,
  ImportProcessor,
  ReliableImportsAdminModule,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  validateItem(item: ImportItem<{ email: string }>): string[] {
    return item.sourceData.email.includes('@') ? [] : ['email is malformed'];
  }

  processItem(): void {}
}

class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const { headers } = context.switchToHttp().getRequest<IncomingMessage>();
    if (!headers.authorization) throw new UnauthorizedException();
    return headers.authorization === 'Bearer admin';
  }
}

type Verb = 'get' | 'post' | 'patch';
interface Expected {
  verb: Verb;
  path: string;
  param?: 'id' | 'itemId';
  query?: string[];
  /** The query fields that must be given (the others are optional). */
  requiredQuery?: string[];
  /** The body's content type and the names of its schema's properties. */
  body?: { type: string; properties?: string[] };
  ok?: string;
}

/** Every admin route, as the document must show it. */
const EXPECTED: Expected[] = [
  { verb: 'get', path: 'batch-types' },
  {
    verb: 'get',
    path: 'batches',
    query: ['status', 'batchType', 'parentBatchId', 'limit', 'offset'],
  },
  {
    verb: 'get',
    path: 'batches/stream',
    query: ['status', 'batchType', 'parentBatchId', 'limit', 'offset'],
  },
  {
    verb: 'post',
    path: 'batches',
    query: ['batchType'],
    requiredQuery: ['batchType'],
    body: { type: 'text/csv' },
    ok: '202',
  },
  { verb: 'get', path: 'batches/{id}', param: 'id' },
  { verb: 'get', path: 'batches/{id}/stream', param: 'id' },
  { verb: 'get', path: 'batches/{id}/items', param: 'id', query: ['status', 'limit', 'offset'] },
  {
    verb: 'get',
    path: 'batches/{id}/failures',
    param: 'id',
    query: ['includeResolved', 'limit', 'offset'],
  },
  { verb: 'get', path: 'batches/{id}/failures/export', param: 'id', query: ['format'] },
  {
    verb: 'get',
    path: 'batches/{id}/logs',
    param: 'id',
    query: ['level', 'itemId', 'limit', 'offset'],
  },
  { verb: 'get', path: 'batches/{id}/progress', param: 'id' },
  { verb: 'get', path: 'batches/{id}/progress/stream', param: 'id' },
  { verb: 'get', path: 'batches/{id}/events/stream', param: 'id' },
  {
    verb: 'patch',
    path: 'items/{itemId}',
    param: 'itemId',
    body: { type: 'application/json', properties: ['data', 'mode'] },
  },
  {
    verb: 'post',
    path: 'batches/{id}/corrections',
    param: 'id',
    body: { type: 'application/json', properties: ['corrections', 'mode'] },
  },
  {
    verb: 'post',
    path: 'batches/{id}/corrections/file',
    param: 'id',
    query: ['mode'],
    body: { type: 'text/csv' },
  },
  {
    verb: 'post',
    path: 'batches/{id}/reprocess',
    param: 'id',
    body: { type: 'application/json', properties: ['failedItemsOnly', 'wait'] },
    ok: '201',
  },
  {
    verb: 'post',
    path: 'batches/{id}/pause',
    param: 'id',
    body: { type: 'application/json', properties: ['reason'] },
  },
  {
    verb: 'post',
    path: 'batches/{id}/resume',
    param: 'id',
    body: { type: 'application/json', properties: ['retryFailed'] },
  },
  {
    verb: 'post',
    path: 'batches/{id}/cancel',
    param: 'id',
    body: { type: 'application/json', properties: ['reason'] },
  },
  { verb: 'post', path: 'batches/{id}/approve', param: 'id' },
  {
    verb: 'post',
    path: 'batches/{id}/reject',
    param: 'id',
    body: { type: 'application/json', properties: ['reason'] },
  },
];

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; format?: string; items?: { enum?: string[] } };
}
interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: Parameter[];
  requestBody?: {
    content: Record<string, { schema?: { $ref?: string }; examples?: Record<string, unknown> }>;
  };
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
interface Schema {
  properties?: Record<string, { example?: unknown; items?: { $ref?: string } }>;
  required?: string[];
}

const operation = (document: OpenAPIObject, path: string, verb: Verb) =>
  (document.paths[path] as Record<Verb, Operation | undefined> | undefined)?.[verb];

const schemaOf = (document: OpenAPIObject, ref: string | undefined): Schema => {
  expect(ref).toMatch(/^#\/components\/schemas\//);
  return document.components?.schemas?.[ref!.split('/').pop()!] as Schema;
};

describe('the admin API in the OpenAPI document (@nestjs/swagger)', () => {
  const database = useTestDatabase();
  let app: INestApplication<App>;
  let document: OpenAPIObject;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...moduleImports(database.db.url),
        ReliableImportsAdminModule.register({ path: 'ops/imports', guards: [TokenGuard] }),
        // A second registration, with its own header: each shows its own.
        ReliableImportsAdminModule.register({
          path: 'internal/imports',
          allowUnauthenticated: true,
          csrfHeader: 'X-Internal-Request',
        }),
      ],
      providers: [ContactProcessor],
    }).compile();
    app = moduleRef.createNestApplication<INestApplication<App>>({ logger: false });
    app.setGlobalPrefix('api');
    database.closeBeforeCheck(() => app.close());
    await app.init();
    document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder().setTitle('app').setVersion('1').build(),
    );
  });

  it('lists every admin route under the registration path and no other under it', () => {
    const listed = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/api/ops/imports/'))
      .flatMap(([path, item]) =>
        (['get', 'post', 'patch', 'put', 'delete'] as const)
          .filter((verb) => (item as Record<string, unknown>)[verb])
          .map((verb) => `${verb} ${path}`),
      );
    expect(listed.sort()).toEqual(
      EXPECTED.map(({ verb, path }) => `${verb} /api/ops/imports/${path}`).sort(),
    );
  });

  describe.each(EXPECTED)('$verb $path', (expected) => {
    let op: Operation;
    beforeAll(() => {
      op = operation(document, `/api/ops/imports/${expected.path}`, expected.verb)!;
    });

    it('has a summary and the admin tag', () => {
      expect(op.summary).toEqual(expect.any(String));
      expect(op.summary!.length).toBeGreaterThan(5);
      expect(op.tags).toEqual(['reliable-imports admin']);
    });

    it('declares its path parameter as a UUID and its query fields', () => {
      const parameters = op.parameters ?? [];
      const path = parameters.filter((p) => p.in === 'path');
      expect(path.map((p) => [p.name, p.required, p.schema?.format])).toEqual(
        expected.param ? [[expected.param, true, 'uuid']] : [],
      );
      const query = parameters.filter((p) => p.in === 'query').map((p) => p.name);
      expect(query.sort()).toEqual([...(expected.query ?? [])].sort());
      for (const p of parameters.filter((p) => p.in === 'query')) {
        expect([p.name, p.required]).toEqual([
          p.name,
          expected.requiredQuery?.includes(p.name) ?? false,
        ]);
      }
    });

    it('declares the custom header as required on POST and PATCH only', () => {
      const headers = (op.parameters ?? []).filter((p) => p.in === 'header');
      expect(headers.map((p) => [p.name, p.required])).toEqual(
        expected.verb === 'get' ? [] : [['x-reliable-imports-request', true]],
      );
    });

    it('describes its request body with a schema and examples', () => {
      if (!expected.body) {
        expect(op.requestBody).toBeUndefined();
        return;
      }
      const content = op.requestBody!.content[expected.body.type];
      expect(content).toBeDefined();
      expect(Object.keys(content.examples ?? {}).length).toBeGreaterThan(0);
      if (expected.body.properties) {
        const schema = schemaOf(document, content.schema?.$ref);
        expect(Object.keys(schema.properties ?? {}).sort()).toEqual(
          [...expected.body.properties].sort(),
        );
      }
    });

    it('lists its answer and its error statuses, with the error body', () => {
      const codes = Object.keys(op.responses);
      expect(codes).toEqual(
        expect.arrayContaining([expected.ok ?? '200', '401', '403', '500', '503']),
      );
      if (expected.param) expect(codes).toEqual(expect.arrayContaining(['400', '404']));
      // A route on a batch or a row may find it in a state that refuses the change.
      if (expected.verb !== 'get' && expected.param) expect(codes).toContain('409');
      for (const code of codes.filter((code) => Number(code) >= 400)) {
        const ref = op.responses[code].content?.['application/json']?.schema?.$ref;
        expect(ref).toBe('#/components/schemas/ReliableImportsHttpErrorBody');
      }
    });
  });

  it('gives the error body its shape', () => {
    const schema = schemaOf(document, '#/components/schemas/ReliableImportsHttpErrorBody');
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual([
      'error',
      'message',
      'problems',
      'statusCode',
    ]);
    expect(schema.required?.sort()).toEqual(['error', 'message', 'statusCode']);
  });

  it('describes the DTOs with examples, enums and nested entries', () => {
    const corrections = schemaOf(document, '#/components/schemas/CorrectionsBody');
    expect(corrections.required).toEqual(['corrections']);
    const entry = schemaOf(document, corrections.properties?.corrections.items?.$ref);
    expect(Object.keys(entry.properties ?? {}).sort()).toEqual(['data', 'itemId', 'line']);
    expect(entry.properties?.data.example).toEqual({ email: 'ada@example.com' });
    const status = operation(document, '/api/ops/imports/batches', 'get')!.parameters!.find(
      (p) => p.name === 'status',
    );
    expect(status?.schema?.items?.enum).toEqual(expect.arrayContaining(['completed', 'failed']));
    const file = operation(document, '/api/ops/imports/batches/{id}/corrections/file', 'post')!;
    expect(Object.keys(file.requestBody!.content).sort()).toEqual([
      'application/x-ndjson',
      'text/csv',
    ]);
    const exported = operation(document, '/api/ops/imports/batches/{id}/failures/export', 'get')!;
    expect(Object.keys(exported.responses['200'].content ?? {}).sort()).toEqual([
      'application/x-ndjson',
      'text/csv',
    ]);
    const stream = operation(document, '/api/ops/imports/batches/{id}/progress/stream', 'get')!;
    expect(Object.keys(stream.responses['200'].content ?? {})).toEqual(['text/event-stream']);
    const events = operation(document, '/api/ops/imports/batches/{id}/events/stream', 'get')!;
    const example = (
      events.responses['200'].content?.['text/event-stream']?.schema as
        { example?: string } | undefined
    )?.example;
    expect(example).toContain('event: reliable-imports.batch.started\ndata: {');
    expect(example).toContain('event: reliable-imports.batch.completed');
  });

  it("shows each registration's own header", () => {
    const pause = operation(document, '/api/internal/imports/batches/{id}/pause', 'post')!;
    expect(pause.parameters?.filter((p) => p.in === 'header').map((p) => p.name)).toEqual([
      'x-internal-request',
    ]);
  });

  it('leaves the routes working as before', async () => {
    const batches = app.get(BatchService);
    const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }, { email: 'bad' }]);
    await batches.processBatch(batch.id);
    const server = app.getHttpServer();
    const auth = { authorization: 'Bearer admin' };
    await request(server).get(`/api/ops/imports/batches/${batch.id}`).expect(401);
    const read = await request(server)
      .get(`/api/ops/imports/batches/${batch.id}/failures`)
      .set(auth)
      .expect(200);
    expect((read.body as unknown[]).length).toBe(1);
    await request(server).post(`/api/ops/imports/batches/${batch.id}/pause`).set(auth).expect(403);
    const [failed] = await batches.getItems(batch.id, { status: 'failed' });
    await request(server)
      .post(`/api/ops/imports/batches/${batch.id}/corrections`)
      .set({ ...auth, 'x-reliable-imports-request': '1' })
      .send({ corrections: [{ itemId: failed.id, data: { email: 'b@x.com' } }], mode: 'merge' })
      .expect(200);
    await request(server)
      .post(`/api/internal/imports/batches/${batch.id}/reprocess`)
      .set({ 'x-internal-request': '1' })
      .send({})
      .expect(201);
    expect((await batches.getFailures(batch.id)).length).toBe(0);
  });
});
