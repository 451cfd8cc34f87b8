import 'reflect-metadata';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { reliableImportsMigrations } from '../../migrations';
import {
  adminDatabaseUrl,
  databaseUrl,
  TEMPLATE_DATABASE,
  TEST_DATABASE_PREFIX,
} from './database-url';

/**
 * Builds the template database once per run by running the real migrations. Databases kept by failed
 * tests of the previous run are dropped here, so they stay available until the next run.
 */
export default async function globalSetup(): Promise<void> {
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `The tests need a PostgreSQL server at ${adminDatabaseUrl()} (set DATABASE_URL to use another one): ${(error as Error).message}`,
    );
  }
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2`,
      [`${TEST_DATABASE_PREFIX}%`, TEMPLATE_DATABASE],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE "${TEMPLATE_DATABASE}"`);
  } finally {
    await admin.end();
  }

  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl(TEMPLATE_DATABASE),
    migrations: reliableImportsMigrations,
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
  } finally {
    await dataSource.destroy();
  }
}
