import { Option, type Command } from 'commander';
import type { ScrubReport } from '../lib';
import { RETENTION_DAYS_RANGE, SLICE_SIZE_RANGE } from '../lib/utils/resolve-options.util';
import { EXIT, UsageError } from './cli-errors';
import { cliMessages } from './cli-messages';
import type { CommandScope } from './cli-run';
import { fields } from './output';
import { range } from './option-parsers';

const DAY_MS = 86_400_000;

/** The options of `scrub`, as commander hands them over. */
interface ScrubFlags {
  olderThan?: number;
  type?: string[];
  includeUnresolved?: boolean;
  sliceSize?: number;
  dryRun?: boolean;
}

/** A scrub's report as `key  value` lines. */
export function scrubFields(report: ScrubReport): string {
  return fields({
    trees: report.trees,
    rows: report.rows,
    'log entries': report.logs,
    slices: report.slices,
    kept: `${report.kept.live} live, ${report.kept.busy} busy`,
  });
}

/**
 * `scrub`: removes the personal data of the rows of ended trees of batches (`scrubSourceData`): by the
 * `scrub` option of the processors of `--module`, or, with `--older-than`, of every type.
 */
export function addScrubCommand(program: Command, scope: CommandScope): void {
  const { out, runWithApp } = scope;

  program
    .command('scrub')
    .description(
      "remove the personal data of old rows (keeping the fields your processors' scrub option keeps, and a digest), in short transactions; a scrubbed row cannot be corrected or reprocessed",
    )
    .addOption(
      new Option(
        '--older-than <days>',
        'scrub trees whose every batch ended more than this many days ago, of every type (without it: the scrub option your processors declare)',
      ).argParser(range(RETENTION_DAYS_RANGE.min, RETENTION_DAYS_RANGE.max)),
    )
    .option('-t, --type <batch-type...>', 'only trees of these batch types')
    .option(
      '--include-unresolved',
      'also rows that never completed (failed, skipped or cancelled, and not reprocessed since): they can no longer be corrected or reprocessed',
    )
    .addOption(
      new Option('--slice-size <n>', 'the most trees one transaction scrubs').argParser(
        range(SLICE_SIZE_RANGE.min, SLICE_SIZE_RANGE.max),
      ),
    )
    .option('--dry-run', 'say what would be scrubbed, and change nothing')
    .action(async (flags: ScrubFlags) => {
      const dryRun = flags.dryRun === true;
      await runWithApp(async (_app, batches) => {
        const report = await batches.scrubSourceData({
          olderThan:
            flags.olderThan === undefined
              ? undefined
              : new Date(Date.now() - flags.olderThan * DAY_MS),
          batchTypes: flags.type,
          includeUnresolved: flags.includeUnresolved,
          sliceSize: flags.sliceSize,
          dryRun,
        });
        if (report.policies === 0) throw new UsageError(cliMessages.scrubNeedsAge());
        out(
          report,
          [scrubFields(report), cliMessages.scrubbed({ dryRun, rows: report.rows })].join('\n'),
        );
        return EXIT.ok;
      });
    });
}
