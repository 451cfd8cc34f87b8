import { EventSubscriber, type EntitySubscriberInterface } from 'typeorm';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { StatementLog } from '../support/statement-log';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/**
 * What TypeORM tells its subscribers of the data source's transactions. (One that listens after a commit
 * or before a start turns the chain off: see `chained-transactions-attack.e2e.spec.ts`.)
 */
@EventSubscriber()
class TransactionEvents implements EntitySubscriberInterface {
  static seen: string[] = [];
  beforeTransactionCommit(): void {
    TransactionEvents.seen.push('before commit');
  }
  afterTransactionStart(): void {
    TransactionEvents.seen.push('after start');
  }
  afterTransactionRollback(): void {
    TransactionEvents.seen.push('after rollback');
  }
}

/**
 * Inserts `n` into `chained` in the item's transaction. Before each row, it reads from a connection of its
 * own how many rows are committed: every row before it must be, or a row did not commit on its own. Row 3's
 * insert breaks a deferred constraint, so its transaction fails at its commit, not before.
 */
@ImportProcessor()
class ChainedProcessor extends BaseProcessor<Row> {
  seenCommitted: number[] = [];
  committed: () => Promise<number> = () => Promise.resolve(-1);

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    this.seenCommitted.push(await this.committed());
    const { n } = item.sourceData;
    await ctx.query('INSERT INTO chained (n, parent) VALUES ($1, $2)', [n, n === 3 ? -1 : null]);
    return { targetTable: 'chained', targetId: n };
  }
}

/**
 * Reads the database's clock when it begins a row, then takes 300 ms: a row's `completed_at` must come
 * after both (its transaction began before the processor, and in a chain, with the previous commit).
 */
@ImportProcessor()
class SlowRowProcessor extends BaseProcessor<Row> {
  async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>) {
    const began = await ctx.queryOne<{ at: string }>('SELECT clock_timestamp()::text AS at');
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { targetTable: 'clock', targetId: began?.at };
  }
}

describe('per-row transactions chained on one connection (a commit starts the next row)', () => {
  const log = new StatementLog();
  const t = useTestApp([ChainedProcessor, SlowRowProcessor], {
    typeorm: { logger: log, subscribers: [TransactionEvents] },
  });

  beforeAll(async () => {
    await t.dataSource.query(`
      CREATE TABLE chained (
        n integer PRIMARY KEY,
        parent integer REFERENCES chained (n) DEFERRABLE INITIALLY DEFERRED
      )`);
    const reader = await t.connect();
    t.app.get(ChainedProcessor).committed = async () => {
      const { rows } = await reader.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM chained',
      );
      return rows[0].count;
    };
  });

  it('commits each row before the next runs; a row that fails at its commit fails alone', async () => {
    const processor = t.app.get(ChainedProcessor);
    const batch = await t.batches.createBatch(
      'chained',
      Array.from({ length: 6 }, (_, n) => ({ n })),
    );
    log.clear();
    TransactionEvents.seen = [];
    const summary = await t.batches.processBatch(batch.id, { continueOnError: true });

    expect(summary).toMatchObject({ completedItems: 5, failedItems: 1 });
    // Row n saw every earlier row committed but row 3 (which failed): the commit of a row is not
    // deferred to a later one.
    expect(processor.seenCommitted).toEqual([0, 1, 2, 3, 3, 4]);
    const [failed] = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed).toMatchObject({ itemIndex: 3, attempts: 1 });
    expect(failed.errorMessage).toMatch(/foreign key/);
    const rows = await t.dataSource.query<Array<{ n: number }>>('SELECT n FROM chained ORDER BY n');
    expect(rows.map((row) => row.n)).toEqual([0, 1, 2, 4, 5]);
    // One round trip ends a row and starts the next, but after a failed commit, which starts nothing.
    expect(
      log.statements.filter((query) => /^(START TRANSACTION|COMMIT|ROLLBACK)/.test(query)),
    ).toEqual([
      'START TRANSACTION',
      'COMMIT; START TRANSACTION',
      'COMMIT; START TRANSACTION',
      'COMMIT; START TRANSACTION',
      'COMMIT; START TRANSACTION',
      'ROLLBACK',
      'START TRANSACTION',
      'COMMIT; START TRANSACTION',
      'COMMIT',
    ]);
    // Subscribers hear of every transaction, chained or not, as TypeORM's own start and commit tell them.
    const committed = ['before commit', 'after start'];
    expect(TransactionEvents.seen).toEqual([
      'after start',
      ...committed,
      ...committed,
      ...committed,
      'before commit',
      'after rollback',
      'after start',
      ...committed,
      'before commit',
    ]);
  });

  it('leaves no transaction open when the run stops between rows', async () => {
    const batch = await t.batches.createBatch(
      'chained',
      Array.from({ length: 40 }, (_, i) => ({ n: 1000 + i })),
    );
    const processor = t.app.get(ChainedProcessor);
    const committed = processor.committed;
    // The pause comes while the third row runs: the run stops before a later row, with that row's
    // transaction already started by the commit of the one before.
    const third = processor.seenCommitted.length + 2;
    processor.committed = async () => {
      const seen = await committed();
      if (processor.seenCommitted.length === third) await t.batches.pauseBatch(batch.id);
      return seen;
    };
    try {
      const summary = await t.batches.processBatch(batch.id);
      expect(summary.status).toBe('paused');
    } finally {
      processor.committed = committed;
    }
    const open = await t.dataSource.query<unknown[]>(
      `SELECT pid FROM pg_stat_activity
       WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    expect(open).toEqual([]);
    const [{ count }] = await t.dataSource.query<Array<{ count: number }>>(
      `SELECT count(*)::int AS count FROM import_batch_items
       WHERE batch_id = $1 AND status = 'processing'`,
      [batch.id],
    );
    expect(count).toBe(0);
  });

  it.each([
    ['per row', {}],
    ['in chunks', { commitEvery: 2 }],
  ])(
    "records a row's completed_at when its outcome is written, not when its transaction began (%s)",
    async (_mode, options) => {
      const batch = await t.batches.createBatch(
        'slow_row',
        Array.from({ length: 3 }, (_, n) => ({ n })),
      );
      expect(await t.batches.processBatch(batch.id, options)).toMatchObject({ completedItems: 3 });
      const rows = await t.dataSource.query<Array<{ after: boolean }>>(
        `SELECT completed_at >= target_id::timestamptz + interval '250 milliseconds' AS after
         FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
        [batch.id],
      );
      expect(rows).toEqual([{ after: true }, { after: true }, { after: true }]);
    },
  );
});
