import { InvalidArgumentError, ReliableImportsError } from '../../lib';
import {
  RUN_OPTION_KEYS,
  checkRunArguments,
  checkRunOptions,
  splitRunOptions,
} from '../../lib/utils/run-options.util';

const BATCH_ID = '00000000-0000-4000-8000-000000000001';

/** The error `check()` throws; fails the test when it throws nothing. */
function thrownBy(check: () => void): ReliableImportsError {
  let thrown: unknown;
  try {
    check();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ReliableImportsError);
  return thrown as ReliableImportsError;
}

describe('the run options table', () => {
  it('lists the run options in the order they are checked (a new one joins with no edit here)', () => {
    expect(RUN_OPTION_KEYS.slice(0, 4)).toEqual([
      'continueOnError',
      'concurrency',
      'commitEvery',
      'itemTimeoutMs',
    ]);
  });

  it("splits a call's options into the run's and the others by the table", () => {
    const [run, rest] = splitRunOptions({
      idempotencyKey: 'k',
      commitEvery: 100,
      itemTimeoutMs: 1000,
      continueOnError: false,
      concurrency: 2,
      metadata: { a: 1 },
    });
    expect(run).toEqual({
      commitEvery: 100,
      itemTimeoutMs: 1000,
      continueOnError: false,
      concurrency: 2,
    });
    expect(rest).toEqual({ idempotencyKey: 'k', metadata: { a: 1 } });
  });

  it.each([
    [
      'concurrency',
      0,
      'INVALID_CONCURRENCY',
      'concurrency must be a whole number from 1 to 64; got 0.',
    ],
    [
      'commitEvery',
      10_001,
      'INVALID_COMMIT_EVERY',
      'commitEvery must be a whole number from 1 (a transaction per item) to 10000; got 10001.',
    ],
    [
      'itemTimeoutMs',
      1.5,
      'INVALID_ITEM_TIMEOUT',
      'itemTimeoutMs must be a whole number from 100 to 86400000; got 1.5.',
    ],
  ])('refuses a wrong %s with its own code, naming the batch', (key, value, code, phrase) => {
    const error = thrownBy(() => checkRunOptions(BATCH_ID, { [key]: value }));
    expect(error.code).toBe(code);
    expect(error.message).toBe(`Cannot process batch "${BATCH_ID}": ${phrase}`);
    expect(error.context).toEqual({ batchId: BATCH_ID });
    const beforeStoring = thrownBy(() => checkRunOptions(null, { [key]: value }));
    expect(beforeStoring.message).toBe(
      `Cannot process a new batch (nothing was stored): ${phrase}`,
    );
  });

  it('accepts the bounds, and leaves out what is undefined or null', () => {
    expect(() =>
      checkRunOptions(BATCH_ID, { concurrency: 64, commitEvery: 10_000, itemTimeoutMs: 100 }),
    ).not.toThrow();
    expect(() =>
      checkRunOptions(BATCH_ID, {
        concurrency: null,
        commitEvery: undefined,
        itemTimeoutMs: null,
      } as never),
    ).not.toThrow();
  });

  it('refuses a continueOnError that is not a boolean as an argument of the method', () => {
    const error = thrownBy(() =>
      checkRunArguments('processBatch', { continueOnError: 'no' as unknown as boolean }),
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain(
      'processBatch(): options.continueOnError must be true or false (or left out); got "no"',
    );
    expect(() => checkRunArguments('processBatch', { maxAttempts: 101 })).toThrow(
      'processBatch(): options.maxAttempts must be a whole number from 1 (no retry) to 100 (or left out); got 101',
    );
    // The numbers with a code of their own wait for the batch id: checkRunOptions reports them.
    expect(() => checkRunArguments('processBatch', { concurrency: 0 })).not.toThrow();
  });
});
