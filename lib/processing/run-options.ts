import { ReliableImportsError } from '../errors/reliable-imports.error';
import { CLAIM_CHUNK_SIZE } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import type { ProcessBatchOptions } from '../interfaces/batch-options.interface';
import { ITEM_TIMEOUT_RANGE } from '../utils/resolve-options.util';

const CODES = {
  concurrency: 'INVALID_CONCURRENCY',
  commitEvery: 'INVALID_COMMIT_EVERY',
  itemTimeoutMs: 'INVALID_ITEM_TIMEOUT',
} as const;

/**
 * Checks a per-run whole-number option; `fallback` applies when it is not given, and `note` follows the
 * minimum in the message.
 */
export function wholeNumberOption(
  batchId: string | null,
  option: keyof typeof CODES,
  requested: number | undefined,
  range: { min: number; max: number },
  fallback: number,
  note = '',
): number {
  const value = requested ?? fallback;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new ReliableImportsError(
      CODES[option],
      messages.invalidProcessOption(batchId, option, `${range.min}${note} to ${range.max}`, value),
      batchId === null ? {} : { batchId },
    );
  }
  return value;
}

/**
 * Checks the numbers of a run's options, before anything is stored or touched: a wrong option must not
 * leave a batch (a reprocess's child, an import's new batch) behind. `batchId` is null for `import()`.
 */
export function checkRunOptions(batchId: string | null, options: ProcessBatchOptions): void {
  wholeNumberOption(batchId, 'concurrency', options.concurrency, { min: 1, max: 64 }, 1);
  wholeNumberOption(
    batchId,
    'commitEvery',
    options.commitEvery,
    { min: 1, max: 10_000 },
    1,
    ' (a transaction per item)',
  );
  if (options.itemTimeoutMs !== undefined) {
    wholeNumberOption(batchId, 'itemTimeoutMs', options.itemTimeoutMs, ITEM_TIMEOUT_RANGE, 0);
  }
}

/**
 * Items a lane claims per round trip. A claim is a commit of its own, so bigger claims are cheaper; but
 * a small batch must still be spread over every lane, so a lane takes at most a quarter of its share.
 * In chunked mode a claim is a chunk: `commitEvery` items, or an equal share of a smaller batch.
 */
export function claimSize(totalItems: number, concurrency: number, commitEvery: number): number {
  if (commitEvery > 1) {
    return Math.min(commitEvery, Math.max(1, Math.ceil(totalItems / concurrency)));
  }
  if (concurrency === 1) return CLAIM_CHUNK_SIZE;
  return Math.min(CLAIM_CHUNK_SIZE, Math.max(1, Math.ceil(totalItems / (concurrency * 4))));
}
