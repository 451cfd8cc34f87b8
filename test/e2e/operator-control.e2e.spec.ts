import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchStatusConflictError,
  ImportBatchNotFoundError,
  ImportProcessor,
  ITEM_STATUS,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { CREATE_APPLIED_TABLE } from '../support/child-process';
import { Gate } from '../support/gate';
import { createTestApp } from '../fixtures/test-app';
import { sleep, waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
  bad?: boolean;
}

/**
 * Writes each row into `applied` (no unique key: a row applied twice would show). `gate` holds every row
 * at `gateAt` and after; `bad` rows fail.
 */
@ImportProcessor()
class ControlledProcessor extends BaseProcessor<Row> {
  gate: Gate | null = null;
  gateAt = Infinity;
  /** The rows that reached the gate: in flight while it held them. */
  held: number[] = [];
  starts = 0;

  onBatchStart(): void {
    this.starts++;
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (item.sourceData.n >= this.gateAt && this.gate) {
      this.held.push(item.itemIndex);
      await this.gate.pass();
    }
    if (item.sourceData.bad) throw new Error(`row ${item.sourceData.n} is bad`);
    await ctx.query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, 0)', [
      item.id,
      item.sourceData.n,
    ]);
  }
}

/** 50 ms a row: a claim of 25 rows takes more than a second. */
@ImportProcessor()
class SlowRowProcessor extends BaseProcessor<Row> {
  async processItem(): Promise<void> {
    await sleep(50);
  }
}

const rows = (count: number, bad: (n: number) => boolean = () => false): Row[] =>
  Array.from({ length: count }, (_, n) => (bad(n) ? { n, bad: true } : { n }));

