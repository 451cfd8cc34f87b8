import {
  BaseProcessor,
  BatchStatusConflictError,
  ImportProcessor,
  InvalidArgumentError,
  SourceRow,
  type BatchContext,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';
import { waitFor } from '../support/timing';

interface Guest {
  email: string;
  first_name?: string;
  last_name?: string;
  /** What the processor does with the row: insert it (default), throw, or skip it. */
  act?: 'throw' | 'skip' | 'hold' | 'hold-real';
  /** The text it throws or skips with. */
  text?: string;
}

/** What a row with `text: 'HOSTILE'` throws or skips with (rows cannot hold it: the processor makes it). */
const HOSTILE = `bad\u0000byte \ud800half ${'x'.repeat(20_000)}`;

/** Held by the test to keep a dry run's row (`act: 'hold'`) in flight. */
const HOLD_LOCK = 7313;

/**
 * Inserts each row into the real `customers` table (its e-mail is UNIQUE), with no upsert: a row whose
 * e-mail is taken fails there with the constraint's error, as it would in a real run.
 */
@ImportProcessor()
class GuestListProcessor extends BaseProcessor<Guest> {
  validateItem(item: ImportItem<Guest>): string | true {
    return item.sourceData.first_name ? true : `first_name is missing for ${item.sourceData.email}`;
  }

  async processItem(item: ImportItem<Guest>, ctx: ImportContext<Guest>) {
    const { email, first_name, last_name, act } = item.sourceData;
    const text = item.sourceData.text === 'HOSTILE' ? HOSTILE : item.sourceData.text;
    if ((act === 'hold' && ctx.isDryRun()) || (act === 'hold-real' && !ctx.isDryRun())) {
      await ctx.query('SELECT pg_advisory_xact_lock($1)', [HOLD_LOCK]);
    }
    if (act === 'throw') throw new Error(text ?? 'boom');
    if (act === 'skip') return ctx.skip(text ?? 'asked to skip');
    ctx.log.info(`inserting ${email}`);
    const row = await ctx.queryOne<{ id: number }>(
      'INSERT INTO customers (email, first_name, last_name) VALUES ($1, $2, $3) RETURNING id',
      [email, first_name, last_name ?? 'x'],
    );
    return { targetTable: 'customers', targetId: row!.id };
  }
}

/** Refuses a batch whose metadata says so; writes in its hooks, which a dry run must roll back. */
@ImportProcessor()
class AuditedProcessor extends BaseProcessor<{ n: number }> {
  async validateBatch(batch: ImportBatch, ctx: BatchContext) {
    await ctx.query(`INSERT INTO hook_writes (what) VALUES ('validateBatch')`);
    return batch.metadata.refuse === true ? 'the file is from last year' : true;
  }

  async onBatchStart(_batch: ImportBatch, ctx: BatchContext) {
    await ctx.query(`INSERT INTO hook_writes (what) VALUES ('onBatchStart')`);
    ctx.set('started', ctx.isDryRun() ? 'dry' : 'real');
  }

  async processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>) {
    if (ctx.get('started') !== 'dry') throw new Error('onBatchStart did not run first');
    await ctx.query(`INSERT INTO hook_writes (what) VALUES ('processItem')`);
    return { targetId: item.sourceData.n };
  }
}

const person = (email: string, extra: Partial<Guest> = {}): Guest => ({
  email,
  first_name: 'Ada',
  last_name: 'Lovelace',
  ...extra,
});

