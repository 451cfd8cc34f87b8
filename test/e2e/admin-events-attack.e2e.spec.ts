import { type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { get } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BatchService,
  ImportProcessor,
  RELIABLE_IMPORTS_EVENTS,
  ReliableImportsAdminModule,
  ReliableImportsModule,
} from '../../lib';
import { ImportEventPublisher } from '../../lib/events/import-event-publisher';
import { DatabaseAdapter } from '../../lib/processing/database-adapter';
import { useTestDatabase } from '../support/use-test-app';
import { waitFor } from '../support/timing';

const ADMIN = { authorization: 'Bearer admin' };
const OTHER_INSTANCE = 'forger:1:abcd';

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  processItem(): void {}
}

class AllowAdmin {
  canActivate(context: { switchToHttp(): { getRequest<T>(): T } }): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string> }>();
    return req.headers.authorization === 'Bearer admin';
  }
}

interface Reading {
  status: number;
  raw: () => string;
  ended: Promise<void>;
  hangUp(): void;
}

/** Hostile and edge inputs to the admin stream of a batch's events. */
describe("the admin stream of a batch's events, attacked", () => {
  const database = useTestDatabase();

  async function start() {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: database.db.url,
          retryAttempts: 0,
          logging: false,
        }),
        // No worker, no emitter: the first stream is what starts this instance's LISTEN.
        ReliableImportsModule.forRoot({ worker: { enabled: false } }),
        ReliableImportsAdminModule.register({ guards: [AllowAdmin] }),
      ],
      providers: [ContactProcessor],
    }).compile();
    const app = moduleRef.createNestApplication<INestApplication<App>>({ logger: false });
    database.closeBeforeCheck(() => app.close());
    await app.init();
    await app.listen(0);
    return app;
  }

  function open(app: INestApplication<App>, batchId: string): Promise<Reading> {
    const { port } = (app.getHttpServer() as unknown as Server).address() as AddressInfo;
    return new Promise((resolve, reject) => {
      const client = get(
        {
          port,
          path: `/imports-admin/batches/${batchId}/events/stream`,
          headers: ADMIN,
          agent: false,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          const ended = new Promise<void>((done) => res.on('end', done));
          resolve({
            status: res.statusCode ?? 0,
            raw: () => text,
            ended,
            hangUp: () => client.destroy(),
          });
        },
      );
      client.on('error', reject);
    });
  }

  async function forge(payload: unknown): Promise<void> {
    const client = await database.connect();
    await client.query(`SELECT pg_notify('reliable_imports_events', $1)`, [
      typeof payload === 'string' ? payload : JSON.stringify(payload),
    ]);
  }

  const progressOf = (batchId: string, extra: Record<string, unknown> = {}) => ({
    name: RELIABLE_IMPORTS_EVENTS.batchProgress,
    batchId,
    batchType: 'contact',
    status: 'processing',
    at: new Date().toISOString(),
    instanceId: OTHER_INSTANCE,
    ...extra,
  });

  it('a LISTEN that fails once, at the first stream, is tried again at the next one', async () => {
    const app = await start();
    const adapter = app.get(DatabaseAdapter);
    const listen = jest
      .spyOn(adapter, 'listen')
      .mockRejectedValueOnce(new Error('connection blip'));
    const batches = app.get(BatchService);
    const first = await batches.createBatch('contact', [{ email: 'a@x.com' }]);
    const firstStream = await open(app, first.id);
    expect(firstStream.status).toBe(200);
    firstStream.hangUp();

    // The database is back: a later stream must hear the other instances.
    const second = await batches.createBatch('contact', [{ email: 'b@x.com' }]);
    const stream = await open(app, second.id);
    expect(stream.status).toBe(200);
    await forge(progressOf(second.id, { progress: { done: 1 } }));
    try {
      await waitFor(() => stream.raw().includes(RELIABLE_IMPORTS_EVENTS.batchProgress), {
        what: "another instance's event, heard",
        withinMs: 3000,
      });
    } finally {
      stream.hangUp();
      listen.mockRestore();
    }
  });

  it('passes on only the declared fields of a forged event, nested ones too, in well-formed frames', async () => {
    const app = await start();
    const batch = await app.get(BatchService).createBatch('contact', [{ email: 'a@x.com' }]);
    const stream = await open(app, batch.id);
    await waitFor(() => app.get(ImportEventPublisher)['unlisten'] !== null, {
      what: 'the LISTEN',
    });
    await forge(
      progressOf(batch.id, {
        stack: 'Error: secret\n    at x.ts:1:1',
        progress: { done: 1, stack: 'Error: nested secret', query: 'SELECT secret' },
        errorMessage: '</script><script>alert(1)</script>\n\nevent: x\ndata: y',
      }),
    );
    await waitFor(() => stream.raw().includes('batch.progress'), { what: 'the forged event' });
    stream.hangUp();
    const raw = stream.raw();
    expect(raw).not.toMatch(/secret/);
    expect(raw).not.toMatch(/\nevent: x\n/);
  });

  it('a stream whose LISTEN is under way when the app shuts down ends, and does not hold the shutdown', async () => {
    const app = await start();
    const adapter = app.get(DatabaseAdapter);
    const real = adapter.listen.bind(adapter);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let asked!: () => void;
    const listening = new Promise<void>((resolve) => (asked = resolve));
    const listen = jest.spyOn(adapter, 'listen').mockImplementation(async (...args) => {
      asked();
      await released;
      return real(...args);
    });
    const batch = await app.get(BatchService).createBatch('contact', [{ email: 'a@x.com' }]);
    const opening = open(app, batch.id);
    await listening;
    const closed = app.close();
    // The shutdown has begun (its first hooks ran) when the LISTEN completes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    const stream = await opening;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve('still closing after 5 s'), 5000);
      }),
    ]);
    clearTimeout(timer);
    listen.mockRestore();
    stream.hangUp();
    await closed;
    expect(outcome).toBe('closed');
  });
});
