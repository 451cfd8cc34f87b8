import { type Command, InvalidArgumentError, Option } from 'commander';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  BATCH_STATUS,
  readCorrections,
  type BatchLineage,
  type BatchService,
  type BatchSummary,
  type ErrorBudget,
  type FailedRow,
} from '../lib';
import { parseJson } from '../lib/utils/parse-json.util';
import { messages } from '../lib/reliable-imports.messages';
import { EXIT, UsageError } from './cli-errors';
import { cliMessages } from './cli-messages';
import {
  processWithProgress,
  runContext,
  statusOf,
  summaryText,
  type CommandScope,
} from './cli-run';
import { commandLine } from './error-report';
import { fields, table } from './output';
import { budgetOf, delimiter, maxFailureRateOption, maxFailuresOption } from './option-parsers';
import { assertFileExists, fileFormat, withFileName } from './read-items';

/**
 * The commands that take an import from "rows failed" to "every row is in": `show` (the tree and what is
 * resolved), `failures` (a table, or a file to fix), `correct` (a file of fixes, or one field), `reprocess`
 * (with a file of fixes, in one step) and `check` (for scripts).
 */
export function addRecoveryCommands(program: Command, scope: CommandScope): void {
  const { globals, out, runWithApp } = scope;
  const next = (...args: string[]) => commandLine(runContext(globals()), ...args);

  program
    .command('show')
    .description(
      "a batch's summary, and where every row of its tree stands (first batch and reprocesses)",
    )
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      await runWithApp(async (_app, batches) => {
        const summary = await batches.getBatchSummary(batchId);
        const lineage = await batches.getLineage(batchId);
        out({ ...summary, lineage }, `${summaryText(summary)}\n\n${lineageText(lineage)}`);
        return EXIT.ok;
      });
    });

  program
    .command('check')
    .description(
      "exit 0 when every row of the batch's tree completed, 1 while rows are unresolved or not processed (for scripts)",
    )
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      await runWithApp(async (_app, batches) => {
        const lineage = await batches.getLineage(batchId);
        const open = lineage.unresolved + lineage.notProcessed;
        out(
          { ...lineage, complete: open === 0 },
          open === 0
            ? cliMessages.treeComplete(lineage)
            : cliMessages.treeIncomplete({ ...lineage, open }),
        );
        return open === 0 ? EXIT.ok : EXIT.itemsFailed;
      });
    });

  program
    .command('failures')
    .description(
      "the rows of a batch's tree that failed or were skipped and are not resolved yet, with their lines and reasons; or, with --format, a file of them to fix and give back to reprocess --corrections",
    )
    .argument('<batch-id>')
    .option('--all', 'also rows that a reprocess has resolved since (in the table)')
    .addOption(
      new Option(
        '--format <format>',
        'write a file to fix: csv (for a spreadsheet) or jsonl',
      ).choices(['csv', 'jsonl']),
    )
    .option('-o, --output <file>', 'where --format writes (default: standard output)')
    .action(
      async (
        batchId: string,
        options: { all?: boolean; format?: 'csv' | 'jsonl'; output?: string },
      ) => {
        if (options.output !== undefined && options.format === undefined) {
          throw new UsageError(cliMessages.outputWithoutFormat());
        }
        if (options.all && options.format !== undefined) {
          throw new UsageError(cliMessages.allWithFormat());
        }
        await runWithApp(async (_app, batches) => {
          if (options.format !== undefined) {
            return exportFailures(batches, batchId, options.format, options.output, next);
          }
          const failures = await batches.getFailures(batchId, {
            includeResolved: options.all,
            limit: 100_000,
          });
          const { rootBatchId, unresolved } = await batches.getLineage(batchId);
          out(
            failures,
            `${cliMessages.failuresHeading({ all: options.all === true, rootBatchId, unresolved })}\n${failuresTable(failures, options.all === true)}`,
          );
          return EXIT.ok;
        });
      },
    );

  program
    .command('correct')
    .description(
      'store corrections, used by the next reprocess: a file of fixes for a batch (--file), one field of an item (--set), or a whole row as JSON',
    )
    .argument('<id>', 'the batch (with --file), or the item')
    .argument('[json]', 'the corrected row of the item, as a JSON object')
    .option('-f, --file <file>', 'an edited failures file (.csv or .jsonl): all its rows or none')
    .option('--merge', 'change only the fields given (with --file: the columns of the file)')
    .option(
      '--delimiter <c>',
      'with --file: the CSV field separator, one character (\\t for a tab)',
      delimiter,
    )
    .option(
      '-s, --set <field=value>',
      'change one field of the item to a text, keeping the others (repeat it for more; for a number or another JSON value, give the row as JSON)',
      collectField,
      [] as Array<[string, string]>,
    )
    .action(
      async (
        id: string,
        json: string | undefined,
        options: {
          file?: string;
          merge?: boolean;
          delimiter?: string;
          set: Array<[string, string]>;
        },
      ) => {
        const ways = [options.file !== undefined, options.set.length > 0, json !== undefined];
        if (ways.filter(Boolean).length !== 1) {
          throw new UsageError(cliMessages.oneWayToCorrect());
        }
        if (options.file !== undefined) {
          const file = options.file;
          const format = correctionsFormat(file);
          await runWithApp(async (_app, batches) => {
            const result = await batches.correctItems(
              id,
              withFileName(
                file,
                readCorrections(createReadStream(file), { format, delimiter: options.delimiter }),
              ),
              { mode: options.merge ? 'merge' : 'replace' },
            );
            const lineage = await batches.getLineage(result.rootBatchId);
            out(
              result,
              cliMessages.correctedRows({
                ...result,
                command:
                  waitingBatchCommand(lineage, next) ?? next('reprocess', result.rootBatchId),
              }),
            );
            return EXIT.ok;
          });
          return;
        }
        const data = json !== undefined ? jsonRow(json) : Object.fromEntries(options.set);
        const mode = json !== undefined && !options.merge ? 'replace' : 'merge';
        await runWithApp(async (_app, batches) => {
          const item = await batches.correctItem(id, data, { mode });
          const lineage = await batches.getLineage(item.batchId);
          out(
            item,
            cliMessages.correctedItem({
              ...item,
              command: waitingBatchCommand(lineage, next) ?? next('reprocess', item.batchId),
            }),
          );
          return EXIT.ok;
        });
      },
    );

  program
    .command('reprocess')
    .description(
      "process the rows of a batch's tree that did not complete again, as a child batch; with --corrections, apply a file of fixes first, in the same step",
    )
    .argument('<batch-id>')
    .option(
      '-c, --corrections <file>',
      'an edited failures file (.csv or .jsonl): all its rows or none',
    )
    .option('--merge', 'with --corrections: change only the columns of the file')
    .addOption(maxFailuresOption())
    .addOption(maxFailureRateOption())
    .option(
      '--delimiter <c>',
      'the CSV field separator of the file, one character (\\t for a tab)',
      delimiter,
    )
    .option('--all', 'every row that did not complete, also rows left processing in an ended batch')
    .action(
      async (
        batchId: string,
        options: ErrorBudget & {
          all?: boolean;
          corrections?: string;
          merge?: boolean;
          delimiter?: string;
        },
      ) => {
        const file = options.corrections;
        const format = file === undefined ? undefined : correctionsFormat(file);
        await runWithApp(async (_app, batches) => {
          const summary = await batches.reprocessBatch(batchId, {
            ...budgetOf(options),
            failedItemsOnly: !options.all,
            ...(file !== undefined && format !== undefined
              ? {
                  corrections: withFileName(
                    file,
                    readCorrections(createReadStream(file), {
                      format,
                      delimiter: options.delimiter,
                    }),
                  ),
                  correctionMode: options.merge ? ('merge' as const) : ('replace' as const),
                }
              : {}),
          });
          const lineage = await batches.getLineage(summary.batchId);
          out(
            { ...summary, lineage },
            [
              summaryText(summary),
              '',
              lineageText(lineage),
              ...nextSteps(lineage, next, summary),
            ].join('\n'),
          );
          return statusOf(summary);
        });
      },
    );

  program
    .command('process')
    .description(
      'go on with a batch that was interrupted (exit status 3): processes its rows left pending; a finished batch is shown as it is',
    )
    .argument('<batch-id>')
    .addOption(maxFailuresOption())
    .addOption(maxFailureRateOption())
    .action(async (batchId: string, options: ErrorBudget) => {
      await runWithApp(async (_app, batches) => {
        const summary = await processWithProgress(batches, batchId, () =>
          batches.processBatch(batchId, budgetOf(options)),
        );
        const steps =
          summary.status === BATCH_STATUS.paused
            ? nextSteps(await batches.getLineage(batchId), next, summary)
            : [];
        out(summary, [summaryText(summary), ...steps].join('\n'));
        return statusOf(summary);
      });
    });
}

