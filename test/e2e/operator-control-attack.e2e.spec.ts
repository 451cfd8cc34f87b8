import { Readable } from 'node:stream';
import type { Client } from 'pg';
import { DataSource } from 'typeorm';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchStatusConflictError,
  ImportBatchNotFoundError,
  ImportProcessor,
  ITEM_STATUS,
  readJsonl,
  reliableImportsEntities,
  reliableImportsMigrations,
  type BatchService,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp } from '../fixtures/test-app';
import { CREATE_APPLIED_TABLE, startProcessingChild } from '../support/child-process';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';
import { useTestApp, useTestDatabase } from '../support/use-test-app';

/**
 * Attacks on the guarantees of operator control (issue #13): pause, resume and cancel at the worst
 * moments, the progress counters against the rows, error budgets, dry runs, hostile arguments, and the
 * migration on a database that holds data.
 */

interface Row {
  n: number;
  bad?: boolean;
}

/**
 * Writes each row into `applied` (no unique key: a row applied twice shows). `gates` hold the rows whose
 * `n` they are keyed by; `bad` rows fail.
 */
@ImportProcessor()
class AttackProcessor extends BaseProcessor<Row> {
  gates = new Map<number, Gate>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, 0)', [
      item.id,
      item.sourceData.n,
    ]);
    await this.gates.get(item.sourceData.n)?.pass();
    if (item.sourceData.bad) throw new Error(`row ${item.sourceData.n} is bad`);
  }
}

const rows = (count: number, bad: (n: number) => boolean = () => false): Row[] =>
  Array.from({ length: count }, (_, n) => (bad(n) ? { n, bad: true } : { n }));

