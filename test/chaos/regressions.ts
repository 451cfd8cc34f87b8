import type { CommandSet } from './fault-suite';

/**
 * Sequences of the fault suite that once broke an invariant, replayed by the suite on every run. Each is
 * the seed and path fast-check printed (run with the default of 8 commands unless `maxCommands` says),
 * with the commands of the suite's version it was found with (`commandSets` in fault-suite.ts).
 */
export interface Regression {
  name: string;
  seed: number;
  path: string;
  maxCommands?: number;
  commandSet: CommandSet;
  /** What it broke when it was found. */
  found: string;
}

export const regressions: Regression[] = [
  {
    name: 'a NUL or a lone surrogate in what a processor throws, skips with or logs fails the whole batch',
    seed: 1,
    path: '0',
    commandSet: 1,
    found:
      'issue 10 item 3: the outcome statement failed ("invalid input syntax for type json"), the batch ended ' +
      'failed with no stop asked for, and 12 and 14 rows were left pending in the two failed batches.',
  },
  {
    name: 'a reprocess with failedItemsOnly: false applies the completed rows again',
    seed: 6,
    path: '8',
    commandSet: 1,
    found:
      'issue 10 item 2 (and the tree rule of item 1): reprocessBatch(P, { failedItemsOnly: false }) of a finished ' +
      'batch copied its completed rows, which were applied a second time (6 source rows applied twice).',
  },
  {
    name: "the progress counters do not count a file's unreadable lines",
    seed: 4,
    path: '1',
    commandSet: 3,
    found:
      'issue 13 (progress counters): a file batch with an unreadable line, stored failed by createBatch, had ' +
      'counters that said 0 failed while its rows said 1 (getProgress called the line pending). Found on the ' +
      'first sequence of set 3 and by the attack spec at the same time; fixed on main (696f9db).',
  },
];
