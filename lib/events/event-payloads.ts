import type { ImportBatch } from '../interfaces/import-batch.interface';
import { MAX_EVENT_PAYLOAD_BYTES } from '../processing/statements/events.statements';
import { cutText } from '../utils/storable-text.util';
import {
  RELIABLE_IMPORTS_EVENTS,
  type ReliableImportsEvent,
  type ReliableImportsEventCounts,
  type ReliableImportsEventMap,
  type ReliableImportsEventName,
} from './reliable-imports.events';

/** What the publisher of an event gives: the event but what every event gets on publishing. */
export type EventDetails<TName extends ReliableImportsEventName> = Omit<
  ReliableImportsEventMap[TName],
  'name' | 'at' | 'instanceId'
>;

/** The batch's part of every event. */
export function aboutBatch(
  batch: ImportBatch,
): Pick<ReliableImportsEvent, 'batchId' | 'batchType' | 'status'> {
  return { batchId: batch.id, batchType: batch.batchType, status: batch.status };
}

/** The counts of an ended batch, as stored on it. */
export function countsOf(batch: ImportBatch): ReliableImportsEventCounts {
  return {
    totalItems: batch.totalItems,
    completedItems: batch.completedItems,
    failedItems: batch.failedItems,
    skippedItems: batch.skippedItems,
    cancelledItems: batch.cancelledItems,
  };
}

/** The fields that are names rather than texts: never cut. */
const NAMES = new Set(['name', 'batchId', 'itemId', 'parentBatchId', 'instanceId', 'status']);

/**
 * The longest text an event carries, in characters; then fewer, until its JSON fits in a notification
 * (a text of escaped control characters takes six bytes a character).
 */
const TEXT_LIMITS = [1_000, 250, 60] as const;

/**
 * The event with its texts cut so that its JSON fits in a notification, and that JSON: every instance
 * gets the same event, whether it heard it or published it.
 */
export function fitEvent<TEvent extends ReliableImportsEvent>(
  event: TEvent,
): { event: TEvent; json: string } {
  let fitted = event;
  let json = JSON.stringify(event);
  for (const limit of TEXT_LIMITS) {
    fitted = cutTexts(event, limit);
    json = JSON.stringify(fitted);
    if (Buffer.byteLength(json) <= MAX_EVENT_PAYLOAD_BYTES) break;
  }
  return { event: fitted, json };
}

/** Cuts every text of an event (and of the objects in it, such as its progress) to `limit`. */
function cutTexts<T>(value: T, limit: number, key = ''): T {
  if (typeof value === 'string') return (NAMES.has(key) ? value : cutText(value, limit)) as T;
  if (
    typeof value !== 'object' ||
    value === null ||
    value instanceof Date ||
    Array.isArray(value)
  ) {
    return value;
  }
  const cut: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) cut[name] = cutTexts(field, limit, name);
  return cut as T;
}

const EVENT_NAMES: ReadonlySet<string> = new Set(Object.values(RELIABLE_IMPORTS_EVENTS));

/** The fields that hold a time, sent as ISO text and read back as a `Date`. */
const DATES = new Set(['at', 'startedAt', 'completedAt', 'measuredAt']);

/**
 * An event heard on the channel, with its times as `Date`s again; or why it is none (the channel is open
 * to any session of the database).
 */
export function readEvent(payload: string): ReliableImportsEvent | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload, (key, value: unknown) =>
      DATES.has(key) && typeof value === 'string' ? new Date(value) : value,
    );
  } catch (error) {
    return (error as Error).message;
  }
  if (typeof parsed !== 'object' || parsed === null) return 'not an object';
  const event = parsed as Partial<ReliableImportsEvent>;
  if (typeof event.name !== 'string' || !EVENT_NAMES.has(event.name)) return 'unknown name';
  if (typeof event.instanceId !== 'string' || typeof event.batchId !== 'string') {
    return 'no instanceId or batchId';
  }
  return event as ReliableImportsEvent;
}
