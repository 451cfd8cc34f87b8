import type { Command } from 'commander';
import type { BatchService, DryRunSummary, ImportBatch } from '../lib';
import { EXIT } from './cli-errors';
import { cliMessages } from './cli-messages';
import { runContext, type CommandScope } from './cli-run';
import { commandLine } from './error-report';
import { table } from './output';

/**
 * The commands of a batch that waits for approval (`import --require-approval`, `import --dry-run`, or a
 * processor with `requireApproval`): `approve` lets the runs take it, `reject` ends it.
 */
export function addApprovalCommands(program: Command, scope: CommandScope): void {
  const { globals, out, runWithApp } = scope;
  const next = (...args: string[]) => commandLine(runContext(globals()), ...args);

  program
    .command('approve')
    .description(
      'let the runs take a batch that waits for approval; the worker (or "process <id>") runs it',
    )
    .argument('<batch-id>')
    .action(async (batchId: string) => {
      await runWithApp(async (_app, batches) => {
        const batch = await batches.approveBatch(batchId);
        out(batch, cliMessages.approved({ batchId: batch.id, command: next('process', batch.id) }));
        return EXIT.ok;
      });
    });

  program
    .command('reject')
    .description('end a batch that waits for approval: its rows are cancelled, none is processed')
    .argument('<batch-id>')
    .option('-r, --reason <text>', "why, stored as the batch's error message and in its log")
    .action(async (batchId: string, options: { reason?: string }) => {
      await runWithApp(async (_app, batches) => {
        const batch = await batches.rejectBatch(batchId, options.reason);
        out(batch, cliMessages.rejected({ batchId: batch.id, reason: batch.errorMessage ?? '' }));
        return EXIT.ok;
      });
    });
}

/**
 * `import --dry-run`: dry-runs the batch (created awaiting approval, so that no worker runs it meanwhile)
 * and says what would fail and how to approve or reject it. Exit 0 when nothing would fail.
 */
export async function dryRunImport(
  batches: BatchService,
  batch: ImportBatch,
  scope: Pick<CommandScope, 'globals' | 'out'>,
  extra: Record<string, unknown>,
): Promise<number> {
  const next = (...args: string[]) => commandLine(runContext(scope.globals()), ...args);
  const dryRun = await batches.dryRunBatch(batch.id);
  const summary = await batches.getBatchSummary(batch.id);
  // Rows of lines that could not be read were failed when the batch was stored: a run would not try them.
  const unread = summary.failedItems;
  scope.out({ ...summary, ...extra, dryRun }, dryRunText(dryRun, unread, summary.status, next));
  return dryRun.wouldFail > 0 || dryRun.batchRefused !== null || unread > 0
    ? EXIT.itemsFailed
    : EXIT.ok;
}

function dryRunText(
  dryRun: DryRunSummary,
  unread: number,
  status: string,
  next: (...args: string[]) => string,
): string {
  const lines = [cliMessages.dryRunOf({ ...dryRun, status })];
  if (dryRun.batchRefused !== null) lines.push(cliMessages.dryRunRefused(dryRun));
  if (unread > 0) lines.push(cliMessages.dryRunUnread({ unread }));
  if (dryRun.failures.length > 0) {
    lines.push(
      '',
      cliMessages.dryRunFailuresHeading(),
      table(
        dryRun.failures.map((failure) => ({
          line: failure.sourceLine ?? `#${failure.itemIndex}`,
          item: failure.itemId,
          code: failure.errorCode ?? '',
          reason: failure.reason,
        })),
        ['line', 'item', 'code', 'reason'],
      ),
    );
    if (dryRun.failuresTruncated) lines.push(cliMessages.dryRunMoreFailures(dryRun));
  }
  if (status === 'awaiting_approval') {
    lines.push(
      '',
      cliMessages.dryRunNextSteps(),
      `  ${next('approve', dryRun.batchId)}`,
      `  ${next('reject', dryRun.batchId, '--reason', "'the file is wrong'")}`,
    );
  }
  return lines.join('\n');
}
