import {
  BaseProcessor,
  ImportBatchNotFoundError,
  ImportProcessor,
  InvalidArgumentError,
  type BatchProgress,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createPGliteTestApp } from '../fixtures/pglite-app';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { uncountFailedRows } from '../../lib/processing/statements/progress.statements';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/**
 * Rows in `failing` throw, rows in `skipping` are skipped, rows in `flaky` fail their first try with a
 * serialization failure (retried); the row `gateRow` waits at `gate`.
 */
@ImportProcessor()
class ProgressProcessor extends BaseProcessor<Row> {
  failing = new Set<number>();
  skipping = new Set<number>();
  flaky = new Set<number>();
  gateRow = -1;
  gate: Gate | null = null;
  readonly tries = new Map<string, number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const n = item.sourceData.n;
    const attempt = (this.tries.get(item.id) ?? 0) + 1;
    this.tries.set(item.id, attempt);
    if (n === this.gateRow) await this.gate?.pass();
    await ctx.query('SELECT 1');
    if (attempt === 1 && this.flaky.has(n)) {
      await ctx.query(
        `DO $$ BEGIN RAISE EXCEPTION 'simulated 40001' USING ERRCODE = '40001'; END $$`,
      );
    }
    if (this.skipping.has(n)) ctx.skip(`row ${n} is a duplicate`);
    if (this.failing.has(n)) throw new Error(`row ${n} is refused`);
  }
}

const rows = (count: number): Row[] => Array.from({ length: count }, (_, n) => ({ n }));
const every = (count: number, step: number, offset = 0) =>
  new Set(rows(count).flatMap(({ n }) => (n % step === offset ? [n] : [])));

/** The outcomes the processor gives `count` rows: a skip goes before a failure. */
const outcomes = (count: number, failing: Set<number>, skipping: Set<number>) => {
  const skipped = rows(count).filter(({ n }) => skipping.has(n)).length;
  const failed = rows(count).filter(({ n }) => failing.has(n) && !skipping.has(n)).length;
  return { completed: count - skipped - failed, failed, skipped };
};

const MODULE = { maxAttempts: 3, retryDelayMs: 1, maxRetryDelayMs: 5 };

