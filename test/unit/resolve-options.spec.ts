import { InvalidOptionsError } from '../../lib';
import { resolveOptions } from '../../lib/utils/resolve-options.util';

/** The InvalidOptionsError that `resolveOptions(raw)` throws; fails the test when it throws nothing. */
function problemsOf(raw: unknown): InvalidOptionsError {
  let thrown: unknown;
  try {
    resolveOptions(raw);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidOptionsError);
  return thrown as InvalidOptionsError;
}

const DEFAULTS = {
  continueOnError: true,
  leaseMs: 30_000,
  maxAttempts: 3,
  retryDelayMs: 100,
  maxRetryDelayMs: 5000,
  itemTimeoutMs: 300_000,
  storeErrorStacks: false,
  checkSchema: true,
  requireApproval: false,
  connectionPooler: 'detect',
  preparedStatements: true,
  worker: { enabled: false, concurrency: 1, pollIntervalMs: 1000, run: {} },
  retention: { intervalMs: 3_600_000, sliceSize: 100, includeUnresolved: false },
};
const OPTION_LIST =
  'continueOnError, leaseMs, maxAttempts, retryDelayMs, maxRetryDelayMs, itemTimeoutMs, storeErrorStacks, checkSchema, requireApproval, connectionPooler, preparedStatements, worker, retention, maxFailures, maxFailureRate, failureRateMinItems';

