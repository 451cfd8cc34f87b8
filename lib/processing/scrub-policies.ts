import type { ScrubPolicy } from '../interfaces/scrubbing.interface';

/** One scrubbing to apply: the batch types it covers, its cutoff and the fields it keeps. */
export interface AppliedScrub {
  batchTypes: string[] | null;
  excludedTypes: string[];
  cutoff: Date;
  keepFields: string[];
  includeUnresolved: boolean;
}

const DAY_MS = 86_400_000;

/** The processors' `scrub` options at `now`, one scrubbing per processor that declares one. */
export function scrubPolicies(
  processors: ReadonlyArray<{ batchType: string; scrub?: ScrubPolicy }>,
  now: Date,
  only: readonly string[] | null = null,
): AppliedScrub[] {
  return processors
    .filter((p) => p.scrub !== undefined && (only === null || only.includes(p.batchType)))
    .map((p) => {
      const scrub = p.scrub as ScrubPolicy;
      return {
        batchTypes: [p.batchType],
        excludedTypes: [],
        cutoff: new Date(now.getTime() - scrub.afterDays * DAY_MS),
        keepFields: [...(scrub.keepFields ?? [])],
        includeUnresolved: scrub.includeUnresolved ?? false,
      };
    });
}

/**
 * A scrubbing of every tree that ended before `olderThan`: each type with a processor that declares a
 * `scrub` keeps that processor's fields, every other type (one without a processor too: an old import's)
 * keeps none.
 */
export function scrubsBefore(
  processors: ReadonlyArray<{ batchType: string; scrub?: ScrubPolicy }>,
  olderThan: Date,
  only: readonly string[] | null,
  includeUnresolved: boolean,
): AppliedScrub[] {
  const own = processors.filter(
    (p) => p.scrub !== undefined && (only === null || only.includes(p.batchType)),
  );
  const ownTypes = own.map((p) => p.batchType);
  const rest =
    only === null
      ? [{ batchTypes: null, excludedTypes: ownTypes }]
      : only.some((type) => !ownTypes.includes(type))
        ? [{ batchTypes: only.filter((type) => !ownTypes.includes(type)), excludedTypes: [] }]
        : [];
  return [
    ...own.map((p) => ({
      batchTypes: [p.batchType],
      excludedTypes: [],
      cutoff: olderThan,
      keepFields: [...(p.scrub?.keepFields ?? [])],
      includeUnresolved,
    })),
    ...rest.map((r) => ({ ...r, cutoff: olderThan, keepFields: [], includeUnresolved })),
  ];
}
