import { Client } from 'pg';
import {
  BaseProcessor,
  ImportProcessor,
  ProcessingInterruptedError,
  type BatchSummary,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { adminDatabaseUrl } from '../support/database-url';
import { useTestDatabase } from '../support/use-test-app';
import { sleep } from '../support/timing';

interface Row {
  n: number;
}

/** Writes its row in the item's transaction, then waits in JavaScript: the moment a backend is lost. */
@ImportProcessor()
class OutageProcessor extends BaseProcessor<Row> {
  waiting = 0;

  async processItem(item: ImportItem<Row>, ctx: ImportContext<Row>): Promise<void> {
    await ctx.query('INSERT INTO applied (n) VALUES ($1)', [item.sourceData.n]);
    this.waiting++;
    try {
      await sleep(100);
    } finally {
      this.waiting--;
    }
  }
}

/** Fails as an HTTP client does when its server resets the connection: the processor's error, no outage. */
@ImportProcessor()
class RemoteResetProcessor extends BaseProcessor<Row> {
  processItem(): void {
    throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  }
}

/** Fails as a query on another database of the processor's own does when that server restarts. */
@ImportProcessor()
class OtherDatabaseProcessor extends BaseProcessor<Row> {
  processItem(): void {
    throw Object.assign(new Error('terminating connection due to administrator command'), {
      name: 'QueryFailedError',
      code: '57P01',
      driverError: { code: '57P01' },
    });
  }
}

/** Terminates every backend of the test database but the admin's own, as an outage or a failover does. */
async function terminateBackends(database: string): Promise<number> {
  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    return rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describe('a connection lost while processItem awaits', () => {
  const database = useTestDatabase();

  /**
   * Processes a batch while its backends are terminated `times` times, each while an item awaits; then
   * runs `processBatch` again until the batch ends, as an operator or a worker would.
   */
  async function processThroughOutages(
    t: TestApp,
    count: number,
    times: number,
  ): Promise<{ summary: BatchSummary; interruptions: number }> {
    const processor = t.app.get(OutageProcessor);
    const batch = await t.batches.createBatch(
      'outage',
      Array.from({ length: count }, (_, n) => ({ n })),
    );
    let interruptions = 0;
    const settle = (run: Promise<BatchSummary>) =>
      run.catch((error: unknown) => {
        expect(error).toBeInstanceOf(ProcessingInterruptedError);
        interruptions++;
        return null;
      });
    let outages = 0;
    let summary: BatchSummary | null = null;
    for (let run = 0; summary?.status !== 'completed' && run < 12; run++) {
      let settled = false;
      const running = settle(t.batches.processBatch(batch.id, { concurrency: 2 })).finally(() => {
        settled = true;
      });
      while (outages < times && !settled) {
        while (processor.waiting === 0 && !settled) await sleep(5);
        if (settled) break;
        expect(await terminateBackends(database.db.name)).toBeGreaterThan(0);
        outages++;
        await sleep(150);
      }
      summary = await running;
      // The pool drops the clients whose backends were terminated once it hears of it.
      await sleep(50);
    }
    expect(outages).toBe(times);
    return { summary: summary!, interruptions };
  }

  const applied = async (t: TestApp) => {
    const [row] = await t.dataSource.query<Array<{ total: number; distinct: number }>>(
      'SELECT count(*)::int AS total, count(DISTINCT n)::int AS distinct FROM applied',
    );
    return row;
  };

  it('retries the item: no item fails, each is applied once', async () => {
    const t = await createTestApp(database.db.url, [OutageProcessor], {
      module: { maxAttempts: 3, retryDelayMs: 10 },
    });
    try {
      await t.dataSource.query('CREATE TABLE IF NOT EXISTS applied (n integer NOT NULL)');
      await t.dataSource.query('TRUNCATE applied');
      const { summary } = await processThroughOutages(t, 30, 3);
      expect(summary).toMatchObject({ status: 'completed', completedItems: 30, failedItems: 0 });
      expect(await applied(t)).toEqual({ total: 30, distinct: 30 });
    } finally {
      await t.close();
    }
  });

  it('gives the item back, pending, when its attempts run out on the outage; the next run completes it', async () => {
    const t = await createTestApp(database.db.url, [OutageProcessor], {
      module: { maxAttempts: 1 },
    });
    try {
      await t.dataSource.query('CREATE TABLE IF NOT EXISTS applied (n integer NOT NULL)');
      await t.dataSource.query('TRUNCATE applied');
      const { summary, interruptions } = await processThroughOutages(t, 20, 2);
      // With one attempt, every outage that hit an item interrupted the run instead of failing it.
      expect(interruptions).toBeGreaterThan(0);
      expect(summary).toMatchObject({ status: 'completed', completedItems: 20, failedItems: 0 });
      expect(await applied(t)).toEqual({ total: 20, distinct: 20 });
      const logs = await t.batches.getLogs(summary.batchId, { level: 'error' });
      expect(logs).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it("fails the item when the processor's own connection (not the database's) is reset", async () => {
    const t = await createTestApp(database.db.url, [RemoteResetProcessor], {
      module: { maxAttempts: 2, retryDelayMs: 1 },
    });
    try {
      const summary = await t.batches.import('remote_reset', [{ n: 1 }, { n: 2 }]);
      expect(summary).toMatchObject({ status: 'completed_with_errors', failedItems: 2 });
      const [item] = await t.batches.getItems(summary.batchId);
      expect(item).toMatchObject({ attempts: 2, errorMessage: 'read ECONNRESET' });
    } finally {
      await t.close();
    }
  });

  it("fails the item when another database of the processor's own loses its connection", async () => {
    const t = await createTestApp(database.db.url, [OtherDatabaseProcessor], {
      module: { maxAttempts: 2, retryDelayMs: 1 },
    });
    try {
      const summary = await t.batches.import('other_database', [{ n: 1 }, { n: 2 }]);
      expect(summary).toMatchObject({ status: 'completed_with_errors', failedItems: 2 });
    } finally {
      await t.close();
    }
  });
});
