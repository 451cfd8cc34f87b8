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

/**
 * The template of this test run, migrated once by the global setup; every test file copies it. Its name
 * is unique per run (handed to the workers through the environment) so that runs can overlap.
 */
export function templateDatabase(): string {
  const name = process.env.RELIABLE_IMPORTS_TEMPLATE_DB;
  if (!name)
    throw new Error('RELIABLE_IMPORTS_TEMPLATE_DB is not set: run the tests with Jest (npm test).');
  return name;
}

/** Prefix of the databases the test files create. */
export const TEST_DATABASE_PREFIX = 'ri_test_';
