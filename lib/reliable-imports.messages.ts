import { BATCH_STATUS, isEndedBatch, type BatchStatus } from './statuses';
import { nearestName } from './utils/nearest-name.util';

/** An operator's control of a batch. */
export type BatchControl = 'pause' | 'resume' | 'cancel' | 'approve' | 'reject' | 'dry-run';

const CONTROL_PAST: Record<'pause' | 'resume' | 'cancel', string> = {
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled',
};

/** Names as messages quote them: `"a", "b"`, or `(none)`. */
const list = (items: readonly string[]): string =>
  items.length === 0 ? '(none)' : items.map((item) => `"${item}"`).join(', ');

/** A value as a short code literal, for messages: `NaN`, `"10"`, `["done"]`. Never throws. */
function describeReceived(value: unknown): string {
  try {
    const text = Array.isArray(value)
      ? `[${value.slice(0, 5).map(describeScalar).join(', ')}${value.length > 5 ? ', …' : ''}]`
      : describeScalar(value);
    return text.length > 100 ? `${text.slice(0, 100)}…` : text;
  } catch {
    // A Proxy can refuse to be read.
    return 'a value that cannot be read';
  }
}

function describeScalar(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' && value !== null ? 'an object' : String(value);
}

/** What was thrown, in a few words; never throws itself (a thrown Proxy can refuse to be read too). */
function describeThrown(thrown: unknown): string {
  try {
    const text =
      thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : `the value ${String(thrown)}`;
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return 'a value that cannot be described';
  }
}

const MILLISECONDS_IN_WORDS: Record<number, string> = { 86_400_000: 'a day', 3_600_000: 'an hour' };

/**
 * Every message the module shows a user, in one place. Each says what failed, where, and what to do.
 */
