import type { Client } from 'pg';
import type { Logger } from 'typeorm';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportBatchNotFoundError,
  ImportProcessor,
  InvalidArgumentError,
  type ImportContext,
  type ImportItem,
  type PruneReport,
} from '../../lib';
import { RETENTION_LOCK_KEY } from '../../lib/processing/statements/retention.statements';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { Gate } from '../support/gate';
import { applyRetentionTwiceAtOnce } from '../support/retention-race';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
  hold?: boolean;
}

/** Rows whose `n` is listed here fail; a row with `hold` waits at the gate while `holding`. */
const failing = new Set<number>();
let holding = false;
let gate = new Gate();

@ImportProcessor()
class LedgerRowProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    ctx.log.info('applying', { n: item.sourceData.n });
    if (item.sourceData.hold && holding) await gate.pass();
    if (failing.has(item.sourceData.n)) throw new Error(`row ${item.sourceData.n} is refused`);
  }
}

/** A second type, with a retention of its own over the module's. */
@ImportProcessor({ retention: { completedDays: 1, logsDays: 1 } })
class ShortLivedRowProcessor extends BaseProcessor<Row> {
  processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    ctx.log.info('applying', { n: item.sourceData.n });
    return Promise.resolve();
  }
}

/** Records the batches each statement that removes batches was given, and the transactions ended. */
class RemovalRecorder implements Logger {
  removals: number[] = [];
  logQuery(query: string, parameters?: unknown[]): void {
    if (/^\s*WITH gone AS \(\s*DELETE FROM "import_batches"/.test(query)) {
      this.removals.push((parameters?.[0] as unknown[]).length);
    }
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const rows = (...ns: number[]): Row[] => ns.map((n) => ({ n }));
const DAY_MS = 86_400_000;
const daysAgo = (days: number): Date => new Date(Date.now() - days * DAY_MS);

describe('retention: pruneImports, pruneLogs, applyRetention (real PostgreSQL)', () => {
  const t = useTestApp([LedgerRowProcessor, ShortLivedRowProcessor], {
    module: { retention: { completedDays: 30, sliceSize: 50 } },
  });
  const others: TestApp[] = [];
  let sql: Client;

  beforeAll(async () => {
    sql = await t.connect();
  });
  beforeEach(async () => {
    failing.clear();
    holding = true;
    gate = new Gate();
    // Each test starts from no batch: trees of another test must not count in its report.
    await sql.query('DELETE FROM import_batches');
  });
  afterEach(async () => {
    gate.release();
    for (const app of others.splice(0)) await app.close();
  });

  /** Makes a batch (and its rows and logs) look as if it had run `days` ago. */
  const age = async (batchId: string, days: number): Promise<void> => {
    await sql.query(
      `UPDATE import_batches SET created_at = now() - make_interval(days => $2),
         started_at = CASE WHEN started_at IS NULL THEN NULL ELSE now() - make_interval(days => $2) END,
         completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - make_interval(days => $2) END
       WHERE id = $1`,
      [batchId, days],
    );
    await sql.query(
      `UPDATE import_logs SET created_at = now() - make_interval(days => $2) WHERE batch_id = $1`,
      [batchId, days],
    );
  };
  const ranBatch = async (type: string, items: Row[], days: number) => {
    const summary = await t.batches.import(type, items);
    await age(summary.batchId, days);
    return summary;
  };
  const count = async (table: string, batchIds: string[]): Promise<number> => {
    const column = table === 'import_batches' ? 'id' : 'batch_id';
    const { rows: found } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = ANY($1::uuid[])`,
      [batchIds],
    );
    return found[0].n;
  };
  const batchCount = async (): Promise<number> =>
    (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM import_batches')).rows[0].n;
  /** What removing these batches removes, counted before. */
  const footprint = async (batchIds: string[]) => ({
    batches: await count('import_batches', batchIds),
    items: await count('import_batch_items', batchIds),
    logs: await count('import_logs', batchIds),
    progressRows: await count('import_batch_progress', batchIds),
  });
  /** Reprocesses whose parent is gone: what removing half a tree would leave. */
  const orphans = async (): Promise<number> =>
    (
      await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM import_batches
         WHERE metadata ? 'reprocessOf' AND parent_batch_id IS NULL`,
      )
    ).rows[0].n;

  it('removes old completed trees with their rows, logs and progress rows, and reports them', async () => {
    const old = await ranBatch('ledger_row', rows(1, 2, 3), 40);
    const recent = await ranBatch('ledger_row', rows(4), 2);
    const before = await footprint([old.batchId]);
    expect(before.items).toBe(3);
    expect(before.logs).toBeGreaterThanOrEqual(3);
    expect(before.progressRows).toBeGreaterThan(0);

    const report = await t.batches.pruneImports({ olderThan: daysAgo(30) });

    expect(before.batches).toBe(1);
    expect(report).toMatchObject({
      ...before,
      dryRun: false,
      trees: 1,
      batchesByStatus: { completed: 1 },
      slices: 1,
      kept: { live: 0, unresolved: 0, busy: 0 },
    });
    expect(await footprint([old.batchId])).toEqual({
      batches: 0,
      items: 0,
      logs: 0,
      progressRows: 0,
    });
    expect(await count('import_batches', [recent.batchId])).toBe(1);
  });

  it('never touches a running batch, a paused one, nor one awaiting approval, however old', async () => {
    const running = await t.batches.createBatch('ledger_row', [{ n: 1, hold: true }]);
    const run = t.batches.processBatch(running.id);
    await gate.entered;
    const paused = await t.batches.createBatch('ledger_row', rows(2));
    await t.batches.pauseBatch(paused.id);
    const waiting = await t.batches.createBatch('ledger_row', rows(3), { requireApproval: true });
    for (const id of [running.id, paused.id, waiting.id]) await age(id, 400);

    const report = await t.batches.pruneImports({
      olderThan: new Date(),
      includeUnresolved: true,
    });

    expect(report.batches).toBe(0);
    expect(await count('import_batches', [running.id, paused.id, waiting.id])).toBe(3);
    expect(await count('import_batch_items', [running.id, paused.id, waiting.id])).toBe(3);
    gate.release();
    expect((await run).status).toBe(BATCH_STATUS.completed);
  });

  it('keeps a tree with an unresolved row, unless told to, and then removes it whole', async () => {
    failing.add(2);
    const root = await ranBatch('ledger_row', rows(1, 2, 3), 60);
    expect(root.status).toBe(BATCH_STATUS.completedWithErrors);

    const kept = await t.batches.pruneImports({ olderThan: daysAgo(30) });
    expect(kept).toMatchObject({ batches: 0, kept: { unresolved: 1, live: 0, busy: 0 } });
    expect(await count('import_batches', [root.batchId])).toBe(1);

    const removed = await t.batches.pruneImports({
      olderThan: daysAgo(30),
      includeUnresolved: true,
    });
    expect(removed).toMatchObject({ trees: 1, batches: 1, items: 3 });
  });

  it('removes a resolved tree (a first batch and its reprocess) as a whole, never half of it', async () => {
    failing.add(2);
    const root = await t.batches.import('ledger_row', rows(1, 2, 3));
    failing.clear();
    const child = await t.batches.reprocessBatch(root.batchId);
    expect(child.status).toBe(BATCH_STATUS.completed);
    const ids = [root.batchId, child.batchId];
    await age(root.batchId, 90);
    await age(child.batchId, 10);

    // The reprocess is recent: the tree stays, the old first batch with it.
    const young = await t.batches.pruneImports({ olderThan: daysAgo(30) });
    expect(young.batches).toBe(0);
    expect(await count('import_batches', ids)).toBe(2);

    const before = await footprint(ids);
    const report = await t.batches.pruneImports({ olderThan: daysAgo(5) });
    expect(report).toMatchObject({
      trees: 1,
      batchesByStatus: { completed_with_errors: 1, completed: 1 },
      ...before,
    });
    expect(await count('import_batches', ids)).toBe(0);
  });

  it('keeps a tree whole while its reprocess still runs', async () => {
    failing.add(2);
    holding = false;
    const root = await ranBatch('ledger_row', [{ n: 1 }, { n: 2, hold: true }], 60);
    expect(root.status).toBe(BATCH_STATUS.completedWithErrors);
    failing.clear();
    holding = true;
    const reprocess = t.batches.reprocessBatch(root.batchId);
    await gate.entered;

    const report = await t.batches.pruneImports({
      olderThan: new Date(),
      includeUnresolved: true,
    });
    expect(report).toMatchObject({ batches: 0, kept: { live: 1 } });
    expect(await batchCount()).toBe(2);
    gate.release();
    expect((await reprocess).status).toBe(BATCH_STATUS.completed);
  });

  it('filters by status and by batch type, and refuses a status that may still run', async () => {
    failing.add(1);
    const failed = await ranBatch('ledger_row', rows(1), 60);
    failing.clear();
    const done = await ranBatch('ledger_row', rows(2), 60);
    const other = await ranBatch('short_lived_row', rows(3), 60);

    const byStatus = await t.batches.pruneImports({
      olderThan: daysAgo(30),
      statuses: [BATCH_STATUS.completed],
      batchTypes: ['ledger_row'],
      includeUnresolved: true,
    });
    expect(byStatus).toMatchObject({ batches: 1, batchesByStatus: { completed: 1 } });
    expect(await count('import_batches', [failed.batchId, done.batchId, other.batchId])).toBe(2);

    await expect(
      t.batches.pruneImports({
        olderThan: daysAgo(30),
        statuses: [BATCH_STATUS.processing],
      }),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(t.batches.pruneImports({ olderThan: new Date('nonsense') })).rejects.toThrow(
      /options\.olderThan/,
    );
    await expect(t.batches.pruneImports({ olderThan: daysAgo(1), sliceSize: 0 })).rejects.toThrow(
      /options\.sliceSize/,
    );
  });

  it('removes in bounded slices, and a dry run removes nothing and reports the same', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n++)
      ids.push((await ranBatch('ledger_row', rows(n, n + 10), 40)).batchId);
    const before = await footprint(ids);

    const dry = await t.batches.pruneImports({
      olderThan: daysAgo(30),
      sliceSize: 2,
      dryRun: true,
    });
    expect(await footprint(ids)).toEqual(before);

    const real = await t.batches.pruneImports({ olderThan: daysAgo(30), sliceSize: 2 });
    // Five trees of one batch, two a slice: three transactions.
    expect(real).toMatchObject({ trees: 5, slices: 3, ...before });
    expect({ ...dry, dryRun: false }).toEqual(real);
    expect(await count('import_batches', ids)).toBe(0);
  });

  it('never puts more than sliceSize batches in a slice but for a tree that is bigger alone', async () => {
    const trees: string[][] = [];
    for (const n of [1, 2, 3]) {
      failing.add(n);
      const root = await t.batches.import('ledger_row', rows(n, n + 10));
      failing.clear();
      const child = await t.batches.reprocessBatch(root.batchId);
      trees.push([root.batchId, child.batchId]);
    }
    // A tree of one, with a row left failed: its first batch has the status of the others.
    failing.add(4);
    trees.push([(await t.batches.import('ledger_row', rows(4, 14))).batchId]);
    failing.clear();
    for (const id of trees.flat()) await age(id, 40);
    const recorder = new RemovalRecorder();
    const pruner = await createTestApp(t.db.url, [LedgerRowProcessor, ShortLivedRowProcessor], {
      typeorm: { logger: recorder },
    });
    others.push(pruner);

    const report = await pruner.batches.pruneImports({
      olderThan: daysAgo(30),
      sliceSize: 3,
      includeUnresolved: true,
    });
    // Two trees of 2 would be 4: each goes alone; the last of 2 and the one of 1 make 3.
    expect(recorder.removals).toEqual([2, 2, 3]);
    expect(report).toMatchObject({ trees: 4, batches: 7, slices: 3 });

    recorder.removals = [];
    failing.add(5);
    const big = await t.batches.import('ledger_row', rows(5));
    failing.clear();
    const child = await t.batches.reprocessBatch(big.batchId);
    await age(big.batchId, 40);
    await age(child.batchId, 40);
    const alone = await pruner.batches.pruneImports({ olderThan: daysAgo(30), sliceSize: 1 });
    expect(recorder.removals).toEqual([2]);
    expect(alone).toMatchObject({ trees: 1, batches: 2, slices: 1 });
  });

  it('two pruners at once neither fail nor count a tree twice', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 12; n++) ids.push((await ranBatch('ledger_row', rows(n), 40)).batchId);
    const second = await createTestApp(t.db.url, [LedgerRowProcessor, ShortLivedRowProcessor]);
    others.push(second);

    const reports: PruneReport[] = await Promise.all([
      t.batches.pruneImports({ olderThan: daysAgo(30), sliceSize: 2 }),
      second.batches.pruneImports({ olderThan: daysAgo(30), sliceSize: 3 }),
      t.batches.pruneImports({ olderThan: daysAgo(30), sliceSize: 1 }),
    ]);

    expect(reports.reduce((sum, report) => sum + report.batches, 0)).toBe(12);
    expect(reports.reduce((sum, report) => sum + report.trees, 0)).toBe(12);
    expect(await count('import_batches', ids)).toBe(0);
  });

