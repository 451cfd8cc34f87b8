import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import type { Statement } from '../../lib/processing/statements/statement';
import {
  cancelItems,
  finishBatch,
  resumeBatch,
} from '../../lib/processing/statements/batches.statements';
import {
  claimExpiredItems,
  completeItem,
  hasClaimableItems,
  firstFailedItem,
  itemsHeldByOthers,
  releaseEveryClaim,
  releaseItems,
  releaseSomeItems,
} from '../../lib/processing/statements/items.statements';
import { batchProgress } from '../../lib/processing/statements/progress.statements';
import { countRows, failedRows } from '../../lib/processing/statements/recovery.statements';
import { useTestApp } from '../support/use-test-app';

@ImportProcessor()
class IndexProbeProcessor extends BaseProcessor<{ n: number }> {
  processItem(item: ImportItem<{ n: number }>): void {
    if (item.sourceData.n % 50 === 7) throw new Error('every fiftieth row fails');
  }
}

const COUNT = 20_000;
const IN_FLIGHT_OR_UNAPPLIED = 'IDX_import_batch_items_in_flight_or_unapplied';

/**
 * A row's status changes at every step of a run, and each change writes an entry into every index that
 * covers the new row version. The index of rows in flight or not applied holds neither pending nor
 * completed rows, so that a claim writes one entry to it and a completion none; the index of originals
 * holds only reprocess copies. These check that the statements that read those rows still find them by
 * the indexes, on a batch of 20,000 rows with statistics of when it was all pending.
 */
