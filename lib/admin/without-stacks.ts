import type { ImportItem } from '../interfaces/import-item.interface';
import type { ImportLogEntry } from '../interfaces/import-log.interface';
import {
  RELIABLE_IMPORTS_EVENTS,
  type ReliableImportsEvent,
  type ReliableImportsEventMap,
  type ReliableImportsEventName,
} from '../events/reliable-imports.events';

/** An object without its `stack` key: the same object when it has none. */
function stackless<T extends object>(value: T): T {
  if (!Object.hasOwn(value, 'stack')) return value;
  const copy = { ...value } as Record<string, unknown>;
  delete copy.stack;
  return copy as T;
}

/**
 * A row as the admin API answers it: without the error's stack that `storeErrorStacks` keeps for the
 * operator's own reading (it holds the server's paths, which an HTTP answer must not show).
 */
export function itemWithoutStack<T extends ImportItem<object>>(item: T): T {
  return item.errorDetails ? { ...item, errorDetails: stackless(item.errorDetails) } : item;
}

/** A log entry as the admin API answers it: its details without a stack, at their top or in `error`. */
export function logWithoutStack(entry: ImportLogEntry): ImportLogEntry {
  if (!entry.details) return entry;
  const details = stackless(entry.details);
  const error = details.error;
  return {
    ...entry,
    details:
      error && typeof error === 'object' && !Array.isArray(error)
        ? { ...details, error: stackless(error) }
        : details,
  };
}

const BASE = ['name', 'batchId', 'batchType', 'status', 'at', 'instanceId'] as const;
const COUNTS = [
  'totalItems',
  'completedItems',
  'failedItems',
  'skippedItems',
  'cancelledItems',
] as const;

/** The fields of each event, as its interface declares them. */
const EVENT_FIELDS: {
  [N in ReliableImportsEventName]: readonly (keyof ReliableImportsEventMap[N])[];
} = {
  [RELIABLE_IMPORTS_EVENTS.batchStarted]: [...BASE, 'totalItems', 'parentBatchId'],
  [RELIABLE_IMPORTS_EVENTS.batchProgress]: [...BASE, 'progress'],
  [RELIABLE_IMPORTS_EVENTS.batchPaused]: [...BASE, 'reason'],
  [RELIABLE_IMPORTS_EVENTS.batchResumed]: [...BASE, 'requeuedItems'],
  [RELIABLE_IMPORTS_EVENTS.batchCancelled]: [...BASE, 'reason', 'cancelledItems'],
  [RELIABLE_IMPORTS_EVENTS.batchApproved]: BASE,
  [RELIABLE_IMPORTS_EVENTS.batchRejected]: [...BASE, 'reason'],
  [RELIABLE_IMPORTS_EVENTS.batchCompleted]: [...BASE, ...COUNTS],
  [RELIABLE_IMPORTS_EVENTS.batchFailed]: [...BASE, ...COUNTS, 'reason'],
  [RELIABLE_IMPORTS_EVENTS.rowFailed]: [
    ...BASE,
    'itemId',
    'itemIndex',
    'sourceLine',
    'errorMessage',
    'errorCode',
    'attempts',
  ],
};

/**
 * An event as the admin event stream sends it: the fields its interface declares, and nothing else. An
 * event heard from the channel was sent by a session of the database, any session: whatever else it
 * carries (a stack, a query) is not passed on.
 */
export function eventWithoutExtras<TEvent extends ReliableImportsEvent>(event: TEvent): TEvent {
  const sent: Record<string, unknown> = {};
  for (const field of EVENT_FIELDS[event.name] as readonly string[]) {
    if (Object.hasOwn(event, field)) {
      sent[field] = (event as unknown as Record<string, unknown>)[field];
    }
  }
  return sent as TEvent;
}
