import { InvalidOptionsError } from '../errors/invalid-options.error';
import type {
  ReliableImportsModuleOptions,
  ResolvedReliableImportsOptions,
} from '../interfaces/reliable-imports-options.interface';

const DEFAULTS: ResolvedReliableImportsOptions = {
  continueOnError: true,
  leaseMs: 30_000,
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

  const { continueOnError, leaseMs } = options as ReliableImportsModuleOptions;
  if (continueOnError !== undefined && typeof continueOnError !== 'boolean') {
    problems.push(`continueOnError must be true or false; got ${show(continueOnError)}`);
  }
  if (
    leaseMs !== undefined &&
    (typeof leaseMs !== 'number' ||
      !Number.isInteger(leaseMs) ||
      leaseMs < 1000 ||
      leaseMs > 86_400_000)
  ) {
    problems.push(
      `leaseMs must be a whole number of milliseconds from 1000 to 86400000 (a day); got ${show(leaseMs)}`,
    );
  }

  if (problems.length > 0) throw new InvalidOptionsError(problems);
  return {
    continueOnError: continueOnError ?? DEFAULTS.continueOnError,
    leaseMs: leaseMs ?? DEFAULTS.leaseMs,
  };
}
