import {
  BaseProcessor,
  ImportBatchNotFoundError,
  ImportItemNotFoundError,
  ImportProcessor,
  InvalidSourceDataError,
  ItemNotCorrectableError,
  UnknownBatchTypeError,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

@ImportProcessor()
class LedgerEntryProcessor extends BaseProcessor<Record<string, unknown>> {
  processItem(_item: ImportItem<Record<string, unknown>>): void {}
}

@ImportProcessor('audit_trail')
class AuditProcessor extends BaseProcessor<Record<string, unknown>> {
  processItem(_item: ImportItem<Record<string, unknown>>): void {}
}

const MISSING = '6f1d3c1e-0000-4000-8000-000000000000';

/** 1,000 good rows, with `bad` at index 317. */
function* rowsWith(bad: unknown): Generator<object> {
  for (let i = 0; i < 1000; i++)
    yield i === 317 ? (bad as object) : { amount: i, label: `row ${i}` };
}

const cyclic = (): Record<string, unknown> => {
  const row: Record<string, unknown> = { amount: 1 };
  row.self = row;
  return row;
};

describe('bad input gets a clear error, and nothing is stored', () => {
  let db: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createTestApp(db.url, [LedgerEntryProcessor, AuditProcessor]);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const counts = async (): Promise<[number, number]> => {
    const [row] = await t.dataSource.query<{ batches: number; items: number }[]>(
      `SELECT (SELECT count(*) FROM import_batches)::int AS batches,
              (SELECT count(*) FROM import_batch_items)::int AS items`,
    );
    return [row.batches, row.items];
  };

  it.each([
    ['a BigInt', { amount: 10n }, 'sourceData.amount', /is a BigInt/],
    ['a cycle', cyclic(), 'sourceData.self', /cycle/],
    ['undefined at top level', undefined, 'sourceData', /is undefined/],
    ['a string with \\u0000', { label: 'a\u0000b' }, 'sourceData.label', /\\u0000/],
    ['a non-object', 'just text', 'sourceData', /must be a plain object/],
    ['an array', [1, 2], 'sourceData', /is an array/],
    ['NaN deep inside', { nested: { values: [1, NaN] } }, 'sourceData.nested.values[1]', /NaN/],
  ])('refuses %s at index 317 and stores nothing', async (_label, bad, path, problem) => {
    const before = await counts();
    const attempt = t.batches.createBatch('ledger_entry', rowsWith(bad));
    await expect(attempt).rejects.toThrow(InvalidSourceDataError);
    const error = (await attempt.catch((e: unknown) => e)) as InvalidSourceDataError;
    expect(error.message).toContain('item 317 of a new "ledger_entry" batch');
    expect(error.message).toContain(path);
    expect(error.message).toMatch(problem);
    expect(error.message).toContain('Nothing was stored');
    expect(error.context).toMatchObject({ itemIndex: 317, batchType: 'ledger_entry' });
    expect(error.path).toBe(path);
    expect(await counts()).toEqual(before);
  });

  it('keeps nothing when the source stream itself fails midway', async () => {
    const before = await counts();
    async function* failingStream() {
      for (let i = 0; i < 2500; i++) yield { amount: i };
      await Promise.resolve();
      throw new Error('CSV line 2502: unclosed quote');
    }
    await expect(t.batches.createBatch('ledger_entry', failingStream())).rejects.toThrow(
      'CSV line 2502: unclosed quote',
    );
    expect(await counts()).toEqual(before);
  });

  it('refuses an unknown batch type, listing the registered ones', async () => {
    const attempt = t.batches.createBatch('ledger_entries', [{ amount: 1 }]);
    await expect(attempt).rejects.toThrow(UnknownBatchTypeError);
    await expect(attempt).rejects.toThrow(
      'No import processor handles the batch type "ledger_entries". Registered types: "audit_trail", "ledger_entry".',
    );
    const error = (await attempt.catch((e: unknown) => e)) as UnknownBatchTypeError;
    expect(error.context.knownTypes).toEqual(['audit_trail', 'ledger_entry']);
  });

  it.each([
    ['a batch id that does not exist', MISSING],
    ['a batch id that is not a uuid', 'batch-42'],
  ])('answers %s with ImportBatchNotFoundError', async (_label, id) => {
    for (const call of [
      () => t.batches.processBatch(id),
      () => t.batches.reprocessBatch(id),
      () => t.batches.getBatch(id),
      () => t.batches.getBatchSummary(id),
      () => t.batches.getItems(id),
      () => t.batches.getLogs(id),
    ]) {
      await expect(call()).rejects.toThrow(ImportBatchNotFoundError);
      await expect(call()).rejects.toThrow(`Import batch "${id}" does not exist`);
    }
  });

  it('refuses to correct an item that does not exist or is already completed', async () => {
    await expect(t.batches.correctItem(MISSING, { amount: 1 })).rejects.toThrow(
      ImportItemNotFoundError,
    );
    await expect(t.batches.correctItem('nope', { amount: 1 })).rejects.toThrow(
      ImportItemNotFoundError,
    );
    const summary = await t.batches.import('audit_trail', [{ amount: 1 }]);
    const [item] = await t.batches.getItems(summary.batchId);
    await expect(t.batches.correctItem(item.id, { amount: 2 })).rejects.toThrow(
      ItemNotCorrectableError,
    );
    await expect(t.batches.correctItem(item.id, { amount: 2 })).rejects.toThrow(
      /is completed; only failed or skipped items can be corrected/,
    );
  });

  it('refuses a correction JSON cannot hold, and keeps the item as it was', async () => {
    const ledger = t.app.get(LedgerEntryProcessor);
    const original = ledger.processItem.bind(ledger);
    ledger.processItem = () => {
      throw new Error('no');
    };
    let itemId: string;
    try {
      const summary = await t.batches.import('ledger_entry', [{ amount: 1 }]);
      [{ id: itemId }] = await t.batches.getItems(summary.batchId);
    } finally {
      ledger.processItem = original;
    }
    await expect(t.batches.correctItem(itemId, { amount: 1n })).rejects.toThrow(
      /sourceData.amount is a BigInt/,
    );
    const [row] = await t.dataSource.query<{ corrected_data: unknown }[]>(
      'SELECT corrected_data FROM import_batch_items WHERE id = $1',
      [itemId],
    );
    expect(row.corrected_data).toBeNull();
  });

  it('refuses items that are not iterable and options JSON cannot hold', async () => {
    await expect(
      t.batches.createBatch('ledger_entry', 42 as unknown as Iterable<{ a: number }>),
    ).rejects.toThrow(/must be an array, an iterable or an async iterable/);
    await expect(
      t.batches.createBatch('ledger_entry', [{ a: 1 }], { sourceInfo: { size: 1n } }),
    ).rejects.toThrow(/sourceInfo.size is a BigInt/);
  });
});
