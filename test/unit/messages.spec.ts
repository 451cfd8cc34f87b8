import {
  BatchNotReprocessableError,
  BatchStatusConflictError,
  DuplicateBatchTypeError,
  IdempotencyConflictError,
  ImportBatchNotFoundError,
  InvalidArgumentError,
  ImportItemNotFoundError,
  InvalidOptionsError,
  InvalidProcessorError,
  InvalidSourceDataError,
  InvalidSourceFileError,
  ItemNotCorrectableError,
  ItemValidationError,
  LeaseLostError,
  ReliableImportsError,
  RowScrubbedError,
  UnknownBatchTypeError,
  type ImportItem,
} from '../../lib';
import { MAX_VARCHAR_LENGTH } from '../../lib/reliable-imports.constants';
import { messages } from '../../lib/reliable-imports.messages';
import { cliMessages } from '../../src/cli-messages';

const BATCH_ID = '0b6c1f0e-1111-4000-8000-000000000001';
const ITEM_ID = '0b6c1f0e-2222-4000-8000-000000000002';

/** What every error of the module shares: its class name, a stable code, and the base class. */
function expectModuleError(error: ReliableImportsError, name: string, code: string): void {
  expect(error).toBeInstanceOf(Error);
  expect(error).toBeInstanceOf(ReliableImportsError);
  expect(error.name).toBe(name);
  expect(error.constructor.name).toBe(name);
  expect(error.code).toBe(code);
  expect(error.stack).toContain(name);
}

describe('ReliableImportsError', () => {
  it('carries a code, a context and a cause', () => {
    const cause = new Error('connection reset');
    const error = new ReliableImportsError(
      'PROCESSING_INTERRUPTED',
      'it broke',
      { batchId: BATCH_ID },
      { cause },
    );
    expectModuleError(error, 'ReliableImportsError', 'PROCESSING_INTERRUPTED');
    expect(error.message).toBe('it broke');
    expect(error.context).toEqual({ batchId: BATCH_ID });
    expect(error.cause).toBe(cause);
  });

  it('has an empty context by default', () => {
    expect(new ReliableImportsError('INVALID_ARGUMENT', 'm').context).toEqual({});
  });
});

