import {
  BaseProcessor,
  ImportProcessor,
  ProcessingInterruptedError,
  type BatchContext,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { ItemClaimer } from '../../lib/processing/item-claimer';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

interface Row {
  n: number;
}

/** Applies each item by inserting it; `failStart` makes the next onBatchStart hit a serialization failure. */
@ImportProcessor()
class AppliedProcessor extends BaseProcessor<Row> {
  failStart = false;
  delayMs = 0;

  async onBatchStart(_batch: ImportBatch, ctx: BatchContext): Promise<void> {
    if (!this.failStart) return;
    this.failStart = false;
    // PostgreSQL raises it, so its SQLSTATE comes through the real driver.
    await ctx.query(
      `DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$`,
    );
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    await ctx.query('INSERT INTO applied (n) VALUES ($1)', [item.sourceData.n]);
  }
}

const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

describe('a database error outside an item', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createTestApp(db.url, [AppliedProcessor]);
    await t.dataSource.query('CREATE TABLE applied (n integer NOT NULL)');
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const applied = async () => {
    const [row] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM applied',
    );
    return row;
  };

  it('interrupts the run without failing the batch; the next run finishes it, each item applied once', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const batch = await t.batches.createBatch('applied', rows(100));
    const claimer = t.app.get(ItemClaimer);
    const claim = claimer.claim.bind(claimer);
    let claims = 0;
    jest.spyOn(claimer, 'claim').mockImplementation((...args) => {
      // The third claim's connection drops, as pg reports it.
      if (++claims === 3) return Promise.reject(new Error('Connection terminated unexpectedly'));
      return claim(...args);
    });

    const outcome = t.batches.processBatch(batch.id).catch((error: unknown) => error);
    const error = await outcome;
    expect(error).toBeInstanceOf(ProcessingInterruptedError);
    expect(error).toMatchObject({ code: 'PROCESSING_INTERRUPTED', context: { batchId: batch.id } });
    expect((error as Error).message).toContain(
      `Processing of batch "${batch.id}" was interrupted by a database error: Connection terminated unexpectedly.`,
    );
    expect((error as Error).message).toContain('Process the batch again once the database answers');
    expect(((error as Error).cause as Error).message).toBe('Connection terminated unexpectedly');

    // Not failed, and given back: the next run can take it at once.
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      status: 'processing',
      lockedBy: null,
      errorMessage: null,
    });
    expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
      completedItems: 50,
      pendingItems: 50,
      processingItems: 0,
      failedItems: 0,
    });

    jest.restoreAllMocks();
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 100, failedItems: 0 });
    expect(await applied()).toEqual({ total: 100, distinct: 100 });
  });

  it('stops every lane of the run before it gives the items back', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const processor = t.app.get(AppliedProcessor);
    processor.delayMs = 10;
    const batch = await t.batches.createBatch('applied', rows(400));
    const claimer = t.app.get(ItemClaimer);
    const claim = claimer.claim.bind(claimer);
    let claims = 0;
    jest.spyOn(claimer, 'claim').mockImplementation((...args) => {
      if (++claims === 6) return Promise.reject(new Error('Connection terminated unexpectedly'));
      return claim(...args);
    });
    try {
      await expect(t.batches.processBatch(batch.id, { concurrency: 4 })).rejects.toBeInstanceOf(
        ProcessingInterruptedError,
      );
      const after = await t.batches.getBatchSummary(batch.id);
      expect(after.processingItems).toBe(0);
      // Nothing of the interrupted run goes on in the background.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
        completedItems: after.completedItems,
        processingItems: 0,
      });
      expect((await applied()).total).toBe(after.completedItems);
    } finally {
      processor.delayMs = 0;
    }

    jest.restoreAllMocks();
    await expect(t.batches.processBatch(batch.id, { concurrency: 4 })).resolves.toMatchObject({
      status: 'completed',
      completedItems: 400,
    });
    expect(await applied()).toEqual({ total: 400, distinct: 400 });
  });

  it('lets a worker go on with the batch it was interrupted on', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const worker = await createTestApp(db.url, [AppliedProcessor], {
      module: { worker: { enabled: true, concurrency: 2, pollIntervalMs: 50 } },
    });
    try {
      const claimer = worker.app.get(ItemClaimer);
      const claim = claimer.claim.bind(claimer);
      let claims = 0;
      const spy = jest.spyOn(claimer, 'claim').mockImplementation((...args) => {
        if (++claims === 2) return Promise.reject(new Error('Connection terminated unexpectedly'));
        return claim(...args);
      });
      const batch = await t.batches.createBatch('applied', rows(200));
      const deadline = Date.now() + 30_000;
      let summary = await t.batches.getBatchSummary(batch.id);
      while (summary.status !== 'completed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        summary = await t.batches.getBatchSummary(batch.id);
      }
      expect(claims).toBeGreaterThan(2);
      expect(spy).toHaveBeenCalled();
      expect(summary).toMatchObject({ status: 'completed', completedItems: 200, failedItems: 0 });
      expect(await applied()).toEqual({ total: 200, distinct: 200 });
    } finally {
      await worker.close();
    }
  });

  it('treats a transient error in a hook the same way: the batch waits for the next run', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const processor = t.app.get(AppliedProcessor);
    const batch = await t.batches.createBatch('applied', rows(10));
    processor.failStart = true;

    await expect(t.batches.processBatch(batch.id)).rejects.toThrow(
      /was interrupted by a database error: could not serialize access\./,
    );
    expect(await t.batches.getBatch(batch.id)).toMatchObject({ status: 'processing' });
    expect(await applied()).toEqual({ total: 0, distinct: 0 });

    await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({
      status: 'completed',
      completedItems: 10,
    });
    expect(await applied()).toEqual({ total: 10, distinct: 10 });
  });
});
