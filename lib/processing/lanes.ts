/**
 * The loop of a run's lanes, the shape of pg-boss's worker loop: each lane claims work and runs it until
 * nothing is left or the run stops. What a claim and a run are is the caller's (`batch-run.ts`).
 */
export interface LaneWork<T> {
  /** Whether the lanes must stop: checked before every claim. */
  stopped(): boolean;
  /** Claims the next items for one lane; empty when none is left to claim now. */
  claim(): Promise<T[]>;
  /**
   * Nothing was left to claim: resolves true to claim again (after waiting for the items other runs
   * hold), false to end the lane.
   */
  nothingClaimed(): Promise<boolean>;
  /** Runs what one claim returned. */
  run(claimed: T[]): Promise<void>;
}

/**
 * Runs `concurrency` lanes until none has work left. When one throws, `onError` is told at once (so that
 * the others stop after their item in flight) and the others are waited for, so that nothing of the run is
 * still working when this returns.
 * @returns what the lanes threw, in the order they threw it.
 */
export async function runLanes<T>(
  concurrency: number,
  work: LaneWork<T>,
  onError: (error: unknown) => void,
): Promise<unknown[]> {
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, () =>
      lane(work).catch((error: unknown) => {
        errors.push(error);
        onError(error);
      }),
    ),
  );
  return errors;
}

async function lane<T>(work: LaneWork<T>): Promise<void> {
  while (!work.stopped()) {
    const claimed = await work.claim();
    if (claimed.length > 0) await work.run(claimed);
    else if (!(await work.nothingClaimed())) return;
  }
}
