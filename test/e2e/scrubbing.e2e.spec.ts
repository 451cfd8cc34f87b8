import { Readable } from 'node:stream';
import type { Client } from 'pg';
import {
  BaseProcessor,
  BATCH_STATUS,
  CorrectionsRefusedError,
  ImportProcessor,
  InvalidArgumentError,
  readCsv,
  RowScrubbedError,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { processorOptionProblems } from '../../lib/utils/resolve-options.util';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { waitFor } from '../support/timing';
import { useTestApp } from '../support/use-test-app';

interface Customer {
  email: string;
  country: string;
  name?: string;
}

/** A value that must be found nowhere once its rows are scrubbed. */
const MARKER = 'zz-personal-7f3a';
const email = (n: number): string => `${MARKER}-${n}@example.com`;
const customers = (...ns: number[]): Customer[] =>
  ns.map((n) => ({ email: email(n), country: n % 2 === 0 ? 'FR' : 'DE', name: `${MARKER} ${n}` }));

/** Rows whose email is listed here fail. */
const failing = new Set<string>();

/**
 * Quotes the row everywhere a processor can: a log message, log details, its error and its result.
 */
@ImportProcessor({ scrub: { afterDays: 30, keepFields: ['country'] } })
class CustomerRowProcessor extends BaseProcessor<Customer> {
  processItem(item: ImportItem<Customer>, ctx: ImportContext<Customer>) {
    const { email: address } = item.sourceData;
    ctx.log.info(`saving ${address}`, { email: address });
    if (failing.has(address)) throw new Error(`refused ${address}`);
    return Promise.resolve({ targetTable: 'customers', targetId: 7, echo: address });
  }
}

/** A type with no `scrub`: left alone by the processors' policies, scrubbed only when asked by age. */
@ImportProcessor()
class AuditRowProcessor extends BaseProcessor<Customer> {
  processItem(item: ImportItem<Customer>, ctx: ImportContext<Customer>) {
    ctx.log.info('kept', { email: item.sourceData.email });
    return Promise.resolve();
  }
}

const DAY_MS = 86_400_000;
const daysAgo = (days: number): Date => new Date(Date.now() - days * DAY_MS);
const TABLES = ['import_batches', 'import_batch_items', 'import_logs', 'import_batch_progress'];

describe('scrubbing personal data: scrub, scrubSourceData (real PostgreSQL)', () => {
  const t = useTestApp([CustomerRowProcessor, AuditRowProcessor], {
    module: { retention: { sliceSize: 2 } },
  });
  const others: TestApp[] = [];
  let sql: Client;

  beforeAll(async () => {
    sql = await t.connect();
  });
  beforeEach(async () => {
    failing.clear();
    await sql.query('DELETE FROM import_batches');
  });
  afterEach(async () => {
    for (const app of others.splice(0)) await app.close();
  });

  /** Makes a batch look as if it had run `days` ago. */
  const age = async (batchId: string, days: number): Promise<void> => {
    await sql.query(
      `UPDATE import_batches SET created_at = now() - make_interval(days => $2),
         started_at = CASE WHEN started_at IS NULL THEN NULL ELSE now() - make_interval(days => $2) END,
         completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - make_interval(days => $2) END
       WHERE id = $1`,
      [batchId, days],
    );
  };
  /** Rows of the module's tables, of any column, whose text holds `text`. */
  const occurrences = async (text: string): Promise<Record<string, number>> => {
    const found: Record<string, number> = {};
    for (const table of TABLES) {
      const { rows } = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table} t WHERE t::text LIKE '%' || $1 || '%'`,
        [text],
      );
      found[table] = rows[0].n;
    }
    return found;
  };
  const nowhere = {
    import_batches: 0,
    import_batch_items: 0,
    import_logs: 0,
    import_batch_progress: 0,
  };
  const itemsText = async (): Promise<string> =>
    (
      await sql.query<{ t: string }>(
        `SELECT COALESCE(string_agg(i::text, E'\\n' ORDER BY id), '') AS t FROM import_batch_items i`,
      )
    ).rows[0].t +
    (
      await sql.query<{ t: string }>(
        `SELECT COALESCE(string_agg(l::text, E'\\n' ORDER BY id), '') AS t FROM import_logs l`,
      )
    ).rows[0].t;
  const digestOf = async (data: object): Promise<string> =>
    (
      await sql.query<{ d: string }>(
        `SELECT encode(sha256(convert_to($1::jsonb::text, 'UTF8')), 'hex') AS d`,
        [JSON.stringify(data)],
      )
    ).rows[0].d;

  /** A tree: a first batch with a failed row, corrected and resolved by a reprocess; all aged. */
  const resolvedTree = async (days: number) => {
    failing.add(email(2));
    const root = await t.batches.import('customer_row', customers(1, 2, 3));
    const [failed] = await t.batches.getItems(root.batchId, { status: 'failed' });
    failing.clear();
    await t.batches.correctItem(failed.id, { ...failed.sourceData, name: `${MARKER} fixed` });
    const child = await t.batches.reprocessBatch(root.batchId);
    expect(child.completedItems).toBe(1);
    await age(root.batchId, days);
    await age(child.batchId, days);
    return { root, child, failed };
  };

  it('removes the data from every column and the audit log, keeps the allowed fields, and says so', async () => {
    const { root, child, failed } = await resolvedTree(40);
    expect((await occurrences(MARKER)).import_logs).toBeGreaterThan(0);

    const report = await t.batches.scrubSourceData();
    // Rows 1 and 3 completed, row 2 failed and was resolved by its copy, which completed: 4 rows.
    expect(report).toMatchObject({ dryRun: false, trees: 1, rows: 4, kept: { live: 0, busy: 0 } });
    expect(report.logs).toBeGreaterThanOrEqual(5);
    expect(await occurrences(MARKER)).toEqual(nowhere);

    const items = [
      ...(await t.batches.getItems(root.batchId)),
      ...(await t.batches.getItems(child.batchId)),
    ];
    for (const item of items) {
      expect(item.scrubbedAt).toBeInstanceOf(Date);
      expect(Object.keys(item.sourceData)).toEqual(['country']);
      expect(item.processedData).toBeNull();
      expect(item.sourceDigest).toMatch(/^[0-9a-f]{64}$/);
    }
    const first = items.find((item) => item.batchId === root.batchId && item.itemIndex === 0);
    expect(first?.sourceData).toEqual({ country: 'DE' });
    // The target of a completed row stays: it is a key into the application's own table.
    expect(first).toMatchObject({ targetTable: 'customers', targetId: '7' });
    const scrubbedFailure = items.find((item) => item.id === failed.id);
    expect(scrubbedFailure?.correctedData).toEqual({ country: 'FR' });
    expect(scrubbedFailure?.errorDetails).toEqual({ name: 'Error' });
    expect(scrubbedFailure?.errorMessage).not.toContain(MARKER);
    // The correction's audit entry keeps what happened, without the data.
    const logs = await t.batches.getLogs(root.batchId);
    const audit = logs.find((entry) => entry.details?.mode === 'replace');
    expect(audit).toMatchObject({
      message: 'Item 1 corrected',
      details: { itemIndex: 1, mode: 'replace', scrubbed: true },
    });
  });

  it('writes a digest a row in hand can be matched with, the same for the same row', async () => {
    const [one] = customers(1);
    const a = await t.batches.import('customer_row', [one]);
    const b = await t.batches.import('customer_row', [{ ...one }]);
    await age(a.batchId, 40);
    await age(b.batchId, 40);
    await t.batches.scrubSourceData();
    const [x] = await t.batches.getItems(a.batchId);
    const [y] = await t.batches.getItems(b.batchId);
    expect(x.sourceDigest).toBe(await digestOf(one));
    expect(y.sourceDigest).toBe(x.sourceDigest);
    expect(x.sourceDigest).not.toBe(await digestOf({ ...one, country: 'IT' }));
  });

  it('leaves failed rows nobody resolved as they are, unless told to', async () => {
    failing.add(email(2));
    const root = await t.batches.import('customer_row', customers(1, 2));
    await age(root.batchId, 40);
    const report = await t.batches.scrubSourceData();
    expect(report).toMatchObject({ trees: 1, rows: 1 });
    const [failed] = await t.batches.getItems(root.batchId, { status: 'failed' });
    expect(failed).toMatchObject({ scrubbedAt: null, sourceData: customers(2)[0] });
    expect(failed.errorMessage).toContain(MARKER);
    // Its operator can still fix it.
    failing.clear();
    const child = await t.batches.reprocessBatch(root.batchId);
    expect(child.completedItems).toBe(1);
  });

  describe('a scrubbed row is refused to a correction and a reprocess', () => {
    const scrubbedFailure = async () => {
      failing.add(email(2));
      const root = await t.batches.import('customer_row', customers(1, 2));
      failing.clear();
      await age(root.batchId, 40);
      const report = await t.batches.scrubSourceData({
        olderThan: daysAgo(30),
        includeUnresolved: true,
      });
      expect(report.rows).toBe(2);
      const [failed] = await t.batches.getItems(root.batchId, { status: 'failed' });
      return { root, failed };
    };

    it('reprocessBatch: RowScrubbedError naming the batch, the row and what to do; nothing created', async () => {
      const { root } = await scrubbedFailure();
      const error = await t.batches.reprocessBatch(root.batchId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RowScrubbedError);
      expect(error).toMatchObject({
        code: 'ROW_SCRUBBED',
        context: { batchId: root.batchId, itemIndex: 1 },
      });
      const message = (error as Error).message;
      expect(message).toContain(`row 1 of batch ${root.batchId}`);
      expect(message).toContain('scrubbed');
      expect(message).toContain('Import the row again from its source file');
      const { rows } = await sql.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM import_batches WHERE parent_batch_id = $1',
        [root.batchId],
      );
      expect(rows[0].n).toBe(0);
    });

    it('correctItem and correctItems: refused, the row unchanged', async () => {
      const { root, failed } = await scrubbedFailure();
      const error = await t.batches
        .correctItem(failed.id, { email: 'new@example.com', country: 'FR' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RowScrubbedError);
      expect((error as Error).message).toContain(`Cannot correct row 1 of batch ${root.batchId}`);
      const refused = await t.batches
        .correctItems(root.batchId, [{ itemId: failed.id, data: { email: 'new@example.com' } }])
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(CorrectionsRefusedError);
      expect((refused as Error).message).toContain('scrubbed');
      const [after] = await t.batches.getItems(root.batchId, { status: 'failed' });
      expect(after.correctedData).toBeNull();
      expect(after.sourceData).toEqual({ country: 'FR' });
    });

    it('correctItem of a scrubbed completed row says it was scrubbed', async () => {
      const { root } = await scrubbedFailure();
      const [done] = await t.batches.getItems(root.batchId, { status: 'completed' });
      await expect(t.batches.correctItem(done.id, { email: 'x', country: 'DE' })).rejects.toThrow(
        RowScrubbedError,
      );
    });

    it('a line that could not be read loses its raw text too', async () => {
      const csv = `email,country\n${email(1)},DE\n${email(2)},FR,extra\n`;
      const root = await t.batches.import('customer_row', readCsv(Readable.from([csv])));
      expect(root.failedItems).toBe(1);
      await age(root.batchId, 40);
      await t.batches.scrubSourceData({ olderThan: daysAgo(30), includeUnresolved: true });
      expect(await occurrences(MARKER)).toEqual(nowhere);
      const error = await t.batches.reprocessBatch(root.batchId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RowScrubbedError);
      expect((error as Error).message).toContain('(line 3)');
    });
  });

  it('never touches a batch that may still run, nor a tree whose reprocess waits, however old', async () => {
    const pending = await t.batches.createBatch('customer_row', customers(1));
    await age(pending.id, 40);
    failing.add(email(3));
    const root = await t.batches.import('customer_row', customers(2, 3));
    failing.clear();
    const child = await t.batches.createReprocessBatch(root.batchId);
    await age(root.batchId, 40);
    await age(child.id, 40);
    const before = await itemsText();

    const report = await t.batches.scrubSourceData({ olderThan: daysAgo(30) });
    // The pending batch is no candidate at all; the ended first batch with a reprocess waiting is kept.
    expect(report).toMatchObject({ rows: 0, trees: 0, kept: { live: 1 } });
    expect(await itemsText()).toBe(before);
  });

  it('a dry run changes nothing and reports what a run scrubs; a second run scrubs nothing', async () => {
    for (let n = 0; n < 5; n++) {
      const summary = await t.batches.import('customer_row', customers(n));
      await age(summary.batchId, 40);
    }
    const before = await itemsText();
    const dry = await t.batches.scrubSourceData({ dryRun: true });
    expect(await itemsText()).toBe(before);
    expect(dry).toMatchObject({ dryRun: true, trees: 5, rows: 5 });

    const real = await t.batches.scrubSourceData();
    expect(real).toMatchObject({ ...dry, dryRun: false });
    // Slices of at most 2 trees (the module's retention.sliceSize).
    expect(real.slices).toBeGreaterThanOrEqual(3);
    const scrubbed = await itemsText();
    expect(scrubbed).not.toContain(MARKER);

    const again = await t.batches.scrubSourceData();
    expect(again).toMatchObject({ trees: 0, rows: 0, logs: 0 });
    expect(await itemsText()).toBe(scrubbed);
  });

  it('by age, every type; by policy, only the types whose processor declares one', async () => {
    const audit = await t.batches.import('audit_row', customers(1));
    await age(audit.batchId, 40);
    expect(await t.batches.scrubSourceData()).toMatchObject({ rows: 0 });
    expect(
      await t.batches.scrubSourceData({ olderThan: daysAgo(50), batchTypes: ['audit_row'] }),
    ).toMatchObject({ rows: 0 });
    expect(
      await t.batches.scrubSourceData({ olderThan: daysAgo(30), batchTypes: ['audit_row'] }),
    ).toMatchObject({ rows: 1 });
    const [item] = await t.batches.getItems(audit.batchId);
    expect(item.sourceData).toEqual({});
  });

  it('keeps a young tree: the days count from the last batch of the tree', async () => {
    const { root } = await resolvedTree(40);
    const young = await t.batches.import('customer_row', customers(9));
    await age(young.batchId, 10);
    // A reprocess ended yesterday: the whole tree is young again.
    await sql.query(
      `UPDATE import_batches SET completed_at = now() - interval '1 day' WHERE parent_batch_id = $1`,
      [root.batchId],
    );
    expect(await t.batches.scrubSourceData()).toMatchObject({ rows: 0 });
  });

  it('checks its arguments', async () => {
    await expect(t.batches.scrubSourceData({ olderThan: new Date('nope') })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(t.batches.scrubSourceData({ sliceSize: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(t.batches.scrubSourceData({ batchTypes: [] })).rejects.toThrow(
      InvalidArgumentError,
    );
  });

  it("checks a processor's scrub option at startup", () => {
    expect(processorOptionProblems({ scrub: { afterDays: 30 } })).toEqual([]);
    expect(processorOptionProblems({ scrub: { keepFields: ['country'] } }).join('\n')).toContain(
      'scrub.afterDays is required',
    );
    expect(
      processorOptionProblems({ scrub: { afterDays: -1, keepFields: 'country', typo: 1 } }),
    ).toHaveLength(3);
  });

  describe('a scrub racing a correction of the same tree (two connections)', () => {
    const holdTable = async (table: string): Promise<() => Promise<void>> => {
      const holder = await t.connect();
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      return async () => {
        await holder.query('COMMIT');
      };
    };
    const waiters = async (): Promise<number> =>
      (
        await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n;
    const failedTree = async () => {
      failing.add(email(2));
      const root = await t.batches.import('customer_row', customers(1, 2));
      failing.clear();
      await age(root.batchId, 40);
      const [failed] = await t.batches.getItems(root.batchId, { status: 'failed' });
      return { root, failed };
    };

    it('scrub first: the correction waits for it, then is refused; no data comes back', async () => {
      const { failed } = await failedTree();
      // The scrub's statement waits at the audit log, holding the tree's first batch.
      const release = await holdTable('import_logs');
      const scrub = t.batches.scrubSourceData({ olderThan: daysAgo(30), includeUnresolved: true });
      await waitFor(async () => (await waiters()) === 1, { what: 'the scrub waiting' });
      const correction = t.batches.correctItem(failed.id, { email: email(99), country: 'FR' });
      correction.catch(() => undefined);
      await waitFor(async () => (await waiters()) === 2, { what: 'the correction waiting' });
      await release();

      expect(await scrub).toMatchObject({ trees: 1, rows: 2 });
      await expect(correction).rejects.toThrow(RowScrubbedError);
      expect(await occurrences(MARKER)).toEqual(nowhere);
    });

    it('correction first: the scrub leaves the tree to it, and the next scrub takes the correction too', async () => {
      const { failed } = await failedTree();
      // The correction stops at its audit entry, holding the tree's first batch.
      const release = await holdTable('import_logs');
      const correction = t.batches.correctItem(failed.id, { email: email(99), country: 'FR' });
      await waitFor(async () => (await waiters()) === 1, { what: 'the correction waiting' });
      const report = await t.batches.scrubSourceData({
        olderThan: daysAgo(30),
        includeUnresolved: true,
      });
      expect(report).toMatchObject({ rows: 0, kept: { busy: 1 } });
      await release();
      expect((await correction).correctedData).toMatchObject({ email: email(99) });

      expect(
        await t.batches.scrubSourceData({ olderThan: daysAgo(30), includeUnresolved: true }),
      ).toMatchObject({ trees: 1, rows: 2 });
      expect(await occurrences(MARKER)).toEqual(nowhere);
    });
  });

  it('applyRetention scrubs by the processors’ scrub, and the worker does it on its schedule', async () => {
    const old = await t.batches.import('customer_row', customers(1));
    await age(old.batchId, 40);
    const dry = await t.batches.applyRetention({ dryRun: true });
    expect(dry).toMatchObject({ ran: true, scrubbed: { dryRun: true, rows: 1 } });
    expect(dry.policies).toBeGreaterThanOrEqual(1);

    const later = await t.batches.import('customer_row', customers(2));
    await age(later.batchId, 40);
    const worker = await createTestApp(t.db.url, [CustomerRowProcessor, AuditRowProcessor], {
      module: { worker: { enabled: true, pollIntervalMs: 50 }, retention: { intervalMs: 1000 } },
    });
    others.push(worker);
    await waitFor(async () => (await occurrences(MARKER)).import_batch_items === 0, {
      what: 'the scheduled scrub',
    });
    expect((await t.batches.getBatch(later.batchId)).status).toBe(BATCH_STATUS.completed);
  });
});
