import {
  BaseProcessor,
  ImportProcessor,
  SourceRow,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { useTestApp } from '../support/use-test-app';

interface Row {
  n: number;
}

@ImportProcessor()
class UnreadableLinesProcessor extends BaseProcessor<Row> {
  async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('SELECT 1');
  }
}

const COLUMNS = ['n'];

/**
 * A file of `count` rows (row n on line n + 2) whose lines in `unreadable` could not be read: they are
 * stored failed when the batch is created, before any run.
 */
const fileRows = (count: number, unreadable: number[]): SourceRow<Row>[] =>
  Array.from({ length: count }, (_, n) =>
    unreadable.includes(n)
      ? new SourceRow<Row>(
          n + 2,
          {} as Row,
          { reason: '2 fields where the header has 1', raw: `${n},x` },
          COLUMNS,
        )
      : new SourceRow(n + 2, { n }, null, COLUMNS),
  );

/**
 * Found by the randomized fault suite (command set 3, seed 1, path 0): the rows of a file that could not
 * be read are stored `failed` by createBatch, but the progress counters counted only outcomes recorded by
 * runs: they drifted from the rows from the start (getProgress said those rows were pending), and a resume
 * that put a corrected one back to pending took the failed count below zero.
 */
describe('progress counters of a batch with lines that could not be read', () => {
  const t = useTestApp([UnreadableLinesProcessor]);

  const counterSums = async (batchId: string) => {
    const [sums] = await t.dataSource.query<Array<{ failed: number }>>(
      `SELECT COALESCE(sum(failed), 0)::integer AS failed FROM import_batch_progress WHERE batch_id = $1`,
      [batchId],
    );
    return sums.failed;
  };

  it('counts the unreadable lines as failed from creation (getProgress agrees with the rows)', async () => {
    const batch = await t.batches.createBatch('unreadable_lines', fileRows(10, [2, 7]));
    const summary = await t.batches.getBatchSummary(batch.id);
    expect(summary).toMatchObject({ failedItems: 2, pendingItems: 8 });
    expect(await counterSums(batch.id)).toBe(2);
    expect(await t.batches.getProgress(batch.id)).toMatchObject({
      failed: 2,
      pending: 8,
      done: 2,
    });

    await t.batches.processBatch(batch.id);
    expect(await counterSums(batch.id)).toBe(2);
    expect(await t.batches.getProgress(batch.id)).toMatchObject({
      completed: 8,
      failed: 2,
      pending: 0,
      percent: 100,
    });
  });

  it('a resume that puts a corrected unreadable line back to pending never takes the failed count below zero', async () => {
    const batch = await t.batches.createBatch('unreadable_lines', fileRows(10, [3]));
    await t.batches.pauseBatch(batch.id);
    const [unread] = await t.batches.getItems(batch.id, { status: 'failed' });
    await t.batches.correctItem(unread.id, { n: 3 });
    await t.batches.resumeBatch(batch.id);
    expect(await counterSums(batch.id)).toBe(0);
    await t.batches.processBatch(batch.id);
    expect(await counterSums(batch.id)).toBe(0);
    expect(await t.batches.getProgress(batch.id)).toMatchObject({ completed: 10, failed: 0 });
  });
});
