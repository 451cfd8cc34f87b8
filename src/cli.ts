#!/usr/bin/env node
import 'reflect-metadata';
import { Command, CommanderError, Option } from 'commander';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DataSource } from 'typeorm';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { BatchStatus, LogLevel } from '../lib';
import { BATCH_STATUS, BATCH_STATUSES, isEndedBatch, LOG_LEVELS } from '../lib/statuses';
import { COMMIT_EVERY_RANGE, CONCURRENCY_RANGE } from '../lib/utils/run-options.util';
import { DEFAULT_PGLITE_DIR } from './cli-app';
import { cliMessages } from './cli-messages';
import { EXIT } from './cli-errors';
import {
  print,
  processWithProgress,
  runContext,
  statusOf,
  summaryText,
  withApp,
  type CommandScope,
  type GlobalOptions,
} from './cli-run';
import { commandLine, reportError } from './error-report';
import { table } from './output';
import {
  budgetOf,
  delimiter,
  maxFailureRateOption,
  maxFailuresOption,
  nonEmpty,
  range,
  wholeNumber,
} from './option-parsers';
import { readItemsFile } from './read-items';
import { addControlCommands } from './control-commands';
import { addRecoveryCommands, nextSteps } from './recovery-commands';
import { addApprovalCommands, dryRunImport } from './approval-commands';
import { addWatchCommand } from './watch-command';
import { addPruneCommand } from './prune-command';
import { addScrubCommand } from './scrub-command';

/** `--key auto`: the SHA-256 of the file's bytes, so that the same file brings back the same batch. */
async function fileKey(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function buildProgram(setExitStatus: (status: number) => void): Command {
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
    .showHelpAfterError(cliMessages.helpAfterError());

  const globals = () => program.opts<GlobalOptions>();
  const out = (json: unknown, text: string) =>
    print(globals().json ? JSON.stringify(json, null, 2) : text);
  const runWithApp: CommandScope['runWithApp'] = async (
    work,
    { concurrency, checkSchema, holdsNoRows } = {},
  ) => setExitStatus(await withApp({ ...globals(), checkSchema }, work, concurrency, holdsNoRows));

  program
    .command('migrate')
    .description('create or update the import tables (runs the migrations)')
    .action(async () => {
      // The migrations are what makes the schema ready: the module must not refuse to start without it.
      await runWithApp(
        async (app) => {
          const dataSource = app.get<DataSource>(getDataSourceToken());
          const ran = await dataSource.runMigrations({ transaction: 'each' });
          out(
            { migrations: ran.map((m) => m.name) },
            cliMessages.migrated({ ran: ran.map((m) => m.name) }),
          );
          return EXIT.ok;
        },
        { checkSchema: false },
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
      `rows processed at once, each on a connection (${CONCURRENCY_RANGE.min} to ${CONCURRENCY_RANGE.max})`,
      range(CONCURRENCY_RANGE.min, CONCURRENCY_RANGE.max),
      1,
    )
    .option(
      '--commit-every <n>',
      `rows per transaction (${COMMIT_EVERY_RANGE.min} to ${COMMIT_EVERY_RANGE.max}); a failing row is run again alone`,
      range(COMMIT_EVERY_RANGE.min, COMMIT_EVERY_RANGE.max),
      1,
    )
    .option('--delimiter <c>', 'the CSV field separator, one character (\\t for a tab)', delimiter)
    .addOption(maxFailuresOption())
    .addOption(maxFailureRateOption())
    .option(
      '--require-approval',
      'store the batch awaiting approval: nothing runs it until "approve <id>" ("reject <id>" ends it)',
    )
    .option(
      '--dry-run',
      'store the batch awaiting approval and try every row in transactions that are rolled back: ' +
        'shows what would fail (exit 1 when a row would), applies nothing',
    )
    .action(async (batchType: string, file: string, options: ImportCommandOptions) => {
      const items = readItemsFile(file, { delimiter: options.delimiter });
      const key = options.key === 'auto' ? await fileKey(file) : options.key;
      const run = {
        concurrency: options.concurrency,
        commitEvery: options.commitEvery,
        ...budgetOf(options),
      };
      await runWithApp(
        async (_app, batches) => {
          const batch = await batches.createBatch(batchType, items, {
            sourceInfo: { file },
            ...(key === undefined ? {} : { idempotencyKey: key }),
            ...(options.requireApproval || options.dryRun ? { requireApproval: true } : {}),
          });
          // A key that brings back a finished batch: show it, there is nothing left to run.
          const importedBefore = isEndedBatch(batch.status);
          if (options.dryRun && !importedBefore) {
            return dryRunImport(batches, batch, { globals, out }, { idempotencyKey: key ?? null });
          }
          const summary = importedBefore
            ? await batches.getBatchSummary(batch.id)
            : await processWithProgress(batches, batch.id, () =>
                batches.processBatch(batch.id, run),
              );
          const lineage = await batches.getLineage(batch.id);
          const next = (...args: string[]) => commandLine(runContext(globals()), ...args);
          out(
            { ...summary, idempotencyKey: key ?? null, importedBefore },
            [
              ...(importedBefore ? [cliMessages.importedBefore({ key })] : []),
              summaryText(summary),
              ...(summary.status === BATCH_STATUS.awaitingApproval
                ? [
                    cliMessages.awaitingApproval({
                      command: next('approve', batch.id),
                      reject: next('reject', batch.id, '--reason', "'...'"),
                    }),
                  ]
                : []),
              ...nextSteps(lineage, next, summary),
            ].join('\n'),
          );
          return statusOf(summary);
        },
        { concurrency: options.concurrency },
      );
    });

  program
    .command('list')
    .description('list batches, newest first')
    .addOption(
      new Option('-s, --status <status>', 'only batches with this status').choices(BATCH_STATUSES),
    )
    .option('-t, --type <batch-type>', 'only batches of this type')
    .option('-n, --limit <n>', 'how many (1 to 1000)', wholeNumber, 20)
    .action(async (options: { status?: BatchStatus; type?: string; limit: number }) => {
      await runWithApp(async (_app, batches) => {
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
            'parentBatchId',
            'createdAt',
          ]),
        );
        return EXIT.ok;
      });
    });

  program
    .command('logs')
    .description("a batch's audit log")
    .argument('<batch-id>')
    .addOption(new Option('-l, --level <level>', 'only this level').choices(LOG_LEVELS))
    .action(async (batchId: string, options: { level?: LogLevel }) => {
      await runWithApp(async (_app, batches) => {
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
      });
    });

  addRecoveryCommands(program, { globals, out, runWithApp });
  addControlCommands(program, { globals, out, runWithApp });
  addApprovalCommands(program, { globals, out, runWithApp });
  addWatchCommand(program, { globals, out, runWithApp });
  addPruneCommand(program, { globals, out, runWithApp });
  addScrubCommand(program, { globals, out, runWithApp });

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
  maxFailures?: number;
  maxFailureRate?: number;
  requireApproval?: boolean;
  dryRun?: boolean;
}

if (require.main === module) {
  void main(process.argv).then((status) => process.exit(status));
}
