import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import { useTestApp } from '../support/use-test-app';

/** As a stream's read would: lets the insert in flight make progress. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

@ImportProcessor()
class PipelineProbeProcessor extends BaseProcessor<{ n: number }> {
  processItem(_item: ImportItem<{ n: number }>): void {}
}

/**
 * createBatch sends a chunk's insert and reads the next chunk while it runs. What must still hold: a
 * failed insert or a failing source stores nothing, the failure is the one the caller sees, the source is
 * read at most a chunk past the failure, and the connection is fine for the next call.
 */
describe('creation with a chunk insert in flight', () => {
  const t = useTestApp([PipelineProbeProcessor]);
  const stored = async () => {
    const [{ batches, items }] = await t.dataSource.query<
      Array<{ batches: number; items: number }>
    >(
      `SELECT (SELECT count(*)::int FROM import_batches) AS batches,
              (SELECT count(*)::int FROM import_batch_items) AS items`,
    );
    return { batches, items };
  };

  it('a chunk whose insert fails stores nothing, and the source is read at most a chunk further', async () => {
    await t.dataSource.query(`
      CREATE FUNCTION refuse_row_1500() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.item_index = 1500 THEN RAISE EXCEPTION 'refused by the test: row 1500'; END IF;
        RETURN NEW;
      END $$`);
    await t.dataSource.query(
      `CREATE TRIGGER refuse_row_1500 BEFORE INSERT ON import_batch_items
         FOR EACH ROW EXECUTE FUNCTION refuse_row_1500()`,
    );
    let read = 0;
    async function* rows() {
      for (let n = 0; n < 10_000; n++) {
        if (n % 100 === 0) await tick();
        read = n + 1;
        yield { n };
      }
    }
    try {
      await expect(t.batches.createBatch('pipeline_probe', rows())).rejects.toThrow(
        'refused by the test: row 1500',
      );
    } finally {
      await t.dataSource.query('DROP TRIGGER refuse_row_1500 ON import_batch_items');
      await t.dataSource.query('DROP FUNCTION refuse_row_1500()');
    }
    expect(await stored()).toEqual({ batches: 0, items: 0 });
    // Chunks of 1,000: the second (1,000 to 1,999) failed while the third was read.
    expect(read).toBeLessThanOrEqual(3001);

    const batch = await t.batches.createBatch('pipeline_probe', rows());
    expect(batch.totalItems).toBe(10_000);
  });

  it('a source that throws while a chunk is in flight stores nothing and throws its own error', async () => {
    async function* rows() {
      for (let n = 0; n < 2500; n++) {
        if (n % 100 === 0) await tick();
        yield { n };
      }
      throw new Error('the source broke after 2,500 rows');
    }
    await expect(t.batches.createBatch('pipeline_probe', rows())).rejects.toThrow(
      'the source broke after 2,500 rows',
    );
    expect((await stored()).batches).toBe(1); // the batch of the test above
  });

  it('stores every row in order when chunks of different sizes follow each other', async () => {
    // Rows of 300 KB: a chunk ends at 4 MiB (13 rows), then rows of a few bytes fill 1,000-row chunks.
    async function* rows() {
      await tick();
      for (let n = 0; n < 40; n++) yield { n, text: 'x'.repeat(300_000) };
      for (let n = 40; n < 2600; n++) yield { n, text: '' };
    }
    const batch = await t.batches.createBatch('pipeline_probe', rows());
    const wrong = await t.dataSource.query<Array<{ n: number }>>(
      `SELECT item_index AS n FROM import_batch_items
        WHERE batch_id = $1 AND (source_data->>'n')::int <> item_index`,
      [batch.id],
    );
    expect(batch.totalItems).toBe(2600);
    expect(wrong).toEqual([]);
  });
});
