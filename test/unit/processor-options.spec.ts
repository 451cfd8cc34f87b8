import { nearestName } from '../../lib/utils/nearest-name.util';
import { processorOptionProblems } from '../../lib/utils/resolve-options.util';

describe('processorOptionProblems', () => {
  it('accepts what @ImportProcessor() accepts', () => {
    expect(processorOptionProblems({})).toEqual([]);
    expect(processorOptionProblems({ batchType: 'orders' })).toEqual([]);
    expect(
      processorOptionProblems({ batchType: 'orders', continueOnError: false, itemTimeoutMs: 100 }),
    ).toEqual([]);
    expect(processorOptionProblems({ continueOnError: undefined })).toEqual([]);
  });

  it('lists every problem, with the checks of the module options', () => {
    expect(
      processorOptionProblems({ continueOnError: 'no', itemTimeoutMs: 99, retries: 3 }),
    ).toEqual([
      'continueOnError must be true or false; got "no"',
      'itemTimeoutMs must be a whole number of milliseconds from 100 to 86400000 (a day); got 99',
      '"retries" is not an option; the options are: batchType, continueOnError, itemTimeoutMs, requireApproval, maxFailures, maxFailureRate, failureRateMinItems, retention, scrub',
    ]);
  });

  it("checks a retention of its own with the module's checks, but not how the worker applies it", () => {
    expect(processorOptionProblems({ retention: { completedDays: 7, logsDays: 1 } })).toEqual([]);
    expect(
      processorOptionProblems({ retention: { completedDays: 'week', intervalMs: 1000 } }),
    ).toEqual([
      'retention.completedDays must be a whole number of days from 0 to 36500; got "week"',
      '"retention.intervalMs" is not an option; the options of retention are: completedDays, completedWithErrorsDays, failedDays, cancelledDays, rejectedDays, logsDays, includeUnresolved',
    ]);
  });

  it('refuses an argument that is neither a batch type nor an object', () => {
    expect(processorOptionProblems(42)).toEqual([
      "the argument must be a batch type or an object such as { batchType: 'orders' }; got 42",
    ]);
  });
});

describe('nearestName', () => {
  const OPTIONS = ['batchType', 'continueOnError', 'itemTimeoutMs'];

  it.each([
    ['contineOnError', 'continueOnError'],
    ['ContinueOnError', 'continueOnError'],
    ['itemTimeout', 'itemTimeoutMs'],
    ['batchtype', 'batchType'],
    ['batch_type', 'batchType'],
  ])('suggests %s → %s', (name, meant) => {
    expect(nearestName(name, OPTIONS)).toBe(meant);
  });

  it.each(['retries', 'x', 'timeout'])(
    'suggests nothing for %s, which is far from every name',
    (name) => {
      expect(nearestName(name, OPTIONS)).toBeUndefined();
    },
  );
});
