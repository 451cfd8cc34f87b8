/**
 * When and how the personal data of a processor's rows is scrubbed: the `scrub` option of
 * `@ImportProcessor()` (only the processor knows which fields are personal). A tree of batches (a first
 * batch and its reprocesses) is scrubbed once none of its batches may still run and every one ended more
 * than `afterDays` days ago; in it, the rows that completed, and the failed, skipped or cancelled rows whose
 * row completed in a reprocess (resolved). A scrubbed row keeps only `keepFields` of its source and
 * corrected data and a SHA-256 digest of its source data; its result, error texts and the details of its
 * audit-log entries (a correction's old and new data) are removed. It is then never corrected or
 * reprocessed (`RowScrubbedError`).
 */
export interface ScrubPolicy {
  /** Days after the tree's last batch ended (from 0 to 36500). */
  afterDays: number;
  /**
   * Fields of the source (and corrected) data kept as they are: those that are not personal, e.g.
   * `['country', 'plan']`. Top-level fields only.
   * @default [] (no field is kept)
   */
  keepFields?: string[];
  /**
   * Also scrub the rows that never completed (failed, skipped or cancelled, and not resolved by a
   * reprocess): an operator needs their data to correct and reprocess them, which is refused once they
   * are scrubbed.
   * @default false
   */
  includeUnresolved?: boolean;
}

/** Options of `BatchService.scrubSourceData`. */
export interface ScrubSourceDataOptions {
  /**
   * Scrubs the trees whose every batch ended before this moment, of every batch type (each type keeps the
   * `keepFields` of its processor's `scrub`; a type whose processor has none keeps no field). Without it,
   * applies the `scrub` option of each processor (its `afterDays`), as the worker does.
   */
  olderThan?: Date;
  /** Only trees of these batch types. @default every type */
  batchTypes?: string[];
  /**
   * Also the rows that never completed (see `ScrubPolicy.includeUnresolved`).
   * @default false with `olderThan`; else each processor's `scrub.includeUnresolved`
   */
  includeUnresolved?: boolean;
  /**
   * Reports what would be scrubbed, and scrubs nothing: each slice runs as it would and is rolled back.
   * @default false
   */
  dryRun?: boolean;
  /**
   * The most trees one slice (one transaction) scrubs (a slice also stops at 50,000 rows, but always
   * takes one tree).
   * @default the module's `retention.sliceSize` (100)
   */
  sliceSize?: number;
}

/** What `scrubSourceData` scrubbed (or, in a dry run, would scrub). */
export interface ScrubReport {
  dryRun: boolean;
  /**
   * The scrubbings applied: one per processor that declares a `scrub` (and, by age, one for the other
   * types); 0 when there was nothing to apply.
   */
  policies: number;
  /** Trees in which rows were scrubbed. */
  trees: number;
  /** Rows scrubbed. */
  rows: number;
  /** Audit-log entries of those rows whose details were removed. */
  logs: number;
  /** Transactions it ran. */
  slices: number;
  /**
   * Trees old enough that were left as they are: one of their batches may still run (`live`), or a
   * reprocess, a correction or another scrub held them (`busy`: the next run sees them again).
   */
  kept: { live: number; busy: number };
}