  it('a slice whose connection dies midway removes nothing, and its retry counts each row once', async () => {
    const tree = await ranBatch('ledger_row', rows(1, 2, 3), 40);
    const before = await footprint([tree.batchId]);
    // Reads go on, writes to the rows wait: the slice removes the logs and counters, then waits.
    const holder = await t.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE import_batch_items IN SHARE MODE');
    const deleting = async (): Promise<number[]> =>
      (
        await sql.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
           AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM "import_batch_items"%'`,
        )
      ).rows.map((row) => row.pid);
    const prune = t.batches.pruneImports({ olderThan: daysAgo(30) });
    await waitFor(async () => (await deleting()).length === 1, { what: 'the slice waiting' });
    const [first] = await deleting();
    await sql.query('SELECT pg_terminate_backend($1)', [first]);
    // The dead slice's removals were rolled back; the retry waits at the same place.
    await waitFor(async () => (await deleting()).some((pid) => pid !== first), {
      what: 'the retried slice waiting',
    });
    expect(await count('import_logs', [tree.batchId])).toBe(before.logs);
    await holder.query('COMMIT');

    expect(await prune).toMatchObject({ ...before, trees: 1, slices: 1 });
    expect(await footprint([tree.batchId])).toEqual({
      batches: 0,
      items: 0,
      logs: 0,
      progressRows: 0,
    });
  });

  describe('a prune racing a reprocess of the same tree (two connections)', () => {
    /** Holds `table` so that whoever writes to it next waits, until the returned function is called. */
    const holdTable = async (table: string): Promise<() => Promise<void>> => {
      const holder = await t.connect();
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      return async () => {
        await holder.query('COMMIT');
      };
    };
    const waiters = async (): Promise<number> =>
      (
        await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n;

    it('prune first: the reprocess waits for it, then finds the batch gone; no orphan is left', async () => {
      failing.add(2);
      const root = await ranBatch('ledger_row', rows(1, 2), 60);
      failing.clear();
      // The slice stops at the progress rows, holding the tree's first batch.
      const release = await holdTable('import_batch_progress');
      const prune = t.batches.pruneImports({ olderThan: daysAgo(30), includeUnresolved: true });
      await waitFor(async () => (await waiters()) === 1, { what: 'the prune waiting' });
      const reprocess = t.batches.reprocessBatch(root.batchId);
      reprocess.catch(() => undefined);
      await waitFor(async () => (await waiters()) === 2, { what: 'the reprocess waiting' });
      await release();

      expect(await prune).toMatchObject({ trees: 1, batches: 1 });
      await expect(reprocess).rejects.toThrow(ImportBatchNotFoundError);
      expect(await batchCount()).toBe(0);
      expect(await orphans()).toBe(0);
    });

    it('reprocess first: the prune leaves the tree to it, and the tree stays whole', async () => {
      failing.add(2);
      const root = await ranBatch('ledger_row', rows(1, 2), 60);
      failing.clear();
      // The reprocess stops at its audit entry, having created the child under the tree's lock.
      const release = await holdTable('import_logs');
      const reprocess = t.batches.reprocessBatch(root.batchId);
      await waitFor(async () => (await waiters()) === 1, { what: 'the reprocess waiting' });

      const report = await t.batches.pruneImports({
        olderThan: daysAgo(30),
        includeUnresolved: true,
      });
      expect(report).toMatchObject({ batches: 0, kept: { busy: 1 } });
      await release();
      const child = await reprocess;
      expect(child.status).toBe(BATCH_STATUS.completed);

      // The child ended now: the tree is not due yet, and neither batch goes.
      const after = await t.batches.pruneImports({ olderThan: daysAgo(30) });
      expect(after.batches).toBe(0);
      expect(await count('import_batches', [root.batchId, child.batchId])).toBe(2);
      expect(await orphans()).toBe(0);
    });
  });

  it('pruneLogs removes old entries of kept batches only, and its dry run counts them', async () => {
    const kept = await t.batches.import('ledger_row', rows(1, 2));
    await sql.query(
      `UPDATE import_logs SET created_at = now() - interval '20 days'
       WHERE id IN (SELECT id FROM import_logs WHERE batch_id = $1 ORDER BY id LIMIT 1)`,
      [kept.batchId],
    );
    const all = await count('import_logs', [kept.batchId]);

    const dry = await t.batches.pruneLogs({ olderThan: daysAgo(10), dryRun: true });
    expect(dry.logs).toBe(1);
    expect(await count('import_logs', [kept.batchId])).toBe(all);
    const real = await t.batches.pruneLogs({ olderThan: daysAgo(10) });
    expect(real.logs).toBe(1);
    expect(await count('import_logs', [kept.batchId])).toBe(all - 1);
    expect(await count('import_batches', [kept.batchId])).toBe(1);
  });

  it("applyRetention applies the module's retention and a processor's own, type by type", async () => {
    const ledgerOld = await ranBatch('ledger_row', rows(1), 40);
    const ledgerRecent = await ranBatch('ledger_row', rows(2), 5);
    const shortRecent = await ranBatch('short_lived_row', rows(3), 5);
    const shortKeptLogs = await t.batches.import('short_lived_row', rows(4));
    await age(shortKeptLogs.batchId, 0);
    await sql.query(
      `UPDATE import_logs SET created_at = now() - interval '3 days' WHERE batch_id = $1`,
      [shortKeptLogs.batchId],
    );

    const dry = await t.batches.applyRetention({ dryRun: true });
    expect(await batchCount()).toBe(4);
    const report = await t.batches.applyRetention();

    expect(report.ran).toBe(true);
    expect(report.batches).toMatchObject({ batches: 2, batchesByStatus: { completed: 2 } });
    expect(report.logs.logs).toBeGreaterThan(0);
    expect([dry.batches.batches, dry.logs.logs]).toEqual([2, report.logs.logs]);
    expect(
      await count('import_batches', [
        ledgerOld.batchId,
        ledgerRecent.batchId,
        shortRecent.batchId,
        shortKeptLogs.batchId,
      ]),
    ).toBe(2);
    expect(await count('import_batches', [ledgerRecent.batchId, shortKeptLogs.batchId])).toBe(2);
    expect(await count('import_logs', [shortKeptLogs.batchId])).toBe(0);
  });

  it('applies retention in one instance at a time: another holding the advisory lock makes it a no-op', async () => {
    await ranBatch('ledger_row', rows(1), 40);
    const holder = await t.connect();
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [RETENTION_LOCK_KEY]);

    const skipped = await t.batches.applyRetention();
    expect(skipped.ran).toBe(false);
    expect(await batchCount()).toBe(1);

    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [RETENTION_LOCK_KEY]);
    const applied = await t.batches.applyRetention();
    expect(applied).toMatchObject({ ran: true, batches: { batches: 1 } });
    // Given back on the connection that took it: no session of the pool keeps it.
    const { rows: held } = await sql.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(held).toEqual([]);
  });

  it('two instances applying retention at once: one runs, the other skips its turn', async () => {
    await ranBatch('ledger_row', rows(1), 40);
    const second = await createTestApp(t.db.url, [LedgerRowProcessor, ShortLivedRowProcessor], {
      module: { retention: { completedDays: 30 } },
    });
    others.push(second);
    // The first run stops in its slice (at the progress rows), holding the retention lock.
    const holder = await t.connect();
    const both = await applyRetentionTwiceAtOnce(t.batches, second.batches, holder, sql);

    expect(both.second).toMatchObject({ ran: false, batches: { batches: 0 } });
    expect(both.first).toMatchObject({ ran: true, batches: { batches: 1 } });
  });

  it('the worker applies retention on its own, on a schedule, when retention is configured', async () => {
    const old = await ranBatch('ledger_row', rows(1), 40);
    const worker = await createTestApp(t.db.url, [LedgerRowProcessor, ShortLivedRowProcessor], {
      module: {
        worker: { enabled: true, pollIntervalMs: 50 },
        retention: { completedDays: 30, intervalMs: 1000 },
      },
    });
    others.push(worker);
    await waitFor(async () => (await count('import_batches', [old.batchId])) === 0, {
      what: 'the scheduled retention',
    });
    // And again at its interval.
    const later = await ranBatch('ledger_row', rows(2), 40);
    await waitFor(async () => (await count('import_batches', [later.batchId])) === 0, {
      what: 'the next scheduled retention',
    });
  });
});
