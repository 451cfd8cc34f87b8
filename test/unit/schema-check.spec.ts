import { reliableImportsMigrations } from '../../lib';
import { missingSchema } from '../../lib/reliable-imports-schema.checker';
import { RELIABLE_IMPORTS_SCHEMA } from '../../migrations';

const columns = (tables: Record<string, string[]>) =>
  new Map(Object.entries(tables).map(([table, names]) => [table, new Set(names)]));

describe('what the startup check requires', () => {
  it('has a step for each migration, in order, so that the newest one is checked', () => {
    // A new migration adds what the module needs of it to RELIABLE_IMPORTS_SCHEMA.
    expect(RELIABLE_IMPORTS_SCHEMA.map((step) => step.migration)).toEqual(
      reliableImportsMigrations.map((migration) => migration.name),
    );
  });

  it('names nothing when every table and column is there', () => {
    const all = columns({
      import_batches: ['id', 'source_columns', 'cancelled_items', 'trace_context'],
      import_batch_items: [
        'id',
        'source_line',
        'dry_run_outcome',
        'dry_run_error',
        'dry_run_at',
        'scrubbed_at',
        'source_digest',
      ],
      import_logs: ['id'],
      import_batch_progress: ['batch_id'],
    });
    expect(missingSchema(RELIABLE_IMPORTS_SCHEMA, all)).toEqual({ missing: [], migrations: [] });
  });

  it('names a missing column and the migrations from the first one that lacks something', () => {
    const old = columns({
      import_batches: ['id', 'cancelled_items', 'trace_context'],
      import_batch_items: [
        'id',
        'source_line',
        'dry_run_outcome',
        'dry_run_error',
        'dry_run_at',
        'scrubbed_at',
        'source_digest',
      ],
      import_logs: ['id'],
      import_batch_progress: ['batch_id'],
    });
    expect(missingSchema(RELIABLE_IMPORTS_SCHEMA, old)).toEqual({
      missing: ['column "import_batches"."source_columns"'],
      migrations: [
        'AddSourceLines1764200000000',
        'AddOperatorControl1764400000000',
        'AddScrubbing1764600000000',
        'AddTraceContext1764800000000',
        'NarrowItemIndexes1765000000000',
      ],
    });
  });

  it('names the newest migration alone when only its column is missing', () => {
    const before = columns({
      import_batches: ['id', 'source_columns', 'cancelled_items'],
      import_batch_items: [
        'id',
        'source_line',
        'dry_run_outcome',
        'dry_run_error',
        'dry_run_at',
        'scrubbed_at',
        'source_digest',
      ],
      import_logs: ['id'],
      import_batch_progress: ['batch_id'],
    });
    expect(missingSchema(RELIABLE_IMPORTS_SCHEMA, before)).toEqual({
      missing: ['column "import_batches"."trace_context"'],
      migrations: ['AddTraceContext1764800000000', 'NarrowItemIndexes1765000000000'],
    });
  });

  it('names a missing table once, not each of its columns', () => {
    const partial = columns({
      import_batches: ['id', 'cancelled_items', 'trace_context'],
      import_batch_items: [],
      import_logs: ['id'],
      import_batch_progress: ['batch_id'],
    });
    expect(missingSchema(RELIABLE_IMPORTS_SCHEMA, partial)).toEqual({
      missing: ['table "import_batch_items"', 'column "import_batches"."source_columns"'],
      migrations: [
        'CreateReliableImportsSchema1764000000000',
        'AddSourceLines1764200000000',
        'AddOperatorControl1764400000000',
        'AddScrubbing1764600000000',
        'AddTraceContext1764800000000',
        'NarrowItemIndexes1765000000000',
      ],
    });
  });
});
