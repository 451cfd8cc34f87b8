import {
  Inject,
  Injectable,
  Module,
  Scope,
  type DynamicModule,
  type ModuleMetadata,
} from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  getDataSourceToken,
  getRepositoryToken,
  InjectRepository,
  TypeOrmModule,
} from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import {
  BaseProcessor,
  BatchService,
  DuplicateBatchTypeError,
  ImportProcessor,
  InvalidOptionsError,
  InvalidProcessorError,
  ReliableImportsModule,
  UnknownBatchTypeError,
  type ImportContext,
  type ImportItem,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { Customer } from '../fixtures/customer.entity';
import { createTestApp, type TestApp } from '../fixtures/test-app';
import { KeptDataSources } from '../support/kept-data-sources';
import { useTestApp, useTestDatabase } from '../support/use-test-app';

interface Row {
  n: number;
}

interface CustomerRow {
  email: string;
  firstName: string;
  lastName: string;
}

const rows = (count: number): Row[] => Array.from({ length: count }, (_, n) => ({ n }));

/** Remembers the items it processed, so a test can tell which processor ran a batch. */
abstract class RecordingProcessor extends BaseProcessor<Row> {
  readonly seen: number[] = [];
  processItem(item: ImportItem<Row>): void {
    this.seen.push(item.sourceData.n);
  }
}

/** Named by convention; writes through the injected TypeORM repository, in the item's transaction. */
@ImportProcessor()
class CustomerDataProcessor extends BaseProcessor<CustomerRow> {
  constructor(@InjectRepository(Customer) readonly customers: Repository<Customer>) {
    super();
  }

  async processItem(item: ImportItem<CustomerRow>, ctx: ImportContext<CustomerRow>) {
    const customers = ctx.manager.withRepository(this.customers);
    const saved = await customers.save(customers.create(item.sourceData));
    if (saved.email.startsWith('refused')) throw new Error('refused after the write');
    return { targetTable: 'customers', targetId: saved.id };
  }
}

@ImportProcessor()
class TransactionFeedProcessor extends RecordingProcessor {}

@ImportProcessor('explicit_name')
class ExplicitlyNamedProcessor extends RecordingProcessor {}

/** Its options say both the batch type and to stop at the first failure. */
@ImportProcessor({ batchType: 'from_options', continueOnError: false })
class OptionsNamedProcessor extends BaseProcessor<Row> {
  processItem(item: ImportItem<Row>): void {
    if (item.sourceData.n === 1) throw new Error('one is not allowed');
  }
}

/** Fails the item whose n is 2. */
@ImportProcessor()
class PaymentRowProcessor extends BaseProcessor<Row> {
  processItem(item: ImportItem<Row>): void {
    if (item.sourceData.n === 2) throw new Error('two is not allowed');
  }
}

/** Provided with useFactory: Nest knows no metatype for it, only its instance. */
@ImportProcessor()
class FactoryMadeProcessor extends RecordingProcessor {
  constructor(readonly customers: Repository<Customer>) {
    super();
  }
}

/** Provided with useValue. */
@ImportProcessor()
class ValueGivenProcessor extends RecordingProcessor {}

/** Provided with useClass under another token. */
@ImportProcessor()
class ClassSwappedProcessor extends RecordingProcessor {}

/** Extends BaseProcessor but is not marked: it must not be registered. */
@Injectable()
class UnmarkedProcessor extends RecordingProcessor {}

const FACTORY_PROCESSOR = Symbol('FACTORY_PROCESSOR');
const VALUE_PROCESSOR = Symbol('VALUE_PROCESSOR');
const SWAPPED_PROCESSOR = Symbol('SWAPPED_PROCESSOR');

const KNOWN_TYPES = [
  'class_swapped',
  'customer_data',
  'explicit_name',
  'factory_made',
  'from_options',
  'payment_row',
  'transaction_feed',
  'value_given',
];

/** Data sources opened by `typeorm()`, so a failed bootstrap cannot leave a pool behind. */
const openedDataSources = new KeptDataSources();

/** TypeORM on `url`, as the default data source or a named one. */
function typeorm(url: string, name?: string): DynamicModule {
  return TypeOrmModule.forRootAsync({
    name,
    // The name inside the options too: @nestjs/typeorm 11 looks the data source up by the factory's options
    // when the app closes, and without it fails the close (12 keeps the name given beside the factory).
    useFactory: () => ({
      name,
      type: 'postgres',
      url,
      entities: [Customer],
      retryAttempts: 0,
      logging: false,
    }),
    dataSourceFactory: openedDataSources.factory,
  });
}

/** Compiles and starts a testing module; closes it again when the start fails. */
async function start(metadata: ModuleMetadata): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  try {
    return await moduleRef.init();
  } catch (error) {
    await moduleRef.close();
    throw error;
  }
}

