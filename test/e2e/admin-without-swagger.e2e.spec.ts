import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BatchService,
  type ImportItem,
  ImportProcessor,
  ReliableImportsAdminModule,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

// An app without @nestjs/swagger installed: every require of it in this file's module registry throws.
jest.mock('@nestjs/swagger', () => {
  throw Object.assign(new Error("Cannot find module '@nestjs/swagger'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  validateItem(item: ImportItem<{ email: string }>): string[] {
    return item.sourceData.email.includes('@') ? [] : ['email is malformed'];
  }

  processItem(): void {}
}

const LIB = join(__dirname, '../../lib');
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );

describe('the admin API without @nestjs/swagger', () => {
  const database = useTestDatabase();
  let app: INestApplication<App>;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...moduleImports(database.db.url),
        ReliableImportsAdminModule.register({ path: 'ops/imports', allowUnauthenticated: true }),
      ],
      providers: [ContactProcessor],
    }).compile();
    app = moduleRef.createNestApplication<INestApplication<App>>({ logger: false });
    database.closeBeforeCheck(() => app.close());
    await app.init();
  });

  it('is really missing here', () => {
    expect(() => jest.requireActual('@nestjs/swagger') as unknown).not.toThrow();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(() => require('@nestjs/swagger') as unknown).toThrow(/Cannot find module/);
  });

  it('registers the module and its routes answer', async () => {
    const batches = app.get(BatchService);
    const batch = await batches.createBatch('contact', [{ email: 'a@x.com' }, { email: 'bad' }]);
    await batches.processBatch(batch.id);
    const server = app.getHttpServer();
    const read = await request(server).get(`/ops/imports/batches/${batch.id}/failures`).expect(200);
    expect((read.body as unknown[]).length).toBe(1);
    await request(server).get('/ops/imports/batches?limit=0').expect(400);
    await request(server).post(`/ops/imports/batches/${batch.id}/reprocess`).send({}).expect(403);
    const [failed] = await batches.getItems(batch.id, { status: 'failed' });
    await request(server)
      .patch(`/ops/imports/items/${failed.id}`)
      .set({ 'x-reliable-imports-request': '1' })
      .send({ data: { email: 'b@x.com' } })
      .expect(200);
    await request(server)
      .post(`/ops/imports/batches/${batch.id}/reprocess`)
      .set({ 'x-reliable-imports-request': '1' })
      .send({})
      .expect(201);
    expect((await batches.getFailures(batch.id)).length).toBe(0);
  });

  it('puts no OpenAPI metadata on the routes', () => {
    const keys = (target: object) =>
      (Reflect.getMetadataKeys(target) as unknown[]).filter((key) =>
        String(key).startsWith('swagger/'),
      );
    const [controller] = (ReliableImportsAdminModule.register({ allowUnauthenticated: true })
      .controllers ?? []) as (new (...args: never[]) => object)[];
    expect(keys(controller)).toEqual([]);
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(controller.prototype))) {
      const method = (Object.getPrototypeOf(controller.prototype) as Record<string, unknown>)[name];
      if (typeof method === 'function') expect(keys(method)).toEqual([]);
    }
    expect(Object.getOwnPropertyNames(controller.prototype)).toEqual(['constructor']);
  });

  it('is never imported by the library, only required where it is optional', () => {
    const importing = sources(LIB).filter((file) =>
      /\bfrom '@nestjs\/swagger'|import '@nestjs\/swagger'/.test(readFileSync(file, 'utf8')),
    );
    expect(importing).toEqual([]);
  });
});
