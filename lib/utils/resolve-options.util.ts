import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import type { ImportProcessorOptions } from '../interfaces/processor.interface';
import type {
  ResolvedRetentionOptions,
  RetentionOptions,
  RetentionPolicy,
} from '../interfaces/retention.interface';
import type { ScrubPolicy } from '../interfaces/scrubbing.interface';
import {
  CONNECTION_POOLERS,
  type ResolvedReliableImportsOptions,
  type ResolvedWorkerOptions,
} from '../interfaces/reliable-imports-options.interface';
import { messages } from '../reliable-imports.messages';
import { nearestName } from './nearest-name.util';
import { ITEM_TIMEOUT_RANGE, RUN_OPTION_CHECKS, RUN_OPTION_KEYS } from './run-options.util';

type Check = (value: unknown) => string | null;

/** A value as the user wrote it: JSON.stringify would show NaN as null and throw on a BigInt. */
const show = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value)
    : typeof value === 'bigint'
      ? `${value}n`
      : String(value);

const boolean: Check = (value) =>
  typeof value === 'boolean'
    ? null
    : messages.optionMustBe({ expected: messages.expectedBoolean(), got: show(value) });

const wholeNumber =
  (min: number, max: number, expected: string): Check =>
  (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? null
      : messages.optionMustBe({ expected, got: show(value) });

const object =
  (example: string): Check =>
  (value) =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? null
      : messages.optionMustBeObject({ example, got: show(value) });

const WORKER_DEFAULTS: ResolvedWorkerOptions = {
  enabled: false,
  concurrency: 1,
  pollIntervalMs: 1000,
  run: {},
};

/**
 * An option checked by the run options' table in the module options' words, so that the module and a run
 * never disagree on what a valid value is.
 */
const fromRunCheck =
  (key: keyof ProcessBatchOptions): Check =>
  (value) =>
    RUN_OPTION_CHECKS[key].valid(value)
      ? null
      : messages.optionMustBe({ expected: RUN_OPTION_CHECKS[key].expected, got: show(value) });

/**
 * `worker.run` takes every run option, checked by the run options' table; its concurrency is
 * `worker.concurrency`, which it had before runs took options.
 */
const WORKER_RUN_CHECKS = Object.fromEntries(
  RUN_OPTION_KEYS.map((key): [string, Check] => [
    key,
    key === 'concurrency'
      ? (value) => messages.workerRunConcurrency({ got: show(value) })
      : key === 'dryRun'
        ? () => messages.workerRunDryRun()
        : fromRunCheck(key),
  ]),
) as Record<keyof ProcessBatchOptions, Check>;

const WORKER_CHECKS: Record<keyof ResolvedWorkerOptions, Check> = {
  enabled: boolean,
  concurrency: fromRunCheck('concurrency'),
  pollIntervalMs: wholeNumber(
    10,
    3_600_000,
    messages.expectedMilliseconds({ min: 10, max: 3_600_000 }),
  ),
  run: object('{ commitEvery: 100 }'),
};

/** The most days a retention keeps anything for: a hundred years. */
export const RETENTION_DAYS_RANGE = { min: 0, max: 36_500 };

/** The sizes a slice of `pruneImports` may have, in batches. */
export const SLICE_SIZE_RANGE = { min: 1, max: 10_000 };

const RETENTION_DEFAULTS: ResolvedRetentionOptions = {
  intervalMs: 3_600_000,
  sliceSize: 100,
  includeUnresolved: false,
};

const days: Check = wholeNumber(
  RETENTION_DAYS_RANGE.min,
  RETENTION_DAYS_RANGE.max,
  messages.expectedDays(RETENTION_DAYS_RANGE),
);

/** What a processor's `retention` may say too: the days and whether unresolved trees go. */
const RETENTION_POLICY_CHECKS: Record<keyof RetentionPolicy, Check> = {
  completedDays: days,
  completedWithErrorsDays: days,
  failedDays: days,
  cancelledDays: days,
  rejectedDays: days,
  logsDays: days,
  includeUnresolved: boolean,
};

const RETENTION_CHECKS: Record<keyof RetentionOptions, Check> = {
  ...RETENTION_POLICY_CHECKS,
  intervalMs: wholeNumber(
    1000,
    604_800_000,
    messages.expectedMilliseconds({ min: 1000, max: 604_800_000, named: true }),
  ),
  sliceSize: wholeNumber(
    SLICE_SIZE_RANGE.min,
    SLICE_SIZE_RANGE.max,
    messages.expectedWholeNumber(SLICE_SIZE_RANGE),
  ),
};

/** A processor's `scrub`: its days are retention's days. */
const SCRUB_CHECKS: Record<keyof ScrubPolicy, Check> = {
  afterDays: days,
  keepFields: (value) =>
    Array.isArray(value) && value.every((field) => typeof field === 'string')
      ? null
      : messages.optionMustBe({ expected: messages.expectedFieldNames(), got: show(value) }),
  includeUnresolved: boolean,
};

const DEFAULTS: ResolvedReliableImportsOptions = {
  continueOnError: true,
  leaseMs: 30_000,
  maxAttempts: 3,
  retryDelayMs: 100,
  maxRetryDelayMs: 5_000,
  itemTimeoutMs: 300_000,
  storeErrorStacks: false,
  checkSchema: true,
  requireApproval: false,
  connectionPooler: 'detect',
  preparedStatements: true,
  worker: WORKER_DEFAULTS,
  retention: RETENTION_DEFAULTS,
};

const CHECKS: Record<keyof ResolvedReliableImportsOptions, Check> = {
  continueOnError: boolean,
  leaseMs: wholeNumber(
    1000,
    86_400_000,
    messages.expectedMilliseconds({ min: 1000, max: 86_400_000, named: true }),
  ),
  maxAttempts: fromRunCheck('maxAttempts'),
  retryDelayMs: wholeNumber(0, 60_000, messages.expectedMilliseconds({ min: 0, max: 60_000 })),
  maxRetryDelayMs: wholeNumber(
    0,
    3_600_000,
    messages.expectedMilliseconds({ min: 0, max: 3_600_000, named: true }),
  ),
  // The run's itemTimeoutMs is checked with the same range (run-options.util.ts).
  itemTimeoutMs: wholeNumber(
    ITEM_TIMEOUT_RANGE.min,
    ITEM_TIMEOUT_RANGE.max,
    messages.expectedMilliseconds({ ...ITEM_TIMEOUT_RANGE, named: true }),
  ),
  storeErrorStacks: boolean,
  checkSchema: boolean,
  requireApproval: boolean,
  connectionPooler: (value) =>
    CONNECTION_POOLERS.includes(value as never)
      ? null
      : messages.optionMustBe({
          expected: messages.expectedOneOf({ values: CONNECTION_POOLERS }),
          got: show(value),
        }),
  preparedStatements: boolean,
  worker: object('{ enabled: true }'),
  retention: object('{ completedDays: 30, logsDays: 14 }'),
  maxFailures: fromRunCheck('maxFailures'),
  maxFailureRate: fromRunCheck('maxFailureRate'),
  failureRateMinItems: fromRunCheck('failureRateMinItems'),
};

/**
 * `@ImportProcessor()` options: those it shares with the module are checked by the module's checks, so
 * the two never disagree.
 */
const PROCESSOR_CHECKS: Record<keyof ImportProcessorOptions, Check> = {
  batchType: (value) =>
    typeof value === 'string' ? null : messages.processorBatchTypeNotString({ got: show(value) }),
  continueOnError: CHECKS.continueOnError,
  itemTimeoutMs: CHECKS.itemTimeoutMs,
  requireApproval: CHECKS.requireApproval,
  maxFailures: CHECKS.maxFailures,
  maxFailureRate: CHECKS.maxFailureRate,
  failureRateMinItems: CHECKS.failureRateMinItems,
  retention: CHECKS.retention,
  scrub: object("{ afterDays: 30, keepFields: ['country'] }"),
};

/** Checks one level of options against its checks; returns the defined values and adds the problems. */
function checkGroup<T extends object>(
  given: Record<string, unknown>,
  checks: Record<keyof T, Check>,
  prefix: string,
  problems: string[],
): Partial<T> {
  const known = Object.keys(checks);
  const defined: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!known.includes(key)) {
      const meant = nearestName(key, known);
      problems.push(messages.unknownOption({ prefix, key, meant, known }));
      continue;
    }
    if (value === undefined) continue;
    const problem = checks[key as keyof T](value);
    if (problem) problems.push(`${prefix}${key} ${problem}`);
    else defined[key] = value;
  }
  return defined as Partial<T>;
}

