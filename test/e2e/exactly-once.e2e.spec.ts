import { Client } from 'pg';
import {
  BaseProcessor,
  BatchNotReprocessableError,
  ImportProcessor,
  ItemNotCorrectableError,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { CREATE_APPLIED_TABLE, startProcessingChild } from '../support/child-process';
import { useTestApp } from '../support/use-test-app';
import { sleep } from '../support/timing';

interface Row {
  key: string;
  bad?: boolean;
}

/**
 * Applies each row to `applied_rows`, which has no unique key, under the id of its source row (the root
 * of its copies), so that a row applied twice anywhere in a tree shows. A row with `bad` fails; keys in
 * `failing` fail whatever their data (a cause outside the row, fixed later); `slowMs` holds each row.
 */
@ImportProcessor()
class LineageRowProcessor extends BaseProcessor<Row> {
  readonly failing = new Set<string>();
  slowMs = 0;
  /** While set, each row waits here (after telling `entered`), so that a test acts while it runs. */
  private gate: { entered: () => void; open: Promise<void> } | null = null;

  /** Holds the next rows in flight; resolves once one is; call the returned function to let them go. */
  async hold(): Promise<() => void> {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const entered = new Promise<void>((resolve) => {
      this.gate = { entered: resolve, open: opened };
    });
    await entered;
    return () => {
      this.gate = null;
      open();
    };
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (this.gate) {
      this.gate.entered();
      await this.gate.open;
    }
    if (this.slowMs > 0) await sleep(this.slowMs);
    if (item.sourceData.bad) throw new Error(`row ${item.sourceData.key} is bad`);
    if (this.failing.has(item.sourceData.key)) throw new Error(`${item.sourceData.key} is blocked`);
    await ctx.query('INSERT INTO applied_rows (source_id, key) VALUES ($1, $2)', [
      item.originalItemId ?? item.id,
      item.sourceData.key,
    ]);
  }
}

/**
 * The batch type the child process (test/support/processing-child.ts) runs; here, the first row this
 * process runs after `failNext` is set fails, whichever row the lanes of the two processes leave it.
 */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  failNext = false;

  processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error(`row ${item.sourceData.n} fails`);
    }
    return ctx
      .query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, $3)', [
        item.originalItemId ?? item.id,
        item.sourceData.n,
        process.pid,
      ])
      .then(() => undefined);
  }
}

