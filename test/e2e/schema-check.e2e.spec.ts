import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { closeTestingModule } from '../support/close-testing-module';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions';
import { PGliteDriver } from 'typeorm-pglite';
import {
  CreateReliableImportsSchema1764000000000,
  ReliableImportsModule,
  reliableImportsMigrations,
  SchemaNotReadyError,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { isPGliteOpen } from '../fixtures/pglite-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** Records whether the application got as far as onApplicationBootstrap (where the worker starts). */
@Injectable()
class BootstrapProbe implements OnApplicationBootstrap {
  static bootstrapped = false;
  onApplicationBootstrap(): void {
    BootstrapProbe.bootstrapped = true;
  }
}

/** Starts and closes an app; returns the error of its start, or null when it started. */
async function startError(
  typeorm: Partial<PostgresDataSourceOptions>,
  options: ReliableImportsModuleOptions = {},
): Promise<unknown> {
  BootstrapProbe.bootstrapped = false;
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', retryAttempts: 0, logging: false, ...typeorm }),
      ReliableImportsModule.forRoot(options),
    ],
    providers: [BootstrapProbe],
  }).compile();
  try {
    await moduleRef.init();
    return null;
  } catch (error) {
    return error;
  } finally {
    await closeTestingModule(moduleRef);
  }
}

const FIRST = 'CreateReliableImportsSchema1764000000000';
const SECOND = 'AddSourceLines1764200000000';
const THIRD = 'AddOperatorControl1764400000000';
const FOURTH = 'AddScrubbing1764600000000';
const FIFTH = 'AddTraceContext1764800000000';
const NEWEST = 'NarrowItemIndexes1765000000000';

describe('the schema check at startup (PostgreSQL)', () => {
  const dbs: TestDatabase[] = [];
  const database = async (empty: boolean) => {
    const db = await createTestDatabase({ empty });
    dbs.push(db);
    return db;
  };
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  it('fails the start on an empty database, naming the tables, the migrations and how to run them', async () => {
    const db = await database(true);
    const error = await startError({ url: db.url });
    expect(error).toBeInstanceOf(SchemaNotReadyError);
    const { message, code, missing, migrations } = error as SchemaNotReadyError;
    expect(code).toBe('SCHEMA_NOT_READY');
    expect(missing).toEqual([
      'table "import_batches"',
      'table "import_batch_items"',
      'table "import_logs"',
      'table "import_batch_progress"',
    ]);
    expect(migrations).toEqual([FIRST, SECOND, THIRD, FOURTH, FIFTH, NEWEST]);
    for (const phrase of [
      'table "import_batches"',
      `${FIRST}, ${SECOND}, ${THIRD}, ${FOURTH}, ${FIFTH}, ${NEWEST}`,
      'migrationsRun: true',
      'npx typeorm migration:run',
      'reliable-imports migrate',
    ]) {
      expect(message).toContain(phrase);
    }
    expect(BootstrapProbe.bootstrapped).toBe(false);
  });

  it('fails on a database with only the first migration, naming the newest and its columns', async () => {
    const db = await database(true);
    const dataSource = new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: [CreateReliableImportsSchema1764000000000],
      logging: false,
    });
    await dataSource.initialize();
    try {
      await dataSource.runMigrations();
    } finally {
      await dataSource.destroy();
    }
    const error = await startError({ url: db.url });
    expect(error).toBeInstanceOf(SchemaNotReadyError);
    expect(error).toMatchObject({
      missing: [
        'column "import_batch_items"."source_line"',
        'column "import_batches"."source_columns"',
        'table "import_batch_progress"',
        'column "import_batches"."cancelled_items"',
        'column "import_batch_items"."dry_run_outcome"',
        'column "import_batch_items"."dry_run_error"',
        'column "import_batch_items"."dry_run_at"',
        'column "import_batch_items"."scrubbed_at"',
        'column "import_batch_items"."source_digest"',
        'column "import_batches"."trace_context"',
      ],
      migrations: [SECOND, THIRD, FOURTH, FIFTH, NEWEST],
    });
    expect((error as Error).message).toContain(
      `Run the migrations ${SECOND}, ${THIRD}, ${FOURTH}, ${FIFTH}, ${NEWEST} `,
    );
    expect((error as Error).message).not.toContain(FIRST);
  });

  it('starts on a database without the newest migration, which changes indexes only', async () => {
    const db = await database(true);
    const dataSource = new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: reliableImportsMigrations.slice(0, -1),
      logging: false,
    });
    await dataSource.initialize();
    try {
      expect((await dataSource.runMigrations()).map((migration) => migration.name)).not.toContain(
        NEWEST,
      );
    } finally {
      await dataSource.destroy();
    }
    expect(await startError({ url: db.url })).toBeNull();
  });

  it('starts on a migrated database', async () => {
    const db = await database(false);
    expect(await startError({ url: db.url })).toBeNull();
    expect(BootstrapProbe.bootstrapped).toBe(true);
  });

  it('starts without the tables when checkSchema is false', async () => {
    const db = await database(true);
    expect(await startError({ url: db.url }, { checkSchema: false })).toBeNull();
  });
});

describe('the schema check at startup (PGlite)', () => {
  it('fails the start on an empty PGlite database, and starts once migrationsRun is set', async () => {
    const driver = () => new PGliteDriver({}).driver;
    const error = await startError({ driver: driver() });
    expect(error).toBeInstanceOf(SchemaNotReadyError);
    expect((error as SchemaNotReadyError).migrations).toEqual([
      FIRST,
      SECOND,
      THIRD,
      FOURTH,
      FIFTH,
      NEWEST,
    ]);
    expect(isPGliteOpen()).toBe(false);

    expect(
      await startError({
        driver: driver(),
        migrations: reliableImportsMigrations,
        migrationsRun: true,
      }),
    ).toBeNull();
    expect(isPGliteOpen()).toBe(false);
  });
});
