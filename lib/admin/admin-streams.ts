import type { MessageEvent } from '@nestjs/common';
import {
  catchError,
  distinctUntilChanged,
  exhaustMap,
  from,
  map,
  type Observable,
  of,
  timer,
} from 'rxjs';
import type { BatchService } from '../batch.service';
import { ImportBatchNotFoundError } from '../errors/import-batch-not-found.error';
import type { ListBatchesFilter } from '../interfaces/batch-options.interface';
import type { BatchProgress } from '../interfaces/batch-progress.interface';
import type { ImportBatch } from '../interfaces/import-batch.interface';
import type { BatchLineage } from '../interfaces/recovery.interface';
import { LIVE_BATCH_STATUSES, type BatchStatus } from '../statuses';
import { streamFailure } from './stream-failure';

/** How often the admin streams read. */
export const STREAM_INTERVAL_MS = 1000;

/**
 * The lineage counts every row of a tree, so a batch page reads it again only while a batch of the tree
 * may run, and otherwise every this many readings (to see a reprocess started elsewhere).
 */
const IDLE_LINEAGE_EVERY = 5;

/** A batch in the list stream, with its progress while it may run. */
export type ListedBatch = ImportBatch & { progress: BatchProgress | null };

/** The data of a `batch` event: what a batch page shows. */
export interface BatchPageState {
  /**
   * When the reading began (ISO 8601, the server's clock). A page that also reads the batch itself (after
   * an action, `GET batches/:id`, stamped the same way) keeps the newest: a reading that began before the
   * action may end after it.
   */
  readAt: string;
  batch: ImportBatch;
  lineage: BatchLineage;
  /** The progress of every batch of the tree that may still run, by batch id. */
  progress: Record<string, BatchProgress>;
}

const isLive = (status: BatchStatus): boolean => LIVE_BATCH_STATUSES.includes(status);

/**
 * Events of `type` with what `read` gives, at once and then every interval, sent only when what
 * `compared` takes of it changed; a reading never starts before the last has ended. A reading that fails
 * ends the stream with a `failure` event (an error body, never a stack). Runs until the client goes away.
 */
function poll<T>(
  type: string,
  read: () => Promise<T>,
  compared: (data: T) => unknown = (data) => data,
): Observable<MessageEvent> {
  return timer(0, STREAM_INTERVAL_MS).pipe(
    exhaustMap(() => from(read())),
    map((data) => ({ data, text: JSON.stringify(compared(data)) })),
    distinctUntilChanged((before, now) => before.text === now.text),
    map(({ data }): MessageEvent => ({ type, data: data as object })),
    catchError((error: unknown) =>
      of<MessageEvent>({ type: 'failure', data: streamFailure(error) }),
    ),
  );
}

/** A batch's progress, or null when it is gone (pruned between the listing and the reading). */
async function progressOrNull(
  batches: BatchService,
  batchId: string,
): Promise<BatchProgress | null> {
  try {
    return await batches.getProgress(batchId);
  } catch (error) {
    if (error instanceof ImportBatchNotFoundError) return null;
    throw error;
  }
}

/** `batches` events: the list as `GET batches` gives it, with the progress of the batches that may run. */
export function batchListStream(
  batches: BatchService,
  filter: ListBatchesFilter,
): Observable<MessageEvent> {
  return poll('batches', async () => {
    const listed = await batches.listBatches(filter);
    const progress = await Promise.all(
      listed.map((batch) =>
        isLive(batch.status) ? progressOrNull(batches, batch.id) : Promise.resolve(null),
      ),
    );
    return {
      batches: listed.map((batch, i): ListedBatch => ({ ...batch, progress: progress[i] })),
    };
  });
}

/** `batch` events: a batch, its tree's lineage and the progress of the tree's batches that may run. */
export function batchPageStream(batches: BatchService, batchId: string): Observable<MessageEvent> {
  let lineage: BatchLineage | undefined;
  let readings = 0;
  return poll(
    'batch',
    async (): Promise<BatchPageState> => {
      const readAt = new Date().toISOString();
      const batch = await batches.getBatch(batchId);
      // A batch live at the last reading is read once more after it ended, so its end is seen.
      const wasLive = lineage?.batches.some((b) => isLive(b.status)) ?? true;
      if (!lineage || wasLive || readings % IDLE_LINEAGE_EVERY === 0) {
        lineage = await batches.getLineage(batchId);
      }
      readings += 1;
      const progress: Record<string, BatchProgress> = {};
      for (const member of lineage.batches.filter((b) => isLive(b.status))) {
        const reading = await progressOrNull(batches, member.batchId);
        if (reading) progress[member.batchId] = reading;
      }
      return { readAt, batch, lineage, progress };
    },
    // A reading is sent when what it shows changed, not when only its time did.
    ({ readAt: _readAt, ...shown }) => shown,
  );
}
