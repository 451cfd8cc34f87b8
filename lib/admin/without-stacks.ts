import type { ImportItem } from '../interfaces/import-item.interface';
import type { ImportLogEntry } from '../interfaces/import-log.interface';

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
