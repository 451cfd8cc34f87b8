import type { Logger as TypeOrmLogger } from 'typeorm';
import {
  BaseProcessor,
  ImportProcessor,
  ProcessingInterruptedError,
  type ImportContext,
  type ImportItem,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { createTestApp, type TestApp, type TestAppOptions } from '../fixtures/test-app';
import { startPgBouncer, type RunningPgBouncer } from '../support/pgbouncer';
import { preparedStatementWarnings } from '../support/statement-log';
import { useTestDatabase } from '../support/use-test-app';

interface Row {
  n: number;
  /** What the row does besides its insert, on its first try only. */
  act?: 'fail' | 'deallocate' | 'deallocate-then-fail' | 'terminate' | 'sleep';
}

const INSERT = 'INSERT INTO prepared_applied (n) VALUES ($1) RETURNING n';
const SLEEP = 'SELECT pg_sleep(0.2)';
const CREATE_TABLE = 'CREATE TABLE IF NOT EXISTS prepared_applied (n integer NOT NULL)';

/** What one try of a row saw of its own connection's prepared statements. */
interface Seen {
  n: number;
  /** The texts prepared on the connection of the row's transaction, after the row's own insert. */
  texts: string[];
}

/** Inserts its row with a prepared statement of its own, and notes what its connection holds prepared. */
@ImportProcessor({ batchType: 'prepared_row' })
class PreparedRowProcessor extends BaseProcessor<Row> {
  readonly seen: Seen[] = [];
  private readonly acted = new Set<number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const { n, act } = item.sourceData;
    const first = !this.acted.has(n);
    this.acted.add(n);
    if (act === 'terminate' && first) {
      await ctx.query('SELECT pg_terminate_backend(pg_backend_pid())', [], { prepare: true });
    }
    if (act === 'sleep') await ctx.query(SLEEP, [], { prepare: true });
    const inserted = await ctx.query<{ n: number }>(INSERT, [n], { prepare: true });
    if (inserted.length !== 1) throw new Error('no row returned');
    const prepared = await ctx.query<{ statement: string }>(
      'SELECT statement FROM pg_prepared_statements',
    );
    this.seen.push({ n, texts: prepared.map((row) => row.statement) });
    // Prepared statements vanish from under the driver, as behind a pooler that lends another connection.
    if (act?.startsWith('deallocate') && first) await ctx.query('DEALLOCATE ALL');
    if ((act === 'fail' || act === 'deallocate-then-fail') && first) {
      throw new Error(`row ${n} is bad`);
    }
  }
}

