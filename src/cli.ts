#!/usr/bin/env node
import 'reflect-metadata';
import type { INestApplicationContext } from '@nestjs/common';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import { BatchService, type BatchStatus, type BatchSummary } from '../lib';
import { createCliApp, DEFAULT_PGLITE_DIR, type CliConfig } from './cli-app';
import { EXIT, UsageError } from './cli-errors';
import { commandLine, reportError, type RunContext } from './error-report';
import { fields, table } from './output';
import { parseJson } from './parse-json';
import { readItemsFile } from './read-items';

interface GlobalOptions {
  json?: boolean;
  module?: string;
  pgliteDir: string;
}

const print = (text: string): void => void process.stdout.write(`${text}\n`);

const runContext = (options: GlobalOptions): RunContext => ({
  module: options.module ?? (process.env.RELIABLE_IMPORTS_MODULE || undefined),
});

function config(options: GlobalOptions, concurrency = 1): CliConfig {
  return {
    databaseUrl: process.env.DATABASE_URL || undefined,
    pgliteDir: options.pgliteDir,
    module: runContext(options).module,
    // A generous cap, not a count: the pool opens connections only as the lanes ask for them.
    poolSize: Math.max(10, concurrency * 2 + 2),
  };
}

/** Runs `work` with an application context, closes it, and returns the exit status. */
async function withApp(
  options: GlobalOptions,
  work: (app: INestApplicationContext, batches: BatchService) => Promise<number>,
  concurrency?: number,
): Promise<number> {
  const app = await createCliApp(config(options, concurrency));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  // Ctrl-C stops the run the way an application's shutdown does: the rows in flight finish or are given
  // back, and the run ends with PROCESSING_STOPPED (exit 3). A second Ctrl-C kills at once, as usual.
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping; the rows in flight finish or are given back...\n`);
    // The error, if any, is reported by the finally below, which awaits the same close.
    close().catch(() => undefined);
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    return await work(app, app.get(BatchService));
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await close();
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

/** The exit status of a command that processed rows: 1 when any failed (read-only commands exit 0). */
const statusOf = (summary: BatchSummary): number =>
  summary.failedItems > 0 || summary.status === 'failed' ? EXIT.itemsFailed : EXIT.ok;

const FINISHED: ReadonlySet<BatchStatus> = new Set([
  'completed',
  'completed_with_errors',
  'failed',
]);

/** `--key auto`: the SHA-256 of the file's bytes, so that the same file brings back the same batch. */
async function fileKey(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

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
        await withApp(globals(), async (app) => {
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
    .option(
      '--key <key>',
      'idempotency key: importing again with the same key brings back the first batch instead of a copy; ' +
        '"auto" uses the SHA-256 of the file',
      nonEmpty,
    )
    .option(
      '--concurrency <n>',
      'rows processed at once, each on a connection (1 to 64)',
      range(1, 64),
      1,
    )
    .option(
      '--commit-every <n>',
      'rows per transaction (1 to 10000); a failing row is run again alone',
      range(1, 10_000),
      1,
    )
    .option('--delimiter <c>', 'the CSV field separator, one character (\\t for a tab)', delimiter)
    .action(async (batchType: string, file: string, options: ImportCommandOptions) => {
      const items = readItemsFile(file, { delimiter: options.delimiter });
      const key = options.key === 'auto' ? await fileKey(file) : options.key;
      const run = { concurrency: options.concurrency, commitEvery: options.commitEvery };
      setStatus(
        await withApp(
          globals(),
          async (_app, batches) => {
            const batch = await batches.createBatch(batchType, items.rows, {
              sourceInfo: { file },
              ...(key === undefined ? {} : { idempotencyKey: key }),
            });
            // A key that brings back a finished batch: show it, there is nothing left to run.
            const importedBefore = FINISHED.has(batch.status);
            const summary = importedBefore
              ? await batches.getBatchSummary(batch.id)
              : await processWithProgress(batches, batch.id, () =>
                  batches.processBatch(batch.id, run),
                );
            out(
              {
                ...summary,
                skippedLines: items.skipped,
                idempotencyKey: key ?? null,
                importedBefore,
              },
              [
                ...(importedBefore
                  ? [`This file was imported before (key ${key}): nothing was imported again.`]
                  : []),
                summaryText(summary),
                ...items.skipped.map((s) => `line ${s.line} was not imported: ${s.reason}`),
              ].join('\n'),
            );
            return items.skipped.length > 0 ? EXIT.itemsFailed : statusOf(summary);
          },
          options.concurrency,
        ),
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
          return EXIT.ok;
        }),
      );
    });

  program
    .command('failures')
    .description("a batch's failed and skipped items, with their reasons")
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const failed = await batches.getItems(batchId, {
            status: ['failed', 'skipped'],
            limit: 100_000,
          });
          const rows = failed.map((item) => ({
            item: item.id,
            index: item.itemIndex,
            status: item.status,
            reason: item.errorMessage,
            attempts: item.attempts,
            corrected: item.correctedData !== null,
            data: item.correctedData ?? item.sourceData,
          }));
          out(rows, table(rows, ['item', 'index', 'status', 'reason', 'corrected', 'data']));
          return EXIT.ok;
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
            `Corrected item ${item.itemIndex} of batch ${item.batchId}; run "${commandLine(runContext(globals()), 'reprocess', item.batchId)}" to apply it.`,
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

  program
    .command('process')
    .description(
      'go on with a batch that was interrupted (exit status 3): processes its rows left pending; a finished batch is shown as it is',
    )
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      setStatus(
        await withApp(globals(), async (_app, batches) => {
          const summary = await processWithProgress(batches, batchId, () =>
            batches.processBatch(batchId),
          );
          out(summary, summaryText(summary));
          return statusOf(summary);
        }),
      );
    });

  return program;
}

/**
 * Runs the tool with `argv` and returns its exit status. With `--json`, an error is a JSON document on
 * stdout, like a result: a script reads one place, parses one document, and tells the two apart by the
 * exit status (stderr stays for people: the progress bar).
 */
export async function main(argv: string[]): Promise<number> {
  let status: number = EXIT.ok;
  const program = buildProgram((value) => (status = value));
  // Read before parsing: commander may fail before it has parsed --json itself.
  const json = argv.slice(2).includes('--json');
  // With --json, commander's own messages (unknown option...) are reported below, as JSON. Subcommands
  // copied the output settings when they were made, so each is set.
  if (json) {
    for (const command of [program, ...program.commands]) {
      command.configureOutput({ outputError: () => undefined, writeErr: () => undefined });
    }
  }
  const fail = (report: { code: string; message: string; hint?: string }): void => {
    if (json) return print(JSON.stringify({ error: report }, null, 2));
    // A driver's message ends without a full stop; the hint is a sentence of its own.
    const message =
      report.hint && !/[.!?)]$/.test(report.message) ? `${report.message}.` : report.message;
    process.stderr.write(`error: ${[message, report.hint].filter(Boolean).join(' ')}\n`);
  };
  try {
    await program.parseAsync(argv);
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return EXIT.ok;
      if (json) fail({ code: 'USAGE', message: error.message.replace(/^error: /, '') });
      return EXIT.usage;
    }
    const { status: exitStatus, ...report } = reportError(error, runContext(program.opts()));
    fail(report);
    return exitStatus;
  }
}

interface ImportCommandOptions {
  key?: string;
  concurrency: number;
  commitEvery: number;
  delimiter?: string;
}

/** A whole-number option's parser, refusing what is out of `min..max` with the range to use. */
function range(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (value.trim() === '' || !Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`give a whole number from ${min} to ${max}.`);
    }
    return number;
  };
}

const wholeNumber = range(1, 1000);

function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('give a key that is not empty.');
  return value;
}

/** One character, `\t` for a tab; never a quote or a line break, which CSV keeps for itself. */
function delimiter(value: string): string {
  const character = value === '\\t' ? '\t' : value;
  if ([...character].length !== 1 || /["\r\n]/.test(character)) {
    throw new InvalidArgumentError(
      `give one character other than a quote or a line break, such as ';' or '\\t' (got ${JSON.stringify(value)}).`,
    );
  }
  return character;
}

if (require.main === module) {
  void main(process.argv).then((status) => process.exit(status));
}
