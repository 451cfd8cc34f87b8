import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as publicApi from '../../lib';
import { ImportProcessorMetadataAccessor } from '../../lib/import-processor-metadata.accessor';
import { ImportProcessorExplorer } from '../../lib/import-processor.explorer';
import { ImportProcessorRegistry } from '../../lib/import-processor.registry';
import { BatchCreator } from '../../lib/processing/batch-creator';
import { BatchRunner } from '../../lib/processing/batch-runner';
import { BatchStore } from '../../lib/processing/batch-store';
import { DatabaseAdapter } from '../../lib/processing/database-adapter';
import { ItemStore } from '../../lib/processing/item-store';
import { ItemRunner } from '../../lib/processing/item-runner';
import { ImportEventPublisher } from '../../lib/events/import-event-publisher';
import { ImportTelemetry } from '../../lib/telemetry/import-telemetry';
import {
  IMPORT_PROCESSOR_METADATA,
  RELIABLE_IMPORTS_DATA_SOURCE,
  RESOLVED_OPTIONS,
} from '../../lib/reliable-imports.constants';
import { RAW_OPTIONS } from '../../lib/reliable-imports.module-definition';
import { messages } from '../../lib/reliable-imports.messages';
import { batchTypeFromClassName } from '../../lib/utils/batch-type-name.util';
import { resolveOptions } from '../../lib/utils/resolve-options.util';
import { serializeSourceData } from '../../lib/utils/source-data.util';
import { parseJson } from '../../lib/utils/parse-json.util';
import { CsvCellParser } from '../../lib/readers/csv-cells';
import { CsvRecordSplitter } from '../../lib/readers/csv-record-splitter';
import { chunksOf } from '../../lib/readers/reader-input';
import { metaColumnNames, protectCell, unprotectCell } from '../../lib/readers/spreadsheet-cells';
import { utf8LineBlocks } from '../../lib/readers/utf8-line-blocks';

/**
 * The runtime exports of `lib/index.ts`. Adding one is a decision about the public API: update this list
 * on purpose, never to make the test pass.
 */
const PUBLIC_EXPORTS = [
  'AddOperatorControl1764400000000',
  'AddScrubbing1764600000000',
  'AddSourceLines1764200000000',
  'AddTraceContext1764800000000',
  'BATCH_STATUS',
  'BaseProcessor',
  'BatchNotReprocessableError',
  'BatchService',
  'BatchStatusConflictError',
  'CorrectionsRefusedError',
  'CreateReliableImportsSchema1764000000000',
  'DuplicateBatchTypeError',
  'ITEM_STATUS',
  'IdempotencyConflictError',
  'ImportBatchEntity',
  'ImportBatchItemEntity',
  'ImportBatchNotFoundError',
  'ImportItemNotFoundError',
  'ImportLogEntity',
  'ImportProcessor',
  'InvalidArgumentError',
  'InvalidOptionsError',
  'InvalidProcessorError',
  'InvalidSourceDataError',
  'InvalidSourceFileError',
  'ItemNotCorrectableError',
  'ItemTimeoutError',
  'ItemValidationError',
  'LOG_LEVEL',
  'LeaseLostError',
  'NarrowItemIndexes1765000000000',
  'ProcessingInterruptedError',
  'ProcessingStoppedError',
  'RELIABLE_IMPORTS_EVENTS',
  'RELIABLE_IMPORTS_TELEMETRY',
  'ReliableImportsAdminModule',
  'ReliableImportsError',
  'ReliableImportsExceptionFilter',
  'ReliableImportsModule',
  'RetryableImportError',
  'RowScrubbedError',
  'SchemaNotReadyError',
  'SourceRow',
  'UnknownBatchTypeError',
  'readCorrections',
  'readCsv',
  'readJsonl',
  'reliableImportsEntities',
  'reliableImportsMigrations',
  'toHttpException',
];

const INTERNALS: Record<string, unknown> = {
  ImportProcessorExplorer,
  ImportProcessorRegistry,
  ImportProcessorMetadataAccessor,
  ItemRunner,
  ImportTelemetry,
  ImportEventPublisher,
  BatchRunner,
  BatchStore,
  BatchCreator,
  ItemStore,
  DatabaseAdapter,
  RESOLVED_OPTIONS,
  RELIABLE_IMPORTS_DATA_SOURCE,
  IMPORT_PROCESSOR_METADATA,
  RAW_OPTIONS,
  resolveOptions,
  messages,
  batchTypeFromClassName,
  serializeSourceData,
  parseJson,
  CsvCellParser,
  CsvRecordSplitter,
  chunksOf,
  utf8LineBlocks,
  protectCell,
  unprotectCell,
  metaColumnNames,
};

