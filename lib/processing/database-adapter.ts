import type { DataSource, QueryRunner } from 'typeorm';

/**
 * Everything that differs between PostgreSQL through `pg` and PGlite through `typeorm-pglite` is handled
 * here, and nowhere else.
 *
 * - Result shapes: `pg` reports `rowCount` and a command, PGlite neither; so every statement whose effect
 *   matters uses RETURNING and is judged by its rows.
 * - Connections: PGlite is one session shared by every QueryRunner, so two transactions must never be
 *   open at once there: concurrent processing falls back to one item at a time.
 */
export class DatabaseAdapter {
  /** True on PGlite: one session for everything, so one item at a time. */
  readonly singleConnection: boolean;

  constructor(readonly dataSource: DataSource) {
    this.singleConnection = isPGlite(dataSource);
  }

  /** Runs a statement and returns its rows, whatever the statement and the driver. */
  async rows<TRow>(
    runner: QueryRunner,
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<TRow[]> {
    const result = (await runner.query(sql, params as unknown[], true)) as { records?: unknown };
    return Array.isArray(result.records) ? (result.records as TRow[]) : [];
  }

  /** Runs a statement on a connection of its own (autocommit) and returns its rows. */
  async rowsOnce<TRow>(sql: string, params: readonly unknown[] = []): Promise<TRow[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await this.rows<TRow>(runner, sql, params);
    } finally {
      await runner.release();
    }
  }
}

function isPGlite(dataSource: DataSource): boolean {
  const options = dataSource.options as { type?: string; driver?: { Pool?: { name?: string } } };
  return options.type === 'postgres' && options.driver?.Pool?.name === 'PGlitePool';
}
