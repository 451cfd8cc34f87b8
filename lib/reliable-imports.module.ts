import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { BatchService } from './batch.service';
import { ImportEventPublisher } from './events/import-event-publisher';
import { ImportProcessorMetadataAccessor } from './import-processor-metadata.accessor';
import { ImportProcessorExplorer } from './import-processor.explorer';
import { ImportProcessorRegistry } from './import-processor.registry';
import { ReliableImportsSchemaChecker } from './reliable-imports-schema.checker';
import { BatchApproval } from './processing/batch-approval';
import { BatchCreator } from './processing/batch-creator';
import { DryRunner } from './processing/dry-run';
import { BatchRunner } from './processing/batch-runner';
import { BatchWorker } from './processing/batch-worker';
import { BatchStore } from './processing/batch-store';
import { CorrectionWriter } from './processing/correction-writer';
import { TreeReader } from './processing/tree-reader';
import { ProgressReader } from './processing/progress-reader';
import { DatabaseAdapter } from './processing/database-adapter';
import { ItemStore } from './processing/item-store';
import { ItemRunner } from './processing/item-runner';
import { ImportTelemetry } from './telemetry/import-telemetry';
import type { ResolvedReliableImportsOptions } from './interfaces/reliable-imports-options.interface';
import { ImportPruner } from './processing/import-pruner';
import { ImportScrubber } from './processing/import-scrubber';
import { RetentionRunner } from './processing/retention-runner';
import { RELIABLE_IMPORTS_DATA_SOURCE, RESOLVED_OPTIONS } from './reliable-imports.constants';
import {
  ConfigurableModuleClass,
  OPTIONS_TYPE,
  RAW_OPTIONS,
} from './reliable-imports.module-definition';
import { resolveOptions } from './utils/resolve-options.util';

/**
 * Reliable data imports on the application's PostgreSQL. Import it once, with `forRoot()` or
 * `forRootAsync()`, after `TypeOrmModule.forRoot()`; then inject `BatchService` and mark processors with
 * `@ImportProcessor()`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    { provide: RESOLVED_OPTIONS, useFactory: resolveOptions, inject: [RAW_OPTIONS] },
    {
      provide: DatabaseAdapter,
      useFactory: (dataSource: DataSource, options: ResolvedReliableImportsOptions) =>
        new DatabaseAdapter(dataSource, options),
      inject: [RELIABLE_IMPORTS_DATA_SOURCE, RESOLVED_OPTIONS],
    },
    ImportProcessorMetadataAccessor,
    ImportProcessorRegistry,
    ImportProcessorExplorer,
    ImportEventPublisher,
    CorrectionWriter,
    ReliableImportsSchemaChecker,
    BatchStore,
    TreeReader,
    ProgressReader,
    BatchCreator,
    ItemStore,
    ItemRunner,
    ImportTelemetry,
    BatchRunner,
    BatchWorker,
    BatchApproval,
    DryRunner,
    ImportPruner,
    ImportScrubber,
    RetentionRunner,
    BatchService,
  ],
  exports: [BatchService],
})
export class ReliableImportsModule extends ConfigurableModuleClass {
  /** Registers the module; with no argument every option takes its default. */
  static forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }
}
