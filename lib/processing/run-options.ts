import { CLAIM_CHUNK_SIZE } from '../reliable-imports.constants';

// How a run's options become claims; the options are checked in utils/run-options.util.ts.

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
