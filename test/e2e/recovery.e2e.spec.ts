import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import {
  BatchNotReprocessableError,
  CorrectionsRefusedError,
  readCorrections,
  readCsv,
  SourceRow,
  type ItemCorrection,
} from '../../lib';
import {
  CSV_COLUMNS,
  customersCsv,
  fixExportedCsv,
  lineOf,
  MALFORMED_INDEXES,
} from '../fixtures/customers-csv';
import { CustomerDataProcessor } from '../fixtures/customer-data.processor';
import {
  correctedRow,
  customerRows,
  INVALID_INDEXES,
  type CustomerRow,
} from '../fixtures/customer-rows';
import type { TestApp } from '../fixtures/test-app';
import { useTestApp } from '../support/use-test-app';

const COLUMNS = ['email', 'first_name', 'last_name', 'company'];
/** Two of the 28 bad rows are lines that could not be read at all. */
const MALFORMED = [INVALID_INDEXES[3], INVALID_INDEXES[20]];

/** The 500 rows as a CSV reader yields them: row i on line i + 2 (the header is line 1). */
function fileRows(): SourceRow<CustomerRow>[] {
  return customerRows().map((row, index) =>
    MALFORMED.includes(index)
      ? new SourceRow<CustomerRow>(
          index + 2,
          { email: `customer${index}@example.com` },
          { reason: '2 fields where the header has 4', raw: `customer${index}@example.com,"First` },
          COLUMNS,
        )
      : new SourceRow(index + 2, row, null, COLUMNS),
  );
}

async function exportCsv(t: TestApp, batchId: string): Promise<Array<Record<string, string>>> {
  const csv = await text(await t.batches.exportFailures(batchId, { format: 'csv' }));
  return parse<Record<string, string>>(csv, { columns: true });
}

/** What a user does in a spreadsheet: fix the data cells of each exported row. */
function fixInSpreadsheet(rows: Array<Record<string, string>>): ItemCorrection<CustomerRow>[] {
  return rows.map((row, i) => {
    const index = Number(row._line) - 2;
    return {
      itemId: row._item_id,
      data: { ...correctedRow(index), company: row.company },
      fileLine: i + 2,
    };
  });
}

