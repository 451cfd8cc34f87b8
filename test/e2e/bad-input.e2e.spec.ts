import {
  BaseProcessor,
  ImportBatchNotFoundError,
  ImportItemNotFoundError,
  ImportProcessor,
  InvalidArgumentError,
  InvalidSourceDataError,
  ItemNotCorrectableError,
  ReliableImportsError,
  UnknownBatchTypeError,
  type ImportItem,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

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

const throwingGetter = (): object => ({
  amount: 1,
  get label(): string {
    throw new Error('lazy field failed to load');
  },
});

const throwingTrap = (): object =>
  new Proxy(
    { amount: 1 },
    {
      ownKeys() {
        throw new TypeError('ownKeys refused');
      },
    },
  );

const deeplyNested = (): object => {
  let deep: Record<string, unknown> = { amount: 1 };
  for (let i = 0; i < 5000; i++) deep = { nested: deep };
  return deep;
};

const cyclic = (): Record<string, unknown> => {
  const row: Record<string, unknown> = { amount: 1 };
  row.self = row;
  return row;
};

describe('bad input gets a clear error, and nothing is stored', () => {
  const t = useTestApp([LedgerEntryProcessor, AuditProcessor]);

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
    [
      'a getter that throws',
      throwingGetter(),
      'sourceData.label',
      /could not be read: reading it threw Error: lazy field failed to load/,
    ],
    [
      'a Proxy trap that throws',
      throwingTrap(),
      'sourceData',
      /could not be read: reading it threw TypeError: ownKeys refused/,
    ],
    [
      '5,000 levels of nesting',
      deeplyNested(),
      `sourceData${'.nested'.repeat(1000)}`,
      /is nested more than 1000 levels deep/,
    ],
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
      'No import processor handles the batch type "ledger_entries". Did you mean "ledger_entry"? Registered types: "audit_trail", "ledger_entry".',
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

  it('stores the value toJSON gave when it was checked, even if a second call differs', async () => {
    let calls = 0;
    const flaky = { toJSON: () => (++calls === 1 ? 'checked' : { amount: 10n }) };
    const batch = await t.batches.createBatch('ledger_entry', [{ amount: 1, label: flaky }]);
    const [item] = await t.batches.getItems(batch.id);
    expect(item.sourceData).toEqual({ amount: 1, label: 'checked' });
    expect(calls).toBe(1);
  });

  it('refuses sourceInfo and metadata as it refuses rows: a throwing getter, deep nesting', async () => {
    const before = await counts();
    const attempt = t.batches.createBatch('ledger_entry', [{ amount: 1 }], {
      sourceInfo: throwingGetter() as Record<string, never>,
    });
    await expect(attempt).rejects.toThrow(
      'Cannot create a new "ledger_entry" batch: sourceInfo.label could not be read: reading it threw ' +
        'Error: lazy field failed to load. Nothing was stored; fix it and create the batch again.',
    );
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_BATCH_OPTIONS' });
    await expect(
      t.batches.createBatch('ledger_entry', [{ amount: 1 }], {
        metadata: deeplyNested() as Record<string, never>,
      }),
    ).rejects.toThrow(/metadata(\.nested)+ is nested more than 1000 levels deep/);
    expect(await counts()).toEqual(before);
  });

  describe('idempotency keys that PostgreSQL cannot store as they are', () => {
    it('refuses \\u0000 with a clear message, not a raw SQL error', async () => {
      const before = await counts();
      const attempt = t.batches.createBatch('ledger_entry', [{ amount: 1 }], {
        idempotencyKey: 'file\u0000.csv',
      });
      await expect(attempt).rejects.toThrow(ReliableImportsError);
      await expect(attempt).rejects.toMatchObject({ code: 'INVALID_BATCH_OPTIONS' });
      await expect(attempt).rejects.toThrow(
        'Cannot create a new "ledger_entry" batch: idempotencyKey contains the character \\u0000',
      );
      expect(await counts()).toEqual(before);
    });

    it('refuses a lone surrogate, so that two different keys never become one', async () => {
      const before = await counts();
      for (const key of ['import-\uD83D', 'import-\uDE00']) {
        const attempt = t.batches.createBatch('ledger_entry', [{ amount: 1 }], {
          idempotencyKey: key,
        });
        await expect(attempt).rejects.toMatchObject({ code: 'INVALID_BATCH_OPTIONS' });
        await expect(attempt).rejects.toThrow(
          /idempotencyKey contains an unpaired UTF-16 surrogate/,
        );
      }
      expect(await counts()).toEqual(before);
      const emoji = await t.batches.createBatch('ledger_entry', [{ amount: 1 }], {
        idempotencyKey: 'import-\u{1F600}',
      });
      expect(emoji.idempotencyKey).toBe('import-\u{1F600}');
    });
  });

  describe('every public method checks its arguments', () => {
    const BATCH_ID = '6f1d3c1e-0000-4000-8000-0000000000aa';

    it.each([
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-1', -1],
      ['1.5', 1.5],
      ["'10'", '10'],
      ['100,001', 100_001],
    ])('refuses a limit of %s in listBatches, getItems and getLogs', async (shown, limit) => {
      const batch = await t.batches.createBatch('ledger_entry', [{ amount: 1 }]);
      for (const [method, call] of [
        ['listBatches', () => t.batches.listBatches({ limit: limit as number })],
        ['getItems', () => t.batches.getItems(batch.id, { limit: limit as number })],
        ['getLogs', () => t.batches.getLogs(batch.id, { limit: limit as number })],
      ] as const) {
        const error = (await call().catch((e: unknown) => e)) as InvalidArgumentError;
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error.code).toBe('INVALID_ARGUMENT');
        expect(error.message).toBe(
          `Invalid argument to BatchService.${method}(): filter.limit must be a whole number from 0 ` +
            `to 100,000; got ${shown === '100,001' ? '100001' : shown === "'10'" ? '"10"' : shown}. ` +
            'Nothing was read or changed.',
        );
      }
    });

    it.each([
      ['NaN', NaN],
      ['-1', -1],
      ['0.5', 0.5],
      ['a string', '5'],
    ])('refuses an offset of %s', async (_shown, offset) => {
      await expect(t.batches.listBatches({ offset: offset as number })).rejects.toThrow(
        /listBatches\(\): filter.offset must be a whole number, 0 or more/,
      );
    });

    it('accepts a limit of 0 (nothing) and the documented bounds', async () => {
      await t.batches.createBatch('ledger_entry', [{ amount: 1 }]);
      expect(await t.batches.listBatches({ limit: 0 })).toEqual([]);
      expect(await t.batches.listBatches({ limit: 1, offset: 0 })).toHaveLength(1);
      await expect(t.batches.listBatches({ limit: 100_000 })).resolves.toBeInstanceOf(Array);
    });

    it('refuses statuses and levels that do not exist, naming the known ones', async () => {
      const batch = await t.batches.createBatch('ledger_entry', [{ amount: 1 }]);
      await expect(
        t.batches.listBatches({ status: 'done' as unknown as 'completed' }),
      ).rejects.toThrow(
        'Invalid argument to BatchService.listBatches(): filter.status must be one of "pending", ' +
          '"processing", "completed", "completed_with_errors", "failed", "paused", "cancelled", ' +
          '"awaiting_approval", "rejected", or a list of them; got "done".',
      );
      await expect(
        t.batches.listBatches({ status: ['completed', 'skipped'] as never }),
      ).rejects.toThrow(/filter.status must be one of .*; got \["completed", "skipped"\]/);
      await expect(t.batches.listBatches({ status: [] })).rejects.toThrow(InvalidArgumentError);
      await expect(
        t.batches.getItems(batch.id, { status: 'completed_with_errors' as 'completed' }),
      ).rejects.toThrow(
        /getItems\(\): filter.status must be one of "pending", .*"skipped", "cancelled"/,
      );
      await expect(t.batches.getLogs(batch.id, { level: 'fatal' as 'error' })).rejects.toThrow(
        /getLogs\(\): filter.level must be one of "debug", "info", "warn", "error"/,
      );
    });

    it('refuses a batchType, a parent id or an item id that is not a string', async () => {
      await expect(t.batches.listBatches({ batchType: 42 as unknown as string })).rejects.toThrow(
        /listBatches\(\): filter.batchType must be a string; got 42/,
      );
      await expect(t.batches.listBatches({ parentBatchId: {} as string })).rejects.toThrow(
        /filter.parentBatchId must be a string; got an object/,
      );
      const batch = await t.batches.createBatch('ledger_entry', [{ amount: 1 }]);
      await expect(t.batches.getLogs(batch.id, { itemId: 7 as unknown as string })).rejects.toThrow(
        /getLogs\(\): filter.itemId must be a string; got 7/,
      );
      for (const call of [
        () => t.batches.createBatch(42 as unknown as string, [{ amount: 1 }]),
        () => t.batches.import(null as unknown as string, [{ amount: 1 }]),
      ]) {
        await expect(call()).rejects.toThrow(InvalidArgumentError);
        await expect(call()).rejects.toThrow(/batchType must be a string/);
      }
    });

    it('refuses options and filters that are not objects, and flags that are not booleans', async () => {
      await expect(t.batches.listBatches('failed' as never)).rejects.toThrow(
        /listBatches\(\): filter must be an object \(or left out\); got "failed"/,
      );
      await expect(
        t.batches.createBatch('ledger_entry', [{ amount: 1 }], 'key' as never),
      ).rejects.toThrow(/createBatch\(\): options must be an object/);
      await expect(
        t.batches.processBatch(BATCH_ID, { continueOnError: 'no' as unknown as boolean }),
      ).rejects.toThrow(/processBatch\(\): options.continueOnError must be true or false/);
      await expect(
        t.batches.reprocessBatch(BATCH_ID, { failedItemsOnly: 0 as unknown as boolean }),
      ).rejects.toThrow(
        /reprocessBatch\(\): options.failedItemsOnly must be true or false \(or left out\); got 0/,
      );
    });

    it('still answers ids that are not uuids with "not found"', async () => {
      await expect(t.batches.getBatch(42 as unknown as string)).rejects.toThrow(
        ImportBatchNotFoundError,
      );
      expect(await t.batches.listBatches({ parentBatchId: 'not-a-uuid' })).toEqual([]);
    });
  });
});
