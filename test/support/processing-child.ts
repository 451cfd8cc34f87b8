/**
 * A separate Node process that processes one batch, for the crash, scale-out and fencing tests. It runs
 * with `node -r @swc-node/register`, configured by environment variables, and prints one JSON line when
 * done: `{ "processed": <items this process committed>, "status": "<batch status>" }`. With
 * `TRACE_RUNS=1` it registers a tracing SDK of its own first, and the line has its run spans too
 * (`"runs"`: each one's trace id and links), for the tests of traces across processes.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import {
  BaseProcessor,
  BatchService,
  ImportProcessor,
  ReliableImportsModule,
  type ImportContext,
  type ImportItem,
} from '../../lib';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

/** Writes one row per item into `applied`, after an optional pause inside the item's transaction. */
@ImportProcessor()
class AppliedRowProcessor extends BaseProcessor<{ n: number }> {
  async processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>) {
    await ctx.query('INSERT INTO applied (item_id, n, pid) VALUES ($1, $2, $3)', [
      item.id,
      item.sourceData.n,
      process.pid,
    ]);
    const pauseMs = Number(env('ITEM_PAUSE_MS', '0'));
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: env('CHILD_DATABASE_URL'),
      retryAttempts: 0,
      extra: { max: 10 },
    }),
    ReliableImportsModule.forRoot({ leaseMs: Number(env('LEASE_MS', '30000')) }),
  ],
  providers: [AppliedRowProcessor],
})
class ChildModule {}

/** A run span of this process, as the line printed at the end tells it. */
export interface TracedRun {
  traceId: string;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, unknown> }>;
}

/**
 * With `TRACE_RUNS=1`: the SDK an application would register before it starts (a context manager, the
 * W3C propagator, a tracer provider), exporting to memory; returns what to print of its run spans.
 */
async function traceRuns(): Promise<(() => TracedRun[]) | null> {
  if (process.env.TRACE_RUNS !== '1') return null;
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } =
    await import('@opentelemetry/sdk-trace');
  const exporter = new InMemorySpanExporter();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }),
  );
  return () =>
    exporter
      .getFinishedSpans()
      .filter((span) => span.name.startsWith('run '))
      .map((span) => ({
        traceId: span.spanContext().traceId,
        links: span.links.map((link) => ({
          traceId: link.context.traceId,
          spanId: link.context.spanId,
          attributes: { ...link.attributes },
        })),
      }));
}

async function main(): Promise<void> {
  const tracedRuns = await traceRuns();
  const app = await NestFactory.createApplicationContext(ChildModule, { logger: ['error'] });
  process.stdout.write('ready\n');
  const batchId = env('BATCH_ID');
  const summary = await app
    .get(BatchService)
    .processBatch(batchId, { concurrency: Number(env('CONCURRENCY', '1')) });
  // Counted in the table, not in processItem: a try whose transaction did not commit wrote nothing.
  const [{ committed }] = await app.get(DataSource).query<Array<{ committed: number }>>(
    `SELECT count(*)::int AS committed FROM applied a JOIN import_batch_items i ON i.id = a.item_id
     WHERE a.pid = $1 AND i.batch_id = $2`,
    [process.pid, batchId],
  );
  await app.close();
  const runs = tracedRuns === null ? {} : { runs: tracedRuns() };
  process.stdout.write(
    `${JSON.stringify({ processed: committed, status: summary.status, ...runs })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
