import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type MessageEvent,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { EMPTY, Observable, type Subscriber } from 'rxjs';
import { BatchService } from '../batch.service';
import { ImportEventPublisher } from '../events/import-event-publisher';
import type { ReliableImportsEvent } from '../events/reliable-imports.events';
import { isEndedBatch } from '../statuses';
import { STREAM_INTERVAL_MS } from './admin-streams';
import { streamFailure } from './stream-failure';
import { eventWithoutExtras } from './without-stacks';

/**
 * The streams of a batch's events (`GET batches/:id/events/stream`): each sends the module's events of
 * its batch (`RELIABLE_IMPORTS_EVENTS`) published from its start on, in this instance or, through the
 * events channel, in any other; a message's type is the event's name and its data the event. A stream
 * ends after the event that tells of the batch's end; or, should that event not arrive (published where
 * this instance cannot hear it, or while it was not listening), at the reading after the one that found
 * the batch ended (it is read every second). It ends too when its client goes away, and at shutdown.
 */
@Injectable()
export class BatchEventStreams implements BeforeApplicationShutdown {
  private readonly streams = new Set<Subscriber<MessageEvent>>();
  private closing = false;

  constructor(@Inject(ModuleRef) private readonly moduleRef: ModuleRef) {}

  /**
   * The stream of the batch's events, once this instance hears the other instances' (as far as it can:
   * see `ImportEventPublisher.hearOtherInstances`). Rejects with `ImportBatchNotFoundError` for a batch
   * that does not exist; a batch that has ended gets a stream that ends at once. Nothing is watched
   * before the stream is subscribed to, so a client that leaves before leaves nothing behind.
   */
  async open(batchId: string): Promise<Observable<MessageEvent>> {
    // Looked up in the whole app, as the routes look up BatchService: the app registers the module.
    const publisher = this.moduleRef.get(ImportEventPublisher, { strict: false });
    const batches = this.moduleRef.get(BatchService, { strict: false });
    const batch = await batches.getBatch(batchId);
    if (isEndedBatch(batch.status) || this.closing) return EMPTY;
    await publisher.hearOtherInstances();
    return new Observable<MessageEvent>((subscriber) => {
      // Subscribed once the shutdown has ended the streams (the first LISTEN takes a while): ended too,
      // or it would hold the server open, reading its batch each second, until the batch ends.
      if (this.closing) {
        subscriber.complete();
        return undefined;
      }
      this.streams.add(subscriber);
      let timer: NodeJS.Timeout | undefined;
      let endedAtReading = false;
      const unwatch = publisher.watch((event: ReliableImportsEvent) => {
        if (event.batchId !== batchId || subscriber.closed) return;
        subscriber.next({ type: event.name, data: eventWithoutExtras(event) });
        if (isEndedBatch(event.status)) subscriber.complete();
      });
      const read = async (): Promise<void> => {
        try {
          const { status } = await batches.getBatch(batchId);
          if (subscriber.closed) return;
          if (isEndedBatch(status)) {
            // The event of its end is published once the end has committed: one more interval for it.
            if (endedAtReading) {
              subscriber.complete();
              return;
            }
            endedAtReading = true;
          }
          timer = setTimeout(() => void read(), STREAM_INTERVAL_MS);
        } catch (error) {
          if (subscriber.closed) return;
          subscriber.next({ type: 'failure', data: streamFailure(error) });
          subscriber.complete();
        }
      };
      timer = setTimeout(() => void read(), STREAM_INTERVAL_MS);
      return () => {
        unwatch();
        clearTimeout(timer);
        this.streams.delete(subscriber);
      };
    });
  }

  /** Ends every stream before the application closes its server and its connections. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    for (const stream of [...this.streams]) stream.complete();
  }
}
