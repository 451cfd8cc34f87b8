import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { createPGliteTestApp } from '../fixtures/pglite-app';
import type { TestApp } from '../fixtures/test-app';

interface Row {
  n: number;
}

@ImportProcessor({ retention: { completedDays: 30, logsDays: 7 } })
class ArchiveRowProcessor extends BaseProcessor<Row> {
  processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    ctx.log.info('archived', { n: item.sourceData.n });
    return Promise.resolve();
  }
}

/** Retention on the embedded database the CLI uses without DATABASE_URL: one session, no other process. */
describe('retention (PGlite)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createPGliteTestApp([ArchiveRowProcessor]);
  });
  afterAll(async () => {
    await t?.close();
  });

  const age = (batchId: string, days: number) =>
    t.dataSource.query(
      `UPDATE import_batches SET created_at = now() - make_interval(days => $2),
         completed_at = now() - make_interval(days => $2) WHERE id = $1`,
      [batchId, days],
    );

  it("prunes in slices, and applies the processors' retention without an advisory lock", async () => {
    const old = await t.batches.import('archive_row', [{ n: 1 }, { n: 2 }]);
    const older = await t.batches.import('archive_row', [{ n: 3 }]);
    const recent = await t.batches.import('archive_row', [{ n: 4 }]);
    await age(old.batchId, 40);
    await age(older.batchId, 50);
    await age(recent.batchId, 10);

    const dry = await t.batches.pruneImports({
      olderThan: new Date(Date.now() - 45 * 86_400_000),
      sliceSize: 1,
      dryRun: true,
    });
    expect(dry).toMatchObject({ trees: 1, batches: 1, items: 1, slices: 1 });

    const report = await t.batches.applyRetention();
    expect(report).toMatchObject({ ran: true, policies: 1, batches: { batches: 2, items: 3 } });
    const left = await t.dataSource.query<Array<{ id: string }>>('SELECT id FROM import_batches');
    expect(left.map((row) => row.id)).toEqual([recent.batchId]);
  });
});
