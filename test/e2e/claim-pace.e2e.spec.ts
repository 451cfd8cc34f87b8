import { BaseProcessor, ImportProcessor } from '../../lib';
import { sleep } from '../../lib/utils/sleep.util';
import { StatementLog } from '../support/statement-log';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** The sizes (`LIMIT`, the fourth value) of the claims of pending items the data source sent. */
function claimSizes(log: StatementLog): number[] {
  return log.statements.flatMap((query, i) =>
    query.includes('FOR UPDATE SKIP LOCKED') && query.includes('"item_index" >=')
      ? [Number(log.parameters[i]?.[3])]
      : [],
  );
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
  const log = new StatementLog();
  const t = useTestApp([FastRows, SlowRows], { typeorm: { logger: log } });
  const rows = (count: number) => Array.from({ length: count }, (_, n) => ({ n }));

  it('claims more than 25 rows at once once fast rows have shown their pace, never more than 100', async () => {
    const batch = await t.batches.createBatch('fast_rows', rows(2000));
    log.clear();
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 2000 });
    const sizes = claimSizes(log);
    expect(sizes[0]).toBe(25);
    expect(Math.max(...sizes)).toBeGreaterThan(25);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    // Fewer claims than claims of 25 (80), the last ones empty.
    expect(sizes.length).toBeLessThan(80);
  });

  it('keeps claims of slow rows at 25, so that other processes can take the rest', async () => {
    const batch = await t.batches.createBatch('slow_rows', rows(60));
    log.clear();
    const summary = await t.batches.processBatch(batch.id);
    expect(summary).toMatchObject({ status: 'completed', completedItems: 60 });
    const sizes = claimSizes(log);
    expect(new Set(sizes)).toEqual(new Set([25]));
  });
});
