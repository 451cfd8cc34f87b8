import { CLAIM_CHUNK_SIZE } from '../reliable-imports.constants';

// How a run's options become claims; the options are checked in utils/run-options.util.ts.

/** The most chunks one claim takes in chunked mode. */
const CHUNKS_PER_CLAIM = 4;

/** The most items one claim takes per row, however fast the rows run. */
const MOST_ITEMS_PER_CLAIM = 100;

/**
 * The work a claim takes per row once its lane's pace is known: the rows that run in this time. Claimed
 * rows are this process's until they are done, so a claim of slow rows is kept small (other processes
 * take the rest), and a claim of fast rows is made big (its commit and the row transactions it breaks
 * cost less per row).
 */
const CLAIM_WORK_MS = 250;

/**
 * Items a lane claims per round trip. A claim is a commit of its own, so bigger claims are cheaper; but
 * a small batch must still be spread over every lane, so a lane takes at most a quarter of its share.
 * Per row, a claim is `CLAIM_CHUNK_SIZE` items, or more (up to `MOST_ITEMS_PER_CLAIM`) when the lane's
 * last claim ran at `rowsPerSecond` fast enough to do more in `CLAIM_WORK_MS`.
 * In chunked mode a claim is whole chunks (`commitEvery` items, or an equal share of a smaller batch):
 * up to `CHUNKS_PER_CLAIM` of them within that quarter, so that a chunk costs less than a commit of its
 * own for its claim, and at least one.
 */
export function claimSize(
  totalItems: number,
  concurrency: number,
  commitEvery: number,
  rowsPerSecond = 0,
): number {
  const quarterShare = Math.max(1, Math.ceil(totalItems / (concurrency * 4)));
  if (commitEvery > 1) {
    const chunk = Math.min(commitEvery, Math.max(1, Math.ceil(totalItems / concurrency)));
    return chunk * Math.min(CHUNKS_PER_CLAIM, Math.max(1, Math.floor(quarterShare / chunk)));
  }
  const byPace = Math.floor((rowsPerSecond * CLAIM_WORK_MS) / 1000);
  const size = Math.min(MOST_ITEMS_PER_CLAIM, Math.max(CLAIM_CHUNK_SIZE, byPace));
  if (concurrency === 1) return size;
  return Math.min(size, quarterShare);
}

/** The most items a lane of such a run ever holds claimed at once: its claim of the fastest rows. */
export function largestClaimSize(
  totalItems: number,
  concurrency: number,
  commitEvery: number,
): number {
  return claimSize(totalItems, concurrency, commitEvery, Number.POSITIVE_INFINITY);
}
