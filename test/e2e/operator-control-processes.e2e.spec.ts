import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportProcessor,
  ITEM_STATUS,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { runCli } from '../support/built-cli';
import { CREATE_APPLIED_TABLE, resultOf, startProcessingChild } from '../support/child-process';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

const USER_MODULE = 'test/fixtures/cli/cli-imports.module.ts#CliImportsModule';

/** The same work as the children's (`test/support/processing-child.ts`), for the reprocess run here. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  async processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>) {
    await ctx.query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, $3)', [
      item.id,
      item.sourceData.n,
      process.pid,
    ]);
  }
}

/**
 * An operator pauses, resumes and cancels a batch from a third process (the built CLI) while two other
 * processes run it. `applied` has no unique key: a row applied twice would show.
 */
describe('pause, resume and cancel across processes', () => {
  const t = useTestApp([AppliedRowProcessor]);
  let admin: Client;

  beforeAll(async () => {
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    admin = await t.connect();
  });

  const one = async (sql: string, params: unknown[]): Promise<number> =>
    Number((await admin.query<{ value: number }>(sql, params)).rows[0].value);
  const itemsIn = (batchId: string, status: string) =>
    one(
      `SELECT count(*)::int AS value FROM import_batch_items WHERE batch_id = $1 AND status = $2`,
      [batchId, status],
    );
  const cli = (...args: string[]) =>
    runCli(['--json', ...args], { env: { DATABASE_URL: t.db.url } });
  const twoChildren = (batchId: string) =>
    [0, 1].map(() =>
      startProcessingChild({ databaseUrl: t.db.url, batchId, concurrency: 2, leaseMs: 3000 }),
    );
  const exits = async (children: ReturnType<typeof twoChildren>) => {
    const results = await Promise.all(children.map((child) => child.exited));
    for (const { code, stderr } of results)
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return results.map(({ stdout }) => resultOf(stdout));
  };
  /** Each row of the tree of `batchId` applied exactly once. */
  async function expectAppliedOnce(batchId: string, total: number): Promise<void> {
    const stats = (
      await admin.query<{ rows: number; distinct: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT a.n)::int AS distinct FROM applied a
         JOIN import_batch_items i ON i.id = a.item_id
         WHERE i.batch_id = $1 OR i.batch_id IN (SELECT id FROM import_batches WHERE parent_batch_id = $1)`,
        [batchId],
      )
    ).rows[0];
    expect(stats).toEqual({ rows: total, distinct: total });
  }

  it('pauses a 20,000-row batch that two processes run: no row is claimed after the pause, it survives a restart, and resume finishes it exactly once', async () => {
    const total = 20_000;
    const batch = await t.batches.createBatch(
      'applied_row',
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    const running = twoChildren(batch.id);
    await waitFor(async () => (await itemsIn(batch.id, ITEM_STATUS.completed)) >= 2000, {
      withinMs: 60_000,
    });

    const paused = cli('pause', batch.id);
    expect({ status: paused.status, stderr: paused.stderr }).toEqual({ status: 0, stderr: '' });
    expect(JSON.parse(paused.stdout)).toMatchObject({ id: batch.id, status: BATCH_STATUS.paused });

    const results = await exits(running);
    expect(results.map((result) => result.status)).toEqual([
      BATCH_STATUS.paused,
      BATCH_STATUS.paused,
    ]);
    // Within a second of the pause, no row was claimed by either process.
    const lateClaims = await one(
      `SELECT count(*)::int AS value FROM import_batch_items
       WHERE batch_id = $1 AND started_at > (
         SELECT created_at FROM import_logs WHERE batch_id = $1 AND message LIKE 'Batch paused%') + interval '1 second'`,
      [batch.id],
    );
    expect(lateClaims).toBe(0);
    expect(await itemsIn(batch.id, ITEM_STATUS.processing)).toBe(0);
    const pendingAtPause = await itemsIn(batch.id, ITEM_STATUS.pending);
    expect(pendingAtPause).toBeGreaterThan(0);

    // Restarted, both processes leave the paused batch alone.
    const restarted = await exits(twoChildren(batch.id));
    expect(restarted).toEqual([
      { processed: 0, status: BATCH_STATUS.paused },
      { processed: 0, status: BATCH_STATUS.paused },
    ]);
    expect(await itemsIn(batch.id, ITEM_STATUS.pending)).toBe(pendingAtPause);

    const resumed = cli('resume', batch.id);
    expect(resumed.status).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: BATCH_STATUS.processing });
    const finished = await exits(twoChildren(batch.id));
    expect(finished.map((result) => result.status)).toEqual([
      BATCH_STATUS.completed,
      BATCH_STATUS.completed,
    ]);
    expect(await itemsIn(batch.id, ITEM_STATUS.completed)).toBe(total);
    await expectAppliedOnce(batch.id, total);
  }, 180_000);

  it('cancels a batch two processes run: the rows no run took are cancelled, none is lost, and a reprocess completes them', async () => {
    const total = 5000;
    const batch = await t.batches.createBatch(
      'applied_row',
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    const running = twoChildren(batch.id);
    await waitFor(async () => (await itemsIn(batch.id, ITEM_STATUS.completed)) >= 500, {
      withinMs: 60_000,
    });
    const cancelled = cli('cancel', batch.id, '--reason', 'wrong file');
    expect({ status: cancelled.status, stderr: cancelled.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    expect(JSON.parse(cancelled.stdout)).toMatchObject({
      status: BATCH_STATUS.cancelled,
      errorMessage: 'cancelled: wrong file',
    });
    const results = await exits(running);
    expect(results.map((result) => result.status)).toEqual([
      BATCH_STATUS.cancelled,
      BATCH_STATUS.cancelled,
    ]);

    const summary = await t.batches.getBatchSummary(batch.id);
    expect(summary).toMatchObject({ pendingItems: 0, processingItems: 0, failedItems: 0 });
    expect(summary.cancelledItems).toBeGreaterThan(0);
    expect(summary.completedItems + summary.cancelledItems).toBe(total);
    expect(await t.batches.getBatch(batch.id)).toMatchObject({
      completedItems: summary.completedItems,
      cancelledItems: summary.cancelledItems,
    });

    const child = await t.batches.reprocessBatch(batch.id, { concurrency: 2 });
    expect(child).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: summary.cancelledItems,
    });
    await expectAppliedOnce(batch.id, total);
  }, 180_000);

  it('refuses to pause a finished batch, with the fix, as a usage error', async () => {
    const batch = await t.batches.createBatch('applied_row', [{ n: 1 }]);
    await t.batches.processBatch(batch.id);
    const refused = cli('pause', batch.id);
    expect(refused.status).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      error: { code: 'BATCH_STATUS_CONFLICT' },
    });
  });

  it('imports a file with an error budget from the CLI: the batch is paused with the reason and the steps to go on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ri-budget-'));
    const file = join(dir, 'contacts.csv');
    const lines = Array.from({ length: 20 }, (_, n) =>
      n < 5 ? `bad-${n},B${n}` : `a${n}@x.com,A${n}`,
    );
    writeFileSync(file, `email,name\n${lines.join('\n')}\n`);
    const imported = runCli(
      ['--module', USER_MODULE, 'import', 'contact', file, '--max-failures', '2'],
      { env: { DATABASE_URL: t.db.url } },
    );
    expect(imported.status).toBe(1);
    expect(imported.stdout).toMatch(/status +paused/);
    expect(imported.stdout).toContain('stopped: 3 of 3 rows failed (budget 2 failures)');
    expect(imported.stdout).toMatch(/reason +stopped: 3 of 3 rows failed/);
    expect(imported.stdout).toMatch(/fix its 3 failed row\(s\) if they should run again/);
    expect(imported.stdout).toMatch(/reliable-imports --module \S+ resume [0-9a-f-]{36}/);
    const batchId = /batch +([0-9a-f-]{36})/.exec(imported.stdout)?.[1] ?? '';
    // A reprocess waits for the paused batch; the tool says how to go on, in its own commands.
    const refused = runCli(['--module', USER_MODULE, 'reprocess', batchId], {
      env: { DATABASE_URL: t.db.url },
    });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`With this tool: "reliable-imports --module`);
    expect(refused.stderr).toContain(`resume ${batchId}" to go on with it`);
    // The failures file goes back through correct, then resume.
    const written = runCli(
      ['--module', USER_MODULE, 'failures', batchId, '--format', 'csv', '-o', join(dir, 'fix.csv')],
      { env: { DATABASE_URL: t.db.url } },
    );
    expect(written.status).toBe(0);
    expect(written.stderr).toMatch(
      /then run ".* correct [0-9a-f-]{36} --file .*fix\.csv", then ".* resume /,
    );
    const wrong = runCli(
      ['--module', USER_MODULE, 'import', 'contact', file, '--max-failure-rate', '2'],
      {
        env: { DATABASE_URL: t.db.url },
      },
    );
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('must be a number from 0 to 1');
  });
});
