import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import type { BatchProgress } from '../lib';
import { isEndedBatch } from '../lib/statuses';
import { EXIT } from './cli-errors';
import { cliMessages } from './cli-messages';
import { statusOf, summaryText, type CommandScope } from './cli-run';
import { range } from './option-parsers';

/** Where stderr is no terminal, a line at most this often (and the first and the last reading). */
const LINE_EVERY_MS = 5000;

/**
 * `watch <batch-id>`: the progress of a batch that another process or machine runs, until it ends; then
 * its summary, and the exit status a run of it would have had (`statusOf`).
 */
export function addWatchCommand(program: Command, { out, runWithApp }: CommandScope): void {
  program
    .command('watch')
    .description(
      'follow a batch that another process or machine runs: a progress bar with counts, rate and ETA ' +
        '(a line every few seconds when stderr is not a terminal); ends when the batch ends, with the ' +
        'exit status of its outcome (0: every row completed; 1: rows failed, or the batch failed or was cancelled)',
    )
    .argument('<batch-id>')
    .option(
      '--interval <ms>',
      'how often to read the progress, in milliseconds (100 to 60000)',
      range(100, 60_000),
      1000,
    )
    .action(async (batchId: string, options: { interval: number }) => {
      await runWithApp(
        async (_app, batches) => {
          const display = process.stderr.isTTY ? new ProgressBar() : new ProgressLines();
          let last: BatchProgress | undefined;
          try {
            for await (const progress of batches.watchBatch(batchId, {
              intervalMs: options.interval,
            })) {
              last = progress;
              display.show(progress);
            }
          } finally {
            display.stop();
          }
          // The app shut down first (Ctrl-C): the batch goes on elsewhere.
          if (!last || !isEndedBatch(last.status)) {
            process.stderr.write(`${cliMessages.watchStopped({ batchId })}\n`);
            return EXIT.interrupted;
          }
          const summary = await batches.getBatchSummary(batchId);
          out(summary, summaryText(summary));
          return statusOf(summary);
        },
        { holdsNoRows: true },
      );
    });
}

/** How a watch shows its readings. */
interface ProgressDisplay {
  show(progress: BatchProgress): void;
  /** After the last reading, or when the watch ends without one. */
  stop(): void;
}

/** The figures after the bar, or after the counts of a line. */
function figures(p: BatchProgress): string {
  const unknown = cliMessages.unknownFigure();
  return cliMessages.watchFigures({
    status: p.status,
    failed: p.failed,
    skipped: p.skipped,
    inFlight: p.inFlight,
    rate: p.itemsPerSecond === null ? unknown : p.itemsPerSecond.toFixed(1),
    eta: p.etaMs === null ? unknown : cliMessages.duration({ ms: p.etaMs }),
  });
}

/** On a terminal: one bar, redrawn in place. */
class ProgressBar implements ProgressDisplay {
  private readonly bar = new SingleBar({
    stream: process.stderr,
    format: ' {bar} {percentage}% | {value}/{total} rows | {figures}',
    hideCursor: true,
  });
  private started = false;

  show(progress: BatchProgress): void {
    const payload = { figures: figures(progress) };
    // A batch of no rows: a bar of one step, full.
    const total = Math.max(progress.totalItems, 1);
    const value = progress.totalItems === 0 ? 1 : progress.done;
    if (!this.started) {
      this.bar.start(total, value, payload);
      this.started = true;
    } else {
      this.bar.setTotal(total);
      this.bar.update(value, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}

/** In a log: a line for the first reading, then one every few seconds, and one for the last. */
class ProgressLines implements ProgressDisplay {
  private lastLineAt = 0;
  private unwritten: BatchProgress | undefined;

  show(progress: BatchProgress): void {
    const now = Date.now();
    if (this.lastLineAt !== 0 && now - this.lastLineAt < LINE_EVERY_MS) {
      this.unwritten = progress;
      return;
    }
    this.write(progress);
    this.lastLineAt = now;
  }

  stop(): void {
    if (this.unwritten) this.write(this.unwritten);
  }

  private write(progress: BatchProgress): void {
    this.unwritten = undefined;
    process.stderr.write(
      `${cliMessages.watchLine({
        batchId: progress.batchId,
        percent: progress.percent,
        done: progress.done,
        totalItems: progress.totalItems,
        figures: figures(progress),
      })}\n`,
    );
  }
}