describe('the indexes of items: narrow, and what reads them', () => {
  const t = useTestApp([IndexProbeProcessor]);
  let batchId: string;
  let childId: string;

  const plan = async (statement: Statement): Promise<string> => {
    const rows = await t.dataSource.query<Array<{ 'QUERY PLAN': string }>>(
      `EXPLAIN ${statement.text}`,
      statement.values,
    );
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  };

  beforeAll(async () => {
    const batch = await t.batches.createBatch(
      'index_probe',
      Array.from({ length: COUNT }, (_, n) => ({ n })),
    );
    batchId = batch.id;
    await t.dataSource.query('ANALYZE import_batch_items');
    // Most rows done, some failed, skipped and cancelled, and a claim whose holder is gone.
    await t.dataSource.query(
      `UPDATE import_batch_items SET status = CASE
         WHEN item_index % 50 = 7 THEN 'failed' WHEN item_index % 500 = 9 THEN 'skipped'
         WHEN item_index >= $2 - 40 THEN 'cancelled'
         WHEN item_index >= $2 - 100 THEN 'processing' ELSE 'completed' END
       WHERE batch_id = $1`,
      [batchId, COUNT],
    );
    await t.dataSource.query(
      `UPDATE import_batch_items SET locked_by = 'gone', locked_until = now() - interval '1 minute'
       WHERE batch_id = $1 AND status = 'processing'`,
      [batchId],
    );
    await t.dataSource.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [
      batchId,
    ]);
    // A reprocess's copies of the failed rows.
    const [child] = await t.dataSource.query<Array<{ id: string }>>(
      `INSERT INTO import_batches (batch_type, parent_batch_id, status) VALUES ('index_probe', $1, 'completed')
       RETURNING id`,
      [batchId],
    );
    childId = child.id;
    await t.dataSource.query(
      `INSERT INTO import_batch_items (batch_id, item_index, source_data, status, original_item_id)
       SELECT $2, row_number() OVER (ORDER BY item_index) - 1, source_data, 'completed', id
       FROM import_batch_items WHERE batch_id = $1 AND status = 'failed'`,
      [batchId, childId],
    );
  });

  it.each([
    [
      'the expired claims a run takes over',
      () => claimExpiredItems({ batchId, workerId: 'w', leaseMs: 1000, limit: 25 }),
    ],
    ['the claims a run gives back', () => releaseItems({ batchId, workerId: 'w' })],
    ['the claims a stop gives back', () => releaseEveryClaim({ batchId })],
    ['the rows another worker holds', () => itemsHeldByOthers({ batchId, workerId: 'w' })],
    ['the progress: rows in flight and cancelled', () => batchProgress({ batchId })],
    ['the first failed row (a stop at the first failure)', () => firstFailedItem({ batchId })],
    ['the failed rows a resume puts back', () => resumeBatch({ batchId, retryFailed: true })],
  ])('%s: on the index of rows in flight or not applied', async (_what, statement) => {
    const text = await plan(statement());
    expect(text).toContain(IN_FLIGHT_OR_UNAPPLIED);
    expect(text).not.toMatch(/Seq Scan on import_batch_items/);
  });

  it.each([
    [
      'whether rows are left to claim (polled while a run waits for others)',
      () => hasClaimableItems({ batchId }),
    ],
    [
      'the end of a run (no row left open)',
      () => finishBatch({ batchId, workerId: 'w', failure: null }),
    ],
  ])(
    '%s: reads the indexes even on statistics of when the batch was all pending',
    async (_what, statement) => {
      // A seq scan that expects to stop at the first open row reads the whole table when there is none
      // (every batch's rows), at every poll. The look for open rows comes first (the InitPlans); what
      // follows them (the end's count of the batch's rows) runs only when none is open.
      const text = await plan(statement());
      const lookups = text.split(/\n(?=\s*->\s+Result|\s*Result)/)[0];
      expect(lookups).toContain('IDX_import_batch_items_pending');
      expect(lookups).toContain(IN_FLIGHT_OR_UNAPPLIED);
      expect(lookups).not.toMatch(/Seq Scan on import_batch_items/);
    },
  );

  it.each([
    [
      'the end of a run (no row left open)',
      () => finishBatch({ batchId, workerId: 'w', failure: null }),
    ],
    ['a cancel of the rows left', () => cancelItems({ batchId, reason: 'x' })],
  ])('%s: looks for open rows on their indexes', async (_what, statement) => {
    // On statistics of the batch as it stands: while they say it is all pending, a scan that expects to
    // stop at the first open row is what any index set gets.
    await t.dataSource.query('ANALYZE import_batch_items');
    const text = await plan(statement());
    expect(text).toContain('IDX_import_batch_items_pending');
    expect(text).toContain(IN_FLIGHT_OR_UNAPPLIED);
  });

  it.each([
    [
      'a page of failures',
      () =>
        failedRows({
          rootId: batchId,
          includeResolved: true,
          afterIndex: -1,
          limit: 100,
          offset: 0,
        }),
    ],
    ['the lineage counts', () => countRows({ rootId: batchId })],
  ])('%s: finds the copies of a row by the index of originals', async (_what, statement) => {
    const text = await plan(statement());
    expect(text).toContain('IDX_import_batch_items_original');
  });

  it('deletes a batch whose rows reprocesses copied, through the index of originals (ON DELETE SET NULL)', async () => {
    const [{ count }] = await t.dataSource.query<Array<{ count: number }>>(
      `SELECT count(*)::integer AS count FROM import_batch_items WHERE batch_id = $1`,
      [childId],
    );
    expect(count).toBe(400);
    const explained = await t.dataSource.query<Array<{ 'QUERY PLAN': string }>>(
      `EXPLAIN SELECT 1 FROM import_batch_items WHERE original_item_id = (SELECT id FROM import_batch_items LIMIT 1)`,
    );
    expect(explained.map((row) => row['QUERY PLAN']).join('\n')).toContain(
      'IDX_import_batch_items_original',
    );
  });

  it('refuses a holder on a row that is not processing (the rule the fence of an outcome relies on)', async () => {
    await expect(
      t.dataSource.query(
        `UPDATE import_batch_items SET locked_by = 'w' WHERE batch_id = $1 AND status = 'completed'`,
        [batchId],
      ),
    ).rejects.toMatchObject({
      driverError: { code: '23514', constraint: 'CHK_import_batch_items_lease' },
    });
  });

  it('an outcome finds its row by the primary key, whatever the statistics say of rows in flight', async () => {
    const [{ id }] = await t.dataSource.query<Array<{ id: string }>>(
      `SELECT id FROM import_batch_items WHERE batch_id = $1 AND status = 'processing' LIMIT 1`,
      [batchId],
    );
    const outcome = completeItem({
      itemId: id,
      workerId: 'w',
      attempts: 1,
      logsJson: '[]',
      processedJson: 'null',
      targetTable: null,
      targetId: null,
    });
    const client = await t.connect();
    try {
      // As a run sends it: prepared, past the executions after which PostgreSQL may plan it generically.
      for (let run = 0; run < 8; run++) {
        await client.query('BEGIN');
        await client.query({ name: 'outcome_probe', text: outcome.text, values: outcome.values });
        await client.query('ROLLBACK');
      }
      const values = outcome.values.map((value) =>
        value === null
          ? 'NULL'
          : typeof value === 'string'
            ? `'${value}'`
            : String(value as number),
      );
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE outcome_probe(${values.join(', ')})`,
      );
      const text = rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Index Scan using "PK_import_batch_items" on import_batch_items/);
      expect(text).not.toContain(IN_FLIGHT_OR_UNAPPLIED);
    } finally {
      await client.end();
    }
  });

  it('the rest of a claim given back is found by its keys, not on the index of rows in flight', async () => {
    const ids = await t.dataSource.query<Array<{ id: string }>>(
      `SELECT id FROM import_batch_items WHERE batch_id = $1 AND status = 'processing' LIMIT 3`,
      [batchId],
    );
    const text = await plan(
      releaseSomeItems({ batchId, workerId: 'gone', itemIds: ids.map((row) => row.id) }),
    );
    expect(text).toContain('PK_import_batch_items');
    expect(text).not.toContain(IN_FLIGHT_OR_UNAPPLIED);
  });

  it('a run of 2,000 rows leaves no entry in the index of rows in flight but for its failures, once vacuumed', async () => {
    const batch = await t.batches.import(
      'index_probe',
      Array.from({ length: 2000 }, (_, n) => ({ n })),
    );
    expect(batch).toMatchObject({ completedItems: 1960, failedItems: 40 });
    await t.dataSource.query('VACUUM import_batch_items');
    // The index-only count reads the index's entries of that batch: 40 failed rows, nothing else.
    await t.dataSource.query('SET enable_seqscan = off');
    await t.dataSource.query('SET enable_bitmapscan = off');
    try {
      const rows = await t.dataSource.query<Array<{ 'QUERY PLAN': string }>>(
        `EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM import_batch_items
         WHERE batch_id = $1 AND status NOT IN ('pending', 'completed')`,
        [batch.batchId],
      );
      const json = JSON.stringify(rows[0]['QUERY PLAN']);
      expect(json).toContain(IN_FLIGHT_OR_UNAPPLIED);
      expect(json).toMatch(/"Actual Rows":40\b/);
    } finally {
      await t.dataSource.query('RESET enable_seqscan');
      await t.dataSource.query('RESET enable_bitmapscan');
    }
  });
});