/**
 * What to run next after a run that left rows unresolved: the three commands of a recovery; or, for a
 * batch that was paused (by an operator, or by its error budget), how to fix its rows and go on with it.
 */
export function nextSteps(
  lineage: BatchLineage,
  next: (...args: string[]) => string,
  summary?: BatchSummary,
): string[] {
  if (summary?.status === BATCH_STATUS.paused) {
    const id = summary.batchId;
    return [
      '',
      cliMessages.pausedSteps({ failed: summary.failedItems }),
      ...(summary.failedItems > 0
        ? [
            `  ${next('failures', id, '--format', 'csv', '-o', 'fix.csv')}`,
            `  ${next('correct', id, '--file', 'fix.csv')}`,
          ]
        : []),
      `  ${next('resume', id)}`,
      `  ${next('process', id)}`,
    ];
  }
  // A batch that waits for approval runs its rows once approved: nothing to reprocess yet.
  if (lineage.unresolved === 0 || summary?.status === BATCH_STATUS.awaitingApproval) return [];
  // The first batch: a reprocess of a later one would take only that batch's rows, not the whole tree's.
  const id = lineage.rootBatchId;
  return [
    '',
    cliMessages.needFix(lineage),
    // With the module too, though failures does not need it: its hint gives the reprocess command.
    `  ${next('failures', id, '--format', 'csv', '-o', 'fix.csv')}`,
    `  ${next('reprocess', id, '--corrections', 'fix.csv')}`,
  ];
}

