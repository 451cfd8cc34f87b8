import { context, metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { DataPointType, MeterProvider, type MetricData } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import type { Client } from 'pg';
import {
  BaseProcessor,
  ImportProcessor,
  RELIABLE_IMPORTS_TELEMETRY,
  RetryableImportError,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { Gate } from '../support/gate';
import { TestMetricReader } from '../support/test-metric-reader';
import { useTestApp } from '../support/use-test-app';

const { attributes: A, metrics: M } = RELIABLE_IMPORTS_TELEMETRY;

interface Row {
  n: number;
  /** What the row does: fail for good, fail once in a way that passes, skip, or lose its claim. */
  act?: 'fail' | 'flaky' | 'skip' | 'steal' | 'wait';
}

class CodedError extends Error {
  readonly code = 'BAD_ROW';
}

const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
});
const reader = new TestMetricReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();
/** A client of the test's own, for what another process would do meanwhile. */
let other: Client;
/** Where a row that waits waits. */
let gate = new Gate();

@ImportProcessor()
class TracedRowsProcessor extends BaseProcessor<Row> {
  readonly tries = new Map<number, number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    const { n, act } = item.sourceData;
    const tries = (this.tries.get(n) ?? 0) + 1;
    this.tries.set(n, tries);
    // The processor's own span: a child of the row's attempt.
    trace.getTracer('app').startSpan(`app work ${n}`).end();
    if (act === 'wait') await gate.pass();
    if (act === 'fail') throw new CodedError(`row ${n} is bad`);
    if (act === 'flaky' && tries === 1) throw new RetryableImportError('the service was busy');
    if (act === 'skip') ctx.skip('nothing to do');
    if (act === 'steal' && tries === 1) {
      // Another run takes the row over meanwhile (its lease ran out): this run's outcome is refused.
      await other.query(`UPDATE import_batch_items SET locked_by = 'thief' WHERE id = $1`, [
        item.id,
      ]);
    }
    return { targetTable: 'nowhere', targetId: n };
  }
}

/** A second batch type, for what is counted by type. */
@ImportProcessor()
class OtherRowsProcessor extends BaseProcessor<Row> {
  async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>) {
    await ctx.query('SELECT 1');
  }
}

function spanNamed(name: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((span) => span.name === name);
}

async function collect(): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

/** The sum of a counter's points whose attributes include `where`. */
function sumOf(all: MetricData[], name: string, where: Record<string, unknown>): number {
  const metric = all.find((m) => m.descriptor.name === name);
  if (!metric) return 0;
  return metric.dataPoints
    .filter((point) =>
      Object.entries(where).every(([key, value]) => point.attributes[key] === value),
    )
    .reduce((sum, point) => sum + (typeof point.value === 'number' ? point.value : 0), 0);
}

