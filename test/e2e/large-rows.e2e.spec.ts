import { BaseProcessor, ImportProcessor, InvalidSourceDataError, type ImportItem } from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface Document {
  seq: number;
  body: string;
}

@ImportProcessor()
class ScannedDocumentProcessor extends BaseProcessor<Document> {
  processItem(_item: ImportItem<Document>): void {}
}

/** `count` rows of about `bytes` bytes of JSON each, made one at a time as a stream would. */
async function* documents(count: number, bytes: number, char = 'x'): AsyncGenerator<Document> {
  for (let seq = 0; seq < count; seq++) {
    await Promise.resolve();
    yield { seq, body: char.repeat(bytes) };
  }
}

describe('large rows: chunks bounded by bytes, and a row over the limit refused', () => {
  const t = useTestApp([ScannedDocumentProcessor]);

  const stored = async (batchId: string) => {
    const [row] = await t.dataSource.query<{ count: number; in_order: boolean; bytes: string }[]>(
      `SELECT count(*)::int AS count, bool_and((source_data->>'seq')::int = item_index) AS in_order,
              sum(length(source_data->>'body'))::text AS bytes
       FROM import_batch_items WHERE batch_id = $1`,
      [batchId],
    );
    return row;
  };

  const counts = async (): Promise<[number, number]> => {
    const [row] = await t.dataSource.query<{ batches: number; items: number }[]>(
      `SELECT (SELECT count(*) FROM import_batches)::int AS batches,
              (SELECT count(*) FROM import_batch_items)::int AS items`,
    );
    return [row.batches, row.items];
  };

  it('stores 27 rows of 10 MB (270 MB in all, over the 256 MB a jsonb value may have)', async () => {
    const batch = await t.batches.createBatch('scanned_document', documents(27, 10_000_000));
    expect(batch.totalItems).toBe(27);
    expect(await stored(batch.id)).toEqual({ count: 27, in_order: true, bytes: '270000000' });
  }, 300_000);

  it('stores 999 rows of 280 KB, less than a chunk in rows but not in bytes', async () => {
    const batch = await t.batches.createBatch('scanned_document', documents(999, 280_000));
    expect(batch.totalItems).toBe(999);
    expect(await stored(batch.id)).toEqual({ count: 999, in_order: true, bytes: '279720000' });
  }, 300_000);

  it('counts the limit in UTF-8 bytes, and refuses an oversized row with its index; nothing stored', async () => {
    const before = await counts();
    async function* rows(): AsyncGenerator<Document> {
      yield* documents(3, 1000);
      // 9 million "é": 9 million UTF-16 units, under the limit by length, but 18 MB of UTF-8.
      yield { seq: 3, body: 'é'.repeat(9_000_000) };
    }
    const attempt = t.batches.createBatch('scanned_document', rows());
    await expect(attempt).rejects.toThrow(InvalidSourceDataError);
    const error = (await attempt.catch((e: unknown) => e)) as InvalidSourceDataError;
    expect(error.context).toEqual({ itemIndex: 3, batchType: 'scanned_document' });
    expect(error.message).toBe(
      'Cannot store item 3 of a new "scanned_document" batch: sourceData is 18,000,019 bytes of JSON, ' +
        'over the limit of 16,777,216 bytes (16 MiB) a value may have; split it into smaller rows, or ' +
        'store the large content elsewhere and keep a reference to it. Nothing was stored; fix that item ' +
        'and create the batch again.',
    );
    expect(await counts()).toEqual(before);
  }, 120_000);

  it('accepts a row just under the limit', async () => {
    const batch = await t.batches.createBatch('scanned_document', documents(1, 16_000_000));
    expect(await stored(batch.id)).toEqual({ count: 1, in_order: true, bytes: '16000000' });
  }, 120_000);
});
