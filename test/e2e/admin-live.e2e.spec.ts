import { type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { get, type ClientRequest } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchService,
  ImportProcessor,
  ReliableImportsAdminModule,
  ReliableImportsModule,
  type BatchLineage,
  type BatchProgress,
  type ImportBatch,
  type ImportItem,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import {
  CREATE_APPLIED_TABLE,
  type ProcessingChild,
  resultOf,
  startProcessingChild,
} from '../support/child-process';
import { SseFrames } from '../support/sse';
import { useTestDatabase } from '../support/use-test-app';
import { sleep, waitFor } from '../support/timing';

const HEADER = { 'x-reliable-imports-request': '1' };

/** How long each row of the `slow_contact` type takes, so that a run is still going when looked at. */
const SLOW_ROW_MS = 40;

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  validateItem(item: ImportItem<{ email: string }>): string[] {
    return String(item.sourceData.email).includes('@')
      ? []
      : [`email "${item.sourceData.email}" is malformed`];
  }

  processItem(): void {}
}

@ImportProcessor('slow_contact')
class SlowContactProcessor extends BaseProcessor<{ email: string }> {
  async processItem(): Promise<void> {
    await sleep(SLOW_ROW_MS);
  }
}

@ImportProcessor('throwing')
class ThrowingProcessor extends BaseProcessor<{ n: number }> {
  processItem(): void {
    throw new Error('the target system said no');
  }
}

/** The batch type of the processing child (`test/support/processing-child.ts`). */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  processItem(): void {}
}

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown): void {
    this.lines.push(String(message));
  }
  error(message: unknown): void {
    this.lines.push(String(message));
  }
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

interface ListEvent {
  batches: Array<ImportBatch & { progress: BatchProgress | null }>;
}
interface PageEvent {
  readAt: string;
  batch: ImportBatch;
  lineage: BatchLineage;
  progress: Record<string, BatchProgress>;
}

/**
 * The routes a page works with: a file imported in the background, a reprocess that answers at once,
 * and the two streams that keep a list and a batch page live.
 */
