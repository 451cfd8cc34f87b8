/**
 * A separate Node process that processes one batch, for the crash, scale-out and fencing tests. It runs
 * with `node -r @swc-node/register`, configured by environment variables, and prints one JSON line when
 * done: `{ "processed": <items this process committed>, "status": "<batch status>" }`.
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

async function main(): Promise<void> {
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
  process.stdout.write(`${JSON.stringify({ processed: committed, status: summary.status })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
