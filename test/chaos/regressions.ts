/**
 * Sequences of the fault suite that once broke an invariant, replayed by the suite on every run. Each is
 * the seed and path fast-check printed (run with the default of 8 commands unless `maxCommands` says).
 */
export interface Regression {
  name: string;
  seed: number;
  path: string;
  maxCommands?: number;
  /** What it broke when it was found. */
  found: string;
}

export const regressions: Regression[] = [];
