import {
  BaseProcessor,
  ImportProcessor,
  type BatchContext,
  type ImportContext,
  type ImportItem,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { Gate } from '../support/gate';
import { preparedStatementWarnings } from '../support/statement-log';
import { useTestDatabase } from '../support/use-test-app';

// Attacks on prepared statements: what they change besides speed (a plan cached per connection, an
// error that a processor handles its own way).

const LOOKUP = 'SELECT $1::int AS n';

interface Row {
  n: number;
  /**
   * What the row's first try does to the prepared statement of its own lookup: has it vanish (as behind
   * a pooler that lends another connection) and then wrap the error, or fall back to an unprepared query;
   * or has the row's completion's statement vanish.
   */
  act?: 'wrap' | 'fallback' | 'vanish' | 'unserializable';
}

/** Runs its lookup prepared twice; between the two, on the row's first try, the statement vanishes. */
@ImportProcessor({ batchType: 'attack_gone' })
class GoneProcessor extends BaseProcessor<Row> {
  private readonly acted = new Set<number>();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const { n, act } = item.sourceData;
    const first = !this.acted.has(n);
    this.acted.add(n);
    ctx.log.info(`looking up row ${n}`);
    await ctx.query(LOOKUP, [n], { prepare: true });
    if ((act === 'wrap' || act === 'fallback') && first) await ctx.query('DEALLOCATE ALL');
    try {
      await ctx.query(LOOKUP, [n], { prepare: true });
    } catch (error) {
      // A processor's own ways with a database error: add context, or try another way.
      if (act === 'wrap') throw new Error(`lookup of row ${n} failed`, { cause: error });
      await ctx.query(LOOKUP, [n]);
    }
    // Gone from under the row's completion, which an earlier row prepared on this connection.
    if (act === 'vanish' && first) await ctx.query('DEALLOCATE ALL');
  }
}

/**
 * Memoizes a lookup for the whole run, a common way to read reference data once; the lookup's statement
 * vanishes under it the first time, so the memo holds a rejected promise (the same error object, thrown
 * again at every row). Gives up after `LIMIT` calls, so that a loop shows as a count instead of a hang.
 */
@ImportProcessor({ batchType: 'attack_memo' })
class MemoProcessor extends BaseProcessor<Row> {
  static readonly LIMIT = 50;
  calls = 0;
  private lookup: Promise<unknown> | null = null;

  async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    this.calls++;
    if (this.calls > MemoProcessor.LIMIT) throw new Error('looped');
    if (this.lookup === null) {
      this.lookup = (async () => {
        await ctx.query(LOOKUP, [0], { prepare: true });
        await ctx.query('DEALLOCATE ALL');
        return ctx.query(LOOKUP, [0], { prepare: true });
      })();
      this.lookup.catch(() => undefined);
    }
    await this.lookup;
  }
}

/**
 * Asks to prepare a text built per call (a value written into it instead of given in `params`), as a
 * processor that did not read the option's note would; counts what its connection holds prepared.
 */
@ImportProcessor({ batchType: 'attack_texts' })
class TextsProcessor extends BaseProcessor<Row> {
  static readonly TEXTS = 1200;
  held = 0;

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    for (let i = 0; i < TextsProcessor.TEXTS; i++) {
      await ctx.query(`SELECT ${item.sourceData.n * TextsProcessor.TEXTS + i}::int AS n`, [], {
        prepare: true,
      });
    }
    const [row] = await ctx.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM pg_prepared_statements',
    );
    this.held = Math.max(this.held, row.count);
  }
}

const WITH_JSON = 'SELECT $1::int AS n, $2::jsonb AS j';

/** Passes a value of its own as JSON to a prepared statement; a row may give one JSON cannot hold. */
@ImportProcessor({ batchType: 'attack_bind' })
class BindProcessor extends BaseProcessor<Row> {
  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    const { n, act } = item.sourceData;
    const value = act === 'unserializable' ? { n, big: BigInt(n) } : { n };
    await ctx.query(WITH_JSON, [n, value], { prepare: true });
  }
}

