import type { ErrorBudget } from '../interfaces/batch-options.interface';
import { messages } from '../reliable-imports.messages';

/** A batch's failed rows among the rows processed so far (completed, failed or skipped). */
export interface FailureCounts {
  failed: number;
  processed: number;
}

/** The sample `maxFailureRate` waits for when none is given. */
export const DEFAULT_FAILURE_RATE_MIN_ITEMS = 100;

/** Whether a run has a budget to watch at all. */
export function hasBudget(budget: ErrorBudget): boolean {
  return budget.maxFailures !== undefined || budget.maxFailureRate !== undefined;
}

/**
 * Whether the batch's failures have spent its budget: the reason to pause it with, or null. Pure: the
 * counts come from the batch's progress counters, over every run of the batch.
 */
export function spentBudget(counts: FailureCounts, budget: ErrorBudget): string | null {
  const { failed, processed } = counts;
  const { maxFailures, maxFailureRate } = budget;
  if (maxFailures !== undefined && failed > maxFailures) {
    return messages.budgetSpent({
      failed,
      processed,
      budget: messages.budgetFailures(maxFailures),
    });
  }
  const sample = budget.failureRateMinItems ?? DEFAULT_FAILURE_RATE_MIN_ITEMS;
  if (
    maxFailureRate !== undefined &&
    processed >= sample &&
    processed > 0 &&
    failed / processed > maxFailureRate
  ) {
    return messages.budgetSpent({ failed, processed, budget: percent(maxFailureRate) });
  }
  return null;
}

/** 0.1 as "10%", 0.005 as "0.5%". */
function percent(rate: number): string {
  return `${Number((rate * 100).toPrecision(4))}%`;
}
