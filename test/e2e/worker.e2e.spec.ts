import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  BaseProcessor,
  ImportProcessor,
  InvalidOptionsError,
  ReliableImportsModule,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { KeptDataSources } from '../support/kept-data-sources';
import { useTestApp } from '../support/use-test-app';
import { sleep } from '../support/timing';

interface Row {
  n: number;
}

@ImportProcessor()
class MeterReadingProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    await ctx.query('INSERT INTO readings (item_id, n) VALUES ($1, $2)', [
      item.id,
      item.sourceData.n,
    ]);
  }
}

describe('the background worker', () => {
  const creator = useTestApp([MeterReadingProcessor]);
  const workers: TestApp[] = [];

  beforeAll(async () => {
    await creator.dataSource.query(
      'CREATE TABLE readings (item_id uuid PRIMARY KEY, n integer NOT NULL)',
    );
  });
  // Before the file's leak guard, which runs first in afterAll.
  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.close();
  });

  async function waitUntilFinished(batchId: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const summary = await creator.batches.getBatchSummary(batchId);
      if (!['pending', 'processing'].includes(summary.status) || Date.now() > deadline)
        return summary;
      await sleep(50);
    }
  }

  it('processes a batch created elsewhere, woken by its notification, on two instances', async () => {
    for (let i = 0; i < 2; i++) {
      // A poll interval far longer than the test: only the notification can wake the workers.
      workers.push(
        await createTestApp(creator.db.url, [MeterReadingProcessor], {
          module: { worker: { enabled: true, concurrency: 2, pollIntervalMs: 3_600_000 } },
        }),
      );
    }
    await sleep(300);
    const rows = Array.from({ length: 2000 }, (_, n) => ({ n }));
    const batch = await creator.batches.createBatch('meter_reading', rows);

    const summary = await waitUntilFinished(batch.id);
    expect(summary).toMatchObject({
      status: 'completed',
      completedItems: 2000,
      processingItems: 0,
    });
    const [{ count }] = await creator.dataSource.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM readings r JOIN import_batch_items i ON i.id = r.item_id
       WHERE i.batch_id = $1`,
      [batch.id],
    );
    expect(count).toBe(2000);
  });

  it('finds by polling a batch that nobody announced, and shuts down cleanly', async () => {
    const poller = await createTestApp(creator.db.url, [MeterReadingProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 50 } },
    });
    workers.push(poller);
    // Written by another tool, with no notification.
    const [{ id }] = await creator.dataSource.query<{ id: string }[]>(
      `INSERT INTO import_batches (batch_type, total_items) VALUES ('meter_reading', 3) RETURNING id`,
    );
    await creator.dataSource.query(
      `INSERT INTO import_batch_items (batch_id, item_index, source_data)
       SELECT $1, g, jsonb_build_object('n', 10000 + g) FROM generate_series(0, 2) g`,
      [id],
    );
    const summary = await waitUntilFinished(id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 3 });

    for (const worker of workers.splice(0)) await worker.close();
    const [{ open }] = await creator.dataSource.query<{ open: number }[]>(
      `SELECT count(*)::int AS open FROM import_batch_items WHERE status = 'processing'`,
    );
    expect(open).toBe(0);
  });

  it('runs its batches with the run options of worker.run: commitEvery commits ten items at a time', async () => {
    const chunked = await createTestApp(creator.db.url, [MeterReadingProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 50, run: { commitEvery: 10 } } },
    });
    workers.push(chunked);
    const rows = Array.from({ length: 100 }, (_, n) => ({ n: 20_000 + n }));
    const batch = await creator.batches.createBatch('meter_reading', rows);

    const summary = await waitUntilFinished(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 100 });
    // A row's xmin is the transaction that wrote it: ten chunks, ten transactions (not one per item).
    const [{ transactions }] = await creator.dataSource.query<{ transactions: number }[]>(
      `SELECT count(DISTINCT r.xmin::text)::int AS transactions
       FROM readings r JOIN import_batch_items i ON i.id = r.item_id WHERE i.batch_id = $1`,
      [batch.id],
    );
    expect(transactions).toBe(10);
  });

  it("refuses an invalid worker.run at startup, with the run options' message", async () => {
    const opened = new KeptDataSources();
    const moduleRef = Test.createTestingModule({
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            type: 'postgres',
            url: creator.db.url,
            retryAttempts: 0,
            logging: false,
          }),
          // Kept, so that the failed start leaves no pool behind.
          dataSourceFactory: opened.factory,
        }),
        ReliableImportsModule.forRoot({ worker: { enabled: true, run: { commitEvery: 0 } } }),
      ],
      providers: [MeterReadingProcessor],
    });
    try {
      const started = moduleRef.compile().then((compiled) => compiled.init());
      await expect(started).rejects.toBeInstanceOf(InvalidOptionsError);
      await expect(started).rejects.toThrow(
        'worker.run.commitEvery must be a whole number from 1 (a transaction per item) to 10000; got 0',
      );
    } finally {
      await opened.destroy();
    }
  });
});
