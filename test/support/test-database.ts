import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  adminDatabaseUrl,
  databaseUrl,
  templateDatabase,
  TEST_DATABASE_PREFIX,
} from './database-url';

/** A database of one test file, copied from the migrated template (or empty). */
export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, unless a test of the file failed: then it is kept for a look. */
  drop(): Promise<void>;
}

async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

/** Creates a database for one test file: migrated (from the template) unless `empty` is set. */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(6).toString('hex')}`;
  const template = options.empty ? 'template0' : templateDatabase();
  await withAdmin(async (admin) => {
    // Two files copying the template at once can collide on its lock; a retry settles it.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        if (attempt >= 10 || !/being accessed by other users/.test((error as Error).message))
          throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  });
  return {
    name,
    url: databaseUrl(name),
    drop: async () => {
      if ((globalThis as { __TEST_FAILED__?: boolean }).__TEST_FAILED__) {
        process.stderr.write(`Kept the database ${name} of a failed test for inspection.\n`);
        return;
      }
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