/**
 * Applies the defaults and checks every option once, at bootstrap. Throws one error that lists every
 * problem with its fix, rather than failing on the first.
 */
export function resolveOptions(raw: unknown): ResolvedReliableImportsOptions {
  if (raw === undefined || raw === null) {
    return {
      ...DEFAULTS,
      worker: { ...WORKER_DEFAULTS, run: {} },
      retention: { ...RETENTION_DEFAULTS },
    };
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidOptionsError([
      messages.optionsNotObject({ kind: Array.isArray(raw) ? 'an array' : typeof raw }),
    ]);
  }
  const problems: string[] = [];
  const top = checkGroup<ResolvedReliableImportsOptions>(
    raw as Record<string, unknown>,
    CHECKS,
    '',
    problems,
  );
  const worker = checkGroup<ResolvedWorkerOptions>(
    top.worker ?? {},
    WORKER_CHECKS,
    'worker.',
    problems,
  );
  const run = checkGroup<ProcessBatchOptions>(
    worker.run ?? {},
    WORKER_RUN_CHECKS,
    'worker.run.',
    problems,
  );
  const retention = checkGroup<RetentionOptions>(
    (top.retention ?? {}) as Record<string, unknown>,
    RETENTION_CHECKS,
    'retention.',
    problems,
  );
  const resolved: ResolvedReliableImportsOptions = {
    ...DEFAULTS,
    ...top,
    preparedStatements: top.preparedStatements ?? top.connectionPooler !== 'transaction',
    worker: { ...WORKER_DEFAULTS, ...worker, run },
    retention: { ...RETENTION_DEFAULTS, ...retention },
  };
  if (problems.length === 0 && resolved.maxRetryDelayMs < resolved.retryDelayMs) {
    problems.push(messages.retryDelaysInverted(resolved));
  }
  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return resolved;
}

/**
 * Checks the options of a class's `@ImportProcessor()`, at bootstrap, with the module options' checks;
 * returns every problem (none when they are valid).
 */
export function processorOptionProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return [messages.processorArgumentNotObject({ got: show(raw) })];
  }
  const problems: string[] = [];
  const checked = checkGroup<ImportProcessorOptions>(
    raw as Record<string, unknown>,
    PROCESSOR_CHECKS,
    '',
    problems,
  );
  checkGroup<RetentionPolicy>(
    (checked.retention ?? {}) as Record<string, unknown>,
    RETENTION_POLICY_CHECKS,
    'retention.',
    problems,
  );
  if (checked.scrub !== undefined) {
    const scrub = checkGroup<ScrubPolicy>(
      checked.scrub as unknown as Record<string, unknown>,
      SCRUB_CHECKS,
      'scrub.',
      problems,
    );
    if (scrub.afterDays === undefined && !('afterDays' in checked.scrub)) {
      problems.push(messages.scrubWithoutDays());
    }
  }
  return problems;
}
