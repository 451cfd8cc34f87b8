/**
 * Every message the command-line tool shows, in one place: its errors, its hints and the sentences of its
 * results. The library's own messages are in `lib/reliable-imports.messages.ts`. The help of the commands
 * and their options stays with their declaration (`cli.ts`, `recovery-commands.ts`), where each flag is
 * read next to what it does; the labels of tables and fields stay with the data they show.
 */
export const cliMessages = {
  // Operator control: pause, resume, cancel.
  paused: ({ resume }: { resume: string }): string =>
    `Paused: no row is claimed any more; the rows in flight finish. To go on: ${resume}`,

  rateOption: (): string => 'must be a number from 0 to 1 (0.1 is 10%)',

  pausedSteps: ({ failed }: { failed: number }): string =>
    failed > 0
      ? `The batch is paused (the reason is above). To go on: fix its ${failed} failed row(s) if they ` +
        `should run again (the corrected ones do), then resume it (and, without a worker, process it):`
      : 'The batch is paused (the reason is above). To go on, resume it (and, without a worker, process it):',

  resumed: ({ process }: { process: string }): string =>
    `Resumed: a running worker takes it at once; without one, run: ${process}`,

  cancelled: ({ cancelled, reprocess }: { cancelled: number; reprocess: string }): string =>
    `Cancelled: ${cancelled} row(s) that no run took are cancelled (none failed); the rows in flight finish. ` +
    `To run the cancelled rows later: ${reprocess}`,

  // Retention: prune.
  pruned: ({
    dryRun,
    batches,
    logs,
  }: {
    dryRun: boolean;
    batches: number;
    logs: number;
  }): string =>
    dryRun
      ? `Dry run: nothing was removed. A prune now would remove ${batches} batch(es)${logs > 0 ? ` and ${logs} old log entr(ies) of the batches it keeps` : ''}.`
      : `Removed ${batches} batch(es) with their rows, logs and progress rows${logs > 0 ? `, and ${logs} old log entr(ies) of the batches kept` : ''}.`,

  prunedKeptUnresolved: ({ trees }: { trees: number }): string =>
    `Kept ${trees} old tree(s) with rows that never completed: export and reprocess them, or add --include-unresolved to remove them too.`,

  pruneNeedsAge: (): string =>
    'Give --older-than DAYS (e.g. prune --older-than 30 --dry-run), or declare a retention in your processors (@ImportProcessor({ retention: { completedDays: 30 } })).',

  // Scrubbing: scrub.
  scrubbed: ({ dryRun, rows }: { dryRun: boolean; rows: number }): string =>
    dryRun
      ? `Dry run: nothing was changed. A scrub now would remove the personal data of ${rows} row(s).`
      : `Removed the personal data of ${rows} row(s); they can no longer be corrected or reprocessed.`,

  scrubNeedsAge: (): string =>
    "Give --older-than DAYS (e.g. scrub --older-than 30 --dry-run), or declare a scrub in your processors (@ImportProcessor({ scrub: { afterDays: 30, keepFields: ['country'] } })).",

  retentionBusy: (): string =>
    'Another instance is applying retention now (it holds the advisory lock): nothing was done. Try again when it has finished.',

  // Starting: the user's module and the database.
  /** `reason` is the first line of what loading the file threw. */
  moduleNotLoaded: ({ file, reason }: { file: string; reason: string }): string =>
    `Cannot load the module "${file}" given with --module (or RELIABLE_IMPORTS_MODULE): ${reason}. ` +
    `Point it at the compiled JavaScript file of the Nest module that provides your processors, e.g. --module dist/imports.module.js#ImportsModule.`,

  /** `exportName` is the name after "#", when one was given. */
  noNestModule: ({ file, exportName }: { file: string; exportName: string | undefined }): string =>
    exportName
      ? `The module file "${file}" has no export "${exportName}" that is a Nest module. Check the name after "#".`
      : `The module file "${file}" exports no Nest module. Name it: --module ${file}#YourModule.`,

  pgliteNotOpened: ({ dir, reason }: { dir: string; reason: string }): string =>
    `Cannot open the embedded database in "${dir}": ${reason}. ` +
    'Give a directory you can write to with --pglite-dir, or set DATABASE_URL.',

  pgliteNotInstalled: (): string =>
    'DATABASE_URL is not set and the embedded database is not installed. Set DATABASE_URL=postgres://user@host:5432/db, ' +
    'or run: npm install @electric-sql/pglite typeorm-pglite',

  /** `where` is " at <url without its password>", or empty for the embedded database. */
  databaseUnavailable: ({ where, reason }: { where: string; reason: string }): string =>
    `Cannot connect to the database${where}: ${reason}. Nothing was done. Check that the server is running ` +
    '(and DATABASE_URL), then run the same command again.',

  databaseMisconfigured: ({ where, reason }: { where: string; reason: string }): string =>
    `Cannot connect to the database${where}: ${reason}. Nothing was done. Check DATABASE_URL ` +
    '(host, database name, user and password).',

  /** `url` has its password hidden. */
  databaseAt: ({ url }: { url: string }): string => ` at ${url}`,

  // Files.
  /** `what` names the file's role: "the rows of", "the corrections". */
  unknownFileKind: ({ what, path }: { what: string; path: string }): string =>
    `Cannot read ${what} "${path}": the file must end in .csv or .jsonl (one JSON object per line).`,

  rowsFileRole: (): string => 'the rows of',

  correctionsFileRole: (): string => 'the corrections',

  /** `what` is what the file should be: "a .csv or .jsonl file". */
  fileMissing: ({ path, what }: { path: string; what: string }): string =>
    `The file "${path}" does not exist. Give the path of ${what}.`,

  rowsFile: (): string => 'a .csv or .jsonl file',

  correctionsFile: (): string => 'the corrections file (an edited failures export)',

  delimiterNotCsv: ({ path }: { path: string }): string =>
    `--delimiter applies to .csv files only, and "${path}" is not one.`,

  noRows: ({ path, format }: { path: string; format: 'csv' | 'jsonl' }): string =>
    `${path} has no rows to import: ${
      format === 'csv'
        ? 'it has a header line and no rows below it'
        : 'it has only blank lines (a .jsonl file holds one JSON object per line)'
    }. Add the rows and import it again; nothing was stored.`,

  /** A reader's message, with the file it is about (the readers do not know its name). */
  inFile: ({ path, message }: { path: string; message: string }): string => `${path}: ${message}`,

  // Options and arguments, as commander reports them after "error: option '...' argument '...' is invalid."
  wholeNumberOption: ({ min, max }: { min: number; max: number }): string =>
    `give a whole number from ${min} to ${max}.`,

  emptyKey: (): string => 'give a key that is not empty.',

  /** `given` is the value as the user typed it. */
  badDelimiter: ({ given }: { given: string }): string =>
    `give one character other than a quote or a line break, such as ';' or '\\t' (got ${JSON.stringify(given)}).`,

  badSetField: ({ given }: { given: string }): string =>
    `give field=value, e.g. --set email=ada@example.com (got "${given}").`,

  outputWithoutFormat: (): string =>
    '--output writes a file of failures: give --format csv (or jsonl) too.',

  allWithFormat: (): string =>
    '--all lists resolved rows in the table only: a file to fix holds the unresolved rows.',

  oneWayToCorrect: (): string =>
    'Give exactly one of: --file FIXED.csv (a batch id), --set field=value (an item id), or the row as JSON (an item id).',

  /** `reason` is the JSON parser's. */
  correctionNotJson: ({ reason }: { reason: string }): string =>
    `The correction is not valid JSON (${reason}). Quote it: '{"email":"a@b.com"}'.`,

  correctionNotObject: (): string =>
    'The correction must be a JSON object, e.g. \'{"email":"a@b.com"}\'.',

  /** Printed after commander's own error (an unknown option...). */
  helpAfterError: (): string => '(run with --help for usage)',

  // Hints: the fix in the tool's own terms, after an error's message.
  /** Stands for the `--module` in a command line when none was given. */
  modulePlaceholder: (): string => '<your compiled module.js#Module>',

  hintModule: (): string =>
    'With this tool, pass the compiled module that provides your processors: --module dist/imports.module.js#ImportsModule (or set RELIABLE_IMPORTS_MODULE).',

  hintMigrate: (): string =>
    'The import tables do not exist yet: run "reliable-imports migrate" first.',

  hintPaused: ({ resume, cancel }: { resume: string; cancel: string }): string =>
    `With this tool: ${resume} to go on with it, or ${cancel} to end it.`,

  hintWaiting: ({ approve, reject }: { approve: string; reject: string }): string =>
    `With this tool: ${approve} to let it run, or ${reject} to end it.`,

  hintEnded: ({ reprocess }: { reprocess: string }): string =>
    `With this tool: ${reprocess} runs its rows that did not complete.`,

  hintRunning: ({ process, cancel }: { process: string; cancel: string }): string =>
    `With this tool: ${process} finishes it (or wait for the worker), or ${cancel} ends it.`,

  /** `command` is the command line that goes on with the batch. */
  hintGoOn: ({ command }: { command: string }): string =>
    `Nothing is lost: run "${command}" to go on where it stopped.`,

  // Results.
  /** `ran` is the names of the migrations run, none when the schema was up to date. */
  migrated: ({ ran }: { ran: readonly string[] }): string =>
    ran.length ? `Ran ${ran.join(', ')}` : 'The schema is up to date.',

  importedBefore: ({ key }: { key: string | undefined }): string =>
    `This file was imported before (key ${key}): nothing was imported again.`,

  treeComplete: ({ totalRows, rootBatchId }: { totalRows: number; rootBatchId: string }): string =>
    `All ${totalRows} rows of ${rootBatchId} are in.`,

  treeIncomplete: ({
    open,
    totalRows,
    rootBatchId,
    unresolved,
    notProcessed,
  }: {
    open: number;
    totalRows: number;
    rootBatchId: string;
    unresolved: number;
    notProcessed: number;
  }): string =>
    `${open} of ${totalRows} rows of ${rootBatchId} are not in: ${unresolved} unresolved, ${notProcessed} not processed.`,

  /** The heading of the failures table; `all`: resolved rows are listed too. */
  failuresHeading: ({
    all,
    rootBatchId,
    unresolved,
  }: {
    all: boolean;
    rootBatchId: string;
    unresolved: number;
  }): string =>
    `${all ? 'Rows that failed' : 'Rows to fix'} in ${rootBatchId} and its reprocesses (${unresolved} unresolved):`,

  /** `command` is the reprocess to run next. */
  correctedRows: ({
    corrected,
    unchanged,
    rootBatchId,
    command,
  }: {
    corrected: number;
    unchanged: number;
    rootBatchId: string;
    command: string;
  }): string =>
    `Corrected ${corrected} row(s) of ${rootBatchId}${unchanged > 0 ? ` (${unchanged} given back unchanged)` : ''}; run "${command}" to apply them.`,

  /** The item by its line, or by its index when it has none. */
  correctedItem: ({
    sourceLine,
    itemIndex,
    batchId,
    command,
  }: {
    sourceLine: number | null;
    itemIndex: number;
    batchId: string;
    command: string;
  }): string =>
    `Corrected ${sourceLine === null ? `item ${itemIndex}` : `line ${sourceLine}`} of batch ${batchId}; run "${command}" to apply it.`,

  needFix: ({ unresolved }: { unresolved: number }): string =>
    `${unresolved} row(s) need a fix. Export them, fix them in a spreadsheet, and reprocess with the file:`,

  /** `then` is what to run after `command`, when the tree's batch waits (paused: resume it). */
  wroteFailures: ({
    unresolved,
    output,
    command,
    then,
  }: {
    unresolved: number;
    output: string;
    command: string;
    then?: string;
  }): string =>
    `Wrote ${unresolved} row(s) to ${output}. Fix the data cells (keep the _item_id column), then run "${command}"${then === undefined ? '' : `, then "${then}"`}.`,

  /** Where the rows of a tree stand, as the `rows` field of its summary. */
  treeRows: ({
    done,
    totalRows,
    completedFirstTime,
    resolved,
  }: {
    done: number;
    totalRows: number;
    completedFirstTime: number;
    resolved: number;
  }): string =>
    `${done} of ${totalRows} in (${completedFirstTime} the first time, ${resolved} by reprocesses)`,

  /** A batch of a tree: its rows by status ("pending" only when some are). */
  treeBatch: (batch: {
    totalItems: number;
    completedItems: number;
    failedItems: number;
    skippedItems: number;
    pendingItems: number;
  }): string =>
    `${batch.totalItems} ${batch.totalItems === 1 ? 'row' : 'rows'}: ${batch.completedItems} completed, ${batch.failedItems} failed, ${batch.skippedItems} skipped${batch.pendingItems > 0 ? `, ${batch.pendingItems} pending` : ''}`,

  treeOf: ({ rootBatchId }: { rootBatchId: string }): string => `tree of ${rootBatchId}`,

  // Approval and dry runs (issue #13, part 3).
  /** `command` processes the batch at once, for who does not wait for the worker. */
  approved: ({ batchId, command }: { batchId: string; command: string }): string =>
    `Approved batch ${batchId}: the worker takes it now (or run "${command}").`,

  rejected: ({ batchId, reason }: { batchId: string; reason: string }): string =>
    `Rejected batch ${batchId}: its rows are cancelled, none was processed. Reason: ${reason}`,

  awaitingApproval: ({ command, reject }: { command: string; reject: string }): string =>
    `The batch waits for approval: nothing runs it until "${command}" ("${reject}" ends it). ` +
    `Its rows can be corrected meanwhile (correct <item-id>).`,

  dryRunOf: ({
    total,
    wouldComplete,
    wouldFail,
    wouldSkip,
    batchId,
    status,
  }: {
    total: number;
    wouldComplete: number;
    wouldFail: number;
    wouldSkip: number;
    batchId: string;
    status: string;
  }): string =>
    `Dry run of batch ${batchId} (${status}), rolled back: nothing was applied. Of ${total} row(s), ` +
    `${wouldComplete} would complete, ${wouldFail} would fail, ${wouldSkip} would be skipped.`,

  dryRunRefused: ({ batchRefused }: { batchRefused: string | null }): string =>
    `The batch would be refused before its first row: ${batchRefused}`,

  dryRunUnread: ({ unread }: { unread: number }): string =>
    `${unread} line(s) of the file could not be read and are failed already (see "failures").`,

  dryRunFailuresHeading: (): string => 'Rows that would fail:',

  dryRunMoreFailures: ({ wouldFail }: { wouldFail: number }): string =>
    `(the first 100 of ${wouldFail}; every row's verdict is stored with it: "dryRun" of getItems)`,

  dryRunNextSteps: (): string =>
    'The batch waits for approval. Run it, or end it (its rows are cancelled):',

  /** Written when Ctrl-C (or a SIGTERM) stops a run. */
  stopping: ({ signal }: { signal: string }): string =>
    `${signal}: stopping; the rows in flight finish or are given back...`,

  // watch (progress of a batch another process runs).
  /** A time left, in its two largest units: "1h 02m", "3m 05s", "12s". */
  duration: ({ ms }: { ms: number }): string => {
    const seconds = Math.round(ms / 1000);
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const two = (n: number) => String(n).padStart(2, '0');
    return h > 0 ? `${h}h ${two(m)}m` : m > 0 ? `${m}m ${two(s)}s` : `${s}s`;
  },

  /** What the bar and the lines show where a figure is not known yet (no rate, no ETA). */
  unknownFigure: (): string => '-',

  /** The figures after a watch's bar; `rate` and `eta` are already words ("312.5", "17s" or "-"). */
  watchFigures: (p: {
    status: string;
    failed: number;
    skipped: number;
    inFlight: number;
    rate: string;
    eta: string;
  }): string =>
    `${p.status} | ${p.failed} failed, ${p.skipped} skipped, ${p.inFlight} in flight | ${p.rate} rows/s | ETA ${p.eta}`,

  /** A watch's line where stderr is no terminal (a log): one every few seconds. */
  watchLine: (p: {
    batchId: string;
    percent: number;
    done: number;
    totalItems: number;
    figures: string;
  }): string =>
    `${p.batchId} ${p.percent.toFixed(1)}% ${p.done}/${p.totalItems} rows | ${p.figures}`,

  /** Written when Ctrl-C (or a SIGTERM) ends a watch before the batch ended. */
  watchStopped: ({ batchId }: { batchId: string }): string =>
    `Stopped watching batch ${batchId}; it goes on in the processes that run it.`,
};
