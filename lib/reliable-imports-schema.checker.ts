import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { RELIABLE_IMPORTS_SCHEMA, type SchemaStep } from '../migrations';
import { SchemaNotReadyError } from './errors/schema-not-ready.error';
import type { ResolvedReliableImportsOptions } from './interfaces/reliable-imports-options.interface';
import { DatabaseAdapter } from './processing/database-adapter';
import { tableColumns } from './processing/statements/schema.statements';
import { RESOLVED_OPTIONS } from './reliable-imports.constants';

/** What is missing, and the migrations to run: from the first step with something missing on. */
export function missingSchema(
  steps: readonly SchemaStep[],
  columns: ReadonlyMap<string, ReadonlySet<string>>,
): { missing: string[]; migrations: string[] } {
  const missing: string[] = [];
  let first = -1;
  steps.forEach((step, index) => {
    const lacking = [
      ...(step.tables ?? [])
        .filter((table) => !columns.get(table)?.size)
        .map((table) => `table "${table}"`),
      ...(step.columns ?? [])
        // A missing table was named already: its columns are not listed one by one.
        .filter(([table, column]) => columns.get(table)?.size && !columns.get(table)?.has(column))
        .map(([table, column]) => `column "${table}"."${column}"`),
    ];
    if (lacking.length > 0 && first < 0) first = index;
    missing.push(...lacking);
  });
  return { missing, migrations: first < 0 ? [] : steps.slice(first).map((s) => s.migration) };
}

/**
 * Fails the application start when the import tables are missing or older than the module. It runs in
 * `onModuleInit`, before any `onApplicationBootstrap` (the worker's start, an app's own startup import),
 * so nothing reaches a table first; TypeORM's `migrationsRun` has run by then, when the data source was
 * made.
 */
@Injectable()
export class ReliableImportsSchemaChecker implements OnModuleInit {
  constructor(
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.options.checkSchema) return;
    const tables = [
      ...new Set(
        RELIABLE_IMPORTS_SCHEMA.flatMap((step) => [
          ...(step.tables ?? []),
          ...(step.columns ?? []).map(([table]) => table),
        ]),
      ),
    ];
    const rows = await this.database.run<{ table: string; column: string | null }>(
      tableColumns({ tables }),
    );
    const columns = new Map<string, Set<string>>(tables.map((table) => [table, new Set()]));
    for (const row of rows) if (row.column !== null) columns.get(row.table)?.add(row.column);
    const { missing, migrations } = missingSchema(RELIABLE_IMPORTS_SCHEMA, columns);
    if (missing.length > 0) throw new SchemaNotReadyError(missing, migrations);
  }
}
