import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { App } from 'supertest/types';
import { AppModule } from '../../sample-app/app.module';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const DATA = join(__dirname, '..', '..', 'sample-app', 'data');

interface Failure {
  itemId: string;
  line: number;
  reasons: string[];
}

/** The sample app's HTTP API on a real PostgreSQL: upload, failures, corrections, reprocess. */
describe('sample app', () => {
  let db: TestDatabase;
  let app: INestApplication<App>;

  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forDatabase(db.url)],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('imports customers.csv (472/28), then corrections and a reprocess bring all 500 in', async () => {
    const upload = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv')
      .set('X-File-Name', 'customers.csv')
      .send(readFileSync(join(DATA, 'customers.csv'), 'utf8'))
      .expect(201);
    expect(upload.body).toMatchObject({
      status: 'completed_with_errors',
      totalItems: 500,
      completedItems: 472,
      failedItems: 28,
    });
    const batchId = (upload.body as { batchId: string }).batchId;

    await request(app.getHttpServer())
      .get(`/imports/${batchId}`)
      .expect(200)
      .expect((res) => expect(res.body).toMatchObject({ batchId, failedItems: 28 }));

    const failures = (
      await request(app.getHttpServer()).get(`/imports/${batchId}/failures`).expect(200)
    ).body as Failure[];
    expect(failures).toHaveLength(28);
    const corrections = JSON.parse(readFileSync(join(DATA, 'corrections.json'), 'utf8')) as Record<
      string,
      object
    >;
    expect(failures.map((f) => String(f.line)).sort()).toEqual(Object.keys(corrections).sort());
    for (const failure of failures) {
      expect(failure.reasons.length).toBeGreaterThan(0);
      await request(app.getHttpServer())
        .patch(`/imports/items/${failure.itemId}`)
        .send(corrections[String(failure.line)])
        .expect(200);
    }

    const reprocessed = await request(app.getHttpServer())
      .post(`/imports/${batchId}/reprocess`)
      .expect(200);
    expect(reprocessed.body).toMatchObject({
      status: 'completed',
      parentBatchId: batchId,
      completedItems: 28,
    });
    const [{ count }] = await app
      .get<DataSource>(getDataSourceToken())
      .query<{ count: number }[]>('SELECT count(*)::int AS count FROM customers');
    expect(count).toBe(500);
  });

  it('answers a wrong batch id with 404 and a message that says what to check', async () => {
    const res = await request(app.getHttpServer()).get('/imports/not-a-batch').expect(404);
    expect(res.body).toMatchObject({ error: 'BATCH_NOT_FOUND' });
    expect((res.body as { message: string }).message).toContain('Check the id');
  });

  it('refuses a malformed CSV with its line number and stores nothing', async () => {
    const batches = () =>
      app
        .get<DataSource>(getDataSourceToken())
        .query<{ count: number }[]>('SELECT count(*)::int AS count FROM import_batches');
    const before = await batches();
    const res = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv')
      .send('email,first_name,last_name\na@example.com,A,B\n"broken,C,D\n')
      .expect(400);
    expect((res.body as { message: string }).message).toMatch(/line 3/i);
    expect(await batches()).toEqual(before);
  });
});
