#!/usr/bin/env node
import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import { BatchService, ReliableImportsError, type BatchStatus, type BatchSummary } from '../lib';
import { createCliApp, DEFAULT_PGLITE_DIR, type CliConfig } from './cli-app';
import { EXIT, UsageError } from './cli-errors';
import { fields, table } from './output';
import { parseJson } from './parse-json';
import { readItemsFile } from './read-items';

interface GlobalOptions {
  json?: boolean;
  module?: string;
  pgliteDir: string;
  checkSchema?: boolean;
}

const print = (text: string): void => void process.stdout.write(`${text}\n`);

function config(options: GlobalOptions): CliConfig {
  return {
    databaseUrl: process.env.DATABASE_URL || undefined,
    pgliteDir: options.pgliteDir,
    module: options.module ?? process.env.RELIABLE_IMPORTS_MODULE,
    checkSchema: options.checkSchema,
  };
}

/** Runs `work` with an application context, closes it, and returns the exit status. */
async function withApp(
  options: GlobalOptions,
  work: (app: INestApplicationContext, batches: BatchService) => Promise<number>,
): Promise<number> {
  const app = await createCliApp(config(options));
  try {
    return await work(app, app.get(BatchService));
  } finally {
    await app.close();
  }
}

function summaryText(summary: BatchSummary): string {
  return fields({
    batch: summary.batchId,
    type: summary.batchType,
    status: summary.status,
    total: summary.totalItems,
    completed: summary.completedItems,
    failed: summary.failedItems,
    skipped: summary.skippedItems,
    pending: summary.pendingItems,
    ...(summary.parentBatchId ? { 'reprocess of': summary.parentBatchId } : {}),
    ...(summary.errorMessage ? { error: summary.errorMessage } : {}),
    'duration ms': summary.durationMs,
    'items/s': summary.itemsPerSecond,
  });
}

const statusOf = (summary: BatchSummary): number =>
  summary.failedItems > 0 || summary.status === 'failed' ? EXIT.itemsFailed : EXIT.ok;

