import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { readFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { Client } from 'pg';
import request from 'supertest';
import type { App } from 'supertest/types';
import { AppModule } from '../../sample-app/app.module';
import { adminDatabaseUrl } from '../support/database-url';
import { waitFor } from '../support/timing';
import { useTestDatabase } from '../support/use-test-app';

const DATA = join(__dirname, '..', '..', 'sample-app', 'data');

interface Failure {
  itemId: string;
  line: number;
  reasons: string[];
  errorCode: string | null;
}

/** What a user does in a spreadsheet with the failures file: the right values in each row, by line. */
function fixInSpreadsheet(exported: string, corrections: Record<string, object>): string {
  const records: string[][] = parse(exported);
  const [header, ...rows] = records;
  for (const cells of rows) {
    const fix = corrections[cells[header.indexOf('_line')]] as Record<string, string>;
    for (const [column, value] of Object.entries(fix)) cells[header.indexOf(column)] = value;
  }
  return stringify([header, ...rows]);
}

async function countBatches(app: INestApplication): Promise<number> {
  const [{ count }] = await app
    .get<DataSource>(getDataSourceToken())
    .query<{ count: number }[]>('SELECT count(*)::int AS count FROM import_batches');
  return count;
}

/** The sample app's HTTP API on a real PostgreSQL: upload, failures, corrections, reprocess. */
describe('sample app', () => {
  const database = useTestDatabase({ empty: true });
  let app: INestApplication<App>;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forDatabase(database.db.url)],
    }).compile();
    app = moduleRef.createNestApplication();
    database.closeBeforeCheck(() => app.close());
    await app.init();
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

  it('recovers with files over HTTP: failures.csv out, the edited file back into reprocess', async () => {
    const upload = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv')
      .send(
        readFileSync(join(DATA, 'customers.csv'), 'utf8').replaceAll(
          '@example.com',
          '@example.net',
        ),
      )
      .expect(201);
    const batchId = (upload.body as { batchId: string }).batchId;
    expect(upload.body).toMatchObject({ completedItems: 472, failedItems: 28 });

    const file = await request(app.getHttpServer())
      .get(`/imports/${batchId}/failures.csv`)
      .expect(200)
      .expect('Content-Type', /text\/csv/)
      .expect('Content-Disposition', /attachment; filename="failures-.*\.csv"/);
    const corrections = JSON.parse(
      readFileSync(join(DATA, 'corrections.json'), 'utf8').replaceAll(
        '@example.com',
        '@example.net',
      ),
    ) as Record<string, object>;
    const fixed = fixInSpreadsheet(file.text, corrections);

    // One wrong reference refuses the whole file, naming its line; nothing is applied.
    const wrong = fixed.replace(/\n[0-9a-f-]{36},/, '\n00000000-0000-4000-8000-000000000000,');
    const refused = await request(app.getHttpServer())
      .post(`/imports/${batchId}/corrections`)
      .set('Content-Type', 'text/csv')
      .send(wrong)
      .expect(400);
    expect(refused.body).toMatchObject({ error: 'CORRECTIONS_REFUSED' });
    expect((refused.body as { message: string }).message).toContain('line 2: no row of batch');
    const stillFailing = (
      await request(app.getHttpServer()).get(`/imports/${batchId}/failures`).expect(200)
    ).body as Failure[];
    expect(stillFailing.filter((failure) => failure.reasons.length > 0)).toHaveLength(28);

    // Sent with curl's default form type, the file would be read by the form parser: 415, not ignored.
    await request(app.getHttpServer())
      .post(`/imports/${batchId}/reprocess`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(fixed)
      .expect(415);
    expect(await request(app.getHttpServer()).get(`/imports/${batchId}/lineage`)).toMatchObject({
      body: { resolved: 0, unresolved: 28 },
    });
    const reprocessed = await request(app.getHttpServer())
      .post(`/imports/${batchId}/reprocess`)
      .set('Content-Type', 'text/csv')
      .send(fixed)
      .expect(200);
    expect(reprocessed.body).toMatchObject({ status: 'completed', completedItems: 28 });
    const lineage = await request(app.getHttpServer())
      .get(`/imports/${batchId}/lineage`)
      .expect(200);
    expect(lineage.body).toMatchObject({
      totalRows: 500,
      completedFirstTime: 472,
      resolved: 28,
      unresolved: 0,
    });
    const none = await request(app.getHttpServer()).get(`/imports/${batchId}/failures`).expect(200);
    expect(none.body).toEqual([]);
  });

  it('answers a wrong batch id with 404 and a message that says what to check', async () => {
    const res = await request(app.getHttpServer()).get('/imports/not-a-batch').expect(404);
    expect(res.body).toMatchObject({ error: 'BATCH_NOT_FOUND' });
    expect((res.body as { message: string }).message).toContain('Check the id');
  });

  it('keeps a malformed line as a failed row with its line; refuses an unclosed quote whole', async () => {
    const upload = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv')
      .send('email,first_name,last_name\na@example.com,A,B\nbroken,C,D,E\nx@example.com,X,Y\n')
      .expect(201);
    expect(upload.body).toMatchObject({ totalItems: 3, completedItems: 2, failedItems: 1 });
    const failures = (
      await request(app.getHttpServer())
        .get(`/imports/${(upload.body as { batchId: string }).batchId}/failures`)
        .expect(200)
    ).body as Failure[];
    expect(failures).toEqual([expect.objectContaining({ line: 3, errorCode: 'MALFORMED_LINE' })]);
    expect(failures[0].reasons[0]).toMatch(/^Line 3 could not be read as a row/);

    const before = await countBatches(app);
    const res = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv')
      // A long body, so that the error comes while most of it is still unread.
      .send(
        'email,first_name,last_name\na@example.com,A,B\n"broken,C,D\n' +
          'x@example.com,X,Y\n'.repeat(100_000),
      )
      .expect(400);
    expect((res.body as { message: string }).message).toMatch(/line 3/i);
    expect(await countBatches(app)).toBe(before);
  });

  it('answers a body that is not CSV (JSON, a form, no type) with 415 and stores nothing', async () => {
    const before = await countBatches(app);
    const json = await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'application/json')
      .send({ email: 'a@example.com', first_name: 'A', last_name: 'B' })
      .expect(415);
    expect((json.body as { message: string }).message).toContain('text/csv');
    await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send('email=a@example.com&first_name=A&last_name=B')
      .expect(415);
    await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv; charset=latin1')
      .send('email,first_name,last_name\na@example.com,A,B\n')
      .expect(415);
    await request(app.getHttpServer()).post('/imports/customers').expect(415);
    await request(app.getHttpServer())
      .post('/imports/customers')
      .set('Content-Type', 'text/csv; charset=utf-8')
      .send('email,first_name,last_name\nutf8@example.com,Zoë,Ångström\n')
      .expect(201);
    expect(await countBatches(app)).toBe(before + 1);
  });

  it('refuses a CSV without rows (empty, or a header only) with 400 and stores nothing', async () => {
    const before = await countBatches(app);
    for (const body of [
      '',
      'email,first_name,last_name\n',
      '\uFEFFemail,first_name,last_name\n\n\n',
    ]) {
      const res = await request(app.getHttpServer())
        .post('/imports/customers')
        .set('Content-Type', 'text/csv')
        .send(body)
        .expect(400);
      expect((res.body as { message: string }).message).toMatch(/no rows/i);
    }
    expect(await countBatches(app)).toBe(before);
  });

  it('sends no stack and no raw database message; the stored item keeps the full reason', async () => {
    const dataSource = app.get<DataSource>(getDataSourceToken());
    // A rule the processor does not know of makes PostgreSQL refuse the second row with a unique violation.
    await dataSource.query(
      'CREATE UNIQUE INDEX customers_email_lower_idx ON customers (lower(email))',
    );
    try {
      const upload = await request(app.getHttpServer())
        .post('/imports/customers')
        .set('Content-Type', 'text/csv')
        .send('email,first_name,last_name\nGrace@example.org,Grace,Hopper\ngrace@example.org,G,H\n')
        .expect(201);
      const batchId = (upload.body as { batchId: string }).batchId;
      expect(upload.body).toMatchObject({ completedItems: 1, failedItems: 1 });

      const failuresRes = await request(app.getHttpServer())
        .get(`/imports/${batchId}/failures`)
        .expect(200);
      const failures = failuresRes.body as Failure[];
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatchObject({ line: 3, errorCode: '23505' });
      expect(failures[0].reasons.join(' ')).toContain('23505');

      const corrected = await request(app.getHttpServer())
        .patch(`/imports/items/${failures[0].itemId}`)
        .send({ email: 'grace.h@example.org', first_name: 'G', last_name: 'H' })
        .expect(200);
      expect(corrected.body).toMatchObject({
        itemId: failures[0].itemId,
        line: 3,
        corrected: true,
        error: { code: '23505' },
      });
      expect(failures[0].reasons.join(' ')).not.toContain('customers_email_lower_idx');

      for (const body of [failuresRes.text, corrected.text]) {
        expect(body).not.toContain('customers_email_lower_idx');
        expect(body).not.toContain('duplicate key');
        expect(body).not.toMatch(/stack|\bat .*:\d+:\d+|node_modules|\/work\//);
      }
      const [stored] = await dataSource.query<{ error_message: string }[]>(
        'SELECT error_message FROM import_batch_items WHERE id = $1',
        [failures[0].itemId],
      );
      expect(stored.error_message).toContain('customers_email_lower_idx');
    } finally {
      await dataSource.query('DROP INDEX customers_email_lower_idx');
    }
  });
});

