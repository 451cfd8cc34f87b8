import { Client } from 'pg';
import {
  BaseProcessor,
  ImportProcessor,
  InvalidProcessorError,
  ProcessingStoppedError,
  ReliableImportsModule,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
  hang?: 'forever' | 'query';
}

/**
 * Writes each row to `touched` inside its transaction; a row with `hang` never settles, in JavaScript or
 * in a statement that holds the row's lock on `touched`. Records what each hung row's signal said.
 */
@ImportProcessor()
class HangingRowProcessor extends BaseProcessor<Row> {
  readonly aborted: unknown[] = [];

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('INSERT INTO touched (n) VALUES ($1)', [item.sourceData.n]);
    ctx.signal.addEventListener('abort', () => this.aborted.push(ctx.signal.reason));
    if (item.sourceData.hang === 'forever') await new Promise(() => undefined);
    if (item.sourceData.hang === 'query') await ctx.query('SELECT pg_sleep(60)');
  }
}

@ImportProcessor({ batchType: 'quick_timeout', itemTimeoutMs: 200 })
class QuickTimeoutProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>): Promise<void> {
    if (item.sourceData.hang) await new Promise(() => undefined);
  }
}

describe('item time limits', () => {
  const t = useTestApp([HangingRowProcessor, QuickTimeoutProcessor], {
    module: { leaseMs: 2000 },
  });
  let admin: Client;

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE touched (n integer PRIMARY KEY)');
    admin = await t.connect();
  });

  const touched = async (): Promise<number[]> =>
    (await admin.query<{ n: number }>('SELECT n FROM touched ORDER BY n')).rows.map((r) => r.n);

  it('fails a row that never settles with ITEM_TIMEOUT, aborts its signal, and goes on', async () => {
    await admin.query('TRUNCATE touched');
    const rows: Row[] = [{ n: 1 }, { n: 2, hang: 'forever' }, { n: 3 }, { n: 4 }];
    const summary = await t.batches.import('hanging_row', rows, { itemTimeoutMs: 300 });
    expect(summary).toMatchObject({ completedItems: 3, failedItems: 1, processingItems: 0 });
    const [failed] = await t.batches.getItems<Row>(summary.batchId, { status: 'failed' });
    expect(failed.itemIndex).toBe(1);
    expect(failed.errorDetails).toMatchObject({ code: 'ITEM_TIMEOUT' });
    expect(failed.errorMessage).toContain('did not finish within 300 ms (itemTimeoutMs)');
    // Its write was rolled back with its transaction.
    expect(await touched()).toEqual([1, 3, 4]);
    const processor = t.app.get(HangingRowProcessor);
    expect(processor.aborted.at(-1)).toMatchObject({ code: 'ITEM_TIMEOUT' });
  });

  it('cancels a statement in flight: the row lock and the connection are given back', async () => {
    await admin.query('TRUNCATE touched');
    const rows: Row[] = [{ n: 7, hang: 'query' }, { n: 8 }];
    const summary = await t.batches.import('hanging_row', rows, { itemTimeoutMs: 300 });
    expect(summary).toMatchObject({ completedItems: 1, failedItems: 1 });
    // Row 7's insert was rolled back at once, not 60 s later: inserting it again does not wait.
    await admin.query(`SET lock_timeout = '2s'`);
    await admin.query('INSERT INTO touched (n) VALUES (7)');
    const sleeping = await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()`,
      [t.db.name],
    );
    expect(sleeping.rowCount).toBe(0);
  });

  it('takes the time limit from the processor, and from the run over the processor', async () => {
    const quick = await t.batches.import('quick_timeout', [{ n: 1, hang: 'forever' }]);
    const [item] = await t.batches.getItems(quick.batchId);
    expect(item.errorMessage).toContain('within 200 ms');
    const slower = await t.batches.import('quick_timeout', [{ n: 1, hang: 'forever' }], {
      itemTimeoutMs: 400,
    });
    const [again] = await t.batches.getItems(slower.batchId);
    expect(again.errorMessage).toContain('within 400 ms');
  });

  it('refuses an invalid time limit before the batch is touched', async () => {
    const batch = await t.batches.createBatch('hanging_row', [{ n: 1 }]);
    for (const itemTimeoutMs of [0, 99, 1.5, Number.NaN, 86_400_001]) {
      await expect(t.batches.processBatch(batch.id, { itemTimeoutMs })).rejects.toMatchObject({
        code: 'INVALID_ITEM_TIMEOUT',
      });
    }
    expect((await t.batches.getBatch(batch.id)).status).toBe('pending');
  });

  it('refuses invalid run options before a reprocess or an import stores anything', async () => {
    const failed = await t.batches.import('quick_timeout', [{ n: 1, hang: 'forever' }]);
    await expect(
      t.batches.reprocessBatch(failed.batchId, { itemTimeoutMs: 5 }),
    ).rejects.toMatchObject({ code: 'INVALID_ITEM_TIMEOUT' });
    expect(await t.batches.listBatches({ parentBatchId: failed.batchId })).toEqual([]);
    const before = (await t.batches.listBatches({ batchType: 'hanging_row', limit: 1000 })).length;
    await expect(
      t.batches.import('hanging_row', [{ n: 1 }], { concurrency: 0 }),
    ).rejects.toMatchObject({
      code: 'INVALID_CONCURRENCY',
      message: expect.stringContaining('nothing was stored') as unknown,
    });
    expect((await t.batches.listBatches({ batchType: 'hanging_row', limit: 1000 })).length).toBe(
      before,
    );
  });

  it('refuses an invalid processor time limit at startup, naming the class', async () => {
    @ImportProcessor({ batchType: 'bad_timeout', itemTimeoutMs: -1 })
    class BadTimeoutProcessor extends BaseProcessor<Row> {
      processItem(): void {}
    }
    const started = createTestApp(t.db.url, [BadTimeoutProcessor]);
    await expect(started).rejects.toThrow(InvalidProcessorError);
    await expect(started).rejects.toThrow(
      /BadTimeoutProcessor[^]*itemTimeoutMs must be .*; got -1/,
    );
  });

  it('a shutdown settles a run whose row never settles, and gives the row back', async () => {
    const other = await createTestApp(t.db.url, [HangingRowProcessor], {
      reliableImports: ReliableImportsModule.forRoot({ leaseMs: 1000 }),
    });
    const batch = await other.batches.createBatch('hanging_row', [
      { n: 100, hang: 'forever' },
      { n: 101 },
    ]);
    const running = other.batches.processBatch(batch.id);
    const outcome = running.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    // Row 100 is claimed, in flight, before the application shuts down.
    const inFlight = async () => (await t.batches.getItems(batch.id))[0].status === 'processing';
    for (let i = 0; i < 600 && !(await inFlight()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await other.close();
    // The promise has settled by the time close() returned, or very soon after.
    const settled = await Promise.race([
      outcome,
      new Promise((resolve) => setTimeout(() => resolve('unsettled'), 2000)),
    ]);
    expect(settled).toBeInstanceOf(ProcessingStoppedError);
    const items = await t.batches.getItems<Row>(batch.id);
    expect(items.map((item) => item.status)).toEqual(['pending', 'pending']);
  });
});