/** Runs a lookup prepared twice in `onBatchStart`; between the two, the first time, it vanishes. */
@ImportProcessor({ batchType: 'attack_hook' })
class HookProcessor extends BaseProcessor<Row> {
  private acted = false;

  async onBatchStart(_batch: unknown, ctx: BatchContext): Promise<void> {
    await ctx.query(LOOKUP, [0], { prepare: true });
    if (!this.acted) await ctx.query('DEALLOCATE ALL');
    this.acted = true;
    await ctx.query(LOOKUP, [0], { prepare: true });
  }

  processItem(): void {}
}

/** Waits at `gate` in the first row's first try, while the test changes the schema. */
@ImportProcessor({ batchType: 'attack_schema' })
class SchemaProcessor extends BaseProcessor<Row> {
  static gate = new Gate();

  async processItem(item: ImportItem<Row>): Promise<void> {
    if (item.itemIndex === 0 && SchemaProcessor.gate.passes === 0) {
      await SchemaProcessor.gate.pass();
    }
  }
}

/**
 * Inserts its row with a prepared `RETURNING *`; waits at `gate` in its sixth row (the rows before it
 * prepared the insert), while the test alters the table.
 */
@ImportProcessor({ batchType: 'attack_returning' })
class ReturningProcessor extends BaseProcessor<Row> {
  static gate = new Gate();

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    if (item.itemIndex === 5 && ReturningProcessor.gate.passes === 0) {
      await ReturningProcessor.gate.pass();
    }
    await ctx.query('INSERT INTO attack_targets (n) VALUES ($1) RETURNING *', [item.sourceData.n], {
      prepare: true,
    });
  }
}

