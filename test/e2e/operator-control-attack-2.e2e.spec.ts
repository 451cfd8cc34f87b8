import { EventEmitterModule } from '@nestjs/event-emitter';
import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  ImportProcessor,
  ITEM_STATUS,
  type ImportItem,
} from '../../lib';
import { ImportEventPublisher } from '../../lib/events/import-event-publisher';
import { createTestApp } from '../fixtures/test-app';
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
                `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND (query LIKE '%corrected_data%' OR query LIKE '%FOR UPDATE%')`,
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
  describe("the worker's sweep of cancelled batches", () => {
    // The sweep cancels rows whose lease ran out; a live run keeps renewing the leases of its rows in
    // flight after the cancel, so that they finish in it (as the design says), however long they take.
    it('leaves alone a row a live run holds past several leases after the cancel: it completes there, the counts add up', async () => {
      const runner = await createTestApp(t.db.url, [SeenProcessor], { module: { leaseMs: 1000 } });
      let sweeper: Awaited<ReturnType<typeof createTestApp>> | undefined;
      try {
        const held = runner.app.get(SeenProcessor);
        const gate = new Gate();
        held.gates.set(2, gate);
        const batch = await t.batches.createBatch('seen', rows(10));
        const running = runner.batches
          .processBatch(batch.id, { concurrency: 1 })
          .catch((e: unknown) => e);
        await gate.entered;
        const cancelled = await t.batches.cancelBatch(batch.id, { reason: 'wrong file' });
        expect(cancelled.status).toBe(BATCH_STATUS.cancelled);
        // A worker that sweeps as it looks for work, every 50 ms (started now: it would take the batch).
        sweeper = await createTestApp(t.db.url, [SeenProcessor], {
          module: { leaseMs: 1000, worker: { enabled: true, pollIntervalMs: 50 } },
        });
        // Four leases of the row go by while the sweeper looks every 50 ms.
        const [{ until }] = await admin
          .query<{ until: Date }>(`SELECT now() + interval '4000 milliseconds' AS until`)
          .then((result) => result.rows);
        await waitFor(
          async () => (await admin.query<{ now: Date }>('SELECT now() AS now')).rows[0].now > until,
          { withinMs: 20_000 },
        );
        const during = await admin.query<{ status: string }>(
          `SELECT status FROM import_batch_items WHERE batch_id = $1 AND item_index = 2`,
          [batch.id],
        );
        expect(during.rows[0].status).toBe(ITEM_STATUS.processing);
        gate.release();
        const summary = await running;
        expect(summary).toMatchObject({ status: BATCH_STATUS.cancelled });
        const progress = await t.batches.getProgress(batch.id);
        expect(progress).toMatchObject({ completed: 3, cancelled: 7, inFlight: 0, pending: 0 });
        expect(await t.batches.getBatch(batch.id)).toMatchObject({
          completedItems: 3,
          cancelledItems: 7,
        });
      } finally {
        await sweeper?.close();
        await runner.close();
      }
    });
  });

  describe('a pause heard late on the events channel', () => {
    /** The pause event of a batch, as another instance that paused it would have sent it. */
    const sendLatePause = (batchId: string) =>
      admin.query(`SELECT pg_notify('reliable_imports_events', $1)`, [
        JSON.stringify({
          name: 'reliable-imports.batch.paused',
          batchId,
          batchType: 'seen',
          status: 'paused',
          reason: null,
          at: new Date().toISOString(),
          instanceId: 'another-instance',
        }),
      ]);

    // The pause event of a batch that was paused and resumed again may reach a listening instance after
    // the next run took the batch (the event is sent in the background, after the resume's notification
    // of the workers). That run halts on it and leaves the batch: somebody must finish it, each row once.
    it('halts a run of a batch that runs again: the worker finishes it, every row once', async () => {
      const worker = await createTestApp(t.db.url, [SeenProcessor], {
        module: { worker: { enabled: true, pollIntervalMs: 50 } },
      });
      try {
        const seen = worker.app.get(SeenProcessor);
        seen.seen = [];
        const gate = new Gate();
        seen.gates.set(3, gate);
        const batch = await t.batches.createBatch('seen', rows(10));
        await gate.entered;
        let heard = false;
        const unwatch = worker.app.get(ImportEventPublisher).watch((event) => {
          if (event.instanceId === 'another-instance') heard = true;
        });
        // The late event, as the instance that paused the batch would have sent it.
        await sendLatePause(batch.id);
        await waitFor(() => heard, { what: 'the worker instance to hear the late pause' });
        unwatch();
        gate.release();
        await waitFor(
          async () => (await t.batches.getBatch(batch.id)).status === BATCH_STATUS.completed,
          { what: 'somebody to finish the batch' },
        );
        const ids = seen.seen.map((entry) => entry.id);
        expect(new Set(ids).size).toBe(10);
        expect(ids).toHaveLength(10);
        expect(await t.batches.getProgress(batch.id)).toMatchObject({ completed: 10, inFlight: 0 });
      } finally {
        await worker.close();
      }
    });

    it('halts a processBatch call on it, in an instance that listens and has no worker: the call still finishes the batch', async () => {
      const listening = await createTestApp(t.db.url, [SeenProcessor], {
        imports: [EventEmitterModule.forRoot()],
      });
      try {
        const seen = listening.app.get(SeenProcessor);
        seen.seen = [];
        const gate = new Gate();
        seen.gates.set(3, gate);
        const batch = await t.batches.createBatch('seen', rows(10));
        const running = listening.batches.processBatch(batch.id);
        await gate.entered;
        let heard = false;
        const unwatch = listening.app.get(ImportEventPublisher).watch((event) => {
          if (event.instanceId === 'another-instance') heard = true;
        });
        await sendLatePause(batch.id);
        await waitFor(() => heard, { what: 'the instance to hear the late pause' });
        unwatch();
        gate.release();
        // The batch is not paused: the call that was told so goes on with it, to its end.
        expect(await running).toMatchObject({ status: BATCH_STATUS.completed, completedItems: 10 });
        const ids = seen.seen.map((entry) => entry.id);
        expect(new Set(ids).size).toBe(10);
        expect(ids).toHaveLength(10);
      } finally {
        await listening.close();
      }
    });
  });
});
