import { spentBudget } from '../../lib/processing/error-budget';

describe('an error budget (spentBudget)', () => {
  it('has nothing to spend without a limit', () => {
    expect(spentBudget({ failed: 1000, processed: 1000 }, {})).toBeNull();
  });

  it('is spent by the failure after maxFailures', () => {
    expect(spentBudget({ failed: 10, processed: 10 }, { maxFailures: 10 })).toBeNull();
    expect(spentBudget({ failed: 11, processed: 11 }, { maxFailures: 10 })).toMatch(
      /^stopped: 11 of 11 rows failed \(budget 10 failures\)\. .*resumeBatch/,
    );
    expect(spentBudget({ failed: 1, processed: 5 }, { maxFailures: 0 })).toMatch(
      /^stopped: 1 of 5 rows failed \(budget 0 failures\)/,
    );
    expect(spentBudget({ failed: 2, processed: 5 }, { maxFailures: 1 })).toMatch(
      /\(budget 1 failure\)/,
    );
  });

  it('applies the rate once the sample is reached, as in "stopped: 51 of 120 rows failed (budget 10%)"', () => {
    const budget = { maxFailureRate: 0.1, failureRateMinItems: 100 };
    expect(spentBudget({ failed: 51, processed: 99 }, budget)).toBeNull();
    expect(spentBudget({ failed: 51, processed: 120 }, budget)).toMatch(
      /^stopped: 51 of 120 rows failed \(budget 10%\)/,
    );
    expect(spentBudget({ failed: 10, processed: 100 }, budget)).toBeNull();
    expect(spentBudget({ failed: 11, processed: 100 }, budget)).not.toBeNull();
  });

  it('waits for 100 rows by default, and a rate of 0 stops at the first failure after the sample', () => {
    expect(spentBudget({ failed: 99, processed: 99 }, { maxFailureRate: 0.5 })).toBeNull();
    expect(spentBudget({ failed: 1, processed: 100 }, { maxFailureRate: 0 })).toMatch(
      /\(budget 0%\)/,
    );
    expect(spentBudget({ failed: 1, processed: 200 }, { maxFailureRate: 0.005 })).toBeNull();
    expect(spentBudget({ failed: 2, processed: 200 }, { maxFailureRate: 0.005 })).toMatch(
      /\(budget 0\.5%\)/,
    );
  });

  it('takes whichever limit is spent first', () => {
    const budget = { maxFailures: 5, maxFailureRate: 0.5, failureRateMinItems: 4 };
    expect(spentBudget({ failed: 3, processed: 4 }, budget)).toMatch(/\(budget 50%\)/);
    expect(spentBudget({ failed: 6, processed: 100 }, budget)).toMatch(/\(budget 5 failures\)/);
  });
});