export const messages = {
  invalidOptions: (problems: readonly string[]): string =>
    `ReliableImportsModule options are invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`,

  dataSourceNotFound: (name: string | undefined): string =>
    name === undefined
      ? `there is no default TypeORM data source; import TypeOrmModule.forRoot({ ... }) in the application, ` +
        `or pass the name of yours: forRoot({ dataSource: 'name' })`
      : `dataSource is "${name}", but no TypeORM data source has that name; register it with ` +
        `TypeOrmModule.forRoot({ name: '${name}', ... }) or fix the name`,

  // No "does not exist" nor "connect" here: the CLI takes those for a connection failure.
  schemaNotReady: (missing: readonly string[], migrations: readonly string[]): string =>
    `The database lacks what nestjs-reliable-imports needs: ${missing.join(', ')}. Run the ` +
    `migration${migrations.length === 1 ? '' : 's'} ${migrations.join(', ')} (of reliableImportsMigrations) ` +
    `before the application starts: list them in the TypeORM options (migrations: ` +
    `[...reliableImportsMigrations]) with migrationsRun: true, or run "npx typeorm migration:run -d ` +
    `<your data source file>"; with this package's command-line tool, run "reliable-imports migrate" first.`,

  notABaseProcessor: (className: string): string =>
    `Import processor class ("${className}") should inherit from the abstract "BaseProcessor" class. ` +
    `Declare it as "class ${className} extends BaseProcessor<YourRow> { ... }".`,

  requestScopedProcessor: (className: string): string =>
    `Import processor class ("${className}") is request-scoped (or depends on a request-scoped provider). ` +
    `Processors run outside any request: make it and its dependencies singletons (the default scope).`,

  processorWithoutBatchType: (className: string): string =>
    `Cannot derive a batch type from the class name "${className}". ` +
    `Name the class after its data (e.g. "CustomerDataProcessor" for "customer_data") or pass one: ` +
    `@ImportProcessor('customer_data').`,

  invalidBatchTypeName: (batchType: string, className: string): string =>
    `Import processor class ("${className}") declares the batch type "${batchType}", which is not valid. ` +
    `A batch type is 1 to 100 characters of letters, digits, "_", "-", "." or ":".`,

  duplicateBatchType: (batchType: string, classNames: readonly string[]): string =>
    new Set(classNames).size === 1
      ? `The import processor class "${classNames[0]}" (batch type "${batchType}") is listed in the ` +
        `providers of more than one module, so it would run twice. List it in one module's providers ` +
        `and export it from there.`
      : `Two import processors handle the batch type "${batchType}": ${list(classNames)}. ` +
        `Give one of them another type with @ImportProcessor('another_type'), or remove one.`,

  processorsRegistered: (
    processors: ReadonlyArray<{ batchType: string; className: string }>,
  ): string =>
    `Reliable imports: ${processors.length} batch type${processors.length === 1 ? '' : 's'}: ` +
    processors.map((p) => `${p.batchType} (${p.className})`).join(', '),

  noProcessorRegistered: (): string =>
    `Reliable imports: no batch type is registered, so every createBatch will be refused. Mark a class ` +
    `that extends BaseProcessor with @ImportProcessor() and list it in the providers of a module of the ` +
    `application.`,

  unknownBatchType: (batchType: string, knownTypes: readonly string[]): string => {
    const meant = nearestName(batchType, knownTypes);
    return (
      `No import processor handles the batch type "${batchType}". ` +
      `${meant === undefined ? '' : `Did you mean "${meant}"? `}Registered types: ${list(knownTypes)}. ` +
      `Mark a provider with @ImportProcessor('${batchType}') and list it in a module's providers.`
    );
  },

  batchNotFound: (batchId: string): string =>
    `Import batch "${batchId}" does not exist. ` +
    `Check the id (a uuid returned by createBatch or shown by listBatches).`,

  itemNotFound: (itemId: string): string =>
    `Import item "${itemId}" does not exist. Check the id (a uuid shown by getItems).`,

  invalidSourceData: (
    where: string,
    itemIndex: number,
    path: string,
    problem: string,
    retry = 'create the batch again',
  ): string =>
    `Cannot store item ${itemIndex} of ${where}: ${path} ${problem}. ` +
    `Nothing was stored; fix that item and ${retry}.`,

  /** The correction `correctItem` was given, as the messages about it name it. */
  correctionOf: ({ itemId }: { itemId: string }): string => `the correction of item "${itemId}"`,

  retryCorrection: (): string => 'call correctItem again',

  /** `received` is shown as code would write it: `NaN`, `'10'`, `[ 'done' ]`. */
  invalidArgument: (
    method: string,
    argument: string,
    expected: string,
    received: unknown,
    owner: string | null = 'BatchService',
  ): string =>
    `Invalid argument to ${owner === null ? '' : `${owner}.`}${method}(): ${argument} must be ${expected}; got ` +
    `${describeReceived(received)}. Nothing was read or changed.`,

  /** The batch `createBatch` would create, as the messages about it name it. */
  newBatch: ({
    batchType,
    idempotencyKey,
  }: {
    batchType: string;
    idempotencyKey: string | null;
  }): string =>
    `a new "${batchType}" batch${idempotencyKey === null ? '' : ` (idempotency key "${idempotencyKey}")`}`,

  /** `kind` is the kind of value received: "null", "an array", "a string"... */
  optionNotPlainObject: ({ kind }: { kind: string }): string =>
    `is ${kind}, but it must be a plain object`,

  /** `got` is the length of a string ("300 characters") or the kind of another value ("a number"). */
  idempotencyKeyLength: ({ got, max }: { got: string; max: number }): string =>
    `must be a string of 1 to ${max} characters; got ${got}`,

  idempotencyKeyNul: (): string =>
    'contains the character \\u0000, which PostgreSQL cannot store; use printable text',

  idempotencyKeyBrokenText: (): string =>
    'contains an unpaired UTF-16 surrogate (broken text, e.g. an emoji cut in half), which ' +
    'PostgreSQL cannot store as it is; use well-formed text',

  columnsNotList: ({ kind }: { kind: string }): string =>
    `are ${kind}, but they must be a list of column names (strings)`,

  columnNameNotString: ({ kind }: { kind: string }): string =>
    `is ${kind}, but a column name must be a string`,

  invalidBatchOption: (where: string, option: string, problem: string): string =>
    `Cannot create ${where}: ${option} ${problem}. Nothing was stored; fix it and create the batch again.`,

  itemsNotIterable: (where: string): string =>
    `Cannot create ${where}: the items must be an array, an iterable or an async iterable of objects.`,

  idempotencyConflict: (key: string, existingBatchId: string, why: string): string =>
    `The idempotency key "${key}" was already used for batch "${existingBatchId}" ${why}. ` +
    `Use a new key for new content, or pass the same items to get the existing batch back.`,

  onlyUnreadLines: (batchId: string, lines: number): string =>
    `Import batch "${batchId}" has nothing to reprocess yet: the ${lines} row(s) left are lines of the ` +
    `source file that could not be read, and they have no data to process until they are corrected. ` +
    `Export them (exportFailures, or "reliable-imports failures ${batchId} --format csv -o fix.csv"), ` +
    `fix them, and reprocess with the corrections.`,

  nothingToReprocess: (batchId: string): string =>
    `Import batch "${batchId}" has no rows left to reprocess: each of its rows completed, in this batch ` +
    `or in a reprocess of it, and a completed row is never applied again. To change rows that were ` +
    `applied, import a new batch.`,

  reprocessRunning: (batchId: string, runningId: string, status: string): string =>
    `A reprocess in the tree of batch "${batchId}" is still running (batch "${runningId}" is ${status}) ` +
    `and holds its rows. Wait for it to finish (or run processBatch("${runningId}") to finish it), then ` +
    `reprocess what is still failed.`,

  batchStillRunning: (batchId: string, status: string): string =>
    `Import batch "${batchId}" is still ${status}; only a finished batch can be reprocessed. ` +
    (status === BATCH_STATUS.paused
      ? `Resume it (resumeBatch("${batchId}")) to go on with it, or cancel it (cancelBatch("${batchId}")) ` +
        `and then reprocess its rows.`
      : status === BATCH_STATUS.awaitingApproval
        ? `Approve it (approveBatch("${batchId}")) to run it, or reject it.`
        : `Run processBatch("${batchId}") first, or wait for the worker processing it.`),

  itemNotCorrectable: (itemId: string, itemIndex: number, status: string): string =>
    `Import item "${itemId}" (index ${itemIndex}) is ${status}; only failed or skipped items can be ` +
    `corrected (and rows a stop left pending). A completed item was applied already: import a new batch ` +
    `to change it.`,

  rowAlreadyApplied: (itemId: string, itemIndex: number, copyId: string, batchId: string): string =>
    `Import item "${itemId}" (index ${itemIndex}) cannot be corrected: its row completed in batch ` +
    `"${batchId}" (item "${copyId}"), so it was applied already and no reprocess would use a correction. ` +
    `Import a new batch to change it.`,

  rowHeldByRun: (
    itemId: string,
    itemIndex: number,
    copyId: string,
    batchId: string,
    batchStatus: string,
  ): string =>
    `Import item "${itemId}" (index ${itemIndex}) cannot be corrected now: batch "${batchId}" ` +
    `(${batchStatus}) holds its row (item "${copyId}") and runs it with the data it has. Wait for that ` +
    `batch to finish; if the row fails there, correct item "${copyId}". Or pause the batch ` +
    `(pauseBatch("${batchId}")): a pending row of a paused batch can be corrected, and runs with its ` +
    `correction when the batch is resumed.`,

  notNewestCopy: (itemId: string, itemIndex: number, copyId: string, batchId: string): string =>
    `Import item "${itemId}" (index ${itemIndex}) is not the newest copy of its row: a reprocess copied ` +
    `it to item "${copyId}" of batch "${batchId}". Correct that item; the next reprocess uses it.`,

  itemTimedOut: (batchId: string, itemIndex: number, timeoutMs: number): string =>
    `Item ${itemIndex} of batch "${batchId}" did not finish within ${timeoutMs} ms (itemTimeoutMs); its ` +
    `transaction was rolled back. Make processItem settle sooner (pass ctx.signal to long calls), or ` +
    `raise itemTimeoutMs for this processor or run, then reprocess the batch.`,

  invalidProcessorOptions: (className: string, problems: readonly string[]): string =>
    `Import processor class ("${className}") has invalid @ImportProcessor() options:\n` +
    `${problems.map((p) => `  - ${p}`).join('\n')}\n` +
    `Fix them where "${className}" is declared.`,

  leaseLost: (batchId: string, itemIndex: number): string =>
    `Item ${itemIndex} of batch "${batchId}" was claimed by another worker after this worker's lease ` +
    `expired; this worker's writes were rolled back. Raise leaseMs if items take longer than the lease.`,

  batchLeaseLost: (batchId: string, status: string, lockedBy: string | null): string =>
    `This run's lease on batch "${batchId}" expired (the process was paused or too busy to renew it) and ` +
    `another worker took the batch over (it is now ${status}${lockedBy ? `, held by ${lockedBy}` : ''}). ` +
    `What this run had not committed was rolled back; nothing was applied twice. Raise leaseMs if the ` +
    `process can stall longer than the lease.`,

  processingStopped: (batchId: string): string =>
    `Processing of batch "${batchId}" stopped because the application is shutting down. The items not ` +
    `finished were given back; run processBatch("${batchId}") again to finish the batch.`,

  processingInterrupted: (batchId: string, reason: string): string =>
    `Processing of batch "${batchId}" was interrupted by a database error: ${reason}. Nothing is lost and ` +
    `the batch is not failed: it is still "${BATCH_STATUS.processing}", and the items not finished are pending again (at ` +
    `once, or when their lease runs out if the database did not answer). Process the batch again once the ` +
    `database answers, or let a worker pick it up.`,

  concurrencyOnPGlite: (requested: number): string =>
    `concurrency ${requested} was asked for, but PGlite has a single connection: processing one item at ` +
    `a time. Use PostgreSQL (DATABASE_URL) to process items concurrently.`,

  /** `batchId` is null for the batch that `import()` would create: nothing is created then. */
  invalidProcessOption: (
    batchId: string | null,
    option: string,
    expected: string,
    value: unknown,
  ): string =>
    `Cannot process ${batchId === null ? 'a new batch (nothing was stored)' : `batch "${batchId}"`}: ` +
    `${option} must be ${expected}; got ${String(value)}.`,

  notUtf8: (line: number): string =>
    `Cannot read the file: line ${line} is not valid UTF-8 (the file may be Latin-1 or Windows-1252), and ` +
    `decoding it anyway would change its text unseen. Save the file as UTF-8 and read it again.`,

  quoteNotClosed: (line: number): string =>
    `Cannot read the file: the quote opened on line ${line} is never closed, so the rest of the file would ` +
    `be one field. Close the quote (a quote inside a quoted field is doubled: "a ""b"" c") and read the ` +
    `file again.`,

  noCsvHeader: (): string =>
    `Cannot read the file: it is empty (no header and no rows). A CSV file needs the names of its columns ` +
    `on its first line and a row on each line after it; add them and read the file again.`,

  unreadableCsvHeader: (line: number, reason: string): string =>
    `Cannot read the file: its header on line ${line} is not valid CSV (${reason}). Fix the header and ` +
    `read the file again.`,

  duplicateCsvColumn: (line: number, name: string, first: number, second: number): string =>
    `Cannot read the file: the header on line ${line} names the column "${name}" twice (columns ${first} ` +
    `and ${second}), so every row would lose one of the two. Rename one and read the file again.`,

  unnamedCsvColumn: (line: number, position: number): string =>
    `Cannot read the file: column ${position} of the header on line ${line} has no name, so its cells ` +
    `would be stored under an empty key. Name the column (or delete it) and read the file again.`,

  noCorrectionsKeyColumn: (line: number): string =>
    `Cannot read the corrections file: its header on line ${line} has neither an "_item_id" nor a "_line" ` +
    `column, so no row can be matched to a failed row. Export the failures with exportFailures (or ` +
    `\`reliable-imports failures <id> --format csv\`) and edit that file; if a spreadsheet saved it with ` +
    `another separator (";"), give that delimiter (\`--delimiter ';'\`).`,
  httpTryAgain: (code: string, batchId: string | undefined): string =>
    code === 'PROCESSING_STOPPED'
      ? `The server is shutting down and stopped processing${batchId ? ` batch "${batchId}"` : ''} ` +
        `(${code}). Nothing is lost: the rows not finished were given back. Try again in a moment.`
      : `The database did not answer while processing${batchId ? ` batch "${batchId}"` : ''} (${code}). ` +
        `Nothing is lost: the rows not finished are pending again. Try again in a moment.`,

  httpServerError: (code: string): string =>
    `The server could not finish this request (${code}). Nothing is lost; try again later, or ask the ` +
    `server's operator, whose log has the details.`,

  batchValidationFailed: (reasons: readonly string[]): string =>
    `Batch validation failed: ${reasons.join('; ')}`,

  itemValidationFailed: (reasons: readonly string[]): string => reasons.join('; '),

  /** The reason of a failed row stored without one (by a version that could store none). */
  failedWithoutReason: (): string => 'failed',

  abortedAfterItem: (itemIndex: number, reason: string): string =>
    `Stopped at item ${itemIndex}, which failed: ${reason}. ` +
    `Fix it with correctItem() and reprocess the batch; the items after it were not processed.`,

  /** `received` is the value given as a row's line (of a `SourceRow`, or of a correction). */
  badSourceLine: (received: unknown): string =>
    `is ${describeReceived(received)}, but a line must be a whole number from 1 to 2147483647 (lines ` +
    `are counted from 1, as an editor shows them)`,

  malformedLine: (line: number, reason: string, textKept: boolean): string =>
    `Line ${line} could not be read as a row: ${reason}. Correct the row ` +
    `(${textKept ? 'its text is kept with it' : 'what could be read of it is kept, with U+FFFD in place of what could not'}) and reprocess.`,

  correctionsRefused: (
    batchId: string,
    problems: ReadonlyArray<{ line: number; at: 'line' | 'entry'; message: string }>,
    count: number,
  ): string => {
    const shown = problems
      .slice(0, 20)
      .map((problem) => `${problem.at} ${problem.line}: ${problem.message}`);
    const more = count > shown.length ? `; and ${count - shown.length} more` : '';
    return (
      `The corrections for batch "${batchId}" were refused, and none was applied: ${count} problem(s): ` +
      `${shown.join('; ')}${more}. Fix these lines and give the corrections again.`
    );
  },

  correctionUnknownItem: (itemId: string, rootId: string): string =>
    `no row of batch "${rootId}" or of its reprocesses has the item id "${itemId}"`,

  correctionUnknownLine: (line: number, rootId: string): string =>
    `no row of batch "${rootId}" came from line ${line} of its file`,

  correctionAmbiguousLine: (line: number): string =>
    `several rows came from line ${line}; give the row's item id instead`,

  correctionNoReference: (): string => 'it names no row: give an item id or a line',

  correctionTwice: (firstLine: number, at: string): string =>
    `it corrects the same row as ${at} ${firstLine}; keep one of the two`,

  correctionApplied: (batchId: string): string =>
    `its row completed already (in batch "${batchId}"), so no reprocess would use a correction`,

  correctionHeld: (batchId: string, status: string): string =>
    `its row is being processed by batch "${batchId}" (${status}); wait for it to end, or pause it ` +
    `(a pending row of a paused batch can be corrected)`,

  correctionNotObject: (): string => 'its data must be an object of field names and values',

  invalidResult: ({
    batchId,
    itemIndex,
    problem,
  }: {
    batchId: string;
    itemIndex: number;
    problem: string;
  }): string =>
    `processItem of item ${itemIndex} of batch "${batchId}" returned a value that cannot be ` +
    `stored: ${problem}. Return plain JSON data (targetTable, targetId, ...).`,

  targetTableTooLong: ({ max }: { max: number }): string =>
    `targetTable is longer than ${max} characters`,

  // What an item's log says of it: stored with the item, shown by getLogs and the CLI.
  itemRetrying: ({
    itemIndex,
    attempt,
    maxAttempts,
    reason,
    delayMs,
  }: {
    itemIndex: number;
    attempt: number;
    maxAttempts: number;
    reason: string;
    delayMs: number;
  }): string =>
    `Item ${itemIndex} attempt ${attempt} of ${maxAttempts} failed: ${reason}; ` +
    `retrying in ${delayMs} ms`,

  itemSkipped: ({ itemIndex, reason }: { itemIndex: number; reason: string }): string =>
    `Item ${itemIndex} skipped: ${reason}`,

  itemFailedValidation: ({ itemIndex, reason }: { itemIndex: number; reason: string }): string =>
    `Item ${itemIndex} failed validation: ${reason}`,

  itemFailed: ({ itemIndex, reason }: { itemIndex: number; reason: string }): string =>
    `Item ${itemIndex} failed: ${reason}`,

  reprocessing: ({ count, childBatchId }: { count: number; childBatchId: string }): string =>
    `Reprocessing ${count} item(s) in batch ${childBatchId}`,

  /** Why a batch failed when a hook threw or the database failed for good. */
  processingAbandoned: ({ reason }: { reason: string }): string => `Processing stopped: ${reason}`,

  // The application's log (Nest's Logger): what a run or the worker could not do, and tries again.
  leaseRenewalFailed: ({ batchId, reason }: { batchId: string; reason: string }): string =>
    `Could not renew the lease of batch ${batchId}: ${reason}`,

  cleanupFailed: ({ batchId, reason }: { batchId: string; reason: string }): string =>
    `Could not clean up after batch ${batchId} stopped: ${reason}`,

  workerCouldNotProcess: ({ batchId, reason }: { batchId: string; reason: string }): string =>
    `The worker could not process batch ${batchId}: ${reason}`,

  workerCouldNotLook: ({ reason }: { reason: string }): string =>
    `The worker could not look for batches: ${reason}`,

  workerStoppedListening: ({ reason }: { reason: string }): string =>
    `The worker stopped listening for new batches: ${reason}; polling.`,

  workerCannotListen: ({ reason }: { reason: string }): string =>
    `The worker cannot listen for new batches (${reason}); polling.`,

  notificationsDoNotArrive: ({
    waitedMs,
    polling,
  }: {
    waitedMs: number;
    polling: string;
  }): string =>
    `LISTEN/NOTIFY does not reach this instance: a notification sent through the pool did not arrive ` +
    `within ${waitedMs} ms on the connection that listens for it, as behind a pooler in transaction mode ` +
    `(PgBouncer's pool_mode = transaction), which lends a server connection for one transaction only. ` +
    `${polling} Fix: set connectionPooler: 'transaction' in ReliableImportsModule.forRoot() to say so ` +
    `(this check and this warning are then skipped), or connect the application to PostgreSQL directly ` +
    `or through a pool in session mode to be woken at once.`,

  preparedStatementsOff: ({ code }: { code: string }): string =>
    `A prepared statement was not on the server connection that ran it (SQLSTATE ${code}), as behind a ` +
    `pooler in transaction mode that cannot carry prepared statements (PgBouncer before 1.21), or as after ` +
    `a DEALLOCATE ALL or DISCARD ALL on that connection: this process runs its statements unprepared from ` +
    `now on, and ran that one again. Fix: behind such a pooler, set connectionPooler: 'transaction' (or ` +
    `preparedStatements: false) in ReliableImportsModule.forRoot() to say so, or set ` +
    `max_prepared_statements in PgBouncer 1.21 or later to keep them; otherwise, find what deallocates ` +
    `the connection's statements (a processor's DISCARD ALL, a pool's reset query).`,

  preparedTextsTooMany: ({ max }: { max: number }): string =>
    `More than ${max} distinct SQL texts were asked to run prepared (ctx.query(sql, params, { prepare: ` +
    `true })); each is kept as a prepared statement on every connection of the pool, so the texts past ` +
    `the first ${max} run unprepared. Fix: a text that changes from row to row has its values written ` +
    `into it: pass them in params ($1, $2, ...) so that the text stays the same, or leave prepare out ` +
    `for it.`,

  notificationsOff: ({ polling }: { polling: string }): string =>
    `connectionPooler is 'transaction': no LISTEN/NOTIFY. ${polling}`,

  /** What the module does without notifications, as both messages above say it. */
  pollingInstead: ({
    pollIntervalMs,
    worker,
  }: {
    pollIntervalMs: number;
    worker: boolean;
  }): string =>
    (worker ? `The worker looks for batches every ${pollIntervalMs} ms; ` : '') +
    `events reach only the listeners of the instance that emits them (a pause or a cancel reaches ` +
    `the runs of other instances at their next claim).`,

  retentionApplied: ({
    batches,
    logs,
  }: {
    batches: { batches: number; items: number; slices: number };
    logs: { logs: number };
  }): string =>
    `Retention removed ${batches.batches} ended batch(es) with ${batches.items} row(s) in ${batches.slices} slice(s), and ${logs.logs} old log entr(ies).`,

  retentionWithoutWorker: (): string =>
    'Retention is configured but the worker is off (worker.enabled): nothing removes old batches on its own. Enable the worker, or call BatchService.applyRetention() (or run "reliable-imports prune") on a schedule of yours.',

  retentionFailed: ({ reason }: { reason: string }): string =>
    `Retention could not remove old batches: ${reason}; it tries again at its next interval.`,

  expectedFieldNames: (): string => "a list of field names, e.g. ['country', 'plan']",

  scrubWithoutDays: (): string =>
    "scrub.afterDays is required: the days after which the rows' personal data is scrubbed, e.g. { afterDays: 30 }",

  scrubbedText: (): string => '[scrubbed: personal data removed]',

  scrubbedLogMessage: (): string =>
    '[scrubbed: this entry of a row whose personal data was removed may have quoted it]',

  scrubApplied: ({
    rows,
    trees,
    slices,
  }: {
    rows: number;
    trees: number;
    slices: number;
  }): string =>
    `Scrubbing removed the personal data of ${rows} row(s) in ${trees} tree(s) of batches, in ${slices} slice(s).`,

  rowScrubbed: ({
    action,
    batchId,
    itemIndex,
    sourceLine,
    scrubbedAt,
  }: {
    action: 'correct' | 'reprocess';
    batchId: string;
    itemIndex: number;
    sourceLine: number | null;
    scrubbedAt: Date;
  }): string =>
    `Cannot ${action} row ${itemIndex}${sourceLine === null ? '' : ` (line ${sourceLine})`} of batch ${batchId}: its personal data was scrubbed on ${scrubbedAt.toISOString()} (the processor's "scrub" option, or scrubSourceData), so there is no data left to ${action === 'correct' ? 'correct' : 'process'}. Import the row again from its source file as a new batch.`,

  correctionScrubbed: ({ batchId, scrubbedAt }: { batchId: string; scrubbedAt: Date }): string =>
    `its personal data was scrubbed on ${scrubbedAt.toISOString()} (batch ${batchId}): it cannot be corrected; import the row again from its source file as a new batch`,

  // Why a value cannot be stored as JSON (jsonb): each follows the value's path, e.g. "sourceData.tags[2]".
  /** `kind` is "undefined", "null", "an array", "a string"... */
  itemNotPlainObject: ({ kind }: { kind: string }): string =>
    `is ${kind}, but an item must be a plain object (one row)`,

  /** `kind` is "an array" or "not an object". */
  itemNotObjectAfterToJson: ({ kind }: { kind: string }): string =>
    `is ${kind} once its toJSON() is applied, but an item must be a plain object (one row)`,

  jsonTooLarge: ({ bytes, limit }: { bytes: number; limit: number }): string =>
    `is ${bytes.toLocaleString('en-US')} bytes of JSON, over the limit of ` +
    `${limit.toLocaleString('en-US')} bytes (16 MiB) a value may have; split it into ` +
    `smaller rows, or store the large content elsewhere and keep a reference to it`,

  jsonStackOverflow: ({ maxDepth }: { maxDepth: number }): string =>
    `is nested too deeply to be read (the call stack overflowed); keep it within ${maxDepth} levels`,

  /** `thrown` is what a getter, a Proxy trap or a `toJSON` threw. */
  jsonUnreadable: ({ thrown }: { thrown: unknown }): string =>
    `could not be read: reading it threw ${describeThrown(thrown)}`,

  jsonInvalidDate: (): string => 'is an invalid Date, which JSON stores as null',

  jsonNul: (): string => 'contains the character \\u0000, which PostgreSQL cannot store in JSON',

  jsonBrokenText: (): string =>
    'contains an unpaired UTF-16 surrogate (broken text), which PostgreSQL cannot store in JSON',

  /** `value` is NaN, Infinity or -Infinity. */
  jsonNotFinite: ({ value }: { value: number }): string =>
    `is ${value}, which JSON cannot hold (it would become null)`,

  jsonBigInt: (): string =>
    'is a BigInt, which JSON cannot hold; convert it to a string or a number',

  jsonUndefined: (): string =>
    'is undefined, which JSON cannot hold; use null or leave the key out',

  /** `kind` is "a function" or "a symbol". */
  jsonCannotHold: ({ kind }: { kind: string }): string => `is ${kind}, which JSON cannot hold`,

  jsonCycle: (): string =>
    'refers back to an object that contains it (a cycle), which JSON cannot hold',

  jsonTooDeep: ({ maxDepth }: { maxDepth: number }): string =>
    `is nested more than ${maxDepth} levels deep, more than the module stores; flatten it`,

  jsonBadKey: ({ problem }: { problem: 'nul' | 'surrogate' }): string =>
    `is a key containing ${problem === 'nul' ? '\\u0000' : 'an unpaired UTF-16 surrogate'}, which PostgreSQL cannot store`,

  /** `kind` is "Map" or "Set" (the class's name). */
  jsonMapOrSet: ({ kind }: { kind: string }): string =>
    `is a ${kind}, which JSON stores as {}; convert it (Object.fromEntries(map), [...set])`,

  // What a log's details become when they cannot be stored (`{ unstorableDetails }`).
  detailsTooLong: ({ length, limit }: { length: number; limit: number }): string =>
    `details is ${length} characters of JSON, over the limit of ${limit}`,

  detailsUnstorableText: (): string => 'details hold text PostgreSQL cannot store',

  detailsUnreadable: ({ reason }: { reason: string }): string =>
    `details could not be read: ${reason}`,

  // Markers in stored text, where a value could not be written as it was.
  /** `kind` is "object", "symbol"...: a value whose `String()` threw. */
  unprintable: ({ kind }: { kind: string }): string => `[unprintable ${kind}]`,

  /** Follows the part of a text that was kept. */
  textCut: ({ more }: { more: number }): string => `… [cut: ${more} more characters]`,

  /** A value thrown that is not an Error, as the Error made of it says. */
  nonErrorThrown: ({ text }: { text: string }): string => `Non-error thrown: ${text}`,

  /** Ends a list of validation reasons cut to fit the details. */
  reasonsCut: ({ more }: { more: number }): string => `… [cut: ${more} more reasons]`,

  /** The reason of an item whose validateItem returned false. */
  validationFailed: (): string => 'validation failed',

  /** A failed row's reasons, and the text of its line when it could not be read. */
  failureReasons: ({
    reasons,
    rawLine,
  }: {
    reasons: readonly string[];
    rawLine: string | null;
  }): string =>
    rawLine === null ? reasons.join('; ') : `${reasons.join('; ')} Its text: ${rawLine}`,

  // The paths messages name a value by, before what is wrong with it.
  resultPath: (): string => 'the result of processItem',

  sourceLinePath: (): string => 'its line',

  /** `index` names one column name; left out, the list. */
  columnsPath: ({ index }: { index?: number } = {}): string =>
    index === undefined ? 'its columns' : `its columns[${index}]`,

  /** Why an idempotency key cannot bring back its batch: the batch has another type... */
  idempotencyOtherType: ({ batchType }: { batchType: string }): string =>
    `with the batch type "${batchType}"`,

  /** ...or other items. */
  idempotencyOtherItems: (): string => 'with other items',

  correctionNotAnObject: (): string => 'it is not a correction object ({ itemId or line, data })',

  /** `problem` is `badSourceLine`'s. */
  correctionBadLine: ({ problem }: { problem: string }): string => `its line ${problem}`,

  // What an argument or an option must be, as messages say it after "must be".
  expectedString: (): string => 'a string',
  expectedDays: ({ min, max }: { min: number; max: number }): string =>
    `a whole number of days from ${min} to ${max}`,

  expectedDate: (): string => 'a valid Date (the moment before which trees ended)',

  /** `values`: the ended statuses, the only ones `pruneImports` may remove. */
  expectedEndedStatuses: ({ values }: { values: readonly string[] }): string =>
    `one or a non-empty list of the ended statuses ${values.map((v) => `"${v}"`).join(', ')} (a batch that may still run is never removed)`,

  expectedBatchTypes: (): string => 'a non-empty list of batch types (strings)',

  expectedBoolean: (): string => 'true or false',

  expectedObject: (): string => 'an object',

  /** An option that may be left out. */
  orLeftOut: ({ expected }: { expected: string }): string => `${expected} (or left out)`,

  /** One of a few values: `"csv" or "jsonl"`. */
  expectedOneOf: ({ values }: { values: readonly string[] }): string =>
    values.map((value) => `"${value}"`).join(' or '),

  /** A value of a list, or a list of them (statuses, levels). */
  expectedAmong: ({ values }: { values: readonly string[] }): string =>
    `one of ${values.map((value) => `"${value}"`).join(', ')}, or a list of them`,

  expectedPageLimit: ({ max }: { max: number }): string =>
    `a whole number from 0 to ${max.toLocaleString('en-US')}`,

  expectedPageOffset: (): string => 'a whole number, 0 or more',

  expectedCorrections: (): string => 'an array, an iterable or an async iterable of corrections',

  expectedDelimiter: (): string => 'one character other than a quote or a line ending',

  /** `note` follows the lowest value: " (no retry)". */
  expectedWholeNumber: ({
    min,
    max,
    note = '',
  }: {
    min: number;
    max: number;
    note?: string;
  }): string => `a whole number from ${min}${note} to ${max}`,

  /** `named`: the highest value is said in words too, "86400000 (a day)" (for a day or an hour). */
  expectedMilliseconds: ({
    min,
    max,
    named = false,
  }: {
    min: number;
    max: number;
    named?: boolean;
  }): string => {
    const words = named ? MILLISECONDS_IN_WORDS[max] : undefined;
    return `a whole number of milliseconds from ${min} to ${max}${words ? ` (${words})` : ''}`;
  },

  noRetryNote: (): string => ' (no retry)',

  transactionPerItemNote: (): string => ' (a transaction per item)',

  // The module's and the processors' options, as `invalidOptions` and `invalidProcessorOptions` list them.
  /** `got` is the value as the user wrote it. */
  optionMustBe: ({ expected, got }: { expected: string; got: string }): string =>
    `must be ${expected}; got ${got}`,

  optionMustBeObject: ({ example, got }: { example: string; got: string }): string =>
    `must be an object such as ${example}; got ${got}`,

  workerRunConcurrency: ({ got }: { got: string }): string =>
    `is worker.concurrency: set it there instead (worker: { concurrency: ${got} })`,

  /** `prefix` is the group's path with its dot ("worker."), empty at the top. */
  unknownOption: ({
    prefix,
    key,
    meant,
    known,
  }: {
    prefix: string;
    key: string;
    meant: string | undefined;
    known: readonly string[];
  }): string =>
    `"${prefix}${key}" is not an option${meant ? ` (did you mean "${prefix}${meant}"?)` : ''}; ` +
    `the options${prefix ? ` of ${prefix.slice(0, -1)}` : ''} are: ${known.join(', ')}`,

  /** `kind` is "an array", "a string"... */
  optionsNotObject: ({ kind }: { kind: string }): string =>
    `the options must be an object, e.g. forRoot({ continueOnError: true }); got ${kind}`,

  retryDelaysInverted: ({
    maxRetryDelayMs,
    retryDelayMs,
  }: {
    maxRetryDelayMs: number;
    retryDelayMs: number;
  }): string =>
    `maxRetryDelayMs (${maxRetryDelayMs}) must not be below retryDelayMs (${retryDelayMs}); raise it or lower retryDelayMs`,

  processorArgumentNotObject: ({ got }: { got: string }): string =>
    `the argument must be a batch type or an object such as { batchType: 'orders' }; got ${got}`,

  processorBatchTypeNotString: ({ got }: { got: string }): string =>
    `must be a string such as "customer_data"; got ${got}`,

  // Why a line of a file is not a row (stored with the failed row) or a correction cannot be used.
  /** `reason` is the JSON parser's. */
  invalidJsonLine: ({ reason }: { reason: string }): string => `invalid JSON: ${reason}`,

  lineNotJsonObject: (): string => 'the line is not a JSON object',

  csvLineNotOneRow: (): string => 'the line could not be read as one row',

  /** `field` is `csvField`'s. */
  csvQuoteInsideField: ({ field }: { field: string }): string =>
    `a quote inside ${field}, which is not quoted (quote the whole field and double its quotes)`,

  csvTextAfterClosingQuote: ({ field }: { field: string }): string =>
    `text after the closing quote of ${field}`,

  /** A field by its position from 0 and its column's name; either may be unknown. */
  csvField: ({ index, name }: { index: number | null; name: string | undefined }): string =>
    index === null
      ? 'a field'
      : name === undefined
        ? `field ${index + 1}`
        : `field ${index + 1} ("${name}")`,

  csvFieldCount: ({ count, expected }: { count: number; expected: number }): string =>
    `${count} ${count === 1 ? 'field' : 'fields'} where the header has ${expected}`,

  /** `kind` is the `typeof` of the chunk. */
  readerChunkNotBytes: ({ kind }: { kind: string }): string =>
    `a reader's input must yield Buffers or strings; got ${kind}`,

  correctionLineNotNumber: ({ column, text }: { column: string; text: string }): string =>
    `the ${column} cell is "${text}", which is not a line number`,

  correctionCellsEmpty: ({
    itemIdColumn,
    lineColumn,
  }: {
    itemIdColumn: string;
    lineColumn: string;
  }): string =>
    `the ${itemIdColumn} and ${lineColumn} cells are both empty, so the row names no failed row`,

  /** `got` is the value as JSON, or "nothing". */
  correctionItemIdNotString: ({ got }: { got: string }): string =>
    `"itemId" must be the id of an item (a string); got ${got}`,

  correctionLineNotNumberJson: ({ got }: { got: string }): string =>
    `"line" must be a line number; got ${got}`,

  correctionNamesNoRow: (): string =>
    'the line has neither "itemId" nor "line", so it names no failed row',

  correctionDataNotObject: ({ got }: { got: string }): string =>
    `"data" must be an object; got ${got}`,

  /** The audit entry of a corrected row, written by SQL around the row's index: "Item 7 corrected". */
  itemCorrected: (): { before: string; after: string } => ({
    before: 'Item ',
    after: ' corrected',
  }),

  // Operator control: pause, resume, cancel (and error budgets, which pause).
  expectedRate: (): string => 'a number from 0 to 1 (0.1 is 10%)',

  /** `budget` is what was spent: "10 failures", or "10%". */
  budgetSpent: ({
    failed,
    processed,
    budget,
  }: {
    failed: number;
    processed: number;
    budget: string;
  }): string =>
    `stopped: ${failed} of ${processed} rows failed (budget ${budget}). The rows not processed are ` +
    `still pending: correct the failed rows (exportFailures, correctItems), then resumeBatch to go on ` +
    `(the corrected rows go again); or cancel the batch.`,

  budgetFailures: (maxFailures: number): string =>
    `${maxFailures} failure${maxFailures === 1 ? '' : 's'}`,

  batchStatusConflict: (batchId: string, status: BatchStatus, control: BatchControl): string =>
    control === 'approve'
      ? messages.cannotApprove(batchId, status)
      : control === 'reject'
        ? messages.cannotReject(batchId, status)
        : control === 'dry-run'
          ? messages.cannotDryRun(batchId, status)
          : `Import batch "${batchId}" is ${status}: it cannot be ${CONTROL_PAST[control]}. ` +
            (status === BATCH_STATUS.awaitingApproval
              ? `Approve it first (approveBatch("${batchId}")), or reject it.`
              : control === 'resume'
                ? `Only a paused batch can be resumed; to run its rows again, reprocess it (reprocessBatch("${batchId}")).`
                : `It has ended; to run rows that did not complete, reprocess it (reprocessBatch("${batchId}")).`),

  batchCancelled: (reason: string | null): string =>
    reason === null ? 'cancelled by an operator' : `cancelled: ${reason}`,

  batchPausedLog: (reason: string | null): string =>
    reason === null ? 'Batch paused by an operator' : `Batch paused: ${reason}`,

  batchResumedLog: (requeued: number): string =>
    requeued === 0
      ? 'Batch resumed'
      : `Batch resumed; ${requeued} corrected row(s) that had failed go again`,

  batchCancelledLog: (reason: string, cancelled: number): string =>
    `Batch ${reason}; ${cancelled} row(s) that no run took are cancelled`,

  // Events (issue 13, item 5): publishing in this instance and to the others.
  eventsLocalOnly: ({ reason }: { reason: string }): string =>
    `Events of nestjs-reliable-imports reach only the listeners of this instance: it cannot hear other instances' (${reason}).`,

  eventsOneConnection: (): string => 'one connection (PGlite)',

  eventsStoppedListening: ({ reason, retryMs }: { reason: string; retryMs: number }): string =>
    `Stopped hearing the events of other instances (${reason}); listening again in ${retryMs} ms.`,

  eventListenerFailed: ({ event, reason }: { event: string; reason: string }): string =>
    `A listener of "${event}" threw (the import goes on): ${reason}`,

  eventsNotSent: ({ count, reason }: { count: number; reason: string }): string =>
    `Could not send ${count} event(s) to other instances (they were delivered in this one): ${reason}`,

  eventsDropped: ({ count }: { count: number }): string =>
    `Dropped ${count} event(s) for other instances: the database did not take them as fast as they came.`,

  eventUnreadable: ({ reason }: { reason: string }): string =>
    `Ignored a notification on the events channel that is no event of the module: ${reason}`,

  // Errors of the module's own making, which may reach a log: the first closes the connection of every
  // item that timed out (its transaction is given up); the others only a bug of the module throws.
  transactionGivenUp: (): string => 'Transaction given up by nestjs-reliable-imports',

  notAFixedWord: ({ word }: { word: string }): string => `Not a fixed word of the module: ${word}`,

  runEndingUndecided: ({ batchId }: { batchId: string }): string =>
    `Run of batch ${batchId} could not decide its ending`,

  // Approval and dry runs (issue #13, part 3).
  /** `status` is the batch's, which is not awaiting approval. */
  cannotApprove: (batchId: string, status: BatchStatus): string =>
    `Cannot approve import batch "${batchId}": it is ${status}, not ${BATCH_STATUS.awaitingApproval}. ` +
    (status === BATCH_STATUS.rejected
      ? 'It was rejected, which ends it: import the rows again (as a new batch) to run them.'
      : isEndedBatch(status)
        ? 'It has ended: nothing is left to approve.'
        : status === BATCH_STATUS.paused
          ? `It was approved already (or needed no approval) and is paused: resume it with resumeBatch("${batchId}").`
          : 'It was approved already (or needed no approval), and runs as any batch does: nothing to do.'),

  cannotReject: (batchId: string, status: BatchStatus): string =>
    `Cannot reject import batch "${batchId}": it is ${status}, not ${BATCH_STATUS.awaitingApproval} ` +
    '(only a batch that waits for approval can be rejected). ' +
    (isEndedBatch(status)
      ? 'It has ended already: nothing was changed.'
      : `It was approved already (or needed no approval): to stop it, cancel it with cancelBatch("${batchId}", { reason }).`),

  /** The audit entry of an approval. */
  batchApproved: (): string => 'Batch approved: the runs may take it now',

  /** The audit entry of a rejection; `reason` is the operator's. */
  batchRejected: ({ reason }: { reason: string }): string =>
    `Batch rejected, its pending rows cancelled (none was processed): ${reason}`,

  /** The reason stored when `rejectBatch` is given none. */
  rejectedWithoutReason: (): string => 'rejected by an operator',

  cannotDryRun: (batchId: string, status: BatchStatus): string =>
    `Cannot dry-run import batch "${batchId}": it is ${status}. A dry run tries the rows of a batch that ` +
    `waits (${BATCH_STATUS.pending}, ${BATCH_STATUS.awaitingApproval} or ${BATCH_STATUS.paused}) without ` +
    'taking it; ' +
    (status === BATCH_STATUS.processing
      ? `a run is processing this one now: pause it (pauseBatch("${batchId}")) and dry-run it then, or wait ` +
        'for it to end.'
      : 'this one has ended, so no row of it is left to run.'),

  dryRunAsReprocess: (): string =>
    'left out: a reprocess runs its child batch for real; dry-run a batch with dryRunBatch(id)',

  workerRunDryRun: (): string =>
    'cannot be set for the worker: a dry run is asked for one batch, with dryRunBatch(id)',

  /** Why a dry run's batch would be refused by its `validateBatch`: no row would run. */
  dryRunBatchRefused: ({ reason }: { reason: string }): string =>
    `${reason}. No row would run: a real run fails the batch before its first row.`,

  /** The audit entry of a dry run, written when it ends. */
  dryRunDone: ({
    total,
    wouldComplete,
    wouldFail,
    wouldSkip,
  }: {
    total: number;
    wouldComplete: number;
    wouldFail: number;
    wouldSkip: number;
  }): string =>
    `Dry run of ${total} row(s), rolled back: ${wouldComplete} would complete, ${wouldFail} would fail, ` +
    `${wouldSkip} would be skipped`,
  // The admin module (ReliableImportsAdminModule): its options and its answers.
  adminNoGuard: (): string =>
    'ReliableImportsAdminModule.register() needs guards: its routes read and change every import. Pass ' +
    'the guards of your app, e.g. register({ guards: [AdminGuard] }), or, for a trusted network only, ' +
    'register({ allowUnauthenticated: true })',

  adminUnauthenticated: (path: string): string =>
    `ReliableImportsAdminModule at "/${path}" has no guard (allowUnauthenticated: true): anyone who can ` +
    `reach the server can read, correct, cancel and reprocess imports`,

  adminBadPath: (path: string): string =>
    `path must be a URL path such as "imports-admin" or "ops/imports"; got ${JSON.stringify(path)}`,

  adminBadGuard: (index: number): string =>
    `guards[${index}] must be a guard class or instance (with canActivate); got something else`,

  adminBadHeader: (header: string): string =>
    `csrfHeader must be an HTTP header name such as "x-reliable-imports-request"; got ${JSON.stringify(header)}`,

  adminNoBatchService: (): string =>
    'ReliableImportsAdminModule needs ReliableImportsModule: import ReliableImportsModule.forRoot() in ' +
    'the application too',

  adminHeaderMissing: (header: string): string =>
    `This request changes imports, so it must carry the header "${header}: 1" (a cross-site form cannot ` +
    `send it). Add it to the request.`,

  adminNeedsValidator: (): string =>
    'ReliableImportsAdminModule validates requests with class-validator and class-transformer: install ' +
    'them (npm install class-validator class-transformer)',

  adminFileType: (contentType: string | undefined): string =>
    `Send the corrections file as the request body, with "Content-Type: text/csv" (an edited failures ` +
    `export) or "Content-Type: application/x-ndjson" (JSON lines), in UTF-8; got ` +
    `${contentType ? `"${contentType}"` : 'no Content-Type'}.`,

  adminFileTooLarge: (maxMiB: number): string =>
    `A corrections file may be up to ${maxMiB} MiB; split it and send the parts one after the other.`,

  adminBadId: (name: string): string => `${name} must be a UUID`,

  adminBadUi: (ui: unknown): string =>
    `ui must be true (serve the admin page) or false (the API only); got ${JSON.stringify(ui)}`,

  adminUiNotBuilt: (looked: string[]): string =>
    `The admin page's files are not built (looked in ${looked.join(', ')}): run "npm run build" in the ` +
    `package, or register the admin module with { ui: false }`,

  adminRunStopped: (batchId: string): string =>
    `The run of batch ${batchId} started from the admin API stopped with the application; the worker or ` +
    `the next processBatch("${batchId}") goes on with it`,

  adminRunFailed: (batchId: string, message: string): string =>
    `The run of batch ${batchId} started from the admin API broke off: ${message}. Its rows are kept; ` +
    `run it again with processBatch("${batchId}") or let the worker take it`,

  adminImportType: (contentType: string | undefined): string =>
    `Send the file to import as the request body, with "Content-Type: text/csv" or ` +
    `"Content-Type: application/x-ndjson" (JSON lines), in UTF-8; got ` +
    `${contentType ? `"${contentType}"` : 'no Content-Type'}.`,
};
