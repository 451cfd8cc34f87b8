import { Client } from 'pg';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import { useTestApp } from '../support/use-test-app';
import { sleep } from '../support/timing';

/**
 * An outside review of the guarantees of issue 10 (stops, time limits, the ledger of a tree), each attack
 * as a small test on a real PostgreSQL.
 */

interface Row {
  n: number;
}

/**
 * Applies each row to `attack_applied` (no unique key, so that a row applied twice shows) under the id
 * of its source row. Rows in `failing` throw; `hang` never settles; `beforeFail` runs before a failure.
 */
@ImportProcessor()
class AttackRowProcessor extends BaseProcessor<Row> {
  readonly failing = new Set<number>();
  readonly hang = new Set<number>();
  readonly calls = new Map<number, number>();
  readonly slow = new Set<number>();
  beforeFail: (() => Promise<void>) | null = null;
  slowMs = 0;

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const { n } = item.sourceData;
    this.calls.set(n, (this.calls.get(n) ?? 0) + 1);
    if (this.slowMs > 0) await sleep(this.slowMs);
    if (this.slow.has(n)) await sleep(1500);
    await ctx.query('INSERT INTO attack_applied (source_id, n) VALUES ($1, $2)', [
      item.originalItemId ?? item.id,
      n,
    ]);
    if (this.hang.has(n)) await new Promise(() => undefined);
    if (this.failing.has(n)) {
      await this.beforeFail?.();
      throw new Error(`row ${n} fails`);
    }
  }
}

