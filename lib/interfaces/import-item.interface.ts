import type { ItemStatus } from '../statuses';
import type { DryRunVerdict } from './dry-run.interface';

/** What is recorded about an item's last failure. */
export interface ItemErrorDetails {
  /** The error's class name, e.g. `QueryFailedError`, or `ValidationError` for a failed `validateItem`. */
  name: string;
  /** A machine-readable code: the PostgreSQL SQLSTATE, the error's own `code`, or `VALIDATION_FAILED`. */
  code?: string;
  /** Every reason given by `validateItem`, each made storable as `errorMessage` is. */
  reasons?: string[];
  /**
   * The message as it was thrown (or the skip reason as given), JSON-escaped, when it had to be changed to
   * be stored: `errorMessage` then shows U+FFFD in place of each NUL or unpaired UTF-16 surrogate.
   */
  originalMessage?: string;
  /** The error's stack, only with the module option `storeErrorStacks` (it holds server paths). */
  stack?: string;
}

/** A stored item of a batch. `TSource` is the shape of its source data. */
export interface ImportItem<TSource = Record<string, unknown>> {
  id: string;
  batchId: string;
  /** Position of the item in the batch, from 0, in the order the items were given. */
  itemIndex: number;
  /**
   * The row's line in its source file, from 1 as an editor shows it (the header of a CSV is line 1): set
   * for items created from `SourceRow`s (`readCsv`, `readJsonl`) and kept by reprocesses; else null.
   */
  sourceLine: number | null;
  status: ItemStatus;
  /** The data as it was given to `createBatch`; never changed afterwards. */
  sourceData: TSource;
  /** The data set by `correctItem`, which reprocessing uses instead of `sourceData`. */
  correctedData: TSource | null;
  /** What `processItem` returned. */
  processedData: unknown;
  targetTable: string | null;
  targetId: string | null;
  errorMessage: string | null;
  errorDetails: ItemErrorDetails | null;
  /** How many times processing of this item was finished, successfully or not. */
  attempts: number;
  /** For an item of a reprocessing batch: the item of the first batch it comes from. */
  originalItemId: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  correctedAt: Date | null;
  /**
   * When the row's personal data was scrubbed (the processor's `scrub`, or `scrubSourceData`): its
   * `sourceData` and `correctedData` then hold only the processor's `keepFields`, `processedData` is null,
   * and the row can no longer be corrected or reprocessed. Null when it was not scrubbed.
   */
  scrubbedAt: Date | null;
  /**
   * The SHA-256 (hex) of the source data as it was stored, written when the row was scrubbed: the
   * digest of `source_data::text` in PostgreSQL (`encode(sha256(convert_to($1::jsonb::text, 'UTF8')), 'hex')`
   * gives it for a row in hand). Null when the row was not scrubbed.
   */
  sourceDigest: string | null;
  /** What the last dry run that tried this row found (`dryRunBatch`); null when none did. */
  dryRun: DryRunVerdict | null;
}
