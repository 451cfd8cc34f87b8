/** Exit statuses of the command-line tool. */
export const EXIT = {
  /** Everything succeeded. */
  ok: 0,
  /** The command ran, and items failed. */
  itemsFailed: 1,
  /** Wrong usage or configuration: nothing was done. */
  usage: 2,
} as const;

/** A problem with how the tool was called or configured; its message says what to do. */
export class UsageError extends Error {
  override name = 'UsageError';
}
