import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportProcessor,
  ITEM_STATUS,
  type ImportItem,
} from '../../lib';
import { Gate } from '../support/gate';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

/**
 * Attacks on the guarantees that landed for issue #13 after the first round: corrections of the pending
 * rows of a paused batch, the worker's sweep of cancelled batches, pauses heard on the events channel.
 */

interface Row {
  n: number;
  bad?: boolean;
}

/** Records the data each item ran with; `gates` hold the rows whose `n` they are keyed by. */
@ImportProcessor()
class SeenProcessor extends BaseProcessor<Row> {
  gates = new Map<number, Gate>();
  seen: Array<{ id: string; data: Row }> = [];

  async processItem(item: ImportItem<Row>): Promise<void> {
    this.seen.push({ id: item.id, data: item.sourceData });
    await this.gates.get(item.sourceData.n)?.pass();
    if (item.sourceData.bad) throw new Error(`row ${item.sourceData.n} is bad`);
  }
}

const rows = (count: number, bad: (n: number) => boolean = () => false): Row[] =>
  Array.from({ length: count }, (_, n) => (bad(n) ? { n, bad: true } : { n }));

describe('operator control under attack, round 2', () => {
  const t = useTestApp([SeenProcessor], { module: { leaseMs: 3000 } });
  let processor: SeenProcessor;
  let admin: Client;

  beforeAll(async () => {
    processor = t.app.get(SeenProcessor);
    admin = await t.connect();
  });
  beforeEach(() => {
    processor.gates.clear();
    processor.seen = [];
  });

  /** A reprocess of a batch whose rows 1–4 fail, paused by its budget at its first failure. */
  async function pausedChild(): Promise<{ rootId: string; childId: string }> {
    const root = await t.batches.createBatch(
      'seen',
      rows(5, (n) => n >= 1),
    );
    await t.batches.processBatch(root.id);
    const child = await t.batches.reprocessBatch(root.id, { maxFailures: 0, concurrency: 1 });
    expect(child.status).toBe(BATCH_STATUS.paused);
    return { rootId: root.id, childId: child.batchId };
  }

  describe('a correction of a pending row of a paused batch', () => {
    // The set's check of a row (rowStates) and the statement that stores it are two statements; the
    // tree's root lock does not keep a reprocess batch of the tree from being resumed and claimed in
    // between. The correction must then be refused, or the claim must wait for it: never "corrected"
    // while the row runs with its old data.
    it('racing a resume and a claim of a reprocess batch: the row never runs with its old data once corrected', async () => {
      const { rootId, childId } = await pausedChild();
      processor.seen = [];
      const items = await t.batches.getItems(childId, { status: ITEM_STATUS.pending });
      const byN = new Map(items.map((item) => [(item.sourceData as unknown as Row).n, item.id]));
      // Another session holds row 2 for a moment (as an item transaction or a dry run may): the
      // corrections' statement waits on it.
      await admin.query('BEGIN');
      await admin.query('SELECT 1 FROM import_batch_items WHERE id = $1 FOR UPDATE', [byN.get(2)]);
      let corrected: Promise<unknown> | undefined;
      let run: Promise<unknown> | undefined;
      try {
        corrected = t.batches
          .correctItems(rootId, [
            { itemId: byN.get(2)!, data: { n: 2 } },
            { itemId: byN.get(3)!, data: { n: 3 } },
          ])
          .catch((error: unknown) => error);
        await waitFor(
          async () =>
            // Not on the admin client: pg_stat_activity is read once per transaction.
            (
              await t.dataSource.query(
                `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND (query LIKE '%corrected_data%' OR query LIKE '%FOR UPDATE%')`,
              )
            ).length > 0,
          { what: 'the corrections to wait on row 2' },
        );
        await t.batches.resumeBatch(childId);
        run = t.batches.processBatch(childId, { concurrency: 1 });
        // The run claims what it can: row 3 (unless the corrections hold it), row 4.
        await waitFor(
          async () =>
            (await t.batches.getItems(childId, { status: ITEM_STATUS.pending })).length <= 2,
          { what: 'the run to claim the rows it can' },
        );
      } finally {
        await admin.query('ROLLBACK');
      }
      const outcome = await corrected;
      await run;
      const ranWithOldData = processor.seen.filter(
        ({ id, data }) => (id === byN.get(2) || id === byN.get(3)) && data.bad === true,
      );
      // Refused (the row was claimed first, and reads as held), or corrected: then no row ran with its
      // old data after the resume.
      if (outcome instanceof Error) {
        expect(outcome.message).toMatch(/is being processed by batch/);
      } else {
        expect(outcome).toMatchObject({ corrected: 2 });
        expect(ranWithOldData).toEqual([]);
        expect(await t.batches.getBatchSummary(childId)).toMatchObject({
          status: BATCH_STATUS.completedWithErrors,
          completedItems: 3,
          failedItems: 1,
        });
      }
    });
  });
});
