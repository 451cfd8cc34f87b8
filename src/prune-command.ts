import { Option, type Command } from 'commander';
import type { BatchStatus, PruneReport } from '../lib';
import { ENDED_BATCH_STATUSES } from '../lib/statuses';
import { RETENTION_DAYS_RANGE, SLICE_SIZE_RANGE } from '../lib/utils/resolve-options.util';
import { EXIT, UsageError } from './cli-errors';
import { cliMessages } from './cli-messages';
import type { CommandScope } from './cli-run';
import { fields } from './output';
import { range } from './option-parsers';

const DAY_MS = 86_400_000;

/** The options of `prune`, as commander hands them over. */
interface PruneFlags {
  olderThan?: number;
  status?: BatchStatus[];
  type?: string[];
  includeUnresolved?: boolean;
  sliceSize?: number;
  dryRun?: boolean;
}

/** A removal's report as `key  value` lines. */
function reportFields(report: PruneReport): string {
  const byStatus = Object.entries(report.batchesByStatus)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');
  return fields({
    trees: report.trees,
    batches: byStatus ? `${report.batches} (${byStatus})` : report.batches,
    rows: report.items,
    logs: report.logs,
    'progress rows': report.progressRows,
    slices: report.slices,
    kept: `${report.kept.live} live, ${report.kept.unresolved} unresolved, ${report.kept.busy} busy`,
  });
}

/**
 * `prune`: removes ended trees of batches older than a number of days (`pruneImports`), in slices; with
 * no `--older-than`, applies the retention the processors of `--module` declare (`applyRetention`).
 */
export function addPruneCommand(program: Command, scope: CommandScope): void {
  const { out, runWithApp } = scope;

  program
    .command('prune')
    .description(
      'remove ended batches (each with its reprocesses, as a whole) and their rows and logs, in short transactions; never a batch that may still run',
    )
    .addOption(
      new Option(
        '--older-than <days>',
        'remove trees whose every batch ended more than this many days ago (without it: the retention your processors declare)',
      ).argParser(range(RETENTION_DAYS_RANGE.min, RETENTION_DAYS_RANGE.max)),
    )
    .addOption(
      new Option(
        '-s, --status <status...>',
        'only trees whose every batch has one of these',
      ).choices(ENDED_BATCH_STATUSES),
    )
    .option('-t, --type <batch-type...>', 'only trees of these batch types')
    .option(
      '--include-unresolved',
      'also trees with rows that never completed (failed, skipped or cancelled, and not reprocessed since)',
    )
    .addOption(
      new Option('--slice-size <n>', 'the most batches one transaction removes').argParser(
        range(SLICE_SIZE_RANGE.min, SLICE_SIZE_RANGE.max),
      ),
    )
    .option('--dry-run', 'say what would be removed, and remove nothing')
    .action(async (flags: PruneFlags) => {
      const dryRun = flags.dryRun === true;
      if (flags.olderThan === undefined) {
        if (flags.status || flags.type || flags.includeUnresolved || flags.sliceSize) {
          throw new UsageError(cliMessages.pruneNeedsAge());
        }
        await runWithApp(async (_app, batches) => {
          const report = await batches.applyRetention({ dryRun });
          if (!report.ran) {
            out(report, cliMessages.retentionBusy());
            return EXIT.ok;
          }
          if (report.policies === 0) {
            throw new UsageError(cliMessages.pruneNeedsAge());
          }
          out(
            report,
            [
              reportFields(report.batches),
              cliMessages.pruned({
                dryRun,
                batches: report.batches.batches,
                logs: report.logs.logs,
              }),
              // Applying retention applies the processors' scrub too.
              ...(report.scrubbed.policies > 0
                ? [cliMessages.scrubbed({ dryRun, rows: report.scrubbed.rows })]
                : []),
            ].join('\n'),
          );
          return EXIT.ok;
        });
        return;
      }
      const olderThan = new Date(Date.now() - flags.olderThan * DAY_MS);
      await runWithApp(async (_app, batches) => {
        const report = await batches.pruneImports({
          olderThan,
          statuses: flags.status,
          batchTypes: flags.type,
          includeUnresolved: flags.includeUnresolved,
          sliceSize: flags.sliceSize,
          dryRun,
        });
        out(
          report,
          [
            reportFields(report),
            cliMessages.pruned({ dryRun, batches: report.batches, logs: 0 }),
            ...(report.kept.unresolved > 0 && !flags.includeUnresolved
              ? [cliMessages.prunedKeptUnresolved({ trees: report.kept.unresolved })]
              : []),
          ].join('\n'),
        );
        return EXIT.ok;
      });
    });
}
