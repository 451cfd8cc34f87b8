import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  UnauthorizedException,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchService,
  ImportProcessor,
  RELIABLE_IMPORTS_EVENTS,
  ReliableImportsAdminModule,
  ReliableImportsModule,
  type ImportItem,
} from '../../lib';
import { ImportEventPublisher } from '../../lib/events/import-event-publisher';
import { CREATE_APPLIED_TABLE, resultOf, startProcessingChild } from '../support/child-process';
import { SseFrames } from '../support/sse';
import { useTestDatabase } from '../support/use-test-app';
import { waitFor } from '../support/timing';

const ADMIN = { authorization: 'Bearer admin' };
const HEADER = { 'x-reliable-imports-request': '1' };
const MISSING = '0b6c1f0e-1111-4000-8000-000000000001';
const {
  batchStarted,
  batchProgress,
  rowFailed,
  batchPaused,
  batchResumed,
  batchCancelled,
  batchApproved,
  batchRejected,
  batchCompleted,
} = RELIABLE_IMPORTS_EVENTS;

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  validateItem(item: ImportItem<{ email: string }>): string[] {
    return item.sourceData.email.includes('@')
      ? []
      : [`email "${item.sourceData.email}" is malformed`];
  }

  processItem(): void {}
}

/** The batch type of the processing child (`test/support/processing-child.ts`), to create its batches. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
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

/** A message of the stream: its `event:` and its data. */
interface Message {
  type: string;
  data: Record<string, unknown>;
}

/** A stream being read: its messages so far, in order. */
interface Reading {
  status: number;
  messages: Message[];
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>;
  /** Hangs up, as a page that goes away. */
  hangUp(): void;
}

const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

/**
 * The stream of a batch's events (`GET <path>/batches/:id/events/stream`): what the module's events of a
 * batch look like to a client, wherever they were published.
 */
