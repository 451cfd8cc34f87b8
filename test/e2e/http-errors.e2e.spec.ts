import {
  Body,
  Controller,
  Get,
  type INestApplication,
  type LoggerService,
  Param,
  Post,
  type Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import type { App } from 'supertest/types';
import {
  BaseProcessor,
  BatchService,
  ImportProcessor,
  ProcessingInterruptedError,
  ReliableImportsError,
  ReliableImportsExceptionFilter,
  toHttpException,
  type ReliableImportsErrorCode,
} from '../../lib';
import { moduleImports } from '../fixtures/test-app';
import { useTestDatabase } from '../support/use-test-app';

const MISSING_BATCH = '0b6c1f0e-1111-4000-8000-000000000001';
const SECRET = 'relation "payroll_secrets" violates constraint on host db-internal-7';

@ImportProcessor('contact')
class ContactProcessor extends BaseProcessor<{ email: string }> {
  processItem(): void {}
}

/** What a future error with a list of problems (a refused corrections file) looks like to the filter. */
class ProblemsError extends ReliableImportsError {
  readonly problems = [{ line: 3, message: 'unknown item id' }];
  constructor() {
    super(
      'CORRECTIONS_REFUSED',
      'The corrections file was refused: 1 problem. Nothing was applied.',
    );
  }
}

/** The same routes, whatever answers their errors. */
abstract class RoutesController {
  protected abstract readonly batches: BatchService;

  protected abstract run<T>(work: () => Promise<T>): Promise<T>;

  @Get('batches/:id')
  summary(@Param('id') id: string) {
    return this.run(() => this.batches.getBatchSummary(id));
  }

  @Post('batches/:type')
  create(@Param('type') type: string, @Body() body: { key?: string; rows: object[] }) {
    return this.run(() => this.batches.createBatch(type, body.rows, { idempotencyKey: body.key }));
  }

  @Get('server-error')
  serverError() {
    // A code this version does not know (an application's subclass, a newer version): a server error.
    const unknownCode = 'SOMETHING_INTERNAL' as ReliableImportsErrorCode;
    return this.run(() => Promise.reject(new ReliableImportsError(unknownCode, SECRET)));
  }

  @Get('outage')
  outage() {
    return this.run(() =>
      Promise.reject(
        new ProcessingInterruptedError(
          MISSING_BATCH,
          new Error('connect ECONNREFUSED 10.9.8.7:5432'),
        ),
      ),
    );
  }

  @Get('problems')
  problems() {
    return this.run(() => Promise.reject(new ProblemsError()));
  }
}

/** Lets the module's errors through, to the global ReliableImportsExceptionFilter. */
@Controller('filtered')
class FilteredController extends RoutesController {
  constructor(protected readonly batches: BatchService) {
    super();
  }

  protected run<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }
}

/** An app without the filter: the controller turns the module's errors into HTTP exceptions itself. */
@Controller('converted')
class ConvertingController extends RoutesController {
  constructor(protected readonly batches: BatchService) {
    super();
  }

  protected async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw error instanceof ReliableImportsError ? toHttpException(error) : error;
    }
  }
}

/** Keeps what the server logs, to check that a withheld message is in the log, with its stack. */
class CapturingLogger implements LoggerService {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  log(): void {}
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.errors.push([message, ...rest].map(String).join('\n'));
  }
}

describe('HTTP answers to the module errors', () => {
  const database = useTestDatabase();
  const logger = new CapturingLogger();
  const apps: Record<string, INestApplication<App>> = {};

  async function start(controller: Type<unknown>, globalFilter: boolean) {
    const moduleRef = await Test.createTestingModule({
      imports: moduleImports(database.db.url),
      controllers: [controller],
      providers: [ContactProcessor],
    }).compile();
    const app = moduleRef.createNestApplication<INestApplication<App>>({ logger });
    if (globalFilter) app.useGlobalFilters(new ReliableImportsExceptionFilter());
    database.closeBeforeCheck(() => app.close());
    await app.init();
    return app;
  }

  beforeAll(async () => {
    apps.filtered = await start(FilteredController, true);
    apps.converted = await start(ConvertingController, false);
  });

  describe.each(['filtered', 'converted'])('%s', (name) => {
    const http = () => request(apps[name].getHttpServer());

    it('answers a batch id that does not exist with 404 and the code', async () => {
      const res = await http().get(`/${name}/batches/${MISSING_BATCH}`).expect(404);
      expect(res.body).toEqual({
        statusCode: 404,
        error: 'BATCH_NOT_FOUND',
        message: expect.stringContaining(`Import batch "${MISSING_BATCH}" does not exist`),
      });
    });

    it('answers an unknown batch type with 400 and the known types', async () => {
      const res = await http()
        .post(`/${name}/batches/contacts`)
        .send({ rows: [{ email: 'a@x.com' }] })
        .expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'UNKNOWN_BATCH_TYPE',
        message: expect.stringContaining('Registered types: "contact"'),
      });
    });

    it('answers a reused idempotency key with other rows with 409', async () => {
      const key = `http-${name}`;
      await http()
        .post(`/${name}/batches/contact`)
        .send({ key, rows: [{ email: 'a@x.com' }] })
        .expect(201);
      const res = await http()
        .post(`/${name}/batches/contact`)
        .send({ key, rows: [{ email: 'b@x.com' }] })
        .expect(409);
      expect(res.body).toMatchObject({ statusCode: 409, error: 'IDEMPOTENCY_CONFLICT' });
    });

    it('answers an error of no known kind with 500, its message in the log only', async () => {
      const before = logger.errors.length;
      const res = await http().get(`/${name}/server-error`).expect(500);
      expect(res.body).toEqual({
        statusCode: 500,
        error: 'SOMETHING_INTERNAL',
        message: expect.stringContaining('could not finish this request (SOMETHING_INTERNAL)'),
      });
      expect(JSON.stringify(res.body)).not.toContain('payroll_secrets');
      const logged = logger.errors.slice(before).join('\n');
      expect(logged).toContain(SECRET);
      expect(logged).toMatch(/at .*http-errors\.e2e\.spec\.ts/);
    });

    it('answers a database outage with 503 and "try again", without the database address', async () => {
      const res = await http().get(`/${name}/outage`).expect(503);
      expect(res.body).toEqual({
        statusCode: 503,
        error: 'PROCESSING_INTERRUPTED',
        message: expect.stringContaining('Try again in a moment'),
      });
      expect(JSON.stringify(res.body)).not.toContain('10.9.8.7');
      expect(logger.warnings.join('\n')).toContain('10.9.8.7');
    });

    it("passes an error's public problems on, never a stack", async () => {
      const res = await http().get(`/${name}/problems`).expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'CORRECTIONS_REFUSED',
        message: expect.stringContaining('refused'),
        problems: [{ line: 3, message: 'unknown item id' }],
      });
      expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.ts:\d+/);
    });
  });
});
