/**
 * Exit statuses of the command-line tool, the one place they are defined (the README's table of exit
 * codes says the same). Scripts branch on them, so a status never changes meaning.
 */
export const EXIT = {
  /**
   * The command ran; for `import`, `reprocess` and `process`, every row completed; for `check`, every row
   * of the tree is in.
   */
  ok: 0,
  /**
   * `import`, `reprocess` or `process` ran, and rows failed (or the batch failed, or was paused or
   * cancelled before its end); `check`: rows of the
   * tree are not in yet; also any error the tool did not expect. The read-only commands (`list`, `show`,
   * `failures`, `logs`) never exit 1 for what a batch holds.
   */
  itemsFailed: 1,
  /** Wrong usage or configuration (an option, an id, a file, DATABASE_URL, no tables): nothing was done. */
  usage: 2,
  /**
   * Interrupted: the database could not be reached or went away, or the tool was stopped. Nothing is lost
   * and nothing is applied twice; run the command the message gives again once the database answers.
   */
  interrupted: 3,
} as const;

/** An error of the tool itself, with its stable code (printed with `--json`) and its exit status. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    readonly code: string,
    message: string,
    readonly exitStatus: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A problem with how the tool was called or configured; its message says what to do. */
export class UsageError extends CliError {
  override name = 'UsageError';

  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, EXIT.usage, options);
  }
}
