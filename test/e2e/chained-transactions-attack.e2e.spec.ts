import type { Client } from 'pg';
import {
  EventSubscriber,
  type EntitySubscriberInterface,
  type Logger,
  type TransactionCommitEvent,
  type TransactionStartEvent,
} from 'typeorm';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { useTestApp } from '../support/use-test-app';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';

// Attacks on per-row transactions chained on one connection (`TransactionChain`): a row's commit starts
// the next row's transaction, which then waits, open, for the next row.

interface Row {
  n: number;
  /** What the row does besides inserting `n` into `applied` in its transaction. */
  act?:
    | 'hang'
    | 'nested'
    | 'swallow'
    | 'conflict'
    | 'deadlock'
    | 'steal'
    | 'kill-after-commit'
    | 'audit-after-commit'
    | 'throw'
    | 'gate';
}

/** Hears the starts of the data source's transactions; may act after one, as a subscriber can. */
@EventSubscriber()
class AfterStart implements EntitySubscriberInterface {
  /** How many backends `kill-after-commit` terminated. */
  static killed = 0;
  static act: ((event: TransactionStartEvent) => Promise<void>) | null = null;

  async afterTransactionStart(event: TransactionStartEvent): Promise<void> {
    const act = AfterStart.act;
    AfterStart.act = null;
    await act?.(event);
  }
}

/** Hears the commits of the data source's transactions; may act after one, as a subscriber can. */
@EventSubscriber()
class AfterCommit implements EntitySubscriberInterface {
  static act: ((event: TransactionCommitEvent) => Promise<void>) | null = null;

  async afterTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    const act = AfterCommit.act;
    AfterCommit.act = null;
    await act?.(event);
  }
}

/** Counts the chained commits the data source sends. */
class ChainLog implements Logger {
  chained = 0;
  logQuery(query: string): void {
    if (query === 'COMMIT; START TRANSACTION') this.chained++;
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

@ImportProcessor({ batchType: 'chain_attack' })
class ChainAttackProcessor extends BaseProcessor<Row> {
  admin!: Client;
  gate = new Gate();
  /** Per row run (every try): how many rows `applied` held, committed, as it began. */
  seenCommitted: number[] = [];
  /** Per row run: the transaction-local setting a row before it set, as this row saw it. */
  seenSetting: Array<string | null> = [];
  private readonly tried = new Set<string>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    const { n, act } = item.sourceData;
    const first = !this.tried.has(`${item.batchId}/${n}`);
    this.tried.add(`${item.batchId}/${n}`);
    const { rows } = await this.admin.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM applied',
    );
    this.seenCommitted.push(rows[0].count);
    const [setting] = await ctx.query<{ value: string | null }>(
      `SELECT nullif(current_setting('attack.row', true), '') AS value`,
    );
    this.seenSetting.push(setting.value);
    await ctx.query(`SELECT set_config('attack.row', $1, true)`, [String(n)]);

    if (act === 'nested') {
      // A savepoint that commits, and one that rolls back, inside the row's transaction.
      await ctx.manager.transaction((manager) =>
        manager.query('INSERT INTO applied (n) VALUES ($1)', [n]),
      );
      await ctx.manager
        .transaction(async (manager) => {
          await manager.query('INSERT INTO applied (n) VALUES ($1)', [n + 10_000]);
          throw new Error('inner');
        })
        .catch(() => undefined);
      return { targetTable: 'applied', targetId: n };
    }
    await ctx.query('INSERT INTO applied (n) VALUES ($1)', [n]);
    if (act === 'swallow') {
      // A unique violation caught without a savepoint: the transaction is aborted, the error swallowed.
      await ctx.query('INSERT INTO applied (n) VALUES ($1)', [n]).catch(() => undefined);
    }
    if (act === 'hang') await new Promise(() => undefined);
    if (act === 'gate') await this.gate.pass();
    if (act === 'throw') throw new Error(`row ${n} refused`);
    if ((act === 'conflict' || act === 'deadlock') && first) {
      const code = act === 'conflict' ? '40001' : '40P01';
      await ctx.query(`DO $$ BEGIN RAISE EXCEPTION 'attack' USING ERRCODE = '${code}'; END $$`);
    }
    if (act === 'steal') {
      // Another worker takes over the rest of the claim, as it would once its lease had run out.
      await this.admin.query(
        `UPDATE import_batch_items SET locked_by = 'intruder', locked_until = now() + interval '1 hour'
         WHERE batch_id = $1 AND item_index > $2 AND status = 'processing'`,
        [item.batchId, item.itemIndex],
      );
    }
    if (act === 'kill-after-commit') {
      // The backend dies after this row's commit, while the next row's transaction waits on it, idle.
      AfterStart.act = async (event) => {
        const runner = event.queryRunner as unknown as {
          databaseConnection: { processID: number };
          isReleased: boolean;
        };
        await this.admin.query('SELECT pg_terminate_backend($1)', [
          runner.databaseConnection.processID,
        ]);
        await waitFor(() => runner.isReleased, { what: 'the runner released on its lost backend' });
        AfterStart.killed++;
      };
    }
    if (act === 'audit-after-commit') {
      // A subscriber that writes once the row's transaction committed: on its own, not in the next row.
      AfterCommit.act = async (event) => {
        await event.queryRunner.query('INSERT INTO audit (n) VALUES ($1)', [n]);
      };
    }
    return { targetTable: 'applied', targetId: n };
  }
}

