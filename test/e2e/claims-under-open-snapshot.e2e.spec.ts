import type { Client } from 'pg';
import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import { ItemStore } from '../../lib/processing/item-store';
import { claimPendingItems } from '../../lib/processing/statements/items.statements';
import { useTestApp } from '../support/use-test-app';

/** Rows it has run, in order; at `onReach.at` it calls `onReach.call` first. */
const seen: number[] = [];
let onReach: { at: number; call: () => Promise<void> } | null = null;

@ImportProcessor()
class SnapshotProbeProcessor extends BaseProcessor<{ n: number }> {
  async processItem(item: ImportItem<{ n: number }>): Promise<void> {
    if (onReach && item.itemIndex === onReach.at) {
      const { call } = onReach;
      onReach = null;
      await call();
    }
    seen.push(item.itemIndex);
  }
}

/**
 * A claim takes pending items from the index of pending items. The entries of the versions that claims
 * made dead stay until vacuum removes them, and while another session holds an old snapshot (a report, a
 * forgotten `BEGIN`) vacuum cannot: a claim that starts at the batch's first row visits every one of them,
 * so that the claims of a large batch grow with every row done. A run's claims start past what it claimed.
 */
describe('claims while another session holds a snapshot open', () => {
  const t = useTestApp([SnapshotProbeProcessor]);
  let holder: Client;

  beforeEach(async () => {
    holder = await t.connect();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM import_batches');
    seen.length = 0;
    onReach = null;
  });

  afterEach(async () => {
    await holder.query('ROLLBACK');
  });

  /** A node of a plan in EXPLAIN's JSON. */
  interface PlanNode {
    'Index Name'?: string;
    'Shared Hit Blocks': number;
    'Shared Read Blocks': number;
    Plans?: PlanNode[];
  }
  const findScan = (node: PlanNode, index: string): PlanNode | undefined =>
    node['Index Name'] === index
      ? node
      : (node.Plans ?? []).map((child) => findScan(child, index)).find(Boolean);

  /**
   * The shared buffers the scan of pending items of a claim from `fromIndex` touches, measured by
   * EXPLAIN ANALYZE and rolled back.
   */
  const buffersOfClaim = async (batchId: string, fromIndex: number): Promise<number> => {
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      const claim = claimPendingItems({
        batchId,
        workerId: 'snapshot-probe',
        leaseMs: 60_000,
        limit: 25,
        fromIndex,
      });
      const explained: unknown = await runner.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${claim.text}`,
        claim.values,
      );
      const [{ 'QUERY PLAN': plan }] = explained as Array<{
        'QUERY PLAN': Array<{ Plan: PlanNode }>;
      }>;
      const scan = findScan(plan[0].Plan, 'IDX_import_batch_items_pending');
      if (!scan) throw new Error(`the claim does not scan the index of pending items`);
      return scan['Shared Hit Blocks'] + scan['Shared Read Blocks'];
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  };

  it('a claim from past the claimed rows does not visit the versions they left dead', async () => {
    const count = 20_000;
    const batch = await t.batches.createBatch(
      'snapshot_probe',
      Array.from({ length: count }, (_, n) => ({ n })),
    );
    await t.dataSource.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [
      batch.id,
    ]);
    // As claims and outcomes would leave them: 19,000 rows done, while the snapshot is open.
    await t.dataSource.query(
      `UPDATE import_batch_items SET status = 'completed' WHERE batch_id = $1 AND item_index < $2`,
      [batch.id, count - 1000],
    );
    const fromStart = await buffersOfClaim(batch.id, 0);
    const fromCursor = await buffersOfClaim(batch.id, count - 1000);
    // From the start, the scan reads the heap page of every dead version: hundreds of pages; from past
    // them, a few index pages and the pages of the 25 rows it takes.
    expect(fromStart).toBeGreaterThan(200);
    expect(fromCursor).toBeLessThan(20);
  });

  it('a claim past every pending row looks again from the start, and moves its cursor only forward', async () => {
    const batch = await t.batches.createBatch(
      'snapshot_probe',
      Array.from({ length: 100 }, (_, n) => ({ n })),
    );
    await t.dataSource.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [
      batch.id,
    ]);
    await t.dataSource.query(
      `UPDATE import_batch_items SET status = 'completed' WHERE batch_id = $1 AND item_index >= 10`,
      [batch.id],
    );
    const items = t.app.get(ItemStore);
    const cursor = { fromIndex: 60 };

    const claimed = await items.claim(batch.id, 'snapshot-probe', 60_000, 4, cursor);
    expect(claimed.map((item) => item.itemIndex)).toEqual([0, 1, 2, 3]);
    expect(cursor.fromIndex).toBe(60);

    const rest = await items.claim(batch.id, 'snapshot-probe', 60_000, 25, cursor);
    expect(rest.map((item) => item.itemIndex)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(await items.claim(batch.id, 'snapshot-probe', 60_000, 25, cursor)).toEqual([]);
  });

  it('still claims a row that was locked when the claims passed it, before the batch ends', async () => {
    const batch = await t.batches.createBatch(
      'snapshot_probe',
      Array.from({ length: 300 }, (_, n) => ({ n })),
    );
    // A correction of row 3 in progress: the claims skip it (SKIP LOCKED) and move on past it.
    const correction = await t.connect();
    await correction.query('BEGIN');
    await correction.query(
      'SELECT 1 FROM import_batch_items WHERE batch_id = $1 AND item_index = 3 FOR UPDATE',
      [batch.id],
    );
    onReach = { at: 200, call: () => correction.query('COMMIT').then(() => undefined) };

    const done = await t.batches.processBatch(batch.id);

    expect(done.status).toBe('completed');
    expect(done.completedItems).toBe(300);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // Row 3 came after the rows the claims had passed when its lock was let go.
    expect(seen.indexOf(3)).toBeGreaterThan(seen.indexOf(200));
  });

  it('claims rows given back behind the claims by another run, at concurrency 4', async () => {
    const batch = await t.batches.createBatch(
      'snapshot_probe',
      Array.from({ length: 400 }, (_, n) => ({ n })),
    );
    // Rows 10 to 19 as a run that died leaves them, its lease long gone, and rows 20 to 29 as a paused
    // run gives them back: both behind where this run's claims are when it finds them.
    onReach = {
      at: 250,
      call: async () => {
        await t.dataSource.query(
          `UPDATE import_batch_items SET status = 'processing', locked_by = 'dead-run',
             locked_until = now() - interval '1 minute', completed_at = NULL
           WHERE batch_id = $1 AND item_index BETWEEN 10 AND 19`,
          [batch.id],
        );
        await t.dataSource.query(
          `UPDATE import_batch_items SET status = 'pending', completed_at = NULL
           WHERE batch_id = $1 AND item_index BETWEEN 20 AND 29`,
          [batch.id],
        );
      },
    };

    const done = await t.batches.processBatch(batch.id, { concurrency: 4 });

    expect(done.status).toBe('completed');
    const [{ left }] = await t.dataSource.query<Array<{ left: number }>>(
      `SELECT count(*)::int AS left FROM import_batch_items WHERE batch_id = $1 AND status <> 'completed'`,
      [batch.id],
    );
    expect(left).toBe(0);
    // Rows 10 to 29 ran twice (the test took them back after they were done); every other row once.
    const runs = new Map<number, number>();
    for (const index of seen) runs.set(index, (runs.get(index) ?? 0) + 1);
    for (let index = 0; index < 400; index++)
      expect([index, runs.get(index)]).toEqual([index, index >= 10 && index <= 29 ? 2 : 1]);
  });
});