describe('prepared statements, attacked', () => {
  const file = useTestDatabase();

  async function app(module: ReliableImportsModuleOptions = {}): Promise<TestApp> {
    const t = await createTestApp(
      file.db.url,
      [
        GoneProcessor,
        MemoProcessor,
        SchemaProcessor,
        TextsProcessor,
        HookProcessor,
        ReturningProcessor,
        BindProcessor,
      ],
      {
        module,
      },
    );
    file.closeBeforeCheck(() => t.close());
    return t;
  }

  const rows = (count: number, acts: Record<number, Row['act']> = {}): Row[] =>
    Array.from({ length: count }, (_, n) => ({ n, ...(acts[n] ? { act: acts[n] } : {}) }));

  it("a processor that wraps the gone statement's error: the row is tried again, not failed", async () => {
    const t = await app({ maxAttempts: 1 });
    const batch = await t.batches.createBatch('attack_gone', rows(4, { 1: 'wrap' }));
    const summary = await t.batches.processBatch(batch.id, { concurrency: 1 });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.errorMessage)).toEqual([]);
    expect(summary).toMatchObject({ completedItems: 4, failedItems: 0 });
  });

  it('a try run again for a statement gone leaves no trace in the log: as if it never was', async () => {
    const t = await app({ maxAttempts: 1 });
    const batch = await t.batches.createBatch('attack_gone', rows(3, { 1: 'vanish' }));
    expect(await t.batches.processBatch(batch.id, { concurrency: 1 })).toMatchObject({
      completedItems: 3,
    });
    const logs = await t.batches.getLogs(batch.id);
    const lookups = logs
      .map((entry) => entry.message)
      .filter((text) => text.startsWith('looking up'));
    expect(lookups.sort()).toEqual(['looking up row 0', 'looking up row 1', 'looking up row 2']);
  });

  it('a processor that falls back to an unprepared query: the row is tried again, not failed', async () => {
    const t = await app({ maxAttempts: 1 });
    const batch = await t.batches.createBatch('attack_gone', rows(4, { 2: 'fallback' }));
    const summary = await t.batches.processBatch(batch.id, { concurrency: 1 });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.errorMessage)).toEqual([]);
    expect(summary).toMatchObject({ completedItems: 4, failedItems: 0 });
  });

  it('the same gone error thrown again at every try: tried again once, not forever', async () => {
    const t = await app({ maxAttempts: 1 });
    const processor = t.app.get(MemoProcessor);
    const batch = await t.batches.createBatch('attack_memo', rows(3));
    await t.batches.processBatch(batch.id, { concurrency: 1 });
    // One try of the first row met the statement gone; each row after it fails at its one try.
    expect(processor.calls).toBeLessThanOrEqual(4);
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.errorMessage)).not.toContain('looped');
  });

  it('a row whose value the driver cannot send fails alone: no pooler is blamed, prepared statements stay on', async () => {
    const t = await app({ maxAttempts: 1 });
    const bad: Record<number, Row['act']> = { 1: 'unserializable', 7: 'unserializable' };
    const batch = await t.batches.createBatch('attack_bind', rows(60, bad));
    const warnings = await preparedStatementWarnings(async () => {
      await t.batches.processBatch(batch.id, { concurrency: 3 });
    });
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.itemIndex)).toEqual([1, 7]);
    // The driver's own reason, found before anything was sent (pg before 8.22 would wait for ever).
    expect(failed.map((item) => item.errorMessage)).toEqual([
      expect.stringMatching(/BigInt/),
      expect.stringMatching(/BigInt/),
    ]);
    expect(warnings).toEqual([]);
  });

  it('texts built per call, asked to be prepared: a bounded number kept per connection, and a warning that names the fix', async () => {
    const t = await app();
    const processor = t.app.get(TextsProcessor);
    const batch = await t.batches.createBatch('attack_texts', rows(2));
    const warnings = await preparedStatementWarnings(async () => {
      expect(await t.batches.processBatch(batch.id, { concurrency: 1 })).toMatchObject({
        completedItems: 2,
      });
    });
    expect(processor.held).toBeLessThanOrEqual(1000);
    expect(warnings).toEqual([expect.stringContaining('params')]);
  });

  it("a dry run's onBatchStart that meets its statement gone: the verdict is the batch's, not the pooler's", async () => {
    const t = await app();
    const batch = await t.batches.createBatch('attack_hook', rows(2));
    const summary = await t.batches.processBatch(batch.id, { dryRun: true });
    expect(summary).toMatchObject({ dryRun: { batchRefused: null, total: 2, wouldComplete: 2 } });
  });

  it("a column added to the processor's table while a run goes on: its prepared RETURNING * is prepared again, no row fails", async () => {
    ReturningProcessor.gate = new Gate();
    const t = await app({ maxAttempts: 1 });
    await t.dataSource.query('CREATE TABLE attack_targets (n integer NOT NULL)');
    const batch = await t.batches.createBatch('attack_returning', rows(40));
    const processing = t.batches.processBatch(batch.id, { concurrency: 1 });
    processing.catch(() => undefined);
    await ReturningProcessor.gate.entered;
    const client = await file.connect();
    await client.query('ALTER TABLE attack_targets ADD COLUMN extra integer');
    ReturningProcessor.gate.release();
    const summary = await processing;
    const failed = await t.batches.getItems(batch.id, { status: 'failed' });
    expect(failed.map((item) => item.errorMessage)).toEqual([]);
    expect(summary).toMatchObject({ completedItems: 40, failedItems: 0 });
    const [row] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM attack_targets',
    );
    expect(row).toEqual({ total: 40, distinct: 40 });
  });

  it('a column added to the items table while a run goes on (a migration of a rolling deploy): the run completes', async () => {
    SchemaProcessor.gate = new Gate();
    const t = await app();
    // Claims of 25 on one lane: the run claims again after the change, on the connections it prepared on.
    const batch = await t.batches.createBatch('attack_schema', rows(80));
    const processing = t.batches.processBatch(batch.id, { concurrency: 1 });
    processing.catch(() => undefined);
    await SchemaProcessor.gate.entered;
    const client = await file.connect();
    await client.query('ALTER TABLE "import_batch_items" ADD COLUMN "attack_extra" integer');
    SchemaProcessor.gate.release();
    await expect(processing).resolves.toMatchObject({ status: 'completed', completedItems: 80 });
  });
});