/** `count` rows, numbered from 0; `acts` says what some of them do. */
const rowsOf = (count: number, acts: Record<number, Row['act']>): Row[] =>
  Array.from({ length: count }, (_, n) => ({ n, act: acts[n] }));

/** The app of a describe block, with `applied` and `audit`, and the processor's own connection. */
function useAttackApp(options: { logger?: Logger; subscribers: Array<new () => unknown> }) {
  const t = useTestApp([ChainAttackProcessor], {
    module: { leaseMs: 2000 },
    typeorm: { logger: options.logger, subscribers: options.subscribers },
  });
  const handle = {
    t,
    admin: undefined as unknown as Client,
    processor: undefined as unknown as ChainAttackProcessor,
    applied: async (): Promise<number[]> =>
      (await handle.admin.query<{ n: number }>('SELECT n FROM applied ORDER BY n')).rows.map(
        (r) => r.n,
      ),
  };
  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE applied (n integer PRIMARY KEY)');
    await t.dataSource.query('CREATE TABLE audit (n integer NOT NULL)');
    handle.admin = await t.connect();
    handle.processor = t.app.get(ChainAttackProcessor);
    handle.processor.admin = handle.admin;
  });
  beforeEach(async () => {
    await handle.admin.query('TRUNCATE applied, audit');
    handle.processor.seenCommitted = [];
    handle.processor.seenSetting = [];
    AfterStart.act = null;
    AfterCommit.act = null;
  });
  return handle;
}

