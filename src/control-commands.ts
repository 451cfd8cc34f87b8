import type { Command } from 'commander';
import type { ImportBatch } from '../lib';
import { EXIT } from './cli-errors';
import { cliMessages } from './cli-messages';
import { runContext, type CommandScope } from './cli-run';
import { commandLine } from './error-report';
import { fields } from './output';
import { nonEmpty } from './option-parsers';

/**
 * The commands an operator controls a batch with, from any machine on the same database: `pause`,
 * `resume` and `cancel`. Each takes effect in every process that works on the batch.
 */
export function addControlCommands(program: Command, scope: CommandScope): void {
  const { globals, out, runWithApp } = scope;
  const next = (...args: string[]) => commandLine(runContext(globals()), ...args);
  const show = (batch: ImportBatch, sentence: string): number => {
    out(
      batch,
      [
        fields({
          batch: batch.id,
          status: batch.status,
          ...(batch.errorMessage ? { reason: batch.errorMessage } : {}),
        }),
        sentence,
      ].join('\n'),
    );
    return EXIT.ok;
  };

  program
    .command('pause')
    .description(
      'pause a batch in every process that runs it: no row is claimed from now on, the rows in flight finish; the pause survives restarts',
    )
    .argument('<batch-id>')
    .option('--reason <text>', 'why, kept with the batch until it is resumed', nonEmpty)
    .action(async (batchId: string, options: { reason?: string }) => {
      await runWithApp(async (_app, batches) => {
        const batch = await batches.pauseBatch(batchId, { reason: options.reason });
        return show(batch, cliMessages.paused({ resume: next('resume', batch.id) }));
      });
    });

  program
    .command('resume')
    .description(
      'resume a paused batch (paused by hand or by an error budget): the worker takes it at once, or run process; its failed rows corrected since go again',
    )
    .argument('<batch-id>')
    .option(
      '--retry-failed',
      'run every failed row again, not only the corrected ones (the cause was outside the rows and is fixed)',
    )
    .action(async (batchId: string, options: { retryFailed?: boolean }) => {
      await runWithApp(async (_app, batches) => {
        const batch = await batches.resumeBatch(batchId, { retryFailed: options.retryFailed });
        return show(batch, cliMessages.resumed({ process: next('process', batch.id) }));
      });
    });

  program
    .command('cancel')
    .description(
      'cancel a batch that has not ended: its rows no run holds become cancelled (not failed), the rows in flight finish; reprocess runs the cancelled rows later',
    )
    .argument('<batch-id>')
    .option('--reason <text>', 'why, kept with the batch and each cancelled row', nonEmpty)
    .action(async (batchId: string, options: { reason?: string }) => {
      await runWithApp(async (_app, batches) => {
        const batch = await batches.cancelBatch(batchId, { reason: options.reason });
        return show(
          batch,
          cliMessages.cancelled({
            cancelled: batch.cancelledItems,
            reprocess: next('reprocess', batch.id),
          }),
        );
      });
    });
}