describe('the messages of the errors', () => {
  it('UnknownBatchTypeError lists the registered types and says how to add one', () => {
    const error = new UnknownBatchTypeError('custmer_data', ['customer_data', 'transaction_feed']);
    expectModuleError(error, 'UnknownBatchTypeError', 'UNKNOWN_BATCH_TYPE');
    expect(error.context).toEqual({
      batchType: 'custmer_data',
      knownTypes: ['customer_data', 'transaction_feed'],
    });
    expect(error.message).toContain('No import processor handles the batch type "custmer_data"');
    expect(error.message).toContain('Registered types: "customer_data", "transaction_feed"');
    expect(error.message).toContain("@ImportProcessor('custmer_data')");
    expect(error.message).toContain("list it in a module's providers");
  });

  it('UnknownBatchTypeError says so when no type is registered at all', () => {
    const error = new UnknownBatchTypeError('customer_data', []);
    expect(error.message).toContain('Registered types: (none)');
    expect(error.context.knownTypes).toEqual([]);
  });

  it('DuplicateBatchTypeError names both classes and how to separate them', () => {
    const error = new DuplicateBatchTypeError('customer_data', [
      'CustomerDataProcessor',
      'LegacyCustomerProcessor',
    ]);
    expectModuleError(error, 'DuplicateBatchTypeError', 'DUPLICATE_BATCH_TYPE');
    expect(error.classNames).toEqual(['CustomerDataProcessor', 'LegacyCustomerProcessor']);
    expect(error.context).toEqual({ batchType: 'customer_data' });
    expect(error.message).toContain(
      'Two import processors handle the batch type "customer_data": "CustomerDataProcessor", "LegacyCustomerProcessor"',
    );
    expect(error.message).toContain("@ImportProcessor('another_type')");
    expect(error.message).toContain('or remove one');
  });

  it('ImportBatchNotFoundError names the id and where ids come from', () => {
    const error = new ImportBatchNotFoundError(BATCH_ID);
    expectModuleError(error, 'ImportBatchNotFoundError', 'BATCH_NOT_FOUND');
    expect(error.context).toEqual({ batchId: BATCH_ID });
    expect(error.message).toContain(`Import batch "${BATCH_ID}" does not exist`);
    expect(error.message).toContain('createBatch');
    expect(error.message).toContain('listBatches');
  });

  it('ImportItemNotFoundError names the id and where ids come from', () => {
    const error = new ImportItemNotFoundError(ITEM_ID);
    expectModuleError(error, 'ImportItemNotFoundError', 'ITEM_NOT_FOUND');
    expect(error.context).toEqual({ itemId: ITEM_ID });
    expect(error.message).toContain(`Import item "${ITEM_ID}" does not exist`);
    expect(error.message).toContain('getItems');
  });

  it('InvalidSourceDataError names the item index and the path, and says nothing was stored', () => {
    const error = new InvalidSourceDataError({
      where: 'a new "customer_data" batch',
      itemIndex: 317,
      path: 'sourceData.address.zip',
      problem: 'is a BigInt, which JSON cannot hold; convert it to a string or a number',
      batchType: 'customer_data',
    });
    expectModuleError(error, 'InvalidSourceDataError', 'INVALID_SOURCE_DATA');
    expect(error.path).toBe('sourceData.address.zip');
    expect(error.problem).toMatch(/is a BigInt/);
    expect(error.context).toEqual({ itemIndex: 317, batchType: 'customer_data' });
    expect(error.message).toBe(
      'Cannot store item 317 of a new "customer_data" batch: sourceData.address.zip is a BigInt, ' +
        'which JSON cannot hold; convert it to a string or a number. ' +
        'Nothing was stored; fix that item and create the batch again.',
    );
  });

  it('InvalidArgumentError names the method, the argument, what it must be and what it got', () => {
    const error = new InvalidArgumentError(
      'listBatches',
      'filter.limit',
      'a whole number from 0 to 100,000',
      NaN,
    );
    expectModuleError(error, 'InvalidArgumentError', 'INVALID_ARGUMENT');
    expect([error.method, error.argument]).toEqual(['listBatches', 'filter.limit']);
    expect(error.message).toBe(
      'Invalid argument to BatchService.listBatches(): filter.limit must be a whole number from 0 to ' +
        '100,000; got NaN. Nothing was read or changed.',
    );
    const shown = (received: unknown) =>
      new InvalidArgumentError('m', 'a', 'x', received).message.match(/got (.*)\. Nothing/)?.[1];
    expect(shown('10')).toBe('"10"');
    expect(shown(['done', 2])).toBe('["done", 2]');
    expect(shown({ a: 1 })).toBe('an object');
    expect(shown(10n)).toBe('10n');
    expect(shown('a\u0000b')).toBe('"a\\u0000b"');
    const { proxy, revoke } = Proxy.revocable([], {});
    revoke();
    expect(shown(proxy)).toBe('a value that cannot be read');
  });

  it('IdempotencyConflictError names the key, the batch that has it, and what to do', () => {
    const error = new IdempotencyConflictError('customers-2024-05', BATCH_ID, 'with other items');
    expectModuleError(error, 'IdempotencyConflictError', 'IDEMPOTENCY_CONFLICT');
    expect(error.idempotencyKey).toBe('customers-2024-05');
    expect(error.context).toEqual({ batchId: BATCH_ID });
    expect(error.message).toContain(
      `The idempotency key "customers-2024-05" was already used for batch "${BATCH_ID}" with other items`,
    );
    expect(error.message).toContain('Use a new key for new content');
    expect(error.message).toContain('pass the same items to get the existing batch back');
  });

  it('LeaseLostError for a whole batch says what happened and that nothing was applied twice', () => {
    const error = LeaseLostError.forBatch(BATCH_ID, 'completed', null);
    expectModuleError(error, 'LeaseLostError', 'LEASE_LOST');
    expect(error.context).toStrictEqual({ batchId: BATCH_ID });
    expect(error.message).toContain(`This run's lease on batch "${BATCH_ID}" expired`);
    expect(error.message).toContain('another worker took the batch over (it is now completed)');
    expect(error.message).toContain('nothing was applied twice');
    expect(error.message).toContain('Raise leaseMs');
  });

  it('BatchNotReprocessableError says why nothing is left, which batch runs, or to finish first', () => {
    const nothing = BatchNotReprocessableError.nothingToReprocess(BATCH_ID);
    expectModuleError(nothing, 'BatchNotReprocessableError', 'BATCH_NOT_REPROCESSABLE');
    expect(nothing.context).toEqual({ batchId: BATCH_ID });
    expect(nothing.message).toContain('has no rows left to reprocess');
    expect(nothing.message).toContain('a completed row is never applied again');
    expect(nothing.message).toContain('import a new batch');

    const busy = BatchNotReprocessableError.reprocessRunning(BATCH_ID, 'child-1', 'processing');
    expect(busy.message).toContain(
      `A reprocess in the tree of batch "${BATCH_ID}" is still running (batch "child-1" is processing)`,
    );
    expect(busy.message).toContain('Wait for it to finish');
    expect(busy.message).toContain('run processBatch("child-1")');

    const running = BatchNotReprocessableError.stillRunning(BATCH_ID, 'processing');
    expectModuleError(running, 'BatchNotReprocessableError', 'BATCH_NOT_REPROCESSABLE');
    expect(running.message).toContain(`Import batch "${BATCH_ID}" is still processing`);
    expect(running.message).toContain(`Run processBatch("${BATCH_ID}") first`);
  });

  it('BatchStatusConflictError of approve and reject names the batch, its status and what to do instead', () => {
    const approved = new BatchStatusConflictError({ id: BATCH_ID, status: 'pending' }, 'approve');
    expectModuleError(approved, 'BatchStatusConflictError', 'BATCH_STATUS_CONFLICT');
    expect(approved.context).toEqual({ batchId: BATCH_ID });
    expect(approved.message).toContain(
      `Cannot approve import batch "${BATCH_ID}": it is pending, not awaiting_approval`,
    );
    expect(approved.message).toContain('approved already');
    const rejected = new BatchStatusConflictError({ id: BATCH_ID, status: 'rejected' }, 'approve');
    expect(rejected.message).toContain('import the rows again');
    const paused = new BatchStatusConflictError({ id: BATCH_ID, status: 'paused' }, 'approve');
    expect(paused.message).toContain(`resumeBatch("${BATCH_ID}")`);
    const running = new BatchStatusConflictError({ id: BATCH_ID, status: 'processing' }, 'reject');
    expect(running.message).toContain(`Cannot reject import batch "${BATCH_ID}": it is processing`);
    expect(running.message).toContain(`cancelBatch("${BATCH_ID}", { reason })`);
    const ended = new BatchStatusConflictError({ id: BATCH_ID, status: 'completed' }, 'reject');
    expect(ended.message).toContain('It has ended already');
  });

  it('BatchStatusConflictError of a dry run says which batches a dry run tries, and what to do', () => {
    const running = new BatchStatusConflictError({ id: BATCH_ID, status: 'processing' }, 'dry-run');
    expectModuleError(running, 'BatchStatusConflictError', 'BATCH_STATUS_CONFLICT');
    expect(running.message).toContain(
      `Cannot dry-run import batch "${BATCH_ID}": it is processing`,
    );
    expect(running.message).toContain('pending, awaiting_approval or paused');
    expect(running.message).toContain(`pause it (pauseBatch("${BATCH_ID}"))`);
    const ended = new BatchStatusConflictError({ id: BATCH_ID, status: 'failed' }, 'dry-run');
    expect(ended.message).toContain('has ended, so no row of it is left to run');
  });

  it('ItemNotCorrectableError names the item, the batch that holds its row, and what to do instead', () => {
    const error = new ItemNotCorrectableError(ITEM_ID, 12, 'completed');
    expectModuleError(error, 'ItemNotCorrectableError', 'ITEM_NOT_CORRECTABLE');
    expect(error.context).toEqual({ itemId: ITEM_ID, itemIndex: 12 });
    expect(error.message).toContain(`Import item "${ITEM_ID}" (index 12) is completed`);
    expect(error.message).toContain('only failed or skipped items can be corrected');
    expect(error.message).toContain('import a new batch to change it');

    const item = { id: ITEM_ID, itemIndex: 12, status: 'failed' } as ImportItem<unknown>;
    const applied = ItemNotCorrectableError.applied(item, 'copy-1', 'batch-2');
    expect(applied.context).toEqual({ itemId: ITEM_ID, itemIndex: 12, batchId: 'batch-2' });
    expect(applied.message).toContain('its row completed in batch "batch-2" (item "copy-1")');
    expect(applied.message).toContain('Import a new batch to change it');

    const held = ItemNotCorrectableError.held(item, 'copy-1', 'batch-2', 'processing');
    expect(held.message).toContain('batch "batch-2" (processing) holds its row (item "copy-1")');
    expect(held.message).toContain('Wait for that batch to finish');

    const older = ItemNotCorrectableError.notNewest(item, 'copy-1', 'batch-2');
    expect(older.message).toContain('is not the newest copy of its row');
    expect(older.message).toContain('Correct that item; the next reprocess uses it');
  });

  it('RowScrubbedError names the row, its line, its batch, when, and what to do', () => {
    const at = new Date('2026-05-01T10:00:00Z');
    const error = new RowScrubbedError('reprocess', BATCH_ID, 4, 6, at, ITEM_ID);
    expectModuleError(error, 'RowScrubbedError', 'ROW_SCRUBBED');
    expect(error.context).toEqual({ batchId: BATCH_ID, itemIndex: 4, itemId: ITEM_ID, line: 6 });
    expect(error.message).toBe(
      `Cannot reprocess row 4 (line 6) of batch ${BATCH_ID}: its personal data was scrubbed on 2026-05-01T10:00:00.000Z (the processor's "scrub" option, or scrubSourceData), so there is no data left to process. Import the row again from its source file as a new batch.`,
    );
    const correct = new RowScrubbedError('correct', BATCH_ID, 0, null, at);
    expect(correct.message).toContain(`Cannot correct row 0 of batch ${BATCH_ID}:`);
    expect(correct.message).toContain('no data left to correct');
    expect(correct.context).not.toHaveProperty('line');
  });

  it('ItemValidationError keeps every reason, in its message too', () => {
    const error = new ItemValidationError(['email is missing', 'last_name is missing'], 7);
    expectModuleError(error, 'ItemValidationError', 'VALIDATION_FAILED');
    expect(error.reasons).toEqual(['email is missing', 'last_name is missing']);
    expect(error.context).toEqual({ itemIndex: 7 });
    expect(error.message).toBe('email is missing; last_name is missing');
  });

  it('LeaseLostError names the item and batch, says the writes were rolled back and the fix', () => {
    const error = new LeaseLostError(BATCH_ID, 42);
    expectModuleError(error, 'LeaseLostError', 'LEASE_LOST');
    expect(error.context).toEqual({ batchId: BATCH_ID, itemIndex: 42 });
    expect(error.message).toContain(`Item 42 of batch "${BATCH_ID}"`);
    expect(error.message).toContain('rolled back');
    expect(error.message).toContain('Raise leaseMs');
  });

  it('InvalidOptionsError lists every problem, one per line', () => {
    const error = new InvalidOptionsError(['"bogus" is not an option', 'leaseMs must be ...']);
    expectModuleError(error, 'InvalidOptionsError', 'INVALID_OPTIONS');
    expect(error.problems).toEqual(['"bogus" is not an option', 'leaseMs must be ...']);
    expect(error.message).toBe(
      'ReliableImportsModule options are invalid:\n' +
        '  - "bogus" is not an option\n' +
        '  - leaseMs must be ...',
    );
  });

  describe('InvalidProcessorError', () => {
    it('for a class that does not extend BaseProcessor, shows the declaration to write', () => {
      const error = InvalidProcessorError.notABaseProcessor('CustomerImporter');
      expectModuleError(error, 'InvalidProcessorError', 'INVALID_PROCESSOR');
      expect(error.className).toBe('CustomerImporter');
      expect(error.message).toContain(
        'Import processor class ("CustomerImporter") should inherit from the abstract "BaseProcessor" class',
      );
      expect(error.message).toContain('class CustomerImporter extends BaseProcessor<YourRow>');
    });

    it('for a request-scoped class, says to make it a singleton', () => {
      const error = InvalidProcessorError.requestScoped('CustomerDataProcessor');
      expectModuleError(error, 'InvalidProcessorError', 'INVALID_PROCESSOR');
      expect(error.message).toContain('("CustomerDataProcessor") is request-scoped');
      expect(error.message).toContain('make it and its dependencies singletons');
    });

    it('for a class name with no batch type in it, says how to name it or pass one', () => {
      const error = InvalidProcessorError.withoutBatchType('Processor');
      expect(error.className).toBe('Processor');
      expect(error.message).toContain('Cannot derive a batch type from the class name "Processor"');
      expect(error.message).toContain("@ImportProcessor('customer_data')");
    });

    it('for an invalid batch type, gives the characters allowed', () => {
      const error = InvalidProcessorError.invalidBatchType('customer data', 'CustomerProcessor');
      expect(error.className).toBe('CustomerProcessor');
      expect(error.message).toContain(
        'Import processor class ("CustomerProcessor") declares the batch type "customer data", which is not valid',
      );
      expect(error.message).toContain('1 to 100 characters of letters, digits');
    });
  });

  it('InvalidArgumentError names a function of the package without BatchService', () => {
    const error = new InvalidArgumentError(
      'readCsv',
      'options.delimiter',
      'one character',
      ';;',
      null,
    );
    expect(error.message).toBe(
      'Invalid argument to readCsv(): options.delimiter must be one character; got ";;". Nothing was read or changed.',
    );
  });

  it('InvalidSourceFileError carries the line, and each reader message says what to do', () => {
    const error = new InvalidSourceFileError(messages.notUtf8(12), 12);
    expectModuleError(error, 'InvalidSourceFileError', 'INVALID_SOURCE_FILE');
    expect(error.context).toEqual({ line: 12 });
    expect(new InvalidSourceFileError(messages.noCsvHeader()).context).toEqual({});
    expect(error.message).toContain('line 12 is not valid UTF-8');
    expect(error.message).toContain('Save the file as UTF-8');
    expect(messages.quoteNotClosed(4)).toContain('the quote opened on line 4 is never closed');
    expect(messages.quoteNotClosed(4)).toContain('Close the quote');
    expect(messages.noCsvHeader()).toContain('names of its columns on its first line');
    expect(messages.unreadableCsvHeader(1, 'text after the closing quote of field 2')).toContain(
      'its header on line 1 is not valid CSV (text after the closing quote of field 2)',
    );
    expect(messages.duplicateCsvColumn(1, 'id', 1, 3)).toContain(
      'names the column "id" twice (columns 1 and 3)',
    );
    expect(messages.duplicateCsvColumn(1, 'id', 1, 3)).toContain('Rename one');
    expect(messages.unnamedCsvColumn(1, 2)).toContain(
      'column 2 of the header on line 1 has no name',
    );
    expect(messages.noCorrectionsKeyColumn(1)).toContain(
      'Export the failures with exportFailures (or `reliable-imports failures <id> --format csv`) and edit that file;',
    );
  });
});