describe('prepared statements', () => {
  const file = useTestDatabase();

  async function app(
    module: ReliableImportsModuleOptions = {},
    url = file.db.url,
    typeorm: TestAppOptions['typeorm'] = {},
  ): Promise<TestApp> {
    const t = await createTestApp(url, [PreparedRowProcessor], { module, typeorm });
    file.closeBeforeCheck(() => t.close());
    await t.dataSource.query(CREATE_TABLE);
    await t.dataSource.query('TRUNCATE prepared_applied');
    return t;
  }

  const rows = (count: number, acts: Record<number, Row['act']> = {}): Row[] =>
    Array.from({ length: count }, (_, n) => ({ n, ...(acts[n] ? { act: acts[n] } : {}) }));

  const isCompletion = (text: string): boolean =>
    text.includes('UPDATE "import_batch_items"') && text.includes('"processed_data" = $5::jsonb');

  async function appliedOnce(t: TestApp, count: number): Promise<void> {
    const [row] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM prepared_applied',
    );
    expect(row).toEqual({ total: count, distinct: count });
  }

  it("prepares the row's completion on its connection, and the processor's statement when asked", async () => {
    const t = await app();
    const processor = t.app.get(PreparedRowProcessor);
    processor.seen.length = 0;
    const batch = await t.batches.createBatch('prepared_row', rows(20));
    expect(await t.batches.processBatch(batch.id)).toMatchObject({
      status: 'completed',
      completedItems: 20,
    });
    await appliedOnce(t, 20);
    expect(processor.seen.every(({ texts }) => texts.includes(INSERT))).toBe(true);
    // A connection of the pool completed an earlier row before it runs this one's transaction.
    const withCompletion = processor.seen.filter(({ texts }) => texts.some(isCompletion));
    expect(withCompletion.length).toBeGreaterThanOrEqual(10);
  });

  it("goes through TypeORM's logger as TypeORM's own statements do: each query, and the slow ones", async () => {
    const logged: string[] = [];
    const slow: Array<{ ms: number; text: string }> = [];
    const logger: TypeOrmLogger = {
      logQuery: (query) => void logged.push(query),
      logQueryError: () => undefined,
      logQuerySlow: (ms, query) => void slow.push({ ms, text: query }),
      logSchemaBuild: () => undefined,
      logMigration: () => undefined,
      log: () => undefined,
    };
    const t = await app({}, file.db.url, { logger, maxQueryExecutionTime: 100 });
    const batch = await t.batches.createBatch('prepared_row', rows(3, { 1: 'sleep' }));
    logged.length = 0;
    await t.batches.processBatch(batch.id);
    expect(logged.filter((text) => text === INSERT)).toHaveLength(3);
    expect(logged.filter(isCompletion)).toHaveLength(3);
    // Another statement may be slow too on a busy machine: the sleep must be among them.
    expect(slow.filter(({ text }) => text === SLEEP)).toEqual([
      { ms: expect.any(Number) as number, text: SLEEP },
    ]);
  });

  it('prepares nothing with preparedStatements: false, not even what a processor asks for', async () => {
    const t = await app({ preparedStatements: false });
    const processor = t.app.get(PreparedRowProcessor);
    processor.seen.length = 0;
    const batch = await t.batches.createBatch('prepared_row', rows(10));
    await t.batches.processBatch(batch.id, { commitEvery: 4 });
    await appliedOnce(t, 10);
    expect(processor.seen.flatMap(({ texts }) => texts)).toEqual([]);
  });

  it('a prepared statement gone from its connection: one warning, prepared no more, no row fails or counts a try', async () => {
    const t = await app({ maxAttempts: 1 });
    const processor = t.app.get(PreparedRowProcessor);
    processor.seen.length = 0;
    const batch = await t.batches.createBatch('prepared_row', rows(12, { 3: 'deallocate' }));
    const warnings = await preparedStatementWarnings(async () => {
      expect(await t.batches.processBatch(batch.id)).toMatchObject({
        status: 'completed',
        completedItems: 12,
        failedItems: 0,
      });
    });
    expect(warnings).toEqual([expect.stringContaining("connectionPooler: 'transaction'")]);
    await appliedOnce(t, 12);
    const items = await t.batches.getItems(batch.id);
    expect(items.map((item) => item.attempts)).toEqual(Array(12).fill(1));
    // Row 3 was tried twice (its first try's completion found its statement gone): after it, nothing.
    expect(processor.seen.filter(({ n }) => n === 3)).toHaveLength(2);
    const after = processor.seen.slice(processor.seen.map(({ n }) => n).lastIndexOf(3));
    expect(after.flatMap(({ texts }) => texts)).toEqual([]);
  });

  it('in a chunk too: the chunk rolls back, its rows run again one by one, each applied once', async () => {
    const t = await app({ maxAttempts: 1 });
    const batch = await t.batches.createBatch('prepared_row', rows(30, { 14: 'deallocate' }));
    const warnings = await preparedStatementWarnings(async () => {
      expect(await t.batches.processBatch(batch.id, { commitEvery: 10 })).toMatchObject({
        status: 'completed',
        completedItems: 30,
        failedItems: 0,
      });
    });
    expect(warnings).toHaveLength(1);
    await appliedOnce(t, 30);
  });

  it("records a row's own failure, not the statement gone under its record", async () => {
    const t = await app({ maxAttempts: 1 });
    // Row 0's failure prepares the record of a failure, on the connection that row 2 may deallocate.
    const batch = await t.batches.createBatch(
      'prepared_row',
      rows(6, { 0: 'fail', 2: 'deallocate-then-fail' }),
    );
    const warnings = await preparedStatementWarnings(async () => {
      expect(await t.batches.processBatch(batch.id)).toMatchObject({
        completedItems: 4,
        failedItems: 2,
      });
    });
    // Whether the record met its statement gone depends on the connection the pool lent it.
    expect(warnings.length).toBeLessThanOrEqual(1);
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed).toMatchObject([
      { itemIndex: 0, errorMessage: 'row 0 is bad', attempts: 1 },
      { itemIndex: 2, errorMessage: 'row 2 is bad', attempts: 1 },
    ]);
  });

  it("a connection lost in the processor's prepared statement is an outage: the row goes back, pending", async () => {
    const t = await app({ maxAttempts: 1 });
    const batch = await t.batches.createBatch('prepared_row', rows(4, { 1: 'terminate' }));
    await expect(t.batches.processBatch(batch.id)).rejects.toBeInstanceOf(
      ProcessingInterruptedError,
    );
    const [row] = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(row).toBeUndefined();
    expect(await t.batches.processBatch(batch.id)).toMatchObject({
      status: 'completed',
      completedItems: 4,
    });
    await appliedOnce(t, 4);
  });

  /**
   * PgBouncer 1.18 in transaction mode with one server connection: every client connection of the app
   * lands on it, so two of them preparing the same statement meet (42P05), and one finds its statement
   * missing once another client's transaction ran between (26000).
   */
  describe('behind PgBouncer before 1.21 in transaction mode', () => {
    let bouncer: RunningPgBouncer;

    beforeAll(async () => {
      bouncer = await startPgBouncer({ poolSize: 1 });
      file.closeBeforeCheck(() => bouncer.stop());
    });

    it("with connectionPooler 'detect': one warning, then unprepared; every row applied once, none tried twice", async () => {
      const t = await app({ maxAttempts: 1 }, bouncer.urlOf(file.db.url));
      const batch = await t.batches.createBatch('prepared_row', rows(40));
      const warnings = await preparedStatementWarnings(async () => {
        expect(await t.batches.processBatch(batch.id, { concurrency: 3 })).toMatchObject({
          status: 'completed',
          completedItems: 40,
          failedItems: 0,
        });
      });
      expect(warnings).toEqual([expect.stringContaining('PgBouncer before 1.21')]);
      await appliedOnce(t, 40);
      const items = await t.batches.getItems(batch.id, { limit: 100 });
      expect(items.map((item) => item.attempts)).toEqual(Array(40).fill(1));
    });

    it("with connectionPooler 'transaction': nothing prepared, nothing to warn of", async () => {
      const t = await app(
        { connectionPooler: 'transaction', maxAttempts: 1 },
        bouncer.urlOf(file.db.url),
      );
      // What the test before prepared on the one server connection stays there.
      await t.dataSource.query('DEALLOCATE ALL');
      const processor = t.app.get(PreparedRowProcessor);
      processor.seen.length = 0;
      const batch = await t.batches.createBatch('prepared_row', rows(30));
      const warnings = await preparedStatementWarnings(async () => {
        await t.batches.processBatch(batch.id, { concurrency: 3 });
        await t.batches.processBatch(
          (
            await t.batches.createBatch(
              'prepared_row',
              rows(30).map(({ n }) => ({ n: n + 30 })),
            )
          ).id,
          { concurrency: 3, commitEvery: 10 },
        );
      });
      expect(warnings).toEqual([]);
      await appliedOnce(t, 60);
      expect(processor.seen.flatMap(({ texts }) => texts)).toEqual([]);
    });
  });
});
