import {
  BaseProcessor,
  IdempotencyConflictError,
  ImportProcessor,
  type ImportItem,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

@ImportProcessor()
class PriceListProcessor extends BaseProcessor<{ sku: string; price: number }> {
  processItem(_item: ImportItem<{ sku: string; price: number }>): void {}
}

@ImportProcessor()
class StockLevelProcessor extends BaseProcessor<{ sku: string; price: number }> {
  processItem(_item: ImportItem<{ sku: string; price: number }>): void {}
}

const prices = (count: number, bump = 0) =>
  Array.from({ length: count }, (_, i) => ({ sku: `SKU-${i}`, price: i + bump }));

describe('idempotent create', () => {
  const t = useTestApp([PriceListProcessor, StockLevelProcessor]);

  const counts = async () =>
    (
      await t.dataSource.query<{ batches: number; items: number }[]>(
        `SELECT (SELECT count(*) FROM import_batches)::int AS batches,
                (SELECT count(*) FROM import_batch_items)::int AS items`,
      )
    )[0];

  it('returns the first batch for the same key and items, and stores nothing more', async () => {
    const first = await t.batches.createBatch('price_list', prices(2500), {
      idempotencyKey: 'prices-2026-11-23',
    });
    const before = await counts();
    async function* sameItems() {
      await Promise.resolve();
      yield* prices(2500);
    }
    const second = await t.batches.createBatch('price_list', sameItems(), {
      idempotencyKey: 'prices-2026-11-23',
    });
    expect(second).toEqual(first);
    expect(await counts()).toEqual(before);
  });

  it('returns the batch even after it was processed', async () => {
    const first = await t.batches.createBatch('price_list', prices(3), { idempotencyKey: 'k2' });
    await t.batches.processBatch(first.id);
    const again = await t.batches.createBatch('price_list', prices(3), { idempotencyKey: 'k2' });
    expect(again.id).toBe(first.id);
    expect(again.status).toBe('completed');
  });

  it('refuses the same key with other items, or another batch type', async () => {
    const first = await t.batches.createBatch('price_list', prices(10), { idempotencyKey: 'k3' });
    const before = await counts();
    const changed = t.batches.createBatch('price_list', prices(10, 1), { idempotencyKey: 'k3' });
    await expect(changed).rejects.toThrow(IdempotencyConflictError);
    await expect(changed).rejects.toThrow(
      `The idempotency key "k3" was already used for batch "${first.id}" with other items. Use a new key`,
    );
    await expect(
      t.batches.createBatch('price_list', prices(11), { idempotencyKey: 'k3' }),
    ).rejects.toThrow(IdempotencyConflictError);
    await expect(
      t.batches.createBatch('stock_level', prices(10), { idempotencyKey: 'k3' }),
    ).rejects.toThrow(/with the batch type "price_list"/);
    expect(await counts()).toEqual(before);
  });

  it('creates one batch when two calls with one key race', async () => {
    const [a, b] = await Promise.all([
      t.batches.createBatch('price_list', prices(2000), { idempotencyKey: 'race' }),
      t.batches.createBatch('price_list', prices(2000), { idempotencyKey: 'race' }),
    ]);
    expect(a.id).toBe(b.id);
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM import_batch_items WHERE batch_id = $1',
      [a.id],
    );
    expect(count).toBe(2000);
  });
});
