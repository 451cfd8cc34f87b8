import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { createPGliteTestApp } from '../fixtures/pglite-app';
import type { TestApp } from '../fixtures/test-app';

interface Person {
  email: string;
  country: string;
}

@ImportProcessor({ scrub: { afterDays: 30, keepFields: ['country'] } })
class PersonRowProcessor extends BaseProcessor<Person> {
  processItem(item: ImportItem<Person>, ctx: ImportContext<Person>) {
    ctx.log.info('saved', { email: item.sourceData.email });
    return Promise.resolve({ targetTable: 'people', echo: item.sourceData.email });
  }
}

/** Scrubbing on the embedded database the CLI uses without DATABASE_URL: its SQL, and no advisory lock. */
describe('scrubbing (PGlite)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createPGliteTestApp([PersonRowProcessor]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("scrubs by the processor's scrub through applyRetention, with the same digest as PostgreSQL's", async () => {
    const row = { email: 'pglite-secret@example.com', country: 'NL' };
    const old = await t.batches.import('person_row', [row]);
    await t.dataSource.query(
      `UPDATE import_batches SET created_at = now() - interval '40 days',
         completed_at = now() - interval '40 days' WHERE id = $1`,
      [old.batchId],
    );
    const report = await t.batches.applyRetention();
    expect(report).toMatchObject({ ran: true, scrubbed: { trees: 1, rows: 1 } });
    const [item] = await t.batches.getItems(old.batchId);
    expect(item.sourceData).toEqual({ country: 'NL' });
    const [{ digest }] = await t.dataSource.query<Array<{ digest: string }>>(
      `SELECT encode(sha256(convert_to($1::jsonb::text, 'UTF8')), 'hex') AS digest`,
      [JSON.stringify(row)],
    );
    expect(item.sourceDigest).toBe(digest);
    const found = await t.dataSource.query<unknown[]>(
      `SELECT 1 FROM import_batch_items i WHERE i::text LIKE '%pglite-secret%'
       UNION ALL SELECT 1 FROM import_logs l WHERE l::text LIKE '%pglite-secret%'`,
    );
    expect(found).toEqual([]);
    expect(await t.batches.scrubSourceData()).toMatchObject({ rows: 0 });
  });
});
