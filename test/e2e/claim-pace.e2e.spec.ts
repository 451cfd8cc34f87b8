import type { Logger } from 'typeorm';
import { BaseProcessor, ImportProcessor } from '../../lib';
import { sleep } from '../../lib/utils/sleep.util';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** The size (`LIMIT`, the fourth value) of every claim of pending items the data source sends. */
class ClaimSizes implements Logger {
  sizes: number[] = [];
  logQuery(query: string, parameters?: unknown[]): void {
    if (query.includes('FOR UPDATE SKIP LOCKED') && query.includes('"item_index" >=')) {
      this.sizes.push(Number(parameters?.[3]));
    }
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

@ImportProcessor()
class FastRows extends BaseProcessor<Row> {
  async processItem(): Promise<void> {}
}

/** 20 ms a row: 12 rows in a quarter of a second, fewer than a first claim. */
@ImportProcessor()
class SlowRows extends BaseProcessor<Row> {
  async processItem(): Promise<void> {
    await sleep(20);
  }
}

describe('claims sized by the pace of the rows (per row)', () => {
  const sizes = new ClaimSizes();
  const t = useTestApp([FastRows, SlowRows], { typeorm: { logger: sizes } });
  const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

  it('claims more than 25 rows at once once fast rows have shown their pace, never more than 100', async () => {
    const batch = await t.batches.createBatch('fast_rows', rows(2000));
    sizes.sizes = [];
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 2000 });
    expect(sizes.sizes[0]).toBe(25);
    expect(Math.max(...sizes.sizes)).toBeGreaterThan(25);
    expect(Math.max(...sizes.sizes)).toBeLessThanOrEqual(100);
    // Fewer claims than claims of 25 (80), the last ones empty.
    expect(sizes.sizes.length).toBeLessThan(80);
  });

  it('keeps claims of slow rows at 25, so that other processes can take the rest', async () => {
    const batch = await t.batches.createBatch('slow_rows', rows(60));
    sizes.sizes = [];
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 60 });
    expect(new Set(sizes.sizes)).toEqual(new Set([25]));
  });
});
