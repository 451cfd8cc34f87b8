import { Injectable } from '@nestjs/common';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { CustomerDataProcessor } from '../fixtures/customer-data.processor';
import { correctAndReprocess, importWithFailures } from '../fixtures/customer-scenario';
import { useTestApp } from '../support/use-test-app';

/** Records whether the context said "reprocess" for each item it saw. */
@Injectable()
@ImportProcessor('reprocess_probe')
class ReprocessProbeProcessor extends BaseProcessor<{ n: number }> {
  readonly seen: Array<{ n: number; reprocess: boolean; original: string | null }> = [];

  validateItem(item: ImportItem<{ n: number }>): string | true {
    return item.sourceData.n % 2 === 0 || 'odd';
  }

  processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>): void {
    this.seen.push({
      n: item.sourceData.n,
      reprocess: ctx.isReprocess(),
      original: ctx.originalBatchId,
    });
  }
}

describe('the failed-import scenario and its recovery (PostgreSQL)', () => {
  const t = useTestApp([CustomerDataProcessor, ReprocessProbeProcessor]);

  it('imports 500 rows with 28 invalid ones, then corrects and reprocesses the 28', async () => {
    const batchId = await importWithFailures(t);
    await correctAndReprocess(t, batchId);
  });

  it('tells processors that they run in a reprocess, and which batch was the original', async () => {
    const probe = t.app.get(ReprocessProbeProcessor);
    const first = await t.batches.import('reprocess_probe', [{ n: 1 }, { n: 2 }]);
    expect(first).toMatchObject({ completedItems: 1, failedItems: 1 });
    const [odd] = await t.batches.getItems<{ n: number }>(first.batchId, { status: 'failed' });
    await t.batches.correctItem(odd.id, { n: 4 });
    const second = await t.batches.reprocessBatch(first.batchId);
    expect(second.completedItems).toBe(1);
    expect(probe.seen).toEqual([
      { n: 2, reprocess: false, original: null },
      { n: 4, reprocess: true, original: first.batchId },
    ]);
  });

  it('never applies an item twice when a batch is reprocessed again, at any depth', async () => {
    const probe = t.app.get(ReprocessProbeProcessor);
    probe.seen.length = 0;
    const first = await t.batches.import('reprocess_probe', [{ n: 1 }, { n: 3 }, { n: 6 }]);
    const [one, three] = await t.batches.getItems<{ n: number }>(first.batchId, {
      status: 'failed',
    });
    await t.batches.correctItem(one.id, { n: 2 });
    await t.batches.correctItem(three.id, { n: 5 }); // still odd: fails again in the child
    const child = await t.batches.reprocessBatch(first.batchId);
    expect(child).toMatchObject({ completedItems: 1, failedItems: 1 });

    const [again] = await t.batches.getItems<{ n: number }>(child.batchId, { status: 'failed' });
    await t.batches.correctItem(again.id, { n: 4 });
    const grandchild = await t.batches.reprocessBatch(child.batchId);
    expect(grandchild).toMatchObject({ completedItems: 1, failedItems: 0 });
    const [last] = await t.batches.getItems(grandchild.batchId);
    expect(last.originalItemId).toBe(three.id);

    // Both failures of the first batch are resolved now, one of them two levels down.
    await expect(t.batches.reprocessBatch(first.batchId)).rejects.toThrow(/no rows left/);
    expect(probe.seen.map((seen) => seen.n)).toEqual([6, 2, 4]);
  });

  it('refuses to reprocess a batch while an earlier reprocess of it has not finished', async () => {
    const first = await t.batches.import('reprocess_probe', [{ n: 1 }]);
    // A reprocess that a crash left unfinished: its child batch is still pending.
    const [{ id: childId }] = await t.dataSource.query<{ id: string }[]>(
      `INSERT INTO import_batches (batch_type, parent_batch_id) VALUES ('reprocess_probe', $1) RETURNING id`,
      [first.batchId],
    );
    await expect(t.batches.reprocessBatch(first.batchId)).rejects.toThrow(
      `A reprocess in the tree of batch "${first.batchId}" is still running (batch "${childId}" is pending)`,
    );
    await t.dataSource.query(`UPDATE import_batches SET status = 'completed' WHERE id = $1`, [
      childId,
    ]);
    expect(await t.batches.reprocessBatch(first.batchId)).toMatchObject({ totalItems: 1 });
  });

  it('refuses to reprocess a batch that has nothing left to reprocess, whatever failedItemsOnly says', async () => {
    const done = await t.batches.import('reprocess_probe', [{ n: 2 }]);
    await expect(t.batches.reprocessBatch(done.batchId)).rejects.toThrow(
      /no rows left to reprocess.*a completed row is never applied again/,
    );
    await expect(
      t.batches.reprocessBatch(done.batchId, { failedItemsOnly: false }),
    ).rejects.toThrow(/no rows left to reprocess/);
  });
});
