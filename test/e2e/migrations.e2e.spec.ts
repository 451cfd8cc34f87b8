import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { reliableImportsEntities, reliableImportsMigrations, type ImportBatch } from '../../lib';
import { CustomerDataProcessor } from '../fixtures/customer-data.processor';
import { correctAndReprocess, importWithFailures } from '../fixtures/customer-scenario';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

const MIGRATION_NAMES: string[] = [
  'CreateReliableImportsSchema1764000000000',
  'AddSourceLines1764200000000',
  'AddOperatorControl1764400000000',
  'AddScrubbing1764600000000',
  'AddTraceContext1764800000000',
  'NarrowItemIndexes1765000000000',
];
const TABLES = ['import_batch_items', 'import_batch_progress', 'import_batches', 'import_logs'];
const VIEWS = ['failed_imports_report', 'import_batch_summary'];
const INDEXES = [
  'UQ_import_batches_idempotency_key',
  'IDX_import_batches_status_created',
  'IDX_import_batches_parent',
  'UQ_import_batch_items_batch_index',
  'IDX_import_batch_items_in_flight_or_unapplied',
  'IDX_import_batch_items_pending',
  'IDX_import_batch_items_original',
  'IDX_import_logs_batch',
  'IDX_import_logs_item',
];

/** Everything the migration could create or change in the public schema, in a comparable form. */
async function schemaSnapshot(dataSource: DataSource): Promise<Record<string, unknown[]>> {
  return {
    relations: await dataSource.query(
      `SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' ORDER BY c.relname`,
    ),
    columns: await dataSource.query(
      `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public'
       ORDER BY table_name, ordinal_position`,
    ),
    indexes: await dataSource.query(
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
       ORDER BY indexname`,
    ),
    constraints: await dataSource.query(
      `SELECT conrelid::regclass::text AS "table", conname, pg_get_constraintdef(oid) AS definition
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname`,
    ),
    views: await dataSource.query(
      `SELECT table_name, view_definition FROM information_schema.views
       WHERE table_schema = 'public' ORDER BY table_name`,
    ),
  };
}

/** The indexes of the items table, by name, as PostgreSQL writes them back. */
async function itemIndexes(dataSource: DataSource): Promise<Record<string, string>> {
  const rows = await dataSource.query<Array<{ indexname: string; indexdef: string }>>(
    `SELECT indexname, indexdef FROM pg_indexes
     WHERE schemaname = 'public' AND tablename = 'import_batch_items' ORDER BY indexname`,
  );
  return Object.fromEntries(rows.map((row) => [row.indexname, row.indexdef]));
}

async function migrationRows(dataSource: DataSource): Promise<Array<{ name: string }>> {
  return dataSource.query(`SELECT "id", "timestamp", "name" FROM "migrations" ORDER BY "id"`);
}

async function publicRelations(dataSource: DataSource): Promise<string[]> {
  const rows = await dataSource.query<Array<{ relname: string }>>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' ORDER BY c.relname`,
  );
  return rows.map((row) => row.relname);
}

describe('the migrations (PostgreSQL, empty database)', () => {
  const database = useTestDatabase({ empty: true });
  let dataSource: DataSource;
  let firstSnapshot: Record<string, unknown[]>;

  beforeAll(async () => {
    dataSource = new DataSource({
      type: 'postgres',
      url: database.db.url,
      entities: reliableImportsEntities,
      migrations: reliableImportsMigrations,
      logging: false,
    });
    await dataSource.initialize();
    database.closeBeforeCheck(() => dataSource.destroy());
  });

  it('creates the tables, their indexes and the two views', async () => {
    expect(await publicRelations(dataSource)).toEqual([]);

    const ran = await dataSource.runMigrations();
    expect(ran.map((migration) => migration.name)).toEqual(MIGRATION_NAMES);

    const tables = await dataSource.query<Array<{ table_name: string; table_type: string }>>(
      `SELECT table_name, table_type FROM information_schema.tables
       WHERE table_schema = 'public' AND table_name <> 'migrations'
       ORDER BY table_type, table_name COLLATE "C"`,
    );
    expect(tables).toEqual([
      ...TABLES.map((name) => ({ table_name: name, table_type: 'BASE TABLE' })),
      ...VIEWS.map((name) => ({ table_name: name, table_type: 'VIEW' })),
    ]);

    const indexes = await dataSource.query<Array<{ indexname: string; tablename: string }>>(
      `SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'`,
    );
    const indexNames = indexes.map((index) => index.indexname);
    expect(indexNames).toEqual(expect.arrayContaining(INDEXES));
    const unique = await dataSource.query<Array<{ indexname: string }>>(
      `SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE 'CREATE UNIQUE INDEX%'
       AND indexname NOT LIKE 'PK_%' AND tablename <> 'migrations' ORDER BY indexname`,
    );
    expect(unique.map((index) => index.indexname)).toEqual([
      'UQ_import_batch_items_batch_index',
      'UQ_import_batches_idempotency_key',
    ]);

    expect(await migrationRows(dataSource)).toEqual(
      MIGRATION_NAMES.map((name): unknown => expect.objectContaining({ name })),
    );
    firstSnapshot = await schemaSnapshot(dataSource);
  });

  it('runs nothing the second time and changes nothing', async () => {
    const rowsBefore = await migrationRows(dataSource);
    expect(await dataSource.showMigrations()).toBe(false);

    expect(await dataSource.runMigrations()).toEqual([]);

    expect(await schemaSnapshot(dataSource)).toEqual(firstSnapshot);
    expect(await migrationRows(dataSource)).toEqual(rowsBefore);
  });

  it('matches the entities: the schema builder has nothing to change', async () => {
    const sql = await dataSource.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((query) => query.query)).toEqual([]);
  });

  it('adds the scrubbing columns nullable and without a default: no row is rewritten, none reads as scrubbed', async () => {
    const columns = await dataSource.query<
      Array<{ column_name: string; data_type: string; is_nullable: string; column_default: null }>
    >(
      `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = 'import_batch_items'
         AND column_name IN ('scrubbed_at', 'source_digest') ORDER BY column_name`,
    );
    expect(columns).toEqual([
      {
        column_name: 'scrubbed_at',
        data_type: 'timestamp with time zone',
        is_nullable: 'YES',
        column_default: null,
      },
      {
        column_name: 'source_digest',
        data_type: 'character varying',
        is_nullable: 'YES',
        column_default: null,
      },
    ]);
  });

  it('undoes the scrubbing migration alone, and applies it again to the same schema', async () => {
    const before = await schemaSnapshot(dataSource);
    await dataSource.undoLastMigration();
    await dataSource.undoLastMigration();
    await dataSource.undoLastMigration();
    const columns = await dataSource.query<Array<{ column_name: string }>>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('scrubbed_at', 'source_digest')`,
    );
    expect(columns).toEqual([]);
    expect((await dataSource.runMigrations()).map((migration) => migration.name)).toEqual([
      'AddScrubbing1764600000000',
      'AddTraceContext1764800000000',
      'NarrowItemIndexes1765000000000',
    ]);
    expect(await schemaSnapshot(dataSource)).toEqual(before);
  });

  it('adds the trace context column nullable and without a default: no row is rewritten', async () => {
    const columns = await dataSource.query<unknown[]>(
      `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name = 'import_batches' AND column_name = 'trace_context'`,
    );
    expect(columns).toEqual([
      {
        column_name: 'trace_context',
        data_type: 'jsonb',
        is_nullable: 'YES',
        column_default: null,
      },
    ]);
  });

  it('undoes the trace context migration alone, keeping what the batches held before it', async () => {
    const before = await schemaSnapshot(dataSource);
    const [batch] = await dataSource.query<Array<{ id: string }>>(
      `INSERT INTO import_batches (batch_type, trace_context)
       VALUES ('t', '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}')
       RETURNING id`,
    );
    await dataSource.undoLastMigration();
    await dataSource.undoLastMigration();
    const columns = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'trace_context'`,
    );
    expect(columns).toEqual([]);
    // The scrubbing migration's columns stay: only the newest was undone.
    const scrubbing = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('scrubbed_at', 'source_digest')`,
    );
    expect(scrubbing).toHaveLength(2);
    expect((await dataSource.runMigrations()).map((migration) => migration.name)).toEqual([
      'AddTraceContext1764800000000',
      'NarrowItemIndexes1765000000000',
    ]);
    expect(await schemaSnapshot(dataSource)).toEqual(before);
    // A batch of before the migration has no trace context: its runs link to nothing.
    const [row] = await dataSource.query<Array<{ trace_context: unknown }>>(
      `SELECT trace_context FROM import_batches WHERE id = $1`,
      [batch.id],
    );
    expect(row.trace_context).toBeNull();
    await dataSource.query(`DELETE FROM import_batches WHERE id = $1`, [batch.id]);
  });

  it('checks the source line and the column order of every row written after the migration', async () => {
    const [batch] = await dataSource.query<Array<{ id: string }>>(
      `INSERT INTO import_batches (batch_type) VALUES ('t') RETURNING id`,
    );
    await expect(
      dataSource.query(
        `INSERT INTO import_batch_items (batch_id, item_index, source_data, source_line) VALUES ($1, 0, '{}', 0)`,
        [batch.id],
      ),
    ).rejects.toMatchObject({ driverError: { code: '23514' } });
    await expect(
      dataSource.query(`UPDATE import_batches SET source_columns = '{"a":1}' WHERE id = $1`, [
        batch.id,
      ]),
    ).rejects.toMatchObject({ driverError: { code: '23514' } });
    await dataSource.query(`DELETE FROM import_batches WHERE id = $1`, [batch.id]);
  });

  it('narrows the claim and original indexes on a table that holds rows, keeps every row, and undoes it alone', async () => {
    const before = await schemaSnapshot(dataSource);
    await dataSource.undoLastMigration();
    expect(await itemIndexes(dataSource)).toEqual({
      IDX_import_batch_items_claim:
        'CREATE INDEX "IDX_import_batch_items_claim" ON public.import_batch_items USING btree (batch_id, status, item_index)',
      IDX_import_batch_items_original:
        'CREATE INDEX "IDX_import_batch_items_original" ON public.import_batch_items USING btree (original_item_id)',
      IDX_import_batch_items_pending: expect.stringContaining("WHERE ((status)::text = 'pending'"),
      PK_import_batch_items: expect.any(String),
      UQ_import_batch_items_batch_index: expect.any(String),
    });
    // Rows in every status, one of them a reprocess's copy, written under the indexes of before.
    const [batch] = await dataSource.query<Array<{ id: string }>>(
      `INSERT INTO import_batches (batch_type) VALUES ('t') RETURNING id`,
    );
    const statuses = ['pending', 'processing', 'completed', 'failed', 'skipped', 'cancelled'];
    const items = await dataSource.query<Array<{ id: string; status: string }>>(
      `INSERT INTO import_batch_items (batch_id, item_index, source_data, status)
       SELECT $1, n, jsonb_build_object('n', n), ($2::text[])[n % 6 + 1]
       FROM generate_series(0, 599) AS n RETURNING id, status`,
      [batch.id, statuses],
    );
    await dataSource.query(
      `UPDATE import_batch_items SET original_item_id = $1 WHERE batch_id = $2 AND item_index = 599`,
      [items[0].id, batch.id],
    );
    const rowsBefore = await dataSource.query<unknown[]>(
      `SELECT * FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
      [batch.id],
    );

    expect((await dataSource.runMigrations()).map((migration) => migration.name)).toEqual([
      'NarrowItemIndexes1765000000000',
    ]);
    expect(await itemIndexes(dataSource)).toEqual({
      IDX_import_batch_items_in_flight_or_unapplied: expect.stringMatching(
        /\(batch_id, status, item_index\) WHERE \(\(status\)::text <> ALL \(.*'pending'.*'completed'/,
      ),
      IDX_import_batch_items_original:
        'CREATE INDEX "IDX_import_batch_items_original" ON public.import_batch_items USING btree (original_item_id) WHERE (original_item_id IS NOT NULL)',
      IDX_import_batch_items_pending: expect.stringContaining("WHERE ((status)::text = 'pending'"),
      PK_import_batch_items: expect.any(String),
      UQ_import_batch_items_batch_index: expect.any(String),
    });
    expect(
      await dataSource.query(
        `SELECT * FROM import_batch_items WHERE batch_id = $1 ORDER BY item_index`,
        [batch.id],
      ),
    ).toEqual(rowsBefore);
    // Every row the new index is for is in it, and no other: checked by the index's own answer.
    await dataSource.query('SET enable_seqscan = off');
    try {
      const [counts] = await dataSource.query<Array<Record<string, number>>>(
        `SELECT count(*) FILTER (WHERE status = 'processing')::integer AS processing,
                count(*) FILTER (WHERE status IN ('failed', 'skipped', 'cancelled'))::integer AS unapplied
         FROM import_batch_items WHERE batch_id = $1 AND status NOT IN ('pending', 'completed')`,
        [batch.id],
      );
      expect(counts).toEqual({ processing: 100, unapplied: 300 });
    } finally {
      await dataSource.query('RESET enable_seqscan');
    }
    await dataSource.query(`DELETE FROM import_batches WHERE id = $1`, [batch.id]);
    expect(await schemaSnapshot(dataSource)).toEqual(before);
  });

  it('undoes the migrations: no table, view, index or sequence is left, nor a migrations row', async () => {
    await dataSource.undoLastMigration();
    expect(await itemIndexes(dataSource)).toHaveProperty('IDX_import_batch_items_claim');
    await dataSource.undoLastMigration();
    const traceContext = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name = 'trace_context'`,
    );
    expect(traceContext).toEqual([]);
    await dataSource.undoLastMigration();
    const scrubbing = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('scrubbed_at', 'source_digest')`,
    );
    expect(scrubbing).toEqual([]);
    await dataSource.undoLastMigration();
    const added = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('cancelled_items', 'dry_run_outcome')`,
    );
    expect(added).toEqual([]);
    await dataSource.undoLastMigration();
    const columns = await dataSource.query<unknown[]>(
      `SELECT 1 FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name IN ('source_line', 'source_columns')`,
    );
    expect(columns).toEqual([]);
    await dataSource.undoLastMigration();

    const left = await dataSource.query<Array<{ table_name: string; table_type: string }>>(
      `SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(left).toEqual([{ table_name: 'migrations', table_type: 'BASE TABLE' }]);

    const relations = await publicRelations(dataSource);
    for (const name of [...TABLES, ...VIEWS, ...INDEXES, 'import_logs_id_seq']) {
      expect(relations).not.toContain(name);
    }
    const indexes = await dataSource.query<Array<{ tablename: string }>>(
      `SELECT tablename FROM pg_indexes WHERE schemaname = 'public'`,
    );
    expect(indexes.every((index) => index.tablename === 'migrations')).toBe(true);

    expect(await migrationRows(dataSource)).toEqual([]);
    expect(await dataSource.showMigrations()).toBe(true);
  });

  it('migrates again after the undo, to the same schema', async () => {
    const ran = await dataSource.runMigrations();
    expect(ran.map((migration) => migration.name)).toEqual(MIGRATION_NAMES);
    expect(await schemaSnapshot(dataSource)).toEqual(firstSnapshot);
    expect(await migrationRows(dataSource)).toEqual(
      MIGRATION_NAMES.map((name): unknown => expect.objectContaining({ name })),
    );
    const sql = await dataSource.driver.createSchemaBuilder().log();
    expect(sql.upQueries).toHaveLength(0);
  });

  describe('the views, after a processed batch', () => {
    let t: TestApp;
    let batchId: string;
    let failedIds: string[];

    beforeAll(async () => {
      t = await createTestApp(database.db.url, [CustomerDataProcessor]);
    });
    afterAll(async () => {
      await t?.close();
    });

    it('import_batch_summary counts what the batch did', async () => {
      batchId = await importWithFailures(t);
      failedIds = (await t.batches.getItems(batchId, { status: 'failed', limit: 100 })).map(
        (item) => item.id,
      );
      expect(failedIds).toHaveLength(28);

      const rows = await dataSource.query<Array<Record<string, unknown>>>(
        `SELECT * FROM import_batch_summary WHERE batch_id = $1`,
        [batchId],
      );
      expect(rows).toHaveLength(1);
      const [row] = rows;
      expect(row).toMatchObject({
        batch_id: batchId,
        batch_type: 'customer_data',
        status: 'completed_with_errors',
        parent_batch_id: null,
        total_items: 500,
        pending_items: 0,
        processing_items: 0,
        completed_items: 472,
        failed_items: 28,
        skipped_items: 0,
        error_message: null,
      });
      expect(row.duration_ms).not.toBeNull();
      expect(row.items_per_second).not.toBeNull();

      // duration_ms is the batch's completed_at - started_at (the row's timestamps have microseconds,
      // the Dates milliseconds, hence the 1 ms of slack).
      const batch: ImportBatch = await t.batches.getBatch(batchId);
      const durationMs = Number(row.duration_ms);
      expect(Number.isInteger(durationMs)).toBe(true);
      expect(
        Math.abs(durationMs - (batch.completedAt!.getTime() - batch.startedAt!.getTime())),
      ).toBeLessThanOrEqual(1);
      expect(Number(row.items_per_second)).toBeGreaterThan(0);
    });

    it('failed_imports_report lists the 28 failed items, unresolved', async () => {
      const rows = await dataSource.query<Array<Record<string, unknown>>>(
        `SELECT * FROM failed_imports_report WHERE batch_id = $1 ORDER BY item_index`,
        [batchId],
      );
      expect(rows).toHaveLength(28);
      expect(rows.map((row) => row.item_id)).toEqual(failedIds);
      for (const row of rows) {
        expect(row).toMatchObject({
          batch_type: 'customer_data',
          batch_status: 'completed_with_errors',
          item_status: 'failed',
          error_code: 'VALIDATION_FAILED',
          attempts: 1,
          corrected_data: null,
          resolved: false,
        });
        expect(row.error_message).toMatch(/missing|malformed/);
      }
    });

    it('failed_imports_report marks the 28 resolved once they are corrected and reprocessed', async () => {
      await correctAndReprocess(t, batchId);

      const rows = await dataSource.query<Array<Record<string, unknown>>>(
        `SELECT * FROM failed_imports_report WHERE batch_id = $1 ORDER BY item_index`,
        [batchId],
      );
      expect(rows.map((row) => row.item_id)).toEqual(failedIds);
      for (const row of rows) {
        expect(row.resolved).toBe(true);
        expect(row.corrected_data).not.toBeNull();
      }
      // The child batch completed: it needs no attention and is not in the report.
      const [child] = await t.batches.listBatches({ parentBatchId: batchId });
      expect(child.status).toBe('completed');
      const childRows = await dataSource.query<unknown[]>(
        `SELECT * FROM failed_imports_report WHERE batch_id = $1`,
        [child.id],
      );
      expect(childRows).toEqual([]);
    });
  });
});