/**
 * The command that runs a tree's corrections when a batch of it waits: `resume` for a paused one,
 * `approve` for one awaiting approval (a reprocess is refused while it waits); null when none waits.
 */
function waitingBatchCommand(
  lineage: BatchLineage,
  next: (...args: string[]) => string,
): string | null {
  const paused = lineage.batches.find((batch) => batch.status === BATCH_STATUS.paused);
  if (paused) return next('resume', paused.batchId);
  const waiting = lineage.batches.find((batch) => batch.status === BATCH_STATUS.awaitingApproval);
  return waiting ? next('approve', waiting.batchId) : null;
}

async function exportFailures(
  batches: BatchService,
  batchId: string,
  format: 'csv' | 'jsonl',
  output: string | undefined,
  next: (...args: string[]) => string,
): Promise<number> {
  const stream = await batches.exportFailures(batchId, { format });
  if (output === undefined) {
    await pipeline(stream, process.stdout, { end: false });
    return EXIT.ok;
  }
  await pipeline(stream, createWriteStream(output));
  const lineage = await batches.getLineage(batchId);
  const { unresolved, rootBatchId } = lineage;
  const waiting = waitingBatchCommand(lineage, next);
  process.stderr.write(
    `${cliMessages.wroteFailures(
      waiting === null
        ? { unresolved, output, command: next('reprocess', rootBatchId, '--corrections', output) }
        : {
            unresolved,
            output,
            command: next('correct', rootBatchId, '--file', output),
            then: waiting,
          },
    )}\n`,
  );
  return EXIT.ok;
}

function failuresTable(failures: FailedRow[], all: boolean): string {
  const rows = failures.map((failure) => ({
    line: failure.line ?? `#${failure.itemIndex}`,
    item: failure.itemId,
    status: failure.status,
    reason: messages.failureReasons(failure),
    corrected: failure.corrected,
    ...(all ? { 'resolved by': failure.resolvedBy ?? '' } : {}),
    data: failure.data,
  }));
  const columns = [
    'line',
    'item',
    'status',
    'reason',
    'corrected',
    ...(all ? ['resolved by'] : []),
    'data',
  ];
  return table(rows, columns);
}

/** The tree of a batch and where its rows stand. */
export function lineageText(lineage: BatchLineage): string {
  const done = lineage.completedFirstTime + lineage.resolved;
  const summary = fields({
    rows: cliMessages.treeRows({ ...lineage, done }),
    unresolved: lineage.unresolved,
    'not processed': lineage.notProcessed,
  });
  const tree = lineage.batches.map(
    (batch) =>
      `${'  '.repeat(batch.depth)}${batch.depth > 0 ? '└ ' : ''}${batch.batchId}  ${batch.status}  ${cliMessages.treeBatch(batch)}`,
  );
  return `${summary}\n\n${cliMessages.treeOf(lineage)}\n${tree.join('\n')}`;
}

function correctionsFormat(file: string): 'csv' | 'jsonl' {
  assertFileExists(file, cliMessages.correctionsFile());
  return fileFormat(file, cliMessages.correctionsFileRole());
}

function jsonRow(json: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = parseJson(json);
  } catch (error) {
    throw new UsageError(cliMessages.correctionNotJson({ reason: (error as Error).message }));
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(cliMessages.correctionNotObject());
  }
  return data as Record<string, unknown>;
}

/** `--set field=value`, collected; the value is text, as a CSV cell is. */
function collectField(value: string, previous: Array<[string, string]>): Array<[string, string]> {
  const at = value.indexOf('=');
  if (at <= 0) {
    throw new InvalidArgumentError(cliMessages.badSetField({ given: value }));
  }
  return [...previous, [value.slice(0, at), value.slice(at + 1)]];
}