/** Processes a batch with a progress bar on stderr when it is a terminal. */
async function processWithProgress(
  batches: BatchService,
  batchId: string,
  run: () => Promise<BatchSummary>,
): Promise<BatchSummary> {
  if (!process.stderr.isTTY) return run();
  const total = (await batches.getBatchSummary(batchId)).totalItems;
  const bar = new SingleBar({
    stream: process.stderr,
    format: ' {bar} {value}/{total} items | {eta_formatted} left',
  });
  bar.start(total, 0);
  const timer = setInterval(() => {
    void batches.getBatchSummary(batchId).then(
      (s) => bar.update(s.completedItems + s.failedItems + s.skippedItems),
      () => undefined,
    );
  }, 250);
  try {
    const summary = await run();
    bar.update(total);
    return summary;
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

export function buildProgram(setStatus: (status: number) => void): Command {
  const program = new Command('reliable-imports')
    .description(
      'Reliable data imports on PostgreSQL: import files, inspect failures, correct and reprocess them.\n' +
        `The database is DATABASE_URL, or an embedded PGlite database in ${DEFAULT_PGLITE_DIR} when it is not set.`,
    )
    .option('--json', 'print JSON instead of tables (for scripts)')
    .option(
      '-m, --module <file[#Export]>',
      'the compiled Nest module that provides your @ImportProcessor classes (or RELIABLE_IMPORTS_MODULE)',
    )
    .option(
      '--pglite-dir <dir>',
      'where the embedded database lives without DATABASE_URL',
      DEFAULT_PGLITE_DIR,
    )
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  const globals = () => program.opts<GlobalOptions>();
  const out = (json: unknown, text: string) =>
    print(globals().json ? JSON.stringify(json, null, 2) : text);

  program
    .command('migrate')
    .description('create or update the import tables (runs the migrations)')
    .action(async () => {
      setStatus(
        await withApp({ ...globals(), checkSchema: false }, async (app) => {
          const dataSource = app.get<DataSource>(getDataSourceToken());
          const ran = await dataSource.runMigrations({ transaction: 'each' });
          out(
            { migrations: ran.map((m) => m.name) },
            ran.length ? `Ran ${ran.map((m) => m.name).join(', ')}` : 'The schema is up to date.',
          );
          return EXIT.ok;
        }),
      );
    });

  program
    .command('import')
    .description('import a .csv or .jsonl file as a batch and process it')
    .argument('<batch-type>', 'the batch type, as handled by one of your processors')
    .argument(
      '<file>',
      'a .csv file (header on line 1) or a .jsonl file (one JSON object per line)',
    )
    .action(async (batchType: string, file: string) => {
      const items = readItemsFile(file);
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const batch = await batches.createBatch(batchType, items.rows, { sourceInfo: { file } });
          const summary = await processWithProgress(batches, batch.id, () =>
            batches.processBatch(batch.id),
          );
          out(
            { ...summary, skippedLines: items.skipped },
            [
              summaryText(summary),
              ...items.skipped.map((s) => `line ${s.line} was not imported: ${s.reason}`),
            ].join('\n'),
          );
          return items.skipped.length > 0 ? EXIT.itemsFailed : statusOf(summary);
        }),
      );
    });

  program
    .command('list')
    .description('list batches, newest first')
    .addOption(
      new Option('-s, --status <status>', 'only batches with this status').choices([
        'pending',
        'processing',
        'completed',
        'completed_with_errors',
        'failed',
      ]),
    )
    .option('-t, --type <batch-type>', 'only batches of this type')
    .option('-n, --limit <n>', 'how many (1 to 1000)', wholeNumber, 20)
    .action(async (options: { status?: BatchStatus; type?: string; limit: number }) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const list = await batches.listBatches({
            status: options.status,
            batchType: options.type,
            limit: options.limit,
          });
          out(
            list,
            table(list as unknown as Array<Record<string, unknown>>, [
              'id',
              'batchType',
              'status',
              'totalItems',
              'completedItems',
              'failedItems',
              'createdAt',
            ]),
          );
          return EXIT.ok;
        }),
      );
    });

  program
    .command('show')
    .description("a batch's summary")
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const summary = await batches.getBatchSummary(batchId);
          out(summary, summaryText(summary));
          return statusOf(summary);
        }),
      );
    });

  program
    .command('failures')
    .description("a batch's failed items, with their reasons")
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const failed = await batches.getItems(batchId, { status: 'failed', limit: 100_000 });
          const rows = failed.map((item) => ({
            item: item.id,
            index: item.itemIndex,
            reason: item.errorMessage,
            attempts: item.attempts,
            corrected: item.correctedData !== null,
            data: item.correctedData ?? item.sourceData,
          }));
          out(rows, table(rows, ['item', 'index', 'reason', 'corrected', 'data']));
          return failed.length > 0 ? EXIT.itemsFailed : EXIT.ok;
        }),
      );
    });

  program
    .command('logs')
    .description("a batch's audit log")
    .argument('<batch-id>')
    .addOption(
      new Option('-l, --level <level>', 'only this level').choices([
        'debug',
        'info',
        'warn',
        'error',
      ]),
    )
    .action(async (batchId: string, options: { level?: 'debug' | 'info' | 'warn' | 'error' }) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const logs = await batches.getLogs(batchId, { level: options.level, limit: 100_000 });
          out(
            logs,
            table(logs as unknown as Array<Record<string, unknown>>, [
              'createdAt',
              'level',
              'itemId',
              'message',
            ]),
          );
          return EXIT.ok;
        }),
      );
    });

  program
    .command('correct')
    .description('store corrected data for a failed item (used by the next reprocess)')
    .argument('<item-id>')
    .argument('<json>', 'the corrected row, as a JSON object')
    .action(async (itemId: string, json: string) => {
      let data: unknown;
      try {
        data = parseJson(json);
      } catch (error) {
        throw new UsageError(
          `The correction is not valid JSON (${(error as Error).message}). Quote it: '{"email":"a@b.com"}'.`,
        );
      }
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        throw new UsageError('The correction must be a JSON object, e.g. \'{"email":"a@b.com"}\'.');
      }
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const item = await batches.correctItem(itemId, data as Record<string, unknown>);
          out(
            item,
            `Corrected item ${item.itemIndex} of batch ${item.batchId}; run "reliable-imports reprocess ${item.batchId}" to apply it.`,
          );
          return EXIT.ok;
        }),
      );
    });

  program
    .command('reprocess')
    .description("process a batch's failed items again, corrections applied, as a child batch")
    .argument('<batch-id>')
    .option('--all', 'every row that did not complete, also rows left processing in an ended batch')
    .action(async (batchId: string, options: { all?: boolean }) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const summary = await batches.reprocessBatch(batchId, { failedItemsOnly: !options.all });
          out(summary, summaryText(summary));
          return statusOf(summary);
        }),
      );
    });

  return program;
}

/** Runs the tool with `argv` and returns its exit status. */
export async function main(argv: string[]): Promise<number> {
  let status: number = EXIT.ok;
  const program = buildProgram((value) => (status = value));
  try {
    await program.parseAsync(argv);
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${hint(message)}\n`);
    if (error instanceof UsageError || MISSING_TABLES.test(message)) return EXIT.usage;
    if (error instanceof ReliableImportsError) return EXIT.usage;
    return EXIT.itemsFailed;
  }
}

const MISSING_TABLES = /relation "import_\w+" does not exist/;

function wholeNumber(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 1000) {
    throw new InvalidArgumentError('give a whole number from 1 to 1000.');
  }
  return number;
}

/** Adds the fix, in the tool's own terms, to errors that do not say it themselves. */
function hint(message: string): string {
  if (message.includes('Registered types: (none)')) {
    return `${message} With this tool, pass the compiled module that provides your processors: --module dist/imports.module.js#ImportsModule (or set RELIABLE_IMPORTS_MODULE).`;
  }
  if (MISSING_TABLES.test(message)) {
    return `${message}. The import tables do not exist yet: run "reliable-imports migrate" first.`;
  }
  return message;
}

if (require.main === module) {
  void main(process.argv).then((status) => process.exit(status));
}
