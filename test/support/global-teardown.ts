import { Client } from 'pg';
import { adminDatabaseUrl } from './database-url';

/** Drops this run's template database. */
export default async function globalTeardown(): Promise<void> {
  const template = process.env.RELIABLE_IMPORTS_TEMPLATE_DB;
  if (!template) return;
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