describe('resolveOptions', () => {
  it.each([
    ['an empty object', {}],
    ['undefined', undefined],
    ['null', null],
  ])('applies the defaults to %s', (_label, raw) => {
    expect(resolveOptions(raw)).toEqual(DEFAULTS);
  });

  it('keeps valid values', () => {
    const given = {
      continueOnError: false,
      leaseMs: 5000,
      maxAttempts: 1,
      retryDelayMs: 0,
      maxRetryDelayMs: 10,
      itemTimeoutMs: 100,
      storeErrorStacks: true,
      checkSchema: false,
      requireApproval: true,
      connectionPooler: 'transaction',
      preparedStatements: true,
      worker: {
        enabled: true,
        concurrency: 4,
        pollIntervalMs: 250,
        run: { continueOnError: false, commitEvery: 100, itemTimeoutMs: 1000 },
      },
      retention: {
        completedDays: 30,
        completedWithErrorsDays: 60,
        failedDays: 90,
        cancelledDays: 7,
        rejectedDays: 0,
        logsDays: 14,
        includeUnresolved: true,
        intervalMs: 60_000,
        sliceSize: 10,
      },
    };
    expect(resolveOptions(given)).toEqual(given);
  });

  it('accepts the bounds of leaseMs', () => {
    expect(resolveOptions({ leaseMs: 1000 }).leaseMs).toBe(1000);
    expect(resolveOptions({ leaseMs: 86_400_000 }).leaseMs).toBe(86_400_000);
  });

  it('treats a key set to undefined as left out', () => {
    expect(resolveOptions({ continueOnError: undefined, leaseMs: undefined })).toEqual(DEFAULTS);
  });

  it('returns a new object each time, so no caller can change the defaults', () => {
    const first = resolveOptions({});
    first.leaseMs = 1;
    expect(resolveOptions({}).leaseMs).toBe(30_000);
  });

  it('refuses an unknown key and lists the options there are', () => {
    const error = problemsOf({ contineOnError: false });
    expect(error.problems).toEqual([
      `"contineOnError" is not an option (did you mean "continueOnError"?); the options are: ${OPTION_LIST}`,
    ]);
    expect(error.message).toContain('"contineOnError" is not an option');
    expect(error.code).toBe('INVALID_OPTIONS');
  });

  it.each([
    ['a string', 'yes'],
    ['a number', 1],
    ['null', null],
  ])('refuses %s for continueOnError and says it must be a boolean', (_label, value) => {
    const error = problemsOf({ continueOnError: value });
    expect(error.problems).toEqual([
      `continueOnError must be true or false; got ${JSON.stringify(value)}`,
    ]);
  });

  it.each([
    ['a string', 'true'],
    ['a number', 1],
    ['null', null],
  ])('refuses %s for storeErrorStacks and says it must be a boolean', (_label, value) => {
    const error = problemsOf({ storeErrorStacks: value });
    expect(error.problems).toEqual([
      `storeErrorStacks must be true or false; got ${JSON.stringify(value)}`,
    ]);
  });

  it.each([
    ['negative', -1],
    ['zero', 0],
    ['below a second', 999],
    ['above a day', 86_400_001],
    ['fractional', 1500.5],
    ['a string', '30000'],
    ['null', null],
  ])('refuses a leaseMs that is %s and gives the accepted range', (_label, value) => {
    const error = problemsOf({ leaseMs: value });
    expect(error.problems).toEqual([
      `leaseMs must be a whole number of milliseconds from 1000 to 86400000 (a day); got ${JSON.stringify(value)}`,
    ]);
  });

  it.each([NaN, Infinity, -Infinity])('refuses a leaseMs of %p', (value) => {
    const error = problemsOf({ leaseMs: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(
      /^leaseMs must be a whole number of milliseconds from 1000 to 86400000 \(a day\); got /,
    );
  });

  it.each([
    ['a string', 'fast', 'string'],
    ['a number', 42, 'number'],
    ['a boolean', true, 'boolean'],
    ['an array', [{ continueOnError: true }], 'an array'],
  ])('refuses %s instead of an options object, with an example', (_label, raw, got) => {
    const error = problemsOf(raw);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toContain('the options must be an object');
    expect(error.problems[0]).toContain('forRoot({ continueOnError: true })');
    expect(error.problems[0]).toContain(`got ${got}`);
  });

  it('reports every problem in one error, each with its fix', () => {
    const error = problemsOf({ leaseMs: -1, continueOnError: 'no', bogus: 1, other: true });
    expect(error.problems).toHaveLength(4);
    expect(error.message.split('\n')).toEqual([
      'ReliableImportsModule options are invalid:',
      '  - leaseMs must be a whole number of milliseconds from 1000 to 86400000 (a day); got -1',
      '  - continueOnError must be true or false; got "no"',
      `  - "bogus" is not an option; the options are: ${OPTION_LIST}`,
      `  - "other" is not an option; the options are: ${OPTION_LIST}`,
    ]);
  });

  it('checks the retry options and that the longest delay is not below the first', () => {
    expect(problemsOf({ maxAttempts: 0, retryDelayMs: 1.5 }).problems).toEqual([
      'maxAttempts must be a whole number from 1 (no retry) to 100; got 0',
      'retryDelayMs must be a whole number of milliseconds from 0 to 60000; got 1.5',
    ]);
    expect(problemsOf({ retryDelayMs: 500, maxRetryDelayMs: 100 }).problems).toEqual([
      'maxRetryDelayMs (100) must not be below retryDelayMs (500); raise it or lower retryDelayMs',
    ]);
  });

  it('checks itemTimeoutMs', () => {
    expect(problemsOf({ itemTimeoutMs: 99 }).problems).toEqual([
      'itemTimeoutMs must be a whole number of milliseconds from 100 to 86400000 (a day); got 99',
    ]);
  });

  it('checks connectionPooler', () => {
    expect(resolveOptions({ connectionPooler: 'transaction' }).connectionPooler).toBe(
      'transaction',
    );
    expect(problemsOf({ connectionPooler: 'session' }).problems).toEqual([
      'connectionPooler must be "detect" or "transaction"; got "session"',
    ]);
  });

  it('turns prepared statements off behind a pooler in transaction mode, unless told otherwise', () => {
    expect(resolveOptions({}).preparedStatements).toBe(true);
    expect(resolveOptions({ connectionPooler: 'transaction' }).preparedStatements).toBe(false);
    expect(
      resolveOptions({ connectionPooler: 'transaction', preparedStatements: true })
        .preparedStatements,
    ).toBe(true);
    expect(resolveOptions({ preparedStatements: false }).preparedStatements).toBe(false);
    expect(problemsOf({ preparedStatements: 'yes' }).problems).toEqual([
      'preparedStatements must be true or false; got "yes"',
    ]);
  });

  it('checks the worker options, and fills in the ones left out', () => {
    expect(resolveOptions({ worker: { enabled: true } }).worker).toEqual({
      enabled: true,
      concurrency: 1,
      pollIntervalMs: 1000,
      run: {},
    });
    expect(
      problemsOf({ worker: { enabled: 'yes', concurency: 2, pollIntervalMs: 0 } }).problems,
    ).toEqual([
      'worker.enabled must be true or false; got "yes"',
      '"worker.concurency" is not an option (did you mean "worker.concurrency"?); the options of worker are: enabled, concurrency, pollIntervalMs, run',
      'worker.pollIntervalMs must be a whole number of milliseconds from 10 to 3600000; got 0',
    ]);
    expect(problemsOf({ worker: true }).problems).toEqual([
      'worker must be an object such as { enabled: true }; got true',
    ]);
  });

  it('checks the retention options, and fills in the ones left out', () => {
    expect(resolveOptions({ retention: { completedDays: 30 } }).retention).toEqual({
      completedDays: 30,
      intervalMs: 3_600_000,
      sliceSize: 100,
      includeUnresolved: false,
    });
    expect(
      problemsOf({
        retention: {
          completedDays: -1,
          failedDays: 1.5,
          logDays: 3,
          includeUnresolved: 'yes',
          intervalMs: 10,
          sliceSize: 0,
        },
      }).problems,
    ).toEqual([
      'retention.completedDays must be a whole number of days from 0 to 36500; got -1',
      'retention.failedDays must be a whole number of days from 0 to 36500; got 1.5',
      '"retention.logDays" is not an option (did you mean "retention.logsDays"?); the options of retention are: completedDays, completedWithErrorsDays, failedDays, cancelledDays, rejectedDays, logsDays, includeUnresolved, intervalMs, sliceSize',
      'retention.includeUnresolved must be true or false; got "yes"',
      'retention.intervalMs must be a whole number of milliseconds from 1000 to 604800000; got 10',
      'retention.sliceSize must be a whole number from 1 to 10000; got 0',
    ]);
    expect(problemsOf({ retention: 30 }).problems).toEqual([
      'retention must be an object such as { completedDays: 30, logsDays: 14 }; got 30',
    ]);
  });

  it("checks the worker's run options with the run options' checks", () => {
    expect(
      problemsOf({
        worker: {
          run: {
            continueOnError: 'no',
            concurrency: 4,
            commitEvery: 0,
            itemTimeoutMs: 99,
            dryRun: true,
            commitEvry: 10,
          },
        },
      }).problems,
    ).toEqual([
      'worker.run.continueOnError must be true or false; got "no"',
      'worker.run.concurrency is worker.concurrency: set it there instead (worker: { concurrency: 4 })',
      'worker.run.commitEvery must be a whole number from 1 (a transaction per item) to 10000; got 0',
      'worker.run.itemTimeoutMs must be a whole number from 100 to 86400000; got 99',
      'worker.run.dryRun cannot be set for the worker: a dry run is asked for one batch, with dryRunBatch(id)',
      expect.stringMatching(
        /^"worker\.run\.commitEvry" is not an option \(did you mean "worker\.run\.commitEvery"\?\); the options of worker\.run are: continueOnError, concurrency, commitEvery, itemTimeoutMs/,
      ),
    ]);
    expect(problemsOf({ requireApproval: 'yes' }).problems).toEqual([
      'requireApproval must be true or false; got "yes"',
    ]);
    expect(problemsOf({ worker: { run: 'fast' } }).problems).toEqual([
      'worker.run must be an object such as { commitEvery: 100 }; got "fast"',
    ]);
    expect(resolveOptions({ worker: { run: { commitEvery: 10_000 } } }).worker.run).toEqual({
      commitEvery: 10_000,
    });
  });
});