/** No connection of the app other than `admin` in a transaction or a statement. */
async function allIdle(admin: Client): Promise<boolean> {
  const { rowCount } = await admin.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
     AND pid <> pg_backend_pid() AND state <> 'idle'`,
  );
  return rowCount === 0;
}

describe('attacks on per-row transactions chained on one connection', () => {
  const log = new ChainLog();
  const h = useAttackApp({ logger: log, subscribers: [AfterStart] });
  const { t } = h;
  const applied = () => h.applied();

  /** Nothing of the run is left open: no transaction idle on the database, no item still claimed. */
  async function expectNothingOpen(batchId: string): Promise<void> {
    await waitFor(() => allIdle(h.admin), {
      what: 'no connection of the app left in a transaction or a statement',
    });
    expect(await t.batches.getBatchSummary(batchId)).toMatchObject({ processingItems: 0 });
  }

  afterAll(() => {
    // The attacks met the chain: rows were committed with the next one's start.
    expect(log.chained).toBeGreaterThan(0);
  });

  it('a row that times out in its pre-started transaction fails alone; the rest commit, each on its own', async () => {
    const batch = await t.batches.createBatch('chain_attack', rowsOf(5, { 2: 'hang' }));
    const summary = await t.batches.processBatch(batch.id, {
      continueOnError: true,
      itemTimeoutMs: 500,
    });
    expect(summary).toMatchObject({ completedItems: 4, failedItems: 1, pendingItems: 0 });
    const [failed] = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed).toMatchObject({ itemIndex: 2, errorDetails: { code: 'ITEM_TIMEOUT' } });
    expect(await applied()).toEqual([0, 1, 3, 4]);
    await expectNothingOpen(batch.id);
  });

  it('nested transactions (savepoints) in chained rows: the inner commit stays, the inner rollback goes', async () => {
    const batch = await t.batches.createBatch(
      'chain_attack',
      rowsOf(3, { 0: 'nested', 1: 'nested', 2: 'nested' }),
    );
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ completedItems: 3, failedItems: 0 });
    expect(await applied()).toEqual([0, 1, 2]);
    // Each row began with every row before it committed.
    expect(h.processor.seenCommitted).toEqual([0, 1, 2]);
    await expectNothingOpen(batch.id);
  });

  it('a row that swallows an error of its aborted transaction fails; the next row starts afresh', async () => {
    const batch = await t.batches.createBatch(
      'chain_attack',
      rowsOf(5, { 1: 'swallow', 3: 'swallow' }),
    );
    const summary = await t.batches.processBatch(batch.id, { continueOnError: true });
    expect(summary).toMatchObject({ completedItems: 3, failedItems: 2 });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.itemIndex)).toEqual([1, 3]);
    expect(failed[0].errorMessage).toMatch(/current transaction is aborted/);
    expect(await applied()).toEqual([0, 2, 4]);
    await expectNothingOpen(batch.id);
  });

  it('a transaction-local setting of a row does not reach the next row', async () => {
    const batch = await t.batches.createBatch('chain_attack', rowsOf(6, { 3: 'throw' }));
    await t.batches.processBatch(batch.id, { continueOnError: true });
    expect(h.processor.seenSetting).toEqual([null, null, null, null, null, null]);
  });

  it.each(['conflict', 'deadlock'] as const)(
    'a %s on a chained row is tried again on its own: the row applies once, the rows around it too',
    async (act) => {
      const batch = await t.batches.createBatch('chain_attack', rowsOf(5, { 1: act, 3: act }));
      const summary = await t.batches.processBatch(batch.id, { maxAttempts: 3 });
      expect(summary).toMatchObject({ completedItems: 5, failedItems: 0 });
      expect(await applied()).toEqual([0, 1, 2, 3, 4]);
      const items = await t.batches.getItems(batch.id);
      expect(items.map((item) => item.attempts)).toEqual([1, 2, 1, 2, 1]);
      // Row 1's first try saw row 0 committed; its second try too, and no more.
      expect(h.processor.seenCommitted).toEqual([0, 1, 1, 2, 3, 3, 4]);
      await expectNothingOpen(batch.id);
    },
  );

  it('a pause while a row runs: the row commits, the next row started by its commit is rolled back', async () => {
    h.processor.gate = new Gate();
    const batch = await t.batches.createBatch('chain_attack', rowsOf(5, { 2: 'gate' }));
    const run = t.batches.processBatch(batch.id);
    await h.processor.gate.entered;
    await t.batches.pauseBatch(batch.id);
    h.processor.gate.release();
    // A pause lets the row in flight finish; no later row runs.
    expect(await run).toMatchObject({ status: 'paused', completedItems: 3, pendingItems: 2 });
    expect(h.processor.seenCommitted).toEqual([0, 1, 2]);
    expect(await applied()).toEqual([0, 1, 2]);
    await expectNothingOpen(batch.id);
  });

  it('a cancel while a chained row runs: the row in flight finishes, no later row runs, nothing left open', async () => {
    h.processor.gate = new Gate();
    const batch = await t.batches.createBatch('chain_attack', rowsOf(5, { 1: 'gate' }));
    const run = t.batches.processBatch(batch.id).catch((error: unknown) => error);
    await h.processor.gate.entered;
    await t.batches.cancelBatch(batch.id);
    h.processor.gate.release();
    await run;
    // A cancel, like a pause, lets the row in flight finish.
    expect(h.processor.seenCommitted).toEqual([0, 1]);
    expect(await applied()).toEqual([0, 1]);
    expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
      status: 'cancelled',
      completedItems: 2,
    });
    await expectNothingOpen(batch.id);
  });

  it('four lanes, each chaining its rows, with failures, swallowed errors and conflicts among them', async () => {
    const acts: Record<number, Row['act']> = {};
    for (let n = 0; n < 60; n++) {
      if (n % 7 === 3) acts[n] = 'throw';
      else if (n % 11 === 5) acts[n] = 'swallow';
      else if (n % 13 === 6) acts[n] = 'conflict';
      else if (n % 17 === 8) acts[n] = 'nested';
    }
    const batch = await t.batches.createBatch('chain_attack', rowsOf(60, acts));
    const summary = await t.batches.processBatch(batch.id, {
      concurrency: 4,
      continueOnError: true,
      maxAttempts: 3,
    });
    const fails = (n: number) => acts[n] === 'throw' || acts[n] === 'swallow';
    const expected = Array.from({ length: 60 }, (_, n) => n).filter((n) => !fails(n));
    expect(summary).toMatchObject({
      completedItems: expected.length,
      failedItems: 60 - expected.length,
    });
    expect(await applied()).toEqual(expected);
    await expectNothingOpen(batch.id);
  });

  it('a claim taken over mid-way: the rows after the take-over are fenced out, none applied by this run', async () => {
    const batch = await t.batches.createBatch('chain_attack', rowsOf(5, { 1: 'steal' }));
    const run = t.batches.processBatch(batch.id);
    // Rows 2 to 4 run, each in the transaction the commit before it started, and meet the take-over;
    // then the run waits for the intruder's rows, with nothing of its own open.
    await waitFor(async () => h.processor.seenCommitted.length === 5 && (await allIdle(h.admin)), {
      what: 'the rows taken over met and rolled back',
    });
    expect(await applied()).toEqual([0, 1]);
    // The intruder gives them back: the run takes them again, each applied once.
    await h.admin.query(
      `UPDATE import_batch_items SET status = 'pending', locked_by = NULL, locked_until = NULL
       WHERE batch_id = $1 AND locked_by = 'intruder'`,
      [batch.id],
    );
    expect(await run).toMatchObject({ completedItems: 5, failedItems: 0 });
    expect(await applied()).toEqual([0, 1, 2, 3, 4]);
    await expectNothingOpen(batch.id);
  });

  it('a backend lost after a commit, with the next row started on it: the row is tried again, none lost or applied twice', async () => {
    AfterStart.killed = 0;
    const batch = await t.batches.createBatch(
      'chain_attack',
      rowsOf(6, { 1: 'kill-after-commit', 4: 'kill-after-commit' }),
    );
    const summary = await t.batches.processBatch(batch.id, { maxAttempts: 3 });
    expect(AfterStart.killed).toBe(2);
    expect(summary).toMatchObject({ completedItems: 6, failedItems: 0 });
    expect(await applied()).toEqual([0, 1, 2, 3, 4, 5]);
    await expectNothingOpen(batch.id);
  });

  it('the same with one attempt: the row starts afresh on another connection, and spends no attempt on it', async () => {
    AfterStart.killed = 0;
    const batch = await t.batches.createBatch(
      'chain_attack',
      rowsOf(4, { 1: 'kill-after-commit' }),
    );
    const summary = await t.batches.processBatch(batch.id, { maxAttempts: 1 });
    expect(AfterStart.killed).toBe(1);
    expect(summary).toMatchObject({ completedItems: 4, failedItems: 0 });
    const items = await t.batches.getItems(batch.id, { status: 'completed' });
    expect(items.map((item) => item.attempts)).toEqual([1, 1, 1, 1]);
    expect(await applied()).toEqual([0, 1, 2, 3]);
    await expectNothingOpen(batch.id);
  });
});

describe('a subscriber that acts after a commit, with per-row transactions', () => {
  const h = useAttackApp({ subscribers: [AfterCommit] });
  const { t } = h;

  it("a subscriber's write after a row's commit is not undone by the next row's failure", async () => {
    const batch = await t.batches.createBatch(
      'chain_attack',
      rowsOf(2, { 0: 'audit-after-commit', 1: 'throw' }),
    );
    const summary = await t.batches.processBatch(batch.id, { continueOnError: true });
    expect(summary).toMatchObject({ completedItems: 1, failedItems: 1 });
    const { rows } = await h.admin.query<{ n: number }>('SELECT n FROM audit');
    expect(rows).toEqual([{ n: 0 }]);
  });
});
