import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import { claimPendingItems } from '../../lib/processing/statements/items.statements';
import { useTestApp } from '../support/use-test-app';

@ImportProcessor()
class PlanProbeProcessor extends BaseProcessor<{ n: number }> {
  processItem(_item: ImportItem<{ n: number }>): void {}
}

const COUNT = 50_000;

/**
 * A claim runs once per few items, so a claim that walks past every finished item makes a large batch
 * quadratic. The trap: statistics gathered while the batch was all pending make the planner prefer the
 * (batch_id, item_index) index and filter on status.
 */
describe('claim query plan', () => {
  const t = useTestApp([PlanProbeProcessor]);
  let batchId: string;

  /** The claim a run makes first: 25 items from the batch's first row. */
  const firstClaim = () =>
    claimPendingItems({
      batchId,
      workerId: 'plan-probe',
      leaseMs: 60_000,
      limit: 25,
      fromIndex: 0,
    });

  const claimPlan = async (): Promise<string> => {
    const claim = firstClaim();
    const rows = await t.dataSource.query<Array<{ 'QUERY PLAN': string }>>(
      `EXPLAIN ${claim.text}`,
      claim.values,
    );
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  };

  beforeAll(async () => {
    const batch = await t.batches.createBatch(
      'plan_probe',
      Array.from({ length: COUNT }, (_, n) => ({ n })),
    );
    batchId = batch.id;
    await t.dataSource.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [
      batchId,
    ]);
    await t.dataSource.query('ANALYZE import_batch_items');
    // 90% done since the statistics were taken.
    await t.dataSource.query(
      `UPDATE import_batch_items SET status = 'completed' WHERE batch_id = $1 AND item_index < $2`,
      [batchId, COUNT * 0.9],
    );
  });

  it('claims pending items from an index of pending items, even on statistics of an all-pending batch', async () => {
    const plan = await claimPlan();
    expect(plan).not.toContain('UQ_import_batch_items_batch_index');
    expect(plan).toMatch(/IDX_import_batch_items_pending/);
  });

  it('keeps that plan as a prepared statement, run again and again as a run does', async () => {
    const claim = firstClaim();
    const client = await t.connect();
    try {
      // Past the five runs after which PostgreSQL may switch a prepared statement to a generic plan.
      for (let run = 0; run < 8; run++) {
        await client.query('BEGIN');
        await client.query({ name: 'claim_probe', text: claim.text, values: claim.values });
        await client.query('ROLLBACK');
      }
      const values = claim.values.map((value) =>
        typeof value === 'string' ? `'${value}'` : value,
      );
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE claim_probe(${values.join(', ')})`,
      );
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      expect(plan).not.toContain('UQ_import_batch_items_batch_index');
      expect(plan).toMatch(/IDX_import_batch_items_pending/);
    } finally {
      await client.end();
    }
  });

  it("returns every column of the items table but the lease's, by name (a column added later must join the claim's list)", async () => {
    const client = await t.connect();
    try {
      await client.query('BEGIN');
      const claim = firstClaim();
      const { fields } = await client.query(claim.text, claim.values);
      await client.query('ROLLBACK');
      const { rows } = await client.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'import_batch_items'`,
      );
      // The lease is the claim's own business: an item does not carry it.
      const lease = ['locked_by', 'locked_until'];
      expect(fields.map((field) => field.name).sort()).toEqual(
        rows
          .map((row) => row.column_name)
          .filter((name) => !lease.includes(name))
          .sort(),
      );
    } finally {
      await client.end();
    }
  });

  it('claims the next 25 in item order', async () => {
    // An UPDATE through TypeORM answers [rows, affected].
    const claim = firstClaim();
    const [claimed] = await t.dataSource.query<[Array<{ item_index: number }>, number]>(
      claim.text,
      claim.values,
    );
    expect(claimed.map((row) => row.item_index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => COUNT * 0.9 + i),
    );
  });
});
