import type { Client } from 'pg';
import {
  BaseProcessor,
  ImportProcessor,
  LeaseLostError,
  ProcessingInterruptedError,
  ProcessingStoppedError,
  type BatchSummary,
  type ImportItem,
} from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import { loseConnectionOnRead, type DatabaseFault } from '../support/database-faults';
import { Gate } from '../support/gate';
import { sleep, waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/**
 * Counts the hooks of its app's runs (each app has its own instance). `startGate` holds onBatchStart;
 * `itemGate` holds row 0; `failing` rows throw.
 */
@ImportProcessor()
class EndingProcessor extends BaseProcessor<Row> {
  starts = 0;
  completed: BatchSummary[] = [];
  startGate: Gate | null = null;
  itemGate: Gate | null = null;
  failing = new Set<number>();

  async onBatchStart(): Promise<void> {
    this.starts++;
    await this.startGate?.pass();
  }

  async processItem(item: ImportItem<Row>): Promise<void> {
    if (item.sourceData.n === 0) await this.itemGate?.pass();
    if (this.failing.has(item.sourceData.n)) throw new Error(`row ${item.sourceData.n} is refused`);
  }

  onBatchComplete(summary: BatchSummary): void {
    this.completed.push(summary);
  }
}

const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

describe('how a run ends', () => {
  const t = useTestApp([EndingProcessor]);
  let processor: EndingProcessor;
  const faults: DatabaseFault[] = [];
  let locker: Client | null = null;

  beforeAll(() => {
    processor = t.app.get(EndingProcessor);
  });
  beforeEach(() => {
    Object.assign(processor, {
      starts: 0,
      completed: [],
      startGate: null,
      itemGate: null,
      failing: new Set(),
    });
  });
  afterEach(async () => {
    for (const fault of faults.splice(0)) await fault.disarm();
    await locker?.query('ROLLBACK');
    locker = null;
  });

  /** A second app on the file's database; its connections carry `applicationName`. */
  const secondApp = (applicationName = 'ri_second', leaseMs?: number) => {
    const url = new URL(t.db.url);
    url.searchParams.set('application_name', applicationName);
    return createTestApp(url.toString(), [EndingProcessor], {
      module: leaseMs === undefined ? {} : { leaseMs },
    });
  };

  // Found by this file: a run was registered for the shutdown only once it had read its batch, so a
  // shutdown that came during that read neither stopped the run nor waited for it: the run went on while
  // the app closed, and rejected with the closed pool's error.
  it('a shutdown that comes while a run reads its batch waits for the run, which stops and gives the batch back', async () => {
    const second = await secondApp();
    const batch = await second.batches.createBatch('ending', rows(3));
    // The run's first read of the batch waits for this lock.
    locker = await t.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE import_batches IN ACCESS EXCLUSIVE MODE');
    const running = second.batches.processBatch(batch.id).catch((error: unknown) => error);
    await waitFor(async () => {
      const [waiting] = await t.dataSource.query<{ count: number }[]>(
        `SELECT count(*)::int AS count FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'ri_second' AND wait_event_type = 'Lock'`,
      );
      return waiting.count > 0;
    });
    const closing = second.close();
    // Time for the shutdown to reach the runner, which must now wait for the run.
    await sleep(300);
    await locker.query('COMMIT');
    locker = null;
    await closing;

    expect(await running).toBeInstanceOf(ProcessingStoppedError);
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      status: 'processing',
      lockedBy: null,
    });
    expect(await t.batches.processBatch(batch.id)).toMatchObject({
      status: 'completed',
      completedItems: 3,
    });
  });

  // Found by this file: the summary a run reads once another run has ended the batch (or will) was read
  // outside the run's handling of errors, so a lost connection there came out raw instead of as the
  // interruption the README promises.
  it('a helper that loses the database reading the summary of a batch the owner ended rejects with ProcessingInterruptedError', async () => {
    const second = await secondApp('ri_helper');
    try {
      const batch = await t.batches.createBatch('ending', rows(1));
      processor.itemGate = new Gate();
      const owner = t.batches.processBatch(batch.id);
      await waitFor(() => processor.itemGate?.passes === 1);
      const fault = await loseConnectionOnRead(
        t.db.url,
        {
          view: 'import_batch_summary',
          when: `read_row.batch_id = '${batch.id}' AND current_setting('application_name') = 'ri_helper'`,
        },
        1,
        'error',
      );
      faults.push(fault);
      const helperProcessor = second.app.get(EndingProcessor);
      const helper = second.batches.processBatch(batch.id).catch((error: unknown) => error);
      // The helper has joined: it waits for the owner's item.
      await waitFor(() => helperProcessor.starts === 1);
      processor.itemGate.release();

      expect(await owner).toMatchObject({ status: 'completed', completedItems: 1 });
      const outcome = await helper;
      expect(outcome).toBeInstanceOf(ProcessingInterruptedError);
      expect(await fault.matched()).toBe(1);
      expect(processor.completed).toHaveLength(1);
      expect(helperProcessor.completed).toHaveLength(0);
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        status: 'completed',
        lockedBy: null,
      });
    } finally {
      await second.close();
    }
  });

  it('a helper stopped by a shutdown while it waits for the owner to end the batch rejects with ProcessingStoppedError; the owner ends it', async () => {
    const second = await secondApp();
    const batch = await t.batches.createBatch('ending', rows(5));
    processor.startGate = new Gate();
    const owner = t.batches.processBatch(batch.id);
    await waitFor(() => processor.startGate?.passes === 1);
    const helperProcessor = second.app.get(EndingProcessor);
    const helper = second.batches.processBatch(batch.id).catch((error: unknown) => error);
    // The helper runs every item, then waits for the owner, which holds the batch.
    await waitFor(async () => (await t.batches.getBatchSummary(batch.id)).completedItems === 5);
    await sleep(300);
    await second.close();
    expect(await helper).toBeInstanceOf(ProcessingStoppedError);
    expect(helperProcessor.completed).toHaveLength(0);
    // The helper gave nothing of the owner's back: the batch is still the owner's.
    const held = await t.batches.getBatch(batch.id);
    expect(held.status).toBe('processing');
    expect(held.lockedBy).not.toBeNull();

    processor.startGate.release();
    expect(await owner).toMatchObject({ status: 'completed', completedItems: 5 });
    expect(processor.completed).toHaveLength(1);
  });

  it('when a helper stops the batch at a failed row, the helper calls onBatchComplete, the owner settles with the failed batch without it', async () => {
    const second = await secondApp();
    try {
      const batch = await t.batches.createBatch('ending', rows(30));
      processor.itemGate = new Gate();
      const options = { continueOnError: false };
      // The owner claims rows 0-24 and waits in row 0; the helper takes 25-29 and fails at 27.
      const owner = t.batches.processBatch(batch.id, options);
      await waitFor(() => processor.itemGate?.passes === 1);
      const helperProcessor = second.app.get(EndingProcessor);
      helperProcessor.failing.add(27);
      const helper = await second.batches.processBatch(batch.id, options);
      expect(helper).toMatchObject({ status: 'failed', completedItems: 2, failedItems: 1 });
      expect(helperProcessor.completed).toHaveLength(1);
      processor.itemGate.release();

      expect(await owner).toMatchObject({ status: 'failed', completedItems: 2, failedItems: 1 });
      expect(processor.completed).toHaveLength(0);
      const summary = await t.batches.getBatchSummary(batch.id);
      expect(summary).toMatchObject({ processingItems: 0, pendingItems: 27 });
      expect(await t.batches.getBatch(batch.id)).toMatchObject({ lockedBy: null });
    } finally {
      await second.close();
    }
  });
  /** Another run takes the batch over (as one would once this run's lease has run out). */
  const takeOver = (
    client: { query(text: string, values: unknown[]): Promise<unknown> },
    batchId: string,
  ) =>
    client.query(
      `UPDATE import_batches SET locked_by = 'intruder', locked_until = now() + interval '1 hour'
       WHERE id = $1`,
      [batchId],
    );

  it('an owner whose batch is taken over while its items run rejects with LeaseLostError, gives its items back and leaves the batch alone', async () => {
    const second = await secondApp('ri_second', 1500);
    const ownerProcessor = second.app.get(EndingProcessor);
    const gate = new Gate();
    try {
      const batch = await second.batches.createBatch('ending', rows(3));
      ownerProcessor.itemGate = gate;
      const owner = second.batches.processBatch(batch.id).catch((error: unknown) => error);
      await waitFor(() => gate.passes === 1);
      await takeOver(t.dataSource, batch.id);
      // Row 0 never settles: the run gives it up once its grace has passed.
      const outcome = await owner;
      expect(outcome).toBeInstanceOf(LeaseLostError);
      expect(ownerProcessor.completed).toHaveLength(0);
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        status: 'processing',
        lockedBy: 'intruder',
      });
      expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
        pendingItems: 3,
        processingItems: 0,
      });
    } finally {
      gate.release();
      await second.close();
    }
  });

  // Before BatchRun, a lease lost while the run waited to end the batch rejected with
  // ProcessingStoppedError; it is a LeaseLostError wherever the run finds it lost.
  it('an owner whose batch is taken over as its lanes end rejects with LeaseLostError, and ends nothing', async () => {
    const second = await secondApp('ri_second', 1500);
    const ownerProcessor = second.app.get(EndingProcessor);
    const gate = new Gate();
    try {
      const batch = await second.batches.createBatch('ending', rows(1));
      ownerProcessor.itemGate = gate;
      const owner = second.batches.processBatch(batch.id).catch((error: unknown) => error);
      await waitFor(() => gate.passes === 1);
      // The take-over holds the batch's row until it commits: the owner's renewal waits on it, and its
      // item ends meanwhile.
      locker = await t.connect();
      await locker.query('BEGIN');
      await takeOver(locker, batch.id);
      gate.release();
      await waitFor(async () => (await t.batches.getBatchSummary(batch.id)).completedItems === 1);
      await locker.query('COMMIT');
      locker = null;

      expect(await owner).toBeInstanceOf(LeaseLostError);
      expect(ownerProcessor.completed).toHaveLength(0);
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        status: 'processing',
        lockedBy: 'intruder',
      });
    } finally {
      gate.release();
      await second.close();
    }
  });
  it('claims the rows a lock kept from its claims once the lock is gone, rather than wait for them forever', async () => {
    const batch = await t.batches.createBatch('ending', rows(3));
    // A correction (or a dry run's verdict) holds row 2 while the run's claims pass it by.
    locker = await t.connect();
    await locker.query('BEGIN');
    await locker.query(
      `SELECT id FROM import_batch_items WHERE batch_id = $1 AND item_index = 2 FOR UPDATE`,
      [batch.id],
    );
    const running = t.batches.processBatch(batch.id);
    await waitFor(async () => (await t.batches.getBatchSummary(batch.id)).completedItems === 2);
    await sleep(300);
    await locker.query('COMMIT');
    locker = null;
    expect(await running).toMatchObject({ status: 'completed', completedItems: 3 });
  });
});
