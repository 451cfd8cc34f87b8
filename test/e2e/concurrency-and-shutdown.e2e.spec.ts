import {
  BaseProcessor,
  ImportProcessor,
  ProcessingStoppedError,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import { trackInFlight } from '../support/in-flight';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Records each invocation under a unique key, and which connection ran it. */
@ImportProcessor()
class InvocationProcessor extends BaseProcessor<Row> {
  /** Items seen per processing run (each run reads the batch into an object of its own). */
  readonly perRun = new Map<object, number>();
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    this.perRun.set(ctx.batch, (this.perRun.get(ctx.batch) ?? 0) + 1);
    await ctx.query(
      'INSERT INTO invocations (item_id, backend_pid) VALUES ($1, pg_backend_pid())',
      [item.id],
    );
  }
}

/** Slow items that watch ctx.signal, to be interrupted by a shutdown. */
@ImportProcessor()
class SlowProcessor extends BaseProcessor<Row> {
  static sawAbort = 0;
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (ctx.signal.aborted) SlowProcessor.sawAbort++;
    await ctx.query(
      'INSERT INTO invocations (item_id, backend_pid) VALUES ($1, pg_backend_pid())',
      [item.id],
    );
  }
}

describe('concurrent processing and graceful shutdown', () => {
  const t = useTestApp([InvocationProcessor, SlowProcessor]);

  beforeAll(async () => {
    await t.dataSource.query(
      'CREATE TABLE invocations (item_id uuid PRIMARY KEY, backend_pid integer NOT NULL)',
    );
  });

  const count = async (sql: string, params: unknown[] = []): Promise<number> =>
    (await t.dataSource.query<{ count: number }[]>(sql, params))[0].count;

  it('processes every item exactly once on 4 connections', async () => {
    const rows = Array.from({ length: 2000 }, (_, n) => ({ n }));
    const batch = await t.batches.createBatch('invocation', rows);
    const summary = await t.batches.processBatch(batch.id, { concurrency: 4 });
    expect(summary).toMatchObject({
      status: 'completed',
      completedItems: 2000,
      processingItems: 0,
    });
    expect(await count('SELECT count(*)::int AS count FROM invocations')).toBe(2000);
    expect(
      await count('SELECT count(DISTINCT backend_pid)::int AS count FROM invocations'),
    ).toBeGreaterThan(1);
    const items = await t.batches.getItems(batch.id, { limit: 2000 });
    expect(items.every((item) => item.attempts === 1 && item.status === 'completed')).toBe(true);
  });

  it('lets a second processBatch of a running batch join it as a helper', async () => {
    const processor = t.app.get(InvocationProcessor);
    processor.perRun.clear();
    const rows = Array.from({ length: 1000 }, (_, n) => ({ n }));
    const batch = await t.batches.createBatch('invocation', rows);
    const [first, second] = await Promise.all([
      t.batches.processBatch(batch.id, { concurrency: 2 }),
      t.batches.processBatch(batch.id, { concurrency: 2 }),
    ]);
    for (const summary of [first, second]) {
      expect(summary).toMatchObject({ status: 'completed', completedItems: 1000, pendingItems: 0 });
    }
    expect([...processor.perRun.values()]).toHaveLength(2);
    expect([...processor.perRun.values()].reduce((a, b) => a + b, 0)).toBe(1000);
    expect(
      await count(
        'SELECT count(*)::int AS count FROM invocations i JOIN import_batch_items b ON b.id = i.item_id WHERE b.batch_id = $1',
        [batch.id],
      ),
    ).toBe(1000);
  });

  it('spreads even a small batch over its lanes', async () => {
    const stop = trackInFlight(t.app.get(SlowProcessor));
    let mostInFlight: number;
    try {
      const summary = await t.batches.import(
        'slow',
        Array.from({ length: 8 }, (_, n) => ({ n })),
        { concurrency: 4 },
      );
      expect(summary.completedItems).toBe(8);
    } finally {
      mostInFlight = stop();
    }
    expect(mostInFlight).toBeGreaterThan(1);
  });

  it('renews the lease of an item that takes longer than the lease, so a joining run does not take it', async () => {
    const short = await createTestApp(t.db.url, [InvocationProcessor, SlowProcessor], {
      // Renewed every 500 ms: two renewals before the first lease runs out, room for a slow timer.
      module: { leaseMs: 1500 },
    });
    const processor = short.app.get(SlowProcessor);
    const original = processor.processItem.bind(processor);
    let runs = 0;
    processor.processItem = async (item, ctx) => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 4000));
      return original(item, ctx);
    };
    try {
      const batch = await short.batches.createBatch('slow', [{ n: 1 }]);
      const holder = short.batches.processBatch(batch.id);
      await new Promise((resolve) => setTimeout(resolve, 2200));
      // Past the first lease: without renewal this run would claim the item again.
      const joiner = short.batches.processBatch(batch.id);
      const [first, second] = await Promise.all([holder, joiner]);
      expect(first).toMatchObject({ status: 'completed', completedItems: 1 });
      expect(second).toMatchObject({ status: 'completed', completedItems: 1 });
      expect(runs).toBe(1);
      const [item] = await short.batches.getItems(batch.id);
      expect(item.attempts).toBe(1);
    } finally {
      processor.processItem = original;
      await short.close();
    }
  });

  it('on app.close() stops claiming, gives unfinished items back, and a new app finishes the batch', async () => {
    const second = await createTestApp(t.db.url, [InvocationProcessor, SlowProcessor]);
    const rows = Array.from({ length: 120 }, (_, n) => ({ n }));
    const batch = await second.batches.createBatch('slow', rows);
    const running = second.batches.processBatch(batch.id, { concurrency: 2 });
    const outcome = running.catch((error: unknown) => error);
    const before = await count('SELECT count(*)::int AS count FROM invocations');
    while ((await count('SELECT count(*)::int AS count FROM invocations')) < before + 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await second.close();
    expect(await outcome).toBeInstanceOf(ProcessingStoppedError);
    expect(SlowProcessor.sawAbort).toBeGreaterThan(0);

    const halfway = await t.batches.getBatchSummary(batch.id);
    expect(halfway.status).toBe('processing');
    expect(halfway.processingItems).toBe(0);
    expect(halfway.completedItems).toBeGreaterThan(0);
    expect(halfway.pendingItems).toBeGreaterThan(0);
    const stored = await t.batches.getBatch(batch.id);
    expect(stored.lockedBy).toBeNull();

    const finished = await t.batches.processBatch(batch.id);
    expect(finished).toMatchObject({ status: 'completed', completedItems: 120 });
    expect(
      await count(
        'SELECT count(*)::int AS count FROM invocations i JOIN import_batch_items b ON b.id = i.item_id WHERE b.batch_id = $1',
        [batch.id],
      ),
    ).toBe(120);
    expect((await t.batches.getBatch(batch.id)).retryCount).toBe(1);
  });
});