describe('exactly once across a tree of reprocesses, stops and corrections', () => {
  const t = useTestApp([LineageRowProcessor, AppliedRowProcessor], { module: { leaseMs: 1500 } });
  let admin: Client;
  let processor: LineageRowProcessor;

  beforeAll(async () => {
    await t.dataSource.query(
      'CREATE TABLE applied_rows (source_id uuid NOT NULL, key text NOT NULL)',
    );
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    admin = await t.connect();
    processor = t.app.get(LineageRowProcessor);
  });
  afterEach(() => {
    processor.failing.clear();
    processor.slowMs = 0;
  });

  const timesApplied = async (key: string): Promise<number> =>
    Number(
      (
        await admin.query<{ count: number }>(
          'SELECT count(*)::int AS count FROM applied_rows WHERE key = $1',
          [key],
        )
      ).rows[0].count,
    );

  /** A root batch in which `x` failed, and a reprocess of it in which `x` failed again. */
  async function parentAndChildWithFailedRow(
    x: string,
  ): Promise<{ parent: string; child: string }> {
    processor.failing.add(x);
    const parent = await t.batches.import('lineage_row', [{ key: `${x}-ok` }, { key: x }]);
    expect(parent).toMatchObject({ completedItems: 1, failedItems: 1 });
    const child = await t.batches.reprocessBatch(parent.batchId);
    expect(child).toMatchObject({ totalItems: 1, failedItems: 1 });
    processor.failing.delete(x);
    return { parent: parent.batchId, child: child.batchId };
  }

  describe('a source row has one live or completed copy in its whole tree', () => {
    it('reprocessing the parent and the child at the same moment applies the row once', async () => {
      const { parent, child } = await parentAndChildWithFailedRow('x1');
      processor.slowMs = 200;
      const results = await Promise.allSettled([
        t.batches.reprocessBatch(parent),
        t.batches.reprocessBatch(child),
      ]);
      const done = results.filter((result) => result.status === 'fulfilled');
      const refused = results.flatMap((result) =>
        result.status === 'rejected' ? [result.reason as Error] : [],
      );
      expect(done).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(BatchNotReprocessableError);
      expect(await timesApplied('x1')).toBe(1);
    });

    it('a reprocess of the child waits for an unfinished reprocess of the parent, and names it', async () => {
      const { parent, child } = await parentAndChildWithFailedRow('x2');
      // A reprocess of the parent still running (or killed half way, which leaves its child batch
      // processing until a worker or processBatch finishes it).
      const holding = processor.hold();
      const stopped = t.batches.reprocessBatch(parent);
      const release = await holding;
      const [unfinished] = await t.batches.listBatches({
        parentBatchId: parent,
        status: 'processing',
      });
      expect(unfinished).toBeDefined();
      await expect(t.batches.reprocessBatch(child)).rejects.toThrow(unfinished.id);
      release();
      await stopped;
      // Once it finished, the row is done: nothing is left for a reprocess of the child.
      await expect(t.batches.reprocessBatch(child)).rejects.toThrow(/nothing|no rows left/i);
      expect(await timesApplied('x2')).toBe(1);
    });

    it('a reprocess of the parent skips a row that a reprocess of the child completed', async () => {
      const { parent, child } = await parentAndChildWithFailedRow('x3');
      const grandchild = await t.batches.reprocessBatch(child);
      expect(grandchild).toMatchObject({ completedItems: 1 });
      await expect(t.batches.reprocessBatch(parent)).rejects.toThrow(BatchNotReprocessableError);
      await expect(t.batches.reprocessBatch(parent, { failedItemsOnly: false })).rejects.toThrow(
        BatchNotReprocessableError,
      );
      expect(await timesApplied('x3')).toBe(1);
      expect(await timesApplied('x3-ok')).toBe(1);
    });

    it('failedItemsOnly: false never runs a completed row again', async () => {
      const done = await t.batches.import('lineage_row', [{ key: 'x4' }]);
      await expect(
        t.batches.reprocessBatch(done.batchId, { failedItemsOnly: false }),
      ).rejects.toThrow(BatchNotReprocessableError);
      expect(await timesApplied('x4')).toBe(1);
    });

    it('a reprocess of the parent uses the correction stored on the newest copy of a row', async () => {
      const { parent, child } = await parentAndChildWithFailedRow('x5');
      processor.failing.add('x5');
      // The row fails again in the child for its data: it is corrected there, its newest copy.
      const [copy] = await t.batches.getItems<Row>(child, { status: 'failed' });
      await t.batches.correctItem(copy.id, { key: 'x5-fixed' });
      const again = await t.batches.reprocessBatch(parent);
      expect(again).toMatchObject({ totalItems: 1, completedItems: 1 });
      expect(await timesApplied('x5-fixed')).toBe(1);
      expect(await timesApplied('x5')).toBe(0);
    });
  });

  describe('no row is stranded by a stop', () => {
    it('a stop releases the rows a helper process holds, so a reprocess applies every row once', async () => {
      const total = 200;
      const batch = await t.batches.createBatch(
        'applied_row',
        Array.from({ length: total }, (_, n) => ({ n })),
      );
      // A helper in another process claims rows and holds them (each row takes a while) ...
      const child = startProcessingChild({
        databaseUrl: t.db.url,
        batchId: batch.id,
        concurrency: 2,
        leaseMs: 60_000,
        itemPauseMs: 400,
      });
      for (let i = 0; i < 1200; i++) {
        const held = await admin.query(
          `SELECT 1 FROM import_batch_items WHERE batch_id = $1 AND status = 'processing'`,
          [batch.id],
        );
        if (held.rowCount && held.rowCount > 1) break;
        await sleep(50);
      }
      // ... while this process joins, fails its first row, stops and ends the batch failed.
      t.app.get(AppliedRowProcessor).failNext = true;
      const stopped = await t.batches.processBatch(batch.id, { continueOnError: false });
      expect(stopped.status).toBe('failed');
      child.process.kill('SIGKILL');
      await child.exited;

      const stranded = await admin.query(
        `SELECT count(*)::int AS count FROM import_batch_items WHERE batch_id = $1 AND status = 'processing'`,
        [batch.id],
      );
      expect(stranded.rows[0].count).toBe(0);

      // Recovery: one reprocess brings every row in exactly once, the failed one too.
      const [failed] = await t.batches.getItems<{ n: number }>(batch.id, { status: 'failed' });
      expect(failed).toBeDefined();
      const child1 = await t.batches.reprocessBatch(batch.id, { concurrency: 2 });
      expect(child1.failedItems).toBe(0);
      const applied = await admin.query<{ rows: number; sources: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT item_id)::int AS sources FROM applied a
         JOIN import_batch_items i ON i.id = a.item_id WHERE i.batch_id = $1`,
        [batch.id],
      );
      expect(applied.rows[0]).toEqual({ rows: total, sources: total });
    }, 180_000);
  });

  describe('a stop is not forgotten', () => {
    it('a run that must stop at the first failure stops at one that a dead run recorded', async () => {
      const batch = await t.batches.createBatch('lineage_row', [
        { key: 's0' },
        { key: 's1', bad: true },
        { key: 's2' },
      ]);
      // A run recorded row 1 failed and died before its stop was written; its lease has run out.
      await admin.query(
        `UPDATE import_batch_items SET status = 'failed', error_message = 'row s1 is bad', attempts = 1,
           completed_at = now() WHERE batch_id = $1 AND item_index = 1`,
        [batch.id],
      );
      await admin.query(
        `UPDATE import_batches SET status = 'processing', started_at = now(), locked_by = 'dead',
           locked_until = now() - interval '1 second' WHERE id = $1`,
        [batch.id],
      );
      const summary = await t.batches.processBatch(batch.id, { continueOnError: false });
      expect(summary).toMatchObject({ status: 'failed', pendingItems: 2, failedItems: 1 });
      expect(summary.errorMessage).toContain('Stopped at item 1, which failed: row s1 is bad');
      expect(await timesApplied('s0')).toBe(0);
      expect(await timesApplied('s2')).toBe(0);
    });
  });

  describe('a correction is used by the next reprocess, or refused', () => {
    it('refuses a correction of a row that a running reprocess holds, naming that batch', async () => {
      processor.failing.add('c1');
      const parent = await t.batches.import('lineage_row', [{ key: 'c1' }]);
      processor.failing.delete('c1');
      const [row] = await t.batches.getItems<Row>(parent.batchId);
      const holding = processor.hold();
      const reprocess = t.batches.reprocessBatch(parent.batchId);
      const release = await holding;
      const [running] = await t.batches.listBatches({ parentBatchId: parent.batchId });
      const refusal = t.batches.correctItem(row.id, { key: 'c1-late' });
      await expect(refusal).rejects.toThrow(ItemNotCorrectableError);
      await expect(refusal).rejects.toThrow(running.id);
      release();
      await reprocess;
      expect(await timesApplied('c1')).toBe(1);
      expect(await timesApplied('c1-late')).toBe(0);
    });

    it('refuses a correction of a row that a reprocess completed, naming that batch', async () => {
      processor.failing.add('c2');
      const parent = await t.batches.import('lineage_row', [{ key: 'c2' }]);
      processor.failing.delete('c2');
      const child = await t.batches.reprocessBatch(parent.batchId);
      expect(child.completedItems).toBe(1);
      const [row] = await t.batches.getItems<Row>(parent.batchId);
      const refusal = t.batches.correctItem(row.id, { key: 'c2-late' });
      await expect(refusal).rejects.toThrow(ItemNotCorrectableError);
      await expect(refusal).rejects.toThrow(child.batchId);
    });

    it('refuses a correction of an older copy of a row, naming the newest one', async () => {
      const { parent, child } = await parentAndChildWithFailedRow('c3');
      const [older] = await t.batches.getItems<Row>(parent, { status: 'failed' });
      const [newest] = await t.batches.getItems<Row>(child);
      const refusal = t.batches.correctItem(older.id, { key: 'c3-late' });
      await expect(refusal).rejects.toThrow(ItemNotCorrectableError);
      await expect(refusal).rejects.toThrow(newest.id);
    });
  });
});