describe('recovery at file scale (PostgreSQL)', () => {
  const t = useTestApp([CustomerDataProcessor]);

  async function importFile(): Promise<string> {
    const batch = await t.batches.createBatch('customer_data', fileRows());
    expect(batch.sourceColumns).toEqual(COLUMNS);
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ totalItems: 500, completedItems: 472, failedItems: 28 });
    return batch.id;
  }

  it('a CSV with 28 bad rows: export, fix in a spreadsheet, reprocess with the file; every row is in', async () => {
    const batch = await t.batches.createBatch(
      'customer_data',
      readCsv(Readable.from([customersCsv()])),
    );
    expect(batch.sourceColumns).toEqual(CSV_COLUMNS);
    const first = await t.batches.processBatch(batch.id);
    expect(first).toMatchObject({ totalItems: 500, completedItems: 472, failedItems: 28 });
    const failed = await t.batches.getItems(batch.id, { status: 'failed', limit: 100 });
    const unread = failed.filter((item) => item.errorDetails?.code === 'MALFORMED_LINE');
    expect(unread.map((item) => item.sourceLine)).toEqual(MALFORMED_INDEXES.map(lineOf));
    expect(unread[0].attempts).toBe(0);
    expect(unread[0].errorMessage).toMatch(/^Line \d+ could not be read as a row: /);

    const [firstFailure] = await t.batches.getFailures(batch.id, { limit: 1 });
    expect(Object.keys(firstFailure.data)).toEqual(CSV_COLUMNS);
    const exported = await text(await t.batches.exportFailures(batch.id, { format: 'csv' }));
    const rows = parse<Record<string, string>>(exported, { columns: true });
    expect(Object.keys(rows[0])).toEqual([
      '_item_id',
      '_line',
      '_status',
      '_reason',
      ...CSV_COLUMNS,
    ]);
    expect(rows.map((row) => Number(row._line))).toEqual(INVALID_INDEXES.map(lineOf));
    const unreadRow = rows.find((row) => Number(row._line) === lineOf(MALFORMED_INDEXES[0]))!;
    expect(unreadRow._reason).toContain(
      `Its text: customer${MALFORMED_INDEXES[0]}@example.com,"First${MALFORMED_INDEXES[0]}"`,
    );
    expect(await t.batches.getLineage(batch.id)).toMatchObject({
      rootBatchId: batch.id,
      totalRows: 500,
      completedFirstTime: 472,
      resolved: 0,
      unresolved: 28,
      notProcessed: 0,
    });

    const fixed = fixExportedCsv(exported);
    const summary = await t.batches.reprocessBatch(batch.id, {
      corrections: readCorrections(Readable.from([fixed]), { format: 'csv' }),
    });
    expect(summary).toMatchObject({ totalItems: 28, completedItems: 28, failedItems: 0 });
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM customers WHERE email LIKE $1',
      ['customer%@example.com'],
    );
    expect(count).toBe(500);

    const lineage = await t.batches.getLineage(summary.batchId);
    expect(lineage).toMatchObject({
      rootBatchId: batch.id,
      totalRows: 500,
      completedFirstTime: 472,
      resolved: 28,
      unresolved: 0,
      notProcessed: 0,
    });
    expect(lineage.batches.map((entry) => [entry.batchId, entry.depth])).toEqual([
      [batch.id, 0],
      [summary.batchId, 1],
    ]);
    const child = await t.batches.getItems(summary.batchId);
    expect(child.map((item) => item.sourceLine)).toEqual(INVALID_INDEXES.map(lineOf));
    const audit = (
      await t.batches.getLogs(summary.batchId === batch.id ? batch.id : batch.id)
    ).filter((entry) => entry.message.endsWith('corrected'));
    expect(audit).toHaveLength(28);
    expect(await text(await t.batches.exportFailures(batch.id))).toBe(
      '_item_id,_line,_status,_reason,email,first_name,last_name,company\n',
    );
    const all = await t.batches.getFailures(batch.id, { includeResolved: true });
    expect(all).toHaveLength(28);
    expect(new Set(all.map((row) => row.resolvedBy))).toEqual(new Set([summary.batchId]));
  });

  it('refuses a set with one bad reference as a whole, naming its line; nothing is applied', async () => {
    const batchId = await importFile();
    const corrections = fixInSpreadsheet(await exportCsv(t, batchId));
    corrections[5] = { ...corrections[5], itemId: '00000000-0000-4000-8000-000000000000' };
    const completed = (await t.batches.getItems(batchId, { status: 'completed', limit: 1 }))[0];
    corrections.push({ itemId: completed.id, data: { email: 'x@y.z' }, fileLine: 30 });
    corrections.push({ ...corrections[0], fileLine: 31 });

    const refused = await t.batches
      .reprocessBatch(batchId, { corrections })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CorrectionsRefusedError);
    const error = refused as CorrectionsRefusedError;
    expect(error.code).toBe('CORRECTIONS_REFUSED');
    expect(error.problems.map((problem) => problem.line)).toEqual([7, 30, 31]);
    expect(error.message).toContain('line 7: no row of batch');
    expect(error.message).toContain('line 30: its row completed already');
    expect(error.message).toContain('line 31: it corrects the same row as line 2');
    expect(error.message).toContain('none was applied');

    const [{ corrected }] = await t.dataSource.query<{ corrected: number }[]>(
      `SELECT count(*)::int AS corrected FROM import_batch_items
       WHERE batch_id = $1 AND corrected_data IS NOT NULL`,
      [batchId],
    );
    expect(corrected).toBe(0);
    expect(await t.batches.listBatches({ parentBatchId: batchId })).toEqual([]);
    const audit = (await t.batches.getLogs(batchId)).filter((entry) =>
      entry.message.endsWith('corrected'),
    );
    expect(audit).toEqual([]);
  });

  it('corrects by line and by merge, audits old and new, and keeps unread lines until corrected', async () => {
    const batchId = await importFile();
    const firstBad = INVALID_INDEXES[0];
    const result = await t.batches.correctItems(
      batchId,
      [{ line: firstBad + 2, data: { email: `customer${firstBad}@example.com` } }],
      { mode: 'merge' },
    );
    expect(result).toEqual({ rootBatchId: batchId, corrected: 1, unchanged: 0 });
    const [row] = await t.batches.getFailures<CustomerRow>(batchId, { limit: 1 });
    expect(row.line).toBe(firstBad + 2);
    expect(row.corrected).toBe(true);
    expect(row.data).toEqual({
      ...customerRows()[firstBad],
      email: `customer${firstBad}@example.com`,
    });
    const [audit] = (await t.batches.getLogs(batchId)).filter((entry) =>
      entry.message.endsWith('corrected'),
    );
    expect(audit.details).toEqual({
      itemIndex: firstBad,
      mode: 'merge',
      old: customerRows()[firstBad],
      new: row.data,
    });

    // Uncorrected unread lines are not reprocessed (they have no data) and stay unresolved.
    const summary = await t.batches.reprocessBatch(batchId);
    expect(summary.totalItems).toBe(26);
    const lineage = await t.batches.getLineage(batchId);
    expect(lineage.unresolved).toBe(2 + 26 - 1);
    expect((await t.batches.getFailures(batchId)).map((failure) => failure.errorCode)).toContain(
      'MALFORMED_LINE',
    );
  });

  it('refuses to reprocess rows that are all unread lines, and says how to correct them', async () => {
    const batch = await t.batches.createBatch('customer_data', [
      new SourceRow(2, correctedRow(1)),
      new SourceRow(3, {}, { reason: 'invalid JSON: Unexpected end', raw: '{"email": "a@' }),
    ]);
    await t.batches.processBatch(batch.id);
    const refused = await t.batches.reprocessBatch(batch.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BatchNotReprocessableError);
    expect((refused as Error).message).toContain('1 row(s) left are lines of the source file');
    expect((refused as Error).message).toContain(`failures ${batch.id} --format csv`);

    await t.batches.correctItems(batch.id, [{ line: 3, data: correctedRow(2) }]);
    const summary = await t.batches.reprocessBatch(batch.id);
    expect(summary).toMatchObject({ totalItems: 1, completedItems: 1 });
    expect((await t.batches.getLineage(batch.id)).unresolved).toBe(0);
  });

  it('a CSV round trip changes only the cells the user changed: types stay, untouched rows are no corrections', async () => {
    const batch = await t.batches.createBatch('customer_data', [
      {
        email: 'typed',
        n: 12345678901234567891n.toString(),
        count: 5,
        tags: ['a', 'b'],
        note: null,
      },
      { email: 'untouched', count: -3, ok: true },
      new SourceRow(
        4,
        { email: 'x@y.z' },
        { reason: '3 fields where the header has 2', raw: 'x@y.z,,' },
      ),
    ]);
    await t.batches.processBatch(batch.id);
    const exported = await text(await t.batches.exportFailures(batch.id));
    const records: string[][] = parse(exported);
    const [header, ...rows] = records;
    rows[0][header.indexOf('email')] = 'typed@example.com';
    const fixed = stringify([header, ...rows]);

    const result = await t.batches.correctItems(
      batch.id,
      readCorrections(Readable.from([fixed]), { format: 'csv' }),
    );
    // Rows given back untouched are no corrections: an unread line given back as it was would be
    // imported cut short.
    expect(result).toEqual({ rootBatchId: batch.id, corrected: 1, unchanged: 2 });
    const [typed, untouched, unread] = await t.dataSource.query<Array<{ data: string }>>(
      `SELECT corrected_data::text AS data FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
      [batch.id],
    );
    expect(JSON.parse(typed.data)).toEqual({
      email: 'typed@example.com',
      n: '12345678901234567891',
      count: 5,
      tags: ['a', 'b'],
      note: null,
    });
    expect(untouched.data).toBeNull();
    expect(unread.data).toBeNull();
  });

  it('keeps what can be read of a row of a file that cannot be stored, to correct it', async () => {
    const batch = await t.batches.createBatch('customer_data', [
      new SourceRow(2, { email: 'nul@example.com', first_name: 'A\u0000B', last_name: 'C' }),
    ]);
    const [row] = await t.batches.getFailures<CustomerRow>(batch.id);
    expect(row).toMatchObject({
      line: 2,
      errorCode: 'MALFORMED_LINE',
      data: { email: 'nul@example.com', first_name: 'A\uFFFDB', last_name: 'C' },
    });
    expect(row.reasons[0]).toContain('sourceData.first_name contains the character \\u0000');
    expect(row.reasons[0]).toContain('with U+FFFD in place of what could not');
  });

  it('a reprocess of a later batch with a file of the tree reprocesses every row the file corrects', async () => {
    const batch = await t.batches.createBatch('customer_data', [
      new SourceRow(2, correctedRow(1)),
      new SourceRow(3, { email: 'bad' }),
      new SourceRow(4, {}, { reason: 'invalid JSON: Unexpected end', raw: '{"email": "c@' }),
    ]);
    await t.batches.processBatch(batch.id);
    // The unread line 4 is not copied: the reprocess holds line 3 only, which fails again.
    const first = await t.batches.reprocessBatch(batch.id);
    expect(first).toMatchObject({ totalItems: 1, failedItems: 1 });

    const exported = await text(await t.batches.exportFailures(first.batchId));
    const records: string[][] = parse(exported);
    const [header, ...rows] = records;
    for (const row of rows) {
      const fix = correctedRow(Number(row[header.indexOf('_line')]));
      for (const column of ['email', 'first_name', 'last_name'] as const) {
        row[header.indexOf(column)] = fix[column]!;
      }
    }
    expect(rows.map((row) => row[header.indexOf('_line')])).toEqual(['3', '4']);
    const second = await t.batches.reprocessBatch(first.batchId, {
      corrections: readCorrections(Readable.from([stringify([header, ...rows])]), {
        format: 'csv',
      }),
    });
    expect(second).toMatchObject({ totalItems: 2, completedItems: 2 });
    expect(await t.batches.getLineage(batch.id)).toMatchObject({ unresolved: 0, notProcessed: 0 });
  });

  it('exports JSON lines with every digit, in column order, and protects formula cells in CSV', async () => {
    const rows = [
      new SourceRow(2, { id: '=HYPERLINK("http://evil")', big: 1 }, null, ['id', 'big', '_line']),
    ];
    const batch = await t.batches.createBatch('customer_data', rows);
    await t.batches.processBatch(batch.id);
    const csv = await text(await t.batches.exportFailures(batch.id));
    const [header, line] = csv.trim().split('\n');
    expect(header).toBe('__item_id,__line,__status,__reason,id,big,_line');
    expect(line).toContain(`"'=HYPERLINK(""http://evil"")"`);

    await t.dataSource.query(
      `UPDATE import_batch_items SET source_data = '{"big": 12345678901234567891, "id": "x"}'::jsonb
       WHERE batch_id = $1`,
      [batch.id],
    );
    const jsonl = await text(await t.batches.exportFailures(batch.id, { format: 'jsonl' }));
    expect(jsonl).toContain('"data":{"id":"x","big":12345678901234567891}');
  });
});
