import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import {
  BaseProcessor,
  ImportProcessor,
  type ImportContext,
  type ImportItem,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { runCli } from '../support/built-cli';
import { CREATE_APPLIED_TABLE, resultOf, startProcessingChild } from '../support/child-process';
import { startPgBouncer, type RunningPgBouncer } from '../support/pgbouncer';
import { applyRetentionTwiceAtOnce } from '../support/retention-race';
import { sleep, waitFor } from '../support/timing';
import { useTestDatabase } from '../support/use-test-app';

interface Row {
  n: number;
  ok?: boolean;
}

/** Writes each row to `applied`; a row with `ok: false` fails until it is corrected. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<Row> {
  validateItem(item: ImportItem<Row>): string | true {
    return item.sourceData.ok !== false || 'not ok yet';
  }

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, $3)', [
      item.id,
      item.sourceData.n,
      process.pid,
    ]);
  }
}

/** Hangs in a statement, holding a row lock, until the item's timeout gives up on it. */
@ImportProcessor({ batchType: 'hanging_row' })
class HangingRowProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query(`SELECT pg_sleep(60), 'reliable-imports-hang-${item.sourceData.n}'`);
  }
}

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

// Child processes and the built binary, each a Node process of its own: slow on a busy machine.
jest.setTimeout(120_000);

/**
 * The module, its worker, several processes and the CLI on PostgreSQL through PgBouncer in transaction
 * mode, where a client holds a server connection for one transaction only: a session's state (LISTEN, a
 * session lock, a SET, a prepared statement) would be lost or land on another client's transaction.
 */
