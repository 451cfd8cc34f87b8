import { createHash } from 'node:crypto';
import { BaseProcessor, IdempotencyConflictError, ImportProcessor } from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface OrderRow {
  sku: string;
  qty: number;
  shipTo: { city: string; zip: string };
}

@ImportProcessor()
class OrderLineProcessor extends BaseProcessor<OrderRow> {
  processItem(): void {}
}

const lines = (count: number): OrderRow[] =>
  Array.from({ length: count }, (_, i) => ({
    sku: `SKU-${i}`,
    qty: i + 1,
    shipTo: { city: 'Lyon', zip: `690${i % 10}0` },
  }));

/** The same rows, their keys (and their nested objects' keys) in another order. */
const reordered = (rows: OrderRow[]) =>
  rows.map(({ sku, qty, shipTo }) => ({
    shipTo: { zip: shipTo.zip, city: shipTo.city },
    qty,
    sku,
  }));

/** The hash the module stored before it was canonical: each row's JSON with its keys as written. */
function hashAsWritten(batchType: string, rows: object[]): string {
  const hash = createHash('sha256').update(batchType);
  for (const row of rows) hash.update('\n').update(JSON.stringify(row));
  return hash.digest('hex');
}

describe('the idempotency hash over canonical JSON', () => {
  const t = useTestApp([OrderLineProcessor]);

  const batchCount = async () =>
    (await t.dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM import_batches'))[0]
      .n;

  it('returns the first batch for the same rows with their keys in another order', async () => {
    const first = await t.batches.createBatch('order_line', lines(300), {
      idempotencyKey: 'orders-reordered',
    });
    const before = await batchCount();
    const again = await t.batches.createBatch('order_line', reordered(lines(300)), {
      idempotencyKey: 'orders-reordered',
    });
    expect(again).toEqual(first);
    expect(await batchCount()).toBe(before);
  });

  it('still refuses other content under the same key', async () => {
    await t.batches.createBatch('order_line', lines(3), { idempotencyKey: 'orders-changed' });
    const changed = lines(3);
    changed[1].shipTo.zip = '75001';
    await expect(
      t.batches.createBatch('order_line', reordered(changed), { idempotencyKey: 'orders-changed' }),
    ).rejects.toThrow(IdempotencyConflictError);
  });

  it('returns a batch created before the hash was canonical for the same call', async () => {
    const rows = reordered(lines(50));
    const old = await t.batches.createBatch('order_line', rows, { idempotencyKey: 'orders-old' });
    // What an older version stored for this batch.
    await t.dataSource.query('UPDATE import_batches SET content_hash = $2 WHERE id = $1', [
      old.id,
      hashAsWritten('order_line', rows),
    ]);
    const before = await batchCount();
    const again = await t.batches.createBatch('order_line', rows, { idempotencyKey: 'orders-old' });
    expect(again.id).toBe(old.id);
    expect(await batchCount()).toBe(before);
    await expect(
      t.batches.createBatch('order_line', lines(49), { idempotencyKey: 'orders-old' }),
    ).rejects.toThrow(IdempotencyConflictError);
  });
});
