/**
 * A separate Node process that processes one batch, for the crash, scale-out and fencing tests. It runs
 * with `node -r @swc-node/register`, configured by environment variables, and prints one JSON line when
 * done: `{ "processed": <items this process committed>, "status": "<batch status>" }`.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
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

let committed = 0;

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

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ChildModule, { logger: ['error'] });
  const processor = app.get(AppliedRowProcessor);
  const original = processor.processItem.bind(processor);
  processor.processItem = async (item, ctx) => {
    await original(item, ctx);
    committed++;
  };
  process.stdout.write('ready\n');
  const summary = await app
    .get(BatchService)
    .processBatch(env('BATCH_ID'), { concurrency: Number(env('CONCURRENCY', '1')) });
  await app.close();
  process.stdout.write(`${JSON.stringify({ processed: committed, status: summary.status })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