describe('progress counters and getProgress', () => {
  const t = useTestApp([ProgressProcessor], { module: MODULE });
  let processor: ProgressProcessor;

  beforeAll(() => {
    processor = t.app.get(ProgressProcessor);
  });
  beforeEach(() => {
    Object.assign(processor, {
      failing: new Set(),
      skipping: new Set(),
      flaky: new Set(),
      gateRow: -1,
      gate: null,
    });
    processor.tries.clear();
  });

  /** The rows' statuses, counted. */
  const statusCounts = async (batchId: string) => {
    const [counts] = await t.dataSource.query<
      Array<{ completed: number; failed: number; skipped: number }>
    >(
      `SELECT count(*) FILTER (WHERE status = 'completed')::integer AS completed,
              count(*) FILTER (WHERE status = 'failed')::integer AS failed,
              count(*) FILTER (WHERE status = 'skipped')::integer AS skipped
       FROM import_batch_items WHERE batch_id = $1`,
      [batchId],
    );
    return counts;
  };

  /** The counters, summed. */
  const counterSums = async (batchId: string) => {
    const [sums] = await t.dataSource.query<
      Array<{ completed: number; failed: number; skipped: number }>
    >(
      `SELECT COALESCE(sum(completed), 0)::integer AS completed, COALESCE(sum(failed), 0)::integer AS failed,
              COALESCE(sum(skipped), 0)::integer AS skipped
       FROM import_batch_progress WHERE batch_id = $1`,
      [batchId],
    );
    return sums;
  };

  /** The counters agree with the rows, and getProgress with a count of every row (getBatchSummary). */
  const expectCountersMatchRows = async (batchId: string): Promise<BatchProgress> => {
    expect(await counterSums(batchId)).toEqual(await statusCounts(batchId));
    const progress = await t.batches.getProgress(batchId);
    const summary = await t.batches.getBatchSummary(batchId);
    expect(progress).toMatchObject({
      batchId,
      status: summary.status,
      totalItems: summary.totalItems,
      completed: summary.completedItems,
      failed: summary.failedItems,
      skipped: summary.skippedItems,
      cancelled: summary.cancelledItems,
      inFlight: summary.processingItems,
      pending: summary.pendingItems,
      done: summary.completedItems + summary.failedItems + summary.skippedItems,
    });
    return progress;
  };

  it('counts each outcome once, per item, with failures, skips and retries', async () => {
    processor.failing = every(200, 7);
    processor.skipping = every(200, 11, 3);
    processor.flaky = every(200, 5, 1);
    const summary = await t.batches.import('progress', rows(200));
    expect(summary.status).toBe('completed_with_errors');
    const progress = await expectCountersMatchRows(summary.batchId);
    expect(progress).toMatchObject({
      ...outcomes(200, processor.failing, processor.skipping),
      inFlight: 0,
      pending: 0,
      percent: 100,
      etaMs: null,
      completedAt: summary.completedAt,
    });
  });

  it('counts chunks, and the rows of a chunk that fell apart run alone, once', async () => {
    processor.failing = every(300, 13, 2);
    processor.skipping = every(300, 17, 5);
    processor.flaky = every(300, 23, 4);
    const summary = await t.batches.import('progress', rows(300), { commitEvery: 25 });
    expect(await expectCountersMatchRows(summary.batchId)).toMatchObject(
      outcomes(300, processor.failing, processor.skipping),
    );
  });

  it('counts rows run by four lanes and by a second app joining the run', async () => {
    processor.failing = every(600, 9);
    processor.skipping = every(600, 10, 1);
    const second = await createTestApp(t.db.url, [ProgressProcessor], { module: MODULE });
    try {
      Object.assign(second.app.get(ProgressProcessor), {
        failing: processor.failing,
        skipping: processor.skipping,
      });
      const batch = await t.batches.createBatch('progress', rows(600));
      const [first, joined] = await Promise.all([
        t.batches.processBatch(batch.id, { concurrency: 4 }),
        second.batches.processBatch(batch.id, { concurrency: 4 }),
      ]);
      expect(first.status).toBe('completed_with_errors');
      expect(joined.status).toBe('completed_with_errors');
      const progress = await expectCountersMatchRows(batch.id);
      expect(progress).toMatchObject(outcomes(600, processor.failing, processor.skipping));
      // Each connection of each run writes its own counter rows: no lane waits for another's commit.
      const [{ writers }] = await t.dataSource.query<Array<{ writers: number }>>(
        `SELECT count(DISTINCT worker_id)::integer AS writers FROM import_batch_progress WHERE batch_id = $1`,
        [batch.id],
      );
      expect(writers).toBeGreaterThan(1);
    } finally {
      await second.close();
    }
  });

  it.each([
    ['a completed row', 1, false],
    ['a failed row', 1, true],
    ['a completed row of a chunk', 10, false],
  ])(
    'does not count %s whose claim was lost before its outcome was recorded',
    async (_what, commitEvery, fails) => {
      const stolen = 3;
      processor.gateRow = stolen;
      processor.gate = new Gate();
      if (fails) processor.failing = new Set([stolen]);
      const batch = await t.batches.createBatch('progress', rows(30));
      const run = t.batches.processBatch(batch.id, { commitEvery });
      await processor.gate.entered;
      // Another worker takes the row over (this run's lease on it ran out), and its own lease runs out in
      // turn, so that this run takes the row back once the others are done: its outcome is recorded
      // twice, the first time fenced out, and counted once.
      await t.dataSource.query(
        `UPDATE import_batch_items SET locked_by = 'another worker', locked_until = now() - interval '1 second'
         WHERE batch_id = $1 AND item_index = $2`,
        [batch.id, stolen],
      );
      processor.gate.release();
      const summary = await run;
      expect(summary).toMatchObject({
        completedItems: fails ? 29 : 30,
        failedItems: fails ? 1 : 0,
      });
      const [{ attempts }] = await t.dataSource.query<Array<{ attempts: number }>>(
        `SELECT attempts FROM import_batch_items WHERE batch_id = $1 AND item_index = $2`,
        [batch.id, stolen],
      );
      // Only the second run's try is recorded; the row ran twice.
      expect(attempts).toBe(1);
      expect(
        processor.tries.get((await t.batches.getItems(batch.id))[stolen].id),
      ).toBeGreaterThanOrEqual(2);
      expect(await counterSums(batch.id)).toEqual({
        completed: fails ? 29 : 30,
        failed: fails ? 1 : 0,
        skipped: 0,
      });
      await expectCountersMatchRows(batch.id);
    },
  );

  it('reads progress while a run is under way, and an ETA once there is a rate', async () => {
    processor.gateRow = 120;
    processor.gate = new Gate();
    processor.failing = new Set([5, 50]);
    const batch = await t.batches.createBatch('progress', rows(200));
    const before = await t.batches.getProgress(batch.id);
    expect(before).toMatchObject({
      status: 'pending',
      totalItems: 200,
      done: 0,
      pending: 200,
      inFlight: 0,
      percent: 0,
      itemsPerSecond: null,
      etaMs: null,
      startedAt: null,
    });
    const run = t.batches.processBatch(batch.id);
    try {
      await processor.gate.entered;
      const held = await expectCountersMatchRows(batch.id);
      expect(held).toMatchObject({ status: 'processing', completed: 118, failed: 2, done: 120 });
      expect(held.inFlight).toBeGreaterThanOrEqual(1);
      expect(held.done + held.inFlight + held.pending + held.cancelled).toBe(200);
      expect(held.percent).toBe(60);
      // The rate is measured over a second at least: until then there is no rate, and no ETA.
      let running = held;
      await waitFor(
        async () => {
          running = await t.batches.getProgress(batch.id);
          return running.itemsPerSecond !== null;
        },
        { what: 'a rate' },
      );
      const { itemsPerSecond, etaMs, measuredAt, startedAt } = running;
      expect(itemsPerSecond).toBeGreaterThan(0);
      // 120 rows since the start, over the seconds since the start (the window reaches back further).
      const seconds = (measuredAt.getTime() - (startedAt as Date).getTime()) / 1000;
      expect(itemsPerSecond).toBeCloseTo(120 / seconds, 0);
      expect(etaMs).toBe(
        Math.round(((running.pending + running.inFlight) / (itemsPerSecond as number)) * 1000),
      );
    } finally {
      processor.gate.release();
    }
    const summary = await run;
    const after = await expectCountersMatchRows(batch.id);
    expect(after).toMatchObject({
      status: summary.status,
      done: 200,
      percent: 100,
      etaMs: null,
    });
    expect(after.itemsPerSecond).not.toBeNull();
  });

  it('takes re-queued failures back out of the count, in the statement that re-queues them', async () => {
    processor.failing = every(40, 4);
    const summary = await t.batches.import('progress', rows(40));
    expect(summary.failedItems).toBe(10);
    // As a resume re-queues corrected failed rows (here the first three), with the fragment it writes.
    await t.dataSource.query(
      `WITH requeued AS (
         UPDATE import_batch_items SET status = 'pending', completed_at = NULL
         WHERE batch_id = $1 AND status = 'failed' AND item_index < 10
         RETURNING id, batch_id
       ), ${uncountFailedRows('requeued')}
       SELECT count(*)::integer AS count FROM requeued`,
      [summary.batchId],
    );
    const progress = await expectCountersMatchRows(summary.batchId);
    expect(progress).toMatchObject({ failed: 7, pending: 3, done: 37, percent: 92.5 });
    // Taken back, not done: the rate of the last minute counts only outcomes.
    const [{ resume }] = await t.dataSource.query<Array<{ resume: number }>>(
      `SELECT sum(failed)::integer AS resume FROM import_batch_progress WHERE batch_id = $1 AND worker_id = 'resume'`,
      [summary.batchId],
    );
    expect(resume).toBe(-3);
  });

  it('keeps counting through a pause, a correction and a resume that re-queues the corrected failures', async () => {
    processor.failing = new Set([2, 5]);
    processor.gateRow = 10;
    processor.gate = new Gate();
    const batch = await t.batches.createBatch('progress', rows(30));
    const run = t.batches.processBatch(batch.id);
    await processor.gate.entered;
    await t.batches.pauseBatch(batch.id);
    processor.gate.release();
    expect((await run).status).toBe('paused');
    const paused = await expectCountersMatchRows(batch.id);
    expect(paused).toMatchObject({ status: 'paused', failed: 2, inFlight: 0, etaMs: null });
    expect(paused.pending).toBeGreaterThan(0);

    processor.failing = new Set();
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    for (const item of failed) await t.batches.correctItem(item.id, { n: item.sourceData.n });
    await t.batches.resumeBatch(batch.id);
    const resumed = await expectCountersMatchRows(batch.id);
    expect(resumed).toMatchObject({
      failed: 0,
      pending: paused.pending + 2,
      done: paused.done - 2,
    });

    expect((await t.batches.processBatch(batch.id)).status).toBe('completed');
    expect(await expectCountersMatchRows(batch.id)).toMatchObject({
      completed: 30,
      failed: 0,
      percent: 100,
    });
  });

  it('counts the rows a cancel left unprocessed as cancelled, neither done nor pending', async () => {
    processor.gateRow = 10;
    processor.gate = new Gate();
    const batch = await t.batches.createBatch('progress', rows(30));
    const run = t.batches.processBatch(batch.id);
    await processor.gate.entered;
    await t.batches.cancelBatch(batch.id, { reason: 'wrong file' });
    processor.gate.release();
    await run;
    const progress = await expectCountersMatchRows(batch.id);
    expect(progress).toMatchObject({ status: 'cancelled', pending: 0, inFlight: 0, etaMs: null });
    expect(progress.cancelled).toBeGreaterThan(0);
    expect(progress.done + progress.cancelled).toBe(30);
  });

  it('refuses a batch that does not exist, and an id that is not one', async () => {
    await expect(t.batches.getProgress('00000000-0000-4000-8000-000000000000')).rejects.toThrow(
      ImportBatchNotFoundError,
    );
    await expect(t.batches.getProgress("1'; DROP TABLE import_batches; --")).rejects.toThrow(
      ImportBatchNotFoundError,
    );
  });

  describe('watchBatch', () => {
    it('yields progress until the batch has ended, the ended one last', async () => {
      processor.failing = new Set([3]);
      processor.gateRow = 10;
      processor.gate = new Gate();
      const batch = await t.batches.createBatch('progress', rows(40));
      const seen: BatchProgress[] = [];
      const watching = (async () => {
        for await (const progress of t.batches.watchBatch(batch.id, { intervalMs: 20 })) {
          seen.push(progress);
        }
      })();
      const run = t.batches.processBatch(batch.id);
      await processor.gate.entered;
      await waitFor(() => seen.some((p) => p.status === 'processing' && p.done === 10), {
        what: 'a reading of the held run',
      });
      processor.gate.release();
      await run;
      await watching;
      const last = seen[seen.length - 1];
      expect(last).toMatchObject({ status: 'completed_with_errors', done: 40, failed: 1 });
      expect(
        seen.slice(0, -1).every((p) => p.status === 'pending' || p.status === 'processing'),
      ).toBe(true);
      const dones = seen.map((p) => p.done);
      expect(dones).toEqual([...dones].sort((a, b) => a - b));
    });

    it('yields an ended batch once, and stops when the consumer breaks', async () => {
      const ended = await t.batches.import('progress', rows(3));
      const readings: BatchProgress[] = [];
      for await (const progress of t.batches.watchBatch(ended.batchId)) readings.push(progress);
      expect(readings).toHaveLength(1);

      // A batch that no run takes: the watch would go on for ever; the consumer breaks.
      const waiting = await t.batches.createBatch('progress', rows(3));
      let readingsBeforeBreak = 0;
      for await (const progress of t.batches.watchBatch(waiting.id, { intervalMs: 10 })) {
        expect(progress.status).toBe('pending');
        if (++readingsBeforeBreak === 3) break;
      }
      // Nothing is left running: the file's leak guard (timers, connections) checks it at its end.
    });

    it('checks its arguments', async () => {
      for (const intervalMs of [0, 9, 1.5, 3_600_001, '1000', NaN]) {
        expect(() =>
          t.batches.watchBatch('00000000-0000-4000-8000-000000000000', {
            intervalMs: intervalMs as number,
          }),
        ).toThrow(InvalidArgumentError);
      }
      const unknown = t.batches.watchBatch('00000000-0000-4000-8000-000000000000');
      await expect(unknown[Symbol.asyncIterator]().next()).rejects.toThrow(
        ImportBatchNotFoundError,
      );
    });

    it('ends, without a last reading, when the application shuts down', async () => {
      const other: TestApp = await createTestApp(t.db.url, [ProgressProcessor]);
      const batch = await other.batches.createBatch('progress', rows(2));
      const seen: BatchProgress[] = [];
      let closing: Promise<void> | undefined;
      for await (const progress of other.batches.watchBatch(batch.id, { intervalMs: 3_600_000 })) {
        seen.push(progress);
        // Shuts down while the watch waits an hour for its next reading.
        closing ??= other.close();
      }
      await closing;
      expect(seen.map((p) => p.status)).toEqual(['pending']);
    });
  });
});

describe('progress counters on PGlite', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createPGliteTestApp([ProgressProcessor]);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('are written by the same statements, and read back', async () => {
    const processor = app.app.get(ProgressProcessor);
    processor.failing = new Set([1, 2]);
    processor.skipping = new Set([3]);
    const summary = await app.batches.import('progress', rows(20), { commitEvery: 5 });
    const progress = await app.batches.getProgress(summary.batchId);
    expect(progress).toMatchObject({
      status: summary.status,
      completed: summary.completedItems,
      failed: 2,
      skipped: 1,
      pending: 0,
      inFlight: 0,
      percent: 100,
    });
  });
});
