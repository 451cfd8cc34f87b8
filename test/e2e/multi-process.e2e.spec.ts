import { Client } from 'pg';
import { BaseProcessor, ImportProcessor, type ImportItem } from '../../lib';
import { CREATE_APPLIED_TABLE, resultOf, startProcessingChild } from '../support/child-process';
import { useTestApp } from '../support/use-test-app';
import { sleep } from '../support/timing';

/** Registered here only so that batches of this type can be created; the children process them. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  processItem(_item: ImportItem<{ n: number }>): void {}
}

/**
 * Real child processes on one PostgreSQL: killed at random moments, run side by side, or frozen past
 * their lease. The children write to `applied` without a unique key, so a double apply would show.
 */
describe('crash safety, scale-out and fencing across processes', () => {
  const t = useTestApp([AppliedRowProcessor]);
  let admin: Client;

  beforeAll(async () => {
    await t.dataSource.query(CREATE_APPLIED_TABLE);
    admin = await t.connect();
  });

  const one = async (sql: string, params: unknown[] = []): Promise<number> =>
    Number((await admin.query<{ value: number }>(sql, params)).rows[0].value);

  const completed = (batchId: string) =>
    one(
      `SELECT count(*)::int AS value FROM import_batch_items WHERE batch_id = $1 AND status = 'completed'`,
      [batchId],
    );

  async function expectAppliedExactlyOnce(batchId: string, count: number): Promise<void> {
    const summary = await t.batches.getBatchSummary(batchId);
    expect(summary).toMatchObject({
      status: 'completed',
      completedItems: count,
      pendingItems: 0,
      processingItems: 0,
      failedItems: 0,
    });
    const stats = (
      await admin.query<{ rows: number; items: number; values: number }>(
        `SELECT count(*)::int AS rows, count(DISTINCT a.item_id)::int AS items, count(DISTINCT a.n)::int AS values
         FROM applied a JOIN import_batch_items i ON i.id = a.item_id WHERE i.batch_id = $1`,
        [batchId],
      )
    ).rows[0];
    expect(stats).toEqual({ rows: count, items: count, values: count });
  }

  it('finishes a 5,000-item batch killed with SIGKILL five times at random moments', async () => {
    const total = 5000;
    const batch = await t.batches.createBatch(
      'applied_row',
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    const kills: number[] = [];
    for (let round = 0; round < 5; round++) {
      const child = startProcessingChild({
        databaseUrl: t.db.url,
        batchId: batch.id,
        concurrency: 2,
        leaseMs: 1500,
      });
      // Kill somewhere in the next slice of the work, after a random number of items.
      const target = Math.floor((total / 6) * (round + 0.3 + Math.random() * 0.6));
      const deadline = Date.now() + 30_000;
      while ((await completed(batch.id)) < target && Date.now() < deadline) await sleep(5);
      child.process.kill('SIGKILL');
      const { signal } = await child.exited;
      expect(signal).toBe('SIGKILL');
      kills.push(await completed(batch.id));
    }
    expect(kills[4]).toBeLessThan(total);

    const last = startProcessingChild({ databaseUrl: t.db.url, batchId: batch.id, leaseMs: 1500 });
    const { code, stdout, stderr } = await last.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(resultOf(stdout).status).toBe('completed');
    await expectAppliedExactlyOnce(batch.id, total);
  }, 180_000);

  it('shares a 10,000-item batch between two processes with concurrency 4 each', async () => {
    const total = 10_000;
    const batch = await t.batches.createBatch(
      'applied_row',
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    const children = [0, 1].map(() =>
      startProcessingChild({ databaseUrl: t.db.url, batchId: batch.id, concurrency: 4 }),
    );
    const results = await Promise.all(children.map((child) => child.exited));
    for (const { code, stderr } of results)
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const processed = results.map(({ stdout }) => resultOf(stdout));
    expect(processed.every((result) => result.status === 'completed')).toBe(true);
    expect(processed.every((result) => result.processed > 0)).toBe(true);
    expect(processed[0].processed + processed[1].processed).toBe(total);
    await expectAppliedExactlyOnce(batch.id, total);
  }, 180_000);

  it('rolls back the late commit of a process frozen past its lease', async () => {
    const total = 300;
    const batch = await t.batches.createBatch(
      'applied_row',
      Array.from({ length: total }, (_, n) => ({ n })),
    );
    const sleeper = startProcessingChild({
      databaseUrl: t.db.url,
      batchId: batch.id,
      leaseMs: 1000,
      itemPauseMs: 30,
    });
    while ((await completed(batch.id)) < 20) await sleep(5);
    sleeper.process.kill('SIGSTOP');
    const frozenAt = await completed(batch.id);

    const rescuer = startProcessingChild({
      databaseUrl: t.db.url,
      batchId: batch.id,
      leaseMs: 1000,
    });
    const rescued = await rescuer.exited;
    expect({ code: rescued.code, stderr: rescued.stderr }).toEqual({ code: 0, stderr: '' });
    expect(resultOf(rescued.stdout).processed).toBeGreaterThanOrEqual(total - frozenAt);

    sleeper.process.kill('SIGCONT');
    const late = await sleeper.exited;
    // The sleeper finds its batch finished or taken: whatever it was doing is rolled back.
    expect(
      late.code === 0 || /LeaseLostError: This run's lease on batch .* expired/.test(late.stderr),
    ).toBe(true);
    await expectAppliedExactlyOnce(batch.id, total);
  }, 120_000);
});
