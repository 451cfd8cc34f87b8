import type { Logger } from 'typeorm';
import { BaseProcessor, ImportProcessor, type ImportContext, type ImportItem } from '../../lib';
import { trackInFlight } from '../support/in-flight';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

/** Counts the transactions the data source commits, and the claims of items. */
class CommitCounter implements Logger {
  commits = 0;
  claims = 0;
  logQuery(query: string): void {
    if (query === 'COMMIT') this.commits++;
    if (query.includes('FOR UPDATE SKIP LOCKED')) this.claims++;
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** Writes a row under a unique key (a double apply would fail); items 3, 5 and 7 are invalid. */
@ImportProcessor()
class TallyProcessor extends BaseProcessor<Row> {
  runs = 0;
  validateItem(item: ImportItem<Row>): string | true {
    return ![3, 5, 7].includes(item.sourceData.n) || `n ${item.sourceData.n} is not allowed`;
  }
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>) {
    this.runs++;
    await ctx.query('INSERT INTO tally (n) VALUES ($1)', [item.sourceData.n]);
    ctx.log.debug('counted');
    return { targetTable: 'tally', targetId: item.sourceData.n };
  }
}

describe('chunked commits (commitEvery)', () => {
  const counter = new CommitCounter();
  const t = useTestApp([TallyProcessor], { typeorm: { logger: counter } });

  beforeAll(async () => {
    await t.dataSource.query('CREATE TABLE tally (n integer PRIMARY KEY)');
  });

  it('commits a chunk at a time, replays only the chunk with a failure, and applies each item once', async () => {
    const processor = t.app.get(TallyProcessor);
    const batch = await t.batches.createBatch(
      'tally',
      Array.from({ length: 1000 }, (_, n) => ({ n })),
    );
    counter.commits = 0;
    processor.runs = 0;
    const summary = await t.batches.processBatch(batch.id, { commitEvery: 100 });

    expect(summary).toMatchObject({
      status: 'completed_with_errors',
      completedItems: 997,
      failedItems: 3,
    });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => [item.itemIndex, item.errorMessage, item.attempts])).toEqual([
      [3, 'n 3 is not allowed', 1],
      [5, 'n 5 is not allowed', 1],
      [7, 'n 7 is not allowed', 1],
    ]);
    const [{ count }] = await t.dataSource.query<{ count: number }[]>(
      'SELECT count(*)::int AS count FROM tally',
    );
    expect(count).toBe(997);

    // 9 chunks commit at once; the first (with the failures) is replayed one item at a time.
    expect(counter.commits).toBeLessThan(9 + 100 + 10);
    expect(processor.runs).toBe(900 + 3 + 97);

    const completed = await t.batches.getItems(batch.id, { status: 'completed', limit: 1000 });
    expect(completed.every((item) => item.attempts === 1 && item.targetTable === 'tally')).toBe(
      true,
    );
    expect(completed.find((item) => item.itemIndex === 500)?.targetId).toBe('500');
    const logs = await t.batches.getLogs(batch.id, { level: 'debug', limit: 5000 });
    expect(logs).toHaveLength(997);
  });

  it('claims several chunks at once in a big batch: fewer claims than chunks', async () => {
    const processor = t.app.get(TallyProcessor);
    const run = async (count: number, concurrency: number) => {
      const from = 100_000 * (concurrency + count);
      const batch = await t.batches.createBatch(
        'tally',
        Array.from({ length: count }, (_, i) => ({ n: from + i })),
      );
      counter.claims = 0;
      counter.commits = 0;
      const summary = await t.batches.processBatch(batch.id, { commitEvery: 100, concurrency });
      expect(summary).toMatchObject({ status: 'completed', completedItems: count });
      return { claims: counter.claims, commits: counter.commits };
    };
    processor.runs = 0;
    // 4,000 rows, one lane: claims of 4 chunks (10 of them, and the empty ones that end the run).
    const one = await run(4000, 1);
    expect(one.claims).toBeLessThanOrEqual(10 + 3);
    expect(one.commits).toBe(40);
    // Four lanes: a lane's quarter share is 250 rows, so claims of 2 chunks (20 of them, some cut short
    // where lanes claim at once near the end, and each lane's empty ones): fewer than the 40 chunks.
    const four = await run(4000, 4);
    expect(four.claims).toBeLessThan(40);
    // A claim cut short (lanes that claim the last rows at once share them) ends in a chunk of fewer
    // than 100 rows: one more commit for each lane but the last, never more.
    expect(four.commits).toBeGreaterThanOrEqual(40);
    expect(four.commits).toBeLessThanOrEqual(40 + 3);
    expect(processor.runs).toBe(8000);
  });

  it('is available through import() as well', async () => {
    counter.commits = 0;
    const summary = await t.batches.import(
      'tally',
      Array.from({ length: 300 }, (_, i) => ({ n: 10_000 + i })),
      { commitEvery: 100 },
    );
    expect(summary).toMatchObject({ completedItems: 300 });
    expect(counter.commits).toBeLessThan(10);
  });

  it('spreads a batch smaller than a chunk over the lanes', async () => {
    const stop = trackInFlight(t.app.get(TallyProcessor));
    let most: number;
    try {
      const summary = await t.batches.import(
        'tally',
        Array.from({ length: 40 }, (_, i) => ({ n: 20_000 + i })),
        { commitEvery: 100, concurrency: 4 },
      );
      expect(summary).toMatchObject({ completedItems: 40, failedItems: 0 });
    } finally {
      most = stop();
    }
    expect(most).toBeGreaterThan(1);
  });
});
