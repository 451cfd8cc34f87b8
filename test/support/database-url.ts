/** The PostgreSQL server the tests run on: DATABASE_URL, or the local server with the current user. */
export function adminDatabaseUrl(): string {
  return process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
}

/** The same server, another database. */
export function databaseUrl(database: string): string {
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** Migrated once per test run by the global setup; every test file copies it. */
export const TEMPLATE_DATABASE = 'reliable_imports_test_template';

/** Prefix of the databases the test files create. */
export const TEST_DATABASE_PREFIX = 'ri_test_';
