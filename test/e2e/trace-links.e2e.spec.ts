import {
  context,
  createTraceState,
  metrics,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Span,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, type MetricData } from '@opentelemetry/sdk-metrics';
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
  LeaseLostError,
  RELIABLE_IMPORTS_TELEMETRY,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { CREATE_APPLIED_TABLE, resultOf, startProcessingChild } from '../support/child-process';
import { Gate } from '../support/gate';
import { TestMetricReader } from '../support/test-metric-reader';
import { waitFor } from '../support/timing';
import { useTestDatabase } from '../support/use-test-app';

const { attributes: A, metrics: M } = RELIABLE_IMPORTS_TELEMETRY;

interface Row {
  n: number;
  act?: 'fail' | 'wait';
}

/** Where a row that waits waits. */
let gate = new Gate();

/** The processing child's batch type, so that the child can run what these apps create. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>) {
    if (item.sourceData.act === 'wait') await gate.pass();
    if (item.sourceData.act === 'fail') throw new Error(`row ${item.sourceData.n} is bad`);
  }
}

/** What the instance that creates batches reports (an HTTP API, say). */
const creatorSpans = new InMemorySpanExporter();
const creatorProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: creatorSpans })],
});
/** What the instance that runs them reports: another provider, as another process has. */
const runnerSpans = new InMemorySpanExporter();
const runnerProvider = new TracerProvider({
  spanProcessors: [new SimpleSpanProcessor({ exporter: runnerSpans })],
});
const reader = new TestMetricReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();
const w3c = new W3CTraceContextPropagator();

/** Runs `work` with a new span of the creating instance active, as a request handler would. */
async function inSpan<T>(name: string, work: () => Promise<T>, parent = ROOT_CONTEXT) {
  const span: Span = creatorProvider.getTracer('app').startSpan(name, {}, parent);
  try {
    const result = await context.with(trace.setSpan(parent, span), work);
    return { result, span: span.spanContext() };
  } finally {
    span.end();
  }
}

function runSpans(exporter: InMemorySpanExporter): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === 'run applied_row');
}

/** The links of a span: whose span, and what the link says of it. */
function linksOf(span: ReadableSpan | undefined) {
  return (span?.links ?? []).map((link) => ({
    traceId: link.context.traceId,
    spanId: link.context.spanId,
    attributes: link.attributes,
  }));
}

async function collect(): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

/** The claims the runner's runs have made so far. */
async function claims(): Promise<number> {
  const metric = (await collect()).find((m) => m.descriptor.name === M.claimDuration);
  return (metric?.dataPoints ?? []).reduce(
    (count, point) => count + (point.value as { count: number }).count,
    0,
  );
}

/** The lease expirations of `scope` counted so far. */
async function expirations(scope: 'batch' | 'row'): Promise<number> {
  const metric = (await collect()).find((m) => m.descriptor.name === M.leaseExpirations);
  return (metric?.dataPoints ?? [])
    .filter(
      (point) =>
        point.attributes[A.destination] === 'applied_row' &&
        point.attributes[A.leaseScope] === scope,
    )
    .reduce((sum, point) => sum + (point.value as number), 0);
}

