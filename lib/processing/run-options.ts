import { ReliableImportsError } from '../errors/reliable-imports.error';
import { CLAIM_CHUNK_SIZE } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';

/** Checks a per-run option that defaults to 1; `note` follows the 1 in the message. */
export function wholeNumberOption(
  batchId: string,
  option: 'concurrency' | 'commitEvery',
  requested: number | undefined,
  max: number,
  note = '',
): number {
  const value = requested ?? 1;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new ReliableImportsError(
      option === 'concurrency' ? 'INVALID_CONCURRENCY' : 'INVALID_COMMIT_EVERY',
      messages.invalidProcessOption(batchId, option, `1${note} to ${max}`, value),
      { batchId },
    );
  }
  return value;
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