describe('the admin API behind the page: background runs and live streams', () => {
  const database = useTestDatabase();
  const logger = new CapturingLogger();
  let app: INestApplication<App>;
  let batches: BatchService;

  async function start(): Promise<INestApplication<App>> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...moduleImports(database.db.url),
        ReliableImportsAdminModule.register({ allowUnauthenticated: true }),
      ],
      providers: [ContactProcessor, SlowContactProcessor, AppliedRowProcessor],
    }).compile();
    const started = moduleRef.createNestApplication<INestApplication<App>>({ logger });
    return started.init();
  }

  const post = (path: string) =>
    request(app.getHttpServer()).post(`/imports-admin/${path}`).set(HEADER);

  /**
   * Reads the Server-Sent Events of `path` until `done` holds for the data of one (or `forMs` passed), then
   * hangs up; the events' data so far, in order.
   */
  async function readEvents<T>(
    path: string,
    done: (data: T, all: T[]) => boolean,
    onFirst?: () => void,
    forMs?: number,
  ): Promise<{ type: string; events: T[] }> {
    const server = app.getHttpServer() as unknown as Server;
    if (!server.listening) await app.listen(0);
    const { port } = server.address() as AddressInfo;
    let client: ClientRequest | undefined;
    try {
      return await new Promise((resolve, reject) => {
        const events: T[] = [];
        let type = '';
        const frames = new SseFrames();
        // Or hangs up after `forMs`, with the events so far.
        if (forMs !== undefined) setTimeout(() => resolve({ type, events }), forMs);
        client = get({ port, path: `/imports-admin/${path}` }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            for (const frame of frames.push(chunk)) {
              type = frame.type ?? type;
              events.push(JSON.parse(frame.data) as T);
              if (events.length === 1) onFirst?.();
              if (done(events[events.length - 1], events)) resolve({ type, events });
            }
          });
          res.on('end', () => reject(new Error(`the stream ended: ${JSON.stringify(events)}`)));
        });
        client.on('error', reject);
      });
    } finally {
      client?.destroy();
    }
  }

  beforeAll(async () => {
    app = await start();
    batches = app.get(BatchService);
    database.closeBeforeCheck(() => app.close());
  });

  it('lists the batch types of the registered processors', async () => {
    const res = await request(app.getHttpServer()).get('/imports-admin/batch-types').expect(200);
    expect(res.body).toEqual([
      { batchType: 'applied_row' },
      { batchType: 'contact' },
      { batchType: 'slow_contact' },
    ]);
  });

  it('imports a CSV file: answers 202 once its rows are stored, and runs it in the background', async () => {
    const file = 'email\na@x.com\nnot-an-email\nx@x.com,one cell too many\n';
    const res = await post('batches?batchType=contact')
      .set({ 'content-type': 'text/csv', 'x-file-name': 'contacts.csv' })
      .send(file)
      .expect(202);
    const created = res.body as ImportBatch;
    expect(created).toMatchObject({ batchType: 'contact', totalItems: 3 });
    expect(created.sourceInfo).toMatchObject({ file: 'contacts.csv' });
    await waitFor(
      async () => (await batches.getBatch(created.id)).status === BATCH_STATUS.completedWithErrors,
      { what: 'the background run, ended' },
    );
    const failures = await batches.getFailures(created.id);
    expect(failures.map((row) => [row.line, row.errorCode])).toEqual([
      [3, 'VALIDATION_FAILED'],
      [4, 'MALFORMED_LINE'],
    ]);
  });

  it('imports a JSON lines file; refuses another type, an unknown batch type and a bad file, storing nothing', async () => {
    const jsonl = await post('batches?batchType=contact')
      .set('content-type', 'application/x-ndjson')
      .send('{"email":"j@x.com"}\n{"email":"k@x.com"}\n')
      .expect(202);
    await waitFor(
      async () =>
        (await batches.getBatch((jsonl.body as ImportBatch).id)).status === BATCH_STATUS.completed,
      { what: 'the JSON lines batch, completed' },
    );
    const before = (await batches.listBatches({ limit: 1000 })).length;

    const json = await post('batches?batchType=contact').send({ email: 'a@x.com' });
    expect(json.status).toBe(415);
    expect(json.body.message).toContain('text/csv');

    const unknown = await post('batches?batchType=nope')
      .set('content-type', 'text/csv')
      .send('email\na@x.com\n');
    expect(unknown.status).toBeGreaterThanOrEqual(400);
    expect(unknown.status).toBeLessThan(500);
    expect(JSON.stringify(unknown.body)).toContain('contact');

    const noHeader = await post('batches?batchType=contact')
      .set('content-type', 'text/csv')
      .send('email,email\na@x.com,b@x.com\n');
    expect(noHeader.status).toBe(400);

    expect((await batches.listBatches({ limit: 1000 })).length).toBe(before);
  });

  it('keeps a hostile file name as text, cut to its limit', async () => {
    const name = `<img src=x onerror=alert(1)>${'n'.repeat(500)}`;
    const res = await post('batches?batchType=contact')
      .set({ 'content-type': 'text/csv', 'x-file-name': name })
      .send('email\na@x.com\n')
      .expect(202);
    const stored = await batches.getBatch((res.body as ImportBatch).id);
    expect(stored.sourceInfo.file).toBe(name.slice(0, 200));
    await waitFor(
      async () =>
        (await batches.getBatch((res.body as ImportBatch).id)).status === BATCH_STATUS.completed,
      { what: 'the batch, completed' },
    );
  });

  it('reprocesses with wait: false: 202 with the child batch at once, its run going on in the background', async () => {
    const batch = await batches.createBatch('contact', [
      { email: 'a@x.com' },
      { email: 'bad' },
      { email: 'also-bad' },
    ]);
    await batches.processBatch(batch.id);
    const failures = await batches.getFailures(batch.id);
    await batches.correctItems(
      batch.id,
      failures.map((row) => ({ itemId: row.itemId, data: { email: `${row.itemIndex}@x.com` } })),
    );

    const res = await post(`batches/${batch.id}/reprocess`).send({ wait: false }).expect(202);
    const child = res.body as ImportBatch;
    expect(child).toMatchObject({ parentBatchId: batch.id, totalItems: 2 });
    await waitFor(
      async () => (await batches.getBatch(child.id)).status === BATCH_STATUS.completed,
      { what: 'the child batch, completed' },
    );
    expect(await batches.getLineage(batch.id)).toMatchObject({ resolved: 2, unresolved: 0 });

    // Nothing is left to reprocess: refused before any child is made, as with waiting.
    const again = await post(`batches/${batch.id}/reprocess`).send({ wait: false });
    expect(again.status).toBe(409);
    expect(await batches.listBatches({ parentBatchId: batch.id })).toHaveLength(1);
  });

  it('streams the list with the progress of the batches that may run, and a batch created meanwhile', async () => {
    const waiting = await batches.createBatch('contact', [{ email: 'w@x.com' }], {
      requireApproval: true,
    });
    let created: ImportBatch | undefined;
    const { type, events } = await readEvents<ListEvent>(
      'batches/stream?limit=5',
      (data) => data.batches.some((b) => b.id === created?.id),
      () => void batches.createBatch('contact', [{ email: 'n@x.com' }]).then((b) => (created = b)),
    );
    expect(type).toBe('batches');
    const first = events[0].batches.find((b) => b.id === waiting.id);
    expect(first?.progress).toMatchObject({ batchId: waiting.id, totalItems: 1, done: 0 });
    const ended = events[0].batches.find((b) => b.status === BATCH_STATUS.completed);
    expect(ended?.progress).toBeNull();
  });

  it('streams a batch page: the progress of a batch another process runs, and its end', async () => {
    await database.connect().then((client) => client.query(CREATE_APPLIED_TABLE));
    const root = await batches.createBatch(
      'applied_row',
      Array.from({ length: 30 }, (_, n) => ({ n })),
    );
    let child: ProcessingChild | undefined;
    const { type, events } = await readEvents<PageEvent>(
      `batches/${root.id}/stream`,
      // Ended, not only every row done: the batch's end is recorded a moment after its last row.
      (data) => data.batch.status === BATCH_STATUS.completed,
      () => {
        // The first event is out: only now does the other process run the batch.
        child = startProcessingChild({
          databaseUrl: database.db.url,
          batchId: root.id,
          itemPauseMs: 50,
        });
      },
    );
    expect(type).toBe('batch');
    expect(events[0]).toMatchObject({ batch: { id: root.id }, lineage: { rootBatchId: root.id } });
    // Each reading says when it began, in order: a page that also reads the batch keeps the newest.
    const times = events.map((event) => event.readAt);
    expect(times).toEqual([...times].sort());
    expect(new Set(times).size).toBe(times.length);
    expect(events[0].progress[root.id]).toMatchObject({ done: 0 });
    const during = events.filter((event) => (event.progress[root.id]?.done ?? 0) > 0);
    expect(during.length).toBeGreaterThan(0);
    // The last event shows the batch ended, and no progress of a batch that cannot run any more.
    expect(events[events.length - 1].progress).toEqual({});
    expect(events[events.length - 1].lineage).toMatchObject({
      totalRows: 30,
      completedFirstTime: 30,
    });
    const exit = await (child as ProcessingChild).exited;
    expect(resultOf(exit.stdout)).toEqual({ processed: 30, status: 'completed' });
  });

  it('sends a batch page once while nothing it shows changes, though each reading has its own time', async () => {
    // Ended: nothing changes it (a batch that may run shows its progress, measured at each reading), and
    // readings go on every second.
    const idle = await batches.createBatch('contact', [{ email: 'ada@example.com' }]);
    await batches.processBatch(idle.id);
    const { events } = await readEvents<PageEvent>(
      `batches/${idle.id}/stream`,
      () => false,
      undefined,
      3500,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ batch: { id: idle.id, status: 'completed' } });
  });

  it('answers 404 before a stream of a batch that does not exist starts', async () => {
    const missing = '0b6c1f0e-1111-4000-8000-000000000001';
    const res = await request(app.getHttpServer())
      .get(`/imports-admin/batches/${missing}/stream`)
      .expect(404);
    expect(res.body.error).toBe('BATCH_NOT_FOUND');
  });

  it('never answers a stack, not even where storeErrorStacks keeps one', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: database.db.url, retryAttempts: 0 }),
        ReliableImportsModule.forRoot({ storeErrorStacks: true, maxAttempts: 1 }),
        ReliableImportsAdminModule.register({ path: 'stacks', allowUnauthenticated: true }),
      ],
      providers: [ThrowingProcessor],
    }).compile();
    const stacks = await moduleRef.createNestApplication<INestApplication<App>>({ logger }).init();
    try {
      const service = stacks.get(BatchService);
      const batch = await service.createBatch('throwing', [{ n: 1 }]);
      await service.processBatch(batch.id);
      const [kept] = await service.getItems(batch.id);
      expect(kept.errorDetails?.stack).toContain('the target system said no');

      const items = await request(stacks.getHttpServer())
        .get(`/stacks/batches/${batch.id}/items`)
        .expect(200);
      expect(items.body[0].errorDetails).toMatchObject({ name: 'Error' });
      const logs = await request(stacks.getHttpServer())
        .get(`/stacks/batches/${batch.id}/logs`)
        .expect(200);
      expect(logs.body.length).toBeGreaterThan(0);
      for (const body of [items.text, logs.text]) {
        expect(body).toContain('the target system said no');
        expect(body).not.toMatch(/"stack"|\bat .*\.(ts|js):\d+/);
      }
    } finally {
      await stacks.close();
    }
  });

  it('lets the application shut down during a background run; the batch is left to go on, not failed', async () => {
    const own = await start();
    const ownBatches = own.get(BatchService);
    const rows = Array.from({ length: 200 }, (_, n) => `r${n}@x.com`).join('\n');
    const res = await request(own.getHttpServer())
      .post('/imports-admin/batches?batchType=slow_contact')
      .set({ ...HEADER, 'content-type': 'text/csv' })
      .send(`email\n${rows}\n`)
      .expect(202);
    await waitFor(
      async () => (await ownBatches.getProgress((res.body as ImportBatch).id)).done > 0,
      {
        what: 'the background run, started',
      },
    );
    await own.close();
    const left = await batches.getBatch((res.body as ImportBatch).id);
    expect([BATCH_STATUS.pending, BATCH_STATUS.processing]).toContain(left.status);
    expect(logger.lines.join('\n')).toContain(`The run of batch ${(res.body as ImportBatch).id}`);

    const summary = await batches.processBatch((res.body as ImportBatch).id);
    expect(summary).toMatchObject({ status: BATCH_STATUS.completed, completedItems: 200 });
  });
});
