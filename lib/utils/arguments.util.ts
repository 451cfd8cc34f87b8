import { InvalidArgumentError } from '../errors/invalid-argument.error';
import { messages } from '../reliable-imports.messages';
import {
  BATCH_STATUSES,
  ITEM_STATUSES,
  LOG_LEVELS,
  type BatchStatus,
  type ItemStatus,
  type LogLevel,
} from '../statuses';

/** The most rows one call of listBatches, getItems or getLogs returns. */
export const MAX_PAGE_SIZE = 100_000;

/** The argument checks of one public method; each throws `InvalidArgumentError` naming the method. */
export class ArgumentChecks {
  constructor(private readonly method: string) {}

  fail(argument: string, expected: string, received: unknown): never {
    throw new InvalidArgumentError(this.method, argument, expected, received);
  }

  /** An options or filter object, or nothing; returns it, or `{}` for nothing. */
  object<T extends object>(value: T | undefined | null, argument: string): Partial<T> {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.fail(argument, messages.orLeftOut({ expected: messages.expectedObject() }), value);
    }
    return value;
  }

  string(value: unknown, argument: string): string {
    if (typeof value !== 'string') this.fail(argument, messages.expectedString(), value);
    return value;
  }

  optionalString(value: unknown, argument: string): void {
    if (value !== undefined) this.string(value, argument);
  }

  optionalBoolean(value: unknown, argument: string): void {
    if (value !== undefined && typeof value !== 'boolean') {
      this.fail(argument, messages.orLeftOut({ expected: messages.expectedBoolean() }), value);
    }
  }

  /** One of the given strings. */
  oneOf(value: unknown, allowed: readonly string[], argument: string): void {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      this.fail(argument, messages.expectedOneOf({ values: allowed }), value);
    }
  }

  /** `limit` and `offset` of a filter, with the defaults applied. */
  page(
    filter: { limit?: unknown; offset?: unknown },
    defaultLimit: number,
    argument = 'filter',
  ): [limit: number, offset: number] {
    const { limit = defaultLimit, offset = 0 } = filter;
    if (!Number.isInteger(limit) || (limit as number) < 0 || (limit as number) > MAX_PAGE_SIZE) {
      this.fail(`${argument}.limit`, messages.expectedPageLimit({ max: MAX_PAGE_SIZE }), limit);
    }
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
      this.fail(`${argument}.offset`, messages.expectedPageOffset(), offset);
    }
    return [limit as number, offset as number];
  }

  batchStatuses(value: unknown, argument: string): BatchStatus[] | undefined {
    return this.among(value, argument, BATCH_STATUSES);
  }

  itemStatuses(value: unknown, argument: string): ItemStatus[] | undefined {
    return this.among(value, argument, ITEM_STATUSES);
  }

  logLevels(value: unknown, argument: string): LogLevel[] | undefined {
    return this.among(value, argument, LOG_LEVELS);
  }

  /** A value or a non-empty list of values of `allowed`, as a list; undefined when left out. */
  private among<T extends string>(
    value: unknown,
    argument: string,
    allowed: readonly T[],
  ): T[] | undefined {
    if (value === undefined) return undefined;
    const list: unknown[] = Array.isArray(value) ? value : [value];
    const isAllowed = (entry: unknown): entry is T =>
      typeof entry === 'string' && (allowed as readonly string[]).includes(entry);
    if (list.length === 0 || !list.every(isAllowed))
      this.fail(argument, messages.expectedAmong({ values: allowed }), value);
    return list;
  }
}
