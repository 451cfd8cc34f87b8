import {
  BaseProcessor,
  ImportProcessor,
  reliableImportsMigrations,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { CustomerDataProcessor } from '../fixtures/customer-data.processor';
import { correctAndReprocess, importWithFailures } from '../fixtures/customer-scenario';
import { createPGliteTestApp, isPGliteOpen } from '../fixtures/pglite-app';
import type { TestApp } from '../fixtures/test-app';
import { trackInFlight } from '../support/in-flight';

/** Asks for its statement prepared, which PGlite's driver cannot name: it runs unprepared. */
@ImportProcessor({ batchType: 'prepared_sum' })
class PreparedSumProcessor extends BaseProcessor<{ n: number }> {
  async processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>) {
    const row = await ctx.queryOne<{ next: number }>(
      'SELECT $1::integer + 1 AS next',
      [item.sourceData.n],
      { prepare: true },
    );
    return { targetId: row?.next };
  }
}

/** The same scenarios as on PostgreSQL, on an in-memory PGlite database: no server needed. */
describe('the failed-import scenario and its recovery (PGlite)', () => {
  let t: TestApp;
  let closed = false;

  beforeAll(async () => {
    t = await createPGliteTestApp([CustomerDataProcessor, PreparedSumProcessor]);
  });
  afterAll(async () => {
    if (!closed) await t?.close();
  });

  it('runs on PGlite through typeorm-pglite, migrated at startup', async () => {
    const [{ version }] = await t.dataSource.query<Array<{ version: string }>>(
      'SELECT version() AS version',
    );
    expect(version).toMatch(/^PostgreSQL .*\(PGlite [\d.]+\) on wasm32/);
    const migrations = await t.dataSource.query<Array<{ name: string }>>(
      'SELECT name FROM migrations',
    );
    expect(migrations.map((row) => row.name)).toEqual(
      reliableImportsMigrations.map((migration) => migration.name),
    );
  });

  it('imports 500 rows with 28 invalid ones, then corrects and reprocesses the 28', async () => {
    const batchId = await importWithFailures(t);
    await correctAndReprocess(t, batchId);
  });

  it('processes one item at a time when asked for more, instead of hanging', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({
      email: `parallel${i}@example.com`,
      first_name: 'Par',
      last_name: `Allel${i}`,
    }));
    // Two items in flight at once would share PGlite's one session, and so one transaction.
    const stop = trackInFlight(t.app.get(CustomerDataProcessor));
    let mostInFlight: number;
    try {
      const batch = await t.batches.createBatch('customer_data', rows);
      const summary = await t.batches.processBatch(batch.id, { concurrency: 4 });
      expect(summary).toMatchObject({ status: 'completed', completedItems: 40 });
    } finally {
      mostInFlight = stop();
    }
    expect(mostInFlight).toBe(1);
  });

  it('creates a batch of several chunks in order (inserted, one statement queued behind another)', async () => {
    const batch = await t.batches.createBatch(
      'prepared_sum',
      Array.from({ length: 2500 }, (_, n) => ({ n })),
    );
    const [stats] = await t.dataSource.query<Array<{ count: number; in_order: boolean }>>(
      `SELECT count(*)::int AS count, bool_and((source_data->>'n')::int = item_index) AS in_order
       FROM import_batch_items WHERE batch_id = $1`,
      [batch.id],
    );
    expect(stats).toEqual({ count: 2500, in_order: true });
  });

  it("runs a processor's statement asked for prepared, unprepared", async () => {
    const summary = await t.batches.import('prepared_sum', [{ n: 1 }, { n: 41 }]);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 2 });
    const items = await t.batches.getItems(summary.batchId);
    expect(items.map((item) => item.targetId)).toEqual(['2', '42']);
  });

  it('closes the one PGlite instance of the process with the app', async () => {
    expect(isPGliteOpen()).toBe(true);
    closed = true;
    await t.close();
    expect(t.dataSource.isInitialized).toBe(false);
    expect(isPGliteOpen()).toBe(false);
  });
});