/** The invariants every attack checks once the runs have settled. */
async function expectSettled(
  admin: Client,
  batches: BatchService,
  batchId: string,
): Promise<Record<string, number>> {
  const { rows: statusRows } = await admin.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 GROUP BY status`,
    [batchId],
  );
  const byStatus: Record<string, number> = Object.fromEntries(
    statusRows.map((row) => [row.status, row.n]),
  );
  const of = (status: string) => byStatus[status] ?? 0;
  // Exactly once: every completed row applied once, no other row applied (the processor applies before
  // it may fail, in the item's transaction, so a failed row's write is rolled back).
  const {
    rows: [applied],
  } = await admin.query<{ rows: number; distinct: number; wrong: number }>(
    `SELECT count(*)::int AS rows, count(DISTINCT a.item_id)::int AS distinct,
            count(*) FILTER (WHERE i.status <> 'completed')::int AS wrong
     FROM applied a JOIN import_batch_items i ON i.id = a.item_id WHERE i.batch_id = $1`,
    [batchId],
  );
  expect(applied).toEqual({ rows: of('completed'), distinct: of('completed'), wrong: 0 });
  // The counters are the rows.
  const progress = await batches.getProgress(batchId);
  expect({
    completed: progress.completed,
    failed: progress.failed,
    skipped: progress.skipped,
    cancelled: progress.cancelled,
    inFlight: progress.inFlight,
    pending: progress.pending,
  }).toEqual({
    completed: of('completed'),
    failed: of('failed'),
    skipped: of('skipped'),
    cancelled: of('cancelled'),
    inFlight: of('processing'),
    pending: of('pending'),
  });
  expect(progress.done + progress.inFlight + progress.pending + progress.cancelled).toBe(
    progress.totalItems,
  );
  return byStatus;
}

describe('operator control under attack', () => {
  const t = useTestApp([AttackProcessor], { module: { leaseMs: 3000 } });
  let processor: AttackProcessor;
  let admin: Client;

  beforeAll(async () => {
    processor = t.app.get(AttackProcessor);
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    admin = await t.connect();
  });
  beforeEach(() => processor.gates.clear());

  const gateAt = (n: number): Gate => {
    const gate = new Gate();
    processor.gates.set(n, gate);
    return gate;
  };

  describe('the progress counters', () => {
    it('count the lines of a file that could not be read: failed from the start, not pending', async () => {
      const batch = await t.batches.createBatch(
        'attack',
        readJsonl(Readable.from(['{"n":0}\n{not json\n{"n":2}\n'])),
      );
      const created = await t.batches.getProgress(batch.id);
      expect(created).toMatchObject({ totalItems: 3, failed: 1, pending: 2, done: 1 });
      const summary = await t.batches.processBatch(batch.id);
      expect(summary).toMatchObject({ completedItems: 2, failedItems: 1 });
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({ completed: 2, failed: 1 });
    });

    it('take a corrected unread line back out of the failed count once, when resume re-queues it', async () => {
      const batch = await t.batches.createBatch(
        'attack',
        readJsonl(Readable.from(['{"n":0}\n{not json\n{"n":2}\n'])),
      );
      await t.batches.pauseBatch(batch.id);
      const [unread] = await t.batches.getItems(batch.id, { status: ITEM_STATUS.failed });
      await t.batches.correctItem(unread.id, { n: 1 });
      await t.batches.resumeBatch(batch.id);
      expect(await t.batches.getProgress(batch.id)).toMatchObject({ failed: 0, pending: 3 });
      expect((await t.batches.processBatch(batch.id)).completedItems).toBe(3);
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({ completed: 3 });
    });
  });
  describe('pause, resume and cancel at the worst moments', () => {
    const lockedUntil = async (batchId: string, n: number): Promise<number> => {
      const { rows: found } = await admin.query<{ until: Date | null }>(
        `SELECT locked_until AS until FROM import_batch_items
         WHERE batch_id = $1 AND (source_data ->> 'n')::int = $2`,
        [batchId, n],
      );
      return found[0].until?.getTime() ?? 0;
    };

    it('a cancel during a chunk of commitEvery 10: the chunk commits or goes back whole, the rest is cancelled', async () => {
      const batch = await t.batches.createBatch('attack', rows(60));
      const gate = gateAt(13);
      const running = t.batches.processBatch(batch.id, { commitEvery: 10, concurrency: 2 });
      await gate.entered;
      const cancelled = await t.batches.cancelBatch(batch.id, { reason: 'wrong file' });
      expect(cancelled.status).toBe(BATCH_STATUS.cancelled);
      gate.release();
      const summary = await running;
      expect(summary).toMatchObject({ status: BATCH_STATUS.cancelled, processingItems: 0 });
      const settled = await expectSettled(admin, t.batches, batch.id);
      expect(settled.pending ?? 0).toBe(0);
      expect((settled.completed ?? 0) + (settled.cancelled ?? 0)).toBe(60);
      // The chunk of row 13 was in flight: it committed whole.
      expect(settled.completed).toBeGreaterThanOrEqual(10);
      // The stored counts are the rows' once the last run left.
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        completedItems: settled.completed ?? 0,
        cancelledItems: settled.cancelled ?? 0,
      });
    });

    it('a cancel while a helper waits for the rows another run holds: both leave, the last one counts', async () => {
      const batch = await t.batches.createBatch('attack', rows(8));
      const gate = gateAt(0);
      const owner = t.batches.processBatch(batch.id, { commitEvery: 2 });
      await gate.entered;
      const helper = t.batches.processBatch(batch.id, { commitEvery: 2 });
      await waitFor(async () => (await t.batches.getBatchSummary(batch.id)).completedItems === 6, {
        what: 'the helper to run every row but the held chunk',
      });
      await t.batches.cancelBatch(batch.id);
      expect((await helper).status).toBe(BATCH_STATUS.cancelled);
      gate.release();
      expect((await owner).status).toBe(BATCH_STATUS.cancelled);
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({ completed: 8 });
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        completedItems: 8,
        cancelledItems: 0,
      });
    });

    it('a cancel during an item that times out: it fails, its claim is cancelled, nothing is applied twice', async () => {
      const batch = await t.batches.createBatch('attack', rows(10));
      const gate = gateAt(3);
      const running = t.batches.processBatch(batch.id, { itemTimeoutMs: 300 });
      await gate.entered;
      await t.batches.cancelBatch(batch.id);
      const summary = await running;
      gate.release();
      expect(summary.status).toBe(BATCH_STATUS.cancelled);
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({
        completed: 3,
        failed: 1,
        cancelled: 6,
      });
    });

    it('a cancel during a retry: the row in flight finishes once, the rest is cancelled', async () => {
      const batch = await t.batches.createBatch('attack', rows(10));
      const gate = gateAt(4);
      let failedOnce = false;
      const original = processor.processItem.bind(processor);
      processor.processItem = async (item, ctx) => {
        await original(item, ctx);
        if (item.sourceData.n === 4 && !failedOnce) {
          failedOnce = true;
          throw Object.assign(new Error('could not serialize access'), { code: '40001' });
        }
      };
      try {
        const running = t.batches.processBatch(batch.id, { concurrency: 2 });
        await gate.entered;
        await t.batches.cancelBatch(batch.id);
        gate.release();
        const summary = await running;
        expect(summary.status).toBe(BATCH_STATUS.cancelled);
      } finally {
        processor.processItem = original;
      }
      expect(failedOnce).toBe(true);
      const settled = await expectSettled(admin, t.batches, batch.id);
      expect(settled.pending ?? 0).toBe(0);
      expect((settled.completed ?? 0) + (settled.cancelled ?? 0)).toBe(10);
      const { rows: attempts } = await admin.query<{ attempts: number; status: string }>(
        `SELECT attempts, status FROM import_batch_items WHERE batch_id = $1 AND item_index = 4`,
        [batch.id],
      );
      expect(attempts[0]).toEqual({ attempts: 2, status: ITEM_STATUS.completed });
    });

    // A pause and a resume between two renewals of a run, and the next run taking the batch: the first run
    // heard the pause (an event of its instance, or its check of the batch's status), so it leaves the
    // batch to the next, with no LeaseLostError. (A run that missed a pause and resume within one poll
    // interval still sees a take-over: it rejects with LeaseLostError, and loses nothing.)
    it('a run whose batch is paused and resumed, and taken by the next run, leaves it without a LeaseLostError', async () => {
      const batch = await t.batches.createBatch('attack', rows(6));
      const gate = gateAt(2);
      const first = t.batches.processBatch(batch.id).then(
        (summary) => ({ summary }),
        (error: unknown) => ({ error }),
      );
      await gate.entered;
      await t.batches.pauseBatch(batch.id);
      await t.batches.resumeBatch(batch.id);
      // The next run takes the batch (the worker would, at once): the first run still holds its rows.
      const second = t.batches.processBatch(batch.id).catch((error: unknown) => error);
      try {
        await waitFor(async () => (await t.batches.getBatch(batch.id)).lockedBy !== null, {
          what: 'the second run to take the batch',
        });
        // The first run renews its leases (its rows' too) after that, and finds the batch held by
        // another.
        const before = await lockedUntil(batch.id, 2);
        await waitFor(async () => (await lockedUntil(batch.id, 2)) > before, {
          what: "the first run's next renewal",
        });
      } finally {
        gate.release();
      }
      const outcome = await first;
      // Whatever the first run did, nothing is lost or applied twice.
      expect(await second).toMatchObject({ status: BATCH_STATUS.completed, completedItems: 6 });
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({ completed: 6 });
      expect(outcome).not.toHaveProperty('error');
    });
  });
  describe('hostile arguments', () => {
    it('stores hostile reasons as storable text, and refuses ids and options of the wrong kind, naming them', async () => {
      const reasons = [
        'nul\u0000here',
        'lone \ud800 surrogate',
        'x'.repeat(1_000_000),
        "'); DROP TABLE applied; --",
      ];
      for (const reason of reasons) {
        const batch = await t.batches.createBatch('attack', rows(1));
        const paused = await t.batches.pauseBatch(batch.id, { reason });
        expect(paused.errorMessage).not.toContain('\u0000');
        expect(paused.errorMessage!.length).toBeLessThan(100_000);
        const cancelled = await t.batches.cancelBatch(batch.id, { reason });
        expect(cancelled.status).toBe(BATCH_STATUS.cancelled);
        expect(cancelled.errorMessage).not.toContain('\u0000');
        const waiting = await t.batches.createBatch('attack', rows(1), { requireApproval: true });
        const rejected = await t.batches.rejectBatch(waiting.id, reason);
        expect(rejected.status).toBe(BATCH_STATUS.rejected);
      }
      expect(await admin.query(`SELECT 1 FROM applied LIMIT 1`)).toBeDefined();

      for (const id of ['not-a-uuid', "1' OR '1'='1", '00000000-0000-0000-0000-000000000000']) {
        for (const control of [
          () => t.batches.pauseBatch(id),
          () => t.batches.resumeBatch(id),
          () => t.batches.cancelBatch(id),
          () => t.batches.approveBatch(id),
          () => t.batches.rejectBatch(id),
          () => t.batches.dryRunBatch(id),
          () => t.batches.getProgress(id),
        ]) {
          await expect(control()).rejects.toBeInstanceOf(ImportBatchNotFoundError);
        }
      }

      const batch = await t.batches.createBatch('attack', rows(1));
      const wrong: Array<[() => Promise<unknown>, RegExp]> = [
        [() => t.batches.pauseBatch(42 as never), /batchId/],
        [() => t.batches.pauseBatch(batch.id, 'now' as never), /options/],
        [() => t.batches.pauseBatch(batch.id, { reason: 7 } as never), /options\.reason/],
        [
          () => t.batches.resumeBatch(batch.id, { retryFailed: 'yes' } as never),
          /options\.retryFailed/,
        ],
        [() => t.batches.cancelBatch(batch.id, { reason: {} } as never), /options\.reason/],
        [() => t.batches.cancelBatch(null as never), /batchId/],
        [() => t.batches.rejectBatch(batch.id, 5 as never), /reason/],
        [() => t.batches.approveBatch(undefined as never), /batchId/],
        [() => t.batches.dryRunBatch(batch.id, { maxAttempts: 'two' } as never), /maxAttempts/],
        [() => t.batches.dryRunBatch(batch.id, { itemTimeoutMs: -1 }), /itemTimeoutMs/],
        [() => t.batches.processBatch(batch.id, { maxFailures: -1 }), /maxFailures/],
        [() => t.batches.processBatch(batch.id, { maxFailureRate: 2 }), /maxFailureRate/],
        [
          () => t.batches.processBatch(batch.id, { maxFailureRate: '0.1' } as never),
          /maxFailureRate/,
        ],
        [
          () => t.batches.processBatch(batch.id, { failureRateMinItems: 0.5 }),
          /failureRateMinItems/,
        ],
        [() => t.batches.processBatch(batch.id, { dryRun: 'yes' } as never), /dryRun/],
        [
          () => t.batches.createBatch('attack', rows(1), { requireApproval: 1 } as never),
          /requireApproval/,
        ],
      ];
      for (const [call, names] of wrong) {
        const error = await call().catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(names);
      }
      // None of them touched the batch.
      expect(await t.batches.getBatch(batch.id)).toMatchObject({ status: BATCH_STATUS.pending });
    });
  });
  describe('dry runs', () => {
    it('write nothing but the verdicts: no applied row, status, attempt, lease, log of a row or counter', async () => {
      const batch = await t.batches.createBatch(
        'attack',
        rows(12, (n) => n % 4 === 1),
      );
      const snapshot = () =>
        admin.query(
          `SELECT id, status, attempts, started_at, completed_at, locked_by, locked_until, error_message,
                  processed_data
           FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
          [batch.id],
        );
      const before = (await snapshot()).rows;
      const logged = async () =>
        Number(
          (
            await admin.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM import_logs WHERE batch_id = $1`,
              [batch.id],
            )
          ).rows[0].n,
        );
      const logsBefore = await logged();
      const summary = await t.batches.dryRunBatch(batch.id);
      expect(summary).toMatchObject({ total: 12, wouldComplete: 9, wouldFail: 3 });
      expect((await snapshot()).rows).toEqual(before);
      // One audit entry of the batch, none of a row.
      expect(await logged()).toBe(logsBefore + 1);
      const { rows: counters } = await admin.query(
        `SELECT 1 FROM import_batch_progress WHERE batch_id = $1`,
        [batch.id],
      );
      expect(counters).toHaveLength(0);
      expect(await t.batches.getBatch(batch.id)).toMatchObject({
        status: BATCH_STATUS.pending,
        startedAt: null,
      });
      const { rows: appliedRows } = await admin.query(
        `SELECT 1 FROM applied a JOIN import_batch_items i ON i.id = a.item_id WHERE i.batch_id = $1`,
        [batch.id],
      );
      expect(appliedRows).toHaveLength(0);
    });

    it('give way to a cancel made while they run: the batch ends cancelled, no row is applied', async () => {
      const batch = await t.batches.createBatch('attack', rows(250), { requireApproval: true });
      const gate = gateAt(120);
      const dryRun = t.batches.dryRunBatch(batch.id).catch((error: unknown) => error);
      await gate.entered;
      await t.batches.cancelBatch(batch.id);
      gate.release();
      expect(await dryRun).toBeInstanceOf(BatchStatusConflictError);
      expect(await expectSettled(admin, t.batches, batch.id)).toEqual({ cancelled: 250 });
      const { rows: verdicts } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 AND dry_run_outcome IS NOT NULL`,
        [batch.id],
      );
      // The first page's verdicts were stored before the cancel; none after it.
      expect(verdicts[0].n).toBe(100);
    });
  });

  describe('error budgets', () => {
    it('a budget spent with continueOnError false: the stop at the first failure wins, the batch fails', async () => {
      const batch = await t.batches.createBatch(
        'attack',
        rows(40, (n) => n >= 5),
      );
      const summary = await t.batches.processBatch(batch.id, {
        continueOnError: false,
        maxFailures: 0,
        concurrency: 4,
      });
      expect(summary.status).toBe(BATCH_STATUS.failed);
      expect(summary.errorMessage).toMatch(/^Stopped at item \d+, which failed/);
      await expectSettled(admin, t.batches, batch.id);
      expect(summary.processingItems).toBe(0);
    });

    it('two apps that spend one budget together leave the batch paused once, with one reason', async () => {
      const other = await createTestApp(t.db.url, [AttackProcessor]);
      try {
        const batch = await t.batches.createBatch(
          'attack',
          rows(200, (n) => n % 2 === 0),
        );
        const options = { maxFailures: 10, concurrency: 3 };
        const [mine, theirs] = await Promise.all([
          t.batches.processBatch(batch.id, options),
          other.batches.processBatch(batch.id, options),
        ]);
        expect(mine.status).toBe(BATCH_STATUS.paused);
        expect(theirs.status).toBe(BATCH_STATUS.paused);
        const paused = await t.batches.getBatch(batch.id);
        expect(paused.errorMessage).toMatch(/^stopped: \d+ of \d+ rows failed/);
        const settled = await expectSettled(admin, t.batches, batch.id);
        expect(settled.processing ?? 0).toBe(0);
        const pauses = await t.batches.getLogs(batch.id);
        expect(pauses.filter((entry) => /paused/i.test(entry.message))).toHaveLength(1);
      } finally {
        await other.close();
      }
    });
  });
});

