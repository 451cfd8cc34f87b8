import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { Client } from 'pg';
import {
  BaseProcessor,
  CorrectionsRefusedError,
  ImportProcessor,
  readCorrections,
  readJsonl,
  ReliableImportsError,
  SourceRow,
  type ImportContext,
  type ImportItem,
  type ItemCorrection,
} from '../../lib';
import { Gate } from '../support/gate';
import { useTestApp } from '../support/use-test-app';

/**
 * An outside review of the recovery guarantees of issue 11 (corrections all or nothing under the tree's
 * lock, failures exports that round-trip, counts by the tree), each attack a test on a real PostgreSQL.
 */

type Row = Record<string, unknown>;

/**
 * A row is valid when its `ok` field is `'yes'`; a row with `skip` is skipped. Each applied row is written
 * to `recovery_applied` (no unique key, so that a row applied twice shows) under its source row's id.
 */
@ImportProcessor('recovery_attack')
class RecoveryAttackProcessor extends BaseProcessor<Row> {
  /** Rows (by `n`) that wait at `gate` before they are applied. */
  readonly held = new Set<string>();
  gate: Gate | null = null;

  validateItem(item: ImportItem<Row>): true | string {
    return item.sourceData.ok === 'yes' || `row ${String(item.sourceData.n)} is not ok`;
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const n = String(item.sourceData.n);
    if (this.held.has(n) && this.gate) await this.gate.pass();
    if (item.sourceData.skip) ctx.skip('asked to skip');
    await ctx.query('INSERT INTO recovery_applied (source_id, n) VALUES ($1, $2)', [
      item.originalItemId ?? item.id,
      n,
    ]);
  }
}

