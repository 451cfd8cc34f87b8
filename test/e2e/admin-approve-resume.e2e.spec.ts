import { type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Client } from 'pg';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BATCH_STATUS,
  BatchService,
  ImportProcessor,
  ReliableImportsAdminModule,
  ReliableImportsModule,
  type ImportBatch,
  type ImportContext,
  type ImportItem,
} from '../../lib';
import { useTestDatabase } from '../support/use-test-app';
import { sleep, waitFor } from '../support/timing';

const HEADER = { 'x-reliable-imports-request': '1' };

/** Rows of each batch, and how long each takes: long enough that the worker and a request's run meet. */
const ROWS = 120;
const ROW_MS = 5;

/** Writes each row once under a unique key: a row applied twice fails its insert, and shows as failed. */
@ImportProcessor('applied_once')
class AppliedOnceProcessor extends BaseProcessor<{ n: number }> {
  async processItem(item: ImportItem<{ n: number }>, ctx: ImportContext<{ n: number }>) {
    await ctx.query('INSERT INTO applied_once (batch_id, n) VALUES ($1, $2)', [
      item.batchId,
      item.sourceData.n,
    ]);
    await sleep(ROW_MS);
  }
}

/** Every line the app logs, with its level. */
class LevelLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string }> = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message: String(message) });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message: String(message) });
  }
  warn(message: unknown): void {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  errors(): string[] {
    return this.lines.filter((line) => line.level === 'error').map((line) => line.message);
  }
}

/**
 * Approve and Resume on the admin API run the batch in the background, as an upload does: without a
 * worker the batch is processed to its end; with the module's worker on too, the two runs share the
 * batch (one takes it, the other helps) and each row is applied once, with no error logged.
 */
describe('the admin API runs a batch it approves or resumes', () => {
  const database = useTestDatabase();
  let sql: Client;

  beforeAll(async () => {
    sql = await database.connect();
    await sql.query('CREATE TABLE applied_once (batch_id uuid NOT NULL, n integer NOT NULL)');
    await sql.query('CREATE UNIQUE INDEX applied_once_key ON applied_once (batch_id, n)');
  });

  /** An app with the admin API, with or without the worker, until `use` is done; then what it logged. */
  async function withApp(
    worker: boolean,
    use: (app: INestApplication<App>, batches: BatchService) => Promise<void>,
  ): Promise<LevelLogger> {
    const logger = new LevelLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: database.db.url,
          retryAttempts: 0,
          logging: false,
        }),
        ReliableImportsModule.forRoot(
          worker ? { worker: { enabled: true, concurrency: 2, pollIntervalMs: 50 } } : {},
        ),
        ReliableImportsAdminModule.register({ allowUnauthenticated: true }),
      ],
      providers: [AppliedOnceProcessor],
    }).compile();
    const app = await moduleRef.createNestApplication<INestApplication<App>>({ logger }).init();
    try {
      await use(app, app.get(BatchService));
    } finally {
      // Waits for the background runs (BackgroundRuns): whatever they log is logged by then.
      await app.close();
    }
    return logger;
  }

  const rows = () => Array.from({ length: ROWS }, (_, n) => ({ n }));

  const post = (app: INestApplication<App>, path: string) =>
    request(app.getHttpServer()).post(`/imports-admin/${path}`).set(HEADER).send({});

  async function waitForEnd(batches: BatchService, batchId: string): Promise<void> {
    await waitFor(async () => (await batches.getBatch(batchId)).status === BATCH_STATUS.completed, {
      withinMs: 60_000,
      what: `batch ${batchId}, completed`,
    });
  }

  /** Each row of the batch applied, once, and recorded completed. */
  async function expectAppliedOnce(batches: BatchService, batchId: string): Promise<void> {
    const { rows: applied } = await sql.query<{ n: number }>(
      'SELECT n FROM applied_once WHERE batch_id = $1 ORDER BY n',
      [batchId],
    );
    expect(applied.map((row) => row.n)).toEqual(rows().map((row) => row.n));
    expect(await batches.getBatchSummary(batchId)).toMatchObject({
      status: BATCH_STATUS.completed,
      completedItems: ROWS,
      failedItems: 0,
    });
  }

  it.each([
    ['no worker', false],
    ['the worker on too', true],
  ])('approve: the batch runs to its end (%s), each row applied once', async (_, worker) => {
    let batchId = '';
    const logger = await withApp(worker, async (app, batches) => {
      const batch = await batches.createBatch('applied_once', rows(), { requireApproval: true });
      batchId = batch.id;
      const res = await post(app, `batches/${batch.id}/approve`).expect(200);
      // The answer is the batch as approved, as before; its run goes on after it.
      expect(res.body as ImportBatch).toMatchObject({ id: batch.id, status: BATCH_STATUS.pending });
      await waitForEnd(batches, batch.id);
      await expectAppliedOnce(batches, batch.id);
    });
    expect(batchId).not.toBe('');
    expect(logger.errors()).toEqual([]);
  });

  it.each([
    ['no worker', false],
    ['the worker on too', true],
  ])('resume: a paused batch runs to its end (%s), each row applied once', async (_, worker) => {
    const logger = await withApp(worker, async (app, batches) => {
      const batch = await batches.createBatch('applied_once', rows(), { requireApproval: true });
      await batches.approveBatch(batch.id);
      await batches.pauseBatch(batch.id, { reason: 'held' });
      const res = await post(app, `batches/${batch.id}/resume`).expect(200);
      // Pending when no run had started it; processing with no holder when the worker had, between the
      // approval and the pause (its notification may come first).
      expect(res.body as ImportBatch).toMatchObject({ id: batch.id, errorMessage: null });
      expect([BATCH_STATUS.pending, BATCH_STATUS.processing]).toContain(
        (res.body as ImportBatch).status,
      );
      await waitForEnd(batches, batch.id);
      await expectAppliedOnce(batches, batch.id);
    });
    expect(logger.errors()).toEqual([]);
  });

  it('a batch paused or cancelled again at once is left so, and its run logs no error', async () => {
    const logger = await withApp(false, async (app, batches) => {
      const paused = await batches.createBatch('applied_once', rows(), { requireApproval: true });
      await batches.approveBatch(paused.id);
      await batches.pauseBatch(paused.id);
      await post(app, `batches/${paused.id}/resume`).expect(200);
      await batches.pauseBatch(paused.id);

      const cancelled = await batches.createBatch('applied_once', rows(), {
        requireApproval: true,
      });
      await post(app, `batches/${cancelled.id}/approve`).expect(200);
      await batches.cancelBatch(cancelled.id);

      // The runs leave (at once, or after their rows in flight): nothing of either is left in flight.
      await waitFor(
        async () => {
          const [a, b] = await Promise.all([
            batches.getProgress(paused.id),
            batches.getProgress(cancelled.id),
          ]);
          return a.inFlight === 0 && b.inFlight === 0;
        },
        { what: 'the runs, gone' },
      );
      expect((await batches.getBatch(paused.id)).status).toBe(BATCH_STATUS.paused);
      expect((await batches.getBatch(cancelled.id)).status).toBe(BATCH_STATUS.cancelled);

      // Resumed for good, the paused batch finishes.
      await post(app, `batches/${paused.id}/resume`).expect(200);
      await waitForEnd(batches, paused.id);
      await expectAppliedOnce(batches, paused.id);
    });
    expect(logger.errors()).toEqual([]);
  });
});
