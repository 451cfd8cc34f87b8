/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** How long `waitFor` waits, how often it asks, and what it names when it gives up. */
export interface WaitForOptions {
  /** @default 10_000 */
  withinMs?: number;
  /** @default 20 */
  everyMs?: number;
  /**
   * What is awaited, for the error thrown when it never holds.
   * @default 'the awaited condition'
   */
  what?: string;
}

/** Waits until `check` holds, polling; fails the test once `withinMs` have passed. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const { withinMs = 10_000, everyMs = 20, what = 'the awaited condition' } = options;
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within ${withinMs} ms: ${what}`);
    await sleep(everyMs);
  }
}
