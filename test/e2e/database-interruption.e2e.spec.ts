import {
  BaseProcessor,
  ImportProcessor,
  ProcessingInterruptedError,
  type BatchContext,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import {
  BATCH_LOG_AFTER_FAILED_ITEM,
  CLAIMS_ITEMS,
  loseConnectionOn,
  TERMINATED_MESSAGE,
  type DatabaseFault,
} from '../support/database-faults';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Applies each item by inserting it; `failStart` makes the next onBatchStart fail as an HTTP client would. */
@ImportProcessor()
class AppliedProcessor extends BaseProcessor<Row> {
  failStart = false;
  failComplete: Error | null = null;
  delayMs = 0;
  /** The item that fails for good (noted in the batch's log too), and when it has. */
  failItem: number | null = null;
  failed = false;
  thrown: Error | null = null;
  private run: BatchContext | null = null;

  async onBatchStart(_batch: ImportBatch, ctx: BatchContext): Promise<void> {
    this.run = ctx;
    await ctx.query('SELECT 1');
    if (!this.failStart) return;
    this.failStart = false;
    this.thrown = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), {
      code: 'ECONNREFUSED',
    });
    throw this.thrown;
  }

  onBatchComplete(): void {
    if (this.failComplete) throw this.failComplete;
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (item.sourceData.n === this.failItem) {
      this.failed = true;
      this.run?.log.warn(`Row ${item.sourceData.n} is refused.`);
      throw new Error('bad row');
    }
    await ctx.query('INSERT INTO applied (n) VALUES ($1)', [item.sourceData.n]);
  }
}

const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

