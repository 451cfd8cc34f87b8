/**
 * A process of the fault suite: processes a batch, reprocesses one, runs the worker for a while, or
 * pauses, resumes or cancels a batch as an operator's other process would, with
 * the real module on its own connections, and prints one JSON line with what happened. Configured by
 * the JSON in CHAOS_CHILD_CONFIG (see ChildConfig). Run with `node -r @swc-node/register`.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import {
  BatchService,
  type CorrectionMode,
  type ProcessBatchOptions,
  type ItemCorrection,
  type ReliableImportsModuleOptions,
} from '../../lib';
import { chaosAppModule } from './chaos-processor';

export interface ChildConfig {
  url: string;
  mode: 'process' | 'reprocess' | 'worker' | 'control';
  batchId?: string;
  concurrency: number;
  commitEvery: number;
  continueOnError: boolean;
  failedItemsOnly?: boolean;
  /** A reprocess with corrections, applied in the same transaction as its child batch's creation. */
  corrections?: ItemCorrection[];
  correctionMode?: CorrectionMode;
  leaseMs: number;
  itemTimeoutMs?: number;
  /** How long a worker runs before it shuts down. */
  lifetimeMs?: number;
  /** The error budget of a process run. */
  budget?: RunBudget;
  /** What a control process does to `batchId`. */
  control?: ControlAction;
}

/** An error budget of a run. */
export type RunBudget = Pick<
  ProcessBatchOptions,
  'maxFailures' | 'maxFailureRate' | 'failureRateMinItems'
>;

/** An operator's control of a batch, from a process of its own. */
export interface ControlAction {
  action: 'pause' | 'resume' | 'cancel';
  reason?: string;
  retryFailed?: boolean;
  /** Acts once a row of the batch is in flight (as getProgress tells), or after 5 s. */
  whenInFlight?: boolean;
}

const config = JSON.parse(process.env.CHAOS_CHILD_CONFIG ?? '{}') as ChildConfig;

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

const describe = (error: unknown) =>
  error instanceof Error
    ? {
        name: error.name,
        code: (error as { code?: unknown }).code,
        message: error.message,
        // A refused set of corrections: where each problem is, for the suite to find its poisoned entry.
        problems: (error as { problems?: unknown }).problems,
      }
    : { name: typeof error, message: String(error) };

async function main(): Promise<void> {
  const options: ReliableImportsModuleOptions & { itemTimeoutMs?: number } = {
    leaseMs: config.leaseMs,
    retryDelayMs: 10,
    maxRetryDelayMs: 100,
    worker:
      config.mode === 'worker'
        ? { enabled: true, concurrency: config.concurrency, pollIntervalMs: 200 }
        : undefined,
  };
  if (config.itemTimeoutMs !== undefined) options.itemTimeoutMs = config.itemTimeoutMs;
  const app = await NestFactory.createApplicationContext(chaosAppModule(config.url, options), {
    logger: ['error'],
  });
  app.enableShutdownHooks();
  print({ ready: true, pid: process.pid });
  const batches = app.get(BatchService);
  const runOptions = {
    concurrency: config.concurrency,
    commitEvery: config.commitEvery,
    continueOnError: config.continueOnError,
  };
  try {
    if (config.mode === 'worker') {
      await new Promise((resolve) => setTimeout(resolve, config.lifetimeMs ?? 2000));
      print({ done: true });
    } else if (config.mode === 'control') {
      const { action, reason, retryFailed, whenInFlight } = config.control!;
      for (const until = Date.now() + 5000; whenInFlight && Date.now() < until;) {
        const progress = await batches.getProgress(config.batchId!);
        if (progress.inFlight > 0 || !['pending', 'processing'].includes(progress.status)) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const batch =
        action === 'pause'
          ? await batches.pauseBatch(config.batchId!, { reason })
          : action === 'resume'
            ? await batches.resumeBatch(config.batchId!, { retryFailed })
            : await batches.cancelBatch(config.batchId!, { reason });
      print({ done: true, status: batch.status });
    } else if (config.mode === 'process') {
      const summary = await batches.processBatch(config.batchId!, {
        ...runOptions,
        ...config.budget,
      });
      print({ done: true, summary });
    } else {
      const summary = await batches.reprocessBatch(config.batchId!, {
        ...runOptions,
        failedItemsOnly: config.failedItemsOnly,
        corrections: config.corrections,
        correctionMode: config.correctionMode,
      });
      print({ done: true, summary });
    }
  } catch (error) {
    print({ done: false, error: describe(error) });
  }
  await app.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    print({ done: false, error: describe(error), fatal: true });
    process.exit(1);
  },
);
