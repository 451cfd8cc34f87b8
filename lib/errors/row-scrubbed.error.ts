import { messages } from '../reliable-imports.messages';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * A correction or a reprocess was refused because it would use the data of a row that was scrubbed (the
 * processor's `scrub` option, or `scrubSourceData`): only the fields the processor keeps are left.
 * `context.batchId` and `context.itemIndex` (and `context.line`, when the row came from a file) name the
 * row; `scrubbedAt` says when.
 */
export class RowScrubbedError extends ReliableImportsError {
  constructor(
    readonly action: 'correct' | 'reprocess',
    batchId: string,
    itemIndex: number,
    sourceLine: number | null,
    readonly scrubbedAt: Date,
    itemId?: string,
  ) {
    super(
      'ROW_SCRUBBED',
      messages.rowScrubbed({ action, batchId, itemIndex, sourceLine, scrubbedAt }),
      { batchId, itemIndex, itemId, ...(sourceLine === null ? {} : { line: sourceLine }) },
    );
  }
}
