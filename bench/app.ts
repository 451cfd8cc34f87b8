/**
 * The application every module figure of the bench runs: the module on a database of the bench's, with a
 * processor of customers that does the work of `work.ts`.
 */
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import {
  BaseProcessor,
  ImportProcessor,
  ReliableImportsModule,
  reliableImportsMigrations,
  type ImportContext,
  type ImportItem,
} from '../lib';
import { UPSERT, upsertValues, type Row } from './work';

/**
 * Upserts the row into bench_customers in the item's transaction, as an import of customers would; as a
 * prepared statement, as the raw loop's is and as the README tells processors to run their per-row SQL.
 */
@ImportProcessor()
class BenchCustomerProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const inserted: unknown = await ctx.query(UPSERT, upsertValues(item.sourceData), {
      prepare: true,
    });
    if (!Array.isArray(inserted) || inserted.length !== 1) throw new Error('bench: no id returned');
  }
}

/**
 * The module on `url` with a pool of `poolSize`. Idle pool connections close after a quarter of a second:
 * the meter waits for the bench database to have no connection before and after a figure, which is when
 * PostgreSQL has reported every commit of it.
 */
export function appModule(poolSize: number, url: string) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url,
        migrations: reliableImportsMigrations,
        migrationsRun: true,
        extra: { max: poolSize, idleTimeoutMillis: 250 },
        logging: false,
      }),
      ReliableImportsModule.forRoot({ leaseMs: 60_000 }),
    ],
    providers: [BenchCustomerProcessor],
  })
  class BenchModule {}
  return BenchModule;
}
