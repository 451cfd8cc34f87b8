import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import {
  COMPLETES_ITEMS,
  loseConnectionOn,
  type DatabaseFault,
  type FaultKind,
} from '../support/database-faults';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Applies each row by inserting it, in the row's transaction. */
@ImportProcessor()
class OutcomeProbeProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('INSERT INTO outcome_applied (n) VALUES ($1)', [item.sourceData.n], {
      prepare: true,
    });
  }
}

const ROWS = 60;

/**
 * The statement that records a row's outcome loses its connection, inside the row's transaction: per row
 * on the connection whose commit started that transaction (the chain), or a chunk's outcome. The row's work
 * and its outcome roll back together, and the row is tried again on another connection: every row is in
 * once, none stays in flight, no connection is left in a transaction.
 */
describe('an outcome that loses its connection', () => {
  const t = useTestApp([OutcomeProbeProcessor]);
  const faults: DatabaseFault[] = [];

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE outcome_applied (n integer NOT NULL)');
  });
  afterEach(async () => {
    for (const fault of faults.splice(0)) await fault.disarm();
    await t.dataSource.query('TRUNCATE outcome_applied');
  });

  const failOutcomes = async (nths: number[], kind: FaultKind) => {
    for (const nth of nths)
      faults.push(await loseConnectionOn(t.db.url, COMPLETES_ITEMS, nth, kind));
  };

  const expectEveryRowOnce = async (batchId: string) => {
    const [applied] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM outcome_applied',
    );
    expect(applied).toEqual({ total: ROWS, distinct: ROWS });
    expect(await t.batches.getBatchSummary(batchId)).toMatchObject({
      status: 'completed',
      completedItems: ROWS,
      processingItems: 0,
      pendingItems: 0,
    });
    // The counters agree with the rows: a rolled-back outcome counted nothing.
    expect(await t.batches.getProgress(batchId)).toMatchObject({ completed: ROWS, inFlight: 0 });
    const [open] = await t.dataSource.query<Array<{ count: number }>>(
      `SELECT count(*)::int AS count FROM pg_stat_activity
       WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    expect(open.count).toBe(0);
  };

  /** How many tries the rows took, beyond one each. */
  const retries = async (batchId: string) => {
    const [row] = await t.dataSource.query<Array<{ extra: number }>>(
      `SELECT (sum(attempts) - count(*))::int AS extra FROM import_batch_items WHERE batch_id = $1`,
      [batchId],
    );
    return row.extra;
  };

  it.each<[string, FaultKind]>([
    ['its backend is terminated', 'terminate'],
    ['it fails as a lost connection would, the connection living on', 'error'],
  ])('per row, chained: %s — the row is tried again, every row in once', async (_how, kind) => {
    const batch = await t.batches.createBatch(
      'outcome_probe',
      Array.from({ length: ROWS }, (_, n) => ({ n })),
    );
    await failOutcomes([10, 30], kind);
    await t.batches.processBatch(batch.id);
    await expectEveryRowOnce(batch.id);
    expect(await retries(batch.id)).toBe(2);
  });

  it('per row, four lanes: the lanes that lost an outcome go on, every row in once', async () => {
    const batch = await t.batches.createBatch(
      'outcome_probe',
      Array.from({ length: ROWS }, (_, n) => ({ n })),
    );
    await failOutcomes([5, 6, 25], 'terminate');
    await t.batches.processBatch(batch.id, { concurrency: 4 });
    await expectEveryRowOnce(batch.id);
    expect(await retries(batch.id)).toBeGreaterThanOrEqual(3);
  });

  it("in chunks: a chunk's outcome that loses its backend rolls the chunk back, and its rows run again", async () => {
    const batch = await t.batches.createBatch(
      'outcome_probe',
      Array.from({ length: ROWS }, (_, n) => ({ n })),
    );
    await failOutcomes([2], 'terminate');
    await t.batches.processBatch(batch.id, { commitEvery: 10 });
    await expectEveryRowOnce(batch.id);
    // The fault fired (the second chunk's outcome), and that chunk's rows ran again one by one, each
    // with an outcome of its own: 6 chunk outcomes (the lost one counted), then 10 row outcomes.
    expect(await faults[0].matched()).toBe(6 + 10);
  });
});