/**
 * Uploads dropped half way, over a real socket, on a pool of two connections: each must roll back and
 * give its connection back at once, or the third one would leave the app unable to answer.
 */
describe('sample app: dropped uploads', () => {
  const POOL_SIZE = 2;
  const database = useTestDatabase({ empty: true });
  let app: INestApplication<Server>;
  let admin: Client;
  let port: number;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forDatabase(database.db.url, { poolSize: POOL_SIZE })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    database.closeBeforeCheck(() => app.close());
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    admin = new Client({ connectionString: adminDatabaseUrl() });
    await admin.connect();
    database.closeBeforeCheck(() => admin.end());
  });

  async function idleInTransaction(): Promise<number> {
    const { rows } = await admin.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE datname = $1 AND state = 'idle in transaction'`,
      [database.db.name],
    );
    return rows[0].count;
  }

  it('rolls back an upload dropped half way at once; 12 of them leave the app answering', async () => {
    const before = await countBatches(app);
    for (let upload = 1; upload <= POOL_SIZE * 6; upload++) {
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/imports/customers',
        headers: { 'Content-Type': 'text/csv' },
      });
      req.on('error', () => undefined);
      req.write('email,first_name,last_name\na@example.com,A,B\nb@example.com,B,C\nc@exa');
      // The batch's transaction is open and waits for the rest of the body: now the client goes away.
      await waitFor(async () => (await idleInTransaction()) > 0, {
        what: 'the upload opens its transaction',
        withinMs: 5000,
        everyMs: 25,
      });
      req.destroy();
      await waitFor(async () => (await idleInTransaction()) === 0, {
        what: `dropped upload ${upload} gives its connection back`,
        withinMs: 3000,
        everyMs: 25,
      });
    }
    expect(await countBatches(app)).toBe(before);

    const ok = await fetch(`http://127.0.0.1:${port}/imports/customers`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/csv' },
      body: 'email,first_name,last_name\nd@example.com,D,E\n',
      signal: AbortSignal.timeout(5000),
    });
    expect(ok.status).toBe(201);
    expect(await countBatches(app)).toBe(before + 1);
  });
});
