import type { Provider } from '@nestjs/common';
import { Client } from 'pg';
import { createTestApp, type TestApp, type TestAppOptions } from '../fixtures/test-app';
import { countResources, expectNoLeaks, type ResourceCounts } from './leak-guard';
import { createTestDatabase, type TestDatabase } from './test-database';

/** The database of a test file (see `useTestDatabase`), usable from its `beforeAll` on. */
export interface TestDatabaseHandle {
  readonly db: TestDatabase;
  /** A `pg` client on the file's database, connected; the helper ends it before its leak check. */
  connect(): Promise<Client>;
  /**
   * Has the helper run `close` before its leak check, for what the file starts by itself (an app of its
   * own, a DataSource, a client elsewhere): the file's own `afterAll` runs after the check.
   */
  closeBeforeCheck(close: () => Promise<void>): void;
}

/** The database and the app of a test file (see `useTestApp`), usable from its `beforeAll` on. */
export interface TestAppHandle extends TestDatabaseHandle, TestApp {}

/** What a file starts on its database, and how the helper stops it. */
interface FileResources {
  start(db: TestDatabase): Promise<void>;
  stop(): Promise<void>;
  dataSources(): TestApp['dataSource'][];
}

function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`The test file's ${what} is not ready: use it in beforeAll or a test.`);
  }
  return value;
}

/**
 * Registers the hooks of one file's database: `beforeAll` copies it from the template, `afterAll` stops
 * what the file started, checks that nothing is left open (`expectNoLeaks`) and drops the database
 * (kept when a test failed, or when something was left open).
 */
function useFileDatabase(
  options: { empty?: boolean },
  resources: FileResources,
): TestDatabaseHandle {
  let db: TestDatabase | undefined;
  let baseline: ResourceCounts | undefined;
  const clients: Client[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    baseline = countResources();
    db = await createTestDatabase(options);
    await resources.start(db);
  });
  // Registered first in its describe block, so it runs before the file's own afterAll hooks, which
  // must therefore not close anything the guard checks: hand such things to `connect()` instead.
  afterAll(async () => {
    for (const client of clients.splice(0)) await client.end();
    // The last started is closed first, as it may use what was started before it.
    for (const close of closers.splice(0).reverse()) await close();
    await resources.stop();
    if (!db || !baseline) return;
    try {
      await expectNoLeaks({
        database: db.name,
        dataSources: resources.dataSources(),
        baseline,
      });
    } catch (leaked) {
      process.stderr.write(`Kept the database ${db.name} of a test file that left it in use.\n`);
      throw leaked;
    }
    await db.drop();
  });

  return {
    get db() {
      return ready(db, 'database');
    },
    async connect() {
      const client = new Client({ connectionString: ready(db, 'database').url });
      clients.push(client);
      await client.connect();
      return client;
    },
    closeBeforeCheck(close) {
      closers.push(close);
    },
  };
}

/**
 * A database of its own for the test file or `describe` block it is called in (copied from the migrated
 * template, or empty), guarded for leaks: the apps the tests start on it must be closed by then.
 */
export function useTestDatabase(options: { empty?: boolean } = {}): TestDatabaseHandle {
  return useFileDatabase(options, {
    start: async () => {},
    stop: async () => {},
    dataSources: () => [],
  });
}

/**
 * A database and a Nest app on it with `providers` (see `createTestApp`), for the test file or
 * `describe` block it is called in: built in `beforeAll`, closed and guarded for leaks in `afterAll`.
 * Call it first in the block; a `beforeAll` of the file declared after it sees the app.
 */
export function useTestApp(
  providers: Provider[],
  options: TestAppOptions & { empty?: boolean } = {},
): TestAppHandle {
  const { empty, ...appOptions } = options;
  let app: TestApp | undefined;
  const database = useFileDatabase(
    { empty },
    {
      start: async (db) => {
        app = await createTestApp(db.url, providers, appOptions);
      },
      stop: async () => {
        await app?.close();
      },
      dataSources: () => (app ? [app.dataSource] : []),
    },
  );
  const started = () => ready(app, 'app');
  return {
    get db() {
      return database.db;
    },
    connect: () => database.connect(),
    closeBeforeCheck: (close) => database.closeBeforeCheck(close),
    get app() {
      return started().app;
    },
    get batches() {
      return started().batches;
    },
    get dataSource() {
      return started().dataSource;
    },
    close: () => started().close(),
  };
}
