import { Readable } from 'node:stream';
import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportProcessor,
  ITEM_STATUS,
  readCsv,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
  category: string;
}

/**
 * Writes each row into `priced`, which needs the row's category to exist (a foreign key): the rows of a
 * category that is missing fail, until the category is added.
 */
@ImportProcessor()
class PricedRowProcessor extends BaseProcessor<Row> {
  ran = 0;

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    this.ran++;
    await ctx.query('INSERT INTO priced (n, category) VALUES ($1, $2)', [
      item.sourceData.n,
      item.sourceData.category,
    ]);
  }
}

/** A processor whose own budget is 2 failures. */
@ImportProcessor({ batchType: 'strict_row', maxFailures: 2 })
class StrictRowProcessor extends BaseProcessor<Row> {
  processItem(item: ImportItem<Row>): void {
    if (item.sourceData.category === 'missing') throw new Error(`row ${item.sourceData.n} is bad`);
  }
}

/** 1,000 rows whose first `bad` rows name a category that does not exist yet. */
const file = (bad: number): Row[] =>
  Array.from({ length: 1000 }, (_, n) => ({ n, category: n < bad ? 'missing' : 'known' }));

describe('error budgets', () => {
  const t = useTestApp([PricedRowProcessor, StrictRowProcessor]);
  let processor: PricedRowProcessor;
  let admin: Client;

  beforeAll(async () => {
    processor = t.app.get(PricedRowProcessor);
    await t.dataSource.query(`CREATE TABLE categories (name text PRIMARY KEY)`);
    await t.dataSource.query(`INSERT INTO categories VALUES ('known')`);
    await t.dataSource.query(
      `CREATE TABLE priced (n integer NOT NULL, category text NOT NULL REFERENCES categories (name))`,
    );
    admin = await t.connect();
  });
  beforeEach(async () => {
    processor.ran = 0;
    await admin.query(`DELETE FROM priced`);
    await admin.query(`DELETE FROM categories WHERE name <> 'known'`);
  });

  const pricedRows = async () =>
    (
      await admin.query<{ rows: number; distinct: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct FROM priced`,
      )
    ).rows[0];

  it('stops a file whose first 100 rows are bad once the budget is spent, with the reason; resume after the fix completes it', async () => {
    const batch = await t.batches.createBatch('priced_row', file(100));
    const stopped = await t.batches.processBatch(batch.id, { maxFailures: 10 });
    expect(stopped).toMatchObject({
      status: BATCH_STATUS.paused,
      failedItems: 11,
      completedItems: 0,
      pendingItems: 989,
      processingItems: 0,
    });
    expect(stopped.errorMessage).toMatch(
      /^stopped: 11 of 11 rows failed \(budget 10 failures\)\. .*resumeBatch/,
    );
    // Seconds, not the whole run: the rows after the budget were never tried.
    expect(processor.ran).toBe(11);
    const logs = await t.batches.getLogs(batch.id, { level: 'info' });
    expect(logs.map((entry) => entry.message)).toContain(`Batch paused: ${stopped.errorMessage}`);

    // The cause was outside the rows: add the category, then run every failed row again.
    await admin.query(`INSERT INTO categories VALUES ('missing')`);
    expect((await t.batches.resumeBatch(batch.id, { retryFailed: true })).status).toBe(
      BATCH_STATUS.processing,
    );
    const finished = await t.batches.processBatch(batch.id, { maxFailures: 10 });
    expect(finished).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: 1000,
      failedItems: 0,
    });
    expect(await pricedRows()).toEqual({ rows: 1000, distinct: 1000 });
  });

  it('applies a rate once its sample is reached, and the corrected rows go again on resume', async () => {
    const batch = await t.batches.createBatch(
      'priced_row',
      Array.from({ length: 400 }, (_, n) => ({ n, category: n % 2 === 0 ? 'missing' : 'known' })),
    );
    const stopped = await t.batches.processBatch(batch.id, {
      maxFailureRate: 0.1,
      failureRateMinItems: 20,
    });
    // Checked at each failure: row 18 fails with 19 rows processed, under the sample; row 20 spends it.
    expect(stopped.status).toBe(BATCH_STATUS.paused);
    expect(stopped.completedItems + stopped.failedItems).toBe(21);
    expect(stopped.errorMessage).toMatch(/^stopped: 11 of 21 rows failed \(budget 10%\)/);

    // Correct the failed rows (as a failures file would), and go on with a budget the rest can meet.
    const failed = await t.batches.getItems<Row>(batch.id, { status: ITEM_STATUS.failed });
    await t.batches.correctItems(
      batch.id,
      failed.map((item) => ({ itemId: item.id, data: { ...item.sourceData, category: 'known' } })),
    );
    await t.batches.resumeBatch(batch.id);
    const again = await t.batches.processBatch(batch.id, { maxFailureRate: 0.6 });
    // The 11 corrected rows completed; of the rest, every other row failed.
    expect(again).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      completedItems: 211,
      failedItems: 189,
    });
  });

  it("takes the processor's budget, and the module's, where the run gives none", async () => {
    const strict = await t.batches.createBatch('strict_row', file(50));
    expect(await t.batches.processBatch(strict.id)).toMatchObject({
      status: BATCH_STATUS.paused,
      failedItems: 3,
    });
    // The run's own budget wins over the processor's.
    await t.batches.resumeBatch(strict.id);
    expect(await t.batches.processBatch(strict.id, { maxFailures: 1000 })).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      failedItems: 50,
    });

    let other: TestApp | undefined;
    try {
      other = await createTestApp(t.db.url, [PricedRowProcessor], {
        module: { maxFailureRate: 0.5, failureRateMinItems: 10 },
      });
      const batch = await other.batches.createBatch('priced_row', file(1000));
      const stopped = await other.batches.processBatch(batch.id);
      expect(stopped.status).toBe(BATCH_STATUS.paused);
      expect(stopped.errorMessage).toMatch(/^stopped: 10 of 10 rows failed \(budget 50%\)/);
    } finally {
      await other?.close();
    }
  });

  it('counts the failures of every process: two runs of one batch stop together', async () => {
    const batch = await t.batches.createBatch('priced_row', file(1000));
    let other: TestApp | undefined;
    try {
      other = await createTestApp(t.db.url, [PricedRowProcessor]);
      const [first, second] = await Promise.all([
        t.batches.processBatch(batch.id, { maxFailures: 40, concurrency: 2 }),
        other.batches.processBatch(batch.id, { maxFailures: 40, concurrency: 2 }),
      ]);
      expect(first.status).toBe(BATCH_STATUS.paused);
      expect(second.status).toBe(BATCH_STATUS.paused);
      const summary = await t.batches.getBatchSummary(batch.id);
      // Past the budget by at most the rows in flight when it was spent (four lanes).
      expect(summary.failedItems).toBeGreaterThan(40);
      expect(summary.failedItems).toBeLessThanOrEqual(44);
      expect(summary.processingItems).toBe(0);
    } finally {
      await other?.close();
    }
  });

  it('pauses a file whose unreadable lines alone spend the budget before its first row runs', async () => {
    const lines = ['n,category', ...Array.from({ length: 5 }, (_, n) => `${n},known,extra`)];
    lines.push(...Array.from({ length: 20 }, (_, n) => `${n + 5},known`));
    const batch = await t.batches.createBatch(
      'priced_row',
      readCsv(Readable.from([`${lines.join('\n')}\n`])),
    );
    const stopped = await t.batches.processBatch(batch.id, { maxFailures: 2 });
    expect(stopped).toMatchObject({
      status: BATCH_STATUS.paused,
      failedItems: 5,
      completedItems: 0,
    });
    expect(stopped.errorMessage).toMatch(/^stopped: 5 of 5 rows failed \(budget 2 failures\)/);
    expect(processor.ran).toBe(0);
  });
});