describe('telemetry through @opentelemetry/api, with the SDK registered', () => {
  // Registered before the app is made: its instruments are made when the module starts.
  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
  });
  const t = useTestApp([TracedRowsProcessor, OtherRowsProcessor], {
    module: { maxAttempts: 3, retryDelayMs: 1, maxRetryDelayMs: 5 },
  });
  beforeAll(async () => {
    other = await t.connect();
  });
  afterAll(async () => {
    await meterProvider.shutdown();
    await tracerProvider.shutdown();
    trace.disable();
    metrics.disable();
    context.disable();
  });
  beforeEach(() => spans.reset());

  it('makes a run span with a row span per attempt under it, with their attributes', async () => {
    const batch = await t.batches.createBatch('traced_rows', [
      { n: 0 },
      { n: 1, act: 'fail' },
      { n: 2, act: 'flaky' },
      { n: 3, act: 'skip' },
      { n: 4 },
    ]);
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ completedItems: 3, failedItems: 1, skippedItems: 1 });

    const [run] = spanNamed('run traced_rows');
    expect(run).toBeDefined();
    expect(run.kind).toBe(SpanKind.INTERNAL);
    expect(run.attributes).toMatchObject({
      [A.system]: 'reliable_imports',
      [A.operationName]: 'run',
      [A.destination]: 'traced_rows',
      [A.batchId]: batch.id,
      [A.role]: 'owner',
      [A.tookOver]: false,
      [A.ending]: 'finished',
      [A.messageCount]: 5,
    });
    expect(String(run.attributes[A.clientId])).toContain(`:${process.pid}:`);

    const rows = spanNamed('process traced_rows');
    // Five rows, one of them tried twice.
    expect(rows).toHaveLength(6);
    for (const row of rows) {
      expect(row.kind).toBe(SpanKind.CONSUMER);
      expect(row.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
      expect(row.spanContext().traceId).toBe(run.spanContext().traceId);
      expect(row.attributes).toMatchObject({
        [A.system]: 'reliable_imports',
        [A.operationName]: 'process',
        [A.operationType]: 'process',
        [A.destination]: 'traced_rows',
        [A.batchId]: batch.id,
      });
    }
    const items = await t.batches.getItems(batch.id);
    const byIndex = (index: number) =>
      rows
        .filter((row) => row.attributes[A.rowIndex] === index)
        .sort((a, b) => Number(a.attributes[A.attempt]) - Number(b.attributes[A.attempt]));

    const [completed] = byIndex(0);
    expect(completed.attributes).toMatchObject({
      [A.attempt]: 1,
      [A.outcome]: 'completed',
      [A.messageId]: items.find((item) => item.itemIndex === 0)?.id,
    });
    expect(completed.status.code).toBe(SpanStatusCode.UNSET);
    expect(completed.attributes[A.errorType]).toBeUndefined();

    const [failed] = byIndex(1);
    expect(failed.attributes).toMatchObject({
      [A.attempt]: 1,
      [A.outcome]: 'failed',
      [A.errorCode]: 'BAD_ROW',
      [A.errorType]: 'BAD_ROW',
    });
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);

    const retried = byIndex(2);
    expect(retried.map((span) => [span.attributes[A.attempt], span.attributes[A.outcome]])).toEqual(
      [
        [1, 'retried'],
        [2, 'completed'],
      ],
    );
    expect(retried[0].status.code).toBe(SpanStatusCode.ERROR);
    expect(retried[0].attributes[A.errorType]).toBe('RETRYABLE');
    expect(retried[1].status.code).toBe(SpanStatusCode.UNSET);

    expect(byIndex(3)[0].attributes[A.outcome]).toBe('skipped');

    // The processor's own spans are children of the attempt they ran in.
    for (const work of spanNamed('app work 2')) {
      expect(retried.map((span) => span.spanContext().spanId)).toContain(
        work.parentSpanContext?.spanId,
      );
    }
    expect(spanNamed('app work 2')).toHaveLength(2);
  });

  it('counts rows by batch type and outcome, retries, durations and claims', async () => {
    await t.batches.import('other_rows', [{ n: 0 }, { n: 1 }]);
    const all = await collect();
    const other = { [A.destination]: 'other_rows' };
    expect(sumOf(all, M.rowsProcessed, { ...other, [A.outcome]: 'completed' })).toBe(2);
    expect(sumOf(all, M.rowsProcessed, { ...other, [A.outcome]: 'failed' })).toBe(0);
    expect(sumOf(all, M.rowsClaimed, other)).toBe(2);
    const type = { [A.destination]: 'traced_rows' };
    expect(sumOf(all, M.rowsProcessed, { ...type, [A.outcome]: 'completed' })).toBe(3);
    expect(sumOf(all, M.rowsProcessed, { ...type, [A.outcome]: 'failed' })).toBe(1);
    expect(sumOf(all, M.rowsProcessed, { ...type, [A.outcome]: 'skipped' })).toBe(1);
    expect(sumOf(all, M.rowsRetried, { ...type, [A.errorType]: 'RETRYABLE' })).toBe(1);
    expect(sumOf(all, M.rowsClaimed, { ...type, [A.operationName]: 'claim' })).toBe(5);

    const duration = all.find((m) => m.descriptor.name === M.processDuration);
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(duration?.descriptor.unit).toBe('s');
    const attempts = (duration?.dataPoints ?? [])
      .filter((point) => point.attributes[A.destination] === 'traced_rows')
      .reduce((count, point) => count + (point.value as { count: number }).count, 0);
    expect(attempts).toBe(6);
    const failedPoint = duration?.dataPoints.find(
      (point) => point.attributes[A.outcome] === 'failed',
    );
    expect(failedPoint?.attributes[A.errorType]).toBe('BAD_ROW');

    const claims = all.find((m) => m.descriptor.name === M.claimDuration);
    expect(claims?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(claims?.dataPoints[0]?.attributes).toMatchObject({
      ...type,
      [A.operationName]: 'claim',
      [A.operationType]: 'receive',
    });
  });

  it('reports the rows waiting per batch type from the progress counters, when collected', async () => {
    const waiting = await t.batches.createBatch(
      'traced_rows',
      Array.from({ length: 7 }, (_, n) => ({ n })),
    );
    const others = await t.batches.createBatch('other_rows', [{ n: 0 }, { n: 1 }, { n: 2 }]);
    await t.batches.pauseBatch(others.id);
    const gauge = (all: MetricData[]) => all.find((m) => m.descriptor.name === M.rowsWaiting);
    let all = await collect();
    expect(gauge(all)?.dataPointType).toBe(DataPointType.GAUGE);
    expect(sumOf(all, M.rowsWaiting, { [A.destination]: 'traced_rows' })).toBe(7);
    // A paused batch's rows still wait.
    expect(sumOf(all, M.rowsWaiting, { [A.destination]: 'other_rows' })).toBe(3);

    // Once processed, the batch has ended: nothing of it waits.
    await t.batches.processBatch(waiting.id);
    all = await collect();
    expect(sumOf(all, M.rowsWaiting, { [A.destination]: 'traced_rows' })).toBe(0);
    // A cancelled batch's rows wait no more.
    await t.batches.cancelBatch(others.id);
    all = await collect();
    expect(sumOf(all, M.rowsWaiting, { [A.destination]: 'other_rows' })).toBe(0);
  });

  it('marks a takeover of a dead run, and counts its batch and rows taken over', async () => {
    const batch = await t.batches.createBatch('traced_rows', [{ n: 10 }, { n: 11 }]);
    // A run that died holding the batch and a row: both leases ran out.
    await other.query(
      `UPDATE import_batches SET status = 'processing', started_at = now(), locked_by = 'dead:1:run',
         locked_until = now() - interval '1 minute' WHERE id = $1`,
      [batch.id],
    );
    await other.query(
      `UPDATE import_batch_items SET status = 'processing', started_at = now(), locked_by = 'dead:1:run',
         locked_until = now() - interval '1 minute' WHERE batch_id = $1 AND item_index = 0`,
      [batch.id],
    );
    const before = await collect();
    const takeovers = (all: MetricData[], scope: string) =>
      sumOf(all, M.takeovers, { [A.destination]: 'traced_rows', [A.leaseScope]: scope });

    await t.batches.processBatch(batch.id);

    const [run] = spanNamed('run traced_rows');
    expect(run.attributes).toMatchObject({
      [A.role]: 'owner',
      [A.tookOver]: true,
      [A.holder]: 'dead:1:run',
    });
    const after = await collect();
    expect(takeovers(after, 'batch') - takeovers(before, 'batch')).toBe(1);
    expect(takeovers(after, 'row') - takeovers(before, 'row')).toBe(1);
  });

  it('counts a row claim that ran out before its outcome was recorded as a lease expiration', async () => {
    const batch = await t.batches.createBatch('traced_rows', [{ n: 20, act: 'steal' }]);
    const expirations = (all: MetricData[]) =>
      sumOf(all, M.leaseExpirations, { [A.destination]: 'traced_rows', [A.leaseScope]: 'row' });
    const before = expirations(await collect());

    // The run finds the row in another's hands; it waits for it, so the test gives it back.
    const processing = t.batches.processBatch(batch.id);
    await waitFor(async () => {
      const { rows } = await other.query(
        `SELECT 1 FROM import_batch_items WHERE batch_id = $1 AND locked_by = 'thief'`,
        [batch.id],
      );
      return rows.length === 1 && spanNamed('process traced_rows').length === 1;
    });
    await other.query(
      `UPDATE import_batch_items SET locked_until = now() - interval '1 minute' WHERE batch_id = $1`,
      [batch.id],
    );
    await processing;

    // Lost, then taken back once its lease ran out, and completed.
    expect(spanNamed('process traced_rows').map((span) => span.attributes[A.outcome])).toEqual([
      'lost',
      'completed',
    ]);
    expect(expirations(await collect()) - before).toBe(1);
  });

  it('links a helper run to the run of this process that holds the batch', async () => {
    gate = new Gate();
    const batch = await t.batches.createBatch('traced_rows', [{ n: 40, act: 'wait' }, { n: 41 }]);
    const holding = t.batches.processBatch(batch.id);
    await gate.entered;
    // The helper has taken its part once it has made a claim (which finds the holder's rows taken).
    const claims = async () => {
      const metric = (await collect()).find((m) => m.descriptor.name === M.claimDuration);
      return (metric?.dataPoints ?? []).reduce(
        (count, point) => count + (point.value as { count: number }).count,
        0,
      );
    };
    const claimsBefore = await claims();
    const helping = t.batches.processBatch(batch.id);
    await waitFor(async () => (await claims()) > claimsBefore);
    gate.release();
    await Promise.all([holding, helping]);

    const runs = spanNamed('run traced_rows');
    const holder = runs.find((span) => span.attributes[A.role] === 'owner');
    const helper = runs.find((span) => span.attributes[A.role] === 'helper');
    expect(holder).toBeDefined();
    expect(helper?.attributes[A.holder]).toBe(holder?.attributes[A.clientId]);
    expect(helper?.links.map((link) => link.context.spanId)).toEqual([
      holder?.spanContext().spanId,
    ]);
  });

  it("names the batch a reprocess's run reprocesses", async () => {
    const batch = await t.batches.createBatch('traced_rows', [{ n: 50, act: 'fail' }, { n: 51 }]);
    await t.batches.processBatch(batch.id);
    spans.reset();
    const summary = await t.batches.reprocessBatch(batch.id, { failedItemsOnly: true });
    const [run] = spanNamed('run traced_rows');
    expect(run.attributes).toMatchObject({
      [A.batchId]: summary.batchId,
      [A.parentBatchId]: batch.id,
    });
  });

  it('ends each row of a chunk with the chunk: committed, or rolled back and run again', async () => {
    const batch = await t.batches.createBatch('traced_rows', [
      { n: 30 },
      { n: 31 },
      { n: 32, act: 'fail' },
      { n: 33 },
    ]);
    await t.batches.processBatch(batch.id, { commitEvery: 2 });
    const rows = spanNamed('process traced_rows').map((span) => [
      span.attributes[A.rowIndex],
      span.attributes[A.outcome],
    ]);
    expect(rows).toEqual([
      [0, 'completed'],
      [1, 'completed'],
      // The chunk stops at its failed row: the next never ran in it.
      [2, 'rolled_back'],
      [2, 'failed'],
      [3, 'completed'],
    ]);
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('waited in vain');
}