describe('messages that are not errors', () => {
  it('a batch stopped at a failed item says which one and how to recover', () => {
    const message = messages.abortedAfterItem(3, 'three is not allowed');
    expect(message).toContain('Stopped at item 3, which failed: three is not allowed');
    expect(message).toContain('correctItem()');
    expect(message).toContain('reprocess the batch');
  });

  it('a failed batch validation gives every reason', () => {
    expect(messages.batchValidationFailed(['no rows', 'wrong header'])).toBe(
      'Batch validation failed: no rows; wrong header',
    );
  });

  it('items that are not iterable say what is accepted', () => {
    expect(messages.itemsNotIterable('a new "customer_data" batch')).toBe(
      'Cannot create a new "customer_data" batch: the items must be an array, an iterable or an async iterable of objects.',
    );
  });

  it('an option of createBatch that cannot be stored says which, and that nothing was stored', () => {
    expect(
      messages.invalidBatchOption(
        'a new "customer_data" batch',
        'idempotencyKey',
        'contains the character \\u0000, which PostgreSQL cannot store; use printable text',
      ),
    ).toBe(
      'Cannot create a new "customer_data" batch: idempotencyKey contains the character \\u0000, which ' +
        'PostgreSQL cannot store; use printable text. Nothing was stored; fix it and create the batch again.',
    );
  });

  it('a line that is not a line number says what it was and what a line is', () => {
    const message = messages.invalidSourceData(
      'a new "customer_data" batch',
      3,
      'its line',
      messages.badSourceLine(0),
    );
    expect(message).toContain('Cannot store item 3 of a new "customer_data" batch: its line is 0');
    expect(message).toContain('a whole number from 1 to 2147483647');
    expect(messages.badSourceLine('12')).toContain('is "12"');
  });

  it('HTTP answers that withhold the details still say what happened and what to do', () => {
    const stopped = messages.httpTryAgain('PROCESSING_STOPPED', BATCH_ID);
    expect(stopped).toContain(`batch "${BATCH_ID}"`);
    expect(stopped).toContain('shutting down');
    expect(stopped).toContain('Try again in a moment');
    const outage = messages.httpTryAgain('PROCESSING_INTERRUPTED', undefined);
    expect(outage).toContain('database did not answer');
    expect(outage).toContain('Nothing is lost');
    expect(outage).toContain('Try again in a moment');
    expect(messages.httpServerError('LEASE_LOST')).toContain(
      'could not finish this request (LEASE_LOST)',
    );
  });
  it('a schema that is not ready names what is missing, the migrations and three ways to run them', () => {
    const message = messages.schemaNotReady(
      ['column "import_batches"."source_columns"'],
      ['AddSourceLines1764200000000'],
    );
    expect(message).toContain('column "import_batches"."source_columns"');
    expect(message).toContain(
      'Run the migration AddSourceLines1764200000000 (of reliableImportsMigrations)',
    );
    expect(message).toContain('migrationsRun: true');
    expect(message).toContain('npx typeorm migration:run');
    expect(message).toContain('run "reliable-imports migrate" first');
    // The CLI takes a message with these words for a failed connection.
    expect(message).not.toMatch(/does not exist|connect/i);
  });
  it('invalid @ImportProcessor() options name the class, each problem, and where to fix them', () => {
    const message = messages.invalidProcessorOptions('OrderProcessor', [
      '"contineOnError" is not an option (did you mean "continueOnError"?)',
    ]);
    expect(message).toContain('Import processor class ("OrderProcessor")');
    expect(message).toContain(
      '  - "contineOnError" is not an option (did you mean "continueOnError"?)',
    );
    expect(message).toContain('Fix them where "OrderProcessor" is declared.');
  });

  it('an unknown batch type close to a known one asks whether that one was meant', () => {
    expect(messages.unknownBatchType('contacts', ['contact', 'order'])).toContain(
      'No import processor handles the batch type "contacts". Did you mean "contact"? Registered types:',
    );
    expect(messages.unknownBatchType('invoice', ['contact'])).not.toContain('Did you mean');
  });

  it('a result processItem cannot store names the item, the batch, the problem and what to return', () => {
    const message = messages.invalidResult({
      batchId: BATCH_ID,
      itemIndex: 7,
      problem: messages.targetTableTooLong({ max: MAX_VARCHAR_LENGTH }),
    });
    expect(message).toBe(
      `processItem of item 7 of batch "${BATCH_ID}" returned a value that cannot be stored: targetTable ` +
        'is longer than 255 characters. Return plain JSON data (targetTable, targetId, ...).',
    );
  });

  it("an item's log says which item was retried, skipped or failed, and why", () => {
    expect(
      messages.itemRetrying({
        itemIndex: 2,
        attempt: 1,
        maxAttempts: 3,
        reason: 'deadlock detected',
        delayMs: 200,
      }),
    ).toBe('Item 2 attempt 1 of 3 failed: deadlock detected; retrying in 200 ms');
    expect(messages.itemSkipped({ itemIndex: 2, reason: 'a duplicate' })).toBe(
      'Item 2 skipped: a duplicate',
    );
    expect(messages.itemFailedValidation({ itemIndex: 2, reason: 'email is missing' })).toBe(
      'Item 2 failed validation: email is missing',
    );
    expect(messages.itemFailed({ itemIndex: 2, reason: 'boom' })).toBe('Item 2 failed: boom');
    expect(messages.reprocessing({ count: 4, childBatchId: BATCH_ID })).toBe(
      `Reprocessing 4 item(s) in batch ${BATCH_ID}`,
    );
    expect(messages.processingAbandoned({ reason: 'beforeBatch threw' })).toBe(
      'Processing stopped: beforeBatch threw',
    );
  });

  it('what a run or the worker could not do names the batch and the reason', () => {
    const reason = 'Connection terminated';
    expect(messages.leaseRenewalFailed({ batchId: BATCH_ID, reason })).toBe(
      `Could not renew the lease of batch ${BATCH_ID}: ${reason}`,
    );
    expect(messages.cleanupFailed({ batchId: BATCH_ID, reason })).toBe(
      `Could not clean up after batch ${BATCH_ID} stopped: ${reason}`,
    );
    expect(messages.workerCouldNotProcess({ batchId: BATCH_ID, reason })).toBe(
      `The worker could not process batch ${BATCH_ID}: ${reason}`,
    );
    expect(messages.workerCouldNotLook({ reason })).toContain(reason);
    expect(messages.workerStoppedListening({ reason })).toContain('; polling.');
    expect(messages.workerCannotListen({ reason })).toContain('polling.');
  });

  it('a new batch is named with its type and its idempotency key, a correction with its item', () => {
    expect(messages.newBatch({ batchType: 'customer_data', idempotencyKey: null })).toBe(
      'a new "customer_data" batch',
    );
    expect(messages.newBatch({ batchType: 'customer_data', idempotencyKey: 'k1' })).toBe(
      'a new "customer_data" batch (idempotency key "k1")',
    );
    const error = new InvalidSourceDataError({
      where: messages.correctionOf({ itemId: ITEM_ID }),
      itemIndex: 4,
      path: 'sourceData.zip',
      problem: 'is a BigInt, which JSON cannot hold',
      retry: messages.retryCorrection(),
    });
    expect(error.context).toEqual({ itemIndex: 4 });
    expect(error.message).toBe(
      `Cannot store item 4 of the correction of item "${ITEM_ID}": sourceData.zip is a BigInt, which ` +
        'JSON cannot hold. Nothing was stored; fix that item and call correctItem again.',
    );
  });

  it("createBatch's option and column problems say what the value must be", () => {
    expect(messages.idempotencyKeyLength({ got: '300 characters', max: MAX_VARCHAR_LENGTH })).toBe(
      'must be a string of 1 to 255 characters; got 300 characters',
    );
    expect(messages.idempotencyKeyBrokenText()).toContain('use well-formed text');
    expect(messages.optionNotPlainObject({ kind: 'an array' })).toBe(
      'is an array, but it must be a plain object',
    );
    expect(messages.columnsNotList({ kind: 'a string' })).toContain('a list of column names');
    expect(messages.columnNameNotString({ kind: 'a number' })).toBe(
      'is a number, but a column name must be a string',
    );
  });
});