describe('spans linked across processes by the trace context stored with a batch', () => {
  const database = useTestDatabase();
  let creator: TestApp;
  let runner: TestApp;
  let other: Client;

  const storedContext = async (batchId: string): Promise<unknown> =>
    (
      await other.query<{ trace_context: unknown }>(
        'SELECT trace_context FROM import_batches WHERE id = $1',
        [batchId],
      )
    ).rows[0].trace_context;

  beforeAll(async () => {
    context.setGlobalContextManager(contextManager.enable());
    propagation.setGlobalPropagator(w3c);
    // Each instance takes its tracer from the provider registered when it starts: one each, as two
    // processes would have. Only the database is shared.
    trace.setGlobalTracerProvider(creatorProvider);
    creator = await createTestApp(database.db.url, [AppliedRowProcessor]);
    database.closeBeforeCheck(() => creator.close());
    trace.disable();
    trace.setGlobalTracerProvider(runnerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
    // A short lease, so that a run learns within a second that its batch was taken over.
    runner = await createTestApp(database.db.url, [AppliedRowProcessor], {
      module: { leaseMs: 3000 },
    });
    database.closeBeforeCheck(() => runner.close());
    other = await database.connect();
    await other.query(CREATE_APPLIED_TABLE);
  });
  afterAll(async () => {
    await meterProvider.shutdown();
    await creatorProvider.shutdown();
    await runnerProvider.shutdown();
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
  });
  beforeEach(() => {
    creatorSpans.reset();
    runnerSpans.reset();
  });

  it('stores the creating span and links the run span of another instance to it', async () => {
    // The request came with a tracestate: it is stored and carried too.
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('vendor=abc'),
      isRemote: true,
    });
    const { result: batch, span: created } = await inSpan(
      'POST /imports',
      () => creator.batches.createBatch('applied_row', [{ n: 0 }, { n: 1 }]),
      remote,
    );
    expect(await storedContext(batch.id)).toEqual({
      traceparent: `00-${created.traceId}-${created.spanId}-01`,
      tracestate: 'vendor=abc',
    });

    const summary = await runner.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 2 });

    // The run is in a trace of its own (it was called outside any span), linked to the creator's span.
    const [run] = runSpans(runnerSpans);
    expect(run).toBeDefined();
    expect(run.spanContext().traceId).not.toBe(created.traceId);
    expect(linksOf(run)).toEqual([
      {
        traceId: created.traceId,
        spanId: created.spanId,
        attributes: { [A.role]: 'creator', [A.batchId]: batch.id },
      },
    ]);
    expect(run.links[0].context.traceState?.get('vendor')).toBe('abc');
    // Its rows are still its children, not the creator's.
    const rows = runnerSpans.getFinishedSpans().filter((s) => s.name === 'process applied_row');
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.parentSpanContext?.spanId).toBe(run.spanContext().spanId);
    // The creating instance ran nothing.
    expect(runSpans(creatorSpans)).toEqual([]);
  });

  it('links a takeover and a helper in another instance to the creating span as well', async () => {
    gate = new Gate();
    const { result: batch, span: created } = await inSpan('POST /imports', () =>
      creator.batches.createBatch('applied_row', [{ n: 0, act: 'wait' }, { n: 1 }]),
    );
    // A run that died holding the batch: the creating instance takes it over.
    await other.query(
      `UPDATE import_batches SET status = 'processing', started_at = now(), locked_by = 'dead:1:run',
         locked_until = now() - interval '1 minute' WHERE id = $1`,
      [batch.id],
    );
    const owner = creator.batches.processBatch(batch.id);
    await gate.entered;
    // The other instance joins the run that holds the batch, as a helper: it has taken its part once it
    // has made a claim (which finds the holder's rows taken).
    const claimsBefore = await claims();
    const helper = runner.batches.processBatch(batch.id);
    await waitFor(async () => (await claims()) > claimsBefore, { what: "the helper's claim" });
    gate.release();
    await Promise.all([owner, helper]);

    const creatorLink = {
      traceId: created.traceId,
      spanId: created.spanId,
      attributes: { [A.role]: 'creator', [A.batchId]: batch.id },
    };
    const [takeover] = runSpans(creatorSpans);
    expect(takeover.attributes).toMatchObject({ [A.role]: 'owner', [A.tookOver]: true });
    expect(linksOf(takeover)).toEqual([creatorLink]);
    const [helping] = runSpans(runnerSpans);
    expect(helping.attributes[A.role]).toBe('helper');
    // The holder runs in another instance: the stored context is what links the two runs' traces.
    expect(linksOf(helping)).toEqual([creatorLink]);
  });

  it('links the run of a child process to the creating span', async () => {
    const { result: batch, span: created } = await inSpan('POST /imports', () =>
      creator.batches.createBatch('applied_row', [{ n: 0 }, { n: 1 }, { n: 2 }]),
    );
    const child = startProcessingChild({
      databaseUrl: database.db.url,
      batchId: batch.id,
      traceRuns: true,
    });
    const { code, stdout, stderr } = await child.exited;
    // Its error, when it failed, in the failure's message.
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const { status, runs } = resultOf(stdout);
    expect(status).toBe('completed');
    expect(runs).toHaveLength(1);
    expect(runs?.[0].traceId).not.toBe(created.traceId);
    expect(runs?.[0].links).toEqual([
      {
        traceId: created.traceId,
        spanId: created.spanId,
        attributes: { [A.role]: 'creator', [A.batchId]: batch.id },
      },
    ]);
  });

  it("links a reprocess's run to the span that created it and to the one that created its parent", async () => {
    const { result: parent, span: imported } = await inSpan('POST /imports', () =>
      creator.batches.createBatch('applied_row', [{ n: 0, act: 'fail' }, { n: 1 }]),
    );
    await runner.batches.processBatch(parent.id);
    const { result: child, span: asked } = await inSpan('POST /reprocess', () =>
      creator.batches.createReprocessBatch(parent.id),
    );
    runnerSpans.reset();
    await runner.batches.processBatch(child.id);
    expect(linksOf(runSpans(runnerSpans)[0])).toEqual([
      {
        traceId: asked.traceId,
        spanId: asked.spanId,
        attributes: { [A.role]: 'creator', [A.batchId]: child.id },
      },
      {
        traceId: imported.traceId,
        spanId: imported.spanId,
        attributes: { [A.role]: 'creator', [A.batchId]: parent.id },
      },
    ]);

    // Made and run in one call: the run is the calling span's child, which is not linked again.
    runnerSpans.reset();
    const { span: called } = await inSpan('POST /reprocess-now', () =>
      runner.batches.reprocessBatch(parent.id),
    );
    const [run] = runSpans(runnerSpans);
    expect(run.parentSpanContext?.spanId).toBe(called.spanId);
    expect(linksOf(run)).toEqual([
      {
        traceId: imported.traceId,
        spanId: imported.spanId,
        attributes: { [A.role]: 'creator', [A.batchId]: parent.id },
      },
    ]);
  });

  it('stores nothing and links nothing without a span, or without a propagator', async () => {
    const untraced = await creator.batches.createBatch('applied_row', [{ n: 0 }]);
    expect(await storedContext(untraced.id)).toBeNull();

    // A span, but no propagator registered: nothing writes the context.
    propagation.disable();
    const { result: unpropagated } = await inSpan('POST /imports', () =>
      creator.batches.createBatch('applied_row', [{ n: 0 }]),
    ).finally(() => propagation.setGlobalPropagator(w3c));
    expect(await storedContext(unpropagated.id)).toBeNull();

    await runner.batches.processBatch(untraced.id);
    await runner.batches.processBatch(unpropagated.id);
    const runs = runSpans(runnerSpans);
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run.links).toEqual([]);
  });

  it('runs a batch whose stored trace context is malformed, with no link', async () => {
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const malformed: unknown[] = [
      valid,
      [valid],
      42,
      {},
      { traceparent: 7 },
      { traceparent: 'garbage' },
      { traceparent: valid.toUpperCase() },
      { traceparent: `${valid}-more` },
      { traceparent: `ff${valid.slice(2)}` },
      { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` },
      { traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01` },
      { traceparent: `01${valid.slice(2)}-${'x'.repeat(10_000)}` },
      { Traceparent: valid },
      { nested: { traceparent: valid } },
    ];
    const ids: string[] = [];
    for (const value of malformed) {
      const batch = await creator.batches.createBatch('applied_row', [{ n: 0 }]);
      await other.query('UPDATE import_batches SET trace_context = $2::jsonb WHERE id = $1', [
        batch.id,
        JSON.stringify(value),
      ]);
      ids.push(batch.id);
    }
    for (const id of ids) {
      expect(await runner.batches.processBatch(id)).toMatchObject({ status: 'completed' });
    }
    const runs = runSpans(runnerSpans);
    expect(runs).toHaveLength(malformed.length);
    for (const run of runs) expect(run.links).toEqual([]);

    // A good traceparent with a tracestate that is not one: the link, without the tracestate.
    const batch = await creator.batches.createBatch('applied_row', [{ n: 0 }]);
    await other.query('UPDATE import_batches SET trace_context = $2::jsonb WHERE id = $1', [
      batch.id,
      JSON.stringify({ traceparent: valid, tracestate: 'x'.repeat(100_000) }),
    ]);
    runnerSpans.reset();
    await runner.batches.processBatch(batch.id);
    const [run] = runSpans(runnerSpans);
    expect(linksOf(run).map((link) => link.spanId)).toEqual(['00f067aa0ba902b7']);
    expect(run.links[0].context.traceState?.serialize() ?? '').toBe('');
  });

  it('links the worker of another instance to the creating span', async () => {
    const worker = await createTestApp(database.db.url, [AppliedRowProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 100 } },
    });
    try {
      const { result: batch, span: created } = await inSpan('POST /imports', () =>
        creator.batches.createBatch('applied_row', [{ n: 0 }, { n: 1 }]),
      );
      const runOf = () =>
        runSpans(runnerSpans).find((span) => span.attributes[A.batchId] === batch.id);
      await waitFor(() => runOf() !== undefined, { what: "the worker's run of the batch" });
      const run = runOf()!;
      expect(run.attributes[A.batchId]).toBe(batch.id);
      expect(linksOf(run)).toEqual([
        {
          traceId: created.traceId,
          spanId: created.spanId,
          attributes: { [A.role]: 'creator', [A.batchId]: batch.id },
        },
      ]);
    } finally {
      await worker.close();
    }
  });

  it('counts a batch lease that ran out under a run (another run took the batch) as a lease expiration', async () => {
    gate = new Gate();
    const batch = await creator.batches.createBatch('applied_row', [
      { n: 0, act: 'wait' },
      { n: 1 },
    ]);
    const before = { batch: await expirations('batch'), row: await expirations('row') };
    const processing = runner.batches.processBatch(batch.id);
    const failed = processing.catch((error: unknown) => error);
    await gate.entered;
    // Another run takes the batch over, as it would once this run's lease had run out.
    await other.query(
      `UPDATE import_batches SET locked_by = 'thief', locked_until = now() + interval '1 hour'
       WHERE id = $1`,
      [batch.id],
    );
    // The run learns it at its next renewal of the lease.
    await waitFor(async () => (await expirations('batch')) > before.batch, {
      withinMs: 30_000,
      what: 'the batch lease expiration',
    });
    gate.release();
    expect(await failed).toBeInstanceOf(LeaseLostError);
    expect((await expirations('batch')) - before.batch).toBe(1);
    expect((await expirations('row')) - before.row).toBe(0);
    const [run] = runSpans(runnerSpans);
    expect(run.attributes[A.ending]).toBe('lease-lost');
  });
});
