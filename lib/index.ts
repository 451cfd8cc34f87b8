export { ReliableImportsModule } from './reliable-imports.module';
export { ImportProcessor } from './decorators/import-processor.decorator';
export { BaseProcessor } from './base-processor';
export { BatchService } from './batch.service';

export type {
  ConnectionPooler,
  ReliableImportsModuleExtras,
  ReliableImportsModuleOptions,
  WorkerOptions,
} from './interfaces/reliable-imports-options.interface';
export type {
  ApplyRetentionOptions,
  PruneImportsOptions,
  PruneLogsOptions,
  PruneLogsReport,
  PruneReport,
  RetentionOptions,
  RetentionPolicy,
  RetentionReport,
} from './interfaces/retention.interface';
export type {
  ScrubPolicy,
  ScrubReport,
  ScrubSourceDataOptions,
} from './interfaces/scrubbing.interface';
export type {
  CancelBatchOptions,
  CreateBatchOptions,
  DryRunOptions,
  ErrorBudget,
  GetItemsFilter,
  GetLogsFilter,
  ImportItemsSource,
  ImportOptions,
  ListBatchesFilter,
  PauseBatchOptions,
  ProcessBatchOptions,
  ResumeBatchOptions,
  CreateReprocessBatchOptions,
  ReprocessBatchOptions,
} from './interfaces/batch-options.interface';
export type { BatchSummary } from './interfaces/batch-summary.interface';
export type {
  DryRunFailure,
  DryRunOutcome,
  DryRunSummary,
  DryRunVerdict,
} from './interfaces/dry-run.interface';
export type { BatchProgress, WatchBatchOptions } from './interfaces/batch-progress.interface';
export type { ImportBatch, JsonObject } from './interfaces/import-batch.interface';
export type { ImportItem, ItemErrorDetails } from './interfaces/import-item.interface';
export type { ImportLogEntry } from './interfaces/import-log.interface';
export type {
  BatchContext,
  ImportContext,
  ImportLogger,
  QueryOptions,
} from './interfaces/import-context.interface';
export type {
  ImportProcessorOptions,
  ItemErrorAction,
  ProcessItemResult,
  ValidationResult,
} from './interfaces/processor.interface';
export {
  RELIABLE_IMPORTS_EVENTS,
  type ImportBatchApprovedEvent,
  type ImportBatchCancelledEvent,
  type ImportBatchCompletedEvent,
  type ImportBatchFailedEvent,
  type ImportBatchPausedEvent,
  type ImportBatchProgressEvent,
  type ImportBatchRejectedEvent,
  type ImportBatchResumedEvent,
  type ImportBatchStartedEvent,
  type ImportRowFailedEvent,
  type ReliableImportsEvent,
  type ReliableImportsEventBase,
  type ReliableImportsEventCounts,
  type ReliableImportsEventMap,
  type ReliableImportsEventName,
} from './events/reliable-imports.events';
export { BATCH_STATUS, ITEM_STATUS, LOG_LEVEL } from './statuses';
export { RELIABLE_IMPORTS_TELEMETRY } from './telemetry/telemetry-names';
export type { BatchStatus, ItemStatus, LogLevel } from './statuses';
export type {
  BatchLineage,
  CorrectItemsOptions,
  CorrectionMode,
  CorrectionsResult,
  ExportFailuresOptions,
  FailedRow,
  GetFailuresFilter,
  ItemCorrection,
  LineageBatch,
  RecoveryFileFormat,
} from './interfaces/recovery.interface';
export { SourceRow, type MalformedLine } from './readers/source-row';
export { readCsv, type ReadCsvOptions } from './readers/read-csv';
export { readJsonl } from './readers/read-jsonl';
export { readCorrections, type ReadCorrectionsOptions } from './readers/read-corrections';
export type { ReaderInput } from './readers/reader-input';

export {
  ReliableImportsError,
  type ReliableImportsErrorCode,
  type ReliableImportsErrorContext,
} from './errors/reliable-imports.error';
export { UnknownBatchTypeError } from './errors/unknown-batch-type.error';
export { BatchNotReprocessableError } from './errors/batch-not-reprocessable.error';
export { BatchStatusConflictError } from './errors/batch-status-conflict.error';
export {
  CorrectionsRefusedError,
  type CorrectionProblem,
} from './errors/corrections-refused.error';
export { DuplicateBatchTypeError } from './errors/duplicate-batch-type.error';
export { IdempotencyConflictError } from './errors/idempotency-conflict.error';
export { ImportBatchNotFoundError } from './errors/import-batch-not-found.error';
export { ImportItemNotFoundError } from './errors/import-item-not-found.error';
export { InvalidArgumentError } from './errors/invalid-argument.error';
export { InvalidOptionsError } from './errors/invalid-options.error';
export { InvalidProcessorError } from './errors/invalid-processor.error';
export { InvalidSourceDataError } from './errors/invalid-source-data.error';
export { InvalidSourceFileError } from './errors/invalid-source-file.error';
export { ItemNotCorrectableError } from './errors/item-not-correctable.error';
export { ItemTimeoutError } from './errors/item-timeout.error';
export { ItemValidationError } from './errors/item-validation.error';
export { LeaseLostError } from './errors/lease-lost.error';
export { RetryableImportError } from './errors/retryable-import.error';
export { RowScrubbedError } from './errors/row-scrubbed.error';
export { ProcessingStoppedError } from './errors/processing-stopped.error';
export { ProcessingInterruptedError } from './errors/processing-interrupted.error';
export { SchemaNotReadyError } from './errors/schema-not-ready.error';

export { ReliableImportsExceptionFilter } from './http/reliable-imports-exception.filter';
export { toHttpException, type ReliableImportsHttpErrorBody } from './http/to-http-exception';

export { ReliableImportsAdminModule } from './admin/reliable-imports-admin.module';
export type { ReliableImportsAdminOptions } from './admin/reliable-imports-admin-options.interface';

export { ImportBatchEntity } from './entities/import-batch.entity';
export { ImportBatchItemEntity } from './entities/import-batch-item.entity';
export { ImportLogEntity } from './entities/import-log.entity';
export { reliableImportsEntities } from './entities';
export {
  reliableImportsMigrations,
  CreateReliableImportsSchema1764000000000,
  AddSourceLines1764200000000,
  AddOperatorControl1764400000000,
  AddScrubbing1764600000000,
  AddTraceContext1764800000000,
  NarrowItemIndexes1765000000000,
} from '../migrations';
