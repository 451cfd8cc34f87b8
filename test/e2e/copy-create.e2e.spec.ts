import { Readable } from 'node:stream';
import { BaseProcessor, ImportProcessor, readCsv } from '../../lib';
import { StatementLog } from '../support/statement-log';
import { useTestApp } from '../support/use-test-app';

@ImportProcessor({ batchType: 'copied' })
class CopiedProcessor extends BaseProcessor<Record<string, unknown>> {
  processItem(): void {}
}

/** Text that COPY's text format would read otherwise, were it not escaped, and text it must leave alone. */
const HOSTILE = [
  'back\\slash',
  '\\N',
  '\\.',
  '\\',
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'end of data\n\\.\n',
  'quote " and \\" escaped',
  'ünïcödé ✓ 𝄞 emoji 🙂',
  'line\u2028separator',
  '\\x41 \\101 \\t \\n',
  'x'.repeat(10_000),
];

describe('createBatch through COPY (node-postgres)', () => {
  const log = new StatementLog();
  const t = useTestApp([CopiedProcessor], { typeorm: { logger: log } });

  const storedRows = (batchId: string) =>
    t.dataSource.query<
      Array<{ item_index: number; source_data: unknown; source_line: number | null }>
    >(
      `SELECT item_index, source_data, source_line FROM import_batch_items
       WHERE batch_id = $1 ORDER BY item_index`,
      [batchId],
    );

  it('stores every hostile string as given, in its keys and values, by COPY', async () => {
    const rows = HOSTILE.map((text, n) => ({
      n,
      text,
      [`key ${Array.from(text).slice(0, 20).join('')}`]: text,
    }));
    log.statements = [];
    const batch = await t.batches.createBatch('copied', rows);
    expect(
      log.statements.filter((sql) => sql.startsWith('COPY "import_batch_items"')),
    ).toHaveLength(1);
    expect(log.statements.some((sql) => sql.includes('INSERT INTO "import_batch_items"'))).toBe(
      false,
    );
    const stored = await storedRows(batch.id);
    expect(stored.map((row) => row.source_data)).toEqual(rows);
    expect(stored.map((row) => row.source_line)).toEqual(rows.map(() => null));
    // What a reprocess or an export reads back is what was given.
    const items = await t.batches.getItems(batch.id, { limit: 100 });
    expect(items.map((item) => item.sourceData)).toEqual(rows);
  });

  it("keeps a file's lines, and inserts a chunk with a line that could not be read, failed with its reason", async () => {
    const csv = 'name,note\nA,"back\\slash\ttab"\nB,"two\nlines"\n"C,unclosed\nD,"\\N"\n';
    log.statements = [];
    const batch = await t.batches.createBatch('copied', readCsv(Readable.from([csv])));
    const stored = await storedRows(batch.id);
    expect(stored.map((row) => row.source_line)).toEqual(expect.arrayContaining([2, 3]));
    expect(stored[0].source_data).toEqual({ name: 'A', note: 'back\\slash\ttab' });
    expect(stored[1].source_data).toEqual({ name: 'B', note: 'two\nlines' });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].errorDetails?.code).toBe('MALFORMED_LINE');
    // That chunk went through the statement that stores and counts failed rows.
    expect(log.statements.some((sql) => sql.includes('INSERT INTO "import_batch_items"'))).toBe(
      true,
    );
    expect((await t.batches.getProgress(batch.id)).failed).toBe(failed.length);
  });

  it('stores chunk after chunk in order, each by COPY, with the same hash as rows inserted', async () => {
    const rows = Array.from({ length: 2500 }, (_, n) => ({ n, text: HOSTILE[n % HOSTILE.length] }));
    log.statements = [];
    const batch = await t.batches.createBatch('copied', rows, { idempotencyKey: 'copy-hash' });
    expect(log.statements.filter((sql) => sql.startsWith('COPY'))).toHaveLength(3);
    const stored = await storedRows(batch.id);
    expect(stored.map((row) => row.item_index)).toEqual(rows.map((_, n) => n));
    expect(stored.map((row) => row.source_data)).toEqual(rows);
    // The same rows again under the same key: the same batch, not a conflict.
    const again = await t.batches.createBatch('copied', rows, { idempotencyKey: 'copy-hash' });
    expect(again.id).toBe(batch.id);
  });
});