describe('behind PgBouncer in transaction mode', () => {
  const file = useTestDatabase();
  let bouncer: RunningPgBouncer;
  let pooledUrl: string;
  let admin: Client;

  beforeAll(async () => {
    bouncer = await startPgBouncer();
    // Registered first, so closed last: after the apps that connect through it.
    file.closeBeforeCheck(() => bouncer.stop());
    pooledUrl = bouncer.urlOf(file.db.url);
    admin = await file.connect();
    await admin.query(CREATE_APPLIED_TABLE);
  });

  /** An app through the pooler, closed by the file's clean-up even when its test fails. */
  async function pooledApp(module: ReliableImportsModuleOptions = {}): Promise<TestApp> {
    const app = await createTestApp(pooledUrl, [AppliedRowProcessor, HangingRowProcessor], {
      module,
    });
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await app.close();
    };
    file.closeBeforeCheck(close);
    return { ...app, close };
  }

  const rows = (count: number, from = 0): Row[] =>
    Array.from({ length: count }, (_, i) => ({ n: from + i }));

  async function expectAppliedExactlyOnce(
    app: TestApp,
    batchId: string,
    count: number,
  ): Promise<void> {
    expect(await app.batches.getBatchSummary(batchId)).toMatchObject({
      status: 'completed',
      completedItems: count,
      pendingItems: 0,
      processingItems: 0,
      failedItems: 0,
    });
    const { rows: stats } = await admin.query<{ rows: number; items: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT a.item_id)::int AS items
       FROM applied a JOIN import_batch_items i ON i.id = a.item_id WHERE i.batch_id = $1`,
      [batchId],
    );
    expect(stats[0]).toEqual({ rows: count, items: count });
  }

  it('goes through the pooler: the pid its clients see is not a server process', async () => {
    const app = await pooledApp();
    const runner = app.dataSource.createQueryRunner();
    try {
      const [{ pid }] = (await runner.query('SELECT pg_backend_pid() AS pid')) as Array<{
        pid: number;
      }>;
      const client = (runner as unknown as { databaseConnection: { processID: number } })
        .databaseConnection;
      const { rows: servers } = await admin.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
      );
      expect(servers.map((server) => server.pid)).toContain(pid);
      // PgBouncer's make-believe: what a pg_cancel_backend(pid) of the client's would have aimed at.
      expect(client.processID).not.toBe(pid);
    } finally {
      await runner.release();
    }
    await app.close();
  });

  it('imports, corrects and reprocesses, with several rows at once and chunked commits', async () => {
    const app = await pooledApp();
    const items = rows(200, 10_000).map((row) => (row.n % 50 === 7 ? { ...row, ok: false } : row));
    const batch = await app.batches.createBatch('applied_row', items);
    const first = await app.batches.processBatch(batch.id, { concurrency: 4, commitEvery: 20 });
    expect(first).toMatchObject({ status: 'completed_with_errors', completedItems: 196 });
    expect(first.failedItems).toBe(4);

    const failed = await app.batches.getItems(batch.id, { status: 'failed' });
    for (const item of failed) {
      await app.batches.correctItem(item.id, { ok: true }, { mode: 'merge' });
    }
    const child = await app.batches.reprocessBatch(batch.id, { concurrency: 2 });
    expect(child).toMatchObject({ status: 'completed', completedItems: 4, failedItems: 0 });
    const { rows: applied } = await admin.query<{ rows: number; distinct: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct FROM applied WHERE n >= 10000 AND n < 10200`,
    );
    expect(applied[0]).toEqual({ rows: 200, distinct: 200 });
    await app.close();
  });

  /** What the module warned of or said about notifications (other apps' TypeORM warnings left out). */
  const aboutNotifications = (spy: jest.SpyInstance): string[] =>
    spy.mock.calls.map(([message]) => String(message)).filter((text) => /LISTEN|listen/.test(text));

  it('has the worker find batches by polling, with one warning that names the option', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const worker = await pooledApp({ worker: { enabled: true, pollIntervalMs: 100 } });
    const creator = await pooledApp();
    try {
      for (const from of [20_000, 20_100]) {
        const batch = await creator.batches.createBatch('applied_row', rows(20, from));
        await waitFor(
          async () => (await creator.batches.getBatchSummary(batch.id)).status === 'completed',
          { withinMs: 20_000, what: `the worker to complete batch ${batch.id}` },
        );
        await expectAppliedExactlyOnce(creator, batch.id, 20);
      }
      // The worker and the event publisher both wanted to listen: one check, one warning.
      const warnings = aboutNotifications(warn);
      expect(warnings).toEqual([expect.stringContaining('LISTEN/NOTIFY does not reach')]);
      expect(warnings[0]).toContain("connectionPooler: 'transaction'");
      expect(warnings[0]).toContain('The worker looks for batches every 100 ms');
    } finally {
      warn.mockRestore();
      await worker.close();
      await creator.close();
    }
  });

  it("warns of nothing when told (connectionPooler: 'transaction'): one line says it polls", async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const log = jest.spyOn(Logger.prototype, 'log');
    const worker = await pooledApp({
      connectionPooler: 'transaction',
      worker: { enabled: true, pollIntervalMs: 100 },
    });
    try {
      const batch = await worker.batches.createBatch('applied_row', rows(10, 30_000));
      await waitFor(
        async () => (await worker.batches.getBatchSummary(batch.id)).status === 'completed',
        { withinMs: 20_000, what: 'the worker to complete the batch' },
      );
      expect(aboutNotifications(warn)).toEqual([]);
      expect(aboutNotifications(log)).toEqual([expect.stringContaining('no LISTEN/NOTIFY')]);
    } finally {
      warn.mockRestore();
      log.mockRestore();
      await worker.close();
    }
  });

  it('cancels the statement of a row it gives up on, on the server, through the pooler', async () => {
    const app = await pooledApp({ connectionPooler: 'transaction' });
    const batch = await app.batches.createBatch('hanging_row', rows(2, 40_000));
    const summary = await app.batches.processBatch(batch.id, {
      itemTimeoutMs: 300,
      maxAttempts: 1,
    });
    expect(summary).toMatchObject({ status: 'completed_with_errors', failedItems: 2 });
    const items = await app.batches.getItems(batch.id);
    expect(items.map((item) => item.errorDetails?.code)).toEqual(['ITEM_TIMEOUT', 'ITEM_TIMEOUT']);
    // pg_sleep(60) would go on for a minute on its server connection had the cancel gone by a pid.
    await waitFor(
      async () =>
        (
          await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE query LIKE '%reliable-imports-hang-%' AND state = 'active' AND pid <> pg_backend_pid()`,
          )
        ).rows[0].n === 0,
      { withinMs: 10_000, what: 'the hanging statements to be cancelled on the server' },
    );
    await app.close();
  });

  it('applies retention in one instance at a time: its transaction lock holds through the pooler, and is given back', async () => {
    const retention = { retention: { completedDays: 30 } };
    const first = await pooledApp(retention);
    const second = await pooledApp(retention);
    const aged = async (from: number): Promise<string> => {
      const { batchId } = await first.batches.import('applied_row', rows(2, from));
      await admin.query(
        `UPDATE import_batches SET created_at = now() - interval '40 days',
           started_at = now() - interval '40 days', completed_at = now() - interval '40 days'
         WHERE id = $1`,
        [batchId],
      );
      return batchId;
    };
    const old = await aged(50_000);
    // The first run stops in its slice (at the progress rows), holding the retention lock.
    const holder = await file.connect();
    const both = await applyRetentionTwiceAtOnce(first.batches, second.batches, holder, admin);
    expect(both.second).toMatchObject({ ran: false, batches: { batches: 0 } });
    expect(both.first).toMatchObject({ ran: true, batches: { batches: 1 } });

    // Given back with its transaction: no server connection of the pool kept it for the next client.
    const { rows: held } = await admin.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(held).toEqual([]);
    const later = await aged(50_100);
    expect(await second.batches.applyRetention()).toMatchObject({
      ran: true,
      batches: { batches: 1 },
    });
    const { rows: left } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM import_batches WHERE id = ANY($1::uuid[])',
      [[old, later]],
    );
    expect(left[0].n).toBe(0);
    await second.close();
    await first.close();
  });

  it('finishes a batch whose processes are killed mid-batch, each row applied once', async () => {
    const app = await pooledApp();
    const total = 900;
    const batch = await app.batches.createBatch('applied_row', rows(total, 100_000));
    const completed = async () =>
      Number(
        (
          await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM import_batch_items WHERE batch_id = $1 AND status = 'completed'`,
            [batch.id],
          )
        ).rows[0].n,
      );
    for (let round = 0; round < 2; round++) {
      const child = startProcessingChild({
        databaseUrl: pooledUrl,
        batchId: batch.id,
        concurrency: 3,
        leaseMs: 1500,
      });
      const target = Math.floor((total / 3) * (round + 0.3 + Math.random() * 0.6));
      const deadline = Date.now() + 30_000;
      while ((await completed()) < target && Date.now() < deadline) await sleep(5);
      child.process.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
    }
    expect(await completed()).toBeLessThan(total);

    const last = startProcessingChild({ databaseUrl: pooledUrl, batchId: batch.id, leaseMs: 1500 });
    const { code, stdout, stderr } = await last.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(resultOf(stdout).status).toBe('completed');
    await expectAppliedExactlyOnce(app, batch.id, total);
    await app.close();
  });

  it('shares a batch between three processes, each row applied once', async () => {
    const app = await pooledApp();
    const total = 1800;
    const batch = await app.batches.createBatch('applied_row', rows(total, 200_000));
    const children = [0, 1, 2].map(() =>
      startProcessingChild({ databaseUrl: pooledUrl, batchId: batch.id, concurrency: 3 }),
    );
    const results = await Promise.all(children.map((child) => child.exited));
    for (const { code, stderr } of results)
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const processed = results.map(({ stdout }) => resultOf(stdout));
    expect(processed.every((result) => result.status === 'completed')).toBe(true);
    expect(processed.reduce((sum, result) => sum + result.processed, 0)).toBe(total);
    await expectAppliedExactlyOnce(app, batch.id, total);
    await app.close();
  });

  it('runs the CLI through the pooler: migrate, import, correct, reprocess', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reliable-imports-pgbouncer-'));
    try {
      const env = { DATABASE_URL: pooledUrl };
      expect(runCli(['migrate'], { env })).toMatchObject({ status: 0 });
      // Made here: two rows' CREATE TABLE IF NOT EXISTS at once may collide in PostgreSQL's catalog.
      await admin.query('CREATE TABLE contacts (email text PRIMARY KEY, name text)');
      const csv = join(dir, 'contacts.csv');
      writeFileSync(csv, 'email,name\na@bouncer.test,A\nbad-email,B\nc@bouncer.test,C\n');
      const imported = runCli(
        ['--module', USER_MODULE, '--json', 'import', 'contact', csv, '--concurrency', '2'],
        { env },
      );
      expect(imported.stderr).toBe('');
      expect(imported.status).toBe(1);
      const summary = JSON.parse(imported.stdout) as { batchId: string };
      expect(summary).toMatchObject({ totalItems: 3, completedItems: 2, failedItems: 1 });

      const { rows: failed } = await admin.query<{ id: string }>(
        `SELECT id FROM import_batch_items WHERE batch_id = $1 AND status = 'failed'`,
        [summary.batchId],
      );
      expect(failed).toHaveLength(1);
      expect(
        runCli(['correct', failed[0].id, '--set', 'email=b@bouncer.test'], { env }),
      ).toMatchObject({ status: 0, stderr: '' });
      const reprocessed = runCli(
        ['--module', USER_MODULE, '--json', 'reprocess', summary.batchId],
        { env },
      );
      expect(reprocessed.status).toBe(0);
      expect(JSON.parse(reprocessed.stdout)).toMatchObject({
        status: 'completed',
        completedItems: 1,
        lineage: { totalRows: 3, unresolved: 0 },
      });
      const { rows: contacts } = await admin.query<{ email: string }>(
        `SELECT email FROM contacts ORDER BY email`,
      );
      expect(contacts.map((row) => row.email)).toEqual([
        'a@bouncer.test',
        'b@bouncer.test',
        'c@bouncer.test',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