describe('a database error outside an item', () => {
  const t = useTestApp([AppliedProcessor]);
  const faults: DatabaseFault[] = [];
  /**
   * The `nth` claim of an item (by any app) loses its connection: its backend is terminated. (The pool
   * must not hand that dead connection to the give-back that follows at once: it once did.)
   */
  const dropClaim = async (nth: number) => {
    const fault = await loseConnectionOn(t.db.url, CLAIMS_ITEMS, nth, 'terminate');
    faults.push(fault);
    return fault;
  };
  const disarmFaults = async () => {
    for (const fault of faults.splice(0)) await fault.disarm();
  };

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE applied (n integer NOT NULL)');
  });
  afterEach(disarmFaults);

  const applied = async () => {
    const [row] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM applied',
    );
    return row;
  };

  it('interrupts the run without failing the batch; the next run finishes it, each item applied once', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const batch = await t.batches.createBatch('applied', rows(100));
    // The second claim: the first takes 25 rows, the next (sized by the rows' pace) may take all the rest.
    await dropClaim(2);

    const outcome = t.batches.processBatch(batch.id).catch((error: unknown) => error);
    const error = await outcome;
    expect(error).toBeInstanceOf(ProcessingInterruptedError);
    expect(error).toMatchObject({ code: 'PROCESSING_INTERRUPTED', context: { batchId: batch.id } });
    expect((error as Error).message).toContain(
      `Processing of batch "${batch.id}" was interrupted by a database error: ${TERMINATED_MESSAGE}.`,
    );
    expect((error as Error).message).toContain('Process the batch again once the database answers');
    expect(((error as Error).cause as Error).message).toBe(TERMINATED_MESSAGE);

    // Not failed, and given back: the next run can take it at once.
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      status: 'processing',
      lockedBy: null,
      errorMessage: null,
    });
    const summary = await t.batches.getBatchSummary(batch.id);
    expect(summary).toMatchObject({ processingItems: 0, failedItems: 0 });
    expect(summary.completedItems).toBeGreaterThan(0);
    expect(summary.completedItems + summary.pendingItems).toBe(100);
    const logs = await t.batches.getLogs(batch.id, { level: 'warn' });
    expect(logs.map((log) => log.message)).toEqual([(error as Error).message]);

    await disarmFaults();
    const finished = await t.batches.processBatch(batch.id);
    expect(finished).toMatchObject({ status: 'completed', completedItems: 100, failedItems: 0 });
    expect(await applied()).toEqual({ total: 100, distinct: 100 });
  });

  it('stops every lane of the run before it gives the items back', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const processor = t.app.get(AppliedProcessor);
    processor.delayMs = 10;
    const batch = await t.batches.createBatch('applied', rows(400));
    await dropClaim(6);
    try {
      await expect(t.batches.processBatch(batch.id, { concurrency: 4 })).rejects.toBeInstanceOf(
        ProcessingInterruptedError,
      );
      const after = await t.batches.getBatchSummary(batch.id);
      expect(after.processingItems).toBe(0);
      // Nothing of the interrupted run goes on in the background.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
        completedItems: after.completedItems,
        processingItems: 0,
      });
      expect((await applied()).total).toBe(after.completedItems);
    } finally {
      processor.delayMs = 0;
    }

    await disarmFaults();
    await expect(t.batches.processBatch(batch.id, { concurrency: 4 })).resolves.toMatchObject({
      status: 'completed',
      completedItems: 400,
    });
    expect(await applied()).toEqual({ total: 400, distinct: 400 });
  });

  it('lets a worker go on with the batch it was interrupted on', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const worker = await createTestApp(t.db.url, [AppliedProcessor], {
      module: { worker: { enabled: true, concurrency: 2, pollIntervalMs: 50 } },
    });
    try {
      const fault = await dropClaim(2);
      const batch = await t.batches.createBatch('applied', rows(200));
      const deadline = Date.now() + 30_000;
      let summary = await t.batches.getBatchSummary(batch.id);
      while (summary.status !== 'completed' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        summary = await t.batches.getBatchSummary(batch.id);
      }
      expect(await fault.matched()).toBeGreaterThan(2);
      expect(summary).toMatchObject({ status: 'completed', completedItems: 200, failedItems: 0 });
      expect(await applied()).toEqual({ total: 200, distinct: 200 });
    } finally {
      await worker.close();
    }
  });

  it("fails the batch on a hook's own error, even one that reads like a lost connection", async () => {
    await t.dataSource.query('TRUNCATE applied');
    const processor = t.app.get(AppliedProcessor);
    const batch = await t.batches.createBatch('applied', rows(10));
    processor.failStart = true;

    const outcome = await t.batches.processBatch(batch.id).catch((error: unknown) => error);
    // The hook's own error, as it threw it.
    expect(outcome).toBe(processor.thrown);
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      status: 'failed',
      errorMessage: 'Processing stopped: connect ECONNREFUSED 10.0.0.7:443',
    });
    expect(await applied()).toEqual({ total: 0, distinct: 0 });
  });

  it('keeps a stop already decided when the database drops right after it', async () => {
    await t.dataSource.query('TRUNCATE applied');
    const processor = t.app.get(AppliedProcessor);
    // The first write of the batch's log after the item failed loses its connection.
    const fault = await loseConnectionOn(t.db.url, BATCH_LOG_AFTER_FAILED_ITEM, 1, 'terminate');
    faults.push(fault);
    processor.failItem = 3;
    try {
      const batch = await t.batches.createBatch('applied', rows(10));
      const summary = await t.batches.processBatch(batch.id, { continueOnError: false });
      const dropped = (await fault.matched()) >= 1;
      expect(dropped).toBe(true);
      expect(summary).toMatchObject({ status: 'failed', completedItems: 3, failedItems: 1 });
      expect(summary.errorMessage).toMatch(/item 3/);
      expect(await applied()).toEqual({ total: 3, distinct: 3 });
    } finally {
      processor.failItem = null;
      processor.failed = false;
    }
  });

  it('rethrows an onBatchComplete error as it was thrown, and the ended batch keeps its status and logs', async () => {
    const processor = t.app.get(AppliedProcessor);
    processor.failComplete = new Error('the report could not be mailed');
    try {
      const batch = await t.batches.createBatch('applied', rows(3));
      const outcome = await t.batches.processBatch(batch.id).catch((error: unknown) => error);
      expect(outcome).toBe(processor.failComplete);
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        status: 'completed',
        errorMessage: null,
      });
      expect(await t.batches.getLogs(batch.id, { level: 'error' })).toEqual([]);
    } finally {
      processor.failComplete = null;
    }
  });
});