describe('the messages that choose their words', () => {
  it('name a CSV field by its position and, when the header is known, its column', () => {
    expect(messages.csvField({ index: null, name: undefined })).toBe('a field');
    expect(messages.csvField({ index: 2, name: undefined })).toBe('field 3');
    expect(messages.csvField({ index: 2, name: 'email' })).toBe('field 3 ("email")');
    expect(messages.csvFieldCount({ count: 1, expected: 3 })).toBe(
      '1 field where the header has 3',
    );
    expect(messages.csvFieldCount({ count: 4, expected: 3 })).toBe(
      '4 fields where the header has 3',
    );
  });

  it('say a day or an hour in words only when asked', () => {
    expect(messages.expectedMilliseconds({ min: 10, max: 3_600_000 })).toBe(
      'a whole number of milliseconds from 10 to 3600000',
    );
    expect(messages.expectedMilliseconds({ min: 0, max: 3_600_000, named: true })).toBe(
      'a whole number of milliseconds from 0 to 3600000 (an hour)',
    );
    expect(messages.expectedMilliseconds({ min: 100, max: 86_400_000, named: true })).toBe(
      'a whole number of milliseconds from 100 to 86400000 (a day)',
    );
    expect(messages.expectedWholeNumber({ min: 1, max: 100, note: messages.noRetryNote() })).toBe(
      'a whole number from 1 (no retry) to 100',
    );
  });

  it('describe what a value threw, an Error or not, cut to 200 characters', () => {
    expect(messages.jsonUnreadable({ thrown: new TypeError('no') })).toBe(
      'could not be read: reading it threw TypeError: no',
    );
    expect(messages.jsonUnreadable({ thrown: 42 })).toBe(
      'could not be read: reading it threw the value 42',
    );
    expect(messages.jsonUnreadable({ thrown: 'x'.repeat(300) })).toBe(
      `could not be read: reading it threw the value ${'x'.repeat(190)}…`,
    );
    expect(messages.jsonUnreadable({ thrown: Object.create(null) })).toBe(
      'could not be read: reading it threw a value that cannot be described',
    );
  });

  it('name what a key holds that PostgreSQL refuses, and the path of the columns', () => {
    expect(messages.jsonBadKey({ problem: 'nul' })).toBe(
      'is a key containing \\u0000, which PostgreSQL cannot store',
    );
    expect(messages.jsonBadKey({ problem: 'surrogate' })).toContain('an unpaired UTF-16 surrogate');
    expect(messages.columnsPath()).toBe('its columns');
    expect(messages.columnsPath({ index: 2 })).toBe('its columns[2]');
  });

  it("add a line's text to a failed row's reasons only when it has one", () => {
    expect(messages.failureReasons({ reasons: ['a', 'b'], rawLine: null })).toBe('a; b');
    expect(messages.failureReasons({ reasons: ['bad quote'], rawLine: 'x,"y' })).toBe(
      'bad quote Its text: x,"y',
    );
  });

  it('give the audit text of a correction as the parts around the index SQL writes', () => {
    const { before, after } = messages.itemCorrected();
    expect(`${before}7${after}`).toBe('Item 7 corrected');
  });
});

