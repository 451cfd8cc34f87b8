import { messages } from '../reliable-imports.messages';
import { isJsonProblem, serializeJsonValue } from './source-data.util';

/**
 * The limits of what is stored about an outcome. A processor's text is cut to them, with a marker, so that
 * one huge message can neither fail the statement that records it nor bloat the tables.
 */
export const TEXT_LIMITS = {
  /** An item's or a batch's `error_message`, and each validation reason, in characters. */
  message: 10_000,
  /** An `import_logs` message, in characters. */
  logMessage: 10_000,
  /** A stored stack (only with `storeErrorStacks`), in characters. */
  stack: 10_000,
  /** An item's `error_details` or a log's `details`, in characters of JSON. */
  details: 100_000,
} as const;

/** What PostgreSQL cannot store: NUL (in `text` and `jsonb`) and a UTF-16 surrogate without its pair. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what must be found
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The same in JSON text as `JSON.stringify` writes it: `\u0000`, or an escaped surrogate (it escapes only
 * lone ones), preceded by an even number of backslashes (an odd one would be a literal backslash).
 */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

const kindOf = (value: unknown): string => (value === null ? 'null' : typeof value);

/**
 * Any value as text, never throwing: `String()` can throw (an object without a prototype, a `toString`
 * that throws, a Proxy trap).
 */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return messages.unprintable({ kind: kindOf(value) });
  }
}

/** Cuts `text` to `limit` characters, never between the two halves of a character, with a marker. */
export function cutText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let end = limit;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}${messages.textCut({ more: text.length - end })}`;
}

/** Text made storable, and the original, JSON-escaped, when anything had to be replaced. */
export interface StorableText {
  text: string;
  /** `JSON.stringify` of the original (cut to the same limit): every character visible as an escape. */
  original?: string;
}

/**
 * Makes any value storable as text: NUL and lone surrogates become U+FFFD (visibly, the original is kept
 * escaped in `original`), and text over `limit` characters is cut with a marker.
 */
export function storableText(value: unknown, limit: number): StorableText {
  const raw = textOf(value);
  const replaced = raw.replace(UNSTORABLE, '\uFFFD');
  const text = cutText(replaced, limit);
  return replaced === raw ? { text } : { text, original: cutText(JSON.stringify(raw), limit) };
}

/**
 * A copy of a row (plain objects, arrays, and the values JSON holds) in which every key and string is made
 * storable as `storableText` does, without a length limit: what a person can read and correct of a row
 * that could not be stored as it was.
 */
export function visibleCopy(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE, '\uFFFD');
  if (Array.isArray(value)) return value.map(visibleCopy);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, entry]) => [
        key.replace(UNSTORABLE, '\uFFFD'),
        visibleCopy(entry),
      ]),
    );
  }
  return value;
}

/** Whether JSON text written by `JSON.stringify` holds a character PostgreSQL's jsonb refuses. */
export function hasUnstorableEscape(json: string): boolean {
  return UNSTORABLE_ESCAPE.test(json);
}

/**
 * Details (a log's, an error's) as JSON that jsonb accepts, within the size limit. What JSON cannot hold,
 * what is too large and what cannot even be read (a getter that throws, a Proxy) is described instead, in
 * `{ unstorableDetails }`: a log call must never fail the outcome it is written with.
 */
export function storableDetailsJson(details: unknown): string {
  let described: string;
  try {
    const serialized = serializeJsonValue(details, 'details');
    if (isJsonProblem(serialized)) {
      described = `${serialized.path} ${serialized.problem}`;
    } else if (serialized.length > TEXT_LIMITS.details) {
      described = messages.detailsTooLong({
        length: serialized.length,
        limit: TEXT_LIMITS.details,
      });
    } else if (hasUnstorableEscape(serialized)) {
      // The serializer checks what it writes; this guards the statement against any text it let through.
      described = messages.detailsUnstorableText();
    } else {
      return serialized;
    }
  } catch (error) {
    described = messages.detailsUnreadable({ reason: errorText(error) });
  }
  return JSON.stringify({ unstorableDetails: storableText(described, TEXT_LIMITS.message).text });
}

/** A thrown value's message, read without throwing. */
function errorText(thrown: unknown): string {
  try {
    const message = (thrown as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  } catch {
    // Described by its kind below.
  }
  return textOf(thrown);
}