/** The batch type of the processing child (`test/support/processing-child.ts`), to create its batches. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<Row> {
  processItem(): void {}
}

describe('a cancel after a process died holding rows', () => {
  const t = useTestApp([AppliedRowProcessor]);

  // The rows a dead process held when its batch was cancelled: no run comes back to a cancelled batch, so
  // the worker cancels them once their lease has run out (without one, a second cancelBatch does).
  it("leaves no row in flight once the dead run's lease has run out and a worker looks", async () => {
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    const batch = await t.batches.createBatch('applied_row', rows(50));
    const child = startProcessingChild({
      databaseUrl: t.db.url,
      batchId: batch.id,
      leaseMs: 1500,
      itemPauseMs: 60_000,
    });
    try {
      // A child compiles its TypeScript as it starts: slow on a busy machine.
      await waitFor(async () => (await t.batches.getProgress(batch.id)).inFlight > 0, {
        withinMs: 60_000,
        what: 'the child to claim rows',
      });
      child.process.kill('SIGKILL');
      await child.exited;
      await t.batches.cancelBatch(batch.id);
      const afterCancel = await t.batches.getProgress(batch.id);
      // The dead run's lease had not run out: its rows wait for it.
      expect(afterCancel.inFlight).toBeGreaterThan(0);
      const [{ until }] = await t.dataSource.query<Array<{ until: Date }>>(
        `SELECT max(locked_until) AS until FROM import_batch_items WHERE batch_id = $1`,
        [batch.id],
      );
      await waitFor(async () => {
        const [{ now }] = await t.dataSource.query<Array<{ now: Date }>>('SELECT now() AS now');
        return now > until;
      });
      const worker = await createTestApp(t.db.url, [AppliedRowProcessor], {
        module: { worker: { enabled: true, pollIntervalMs: 50 } },
      });
      try {
        await waitFor(async () => (await t.batches.getProgress(batch.id)).inFlight === 0, {
          what: 'the worker to cancel the rows the dead run left',
        });
      } finally {
        await worker.close();
      }
      expect(await t.batches.getProgress(batch.id)).toMatchObject({
        status: BATCH_STATUS.cancelled,
        inFlight: 0,
        cancelled: 50,
      });
      expect(await t.batches.getBatch(batch.id)).toMatchObject({ cancelledItems: 50 });
    } finally {
      child.process.kill('SIGKILL');
    }
  });
});

describe('the operator-control migration on a database that holds data', () => {
  const database = useTestDatabase({ empty: true });

  const dataSourceWith = (migrations: typeof reliableImportsMigrations) =>
    new DataSource({
      type: 'postgres',
      url: database.db.url,
      entities: reliableImportsEntities,
      migrations,
      logging: false,
    });

  // BUG (reported: the migration is the lead's): the migration does not count the outcomes recorded
  // before it in import_batch_progress, so a batch begun before the upgrade reads done 0 and every row
  // pending, and its error budget starts from zero.
  it('counts the outcomes recorded before it: progress of a batch begun before the upgrade adds up', async () => {
    const before = dataSourceWith(reliableImportsMigrations.slice(0, 2));
    await before.initialize();
    let batchId: string;
    try {
      await before.runMigrations();
      [{ id: batchId }] = await before.query<Array<{ id: string }>>(
        `INSERT INTO import_batches (batch_type, status, total_items, started_at)
         VALUES ('attack', 'processing', 5, now()) RETURNING id`,
      );
      await before.query(
        `INSERT INTO import_batch_items (batch_id, item_index, source_data, status, completed_at)
         SELECT $1, n, jsonb_build_object('n', n),
                CASE WHEN n < 2 THEN 'completed' WHEN n = 2 THEN 'failed' ELSE 'pending' END,
                CASE WHEN n < 3 THEN now() END
         FROM generate_series(0, 4) n`,
        [batchId],
      );
    } finally {
      await before.destroy();
    }

    const after = dataSourceWith(reliableImportsMigrations);
    await after.initialize();
    try {
      await after.runMigrations();
      const columns = await after.query<Array<{ column_name: string }>>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'import_batch_summary'
         ORDER BY ordinal_position`,
      );
      expect(columns.map((column) => column.column_name).slice(-1)).toEqual(['cancelled_items']);
      // Down and up again keep the rows.
      await after.undoLastMigration();
      await after.runMigrations();
      const [summary] = await after.query<Array<Record<string, number>>>(
        `SELECT total_items, completed_items, failed_items, pending_items, cancelled_items
         FROM import_batch_summary WHERE batch_id = $1`,
        [batchId],
      );
      expect(summary).toEqual({
        total_items: 5,
        completed_items: 2,
        failed_items: 1,
        pending_items: 2,
        cancelled_items: 0,
      });
    } finally {
      await after.destroy();
    }

    const app = await createTestApp(database.db.url, [AttackProcessor]);
    try {
      expect(await app.batches.getProgress(batchId)).toMatchObject({
        totalItems: 5,
        completed: 2,
        failed: 1,
        pending: 2,
        done: 3,
      });
    } finally {
      await app.close();
    }
  });
});