describe('the messages of the command-line tool', () => {
  it('say why a file has no rows by its format', () => {
    expect(cliMessages.noRows({ path: 'a.csv', format: 'csv' })).toBe(
      'a.csv has no rows to import: it has a header line and no rows below it. Add the rows and ' +
        'import it again; nothing was stored.',
    );
    expect(cliMessages.noRows({ path: 'a.jsonl', format: 'jsonl' })).toContain(
      'it has only blank lines',
    );
  });

  it('name a corrected item by its line, or by its index when it has none', () => {
    const common = { itemIndex: 4, batchId: 'b1', command: 'reliable-imports reprocess b1' };
    expect(cliMessages.correctedItem({ ...common, sourceLine: 12 })).toBe(
      'Corrected line 12 of batch b1; run "reliable-imports reprocess b1" to apply it.',
    );
    expect(cliMessages.correctedItem({ ...common, sourceLine: null })).toContain(
      'Corrected item 4 of batch b1',
    );
    expect(
      cliMessages.correctedRows({ corrected: 3, unchanged: 1, rootBatchId: 'b1', command: 'x' }),
    ).toBe('Corrected 3 row(s) of b1 (1 given back unchanged); run "x" to apply them.');
  });

  it("count a tree batch's rows, pending ones only when there are some", () => {
    const batch = { totalItems: 1, completedItems: 1, failedItems: 0, skippedItems: 0 };
    expect(cliMessages.treeBatch({ ...batch, pendingItems: 0 })).toBe(
      '1 row: 1 completed, 0 failed, 0 skipped',
    );
    expect(cliMessages.treeBatch({ ...batch, totalItems: 3, pendingItems: 2 })).toBe(
      '3 rows: 1 completed, 0 failed, 0 skipped, 2 pending',
    );
  });

  it('say which migrations ran, or that there were none, and which export a module lacks', () => {
    expect(cliMessages.migrated({ ran: ['A1', 'B2'] })).toBe('Ran A1, B2');
    expect(cliMessages.migrated({ ran: [] })).toBe('The schema is up to date.');
    expect(cliMessages.noNestModule({ file: 'm.js', exportName: 'M' })).toContain(
      'has no export "M"',
    );
    expect(cliMessages.noNestModule({ file: 'm.js', exportName: undefined })).toContain(
      '--module m.js#YourModule',
    );
  });

  it('of retention say what was removed, what stays, and what to do next', () => {
    expect(
      messages.retentionApplied({
        batches: { batches: 3, items: 120, slices: 2 },
        logs: { logs: 40 },
      }),
    ).toBe(
      'Retention removed 3 ended batch(es) with 120 row(s) in 2 slice(s), and 40 old log entr(ies).',
    );
    expect(messages.retentionWithoutWorker()).toContain('call BatchService.applyRetention()');
    expect(messages.retentionFailed({ reason: 'connection lost' })).toContain(
      'tries again at its next interval',
    );
    expect(messages.expectedEndedStatuses({ values: ['completed', 'failed'] })).toContain(
      'a batch that may still run is never removed',
    );
    expect(cliMessages.pruned({ dryRun: true, batches: 2, logs: 0 })).toBe(
      'Dry run: nothing was removed. A prune now would remove 2 batch(es).',
    );
    expect(cliMessages.prunedKeptUnresolved({ trees: 1 })).toContain('--include-unresolved');
    expect(cliMessages.pruneNeedsAge()).toContain('--older-than DAYS');
    expect(cliMessages.retentionBusy()).toContain('nothing was done');
  });
});
