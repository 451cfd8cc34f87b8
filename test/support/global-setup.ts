import 'reflect-metadata';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { reliableImportsMigrations } from '../../migrations';
import { adminDatabaseUrl, databaseUrl, TEST_DATABASE_PREFIX } from './database-url';

/** Databases kept by failed tests are dropped by a later run once they are this old. */
const KEEP_FAILED_FOR_SECONDS = 3600;

/**
 * Builds this run's template database by running the real migrations, and drops the databases that old
 * runs kept (those of failed tests) once they are an hour old.
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
  const now = Math.floor(Date.now() / 1000);
  const template = `${TEST_DATABASE_PREFIX}${now}_template_${process.pid}`;
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1`,
      [`${TEST_DATABASE_PREFIX}%`],
    );
    for (const { datname } of rows) {
      const createdAt = Number(datname.slice(TEST_DATABASE_PREFIX.length).split('_')[0]);
      if (Number.isFinite(createdAt) && now - createdAt > KEEP_FAILED_FOR_SECONDS) {
        await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }
    }
    await admin.query(`CREATE DATABASE "${template}"`);
  } finally {
    await admin.end();
  }
  process.env.RELIABLE_IMPORTS_TEMPLATE_DB = template;

  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl(template),
    migrations: reliableImportsMigrations,
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations();
  } finally {
    await dataSource.destroy();
  }
}
