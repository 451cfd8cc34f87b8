import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { ResolvedReliableImportsOptions } from '../interfaces/reliable-imports-options.interface';
import { DatabaseAdapter } from '../processing/database-adapter';
import { notifyEvents, EVENTS_CHANNEL } from '../processing/statements/events.statements';
import { newWorkerId } from '../processing/worker-id';
import { RESOLVED_OPTIONS } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';
import { toError } from '../utils/error-details.util';
import { fitEvent, readEvent, type EventDetails } from './event-payloads';
import type {
  ReliableImportsEvent,
  ReliableImportsEventName,
  ReliableImportsEventMap,
} from './reliable-imports.events';

/** The part of the application's `EventEmitter2` that publishing needs. */
export interface EventEmitterLike {
  emit(event: string, ...values: unknown[]): unknown;
  emitAsync?(event: string, ...values: unknown[]): unknown;
}

/**
 * Events waiting for the database, at most: past this, new ones are dropped for the other instances (this
 * instance's listeners still get them), so that a storm of failed rows cannot fill the memory.
 */
const MAX_WAITING_EVENTS = 10_000;

/** Events sent to the other instances in one statement, at most. */
const EVENTS_PER_NOTIFY = 100;

/**
 * `EventEmitter2` of `@nestjs/event-emitter`, when the application has the package; the module works
 * without it (an optional peer), so it is looked up at run time, never imported.
 */
export function loadEventEmitterClass(): (abstract new (...args: never[]) => unknown) | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require('@nestjs/event-emitter') as { EventEmitter2?: unknown };
    return typeof loaded.EventEmitter2 === 'function'
      ? (loaded.EventEmitter2 as abstract new (...args: never[]) => unknown)
      : null;
  } catch {
    return null;
  }
}

/**
 * Publishes the module's events (`RELIABLE_IMPORTS_EVENTS`): to this instance's listeners through the
 * application's `EventEmitter2`, when it has one (`EventEmitterModule.forRoot()`), and to the other
 * instances through a NOTIFY on the events channel, which every instance with an event emitter LISTENs
 * to (one connection each) and re-emits — but its own events, which it delivered already.
 *
 * Publishing never fails nor waits for anything: it is called after the change it tells of has been
 * committed; the notifications are sent in the background, in the order of publishing, and a failure to
 * send them or a listener that throws is logged. Where LISTEN is not available (PGlite, a pooler in
 * transaction mode: `DatabaseAdapter.listen` says so, and warns once), this instance hears only its own
 * events.
 */