describe('the public API (lib/index.ts)', () => {
  const exported = publicApi as unknown as Record<string, unknown>;

  it('exports exactly the public names', () => {
    expect(Object.keys(exported).sort()).toEqual(PUBLIC_EXPORTS);
  });

  it('exports the same names when loaded with require', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- what a CommonJS user gets
    const required = require('../../lib') as Record<string, unknown>;
    expect(Object.keys(required).sort()).toEqual(PUBLIC_EXPORTS);
  });

  it.each(Object.keys(INTERNALS))('keeps %s internal', (name) => {
    expect(Object.keys(exported)).not.toContain(name);
    expect(Object.values(exported)).not.toContain(INTERNALS[name]);
  });

  it('exports no undefined value (a re-export of a type-only or missing symbol)', () => {
    for (const name of PUBLIC_EXPORTS)
      expect([name, exported[name]]).not.toEqual([name, undefined]);
  });

  it('exports every error class of lib/errors, each extending ReliableImportsError', () => {
    const errorClasses = readdirSync(join(__dirname, '../../lib/errors'))
      .filter((file) => file.endsWith('.error.ts'))
      .map((file) =>
        file
          .replace(/\.error\.ts$/, '-error')
          .split('-')
          .map((word) => word[0].toUpperCase() + word.slice(1))
          .join(''),
      );
    expect(errorClasses).toContain('UnknownBatchTypeError');
    for (const name of errorClasses) {
      const errorClass = exported[name];
      expect([name, typeof errorClass]).toEqual([name, 'function']);
      if (name !== 'ReliableImportsError') {
        expect([name, (errorClass as { prototype: object }).prototype]).toEqual([
          name,
          expect.any(publicApi.ReliableImportsError),
        ]);
      }
    }
  });

  it('exports the migrations in order and the entities as lists', () => {
    expect(publicApi.reliableImportsMigrations).toEqual([
      publicApi.CreateReliableImportsSchema1764000000000,
      publicApi.AddSourceLines1764200000000,
      publicApi.AddOperatorControl1764400000000,
      publicApi.AddScrubbing1764600000000,
      publicApi.AddTraceContext1764800000000,
      publicApi.NarrowItemIndexes1765000000000,
    ]);
    expect(publicApi.reliableImportsEntities).toEqual([
      publicApi.ImportBatchEntity,
      publicApi.ImportBatchItemEntity,
      publicApi.ImportLogEntity,
    ]);
  });

  it('exports WorkerOptions, the type of the worker option (checked by the compiler)', () => {
    const worker: publicApi.WorkerOptions = { enabled: true, concurrency: 2, pollIntervalMs: 500 };
    const options: publicApi.ReliableImportsModuleOptions = { worker };
    const sameType: Required<publicApi.ReliableImportsModuleOptions>['worker'] = worker;
    expect(options.worker).toBe(sameType);
  });

  it('exports ConnectionPooler, the type of the connectionPooler option (checked by the compiler)', () => {
    const pooler: publicApi.ConnectionPooler = 'transaction';
    const options: publicApi.ReliableImportsModuleOptions = { connectionPooler: pooler };
    expect(options.connectionPooler).toBe('transaction');
  });

  it('exports RetentionOptions and RetentionPolicy, the types of the retention options (checked by the compiler)', () => {
    const policy: publicApi.RetentionPolicy = { completedDays: 7, includeUnresolved: true };
    const retention: publicApi.RetentionOptions = { ...policy, intervalMs: 60_000, sliceSize: 10 };
    const options: publicApi.ReliableImportsModuleOptions = { retention };
    const prune: publicApi.PruneImportsOptions = { olderThan: new Date(), dryRun: true };
    expect([options.retention, prune.dryRun]).toEqual([retention, true]);
  });

  it('exports ScrubPolicy and ScrubSourceDataOptions, the types of scrubbing (checked by the compiler)', () => {
    const scrub: publicApi.ScrubPolicy = { afterDays: 30, keepFields: ['country'] };
    const processor: publicApi.ImportProcessorOptions = { scrub };
    const call: publicApi.ScrubSourceDataOptions = { olderThan: new Date(), dryRun: true };
    expect([processor.scrub, call.dryRun]).toEqual([scrub, true]);
  });

  it('exports ReliableImportsErrorCode, the type of every error code (checked by the compiler)', () => {
    const code: publicApi.ReliableImportsErrorCode = new publicApi.ImportBatchNotFoundError('b')
      .code;
    expect(code).toBe('BATCH_NOT_FOUND');
  });

  it('gives the module forRoot and forRootAsync', () => {
    expect(typeof publicApi.ReliableImportsModule.forRoot).toBe('function');
    expect(typeof publicApi.ReliableImportsModule.forRootAsync).toBe('function');
  });
});
