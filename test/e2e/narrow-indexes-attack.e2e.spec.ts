import type { Client } from 'pg';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import type { Statement } from '../../lib/processing/statements/statement';
import {
  cancelBatch,
  cancelItems,
  finishBatch,
  lockBatchToStop,
  resumeBatch,
  sweepCancelledBatches,
} from '../../lib/processing/statements/batches.statements';
import {
  claimExpiredItems,
  claimPendingItems,
  completeChunk,
  completeItem,
  finishItemWithoutResult,
  releaseEveryClaim,
  releaseItems,
  releaseSomeItems,
} from '../../lib/processing/statements/items.statements';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

// Attacks on the narrow item indexes (migration NarrowItemIndexes1765000000000): the fence of an outcome
// names the holder alone (`locked_by = $worker`), not the status, on the word of a check that only a
// processing row has a holder. The startup check does not ask for that migration, so the fence must hold
// on a database without the check too: every statement that takes a row out of processing clears the
// holder itself.

interface Row {
  n: number;
  gate?: boolean;
}

@ImportProcessor({ batchType: 'narrow_attack' })
class NarrowAttackProcessor extends BaseProcessor<Row> {
  gate = new Gate();
  /** The rows held at the gate once: later tries of them go through. */
  private readonly held = new Set<string>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    await ctx.query('INSERT INTO applied (n) VALUES ($1)', [item.sourceData.n]);
    if (item.sourceData.gate && !this.held.has(item.id)) {
      this.held.add(item.id);
      await this.gate.pass();
    }
    return { targetTable: 'applied', targetId: item.sourceData.n };
  }
}

const A = 'run-a';
const B = 'run-b';
const LOG = JSON.stringify([
  { level: 'info', message: 'late', details: null, created_at: '2020-01-01T00:00:00Z' },
]);

