import type { INestApplicationContext } from '@nestjs/common';
import { SingleBar } from 'cli-progress';
import { BATCH_STATUS, BatchService, type BatchStatus, type BatchSummary } from '../lib';
import { createCliApp, type CliConfig } from './cli-app';
import { EXIT } from './cli-errors';
import { cliMessages } from './cli-messages';
import type { RunContext } from './error-report';
import { fields } from './output';

/** The options every command shares. */
export interface GlobalOptions {
  json?: boolean;
  module?: string;
  pgliteDir: string;
  /** Set to false by `migrate` only. */
  checkSchema?: boolean;
}

/** A command's work: it runs with an application and returns the tool's exit status. */
export type AppWork = (app: INestApplicationContext, batches: BatchService) => Promise<number>;

/** What a command needs from the program: its options, its output, and how it runs its work. */
export interface CommandScope {
  globals: () => GlobalOptions;
  /** Prints `json` with `--json`, else `text`. */
  out: (json: unknown, text: string) => void;
  /** Runs `work` with an application (`withApp`) and makes the status it returns the exit status. */
  runWithApp: (
    work: AppWork,
    options?: {
      concurrency?: number;
      checkSchema?: boolean;
      /** A command that holds no rows (`watch`) says nothing of rows when it is stopped. */
      holdsNoRows?: boolean;
    },
  ) => Promise<void>;
}

export const print = (text: string): void => void process.stdout.write(`${text}\n`);

export const runContext = (options: GlobalOptions): RunContext => ({
  module: options.module ?? (process.env.RELIABLE_IMPORTS_MODULE || undefined),
});

function config(options: GlobalOptions, concurrency = 1): CliConfig {
  return {
    databaseUrl: process.env.DATABASE_URL || undefined,
    pgliteDir: options.pgliteDir,
    module: runContext(options).module,
    checkSchema: options.checkSchema,
    // A generous cap, not a count: the pool opens connections only as the lanes ask for them.
    poolSize: Math.max(10, concurrency * 2 + 2),
  };
}

/** Runs `work` with an application context, closes it, and returns the exit status. */
export async function withApp(
  options: GlobalOptions,
  work: AppWork,
  concurrency?: number,
  holdsNoRows = false,
): Promise<number> {
  const app = await createCliApp(config(options, concurrency));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  // Ctrl-C stops the run the way an application's shutdown does: the rows in flight finish or are given
  // back, and the run ends with PROCESSING_STOPPED (exit 3). A second Ctrl-C kills at once, as usual.
  const stop = (signal: NodeJS.Signals) => {
    if (!holdsNoRows) process.stderr.write(`${cliMessages.stopping({ signal })}\n`);
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

/** Statuses whose `errorMessage` is a reason someone (or an error budget) gave, not an error. */
const STOPPED_ON_PURPOSE: readonly BatchStatus[] = [
  BATCH_STATUS.paused,
  BATCH_STATUS.cancelled,
  BATCH_STATUS.rejected,
];

export function summaryText(summary: BatchSummary): string {
  return fields({
    batch: summary.batchId,
    type: summary.batchType,
    status: summary.status,
    total: summary.totalItems,
    completed: summary.completedItems,
    failed: summary.failedItems,
    skipped: summary.skippedItems,
    pending: summary.pendingItems,
    ...(summary.cancelledItems > 0 ? { cancelled: summary.cancelledItems } : {}),
    ...(summary.parentBatchId ? { 'reprocess of': summary.parentBatchId } : {}),
    ...(summary.errorMessage
      ? { [STOPPED_ON_PURPOSE.includes(summary.status) ? 'reason' : 'error']: summary.errorMessage }
      : {}),
    'duration ms': summary.durationMs,
    'items/s': summary.itemsPerSecond,
  });
}

/**
 * The exit status of a command that processed rows: 1 when any failed, or the batch failed or did not
 * finish because it was paused or cancelled (read-only commands exit 0).
 */
export const statusOf = (summary: BatchSummary): number =>
  summary.failedItems > 0 || UNFINISHED.includes(summary.status) ? EXIT.itemsFailed : EXIT.ok;

const UNFINISHED: readonly BatchStatus[] = [
  BATCH_STATUS.failed,
  BATCH_STATUS.paused,
  BATCH_STATUS.cancelled,
];

/** Processes a batch with a progress bar on stderr when it is a terminal. */
export async function processWithProgress(
  batches: BatchService,
  batchId: string,
  run: () => Promise<BatchSummary>,
): Promise<BatchSummary> {
  if (!process.stderr.isTTY) return run();
  // getProgress, not getBatchSummary: a summary counts every row, 4 times a second on a big file.
  const total = (await batches.getProgress(batchId)).totalItems;
  const bar = new SingleBar({
    stream: process.stderr,
    format: ' {bar} {value}/{total} items | {eta_formatted} left',
  });
  bar.start(total, 0);
  const timer = setInterval(() => {
    void batches.getProgress(batchId).then(
      (p) => bar.update(p.done),
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
