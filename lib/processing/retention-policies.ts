import type { RetentionPolicy } from '../interfaces/retention.interface';
import { BATCH_STATUS, type BatchStatus } from '../statuses';

/** The days of each ended status, as a policy names them. */
const DAYS_OF_STATUS: ReadonlyArray<readonly [BatchStatus, keyof RetentionPolicy]> = [
  [BATCH_STATUS.completed, 'completedDays'],
  [BATCH_STATUS.completedWithErrors, 'completedWithErrorsDays'],
  [BATCH_STATUS.failed, 'failedDays'],
  [BATCH_STATUS.cancelled, 'cancelledDays'],
  [BATCH_STATUS.rejected, 'rejectedDays'],
];

/** One policy to apply: the batch types it covers and its cutoffs at a moment. @internal */
export interface AppliedPolicy {
  batchTypes: string[] | null;
  excludedTypes: string[];
  statuses: BatchStatus[];
  cutoffs: Date[];
  includeUnresolved: boolean;
  logsCutoff: Date | null;
}

const DAY_MS = 86_400_000;

/** Whether a policy removes anything at all. */
export function retainsSomething(policy: RetentionPolicy | undefined): boolean {
  return (
    policy !== undefined &&
    (policy.logsDays !== undefined || DAYS_OF_STATUS.some(([, key]) => policy[key] !== undefined))
  );
}

/**
 * The policies to apply at `now`: the module's, for every batch type but those whose processor has a
 * policy of its own; and each processor's, over the module's key by key, for its type. Policies that
 * remove nothing are left out.
 */
export function retentionPolicies(
  module: RetentionPolicy | undefined,
  processors: ReadonlyArray<{ batchType: string; retention?: RetentionPolicy }>,
  now: Date,
): AppliedPolicy[] {
  const own = processors.filter((p) => p.retention !== undefined);
  const applied = [
    { policy: module ?? {}, batchTypes: null, excludedTypes: own.map((p) => p.batchType) },
    ...own.map((p) => ({
      policy: { ...(module ?? {}), ...definedOnly(p.retention ?? {}) },
      batchTypes: [p.batchType],
      excludedTypes: [],
    })),
  ];
  return applied
    .filter(({ policy }) => retainsSomething(policy))
    .map(({ policy, batchTypes, excludedTypes }) => {
      const due = DAYS_OF_STATUS.filter(([, key]) => policy[key] !== undefined);
      const before = (days: number): Date => new Date(now.getTime() - days * DAY_MS);
      return {
        batchTypes,
        excludedTypes,
        statuses: due.map(([status]) => status),
        cutoffs: due.map(([, key]) => before(policy[key] as number)),
        includeUnresolved: policy.includeUnresolved ?? false,
        logsCutoff: policy.logsDays === undefined ? null : before(policy.logsDays),
      };
    });
}

function definedOnly(policy: RetentionPolicy): RetentionPolicy {
  return Object.fromEntries(Object.entries(policy).filter(([, value]) => value !== undefined));
}