describe('attacks on the recovery guarantees of issue 11 (PostgreSQL)', () => {
  const t = useTestApp([RecoveryAttackProcessor]);
  let admin: Client;
  let processor: RecoveryAttackProcessor;

  beforeAll(async () => {
    await t.dataSource.query(
      'CREATE TABLE recovery_applied (source_id uuid NOT NULL, n text NOT NULL)',
    );
    admin = await t.connect();
    processor = t.app.get(RecoveryAttackProcessor);
  });
  afterEach(() => {
    processor.held.clear();
    processor.gate = null;
  });

  /** Rows n = 0..count-1 from lines 2.., each bad (`ok: 'no'`) when its n is in `bad`. */
  const fileRows = (count: number, bad: number[], columns = ['n', 'ok']): SourceRow<Row>[] =>
    Array.from(
      { length: count },
      (_, n) =>
        new SourceRow<Row>(
          n + 2,
          { n: String(n), ok: bad.includes(n) ? 'no' : 'yes' },
          null,
          columns,
        ),
    );

  async function failedImport(count: number, bad: number[]): Promise<string> {
    const batch = await t.batches.createBatch('recovery_attack', fileRows(count, bad));
    await t.batches.processBatch(batch.id);
    return batch.id;
  }

  const caught = (promise: Promise<unknown>): Promise<unknown> =>
    promise.then(
      () => null,
      (error: unknown) => error,
    );

  /** Waits (polling the server, bounded) until a backend of this database waits on a lock. */
  async function lockWaiters(count: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await admin.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM pg_stat_activity
         WHERE datname = $1 AND wait_event_type = 'Lock'`,
        [t.db.name],
      );
      if (rows[0].count >= count) return;
      if (Date.now() > deadline) throw new Error(`no ${count} backend(s) waiting on a lock`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** How many times each row of the tree of `rootId` was applied, by its n. */
  const appliedCounts = async (rootId: string): Promise<Record<string, number>> => {
    const { rows } = await admin.query<{ n: string; count: number }>(
      `SELECT a.n, count(*)::int AS count FROM recovery_applied a
       JOIN import_batch_items s ON s.id = a.source_id
       WHERE s.batch_id = $1 GROUP BY a.n`,
      [rootId],
    );
    return Object.fromEntries(rows.map((row) => [row.n, row.count]));
  };

  const correctedCount = async (rootId: string): Promise<number> => {
    const { rows } = await admin.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM import_batch_items i
       WHERE (i.batch_id = $1 OR i.original_item_id IN
              (SELECT id FROM import_batch_items WHERE batch_id = $1))
         AND i.corrected_data IS NOT NULL`,
      [rootId],
    );
    return rows[0].count;
  };

  describe('createBatch with rows whose line is not a line number', () => {
    it.each([
      ['0', 0],
      ['negative', -3],
      ['a fraction', 2.5],
      ['NaN', Number.NaN],
      ['beyond an integer column', 2 ** 31],
      ['2^40', 2 ** 40],
      ['a string', '12' as unknown as number],
    ])('line %s: a clear error naming the row, nothing stored', async (_name, line) => {
      const before = await admin.query('SELECT count(*)::int AS count FROM import_batches');
      const rows = [
        new SourceRow<Row>(2, { n: '0', ok: 'yes' }),
        new SourceRow<Row>(line, { n: '1' }),
      ];
      const error = await caught(t.batches.createBatch('recovery_attack', rows));
      expect(error).toBeInstanceOf(ReliableImportsError);
      expect((error as ReliableImportsError).code).toBe('INVALID_SOURCE_DATA');
      expect((error as Error).message).toContain('item 1');
      expect((error as Error).message).toContain('line');
      const after = await admin.query('SELECT count(*)::int AS count FROM import_batches');
      expect(after.rows[0].count).toBe(before.rows[0].count);
    });
  });

  describe('hostile corrections', () => {
    it.each([
      ['2^40', 2 ** 40],
      ['2^31', 2 ** 31],
    ])('a line of %s is a problem of the set, not a SQL error', async (_name, line) => {
      const batchId = await failedImport(3, [1]);
      const error = await caught(
        t.batches.correctItems(batchId, [
          { line: 3, data: { n: '1', ok: 'yes' } },
          { line, data: { n: '1', ok: 'yes' } },
        ]),
      );
      expect(error).toBeInstanceOf(CorrectionsRefusedError);
      expect((error as CorrectionsRefusedError).problems).toEqual([
        expect.objectContaining({ line: 2, at: 'entry' }),
      ]);
      expect(await correctedCount(batchId)).toBe(0);
    });
  });

  describe('corrections racing other work on the same tree', () => {
    /** Corrections that yield `first` and then wait at `gate` before they end (an upload still coming). */
    async function* slowUpload(
      first: ItemCorrection<Row>[],
      gate: Gate,
    ): AsyncGenerator<ItemCorrection<Row>> {
      yield* first;
      await gate.pass();
    }

    it('a reprocess that waited for the tree is made later than what ran meanwhile: its copies are the newest', async () => {
      const rootId = await failedImport(4, [1, 2]);
      // Another session holds the tree's root: the reprocess begins its transaction, then waits.
      const holder = new Client({ connectionString: t.db.url });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT id FROM import_batches WHERE id = $1 FOR NO KEY UPDATE', [
          rootId,
        ]);
        const reprocessing = t.batches.reprocessBatch(rootId);
        await lockWaiters(1);
        const [{ released }] = (
          await holder.query<{ released: Date }>('SELECT clock_timestamp() AS released')
        ).rows;
        await holder.query('COMMIT');
        const child = await reprocessing;
        const [{ created }] = (
          await admin.query<{ created: Date }>(
            'SELECT created_at AS created FROM import_batches WHERE id = $1',
            [child.batchId],
          )
        ).rows;
        // Stamped when it was made, not when its transaction began (before the wait).
        expect(created.getTime()).toBeGreaterThanOrEqual(released.getTime());
      } finally {
        await holder.end();
      }
    });

    it('a reprocess of another batch of the tree waits for a correction set still being read, and uses it', async () => {
      const rootId = await failedImport(6, [1, 2]);
      const first = await t.batches.reprocessBatch(rootId, {
        corrections: [{ line: 3, data: { n: '1', ok: 'yes' } }],
      });
      expect(first).toMatchObject({ totalItems: 2, completedItems: 1, failedItems: 1 });

      const upload = new Gate();
      const correcting = t.batches.correctItems(
        rootId,
        slowUpload([{ line: 4, data: { n: '2', ok: 'yes' } }], upload),
      );
      await upload.entered;
      const reprocessing = t.batches.reprocessBatch(first.batchId);
      await lockWaiters(1);
      upload.release();
      expect(await correcting).toEqual({ rootBatchId: rootId, corrected: 1, unchanged: 0 });
      // Had the reprocess not waited, it would have copied row 2 without its correction (and failed it).
      expect(await reprocessing).toMatchObject({
        totalItems: 1,
        completedItems: 1,
        failedItems: 0,
      });
      expect(await appliedCounts(rootId)).toEqual({
        '0': 1,
        '1': 1,
        '2': 1,
        '3': 1,
        '4': 1,
        '5': 1,
      });
      expect(await t.batches.getLineage(rootId)).toMatchObject({
        totalRows: 6,
        completedFirstTime: 4,
        resolved: 2,
        unresolved: 0,
        notProcessed: 0,
      });
    });

    it('two sets correcting the same row at once apply one after the other: nothing lost, no deadlock', async () => {
      const rootId = await failedImport(3, [1]);
      const gateA = new Gate();
      const gateB = new Gate();
      const a = t.batches.correctItems(
        rootId,
        slowUpload([{ line: 3, data: { n: '1', ok: 'A' } }], gateA),
        {
          mode: 'merge',
        },
      );
      await gateA.entered;
      const b = t.batches.correctItems(
        rootId,
        slowUpload([{ line: 3, data: { n: '1', v: 'B' } }], gateB),
        {
          mode: 'merge',
        },
      );
      await lockWaiters(1);
      gateA.release();
      await gateB.entered;
      gateB.release();
      expect(await a).toMatchObject({ corrected: 1 });
      expect(await b).toMatchObject({ corrected: 1 });
      const audit = (await t.batches.getLogs(rootId)).filter((entry) =>
        entry.message.endsWith('corrected'),
      );
      // The second merge starts from the first one's result: neither update is lost.
      expect(audit.map((entry) => entry.details)).toEqual([
        expect.objectContaining({ old: { n: '1', ok: 'no' }, new: { n: '1', ok: 'A' } }),
        expect.objectContaining({ old: { n: '1', ok: 'A' }, new: { n: '1', ok: 'A', v: 'B' } }),
      ]);
    });

    it('a row that a running reprocess holds is refused, and the running copy keeps its data', async () => {
      const rootId = await failedImport(4, [1, 2]);
      processor.held.add('1');
      processor.gate = new Gate();
      const reprocessing = t.batches.reprocessBatch(rootId, {
        corrections: [{ line: 3, data: { n: '1', ok: 'yes' } }],
      });
      await processor.gate.entered;
      const [child] = await t.batches.listBatches({ parentBatchId: rootId });
      const error = await caught(
        t.batches.correctItems(rootId, [{ line: 3, data: { n: '1', ok: 'other' } }]),
      );
      expect(error).toBeInstanceOf(CorrectionsRefusedError);
      expect((error as Error).message).toContain(`being processed by batch "${child.id}"`);
      processor.gate.release();
      expect(await reprocessing).toMatchObject({ completedItems: 1, failedItems: 1 });
      const [held] = await t.batches.getItems(child.id, { status: 'completed' });
      expect(held.sourceData).toEqual({ n: '1', ok: 'yes' });
      expect(held.correctedData).toBeNull();
    });
  });

  describe('a corrections stream that fails', () => {
    const many = (count: number, line: (i: number) => number): ItemCorrection<Row>[] =>
      Array.from({ length: count }, (_, i) => ({
        line: line(i),
        data: { n: String(i), ok: 'yes' },
      }));

    async function* brokenOff(
      corrections: ItemCorrection<Row>[],
    ): AsyncGenerator<ItemCorrection<Row>> {
      yield* corrections;
      // The connection drops a moment later, as a network stream's would.
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('upload broken off');
    }

    it('after a chunk was stored: nothing is applied, and the stream error surfaces as it is', async () => {
      const count = 600;
      const bad = Array.from({ length: count }, (_, n) => n);
      const rootId = await failedImport(count, bad);
      const error = await caught(
        t.batches.correctItems(rootId, brokenOff(many(550, (i) => i + 2))),
      );
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ReliableImportsError);
      expect((error as Error).message).toBe('upload broken off');
      expect(await correctedCount(rootId)).toBe(0);
      const audit = (await t.batches.getLogs(rootId, { limit: 10 })).filter((entry) =>
        entry.message.endsWith('corrected'),
      );
      expect(audit).toEqual([]);

      const again = await caught(
        t.batches.reprocessBatch(rootId, { corrections: brokenOff(many(600, (i) => i + 2)) }),
      );
      expect((again as Error).message).toBe('upload broken off');
      expect(await t.batches.listBatches({ parentBatchId: rootId })).toEqual([]);
      expect(await correctedCount(rootId)).toBe(0);
    });
  });

  it('the audit of a set lists its rows oldest first when the log ids cross a power of ten', async () => {
    // Found by this file: getLogs sorted by the id as text, so that id 100 came before id 99.
    const bad = Array.from({ length: 12 }, (_, n) => n);
    const rootId = await failedImport(12, bad);
    // The audit entries to come cross a power of ten (…99 → …100), where the text order differs.
    const { rows } = await admin.query<{ last: string }>(
      'SELECT last_value::text AS last FROM import_logs_id_seq',
    );
    await admin.query("SELECT setval('import_logs_id_seq', $1)", [
      10 ** (rows[0].last.length + 1) - 5,
    ]);
    await t.batches.correctItems(
      rootId,
      bad.map((n) => ({ line: n + 2, data: { n: String(n), ok: 'yes' } })),
    );
    const logs = await t.batches.getLogs(rootId);
    const ids = logs.map((entry) => BigInt(entry.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    const audit = logs.filter((entry) => entry.message.endsWith('corrected'));
    expect(audit.map((entry) => (entry.details as { itemIndex: number }).itemIndex)).toEqual(bad);
  });

  describe('hostile sets of corrections', () => {
    it('every hostile entry is a problem by its position, and nothing of the set is applied', async () => {
      const rootId = await failedImport(4, [1, 2, 3]);
      const otherRoot = await failedImport(2, [1]);
      const [otherRow] = await t.batches.getFailures(otherRoot);
      const [row1, row2] = await t.batches.getFailures(rootId);
      const lone = 'x\uD800y';
      const corrections = [
        { itemId: row1.itemId.toUpperCase(), data: { n: '1', ok: 'yes' } }, // 1: fine
        { itemId: otherRow.itemId, data: { ok: 'yes' } }, // 2: another tree's row
        { line: 3, data: { ok: 'yes' } }, // 3: row 1 again, by its line
        { line: '4', data: { ok: 'yes' } }, // 4: a line as text
        { line: 0, data: { ok: 'yes' } }, // 5
        { line: -1, data: { ok: 'yes' } }, // 6
        { itemId: row2.itemId, data: { ok: 'a\u0000b' } }, // 7
        { line: 5, data: { ok: lone } }, // 8
        null, // 9
        42, // 10
        'a string', // 11
        [{ line: 5, data: {} }], // 12
        { line: 5, data: 'ok=yes' }, // 13
        { line: 5, data: { big: 'x'.repeat(17 * 1024 * 1024) } }, // 14
        { itemId: 'not-a-uuid', data: {} }, // 15
        { data: { ok: 'yes' } }, // 16: names no row
      ] as unknown as ItemCorrection<Row>[];
      const error = await caught(t.batches.correctItems(rootId, corrections));
      expect(error).toBeInstanceOf(CorrectionsRefusedError);
      const refused = error as CorrectionsRefusedError;
      expect(refused.problems.map((problem) => [problem.at, problem.line])).toEqual(
        [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map((line) => ['entry', line]),
      );
      expect(refused.problems[1].message).toContain('same row as entry 1');
      expect(refused.message.length).toBeLessThan(10_000);
      expect(await correctedCount(rootId)).toBe(0);
    });

    it('a __proto__ key and an upper-case item id are stored as given, on the right row', async () => {
      const rootId = await failedImport(3, [1]);
      const [row] = await t.batches.getFailures(rootId);
      const data = JSON.parse('{"n":"1","ok":"yes","__proto__":{"polluted":true}}') as Row;
      expect(
        await t.batches.correctItems(rootId, [{ itemId: row.itemId.toUpperCase(), data }]),
      ).toMatchObject({ corrected: 1 });
      const { rows } = await admin.query<{ data: string }>(
        'SELECT corrected_data::text AS data FROM import_batch_items WHERE id = $1',
        [row.itemId],
      );
      expect(JSON.parse(rows[0].data)).toEqual(data);
      expect(({} as Row).polluted).toBeUndefined();
    });

    it('10,001 problems: all counted, 10,000 kept, a message of reasonable size', async () => {
      const rootId = await failedImport(2, [1]);
      const corrections = Array.from({ length: 10_001 }, (_, i) => ({
        line: 1_000 + i,
        data: { ok: 'yes' },
        fileLine: i + 2,
      }));
      const error = (await caught(
        t.batches.correctItems(rootId, corrections),
      )) as CorrectionsRefusedError;
      expect(error).toBeInstanceOf(CorrectionsRefusedError);
      expect(error.problemCount).toBe(10_001);
      expect(error.problems).toHaveLength(10_000);
      expect(error.problems[0]).toMatchObject({ at: 'line', line: 2 });
      expect(error.message).toContain('10001 problem(s)');
      expect(error.message.length).toBeLessThan(10_000);
    });
  });

  describe('export fidelity', () => {
    const HOSTILE = [
      'plain',
      'a "quoted", with comma',
      'two\nlines',
      'carriage\rreturn',
      'crlf\r\nend',
      '=SUM(A1:A2)',
      '+1+1',
      '-cmd',
      '-1',
      '-',
      '@user',
      "'=already",
      "'quoted",
      '\ttab',
      'unicode é 漢字 🎉',
      ' padded ',
      '',
    ];

    it('hostile cells, meta-named columns and a __proto__ column round-trip through CSV and JSONL', async () => {
      const columns = ['n', 'ok', '_item_id', '_line', '__proto__', 'note'];
      const rows = HOSTILE.map((note, n) => {
        const data: Row = { n: String(n), ok: 'no', _item_id: `mine-${n}`, _line: `${n}` };
        Object.defineProperty(data, '__proto__', {
          value: `proto-${n}`,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        data.note = note;
        return new SourceRow<Row>(n + 2, data, null, columns);
      });
      const batch = await t.batches.createBatch('recovery_attack', rows);
      await t.batches.processBatch(batch.id);
      const original = new Map(
        (await t.batches.getItems(batch.id)).map((item) => [item.sourceLine, item.sourceData]),
      );

      // CSV, edited as a program would: only the ok cell of each row changes.
      const csv = await text(await t.batches.exportFailures(batch.id, { format: 'csv' }));
      const table = parse(csv);
      expect(table[0]).toEqual(['__item_id', '__line', '__status', '__reason', ...columns]);
      const okAt = table[0].indexOf('ok');
      for (const record of table.slice(1)) record[okAt] = 'yes';
      const edited = stringify(table);
      await t.batches.correctItems(
        batch.id,
        readCorrections(Readable.from([edited]), { format: 'csv' }),
      );
      for (const failure of await t.batches.getFailures<Row>(batch.id)) {
        const expected = { ...original.get(failure.line)! };
        Object.defineProperty(expected, 'ok', { value: 'yes', enumerable: true, writable: true });
        expect(failure.data).toEqual(expected);
        expect(Object.keys(failure.data)).toContain('__proto__');
      }

      // JSONL of the corrected rows: every key, __proto__ included, and back again unchanged.
      const jsonl = await text(await t.batches.exportFailures(batch.id, { format: 'jsonl' }));
      const lines = jsonl.trim().split('\n');
      expect(lines).toHaveLength(HOSTILE.length);
      for (const line of lines) {
        expect(Object.keys((JSON.parse(line) as { data: Row }).data)).toEqual(columns);
      }
      const before = await t.batches.getFailures<Row>(batch.id);
      await t.batches.correctItems(
        batch.id,
        readCorrections(Readable.from([jsonl]), { format: 'jsonl' }),
      );
      const after = await t.batches.getFailures<Row>(batch.id);
      expect(after.map((row) => row.data)).toEqual(before.map((row) => row.data));
      const summary = await t.batches.reprocessBatch(batch.id);
      expect(summary).toMatchObject({ totalItems: HOSTILE.length, completedItems: HOSTILE.length });
    });

    it('a root with no column order, rows with keys beyond the first, big and nested JSONL values', async () => {
      const big = '12345678901234567890123';
      const jsonl = [
        '{"n":"0","ok":"no"}',
        `{"n":"1","ok":"no","extra":"x","amount":${big},"price":1.10,"nested":{"a":[1,null,{"b":"c"}]},"nil":null}`,
        'not json at all',
      ].join('\n');
      const batch = await t.batches.createBatch(
        'recovery_attack',
        readJsonl(Readable.from([jsonl])),
      );
      await t.batches.processBatch(batch.id);
      const exported = await text(await t.batches.exportFailures(batch.id, { format: 'jsonl' }));
      const lines = exported.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[1]).toContain(`"amount":"${big}"`);
      // The first row's keys come first; keys only later rows have follow in jsonb's order (which keeps
      // none), so only their presence is checked.
      const keys = Object.keys((JSON.parse(lines[1]) as { data: Row }).data);
      expect(keys.slice(0, 2)).toEqual(['n', 'ok']);
      expect([...keys].sort()).toEqual(['amount', 'extra', 'n', 'nested', 'nil', 'ok', 'price']);
      const fixed = lines
        .map((line) => line.replace('"ok":"no"', '"ok":"yes"'))
        .map((line, i) =>
          i === 2 ? line.replace('"data":{}', '"data":{"n":"2","ok":"yes"}') : line,
        )
        .join('\n');
      expect(
        await t.batches.correctItems(
          batch.id,
          readCorrections(Readable.from([fixed]), { format: 'jsonl' }),
        ),
      ).toMatchObject({ corrected: 3 });
      const { rows } = await admin.query<{ data: Row }>(
        `SELECT corrected_data AS data FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
        [batch.id],
      );
      expect(rows.map((row) => row.data)).toEqual([
        { n: '0', ok: 'yes' },
        {
          n: '1',
          ok: 'yes',
          extra: 'x',
          amount: big,
          price: 1.1,
          nested: { a: [1, null, { b: 'c' }] },
          nil: null,
        },
        { n: '2', ok: 'yes' },
      ]);
      // The CSV export of a tree whose first row had no such keys still has every column.
      const csv = parse<Record<string, string>>(
        await text(await t.batches.exportFailures(batch.id, { format: 'csv' })),
        { columns: true },
      );
      expect(Object.keys(csv[0]).slice(0, 6)).toEqual([
        '_item_id',
        '_line',
        '_status',
        '_reason',
        'n',
        'ok',
      ]);
      expect(Object.keys(csv[0]).sort()).toEqual([
        '_item_id',
        '_line',
        '_reason',
        '_status',
        ...keys.sort(),
      ]);
      expect(csv[1].nested).toBe('{"a":[1,null,{"b":"c"}]}');
    });

    it('a row without the "__proto__" column exports an empty cell, not its prototype', async () => {
      const withKey = JSON.parse('{"n":"0","ok":"no","__proto__":"p"}') as Row;
      const batch = await t.batches.createBatch('recovery_attack', [
        new SourceRow<Row>(2, withKey, null, ['n', 'ok', '__proto__']),
        new SourceRow<Row>(3, { n: '1', ok: 'no' }, null, ['n', 'ok', '__proto__']),
      ]);
      await t.batches.processBatch(batch.id);
      const csv = parse(await text(await t.batches.exportFailures(batch.id)));
      expect(csv.map((record) => record.slice(4))).toEqual([
        ['n', 'ok', '__proto__'],
        ['0', 'no', 'p'],
        ['1', 'no', ''],
      ]);
      const jsonl = (await text(await t.batches.exportFailures(batch.id, { format: 'jsonl' })))
        .trim()
        .split('\n')
        .map((line) => JSON.stringify((JSON.parse(line) as { data: Row }).data));
      expect(jsonl).toEqual(['{"n":"0","ok":"no","__proto__":"p"}', '{"n":"1","ok":"no"}']);
    });

    it('10,000 failures stream out whole, in both formats', async () => {
      const count = 10_000;
      const rows = Array.from(
        { length: count },
        (_, n) => new SourceRow<Row>(n + 2, { n: String(n), ok: 'no' }, null, ['n', 'ok']),
      );
      const batch = await t.batches.createBatch('recovery_attack', rows);
      await admin.query(
        `UPDATE import_batch_items SET status = 'failed', error_message = 'row is not ok'
         WHERE batch_id = $1`,
        [batch.id],
      );
      await admin.query(
        `UPDATE import_batches SET status = 'completed_with_errors' WHERE id = $1`,
        [batch.id],
      );
      const csv = parse<Record<string, string>>(
        await text(await t.batches.exportFailures(batch.id, { format: 'csv' })),
        { columns: true },
      );
      expect(csv).toHaveLength(count);
      expect(csv.map((row) => Number(row._line))).toEqual(rows.map((row) => row.line));
      const jsonl = (await text(await t.batches.exportFailures(batch.id, { format: 'jsonl' })))
        .trim()
        .split('\n');
      expect(jsonl).toHaveLength(count);
      expect(
        new Set(jsonl.map((line) => (JSON.parse(line) as { itemId: string }).itemId)).size,
      ).toBe(count);
    });
  });

  describe('lineage and failures counted by the tree', () => {
    /** The four counts of a lineage add up to its rows, and its unresolved rows are the failures listed. */
    async function consistent(rootId: string) {
      const lineage = await t.batches.getLineage(rootId);
      const { completedFirstTime, resolved, unresolved, notProcessed, totalRows } = lineage;
      expect(completedFirstTime + resolved + unresolved + notProcessed).toBe(totalRows);
      expect(
        Math.min(completedFirstTime, resolved, unresolved, notProcessed),
      ).toBeGreaterThanOrEqual(0);
      expect(await t.batches.getFailures(rootId)).toHaveLength(unresolved);
      const csv = parse<Record<string, string>>(
        await text(await t.batches.exportFailures(rootId)),
        {
          columns: true,
        },
      );
      expect(csv).toHaveLength(unresolved);
      return lineage;
    }

    it('a stop with rows left pending, a skipped row, a reprocess of a reprocess', async () => {
      const rows = fileRows(8, [2, 5]);
      rows[3] = new SourceRow<Row>(5, { n: '3', ok: 'yes', skip: true }, null, ['n', 'ok']);
      const batch = await t.batches.createBatch('recovery_attack', rows);
      await t.batches.processBatch(batch.id, { continueOnError: false }).catch(() => undefined);
      const stopped = await consistent(batch.id);
      expect(stopped.unresolved).toBe(1);
      expect(stopped.notProcessed).toBeGreaterThan(0);

      const first = await t.batches.reprocessBatch(batch.id);
      expect(first.totalItems).toBe(1 + stopped.notProcessed);
      expect(await consistent(batch.id)).toMatchObject({ unresolved: 3, notProcessed: 0 });
      const skipped = (await t.batches.getFailures(batch.id)).find((row) => row.line === 5)!;
      expect(skipped.status).toBe('skipped');

      await t.batches.reprocessBatch(first.batchId, {
        corrections: [
          { line: 4, data: { n: '2', ok: 'yes' } },
          { itemId: skipped.itemId, data: { n: '3', ok: 'yes' } },
        ],
      });
      expect(await consistent(batch.id)).toMatchObject({ unresolved: 1, notProcessed: 0 });
      const last = await t.batches.reprocessBatch(batch.id, {
        corrections: [{ line: 7, data: { n: '5', ok: 'yes' } }],
      });
      expect(last).toMatchObject({ totalItems: 1, completedItems: 1 });
      expect(await consistent(batch.id)).toMatchObject({
        totalRows: 8,
        resolved: 8 - stopped.completedFirstTime,
        unresolved: 0,
        notProcessed: 0,
      });
      expect(Object.values(await appliedCounts(batch.id)).every((count) => count === 1)).toBe(true);
      expect(Object.keys(await appliedCounts(batch.id))).toHaveLength(8);
    });

    it('rows held by a running reprocess count as not processed, not as unresolved', async () => {
      const rootId = await failedImport(5, [1, 3]);
      processor.held.add('1');
      processor.gate = new Gate();
      const reprocessing = t.batches.reprocessBatch(rootId, {
        corrections: [{ line: 3, data: { n: '1', ok: 'yes' } }],
      });
      await processor.gate.entered;
      const during = await consistent(rootId);
      expect(during).toMatchObject({ completedFirstTime: 3, unresolved: 0 });
      expect(during.resolved + during.notProcessed).toBe(2);
      processor.gate.release();
      await reprocessing;
      expect(await consistent(rootId)).toMatchObject({
        resolved: 1,
        unresolved: 1,
        notProcessed: 0,
      });
    });

    it('after a middle batch of the tree is deleted, the rows it resolved and those after it still count', async () => {
      const rootId = await failedImport(4, [1, 2]);
      const middle = await t.batches.reprocessBatch(rootId, {
        corrections: [{ line: 3, data: { n: '1', ok: 'yes' } }],
      });
      const last = await t.batches.reprocessBatch(middle.batchId, {
        corrections: [{ line: 4, data: { n: '2', ok: 'yes' } }],
      });
      expect(last).toMatchObject({ completedItems: 1 });
      await admin.query('DELETE FROM import_batches WHERE id = $1', [middle.batchId]);
      // Row 1's copy went with the middle batch: it is unresolved again. Row 2 completed in the last batch.
      const lineage = await consistent(rootId);
      expect(lineage).toMatchObject({
        completedFirstTime: 2,
        unresolved: 1,
        resolved: 1,
        notProcessed: 0,
      });
      expect(lineage.batches.map((entry) => entry.batchId)).toEqual([rootId, last.batchId]);
      expect((await t.batches.getLineage(last.batchId)).rootBatchId).toBe(rootId);
      expect((await t.batches.getFailures(last.batchId)).map((row) => row.line)).toEqual([3]);
    });
  });

  describe('idempotent create with rows of a file', () => {
    it('the same rows twice give the first batch; the same data from other lines is another file', async () => {
      const key = `file-${Date.now()}`;
      const first = await t.batches.createBatch('recovery_attack', fileRows(3, [1]), {
        idempotencyKey: key,
      });
      const again = await t.batches.createBatch('recovery_attack', fileRows(3, [1]), {
        idempotencyKey: key,
      });
      expect(again.id).toBe(first.id);
      const shifted = fileRows(3, [1]).map(
        (row) => new SourceRow<Row>(row.line + 1, row.data, null, row.columns),
      );
      const error = await caught(
        t.batches.createBatch('recovery_attack', shifted, { idempotencyKey: key }),
      );
      expect((error as ReliableImportsError).code).toBe('IDEMPOTENCY_CONFLICT');
      const { rows } = await admin.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM import_batch_items WHERE batch_id = $1',
        [first.id],
      );
      expect(rows[0].count).toBe(3);
    });

    it.each([
      ['not a list', 'n,ok' as unknown as string[]],
      ['a name with \\u0000', ['n', 'o\u0000k']],
      ['a name that is not text', ['n', 5 as unknown as string]],
    ])('columns %s: a clear error, not a SQL one', async (_name, columns) => {
      const error = await caught(
        t.batches.createBatch('recovery_attack', [
          new SourceRow<Row>(2, { n: '0' }, null, columns),
        ]),
      );
      expect(error).toBeInstanceOf(ReliableImportsError);
      expect((error as ReliableImportsError).code).toBe('INVALID_SOURCE_DATA');
      expect((error as Error).message).toMatch(/^Cannot store item 0 of .*: its columns/);
    });
  });
});
