import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/** One reason a set of corrections was refused, and where it is in the set. */
export interface CorrectionProblem {
  /** The correction's line in its file (`fileLine`), or else its position in the set, from 1. */
  line: number;
  /** Whether `line` is a line of a file or a position in the set given. */
  at: 'line' | 'entry';
  message: string;
}

/**
 * `correctItems` (or `reprocessBatch` with `corrections`) refused a set of corrections as a whole: nothing
 * was applied. `problems` lists every problem found, each with its line; the message names the first ones.
 */
export class CorrectionsRefusedError extends ReliableImportsError {
  constructor(
    batchId: string,
    /** Every problem, in the order of the set (at most the first 10,000). */
    readonly problems: readonly CorrectionProblem[],
    /** How many problems there were in all (`problems` stops at 10,000). */
    readonly problemCount: number = problems.length,
  ) {
    super('CORRECTIONS_REFUSED', messages.correctionsRefused(batchId, problems, problemCount), {
      batchId,
    });
  }
}