describe('dry runs', () => {
  const t = useTestApp([GuestListProcessor, AuditedProcessor]);

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE hook_writes (what text NOT NULL)');
  });

  /** Every column of the batch's rows but the dry run's, in order: what a dry run must not change. */
  const rowsBesideVerdicts = (batchId: string) =>
    t.dataSource.query<Record<string, unknown>[]>(
      `SELECT to_jsonb(i) - 'dry_run_outcome' - 'dry_run_error' - 'dry_run_at' AS row
       FROM import_batch_items i WHERE batch_id = $1 ORDER BY item_index`,
      [batchId],
    );
  const batchRow = (batchId: string) =>
    t.dataSource.query<Record<string, unknown>[]>(
      `SELECT to_jsonb(b) AS row FROM import_batches b WHERE id = $1`,
      [batchId],
    );
  const customers = () =>
    t.dataSource.query<{ email: string }[]>('SELECT * FROM customers ORDER BY id');

  it('reports the rows that violate a unique constraint of the target table, and changes nothing but their verdicts', async () => {
    await t.dataSource.query(
      `INSERT INTO customers (email, first_name, last_name) VALUES ('taken@example.com', 'Old', 'Row')`,
    );
    const rows = [
      new SourceRow(2, person('new@example.com')),
      new SourceRow(3, person('taken@example.com')),
      new SourceRow(4, person('nameless@example.com', { first_name: '' })),
      new SourceRow(5, person('thrower@example.com', { act: 'throw', text: 'the CRM said no' })),
      new SourceRow(6, person('skipped@example.com', { act: 'skip', text: 'a test account' })),
      new SourceRow(7, person('also-new@example.com')),
    ];
    const batch = await t.batches.createBatch('guest_list', rows, { requireApproval: true });
    const [itemsBefore, batchBefore, customersBefore] = [
      await rowsBesideVerdicts(batch.id),
      await batchRow(batch.id),
      await customers(),
    ];

    const summary = await t.batches.dryRunBatch(batch.id);

    expect(summary).toMatchObject({
      batchId: batch.id,
      total: 6,
      wouldComplete: 2,
      wouldFail: 3,
      wouldSkip: 1,
      batchRefused: null,
      failuresTruncated: false,
    });
    expect(summary.failures).toEqual([
      expect.objectContaining({
        itemIndex: 1,
        sourceLine: 3,
        errorCode: '23505',
        reason: expect.stringContaining('duplicate key value violates unique constraint'),
      }),
      expect.objectContaining({
        itemIndex: 2,
        sourceLine: 4,
        errorCode: 'VALIDATION_FAILED',
        reason: 'first_name is missing for nameless@example.com',
      }),
      expect.objectContaining({ itemIndex: 3, sourceLine: 5, reason: 'the CRM said no' }),
    ]);
    // Nothing applied, nothing of the rows or the batch changed but the verdicts.
    expect(await customers()).toEqual(customersBefore);
    expect(await rowsBesideVerdicts(batch.id)).toEqual(itemsBefore);
    expect(await batchRow(batch.id)).toEqual(batchBefore);

    const items = await t.batches.getItems(batch.id);
    expect(items.map((item) => [item.status, item.attempts, item.dryRun?.outcome])).toEqual([
      ['pending', 0, 'completed'],
      ['pending', 0, 'failed'],
      ['pending', 0, 'failed'],
      ['pending', 0, 'failed'],
      ['pending', 0, 'skipped'],
      ['pending', 0, 'completed'],
    ]);
    expect(items[4].dryRun).toMatchObject({ error: 'a test account', at: expect.any(Date) });
    expect(items[0].dryRun?.error).toBeNull();
    expect(items[1].dryRun?.error).toBe(summary.failures[0].reason);

    // The rows' logs are not stored; one entry says the dry run happened.
    const logs = await t.batches.getLogs(batch.id);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      itemId: null,
      level: 'info',
      details: { dryRun: true },
      message: expect.stringContaining('2 would complete, 3 would fail, 1 would be skipped'),
    });

    // Approved and run for real, the verdicts come true.
    await t.batches.approveBatch(batch.id);
    const real = await t.batches.processBatch(batch.id);
    expect(real).toMatchObject({ completedItems: 2, failedItems: 3, skippedItems: 1 });
    const after = await t.batches.getItems(batch.id);
    expect(after.map((item) => item.status)).toEqual(after.map((item) => item.dryRun?.outcome));
  });

  it('answers processBatch(id, { dryRun: true }) with the summary of a batch left as it was', async () => {
    const batch = await t.batches.createBatch('guest_list', [person('p1@example.com')]);
    const summary = await t.batches.processBatch(batch.id, { dryRun: true });
    expect(summary).toMatchObject({
      batchId: batch.id,
      status: 'pending',
      pendingItems: 1,
      completedItems: 0,
      dryRun: { total: 1, wouldComplete: 1, wouldFail: 0 },
    });
    expect(await customers()).not.toContainEqual(
      expect.objectContaining({ email: 'p1@example.com' }),
    );
  });

  it('makes import({ dryRun }) wait for approval, so that no worker runs the batch meanwhile', async () => {
    const summary = await t.batches.import('guest_list', [person('i1@example.com')], {
      dryRun: true,
    });
    expect(summary).toMatchObject({
      status: 'awaiting_approval',
      dryRun: { total: 1, wouldComplete: 1 },
    });
  });

  it('dry-runs a batch of no rows', async () => {
    const batch = await t.batches.createBatch('guest_list', [], { requireApproval: true });
    await expect(t.batches.dryRunBatch(batch.id)).resolves.toEqual({
      batchId: batch.id,
      total: 0,
      wouldComplete: 0,
      wouldFail: 0,
      wouldSkip: 0,
      batchRefused: null,
      failures: [],
      failuresTruncated: false,
    });
    expect((await t.batches.getBatch(batch.id)).status).toBe('awaiting_approval');
  });

  it('stores hostile reasons as a real run would, and lists only the first 100 failures', async () => {
    const rows = Array.from({ length: 150 }, (_, n) =>
      person(`h${n}@example.com`, { act: n === 149 ? 'skip' : 'throw', text: 'HOSTILE' }),
    );
    const batch = await t.batches.createBatch('guest_list', rows, { requireApproval: true });
    const summary = await t.batches.dryRunBatch(batch.id);
    expect(summary).toMatchObject({ wouldFail: 149, wouldSkip: 1, failuresTruncated: true });
    expect(summary.failures).toHaveLength(100);
    const reason = summary.failures[0].reason;
    expect(reason).toMatch(/^bad\ufffdbyte \ufffdhalf x+… \[cut: \d+ more characters\]$/);
    const [first] = await t.batches.getItems(batch.id, { limit: 1 });
    expect(first.dryRun?.error).toBe(reason);
    const [last] = await t.batches.getItems(batch.id, { offset: 149 });
    expect(last.dryRun).toMatchObject({
      outcome: 'skipped',
      error: expect.stringContaining('\ufffd'),
    });
  });

  it('rolls back what the batch hooks write, and reports a refusal of validateBatch', async () => {
    await t.dataSource.query('DELETE FROM hook_writes');
    const ok = await t.batches.createBatch('audited', [{ n: 1 }, { n: 2 }], {
      requireApproval: true,
    });
    await expect(t.batches.dryRunBatch(ok.id)).resolves.toMatchObject({
      total: 2,
      wouldComplete: 2,
    });
    const refused = await t.batches.createBatch('audited', [{ n: 1 }], {
      requireApproval: true,
      metadata: { refuse: true },
    });
    const summary = await t.batches.dryRunBatch(refused.id);
    expect(summary).toMatchObject({ total: 0, wouldFail: 0 });
    expect(summary.batchRefused).toContain('the file is from last year');
    expect(await t.dataSource.query('SELECT * FROM hook_writes')).toEqual([]);
    expect((await t.batches.getItems(refused.id))[0]).toMatchObject({
      status: 'pending',
      dryRun: null,
    });
  });

  it('refuses a batch a run is processing, and one that has ended', async () => {
    const done = await t.batches.import('guest_list', [person('done@example.com')]);
    await expect(t.batches.dryRunBatch(done.batchId)).rejects.toThrow(BatchStatusConflictError);
    await expect(t.batches.dryRunBatch(done.batchId)).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      message: expect.stringContaining('it is completed'),
    });
    await expect(t.batches.reprocessBatch(done.batchId, { dryRun: true })).rejects.toThrow(
      InvalidArgumentError,
    );

    const holder = await t.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD_LOCK]);
    const held = await t.batches.createBatch('guest_list', [
      person('held@example.com', { act: 'hold-real' }),
    ]);
    const running = t.batches.processBatch(held.id);
    await waitFor(async () => (await t.batches.getBatch(held.id)).status === 'processing', {
      what: 'the run taking the batch',
    });
    await expect(t.batches.dryRunBatch(held.id)).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      message: expect.stringContaining('a run is processing this one now'),
    });
    await holder.query('SELECT pg_advisory_unlock($1)', [HOLD_LOCK]);
    await expect(running).resolves.toMatchObject({ completedItems: 1 });
    expect((await t.batches.getItems(held.id))[0]).toMatchObject({ attempts: 1, dryRun: null });
  });

  it('dry-runs a paused batch, which stays paused', async () => {
    const batch = await t.batches.createBatch('guest_list', [person('paused@example.com')]);
    await t.batches.pauseBatch(batch.id);
    await expect(t.batches.dryRunBatch(batch.id)).resolves.toMatchObject({ wouldComplete: 1 });
    expect((await t.batches.getBatch(batch.id)).status).toBe('paused');
  });

  it('gives way to a real run that starts meanwhile, which it leaves unharmed', async () => {
    const holder = await t.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [HOLD_LOCK]);
    const rows = [
      person('race0@example.com', { act: 'hold' }),
      ...Array.from({ length: 50 }, (_, n) => person(`race${n + 1}@example.com`)),
    ];
    const batch = await t.batches.createBatch('guest_list', rows);
    const dryRun = t.batches.dryRunBatch(batch.id);
    dryRun.catch(() => undefined);
    // The dry run is in its first row, which waits for the lock the test holds.
    await waitFor(
      async () =>
        (
          await holder.query(
            `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [HOLD_LOCK],
          )
        ).rowCount === 1,
      { what: 'the dry run waiting in its first row' },
    );
    await expect(t.batches.processBatch(batch.id)).resolves.toMatchObject({
      status: 'completed',
      completedItems: 51,
    });
    await holder.query('SELECT pg_advisory_unlock($1)', [HOLD_LOCK]);
    await expect(dryRun).rejects.toMatchObject({
      code: 'BATCH_STATUS_CONFLICT',
      message: expect.stringContaining('it is completed'),
    });
    const items = await t.batches.getItems(batch.id);
    expect(items.every((item) => item.attempts === 1 && item.status === 'completed')).toBe(true);
    expect(items.every((item) => item.dryRun === null)).toBe(true);
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      `SELECT count(*)::int AS count FROM customers WHERE email LIKE 'race%'`,
    );
    expect(count).toBe(51);
  });
});