describe('pause, resume and cancel', () => {
  const t = useTestApp([ControlledProcessor, SlowRowProcessor]);
  let processor: ControlledProcessor;
  let admin: Client;

  beforeAll(async () => {
    processor = t.app.get(ControlledProcessor);
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    admin = await t.connect();
  });
  beforeEach(() => Object.assign(processor, { gate: null, gateAt: Infinity, starts: 0, held: [] }));

  const count = async (sql: string, params: unknown[]): Promise<number> =>
    Number((await admin.query<{ n: number }>(sql, params)).rows[0].n);
  const itemsIn = (batchId: string, status: string) =>
    count(`SELECT count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 AND status = $2`, [
      batchId,
      status,
    ]);
  /** Rows of the batch applied, and how many distinct: equal when none was applied twice. */
  const applied = async (batchId: string) =>
    (
      await admin.query<{ rows: number; distinct: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT i.item_index)::int AS distinct
         FROM applied a JOIN import_batch_items i ON i.id = a.item_id
         WHERE i.batch_id = $1 OR i.original_item_id IN (SELECT id FROM import_batch_items WHERE batch_id = $1)`,
        [batchId],
      )
    ).rows[0];

  it('pauses a running batch: no row is claimed after it, the rows in flight finish, the run resolves paused', async () => {
    const batch = await t.batches.createBatch('controlled', rows(200));
    processor.gate = new Gate();
    processor.gateAt = 40;
    const running = t.batches.processBatch(batch.id, { concurrency: 2 });
    await processor.gate.entered;
    const paused = await t.batches.pauseBatch(batch.id);
    expect(paused.status).toBe(BATCH_STATUS.paused);
    const claimedAtPause = await count(
      `SELECT count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 AND started_at IS NOT NULL`,
      [batch.id],
    );
    processor.gate.release();
    const summary = await running;
    expect(summary).toMatchObject({ status: BATCH_STATUS.paused, processingItems: 0 });
    expect(summary.pendingItems).toBeGreaterThan(0);
    // What was claimed at the pause finished (or went back); nothing was claimed after it.
    expect(summary.completedItems).toBeLessThanOrEqual(claimedAtPause);
    expect(
      await count(
        `SELECT count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 AND started_at IS NOT NULL`,
        [batch.id],
      ),
    ).toBeLessThanOrEqual(claimedAtPause);

    // A paused batch stays paused: a run returns at once, without its hooks.
    processor.starts = 0;
    expect((await t.batches.processBatch(batch.id)).status).toBe(BATCH_STATUS.paused);
    expect(processor.starts).toBe(0);

    const resumed = await t.batches.resumeBatch(batch.id);
    expect(resumed).toMatchObject({ status: BATCH_STATUS.processing, lockedBy: null });
    expect(await t.batches.processBatch(batch.id, { concurrency: 2 })).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: 200,
    });
    expect(await applied(batch.id)).toEqual({ rows: 200, distinct: 200 });
    const logs = await t.batches.getLogs(batch.id);
    expect(logs.map((entry) => entry.message)).toEqual(
      expect.arrayContaining(['Batch paused by an operator', 'Batch resumed']),
    );
  });

  it('pauses a pending batch and resumes it to pending; pausing twice or resuming a pending batch changes nothing', async () => {
    const batch = await t.batches.createBatch('controlled', rows(3));
    expect(
      (await t.batches.pauseBatch(batch.id, { reason: 'wait for the CFO' })).errorMessage,
    ).toBe('wait for the CFO');
    expect((await t.batches.pauseBatch(batch.id)).status).toBe(BATCH_STATUS.paused);
    // Its rows wait for it: a reprocess would run them a second time.
    await expect(t.batches.reprocessBatch(batch.id)).rejects.toThrow(
      `is still paused; only a finished batch can be reprocessed. Resume it (resumeBatch("${batch.id}"))`,
    );
    expect((await t.batches.resumeBatch(batch.id)).status).toBe(BATCH_STATUS.pending);
    expect((await t.batches.resumeBatch(batch.id)).status).toBe(BATCH_STATUS.pending);
    expect((await t.batches.processBatch(batch.id)).status).toBe(BATCH_STATUS.completed);
  });

  it('refuses to pause, resume or cancel an ended batch, saying what to do instead', async () => {
    const batch = await t.batches.createBatch('controlled', rows(2));
    await t.batches.processBatch(batch.id);
    for (const control of [
      () => t.batches.pauseBatch(batch.id),
      () => t.batches.resumeBatch(batch.id),
      () => t.batches.cancelBatch(batch.id),
    ]) {
      const error = await control().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BatchStatusConflictError);
      expect(error).toMatchObject({ code: 'BATCH_STATUS_CONFLICT', status: 'completed' });
      expect((error as Error).message).toContain(`reprocessBatch("${batch.id}")`);
    }
    await expect(t.batches.pauseBatch('not-a-uuid')).rejects.toBeInstanceOf(
      ImportBatchNotFoundError,
    );
    await expect(
      t.batches.cancelBatch('00000000-0000-4000-8000-000000000000'),
    ).rejects.toBeInstanceOf(ImportBatchNotFoundError);
  });

  it('cancels a running batch: the rows in flight finish, the others are cancelled (not failed), and a reprocess runs them', async () => {
    const batch = await t.batches.createBatch('controlled', rows(100));
    processor.gate = new Gate();
    processor.gateAt = 30;
    const running = t.batches.processBatch(batch.id, { concurrency: 2 });
    await processor.gate.entered;
    const hostile = 'wrong file \u0000 "; DROP TABLE applied; --';
    const cancelled = await t.batches.cancelBatch(batch.id, { reason: hostile });
    expect(cancelled.status).toBe(BATCH_STATUS.cancelled);
    expect(cancelled.errorMessage).toBe('cancelled: wrong file \uFFFD "; DROP TABLE applied; --');
    processor.gate.release();
    const summary = await running;
    expect(summary).toMatchObject({
      status: BATCH_STATUS.cancelled,
      pendingItems: 0,
      processingItems: 0,
      failedItems: 0,
    });
    // The rows in flight at the cancel (held at the gate) finished; what the lanes had claimed and not
    // started was cancelled.
    expect(processor.held.length).toBeGreaterThan(0);
    for (const index of processor.held) {
      const [row] = await t.batches.getItems(batch.id, { offset: index, limit: 1 });
      expect(row).toMatchObject({ itemIndex: index, status: ITEM_STATUS.completed });
    }
    expect(summary.completedItems + summary.cancelledItems).toBe(100);
    // The stored counts are brought up to date by the run that finished last.
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      completedItems: summary.completedItems,
      cancelledItems: summary.cancelledItems,
    });
    const [row] = await t.batches.getItems(batch.id, { status: ITEM_STATUS.cancelled, limit: 1 });
    expect(row.errorMessage).toBe(cancelled.errorMessage);

    // Cancelling again changes nothing that stands; an ended batch cannot be paused.
    expect((await t.batches.cancelBatch(batch.id)).status).toBe(BATCH_STATUS.cancelled);
    await expect(t.batches.pauseBatch(batch.id)).rejects.toBeInstanceOf(BatchStatusConflictError);

    const child = await t.batches.reprocessBatch(batch.id);
    expect(child).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: summary.cancelledItems,
    });
    expect(await applied(batch.id)).toEqual({ rows: 100, distinct: 100 });
  });

  it('cancels a paused batch, and the rows a dead run left processing', async () => {
    const batch = await t.batches.createBatch('controlled', rows(5));
    // A run that died holding row 0: its lease has run out.
    await admin.query(
      `UPDATE import_batches SET status = 'processing', started_at = now() WHERE id = $1`,
      [batch.id],
    );
    await admin.query(
      `UPDATE import_batch_items SET status = 'processing', locked_by = 'dead', locked_until = now() - interval '1 second'
       WHERE batch_id = $1 AND item_index = 0`,
      [batch.id],
    );
    await t.batches.pauseBatch(batch.id);
    const cancelled = await t.batches.cancelBatch(batch.id);
    expect(cancelled).toMatchObject({ status: BATCH_STATUS.cancelled, cancelledItems: 5 });
    expect(cancelled.errorMessage).toBe('cancelled by an operator');
    expect(await itemsIn(batch.id, ITEM_STATUS.processing)).toBe(0);
  });

  it('goes on after corrections: resume runs the failed rows that were corrected, with their correction', async () => {
    const batch = await t.batches.createBatch(
      'controlled',
      rows(6, (n) => n === 1 || n === 3),
    );
    await t.batches.processBatch(batch.id);
    // Paused as a budget would leave it: failed rows, the others still to run.
    await admin.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [batch.id]);
    await admin.query(
      `UPDATE import_batch_items SET status = 'pending', completed_at = NULL WHERE batch_id = $1 AND item_index >= 4`,
      [batch.id],
    );
    await t.batches.pauseBatch(batch.id, { reason: 'too many failures' });
    const [failed] = await t.batches.getItems(batch.id, { status: ITEM_STATUS.failed, limit: 1 });
    await t.batches.correctItem(failed.id, { n: 1 });
    await t.batches.resumeBatch(batch.id);
    expect(await itemsIn(batch.id, ITEM_STATUS.pending)).toBe(3);
    const summary = await t.batches.processBatch(batch.id);
    // Row 1 corrected ran again; row 3 was not corrected and stays failed.
    expect(summary).toMatchObject({
      status: BATCH_STATUS.completedWithErrors,
      completedItems: 5,
      failedItems: 1,
    });
  });

  it('halts a run in another instance at once, through the notification channel, not at its next status check', async () => {
    // The worker of another instance runs the batch; it checks the batch's status only once a minute.
    const other = await createTestApp(t.db.url, [SlowRowProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 60_000 } },
    });
    try {
      const batch = await t.batches.createBatch('slow_row', rows(200));
      await waitFor(async () => (await t.batches.getProgress(batch.id)).completed >= 3, {
        withinMs: 30_000,
      });
      await t.batches.pauseBatch(batch.id);
      const atPause = (await t.batches.getProgress(batch.id)).completed;
      await waitFor(async () => (await t.batches.getProgress(batch.id)).inFlight === 0, {
        withinMs: 30_000,
      });
      // The row in flight finished; the other 20-odd rows of the run's claim were given back.
      const settled = await t.batches.getProgress(batch.id);
      expect(settled.completed).toBeLessThanOrEqual(atPause + 1);
      expect(settled).toMatchObject({ status: BATCH_STATUS.paused, inFlight: 0 });
    } finally {
      await other.close();
    }
  });

  it('corrects a pending row of a paused batch (or one awaiting approval): it runs with its correction', async () => {
    const batch = await t.batches.createBatch(
      'controlled',
      rows(4, (n) => n === 2),
    );
    // Held while a run may take it: pending in a pending batch.
    const [bad] = await t.batches.getItems(batch.id, { offset: 2, limit: 1 });
    await expect(t.batches.correctItem(bad.id, { n: 2 })).rejects.toThrow(
      `Or pause the batch (pauseBatch("${batch.id}"))`,
    );
    await t.batches.pauseBatch(batch.id);
    expect(await t.batches.correctItem(bad.id, { n: 2 })).toMatchObject({
      status: ITEM_STATUS.pending,
      correctedData: { n: 2 },
    });
    await t.batches.resumeBatch(batch.id);
    expect(await t.batches.processBatch(batch.id)).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: 4,
    });

    const waiting = await t.batches.createBatch(
      'controlled',
      rows(2, (n) => n === 1),
      {
        requireApproval: true,
      },
    );
    const [second] = await t.batches.getItems(waiting.id, { offset: 1, limit: 1 });
    await t.batches.correctItems(waiting.id, [{ itemId: second.id, data: { n: 1 } }]);
    await t.batches.approveBatch(waiting.id);
    expect(await t.batches.processBatch(waiting.id)).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: 2,
    });
  });
});
