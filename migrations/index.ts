import { CreateReliableImportsSchema1764000000000 } from './1764000000000-create-reliable-imports-schema';
import { AddSourceLines1764200000000 } from './1764200000000-add-source-lines';
import { AddOperatorControl1764400000000 } from './1764400000000-add-operator-control';
import { AddScrubbing1764600000000 } from './1764600000000-add-scrubbing';
import { AddTraceContext1764800000000 } from './1764800000000-add-trace-context';
import { NarrowItemIndexes1765000000000 } from './1765000000000-narrow-item-indexes';

export {
  CreateReliableImportsSchema1764000000000,
  AddSourceLines1764200000000,
  AddOperatorControl1764400000000,
  AddScrubbing1764600000000,
  AddTraceContext1764800000000,
  NarrowItemIndexes1765000000000,
};

/**
 * The migrations that create and evolve the import tables and views, in order. Add them to your
 * DataSource: `migrations: [...reliableImportsMigrations]`.
 */
export const reliableImportsMigrations = [
  CreateReliableImportsSchema1764000000000,
  AddSourceLines1764200000000,
  AddOperatorControl1764400000000,
  AddScrubbing1764600000000,
  AddTraceContext1764800000000,
  NarrowItemIndexes1765000000000,
];

/** What one migration adds that the module reads and writes: tables, and columns of existing tables. */
export interface SchemaStep {
  migration: string;
  tables?: readonly string[];
  columns?: ReadonlyArray<readonly [table: string, column: string]>;
}

/**
 * What the module checks at startup, migration by migration, in order (internal: not exported by the
 * package). The structure is checked, not the migrations table, since some apply the SQL with their own
 * tool. A new migration that adds a table or a column the module uses adds its step here.
 */
export const RELIABLE_IMPORTS_SCHEMA: readonly SchemaStep[] = [
  {
    migration: CreateReliableImportsSchema1764000000000.name,
    tables: ['import_batches', 'import_batch_items', 'import_logs'],
  },
  {
    migration: AddSourceLines1764200000000.name,
    columns: [
      ['import_batch_items', 'source_line'],
      ['import_batches', 'source_columns'],
    ],
  },
  {
    migration: AddOperatorControl1764400000000.name,
    tables: ['import_batch_progress'],
    columns: [
      ['import_batches', 'cancelled_items'],
      ['import_batch_items', 'dry_run_outcome'],
      ['import_batch_items', 'dry_run_error'],
      ['import_batch_items', 'dry_run_at'],
    ],
  },
  {
    migration: AddScrubbing1764600000000.name,
    columns: [
      ['import_batch_items', 'scrubbed_at'],
      ['import_batch_items', 'source_digest'],
    ],
  },
  {
    migration: AddTraceContext1764800000000.name,
    columns: [['import_batches', 'trace_context']],
  },
  // Indexes only: the module works without it (slower), so nothing is checked; it is named with the
  // migrations an older schema needs.
  { migration: NarrowItemIndexes1765000000000.name },
];
