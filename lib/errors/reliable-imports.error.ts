/** Context carried by every module error, for logs and for code that handles errors. */
export interface ReliableImportsErrorContext {
  batchId?: string;
  itemId?: string;
  itemIndex?: number;
  batchType?: string;
  knownTypes?: readonly string[];
  /** A line of a source file, from 1 as an editor shows it (the header of a CSV file is line 1). */
  line?: number;
}

/**
 * Base class of every error the module throws. `code` is stable across versions and safe to branch on;
 * the message is for people.
 */
export class ReliableImportsError extends Error {
  constructor(
    /** A stable, machine-readable code such as `BATCH_NOT_FOUND`. */
    readonly code: string,
    message: string,
    /** Where the error happened. */
    readonly context: ReliableImportsErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
