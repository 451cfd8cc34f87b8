import {
  BaseProcessor,
  ImportProcessor,
  type BatchContext,
  type BatchSummary,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
  type ValidationResult,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Records every hook call, in order. Refuses batches whose metadata says so. */
@ImportProcessor()
class RecordingProcessor extends BaseProcessor<Row> {
  calls: string[] = [];
  completedWith?: BatchSummary;

  validateBatch(batch: ImportBatch, ctx: BatchContext): ValidationResult {
    this.calls.push('validateBatch');
    ctx.set('startedBy', 'validateBatch');
    return batch.metadata.refuse ? ['the file is empty', 'the header is wrong'] : true;
  }
  onBatchStart(batch: ImportBatch, ctx: BatchContext): void {
    this.calls.push(`onBatchStart:${ctx.get<string>('startedBy')}`);
    ctx.log.info('starting', { total: batch.totalItems });
  }
  validateItem(item: ImportItem<Row>): boolean {
    this.calls.push(`validateItem:${item.itemIndex}`);
    return true;
  }
  processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): void {
    this.calls.push(`processItem:${item.itemIndex}`);
    ctx.set('last', item.sourceData.n);
  }
  onBatchComplete(summary: BatchSummary, ctx: BatchContext): void {
    this.calls.push(`onBatchComplete:${ctx.get<number>('last')}`);
    this.completedWith = summary;
  }
}

describe('processor hooks', () => {
  const t = useTestApp([RecordingProcessor]);
  let processor: RecordingProcessor;

  beforeAll(() => {
    processor = t.app.get(RecordingProcessor);
  });
  beforeEach(() => {
    processor.calls = [];
    processor.completedWith = undefined;
  });

  it('run in order, each once, and onBatchComplete gets the summary', async () => {
    const summary = await t.batches.import('recording', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(processor.calls).toEqual([
      'validateBatch',
      'onBatchStart:validateBatch',
      'validateItem:0',
      'processItem:0',
      'validateItem:1',
      'processItem:1',
      'validateItem:2',
      'processItem:2',
      'onBatchComplete:3',
    ]);
    expect(processor.completedWith).toEqual(summary);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 3 });
    const logs = await t.batches.getLogs(summary.batchId);
    expect(logs.map((entry) => [entry.message, entry.details, entry.itemId])).toEqual([
      ['starting', { total: 3 }, null],
    ]);
  });

  it('a batch that fails validateBatch is failed with the reasons, and no item runs', async () => {
    const summary = await t.batches.import('recording', [{ n: 1 }, { n: 2 }], {
      metadata: { refuse: true },
    });
    expect(processor.calls).toEqual(['validateBatch']);
    expect(summary).toMatchObject({ status: 'failed', pendingItems: 2, completedItems: 0 });
    expect(summary.errorMessage).toBe(
      'Batch validation failed: the file is empty; the header is wrong',
    );
    const logs = await t.batches.getLogs(summary.batchId, { level: 'error' });
    expect(logs.map((entry) => entry.message)).toEqual([summary.errorMessage]);
  });

  it('a hook that throws fails the batch with its reason, gives the items back, and rethrows', async () => {
    const batch = await t.batches.createBatch('recording', [{ n: 1 }]);
    const original = processor.onBatchStart.bind(processor);
    processor.onBatchStart = () => {
      throw new Error('the upstream API is down');
    };
    try {
      await expect(t.batches.processBatch(batch.id)).rejects.toThrow('the upstream API is down');
    } finally {
      processor.onBatchStart = original;
    }
    const summary = await t.batches.getBatchSummary(batch.id);
    expect(summary).toMatchObject({ status: 'failed', pendingItems: 1, processingItems: 0 });
    expect(summary.errorMessage).toBe('Processing stopped: the upstream API is down');
  });
});
