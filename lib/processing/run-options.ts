import { CLAIM_CHUNK_SIZE } from '../reliable-imports.constants';

// How a run's options become claims; the options are checked in utils/run-options.util.ts.

/** The most chunks one claim takes in chunked mode. */
const CHUNKS_PER_CLAIM = 4;

/**
 * Items a lane claims per round trip. A claim is a commit of its own, so bigger claims are cheaper; but
 * a small batch must still be spread over every lane, so a lane takes at most a quarter of its share.
 * In chunked mode a claim is whole chunks (`commitEvery` items, or an equal share of a smaller batch):
 * up to `CHUNKS_PER_CLAIM` of them within that quarter, so that a chunk costs less than a commit of its
 * own for its claim, and at least one.
 */
export function claimSize(totalItems: number, concurrency: number, commitEvery: number): number {
  const quarterShare = Math.max(1, Math.ceil(totalItems / (concurrency * 4)));
  if (commitEvery > 1) {
    const chunk = Math.min(commitEvery, Math.max(1, Math.ceil(totalItems / concurrency)));
    return chunk * Math.min(CHUNKS_PER_CLAIM, Math.max(1, Math.floor(quarterShare / chunk)));
  }
  if (concurrency === 1) return CLAIM_CHUNK_SIZE;
  return Math.min(CLAIM_CHUNK_SIZE, quarterShare);
}
