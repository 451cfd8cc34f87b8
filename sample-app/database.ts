import type { TypeOrmModuleOptions } from '@nestjs/typeorm';
import { reliableImportsMigrations } from 'nestjs-reliable-imports';
import { PGliteDriver } from 'typeorm-pglite';
import { Customer } from './customers/customer.entity';
import { CreateCustomers1764000000001 } from './migrations/create-customers';

/** Settings of the app's database connection. */
export interface DatabaseSettings {
  /** Connections in the PostgreSQL pool (not used on PGlite). @default 10, the driver's own */
  poolSize?: number;
}

/**
 * PostgreSQL from DATABASE_URL, or an embedded PGlite database (in memory, nothing to install) when it is
 * not set. The library's migrations run with the app's own.
 */
export function databaseOptions(
  databaseUrl = process.env.DATABASE_URL,
  settings: DatabaseSettings = {},
): TypeOrmModuleOptions {
  const common = {
    type: 'postgres' as const,
    entities: [Customer],
    migrations: [...reliableImportsMigrations, CreateCustomers1764000000001],
    migrationsRun: true,
    retryAttempts: 0,
  };
  return databaseUrl
    ? { ...common, url: databaseUrl, poolSize: settings.poolSize }
    : { ...common, driver: new PGliteDriver({}).driver };
}

/** Where the demo's data lives, for the messages it prints. */
export function databaseLabel(databaseUrl = process.env.DATABASE_URL): string {
  if (!databaseUrl) return 'embedded PGlite (in memory; set DATABASE_URL to use your PostgreSQL)';
  const url = new URL(databaseUrl);
  return `PostgreSQL at ${url.host}${url.pathname}`;
}
