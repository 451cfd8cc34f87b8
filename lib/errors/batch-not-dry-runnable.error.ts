import { messages } from '../reliable-imports.messages';
import type { BatchStatus } from '../statuses';
import { ReliableImportsError } from './reliable-imports.error';

/**
 * A dry run was asked for a batch that a run is processing, or that has ended: a dry run tries the rows of
 * a batch that waits (pending, awaiting approval or paused). Nothing was run or stored.
 */
export class BatchNotDryRunnableError extends ReliableImportsError {
  constructor(
    batchId: string,
    /** The batch's status when it was refused. */
    readonly status: BatchStatus,
  ) {
    super('BATCH_NOT_DRY_RUNNABLE', messages.cannotDryRun(batchId, status), { batchId });
  }
}
