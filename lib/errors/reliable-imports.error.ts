/** Context carried by every module error, for logs and for code that handles errors. */
export interface ReliableImportsErrorContext {
  batchId?: string;
  itemId?: string;
  itemIndex?: number;
  batchType?: string;
  knownTypes?: readonly string[];
  /** A line of a source file, from 1 as an editor shows it (the header of a CSV file is line 1). */
  line?: number;
}

/**
 * Every `code` the module's errors carry, each stable across versions. Branch on it rather than on the
 * message: a `switch` over it is checked by the compiler.
 */
export type ReliableImportsErrorCode =
  // Not found
  | 'BATCH_NOT_FOUND' // ImportBatchNotFoundError
  | 'ITEM_NOT_FOUND' // ImportItemNotFoundError
  // Invalid input to a call
  | 'UNKNOWN_BATCH_TYPE' // UnknownBatchTypeError
  | 'INVALID_SOURCE_DATA' // InvalidSourceDataError
  | 'INVALID_SOURCE_FILE' // InvalidSourceFileError
  | 'INVALID_BATCH_OPTIONS' // createBatch/import: metadata, idempotencyKey, or items not iterable
  | 'INVALID_ARGUMENT' // InvalidArgumentError
  | 'CORRECTIONS_REFUSED' // CorrectionsRefusedError
  | 'INVALID_CONCURRENCY' // processBatch/import: the concurrency option
  | 'INVALID_COMMIT_EVERY' // processBatch/import: the commitEvery option
  | 'INVALID_ITEM_TIMEOUT' // processBatch/import: the itemTimeoutMs option
  // Conflict with the stored state
  | 'IDEMPOTENCY_CONFLICT' // IdempotencyConflictError
  | 'ITEM_NOT_CORRECTABLE' // ItemNotCorrectableError
  | 'BATCH_NOT_REPROCESSABLE' // BatchNotReprocessableError
  | 'BATCH_STATUS_CONFLICT' // BatchStatusConflictError: pause, resume or cancel refused by the status
  | 'ROW_SCRUBBED' // RowScrubbedError: a correction or reprocess of a row whose data was scrubbed
  // A run that stopped before the end
  | 'PROCESSING_INTERRUPTED' // ProcessingInterruptedError
  | 'PROCESSING_STOPPED' // ProcessingStoppedError
  | 'LEASE_LOST' // LeaseLostError: another run took the item or batch over
  // Set-up of the application
  | 'INVALID_OPTIONS' // InvalidOptionsError
  | 'INVALID_PROCESSOR' // InvalidProcessorError
  | 'DUPLICATE_BATCH_TYPE' // DuplicateBatchTypeError
  | 'SCHEMA_NOT_READY' // SchemaNotReadyError
  // The failure of one item, stored with it
  | 'VALIDATION_FAILED' // ItemValidationError
  | 'ITEM_TIMEOUT' // ItemTimeoutError
  | 'RETRYABLE' // RetryableImportError
  | 'INVALID_RESULT'; // processItem returned a value that cannot be stored

/**
 * Base class of every error the module throws. `code` is stable across versions and safe to branch on;
 * the message is for people.
 */
export class ReliableImportsError extends Error {
  constructor(
    /** A stable, machine-readable code such as `BATCH_NOT_FOUND`. */
    readonly code: ReliableImportsErrorCode,
    message: string,
    /** Where the error happened. */
    readonly context: ReliableImportsErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
