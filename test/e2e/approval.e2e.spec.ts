import {
  BaseProcessor,
  BatchStatusConflictError,
  ImportProcessor,
  SourceRow,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { useTestApp } from '../support/use-test-app';
import { waitFor } from '../support/timing';

interface Reading {
  n: number;
}

/** Records each row it applies, so that a test sees whether a batch ran. */
@ImportProcessor({ requireApproval: true })
class GatedReadingProcessor extends BaseProcessor<Reading> {
  async processItem(item: ImportItem<Reading>, ctx: ImportContext<Reading>) {
    await ctx.query('INSERT INTO gated_readings (item_id, n) VALUES ($1, $2)', [
      item.id,
      item.sourceData.n,
    ]);
  }
}

/** The same, for batches that need no approval unless the module or the call asks for it. */
@ImportProcessor()
class OpenReadingProcessor extends BaseProcessor<Reading> {
  async processItem(item: ImportItem<Reading>, ctx: ImportContext<Reading>) {
    await ctx.query('INSERT INTO gated_readings (item_id, n) VALUES ($1, $2)', [
      item.id,
      item.sourceData.n,
    ]);
  }
}

const rows = (count: number): Reading[] => Array.from({ length: count }, (_, n) => ({ n }));

describe('approval', () => {
  const t = useTestApp([GatedReadingProcessor, OpenReadingProcessor]);
  const others: TestApp[] = [];

  beforeAll(async () => {
    await t.dataSource.query(
      'CREATE TABLE gated_readings (item_id uuid PRIMARY KEY, n integer NOT NULL)',
    );
  });
  afterEach(async () => {
    for (const app of others.splice(0)) await app.close();
  });

  const applied = async (batchId: string): Promise<number> => {
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM gated_readings r JOIN import_batch_items i ON i.id = r.item_id
       WHERE i.batch_id = $1`,
      [batchId],
    );
    return count;
  };

  it('stores a batch awaiting approval by the processor option, the call option or the module option', async () => {
    const gated = await t.batches.createBatch('gated_reading', rows(2));
    expect(gated.status).toBe('awaiting_approval');
    const overridden = await t.batches.createBatch('gated_reading', rows(1), {
      requireApproval: false,
    });
    expect(overridden.status).toBe('pending');
    const asked = await t.batches.createBatch('open_reading', rows(1), { requireApproval: true });
    expect(asked.status).toBe('awaiting_approval');
    expect((await t.batches.createBatch('open_reading', rows(1))).status).toBe('pending');

    const module = await createTestApp(t.db.url, [OpenReadingProcessor], {
      module: { requireApproval: true },
    });
    others.push(module);
    expect((await module.batches.createBatch('open_reading', rows(1))).status).toBe(
      'awaiting_approval',
    );
    await expect(
      t.batches.createBatch('open_reading', rows(1), {
        requireApproval: 'yes' as unknown as boolean,
      }),
    ).rejects.toThrow('options.requireApproval must be true or false (or left out)');
  });

  it('does not run a batch awaiting approval: processBatch and import resolve with its summary', async () => {
    const batch = await t.batches.createBatch('gated_reading', rows(3));
    await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({
      status: 'awaiting_approval',
      pendingItems: 3,
      startedAt: null,
    });
    await expect(t.batches.import('gated_reading', rows(2))).resolves.toMatchObject({
      status: 'awaiting_approval',
      pendingItems: 2,
    });
    expect(await applied(batch.id)).toBe(0);

    const approved = await t.batches.approveBatch(batch.id);
    expect(approved.status).toBe('pending');
    await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({
      status: 'completed',
      completedItems: 3,
    });
    expect(await applied(batch.id)).toBe(3);
    const logs = await t.batches.getLogs(batch.id);
    expect(logs[0]).toMatchObject({ level: 'info', message: expect.stringContaining('approved') });
  });

  it('the worker of another instance leaves a batch awaiting approval alone until it is approved', async () => {
    const worker = await createTestApp(t.db.url, [GatedReadingProcessor, OpenReadingProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 20 } },
    });
    others.push(worker);
    const waiting = await t.batches.createBatch('gated_reading', rows(5));
    // A newer batch the worker may run: the worker takes the oldest batch with work first, so once it has
    // run this one, it has passed over the older one (and goes on polling past it).
    const open = await t.batches.createBatch('open_reading', rows(5));
    await waitFor(async () => (await t.batches.getBatch(open.id)).status === 'completed', {
      what: 'the worker running the batch that needs no approval',
    });
    expect(await t.batches.getBatchSummary(waiting.id)).toMatchObject({
      status: 'awaiting_approval',
      pendingItems: 5,
      startedAt: null,
    });
    expect(await applied(waiting.id)).toBe(0);

    await t.batches.approveBatch(waiting.id);
    await waitFor(async () => (await t.batches.getBatch(waiting.id)).status === 'completed', {
      what: 'the worker running the approved batch',
    });
    expect(await applied(waiting.id)).toBe(5);
  });

  it('rejects a batch: its pending rows cancelled, the reason stored as given, with an audit entry', async () => {
    const lines = [
      new SourceRow(2, { n: 1 }),
      new SourceRow(3, { n: 2 }, { reason: 'bad quote', raw: '"x' }),
    ];
    const batch = await t.batches.createBatch('gated_reading', lines);
    const reason = `wrong file \u0000 from ${'x'.repeat(20_000)}`;
    const rejected = await t.batches.rejectBatch(batch.id, reason);
    expect(rejected).toMatchObject({
      status: 'rejected',
      completedAt: expect.any(Date),
      errorMessage: expect.stringMatching(
        /^wrong file \ufffd from x+… \[cut: \d+ more characters\]$/,
      ),
    });
    expect(await t.batches.getBatchSummary(batch.id)).toMatchObject({
      status: 'rejected',
      cancelledItems: 1,
      failedItems: 1,
      pendingItems: 0,
    });
    const items = await t.batches.getItems(batch.id);
    expect(items.map((item) => [item.status, item.attempts])).toEqual([
      ['cancelled', 0],
      ['failed', 0],
    ]);
    // A cancelled row says why, as a cancel's rows do.
    expect(items[0].errorMessage).toBe(rejected.errorMessage);
    const [entry] = await t.batches.getLogs(batch.id);
    expect(entry).toMatchObject({ level: 'warn', message: expect.stringContaining('wrong file') });
    expect(entry.details).toHaveProperty('originalReason');

    // Rejected is an end: nothing runs it, nothing approves it.
    await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({ status: 'rejected' });
    const refused = t.batches.approveBatch(batch.id);
    await expect(refused).rejects.toThrow(BatchStatusConflictError);
    await expect(t.batches.approveBatch(batch.id)).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      status: 'rejected',
      message: expect.stringContaining('It was rejected'),
    });
    expect(await applied(batch.id)).toBe(0);
  });

  it('refuses to decide on a batch that does not wait for approval', async () => {
    const waiting = await t.batches.createBatch('gated_reading', rows(2));
    await expect(t.batches.rejectBatch(waiting.id)).resolves.toMatchObject({
      status: 'rejected',
      errorMessage: 'rejected by an operator',
    });
    const pending = await t.batches.createBatch('open_reading', rows(2));
    await expect(t.batches.rejectBatch(pending.id, 'no')).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      status: 'pending',
      message: expect.stringContaining(`cancel it with cancelBatch("${pending.id}"`),
    });
    expect((await t.batches.getBatch(pending.id)).status).toBe('pending');
    const done = await t.batches.import('open_reading', rows(1));
    await expect(t.batches.rejectBatch(done.batchId, 'too late')).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      message: expect.stringContaining('It has ended already'),
    });
    await expect(t.batches.approveBatch(done.batchId)).rejects.toMatchObject({
      message: expect.stringContaining('It has ended'),
    });
    const approvedTwice = await t.batches.createBatch('gated_reading', rows(1));
    await t.batches.approveBatch(approvedTwice.id);
    await expect(t.batches.approveBatch(approvedTwice.id)).rejects.toMatchObject({
      status: 'pending',
      message: expect.stringContaining('approved already'),
    });
    await expect(t.batches.approveBatch('not-a-uuid')).rejects.toMatchObject({
      code: 'BATCH_NOT_FOUND',
    });
    await expect(t.batches.rejectBatch(pending.id, 42 as unknown as string)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('of an approval and a rejection made at once by two instances, exactly one is made', async () => {
    const second = await createTestApp(t.db.url, [GatedReadingProcessor, OpenReadingProcessor]);
    others.push(second);
    const locker = await t.connect();
    const watcher = await t.connect();
    for (let round = 0; round < 5; round++) {
      const batch = await t.batches.createBatch('gated_reading', rows(3));
      // Both decisions wait on the batch row the test holds, then go at once when it lets go.
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM import_batches WHERE id = $1 FOR UPDATE', [batch.id]);
      const decisions = [
        t.batches.approveBatch(batch.id),
        second.batches.rejectBatch(batch.id, 'not this one'),
      ];
      for (const decision of decisions) decision.catch(() => undefined);
      // Seen from outside the locker's transaction, whose view of the activity is taken once.
      await waitFor(
        async () =>
          (
            await watcher.query(
              `SELECT 1 FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          ).rowCount === 2,
        { what: 'both decisions waiting on the batch row' },
      );
      await locker.query('COMMIT');
      const [approve, reject] = await Promise.allSettled(decisions);
      const made = [approve, reject].filter((outcome) => outcome.status === 'fulfilled');
      expect(made).toHaveLength(1);
      const summary = await t.batches.getBatchSummary(batch.id);
      if (approve.status === 'fulfilled') {
        expect(summary).toMatchObject({ status: 'pending', pendingItems: 3, cancelledItems: 0 });
        expect(reject).toMatchObject({ reason: { code: 'BATCH_STATUS_CONFLICT' } });
      } else {
        expect(summary).toMatchObject({ status: 'rejected', pendingItems: 0, cancelledItems: 3 });
        expect(approve).toMatchObject({ reason: { code: 'BATCH_STATUS_CONFLICT' } });
      }
    }
  });
});