/** The error that fails the start of a module; fails the test when the module starts. */
async function bootstrapError(metadata: ModuleMetadata): Promise<Error> {
  let app: TestingModule;
  try {
    app = await start(metadata);
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  await app.close();
  throw new Error('The application started, but its start should have failed.');
}

describe('discovery of processors, and the module options (PostgreSQL)', () => {
  const database = useTestDatabase();

  afterEach(async () => {
    await openedDataSources.destroy();
  });

  describe('in a running application', () => {
    const t = useTestApp([
      CustomerDataProcessor,
      TransactionFeedProcessor,
      ExplicitlyNamedProcessor,
      OptionsNamedProcessor,
      PaymentRowProcessor,
      UnmarkedProcessor,
      {
        provide: FACTORY_PROCESSOR,
        useFactory: (customers: Repository<Customer>) => new FactoryMadeProcessor(customers),
        inject: [getRepositoryToken(Customer)],
      },
      { provide: VALUE_PROCESSOR, useValue: new ValueGivenProcessor() },
      { provide: SWAPPED_PROCESSOR, useClass: ClassSwappedProcessor },
    ]);

    const batchCount = async (): Promise<number> => {
      const [{ count }] = await t.dataSource.query<{ count: number }[]>(
        'SELECT count(*)::int AS count FROM import_batches',
      );
      return count;
    };

    it('names batch types after the class: TransactionFeedProcessor handles transaction_feed', async () => {
      const processor = t.app.get(TransactionFeedProcessor);
      const batch = await t.batches.createBatch('transaction_feed', rows(3));
      expect(batch.batchType).toBe('transaction_feed');
      const summary = await t.batches.processBatch(batch.id);
      expect(summary).toMatchObject({ status: 'completed', completedItems: 3 });
      expect(processor.seen).toEqual([0, 1, 2]);
    });

    it('runs CustomerDataProcessor for customer_data, writing through its injected repository', async () => {
      const processor = t.app.get(CustomerDataProcessor);
      expect(processor.customers).toBe(t.app.get(getRepositoryToken(Customer)));

      const batch = await t.batches.createBatch<CustomerRow>('customer_data', [
        { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' },
        { email: 'refused@example.com', firstName: 'Re', lastName: 'Fused' },
        { email: 'alan@example.com', firstName: 'Alan', lastName: 'Turing' },
      ]);
      expect(batch.batchType).toBe('customer_data');
      const summary = await t.batches.processBatch(batch.id);
      expect(summary).toMatchObject({
        status: 'completed_with_errors',
        completedItems: 2,
        failedItems: 1,
      });

      const stored = await processor.customers.find({ order: { email: 'ASC' } });
      expect(stored.map((customer) => customer.email)).toEqual([
        'ada@example.com',
        'alan@example.com',
      ]);
      const items = await t.batches.getItems(batch.id);
      expect(items.map((item) => [item.status, item.targetTable, item.targetId])).toEqual([
        ['completed', 'customers', String(stored[0].id)],
        ['failed', null, null],
        ['completed', 'customers', String(stored[1].id)],
      ]);
      expect(items[1].errorMessage).toBe('refused after the write');
    });

    it("honours @ImportProcessor('explicit_name')", async () => {
      const processor = t.app.get(ExplicitlyNamedProcessor);
      const summary = await t.batches.import('explicit_name', rows(2));
      expect(summary).toMatchObject({ status: 'completed', completedItems: 2 });
      expect(processor.seen).toEqual([0, 1]);
      await expect(t.batches.createBatch('explicitly_named', rows(1))).rejects.toThrow(
        UnknownBatchTypeError,
      );
    });

    it('honours @ImportProcessor({ batchType, continueOnError })', async () => {
      const summary = await t.batches.import('from_options', rows(4));
      expect(summary).toMatchObject({
        status: 'failed',
        completedItems: 1,
        failedItems: 1,
        pendingItems: 2,
      });
      await expect(t.batches.createBatch('options_named', rows(1))).rejects.toThrow(
        UnknownBatchTypeError,
      );
    });

    it('goes on after a failed item by default (continueOnError: true)', async () => {
      const summary = await t.batches.import('payment_row', rows(5));
      expect(summary).toMatchObject({
        status: 'completed_with_errors',
        completedItems: 4,
        failedItems: 1,
        pendingItems: 0,
      });
    });

    it.each([
      ['useFactory', FACTORY_PROCESSOR, 'factory_made'],
      ['useValue', VALUE_PROCESSOR, 'value_given'],
      ['useClass', SWAPPED_PROCESSOR, 'class_swapped'],
    ])('discovers a processor provided with %s', async (_how, token, batchType) => {
      const processor = t.app.get<RecordingProcessor>(token);
      const summary = await t.batches.import(batchType, rows(2));
      expect(summary).toMatchObject({ status: 'completed', completedItems: 2 });
      expect(processor.seen).toEqual([0, 1]);
    });

    it('gives a useFactory processor what its factory injected', () => {
      const processor = t.app.get<FactoryMadeProcessor>(FACTORY_PROCESSOR);
      expect(processor).toBeInstanceOf(FactoryMadeProcessor);
      expect(processor.customers).toBe(t.app.get(getRepositoryToken(Customer)));
    });

    it('refuses an unknown batch type, listing every registered type, and stores nothing', async () => {
      const before = await batchCount();
      const error = await t.batches.createBatch('unmarked', rows(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownBatchTypeError);
      const unknown = error as UnknownBatchTypeError;
      expect(unknown.context).toEqual({ batchType: 'unmarked', knownTypes: KNOWN_TYPES });
      expect(unknown.message).toContain('"customer_data"');
      expect(unknown.message).toContain('"transaction_feed"');
      expect(unknown.message).toContain(
        `Registered types: ${KNOWN_TYPES.map((type) => `"${type}"`).join(', ')}.`,
      );
      expect(await batchCount()).toBe(before);
    });
  });

  describe('a start that must fail', () => {
    const withProcessors = (
      ...providers: ModuleMetadata['providers'] & object
    ): ModuleMetadata => ({
      imports: [typeorm(database.db.url), ReliableImportsModule.forRoot({})],
      providers,
    });

    @ImportProcessor()
    class InvoiceLineProcessor extends RecordingProcessor {}

    @ImportProcessor('invoice_line')
    class LegacyInvoiceImporter extends RecordingProcessor {}

    @Module({ providers: [LegacyInvoiceImporter] })
    class LegacyModule {}

    it('two processors for one batch type, in two modules: names both classes', async () => {
      const error = await bootstrapError({
        imports: [typeorm(database.db.url), ReliableImportsModule.forRoot({}), LegacyModule],
        providers: [InvoiceLineProcessor],
      });
      expect(error).toBeInstanceOf(DuplicateBatchTypeError);
      const duplicate = error as DuplicateBatchTypeError;
      expect([...duplicate.classNames].sort()).toEqual([
        'InvoiceLineProcessor',
        'LegacyInvoiceImporter',
      ]);
      expect(duplicate.context.batchType).toBe('invoice_line');
      expect(duplicate.message).toContain('"invoice_line"');
      expect(duplicate.message).toContain('InvoiceLineProcessor');
      expect(duplicate.message).toContain('LegacyInvoiceImporter');
    });

    it('a marked class that does not extend BaseProcessor', async () => {
      @ImportProcessor('not_a_processor')
      class CustomerImporter {
        processItem(): void {}
      }
      const error = await bootstrapError(withProcessors(CustomerImporter));
      expect(error).toBeInstanceOf(InvalidProcessorError);
      expect((error as InvalidProcessorError).className).toBe('CustomerImporter');
      expect(error.message).toContain('"BaseProcessor"');
      expect(error.message).toContain('class CustomerImporter extends BaseProcessor');
    });

    it('a request-scoped processor', async () => {
      @Injectable({ scope: Scope.REQUEST })
      @ImportProcessor()
      class PerRequestProcessor extends RecordingProcessor {}
      const error = await bootstrapError(withProcessors(PerRequestProcessor));
      expect(error).toBeInstanceOf(InvalidProcessorError);
      expect((error as InvalidProcessorError).className).toBe('PerRequestProcessor');
      expect(error.message).toContain('request-scoped');
      expect(error.message).toContain('singletons');
    });

    it('a processor that depends on a request-scoped provider', async () => {
      @Injectable({ scope: Scope.REQUEST })
      class CurrentTenant {}

      @ImportProcessor()
      class TenantRowProcessor extends RecordingProcessor {
        constructor(@Inject(CurrentTenant) readonly tenant: CurrentTenant) {
          super();
        }
      }
      const error = await bootstrapError(withProcessors(CurrentTenant, TenantRowProcessor));
      expect(error).toBeInstanceOf(InvalidProcessorError);
      expect((error as InvalidProcessorError).className).toBe('TenantRowProcessor');
      expect(error.message).toContain('request-scoped');
    });

    it('a class name that gives no batch type', async () => {
      @ImportProcessor()
      class Processor extends RecordingProcessor {}
      const error = await bootstrapError(withProcessors(Processor));
      expect(error).toBeInstanceOf(InvalidProcessorError);
      expect(error.message).toContain('Cannot derive a batch type from the class name "Processor"');
    });

    it('an invalid explicit batch type', async () => {
      @ImportProcessor('customer data')
      class SpacedProcessor extends RecordingProcessor {}
      const error = await bootstrapError(withProcessors(SpacedProcessor));
      expect(error).toBeInstanceOf(InvalidProcessorError);
      expect(error.message).toContain('"customer data", which is not valid');
    });

    it('invalid options given to forRoot: every problem in one error', async () => {
      const error = await bootstrapError({
        imports: [
          typeorm(database.db.url),
          ReliableImportsModule.forRoot({
            leaseMs: -1,
            bogus: 1,
          } as unknown as ReliableImportsModuleOptions),
        ],
      });
      expect(error).toBeInstanceOf(InvalidOptionsError);
      const invalid = error as InvalidOptionsError;
      expect(invalid.problems).toHaveLength(2);
      expect(invalid.message).toContain('"bogus" is not an option');
      expect(invalid.message).toContain('leaseMs must be a whole number of milliseconds');
    });

    it('invalid options returned by the forRootAsync factory', async () => {
      const error = await bootstrapError({
        imports: [
          typeorm(database.db.url),
          ReliableImportsModule.forRootAsync({
            useFactory: () =>
              ({ continueOnError: 'sometimes' }) as unknown as ReliableImportsModuleOptions,
          }),
        ],
      });
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.message).toContain('continueOnError must be true or false; got "sometimes"');
    });
  });

  describe('an alias of a processor (useExisting)', () => {
    @ImportProcessor()
    class LedgerEntryProcessor extends RecordingProcessor {}

    const LEDGER_ALIAS = Symbol('LEDGER_ALIAS');

    it('starts, registers the processor once under its one batch type, and runs it', async () => {
      const app = await start({
        imports: [typeorm(database.db.url), ReliableImportsModule.forRoot({})],
        providers: [
          LedgerEntryProcessor,
          { provide: LEDGER_ALIAS, useExisting: LedgerEntryProcessor },
        ],
      });
      try {
        const batches = app.get(BatchService);
        const processor = app.get(LedgerEntryProcessor);
        expect(app.get(LEDGER_ALIAS)).toBe(processor);

        const unknown = await batches.createBatch('unknown', rows(1)).catch((e: unknown) => e);
        expect(unknown).toBeInstanceOf(UnknownBatchTypeError);
        expect((unknown as UnknownBatchTypeError).context.knownTypes).toEqual(['ledger_entry']);

        const summary = await batches.import('ledger_entry', rows(3));
        expect(summary).toMatchObject({ status: 'completed', completedItems: 3 });
        expect(processor.seen).toEqual([0, 1, 2]);
      } finally {
        await app.close();
      }
    });
  });

  describe('forRootAsync', () => {
    const IMPORT_SETTINGS = Symbol('IMPORT_SETTINGS');

    interface ImportSettings {
      stopOnFirstError: boolean;
    }

    @Module({
      providers: [
        { provide: IMPORT_SETTINGS, useValue: { stopOnFirstError: true } satisfies ImportSettings },
      ],
      exports: [IMPORT_SETTINGS],
    })
    class ImportSettingsModule {}

    let t: TestApp | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    it('takes the options from an injected provider: continueOnError false stops the batch', async () => {
      const factory = jest.fn((settings: ImportSettings) => ({
        continueOnError: !settings.stopOnFirstError,
      }));
      t = await createTestApp(database.db.url, [PaymentRowProcessor], {
        reliableImports: ReliableImportsModule.forRootAsync({
          imports: [ImportSettingsModule],
          inject: [IMPORT_SETTINGS],
          useFactory: factory,
        }),
      });
      expect(factory).toHaveBeenCalledWith({ stopOnFirstError: true });

      const summary = await t.batches.import('payment_row', rows(5));
      expect(summary).toMatchObject({
        status: 'failed',
        completedItems: 2,
        failedItems: 1,
        pendingItems: 2,
      });
      const items = await t.batches.getItems(summary.batchId);
      expect(items.map((item) => item.status)).toEqual([
        'completed',
        'completed',
        'failed',
        'pending',
        'pending',
      ]);
    });
  });

  describe('a named data source', () => {
    const imports = useTestDatabase();

    /** Answers which database its item's transaction runs in. */
    @ImportProcessor()
    class WhereAmIProcessor extends BaseProcessor<Row, { database: string }> {
      async processItem(_item: ImportItem<Row>, ctx: ImportContext<Row>) {
        const row = await ctx.queryOne<{ database: string }>(
          'SELECT current_database() AS database',
        );
        return { database: row!.database };
      }
    }

    it.each([
      ['forRoot', () => ReliableImportsModule.forRoot({ dataSource: 'imports' })],
      [
        'forRootAsync',
        () => ReliableImportsModule.forRootAsync({ dataSource: 'imports', useFactory: () => ({}) }),
      ],
    ])(
      'with %s({ dataSource }), stores and processes batches in that data source',
      async (_how, reliableImports) => {
        const app = await start({
          imports: [
            typeorm(database.db.url),
            typeorm(imports.db.url, 'imports'),
            reliableImports(),
          ],
          providers: [WhereAmIProcessor],
        });
        try {
          const batches = app.get(BatchService);
          const defaultSource = app.get<DataSource>(getDataSourceToken());
          const importsSource = app.get<DataSource>(getDataSourceToken('imports'));

          const batch = await batches.createBatch('where_am_i', rows(2));
          const summary = await batches.processBatch(batch.id);
          expect(summary).toMatchObject({ status: 'completed', completedItems: 2 });

          const countIn = async (source: DataSource): Promise<[number, number]> => {
            const [row] = await source.query<{ batches: number; items: number }[]>(
              `SELECT (SELECT count(*) FROM import_batches WHERE id = $1)::int AS batches,
                      (SELECT count(*) FROM import_batch_items WHERE batch_id = $1)::int AS items`,
              [batch.id],
            );
            return [row.batches, row.items];
          };
          expect(await countIn(importsSource)).toEqual([1, 2]);
          expect(await countIn(defaultSource)).toEqual([0, 0]);

          const items = await batches.getItems(batch.id);
          expect(items.map((item) => item.processedData)).toEqual([
            { database: imports.db.name },
            { database: imports.db.name },
          ]);
        } finally {
          await app.close();
        }
      },
    );
  });
});
