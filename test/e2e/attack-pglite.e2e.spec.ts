import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { createPGliteTestApp } from '../fixtures/pglite-app';
import type { TestApp } from '../fixtures/test-app';
import { sleep } from '../support/timing';

interface Row {
  n: number;
  /** never: never settles; late: writes after its time limit has passed. */
  hang?: 'never' | 'late';
}

/** Writes each row to `pglite_applied`; a hung row writes too, before it hangs or after its limit. */
@ImportProcessor('pglite_hanging')
class PGliteHangingProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (item.sourceData.hang === 'late') {
      await sleep(500);
      await ctx.query('INSERT INTO pglite_applied (n) VALUES ($1)', [item.sourceData.n]);
      return;
    }
    await ctx.query('INSERT INTO pglite_applied (n) VALUES ($1)', [item.sourceData.n]);
    if (item.sourceData.hang === 'never') await new Promise(() => undefined);
  }
}

/** Item time limits on PGlite, whose one session every transaction shares: abandon cannot close it. */
describe('item time limits on PGlite (attack)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createPGliteTestApp([PGliteHangingProcessor]);
    await t.dataSource.query('CREATE TABLE pglite_applied (n integer NOT NULL)');
  });
  afterAll(async () => {
    await t?.close();
  });

  const applied = async (): Promise<number[]> =>
    (await t.dataSource.query<Array<{ n: number }>>('SELECT n FROM pglite_applied ORDER BY n')).map(
      (row) => row.n,
    );

  it('a row that never settles times out, its write is rolled back, and the session goes on', async () => {
    const summary = await t.batches.import(
      'pglite_hanging',
      [{ n: 1 }, { n: 2, hang: 'never' }, { n: 3 }],
      { itemTimeoutMs: 200 },
    );
    expect(summary).toMatchObject({ completedItems: 2, failedItems: 1, processingItems: 0 });
    expect(await applied()).toEqual([1, 3]);
    // The one session is not left inside a transaction: a later import commits as usual.
    const next = await t.batches.import('pglite_hanging', [{ n: 4 }]);
    expect(next.completedItems).toBe(1);
    expect(await applied()).toEqual([1, 3, 4]);
  });

  it('a row that writes after its time limit has passed writes nothing (PGlite shares one session)', async () => {
    await t.dataSource.query('TRUNCATE pglite_applied');
    const summary = await t.batches.import('pglite_hanging', [{ n: 10, hang: 'late' }, { n: 11 }], {
      itemTimeoutMs: 200,
    });
    expect(summary).toMatchObject({ completedItems: 1, failedItems: 1 });
    await sleep(700);
    expect(await applied()).toEqual([11]);
  });
});
