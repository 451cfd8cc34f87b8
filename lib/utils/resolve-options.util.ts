import { InvalidOptionsError } from '../errors/invalid-options.error';
import type {
  ReliableImportsModuleOptions,
  ResolvedReliableImportsOptions,
} from '../interfaces/reliable-imports-options.interface';

const DEFAULTS: ResolvedReliableImportsOptions = {
  continueOnError: true,
  leaseMs: 30_000,
  maxAttempts: 3,
  retryDelayMs: 100,
  maxRetryDelayMs: 5_000,
};

/** The whole-number options: their range, and how to say it. */
const RANGES: Record<
  'leaseMs' | 'maxAttempts' | 'retryDelayMs' | 'maxRetryDelayMs',
  [number, number, string]
> = {
  leaseMs: [1000, 86_400_000, 'a whole number of milliseconds from 1000 to 86400000 (a day)'],
  maxAttempts: [1, 100, 'a whole number from 1 (no retry) to 100'],
  retryDelayMs: [0, 60_000, 'a whole number of milliseconds from 0 to 60000'],
  maxRetryDelayMs: [0, 3_600_000, 'a whole number of milliseconds from 0 to 3600000 (an hour)'],
};

const KNOWN_KEYS = Object.keys(DEFAULTS);

/** A value as the user wrote it: JSON.stringify would show NaN as null and throw on a BigInt. */
const show = (value: unknown): string =>
  typeof value === 'string'
    ? JSON.stringify(value)
    : typeof value === 'bigint'
      ? `${value}n`
      : String(value);

/**
 * Applies the defaults and checks every option once, at bootstrap. Throws one error that lists every
 * problem with its fix, rather than failing on the first.
 */
export function resolveOptions(raw: unknown): ResolvedReliableImportsOptions {
  if (raw === undefined || raw === null) return { ...DEFAULTS };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidOptionsError([
      `the options must be an object, e.g. forRoot({ continueOnError: true }); got ${Array.isArray(raw) ? 'an array' : typeof raw}`,
    ]);
  }
  const options = raw as Record<string, unknown>;
  const problems: string[] = [];

  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.includes(key)) {
      problems.push(`"${key}" is not an option; the options are: ${KNOWN_KEYS.join(', ')}`);
    }
  }

  const { continueOnError } = options as ReliableImportsModuleOptions;
  if (continueOnError !== undefined && typeof continueOnError !== 'boolean') {
    problems.push(`continueOnError must be true or false; got ${show(continueOnError)}`);
  }
  for (const [key, [min, max, expected]] of Object.entries(RANGES)) {
    const value = options[key];
    if (
      value !== undefined &&
      (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    ) {
      problems.push(`${key} must be ${expected}; got ${show(value)}`);
    }
  }
  const given = Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  );
  const resolved = { ...DEFAULTS, ...(given as ReliableImportsModuleOptions) };
  if (problems.length === 0 && resolved.maxRetryDelayMs < resolved.retryDelayMs) {
    problems.push(
      `maxRetryDelayMs (${resolved.maxRetryDelayMs}) must not be below retryDelayMs (${resolved.retryDelayMs}); raise it or lower retryDelayMs`,
    );
  }

  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return resolved;
}