@Injectable()
export class ImportEventPublisher
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown
{
  /** This application instance, in every event it publishes. */
  readonly instanceId = newWorkerId();
  private readonly logger = new Logger('ReliableImports');
  private emitter: EventEmitterLike | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private retry: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly waiting: string[] = [];
  private sending: Promise<void> | null = null;
  private dropped = 0;
  private unreadableReported = false;
  /** The first attempt to hear the other instances: resolves whether it holds a LISTEN. */
  private hearing: Promise<boolean> | null = null;
  /** The module's own listeners (the runner's, to halt a run at once when its batch is paused). */
  private readonly watchers = new Set<(event: ReliableImportsEvent) => void>();

  constructor(
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedReliableImportsOptions,
    @Inject(DatabaseAdapter) private readonly database: DatabaseAdapter,
  ) {}

  onModuleInit(): void {
    const EventEmitter2 = loadEventEmitterClass();
    if (!EventEmitter2) return;
    try {
      this.emitter = this.moduleRef.get<EventEmitterLike>(EventEmitter2, { strict: false });
    } catch {
      // The package is installed, but the application does not use it: nobody to tell here.
      this.emitter = null;
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    // Someone to hand other instances' events to: the application's listeners, or the worker's runs,
    // which halt at once when another instance pauses or cancels their batch (others check each second).
    if (this.emitter || this.options.worker.enabled) await this.hearOtherInstances();
  }

  /**
   * Makes this instance hear the other instances' events from now until it shuts down, for a part that
   * needs them only once asked (the admin module's event stream): the LISTEN of an application with an
   * event emitter or a worker, begun on demand, never twice. Resolves once it is in place, with whether
   * the other instances' events arrive here: false on PGlite, behind a pooler in transaction mode, where
   * the check found that notifications do not arrive, or when the LISTEN failed (each logged once).
   * @internal
   */
  hearOtherInstances(): Promise<boolean> {
    this.hearing ??= this.listen(true).then((failed) => {
      // A LISTEN that failed (the database away for a moment) is tried again by the next part that asks,
      // rather than leaving the instance deaf until it restarts; one that cannot be is not.
      if (failed) this.hearing = null;
      return this.unlisten !== null;
    });
    return this.hearing;
  }

  /**
   * Calls `watcher` with every event, this instance's and the others' (as far as this instance listens).
   * For the module's own parts; returns the unsubscription. @internal
   */
  watch(watcher: (event: ReliableImportsEvent) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retry);
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = null;
    await this.flush();
  }

  /**
   * Publishes an event of the batch: at once to this instance's listeners, then to the other instances.
   * Never throws.
   */
  publish<TName extends ReliableImportsEventName>(name: TName, details: EventDetails<TName>): void {
    try {
      const { event, json } = fitEvent({
        ...details,
        name,
        at: new Date(),
        instanceId: this.instanceId,
      } as ReliableImportsEventMap[TName]);
      this.deliver(event);
      this.send(json);
    } catch (error) {
      this.logger.warn(messages.eventsNotSent({ count: 1, reason: toError(error).message }));
    }
  }

  /**
   * Whether anybody may hear an event: this instance's listeners, or another instance's (not on PGlite,
   * which lives in this process). Without, an event that costs a query to make (progress) is not made.
   */
  get listened(): boolean {
    return this.emitter !== null || !this.database.singleConnection;
  }

  /** Resolves once every event published so far has been sent to the database (or given up on). */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Emits the event to this instance's listeners; what they throw is logged, not passed on. */
  private deliver(event: ReliableImportsEvent): void {
    for (const watcher of this.watchers) {
      try {
        watcher(event);
      } catch (error) {
        this.logger.warn(
          messages.eventListenerFailed({ event: event.name, reason: toError(error).message }),
        );
      }
    }
    const emitter = this.emitter;
    if (!emitter) return;
    const failed = (error: unknown): void =>
      this.logger.warn(
        messages.eventListenerFailed({ event: event.name, reason: toError(error).message }),
      );
    try {
      // emitAsync: a listener's rejected promise is caught here, not left unhandled.
      const result = emitter.emitAsync
        ? emitter.emitAsync(event.name, event)
        : emitter.emit(event.name, event);
      if (isThenable(result)) result.then(undefined, failed);
    } catch (error) {
      failed(error);
    }
  }

  private send(json: string): void {
    // PGlite lives in this process: there is no other instance to tell.
    if (this.database.singleConnection) return;
    if (this.waiting.length >= MAX_WAITING_EVENTS) {
      if (this.dropped++ === 0) this.logger.warn(messages.eventsDropped({ count: 1 }));
      return;
    }
    this.waiting.push(json);
    this.sending ??= this.sendWaiting();
  }

  /** Sends the waiting events, in order, a statement at a time, until none is left. */
  private async sendWaiting(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const payloads = this.waiting.splice(0, EVENTS_PER_NOTIFY);
        if (!this.database.dataSource.isInitialized) continue;
        try {
          await this.database.run(notifyEvents({ payloads }));
        } catch (error) {
          this.logger.warn(
            messages.eventsNotSent({ count: payloads.length, reason: toError(error).message }),
          );
        }
      }
      if (this.dropped > 1) this.logger.warn(messages.eventsDropped({ count: this.dropped }));
      this.dropped = 0;
    } finally {
      this.sending = null;
    }
  }

  /**
   * Hears the other instances' events; without LISTEN, this instance hears its own only (one warning).
   * Resolves with whether the LISTEN failed (an error, as opposed to a database that cannot notify).
   */
  private async listen(first: boolean): Promise<boolean> {
    if (this.closing || this.unlisten) return false;
    if (this.database.singleConnection) {
      this.logger.warn(messages.eventsLocalOnly({ reason: messages.eventsOneConnection() }));
      return false;
    }
    let failed = false;
    try {
      this.unlisten = await this.database.listen(
        EVENTS_CHANNEL,
        (payload) => this.heard(payload),
        (error) => {
          this.unlisten = null;
          if (this.closing) return;
          const retryMs = this.options.leaseMs;
          this.logger.warn(messages.eventsStoppedListening({ reason: error.message, retryMs }));
          this.listenLater(retryMs);
        },
      );
    } catch (error) {
      failed = true;
      if (first) this.logger.warn(messages.eventsLocalOnly({ reason: toError(error).message }));
      else this.listenLater(this.options.leaseMs);
    }
    // Closed while LISTEN was under way: the shutdown found nothing to stop.
    if (this.closing && this.unlisten) {
      await this.unlisten().catch(() => undefined);
      this.unlisten = null;
    }
    return failed;
  }

  private listenLater(delayMs: number): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.listen(false), delayMs);
    this.retry.unref();
  }

  /** An event from the channel: another instance's is emitted here; this instance's was already. */
  private heard(payload: string): void {
    const event = readEvent(payload);
    if (typeof event === 'string') {
      if (!this.unreadableReported) {
        this.unreadableReported = true;
        this.logger.warn(messages.eventUnreadable({ reason: event }));
      }
      return;
    }
    if (event.instanceId === this.instanceId) return;
    this.deliver(event);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
