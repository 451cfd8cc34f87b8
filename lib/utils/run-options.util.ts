import { ReliableImportsError } from '../errors/reliable-imports.error';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import { messages } from '../reliable-imports.messages';
import { ArgumentChecks } from './arguments.util';

/** The check of one per-run option. */
interface RunOptionCheck {
  valid(value: unknown): boolean;
  /** What a valid value is, as a message says it after "must be". */
  expected: string;
  /**
   * The code a call refuses a wrong value with, after it found the batch (the message names it). An option
   * without one is refused as a wrong argument of the method, before anything is looked up.
   */
  code?: 'INVALID_CONCURRENCY' | 'INVALID_COMMIT_EVERY' | 'INVALID_ITEM_TIMEOUT';
}

const wholeNumber = (
  min: number,
  max: number,
  code: RunOptionCheck['code'],
  note = '',
): RunOptionCheck => ({
  valid: (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max,
  expected: messages.expectedWholeNumber({ min, max, note }),
  code,
});

/** Shared with the module's and the processors' `itemTimeoutMs`, so that the three never disagree. */
export const ITEM_TIMEOUT_RANGE = { min: 100, max: 86_400_000 };

/** Shared with the CLI's `--concurrency` (the module's `worker.concurrency` takes this table's check). */
export const CONCURRENCY_RANGE = { min: 1, max: 64 };

/** The most rows a count of a batch's rows can be (an integer column). */
const MAX_ROWS = 2_147_483_647;

/** Shared with the CLI's `--commit-every`. */
export const COMMIT_EVERY_RANGE = { min: 1, max: 10_000 };

/**
 * The per-run options and their checks: `processBatch`, `reprocessBatch`, `import` (whose split of create
 * and run options is this table's keys) and the worker's `worker.run` (checked at bootstrap, with the
 * module options' wording) all take them from here.
 *
 * To add a run option: add its field, with TSDoc and `@default`, to `ProcessBatchOptions` (the compiler
 * then asks for its entry here), add its entry, and read it where the run applies it (`batch-runner.ts`).
 * Every call, `import()`'s split and `worker.run` take it with no further edit. An option with a `code` of
 * its own belongs in the HTTP status table (`to-http-exception.ts`) too.
 */
export const RUN_OPTION_CHECKS = {
  continueOnError: {
    valid: (value) => typeof value === 'boolean',
    expected: messages.expectedBoolean(),
  },
  concurrency: wholeNumber(CONCURRENCY_RANGE.min, CONCURRENCY_RANGE.max, 'INVALID_CONCURRENCY'),
  commitEvery: wholeNumber(
    COMMIT_EVERY_RANGE.min,
    COMMIT_EVERY_RANGE.max,
    'INVALID_COMMIT_EVERY',
    messages.transactionPerItemNote(),
  ),
  itemTimeoutMs: wholeNumber(
    ITEM_TIMEOUT_RANGE.min,
    ITEM_TIMEOUT_RANGE.max,
    'INVALID_ITEM_TIMEOUT',
  ),
  maxAttempts: wholeNumber(1, 100, undefined, messages.noRetryNote()),
  dryRun: {
    valid: (value) => typeof value === 'boolean',
    expected: messages.expectedBoolean(),
  },
  maxFailures: wholeNumber(0, MAX_ROWS, undefined),
  maxFailureRate: {
    valid: (value) => typeof value === 'number' && value >= 0 && value <= 1,
    expected: messages.expectedRate(),
  },
  failureRateMinItems: wholeNumber(1, MAX_ROWS, undefined),
} satisfies Record<keyof ProcessBatchOptions, RunOptionCheck>;

type RunOptionKey = keyof ProcessBatchOptions;

const RUN_OPTION_ENTRIES = Object.entries(RUN_OPTION_CHECKS) as [RunOptionKey, RunOptionCheck][];

/** The names of the per-run options, in the table's order. */
export const RUN_OPTION_KEYS: readonly RunOptionKey[] = RUN_OPTION_ENTRIES.map(([key]) => key);

/** Splits a call's options into the run's options and the others (`import()`'s create options...). */
export function splitRunOptions<T extends object>(
  options: T,
): [run: ProcessBatchOptions, rest: Omit<T, RunOptionKey>] {
  const run: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    ((RUN_OPTION_KEYS as readonly string[]).includes(key) ? run : rest)[key] = value;
  }
  return [run, rest as Omit<T, RunOptionKey>];
}

/** The run options without a code of their own, checked as arguments of `method`. */
export function checkRunArguments(method: string, options: ProcessBatchOptions): void {
  const check = new ArgumentChecks(method);
  for (const [key, entry] of RUN_OPTION_ENTRIES) {
    const value = options[key];
    if (entry.code === undefined && value !== undefined && !entry.valid(value)) {
      check.fail(`options.${key}`, messages.orLeftOut({ expected: entry.expected }), value);
    }
  }
}

/**
 * The run options with a code of their own, checked before anything is stored or touched: a wrong option
 * must not fail a batch or leave one behind (a reprocess's child, an import's new batch). `batchId` is null
 * for `import()`. Null is left out, as the runner reads it.
 */
export function checkRunOptions(batchId: string | null, options: ProcessBatchOptions): void {
  for (const [key, entry] of RUN_OPTION_ENTRIES) {
    const value: unknown = options[key];
    if (entry.code !== undefined && value !== undefined && value !== null && !entry.valid(value)) {
      throw new ReliableImportsError(
        entry.code,
        messages.invalidProcessOption(batchId, key, entry.expected, value),
        batchId === null ? {} : { batchId },
      );
    }
  }
}
