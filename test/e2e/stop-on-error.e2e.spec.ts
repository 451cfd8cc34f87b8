import {
  BaseProcessor,
  ImportProcessor,
  type BatchContext,
  type ImportItem,
  type ItemErrorAction,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Fails every item whose n is 3. */
@ImportProcessor()
class CountingProcessor extends BaseProcessor<Row> {
  readonly processed: number[] = [];
  processItem(item: ImportItem<Row>): void {
    if (item.sourceData.n === 3) throw new Error('three is not allowed');
    this.processed.push(item.sourceData.n);
  }
}

/** Continues on errors by default, but asks to abort on the first one. */
@ImportProcessor({ batchType: 'aborting', continueOnError: true })
class AbortingProcessor extends BaseProcessor<Row> {
  readonly errors: string[] = [];
  processItem(item: ImportItem<Row>): void {
    if (item.sourceData.n === 3) throw new Error('three is not allowed');
  }
  onItemError(error: Error, item: ImportItem<Row>, ctx: BatchContext): ItemErrorAction {
    this.errors.push(`${item.itemIndex}: ${error.message}`);
    ctx.log.warn('aborting the batch', { itemIndex: item.itemIndex });
    return 'abort';
  }
}

const rows = (count: number): Row[] => Array.from({ length: count }, (_, n) => ({ n }));

describe('stopping at the first failure', () => {
  const t = useTestApp([CountingProcessor, AbortingProcessor], {
    module: { continueOnError: false },
  });

  async function expectStoppedAtThree(batchId: string): Promise<void> {
    const batch = await t.batches.getBatch(batchId);
    expect(batch.status).toBe('failed');
    expect(batch.errorMessage).toMatch(/Stopped at item 3, which failed: three is not allowed/);
    expect(batch.completedAt).toBeInstanceOf(Date);
    const items = await t.batches.getItems(batchId);
    expect(items.map((item) => item.status)).toEqual([
      ...Array<string>(3).fill('completed'),
      'failed',
      ...Array<string>(96).fill('pending'),
    ]);
    expect(items.slice(4).every((item) => item.attempts === 0 && item.startedAt === null)).toBe(
      true,
    );
  }

  it('with continueOnError: false, fails the batch and leaves the rest pending', async () => {
    const summary = await t.batches.import('counting', rows(100));
    expect(summary).toMatchObject({
      status: 'failed',
      completedItems: 3,
      failedItems: 1,
      pendingItems: 96,
      processingItems: 0,
    });
    await expectStoppedAtThree(summary.batchId);
  });

  it('lets processBatch override the option for one run', async () => {
    const summary = await t.batches.import('counting', rows(10), { continueOnError: true });
    expect(summary).toMatchObject({
      status: 'completed_with_errors',
      completedItems: 9,
      failedItems: 1,
    });
  });

  it('stops when onItemError returns abort, even with continueOnError', async () => {
    const processor = t.app.get(AbortingProcessor);
    const summary = await t.batches.import('aborting', rows(100));
    expect(summary.status).toBe('failed');
    await expectStoppedAtThree(summary.batchId);
    expect(processor.errors).toEqual(['3: three is not allowed']);
    const warnings = await t.batches.getLogs(summary.batchId, { level: 'warn' });
    expect(warnings.map((entry) => [entry.message, entry.itemId])).toEqual([
      ['aborting the batch', null],
    ]);
  });

  it('reprocesses an aborted batch: the failed item and the ones never run', async () => {
    const summary = await t.batches.import('counting', rows(10));
    expect(summary.status).toBe('failed');
    const [failed] = await t.batches.getItems<Row>(summary.batchId, { status: 'failed' });
    await t.batches.correctItem(failed.id, { n: 30 });
    const child = await t.batches.reprocessBatch(summary.batchId);
    expect(child).toMatchObject({ status: 'completed', totalItems: 7, completedItems: 7 });
  });
});
