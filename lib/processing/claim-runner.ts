import { ItemTimeoutError } from '../errors/item-timeout.error';
import { aboutBatch } from '../events/event-payloads';
import type { ImportEventPublisher } from '../events/import-event-publisher';
import { RELIABLE_IMPORTS_EVENTS } from '../events/reliable-imports.events';
import type { ImportItem } from '../interfaces/import-item.interface';
import { messages } from '../reliable-imports.messages';
import { BATCH_STATUS, ITEM_STATUS } from '../statuses';
import type { BatchStore } from './batch-store';
import type { DatabaseAdapter } from './database-adapter';
import type { BatchContextImpl, RunState } from './contexts';
import type { ItemRunner } from './item-runner';
import type { ItemStore } from './item-store';
import { callHook } from './processor-hook';
import { TransactionChain } from './transaction-chain';

/** What running one claim needs of its run (`batch-run.ts`). */
export interface ClaimRun {
  readonly state: RunState;
  readonly context: BatchContextImpl;
  readonly commitEvery: number;
  readonly continueOnError: boolean;
  readonly services: {
    itemRunner: ItemRunner;
    items: ItemStore;
    database: DatabaseAdapter;
    store: BatchStore;
    events: ImportEventPublisher;
  };
  /** Whether the run stops: checked before every chunk and every item. */
  stopped(): boolean;
  /** A failed item stops the batch, with this reason. */
  stopAt(reason: string): void;
  /** After a failed item the run goes on with: pauses the batch when its error budget is spent. */
  afterFailure(): Promise<void>;
}

/** Runs one claim of a lane: in chunks of `commitEvery` items, one by one where a chunk could not commit. */
export async function runClaim(claimed: Array<ImportItem<object>>, run: ClaimRun): Promise<void> {
  const { batch, workerId } = run.state;
  const chunked = run.commitEvery > 1;
  // Per row, the whole claim runs one by one: each item's commit starts the next one's transaction.
  const step = chunked ? run.commitEvery : claimed.length;
  for (let start = 0; start < claimed.length; start += step) {
    if (run.stopped()) return;
    const chunk = claimed.slice(start, start + step);
    const outcome =
      chunked && chunk.length > 1 ? await run.services.itemRunner.runChunk(chunk, run.state) : null;
    if (outcome?.committed) continue;
    if (await runOneByOne(chunk, run, outcome?.timedOut)) {
      // An item timed out: the rest of the claim waited on it; give it back for any lane to take.
      await run.services.items.release(
        batch.id,
        workerId,
        claimed.slice(start).map((item) => item.id),
      );
      return;
    }
  }
}

/**
 * Runs items one transaction each, and applies `continueOnError`/`onItemError` to their failures.
 * @returns true when an item timed out: the caller gives back the items this call did not run.
 */
async function runOneByOne(
  items: Array<ImportItem<object>>,
  run: ClaimRun,
  timedOut?: { itemId: string; error: ItemTimeoutError },
): Promise<boolean> {
  const chain = new TransactionChain(run.services.database);
  try {
    return await runEach(items, run, chain, timedOut);
  } finally {
    await chain.end();
  }
}

async function runEach(
  items: Array<ImportItem<object>>,
  run: ClaimRun,
  chain: TransactionChain,
  timedOut?: { itemId: string; error: ItemTimeoutError },
): Promise<boolean> {
  const { itemRunner, store, events } = run.services;
  const { processor, batch } = run.state;
  for (const [index, item] of items.entries()) {
    if (run.stopped()) return false;
    const next = index + 1 < items.length && items[index + 1].id !== timedOut?.itemId;
    const outcome =
      item.id === timedOut?.itemId
        ? await itemRunner.recordTimeout(item, timedOut.error, run.state)
        : await itemRunner.run(item, run.state, { chain, next });
    if (outcome.status !== ITEM_STATUS.failed) continue;
    events.publish(RELIABLE_IMPORTS_EVENTS.rowFailed, {
      ...aboutBatch(batch),
      status: BATCH_STATUS.processing,
      itemId: item.id,
      itemIndex: item.itemIndex,
      sourceLine: item.sourceLine,
      errorMessage: outcome.message,
      errorCode: outcome.code,
      attempts: outcome.attempts,
    });
    const action = await callHook(() => processor.onItemError?.(outcome.error, item, run.context));
    // Decided before anything else can fail, so that the stop is not lost with the database.
    if (action ? action === 'abort' : !run.continueOnError) {
      run.stopAt(messages.abortedAfterItem(item.itemIndex, outcome.message));
    }
    await store.writeLogs(batch.id, null, run.context.log);
    await run.afterFailure();
    if (outcome.error instanceof ItemTimeoutError) return true;
  }
  return false;
}
