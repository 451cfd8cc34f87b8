import {
  BaseProcessor,
  ImportProcessor,
  RetryableImportError,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** PostgreSQL itself raises the error, so its SQLSTATE comes through the real driver. */
const raise = (ctx: ImportContext<Row>, errcode: string) =>
  ctx.query(
    `DO $$ BEGIN RAISE EXCEPTION 'simulated ${errcode}' USING ERRCODE = '${errcode}'; END $$`,
  );

/**
 * Writes a row, then fails the first attempt of every tenth item with a serialization failure (40001);
 * items 5 and 15 raise a deadlock and a RetryableImportError instead; item 7 always fails for good.
 */
@ImportProcessor()
class FlakyLedgerProcessor extends BaseProcessor<Row> {
  readonly tries = new Map<number, number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    const n = item.sourceData.n;
    const attempt = (this.tries.get(n) ?? 0) + 1;
    this.tries.set(n, attempt);
    await ctx.query('INSERT INTO ledger (n) VALUES ($1)', [n]);
    if (n === 7) await raise(ctx, '23514');
    if (attempt === 1 && n % 10 === 0) await raise(ctx, '40001');
    if (attempt === 1 && n === 5) await raise(ctx, '40P01');
    if (attempt === 1 && n === 15) throw new RetryableImportError('the rate limit was hit');
    ctx.log.info(`attempt ${attempt} went through`);
  }
}

/** Always fails with a serialization failure. */
@ImportProcessor()
class HopelessProcessor extends BaseProcessor<Row> {
  async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>) {
    await raise(ctx, '40001');
  }
}

describe('retries of transient errors', () => {
  const t = useTestApp([FlakyLedgerProcessor, HopelessProcessor], {
    module: { maxAttempts: 3, retryDelayMs: 1, maxRetryDelayMs: 5 },
  });

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE ledger (n integer PRIMARY KEY)');
  });

  it('retries transient failures, attempts a permanent error once, and applies each item once', async () => {
    const rows = Array.from({ length: 100 }, (_, n) => ({ n }));
    const summary = await t.batches.import('flaky_ledger', rows);
    expect(summary).toMatchObject({ completedItems: 99, failedItems: 1 });

    const items = await t.batches.getItems<Row>(summary.batchId);
    const retried = [5, 15, ...rows.map((r) => r.n).filter((n) => n % 10 === 0)];
    for (const item of items) {
      const n = item.sourceData.n;
      if (n === 7) {
        expect(item).toMatchObject({ status: 'failed', attempts: 1 });
        expect(item.errorDetails).toMatchObject({ code: '23514' });
      } else {
        expect(item).toMatchObject({ status: 'completed', attempts: retried.includes(n) ? 2 : 1 });
      }
    }
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM ledger',
    );
    expect(count).toBe(99);

    const zero = items.find((item) => item.sourceData.n === 0)!;
    const logs = await t.batches.getLogs(summary.batchId, { itemId: zero.id });
    expect(logs.map((entry) => entry.message)).toEqual([
      expect.stringMatching(/^Item 0 attempt 1 of 3 failed: simulated 40001; retrying in \d+ ms$/),
      'attempt 2 went through',
    ]);
  });

  it('fails an item after maxAttempts transient failures, with every attempt counted', async () => {
    const summary = await t.batches.import('hopeless', [{ n: 1 }]);
    const [item] = await t.batches.getItems(summary.batchId);
    expect(item).toMatchObject({ status: 'failed', attempts: 3, errorMessage: 'simulated 40001' });
    expect(item.errorDetails).toMatchObject({ name: 'QueryFailedError', code: '40001' });
    const warnings = await t.batches.getLogs(summary.batchId, { level: 'warn' });
    expect(warnings).toHaveLength(2);
  });

  it("takes a run's own maxAttempts over the module's, in import() and processBatch()", async () => {
    const more = await t.batches.import('hopeless', [{ n: 1 }], { maxAttempts: 5 });
    const [tried] = await t.batches.getItems(more.batchId);
    expect(tried).toMatchObject({ status: 'failed', attempts: 5 });
    expect(await t.batches.getLogs(more.batchId, { level: 'warn' })).toHaveLength(4);

    const batch = await t.batches.createBatch('hopeless', [{ n: 2 }]);
    await t.batches.processBatch(batch.id, { maxAttempts: 1 });
    const [once] = await t.batches.getItems(batch.id);
    expect(once).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await t.batches.getLogs(batch.id, { level: 'warn' })).toHaveLength(0);
  });
});