describe('the fence of an outcome on the holder alone', () => {
  const t = useTestApp([NarrowAttackProcessor], { module: { leaseMs: 2000 } });
  let admin: Client;

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE applied (n integer NOT NULL)');
    admin = await t.connect();
  });

  const run = async <T = Record<string, unknown>>(statement: Statement): Promise<T[]> =>
    (await admin.query({ text: statement.text, values: statement.values })).rows as T[];

  /** The outcomes and give-back that the run `A` may still send for its row `itemId`, late. */
  const lateOfA = (batchId: string, itemId: string): Array<[string, Statement]> => [
    [
      'completeItem',
      completeItem({
        itemId,
        workerId: A,
        attempts: 1,
        logsJson: LOG,
        processedJson: '{"late":true}',
        targetTable: 'applied',
        targetId: 'late',
      }),
    ],
    [
      'finishItemWithoutResult',
      finishItemWithoutResult({
        itemId,
        workerId: A,
        attempts: 1,
        logsJson: LOG,
        status: 'failed',
        errorMessage: 'late',
        errorDetailsJson: null,
      }),
    ],
    [
      'completeChunk',
      completeChunk({
        workerId: A,
        items: [
          {
            id: itemId,
            processedJson: '{"late":true}',
            targetTable: 'applied',
            targetId: 'late',
            logsJson: LOG,
          },
        ],
      }),
    ],
    ['releaseSomeItems', releaseSomeItems({ batchId, workerId: A, itemIds: [itemId] })],
  ];

  /** What a late statement of `A` could have changed: the row, its logs and the batch's counters. */
  const footprint = async (batchId: string, itemId: string) => ({
    row: (await admin.query('SELECT * FROM import_batch_items WHERE id = $1', [itemId])).rows[0],
    logs: (
      await admin.query('SELECT count(*)::int AS n FROM import_logs WHERE item_id = $1', [itemId])
    ).rows[0],
    counters: (
      await admin.query(
        `SELECT COALESCE(sum(completed + failed + skipped), 0)::int AS n
         FROM import_batch_progress WHERE batch_id = $1`,
        [batchId],
      )
    ).rows[0],
  });

  /**
   * How the claim of `A` on a row is lost, each by the module's own statements. `A` claimed with a lease
   * that has run out (within one transaction `now()` stands still, so a negative lease is an expired one).
   */
  const losses: Array<[string, (batchId: string) => Promise<void>]> = [
    [
      'given back by a stop (every claim, whoever holds it)',
      async (batchId) => {
        await run(lockBatchToStop({ batchId }));
        await run(releaseEveryClaim({ batchId }));
      },
    ],
    [
      'given back by the run itself (the rest of a timed-out claim), then claimed by another run',
      async (batchId) => {
        await run(releaseItems({ batchId, workerId: A }));
        await run(
          claimPendingItems({ batchId, workerId: B, leaseMs: 60_000, limit: 1, fromIndex: 0 }),
        );
      },
    ],
    [
      'taken over once its lease ran out, still in flight there',
      async (batchId) => {
        await run(claimExpiredItems({ batchId, workerId: B, leaseMs: 60_000, limit: 1 }));
      },
    ],
    [
      'taken over and completed by the other run',
      async (batchId) => {
        const [taken] = await run<{ id: string }>(
          claimExpiredItems({ batchId, workerId: B, leaseMs: 60_000, limit: 1 }),
        );
        await run(
          completeItem({
            itemId: taken.id,
            workerId: B,
            attempts: 1,
            logsJson: '[]',
            processedJson: 'null',
            targetTable: null,
            targetId: null,
          }),
        );
      },
    ],
    [
      'taken over, failed by the other run, and put back to pending by a resume that retries failures',
      async (batchId) => {
        const [taken] = await run<{ id: string }>(
          claimExpiredItems({ batchId, workerId: B, leaseMs: 60_000, limit: 1 }),
        );
        await run(
          finishItemWithoutResult({
            itemId: taken.id,
            workerId: B,
            attempts: 1,
            logsJson: '[]',
            status: 'failed',
            errorMessage: 'b failed it',
            errorDetailsJson: null,
          }),
        );
        await admin.query(`UPDATE import_batches SET status = 'paused' WHERE id = $1`, [batchId]);
        await run(resumeBatch({ batchId, retryFailed: true }));
      },
    ],
    [
      'cancelled with its lease run out (a cancel)',
      async (batchId) => {
        await run(cancelBatch({ batchId, reason: 'stop' }));
        await run(cancelItems({ batchId, reason: 'stop' }));
      },
    ],
    [
      'cancelled by the worker’s sweep of cancelled batches',
      async (batchId) => {
        await run(cancelBatch({ batchId, reason: 'stop' }));
        await run(sweepCancelledBatches());
      },
    ],
    [
      'given back by a stop of a cancelled batch (cancelled, not pending)',
      async (batchId) => {
        await run(cancelBatch({ batchId, reason: 'stop' }));
        await run(releaseEveryClaim({ batchId }));
      },
    ],
  ];

  const cases = losses.flatMap(([how, lose]) =>
    [true, false].map((withCheck) => [how, withCheck, lose] as const),
  );

  it.each(cases)(
    'a claim %s: no late outcome of its run changes the row, logs or counts (check in place: %s)',
    async (_how, withCheck, lose) => {
      await admin.query('BEGIN');
      try {
        if (!withCheck) {
          // A database that has not run the migration yet, as the startup check allows.
          await admin.query(
            'ALTER TABLE import_batch_items DROP CONSTRAINT "CHK_import_batch_items_lease"',
          );
        }
        const [batch] = (
          await admin.query<{ id: string }>(
            `INSERT INTO import_batches (batch_type, status, total_items, started_at)
             VALUES ('narrow_attack', 'processing', 2, now()) RETURNING id`,
          )
        ).rows;
        await admin.query(
          `INSERT INTO import_batch_items (batch_id, item_index, source_data)
           SELECT $1, n, jsonb_build_object('n', n) FROM generate_series(0, 1) AS n`,
          [batch.id],
        );
        const [claimed] = await run<{ id: string }>(
          claimPendingItems({
            batchId: batch.id,
            workerId: A,
            leaseMs: -1000,
            limit: 1,
            fromIndex: 0,
          }),
        );
        expect(claimed).toBeDefined();
        await lose(batch.id);
        // However the claim was lost, the row has no holder of that run any more.
        const [lost] = await run<{ status: string; locked_by: string | null }>({
          text: 'SELECT status, locked_by FROM import_batch_items WHERE id = $1',
          values: [claimed.id],
        });
        expect(lost.locked_by).not.toBe(A);

        const before = await footprint(batch.id, claimed.id);
        for (const [name, statement] of lateOfA(batch.id, claimed.id)) {
          const rows = await run<{ id?: string; count?: number }>(statement);
          expect({
            name,
            changed: rows.filter((row) => row.id !== undefined || row.count! > 0),
          }).toEqual({ name, changed: [] });
        }
        expect(await footprint(batch.id, claimed.id)).toEqual(before);
      } finally {
        await admin.query('ROLLBACK');
      }
    },
  );

  it('a claim still held by its run: each outcome of that run is taken (the fence lets the holder in)', async () => {
    await admin.query('BEGIN');
    try {
      const [batch] = (
        await admin.query<{ id: string }>(
          `INSERT INTO import_batches (batch_type, status, total_items, started_at)
           VALUES ('narrow_attack', 'processing', 4, now()) RETURNING id`,
        )
      ).rows;
      await admin.query(
        `INSERT INTO import_batch_items (batch_id, item_index, source_data)
         SELECT $1, n, jsonb_build_object('n', n) FROM generate_series(0, 3) AS n`,
        [batch.id],
      );
      const claimed = await run<{ id: string }>(
        claimPendingItems({
          batchId: batch.id,
          workerId: A,
          leaseMs: 60_000,
          limit: 4,
          fromIndex: 0,
        }),
      );
      // Each statement on a row of its own: row 0 completed, 1 failed, 2 completed in a chunk, 3 given back.
      const taken: Array<[string, boolean]> = [];
      for (const [index, row] of claimed.entries()) {
        const [name, statement] = lateOfA(batch.id, row.id)[index];
        const rows = await run<{ id?: string; count?: number }>(statement);
        taken.push([name, rows.length === 1 && (rows[0].id !== undefined || rows[0].count === 1)]);
      }
      expect(Object.fromEntries(taken)).toEqual({
        completeItem: true,
        finishItemWithoutResult: true,
        completeChunk: true,
        releaseSomeItems: true,
      });
      // Every row left its claim with its holder cleared: none has a holder out of processing.
      const { rows } = await admin.query(
        `SELECT status, locked_by FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
        [batch.id],
      );
      expect(rows).toEqual([
        { status: 'completed', locked_by: null },
        { status: 'failed', locked_by: null },
        { status: 'completed', locked_by: null },
        { status: 'pending', locked_by: null },
      ]);
    } finally {
      await admin.query('ROLLBACK');
    }
  });

  it('a row given back by a stop while its processor runs, then run by another run, is applied once: the late outcome finds no holder', async () => {
    const processor = t.app.get(NarrowAttackProcessor);
    const batch = await t.batches.createBatch('narrow_attack', [
      { n: 0 },
      { n: 1, gate: true },
      { n: 2 },
    ]);
    const first = t.batches.processBatch(batch.id).catch((error: unknown) => error);
    await processor.gate.entered;
    const [held] = await t.batches.getItems(batch.id, { status: 'processing' });
    expect(held).toMatchObject({ itemIndex: 1 });
    // What a stop of another process does to the claim (the batch stays runnable): the row is pending.
    await admin.query('BEGIN');
    await run(lockBatchToStop({ batchId: batch.id }));
    await run(releaseEveryClaim({ batchId: batch.id }));
    await admin.query('COMMIT');
    // The batch's lease is taken from the first run too, so that a second run may take it over.
    await admin.query(
      `UPDATE import_batches SET locked_until = now() - interval '1 second' WHERE id = $1`,
      [batch.id],
    );
    await waitFor(
      async () =>
        (await t.batches.getItems(batch.id, { status: 'pending' })).some(
          (item) => item.itemIndex === 1,
        ),
      { what: 'the held row given back' },
    );
    // Whether the second run takes the batch over or helps its holder, it completes the row given back;
    // only then does the first run's processor return, and its outcome come late.
    const second = t.batches.processBatch(batch.id).catch((error: unknown) => error);
    await waitFor(
      async () =>
        (await t.batches.getItems(batch.id, { status: 'completed' })).some(
          (item) => item.itemIndex === 1,
        ),
      { what: 'the row given back completed by the second run' },
    );
    processor.gate.release();
    await Promise.all([first, second]);
    expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
      completedItems: 3,
      failedItems: 0,
      processingItems: 0,
    });
    const { rows } = await admin.query<{ n: number }>('SELECT n FROM applied ORDER BY n');
    expect(rows.map((row) => row.n)).toEqual([0, 1, 2]);
    const { rows: holders } = await admin.query(
      `SELECT count(*)::int AS n FROM import_batch_items
       WHERE batch_id = $1 AND (locked_by IS NOT NULL OR status = 'processing')`,
      [batch.id],
    );
    expect(holders).toEqual([{ n: 0 }]);
    const { rows: strays } = await admin.query(
      `SELECT count(*)::int AS n FROM import_batch_items WHERE locked_by IS NOT NULL AND status <> 'processing'`,
    );
    expect(strays).toEqual([{ n: 0 }]);
  });

  it('a batch with a row in flight is not ended, on either arm of the open-row condition (pending apart)', async () => {
    await admin.query('BEGIN');
    try {
      const [batch] = (
        await admin.query<{ id: string }>(
          `INSERT INTO import_batches (batch_type, status, total_items, started_at, locked_by, locked_until)
           VALUES ('narrow_attack', 'processing', 2, now(), 'gone', now() - interval '1 minute') RETURNING id`,
        )
      ).rows;
      await admin.query(
        `INSERT INTO import_batch_items (batch_id, item_index, source_data, status, locked_by, locked_until)
         VALUES ($1, 0, '{}', 'processing', 'gone', now() + interval '1 minute'),
                ($1, 1, '{}', 'completed', NULL, NULL)`,
        [batch.id],
      );
      expect(await run(finishBatch({ batchId: batch.id, workerId: A, failure: null }))).toEqual([]);
      await admin.query(
        `UPDATE import_batch_items SET status = 'pending', locked_by = NULL, locked_until = NULL
         WHERE batch_id = $1 AND item_index = 0`,
        [batch.id],
      );
      expect(await run(finishBatch({ batchId: batch.id, workerId: A, failure: null }))).toEqual([]);
    } finally {
      await admin.query('ROLLBACK');
    }
  });
});

describe('the statements sent per row, planned once for every row', () => {
  const t = useTestApp([NarrowAttackProcessor]);
  let admin: Client;
  let batchId: string;
  let held: string[];

  beforeAll(async () => {
    admin = await t.connect();
    const batch = await t.batches.createBatch(
      'narrow_attack',
      Array.from({ length: 20_000 }, (_, n) => ({ n })),
    );
    batchId = batch.id;
    // Statistics of an all-pending batch; then most rows claimed and done without a vacuum since, so
    // that the index of rows in flight holds an entry for each (the trap of the outcome's old fence).
    await admin.query('ANALYZE import_batch_items');
    await admin.query(`UPDATE import_batches SET status = 'processing' WHERE id = $1`, [batchId]);
    await admin.query(
      `UPDATE import_batch_items SET status = 'processing', locked_by = $2, locked_until = now() + interval '1 hour'
       WHERE batch_id = $1 AND item_index < 19000`,
      [batchId, A],
    );
    await admin.query(
      `UPDATE import_batch_items SET status = 'completed', locked_by = NULL, locked_until = NULL
       WHERE batch_id = $1 AND item_index < 18900`,
      [batchId],
    );
    held = (
      await admin.query<{ id: string }>(
        `SELECT id FROM import_batch_items WHERE batch_id = $1 AND status = 'processing'
         ORDER BY item_index LIMIT 25`,
        [batchId],
      )
    ).rows.map((row) => row.id);
  });

  /** The plan PostgreSQL keeps for a prepared statement once it plans it generically (any run may). */
  const genericPlan = async (statement: Statement): Promise<string> => {
    await admin.query('BEGIN');
    try {
      await admin.query('SET LOCAL plan_cache_mode = force_generic_plan');
      await admin.query(`PREPARE per_row AS ${statement.text}`);
      const literals = statement.values.map((value) =>
        value === null
          ? 'NULL'
          : Array.isArray(value)
            ? admin.escapeLiteral(`{${value.join(',')}}`)
            : admin.escapeLiteral(String(value as string | number)),
      );
      const { rows } = await admin.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN EXECUTE per_row(${literals.join(', ')})`,
      );
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    } finally {
      await admin.query('ROLLBACK');
      // A prepared statement outlives the transaction.
      await admin.query('DEALLOCATE ALL');
    }
  };

  it.each([
    [
      'completeItem',
      () =>
        completeItem({
          itemId: held[0],
          workerId: A,
          attempts: 1,
          logsJson: '[]',
          processedJson: 'null',
          targetTable: null,
          targetId: null,
        }),
    ],
    [
      'finishItemWithoutResult',
      () =>
        finishItemWithoutResult({
          itemId: held[0],
          workerId: A,
          attempts: 1,
          logsJson: '[]',
          status: 'failed',
          errorMessage: 'x',
          errorDetailsJson: null,
        }),
    ],
    [
      'completeChunk',
      () =>
        completeChunk({
          workerId: A,
          items: held.map((id) => ({
            id,
            processedJson: 'null',
            targetTable: null,
            targetId: null,
            logsJson: '[]',
          })),
        }),
    ],
    ['releaseSomeItems', () => releaseSomeItems({ batchId, workerId: A, itemIds: held })],
  ])('%s finds its rows by the primary key in its generic plan too', async (_name, statement) => {
    const plan = await genericPlan(statement());
    expect(plan).toMatch(/Index Scan (using|on) "PK_import_batch_items"/);
    expect(plan).not.toContain('IDX_import_batch_items_in_flight_or_unapplied');
    expect(plan).not.toMatch(/Seq Scan on import_batch_items/);
  });
});
