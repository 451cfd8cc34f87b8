import type { ImportItem } from '../interfaces/import-item.interface';
import type { BatchProgress } from '../interfaces/batch-progress.interface';
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

/** The fields of a progress (`reliable-imports.batch.progress`): every key `BatchProgress` declares. */
const PROGRESS_FIELDS = Object.keys({
  batchId: true,
  status: true,
  totalItems: true,
  completed: true,
  failed: true,
  skipped: true,
  cancelled: true,
  inFlight: true,
  pending: true,
  done: true,
  percent: true,
  itemsPerSecond: true,
  etaMs: true,
  startedAt: true,
  completedAt: true,
  errorMessage: true,
  measuredAt: true,
} satisfies Record<keyof BatchProgress, true>);

/** A value an event's field may hold: text, a number, a boolean, null or a time; nothing nested. */
function isScalar(value: unknown): boolean {
  return (
    value === null ||
    value instanceof Date ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  );
}

/** The declared `fields` of `value` that hold a scalar (see `isScalar`): no other key, nothing nested. */
function declaredOf(value: object, fields: readonly string[]): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const field of fields) {
    if (!Object.hasOwn(value, field)) continue;
    const held = (value as Record<string, unknown>)[field];
    if (isScalar(held)) kept[field] = held;
  }
  return kept;
}

/**
 * An event as the admin event stream sends it: the fields its interface declares, and nothing else, each
 * a scalar (a progress, by the fields of `BatchProgress`). An event heard from the channel was sent by a
 * session of the database, any session: whatever else it carries (a stack, a query, at any depth) is not
 * passed on.
 */
export function eventWithoutExtras<TEvent extends ReliableImportsEvent>(event: TEvent): TEvent {
  const fields = EVENT_FIELDS[event.name] as readonly string[];
  const sent = declaredOf(event, fields);
  if (fields.includes('progress') && Object.hasOwn(event, 'progress')) {
    const progress = (event as unknown as Record<string, unknown>).progress;
    if (typeof progress === 'object' && progress !== null && !Array.isArray(progress)) {
      sent.progress = declaredOf(progress, PROGRESS_FIELDS);
    }
  }
  return sent as TEvent;
}