describe('attacks on the guarantees of issue 10', () => {
  const t = useTestApp([AttackRowProcessor], { module: { leaseMs: 2000 } });
  let admin: Client;
  let processor: AttackRowProcessor;

  beforeAll(async () => {
    await t.dataSource.query(
      'CREATE TABLE attack_applied (source_id uuid NOT NULL, n integer NOT NULL)',
    );
    admin = await t.connect();
    processor = t.app.get(AttackRowProcessor);
  });
  afterEach(async () => {
    processor.failing.clear();
    processor.hang.clear();
    processor.slow.clear();
    processor.calls.clear();
    processor.beforeFail = null;
    processor.slowMs = 0;
    await admin.query('TRUNCATE attack_applied');
  });

  const rows = (count: number): Row[] => Array.from({ length: count }, (_, n) => ({ n }));

  /** How many times each n was applied, for the n applied at least once. */
  const appliedCounts = async (): Promise<Map<number, number>> => {
    const result = await admin.query<{ n: number; count: number }>(
      'SELECT n, count(*)::int AS count FROM attack_applied GROUP BY n',
    );
    return new Map(result.rows.map((row) => [row.n, row.count]));
  };

  const rowCounts = async (batchId: string): Promise<Record<string, number>> => {
    const result = await admin.query<{ status: string; count: number }>(
      'SELECT status, count(*)::int AS count FROM import_batch_items WHERE batch_id = $1 GROUP BY status',
      [batchId],
    );
    return Object.fromEntries(result.rows.map((row) => [row.status, row.count]));
  };

  it('a stop at concurrency 4 with chunked commits and a helper run: no deadlock, counters equal the rows, every row once after a reprocess', async () => {
    processor.failing.add(150);
    processor.slowMs = 2;
    const batch = await t.batches.createBatch('attack_row', rows(400));
    const settle = (promise: Promise<unknown>) =>
      promise.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
    const owner = settle(
      t.batches.processBatch(batch.id, {
        concurrency: 4,
        commitEvery: 10,
        continueOnError: false,
      }),
    );
    await sleep(50);
    const helper = settle(
      t.batches.processBatch(batch.id, {
        concurrency: 4,
        commitEvery: 10,
        continueOnError: false,
      }),
    );
    const outcomes = await Promise.all([owner, helper]);
    for (const outcome of outcomes) {
      // Neither run may fail on its own statements (a deadlock, a lost stop), nor take a stop for a lost lease.
      if (!outcome.ok) throw outcome.error;
    }
    const ended = await t.batches.getBatch(batch.id);
    expect(ended.status).toBe('failed');
    const counts = await rowCounts(batch.id);
    expect(counts.processing ?? 0).toBe(0);
    expect(ended.completedItems).toBe(counts.completed ?? 0);
    expect(ended.failedItems).toBe(counts.failed ?? 0);
    expect(ended.skippedItems).toBe(counts.skipped ?? 0);
    // What completed is what was applied, once each.
    const applied = await appliedCounts();
    expect(applied.size).toBe(counts.completed ?? 0);
    expect([...applied.values()].every((count) => count === 1)).toBe(true);

    processor.failing.clear();
    const child = await t.batches.reprocessBatch(batch.id, { concurrency: 4, commitEvery: 10 });
    expect(child.failedItems).toBe(0);
    const after = await appliedCounts();
    expect(after.size).toBe(400);
    expect([...after.values()].every((count) => count === 1)).toBe(true);
  });

  // Found by this file: the stop was decided in memory and written by one statement; when that statement
  // failed on a passing error the run gave the batch back `processing`, and the next run applied every
  // row after the failed one. Now the stop is retried, and a run derives it from the failed row.
  it('a stop whose own statement loses its connection is not forgotten: the next run applies no row past it', async () => {
    // Row 2 fails with continueOnError: false. While the stop waits for the batch row (an operator's
    // transaction holds it FOR SHARE), its connection is terminated, as a restart of the server would.
    const holder = new Client({ connectionString: t.db.url });
    await holder.connect();
    try {
      processor.failing.add(2);
      const batch = await t.batches.createBatch('attack_row', rows(10));
      processor.beforeFail = async () => {
        await holder.query('BEGIN');
        await holder.query('SELECT id FROM import_batches WHERE id = $1 FOR SHARE', [batch.id]);
      };
      const first = t.batches.processBatch(batch.id, { continueOnError: false }).then(
        () => null,
        (error: unknown) => error,
      );
      let stopPid: number | undefined;
      for (let i = 0; i < 600 && stopPid === undefined; i++) {
        await sleep(50);
        const waiting = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
           WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'`,
          [t.db.name],
        );
        stopPid = waiting.rows[0]?.pid;
      }
      expect(stopPid).toBeDefined();
      await admin.query('SELECT pg_terminate_backend($1)', [stopPid]);
      await holder.query('ROLLBACK');
      const outcome = await first;
      // The stop is written on a retry, or the run is interrupted, as an outage should be.
      if (outcome !== null) expect(outcome).toMatchObject({ code: 'PROCESSING_INTERRUPTED' });
      // The batch was stopped at row 2. Whatever the next run does, rows 3..9 must not be applied by a
      // batch the caller asked to stop at its first failure.
      await t.batches.processBatch(batch.id, { continueOnError: false }).catch(() => undefined);
      const ended = await t.batches.getBatch(batch.id);
      const applied = await appliedCounts();
      expect({
        status: ended.status,
        applied: [...applied.keys()].sort((a, b) => a - b),
      }).toEqual({
        status: 'failed',
        applied: [0, 1],
      });
    } finally {
      await holder.end();
    }
  });

  // Found by this file: in chunked mode a timed-out row abandoned the chunk unrecorded and then ran
  // again alone, getting twice its time. Now the chunk names the row, which is recorded without a rerun.
  it('a row that times out in a chunk runs once, not once in the chunk and again alone', async () => {
    processor.hang.add(2);
    const summary = await t.batches.import('attack_row', rows(6), {
      commitEvery: 6,
      itemTimeoutMs: 300,
    });
    expect(summary).toMatchObject({ completedItems: 5, failedItems: 1, processingItems: 0 });
    const [failed] = await t.batches.getItems(summary.batchId, { status: 'failed' });
    expect(failed.errorDetails).toMatchObject({ code: 'ITEM_TIMEOUT' });
    const applied = await appliedCounts();
    expect([...applied.keys()].sort((a, b) => a - b)).toEqual([0, 1, 3, 4, 5]);
    expect(processor.calls.get(2)).toBe(1);
  });

  // Found by this file: deleting a middle batch (ON DELETE SET NULL) made its child a root of its own, so
  // the two parts neither shared a lock nor saw each other's running batches. Now the root is found
  // through the rows' originals, and a row a running batch holds is never copied.
  it('after a middle batch of a tree is deleted, a row pending in a reprocess of the root is not copied again from the orphaned leaf', async () => {
    processor.failing.add(7);
    const root = await t.batches.import('attack_row', [{ n: 6 }, { n: 7 }]);
    const middle = await t.batches.reprocessBatch(root.batchId);
    const leaf = await t.batches.reprocessBatch(middle.batchId);
    expect(leaf).toMatchObject({ totalItems: 1, failedItems: 1 });
    await admin.query('DELETE FROM import_batches WHERE id = $1', [middle.batchId]);
    processor.failing.clear();
    // A reprocess of the root is stopped by a shutdown while row 7 runs: the row is given back pending.
    const other = await createTestApp(t.db.url, [AttackRowProcessor], {
      module: { leaseMs: 1000 },
    });
    other.app.get(AttackRowProcessor).hang.add(7);
    const stopped = other.batches.reprocessBatch(root.batchId).catch((error: unknown) => error);
    await sleep(300);
    await other.close();
    await stopped;
    const [halfDone] = await t.batches.listBatches({ parentBatchId: root.batchId, limit: 1 });
    expect((await t.batches.getItems(halfDone.id)).map((item) => item.status)).toEqual(['pending']);
    // The orphaned leaf is another tree now: its reprocess is not refused, and copies row 7 again.
    const fromLeaf = await t.batches.reprocessBatch(leaf.batchId).catch((error: unknown) => error);
    await t.batches.processBatch(halfDone.id);
    expect({ fromLeaf, applied: (await appliedCounts()).get(7) }).toMatchObject({ applied: 1 });
  });

  // Found by this file: when a helper run stopped the batch, the owner's next lease renewal took it for a
  // lost lease and rejected with LeaseLostError. Now the owner settles with the ended batch.
  it('the owner of a run that a helper stopped settles with the failed batch, not a lease it never lost', async () => {
    processor.failing.add(12);
    processor.slow.add(0);
    processor.slow.add(5);
    const batch = await t.batches.createBatch('attack_row', rows(40));
    const options = { concurrency: 2, continueOnError: false };
    const owner = t.batches.processBatch(batch.id, options).catch((error: unknown) => error);
    await sleep(150);
    const helper = t.batches.processBatch(batch.id, options).catch((error: unknown) => error);
    const [ownerOutcome, helperOutcome] = await Promise.all([owner, helper]);
    expect(helperOutcome).toMatchObject({ status: 'failed' });
    expect(ownerOutcome).toMatchObject({ status: 'failed' });
  });
});