describe("the admin stream of a batch's events", () => {
  const database = useTestDatabase();
  let app: INestApplication<App>;
  let batches: BatchService;
  let watchers: Set<unknown>;
  /** The watchers the module has of its own (the runner's), before any stream. */
  let baseline: number;

  async function start(module = ReliableImportsModule.forRoot()) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: database.db.url,
          retryAttempts: 0,
          logging: false,
        }),
        module,
        ReliableImportsAdminModule.register({ guards: [TokenGuard] }),
      ],
      providers: [ContactProcessor, AppliedRowProcessor],
    }).compile();
    const started = moduleRef.createNestApplication<INestApplication<App>>({ logger: false });
    database.closeBeforeCheck(() => started.close());
    await started.init();
    return started;
  }

  /** The publisher's watchers: internal, the one place where a stream left listening shows. */
  const watchersOf = (of: INestApplication<App>): Set<unknown> => {
    const publisher: unknown = of.get(ImportEventPublisher);
    return (publisher as { watchers: Set<unknown> }).watchers;
  };

  /** Opens the stream of `batchId` on `on` and reads it as it comes; resolves once it answers. */
  async function open(batchId: string, on = app): Promise<Reading> {
    const server = on.getHttpServer() as unknown as Server;
    if (!server.listening) await on.listen(0);
    const { port } = server.address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const client = get(
        { port, path: `/imports-admin/batches/${batchId}/events/stream`, headers: ADMIN },
        (res) => {
          const messages: Message[] = [];
          const frames = new SseFrames();
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            for (const { type, data } of frames.push(chunk))
              messages.push({
                type: type ?? 'message',
                data: JSON.parse(data) as Record<string, unknown>,
              });
          });
          const ended = new Promise<void>((done) => res.on('end', done));
          resolve({ status: res.statusCode ?? 0, messages, ended, hangUp: () => client.destroy() });
        },
      );
      client.on('error', reject);
    });
  }

  const post = (path: string, body: object = {}) =>
    request(app.getHttpServer())
      .post(`/imports-admin/${path}`)
      .set({ ...ADMIN, ...HEADER })
      .send(body)
      .expect(200);

  beforeAll(async () => {
    app = await start();
    batches = app.get(BatchService);
    watchers = watchersOf(app);
    baseline = watchers.size;
    await database.connect().then((client) => client.query(CREATE_APPLIED_TABLE));
  });

  it('sends the events of a batch another process runs, in order, with their payloads, and ends after the last', async () => {
    const batch = await batches.createBatch('applied_row', rows(40));
    const stream = await open(batch.id);
    expect(stream.status).toBe(200);
    // The stream answers once this instance listens: only now does the other process run the batch.
    const child = startProcessingChild({
      databaseUrl: database.db.url,
      batchId: batch.id,
      itemPauseMs: 50,
    });
    await stream.ended;
    const exit = await child.exited;
    expect({ code: exit.code, stderr: exit.stderr }).toEqual({ code: 0, stderr: '' });
    expect(resultOf(exit.stdout)).toEqual({ processed: 40, status: 'completed' });

    const { messages } = stream;
    const types = messages.map((message) => message.type);
    expect(types[0]).toBe(batchStarted);
    expect(types[types.length - 1]).toBe(batchCompleted);
    // Between them, the progress the child's run published (at most once a second: 40 rows take 2).
    expect(types.slice(1, -1)).toEqual(types.slice(1, -1).map(() => batchProgress));
    expect(types.length).toBeGreaterThan(2);

    // Every event is the other process's, none this instance's own.
    const childInstance = messages[0].data.instanceId;
    expect(childInstance).not.toBe(app.get(ImportEventPublisher).instanceId);
    expect(messages.map((message) => message.data.instanceId)).toEqual(
      messages.map(() => childInstance),
    );
    const base = {
      batchId: batch.id,
      batchType: 'applied_row',
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      instanceId: childInstance,
    };
    expect(messages[0].data).toEqual({
      ...base,
      name: batchStarted,
      status: BATCH_STATUS.processing,
      totalItems: 40,
      parentBatchId: null,
    });
    const done = messages.slice(1, -1).map((message) => {
      expect(message.data).toMatchObject({ ...base, name: batchProgress });
      const progress = message.data.progress as {
        batchId: string;
        totalItems: number;
        done: number;
      };
      expect(progress).toMatchObject({ batchId: batch.id, totalItems: 40 });
      return progress.done;
    });
    expect(done).toEqual([...done].sort((x, y) => x - y));
    expect(messages[messages.length - 1].data).toEqual({
      ...base,
      name: batchCompleted,
      status: BATCH_STATUS.completed,
      totalItems: 40,
      completedItems: 40,
      failedItems: 0,
      skippedItems: 0,
      cancelledItems: 0,
    });
    // In the order they were published.
    const times = messages.map((message) => Date.parse(String(message.data.at)));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    // The stream let go of its watch when it ended.
    await waitFor(() => watchers.size === baseline, { what: 'the watch, released' });
  });

  it("sends this instance's events too: approval, pause, resume, a row's failure and the end", async () => {
    const batch = await batches.createBatch(
      'contact',
      [{ email: 'a@x.com' }, { email: 'not-an-email' }, { email: 'c@x.com' }],
      { requireApproval: true },
    );
    const stream = await open(batch.id);
    // Approved here by the service: the route would start a run, which could take the batch before the
    // pause. The resume's run and processBatch share the batch.
    await batches.approveBatch(batch.id);
    await post(`batches/${batch.id}/pause`, { reason: 'checking the file' });
    await post(`batches/${batch.id}/resume`);
    await batches.processBatch(batch.id);
    await stream.ended;

    // Progress may come or not, with three rows: the rest comes in this order.
    const messages = stream.messages.filter((message) => message.type !== batchProgress);
    expect(messages.map((message) => message.type)).toEqual([
      batchApproved,
      batchPaused,
      batchResumed,
      batchStarted,
      rowFailed,
      batchCompleted,
    ]);
    for (const message of stream.messages) expect(message.data.name).toBe(message.type);
    const [approved, paused, resumed, , failed, completed] = messages.map((m) => m.data);
    expect(approved).toMatchObject({ batchId: batch.id, status: BATCH_STATUS.pending });
    expect(paused).toMatchObject({ status: BATCH_STATUS.paused, reason: 'checking the file' });
    expect(resumed).toMatchObject({ status: BATCH_STATUS.pending, requeuedItems: 0 });
    const [item] = await batches.getItems(batch.id, { status: 'failed' });
    expect(failed).toEqual({
      name: rowFailed,
      batchId: batch.id,
      batchType: 'contact',
      status: BATCH_STATUS.processing,
      at: expect.any(String),
      instanceId: app.get(ImportEventPublisher).instanceId,
      itemId: item.id,
      itemIndex: 1,
      sourceLine: null,
      errorMessage: expect.stringContaining('email "not-an-email" is malformed'),
      errorCode: 'VALIDATION_FAILED',
      attempts: 1,
    });
    expect(completed).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      completedItems: 2,
      failedItems: 1,
    });
    expect(JSON.stringify(stream.messages)).not.toMatch(/"stack"|\bat .*\.(ts|js):\d+/);
  });

  it('ends after a cancel or a rejection, which end the batch', async () => {
    const pending = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
    const waiting = await batches.createBatch('contact', [{ email: 'b@x.com' }], {
      requireApproval: true,
    });
    const [cancelling, rejecting] = [await open(pending.id), await open(waiting.id)];
    await post(`batches/${pending.id}/cancel`, { reason: 'wrong file' });
    await post(`batches/${waiting.id}/reject`, { reason: 'not this month' });
    await Promise.all([cancelling.ended, rejecting.ended]);
    expect(cancelling.messages).toEqual([
      {
        type: batchCancelled,
        data: expect.objectContaining({
          status: BATCH_STATUS.cancelled,
          reason: expect.stringContaining('wrong file'),
          cancelledItems: 1,
        }),
      },
    ]);
    expect(rejecting.messages).toEqual([
      {
        type: batchRejected,
        data: expect.objectContaining({
          status: BATCH_STATUS.rejected,
          reason: 'not this month',
        }),
      },
    ]);
  });

  it('answers an ended batch with a stream that ends at once, empty', async () => {
    const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
    await batches.processBatch(batch.id);
    const stream = await open(batch.id);
    expect(stream.status).toBe(200);
    await stream.ended;
    expect(stream.messages).toEqual([]);
  });

  it('answers 404 for a batch that does not exist and 400 for an id that is no UUID, before any stream', async () => {
    const server = app.getHttpServer();
    const missing = await request(server)
      .get(`/imports-admin/batches/${MISSING}/events/stream`)
      .set(ADMIN)
      .expect(404);
    expect(missing.body).toEqual({
      statusCode: 404,
      error: 'BATCH_NOT_FOUND',
      message: expect.stringContaining(MISSING),
    });
    const malformed = await request(server)
      .get('/imports-admin/batches/not-a-uuid/events/stream')
      .set(ADMIN)
      .expect(400);
    expect(JSON.stringify(malformed.body.message)).toContain('id must be a UUID');
    expect(watchers.size).toBe(baseline);
  });

  it("is behind the app's guards: 401 without a token, 403 with one it refuses, and nothing watched", async () => {
    const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
    const path = `/imports-admin/batches/${batch.id}/events/stream`;
    const server = app.getHttpServer();
    await request(server).get(path).expect(401);
    await request(server).get(path).set({ authorization: 'Bearer viewer' }).expect(403);
    expect(watchers.size).toBe(baseline);
  });

  it('lets go of its watch when the client goes away', async () => {
    const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
    expect(watchers.size).toBe(baseline);
    const stream = await open(batch.id);
    // The batch never runs: only the client's leaving ends the stream.
    await waitFor(() => watchers.size === baseline + 1, { what: 'the stream, watching' });
    stream.hangUp();
    await waitFor(() => watchers.size === baseline, { what: 'the watch, released' });
  });

  it('where LISTEN is off (connectionPooler: transaction), sends its own events only and ends with the batch', async () => {
    const pooled = await start(ReliableImportsModule.forRoot({ connectionPooler: 'transaction' }));
    const batch = await batches.createBatch('applied_row', rows(10), { requireApproval: true });
    const stream = await open(batch.id, pooled);
    expect(stream.status).toBe(200);
    // Approved by that instance's service, not its route: the route would run the batch there.
    await pooled.get(BatchService).approveBatch(batch.id);
    const child = startProcessingChild({ databaseUrl: database.db.url, batchId: batch.id });
    const exit = await child.exited;
    expect(resultOf(exit.stdout)).toEqual({ processed: 10, status: 'completed' });
    // Ended by a reading of the batch: the child's events never reach an instance that cannot LISTEN.
    await stream.ended;
    expect(stream.messages.map((message) => message.type)).toEqual([batchApproved]);
    expect(watchersOf(pooled).size).toBe(baseline);
  });
});
