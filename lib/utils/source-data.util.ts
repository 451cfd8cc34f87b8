import { MAX_JSON_DEPTH, MAX_SOURCE_DATA_BYTES } from '../reliable-imports.constants';
import { messages } from '../reliable-imports.messages';

/** Where JSON cannot hold a value, and why. */
export interface JsonProblem {
  path: string;
  problem: string;
}

/** A refusal of the serializer, thrown from where it was found up to `serialize`, which adds the path. */
class Refusal extends Error {
  constructor(readonly problem: string) {
    super(problem);
  }
}

/** What one serialization tracks: the keys from the root to the value being written, and its objects. */
interface Walk {
  keys: (string | number)[];
  ancestors: object[];
  sortKeys: boolean;
}

/**
 * How an object's keys are written: in the object's own order, as `JSON.stringify` does, or sorted by
 * UTF-16 code unit at every level, so that one row has one text whatever the order its keys were set in
 * (jsonb keeps no order either).
 */
export type KeyOrder = 'as-written' | 'sorted';

/** What JSON.stringify escapes in a string that has no unpaired surrogate (those are refused first). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NEEDS_ESCAPING = /["\\\u0000-\u001f]/;

/**
 * Anything in a string that is more than its quotes: what JSON escapes, and any surrogate (paired or not).
 * A string with none of it (most of an import's text) is written after one scan instead of three.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NOT_PLAIN = /["\\\u0000-\u001f\ud800-\udfff]/;

const KEY_CACHE_SIZE = 10_000;
const quotedKeys = new Map<string, string>();

/** `String.prototype.isWellFormed` (Node 20), which the ES2022 typings do not know. */
type WellFormedString = string & { isWellFormed(): boolean };

/** The kind of a value, as messages say it: "null", "an array", "a string"... */
export const describeKind = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

/**
 * What PostgreSQL refuses in a string (a jsonb value or key, a text column): `\u0000`, and unpaired UTF-16
 * surrogates (which the driver would even turn into U+FFFD before they reach it).
 */
export function stringProblem(value: string): 'nul' | 'surrogate' | null {
  if (value.includes('\u0000')) return 'nul';
  return (value as WellFormedString).isWellFormed() ? null : 'surrogate';
}

/**
 * Serializes an item's source data to JSON, refusing anything JSON (or PostgreSQL's jsonb) would drop or
 * reject instead of storing it silently changed. Object properties that are `undefined` are left out, as
 * `JSON.stringify` does; everywhere else `undefined` is refused. Refuses an item whose JSON is larger than
 * `MAX_SOURCE_DATA_BYTES` in UTF-8.
 *
 * @returns the JSON text, or the first problem found.
 */
export function serializeSourceData(
  value: unknown,
  rootPath = 'sourceData',
  keyOrder: KeyOrder = 'as-written',
): string | JsonProblem {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      path: rootPath,
      problem: messages.itemNotPlainObject({
        kind: value === undefined ? 'undefined' : describeKind(value),
      }),
    };
  }
  const json = serialize(value, rootPath, keyOrder === 'sorted');
  if (isJsonProblem(json)) return json;
  // An object's toJSON may have made it something else (`JSON.stringify` calls it on the row too).
  if (json[0] !== '{') {
    return {
      path: rootPath,
      problem: messages.itemNotObjectAfterToJson({
        kind: json[0] === '[' ? 'an array' : 'not an object',
      }),
    };
  }
  return jsonSizeProblem(json, rootPath) ?? json;
}

/** Serializes any JSON value (metadata, a processor's result) with the same checks, but no size limit. */
export function serializeJsonValue(value: unknown, rootPath: string): string | JsonProblem {
  return serialize(value, rootPath, false);
}

/**
 * The text `serializeSourceData(value, path, 'sorted')` gives for the value a JSON text of it holds:
 * JSON that was written and checked already, with its keys sorted.
 */
export function sortedJson(json: string): string {
  return serialize(JSON.parse(json), '', true) as string;
}

/** The size of a JSON text as PostgreSQL receives it: UTF-8 bytes, not the UTF-16 units of `length`. */
export function jsonByteLength(json: string): number {
  return Buffer.byteLength(json, 'utf8');
}

/** The problem of a JSON text larger than a row (or an option) may be; null when it fits. */
export function jsonSizeProblem(json: string, path: string): JsonProblem | null {
  // A UTF-16 unit takes at most 3 bytes in UTF-8: most texts are decided without being measured.
  if (json.length * 3 <= MAX_SOURCE_DATA_BYTES) return null;
  const bytes = jsonByteLength(json);
  if (bytes <= MAX_SOURCE_DATA_BYTES) return null;
  return {
    path,
    problem: messages.jsonTooLarge({ bytes, limit: MAX_SOURCE_DATA_BYTES }),
  };
}

/** Narrows the result of `serializeSourceData`. */
export function isJsonProblem(result: string | JsonProblem): result is JsonProblem {
  return typeof result !== 'string';
}

/**
 * One walk that reads every value once, checks it and writes it: what is stored is exactly what was
 * checked, even when a getter or a `toJSON` answers differently each time it is called. Whatever a
 * getter, a Proxy trap or a `toJSON` throws becomes a problem at the path where it was thrown.
 */
function serialize(value: unknown, rootPath: string, sortKeys: boolean): string | JsonProblem {
  const walk: Walk = { keys: [], ancestors: [], sortKeys };
  try {
    return writeValue(value, '', walk);
  } catch (error) {
    const problem =
      error instanceof Refusal
        ? error.problem
        : error instanceof RangeError && /call stack/i.test(error.message)
          ? messages.jsonStackOverflow({ maxDepth: MAX_JSON_DEPTH })
          : messages.jsonUnreadable({ thrown: error });
    return { path: pathOf(rootPath, walk.keys), problem };
  }
}

function writeValue(input: unknown, key: string, walk: Walk): string {
  let value = input;
  // As JSON.stringify: toJSON is applied once, with the property's key, and its result is not replaced again.
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      value = toJSON.call(value, key) as unknown;
      if (value === null && input instanceof Date) {
        throw new Refusal(messages.jsonInvalidDate());
      }
    }
  }
  switch (typeof value) {
    case 'string': {
      if (!NOT_PLAIN.test(value)) return `"${value}"`;
      const problem = stringProblem(value);
      if (problem) {
        throw new Refusal(problem === 'nul' ? messages.jsonNul() : messages.jsonBrokenText());
      }
      return NEEDS_ESCAPING.test(value) ? JSON.stringify(value) : `"${value}"`;
    }
    case 'number':
      if (Number.isFinite(value)) return String(value);
      throw new Refusal(messages.jsonNotFinite({ value }));
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new Refusal(messages.jsonBigInt());
    case 'undefined':
      throw new Refusal(messages.jsonUndefined());
    case 'function':
    case 'symbol':
      throw new Refusal(messages.jsonCannotHold({ kind: describeKind(value) }));
  }
  return value === null ? 'null' : writeObject(value as object, walk);
}

function writeObject(object: object, walk: Walk): string {
  const { keys, ancestors } = walk;
  if (ancestors.includes(object)) {
    throw new Refusal(messages.jsonCycle());
  }
  if (ancestors.length >= MAX_JSON_DEPTH) {
    throw new Refusal(messages.jsonTooDeep({ maxDepth: MAX_JSON_DEPTH }));
  }
  if (Array.isArray(object)) {
    ancestors.push(object);
    let json = '[';
    const length = (object as unknown[]).length;
    for (let i = 0; i < length; i++) {
      keys.push(i);
      json += (i === 0 ? '' : ',') + writeValue((object as unknown[])[i], String(i), walk);
      keys.pop();
    }
    ancestors.pop();
    return `${json}]`;
  }
  const prototype = Object.getPrototypeOf(object) as unknown;
  if (prototype !== Object.prototype && prototype !== null) {
    const boxed = unboxed(object);
    if (boxed !== undefined) return writeValue(boxed, '', walk);
  }
  ancestors.push(object);
  let json = '{';
  let first = true;
  const names = walk.sortKeys ? sortedKeys(Object.keys(object)) : Object.keys(object);
  for (const key of names) {
    keys.push(key);
    const child = (object as Record<string, unknown>)[key];
    // undefined is left out, as JSON.stringify does; so is a toJSON method, applied already.
    if (child === undefined || (key === 'toJSON' && typeof child === 'function')) {
      keys.pop();
      continue;
    }
    json += `${first ? '' : ','}${quotedKey(key)}:${writeValue(child, key, walk)}`;
    first = false;
    keys.pop();
  }
  ancestors.pop();
  return `${json}}`;
}

const SORTED_CACHE_SIZE = 1_000;
/** The sorted order of key lists seen last, by their first key: a batch's rows mostly share theirs. */
const sortedOrders = new Map<string, { keys: readonly string[]; sorted: string[] }>();

/**
 * The keys in ascending order of UTF-16 code units (the order of `sort()`). Checking the order, or that
 * the list is the one sorted last, costs a comparison per key; a sort is paid by new lists only.
 */
function sortedKeys(names: string[]): readonly string[] {
  let inOrder = true;
  for (let i = 1; i < names.length && inOrder; i++) inOrder = names[i - 1] < names[i];
  if (inOrder) return names;
  const known = sortedOrders.get(names[0]);
  if (known && sameList(known.keys, names)) return known.sorted;
  const sorted = [...names].sort();
  if (sortedOrders.size >= SORTED_CACHE_SIZE) sortedOrders.clear();
  sortedOrders.set(names[0], { keys: names, sorted });
  return sorted;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A key checked and written as JSON. Rows of a batch mostly share their keys, so the text of the common
 * ones is kept (checked once, and at most `KEY_CACHE_SIZE` of them, short ones only).
 */
function quotedKey(key: string): string {
  const known = quotedKeys.get(key);
  if (known !== undefined) return known;
  const problem = stringProblem(key);
  if (problem) {
    throw new Refusal(messages.jsonBadKey({ problem }));
  }
  const quoted = NEEDS_ESCAPING.test(key) ? JSON.stringify(key) : `"${key}"`;
  if (key.length <= 64 && quotedKeys.size < KEY_CACHE_SIZE) quotedKeys.set(key, quoted);
  return quoted;
}

/**
 * The value JSON.stringify writes for a boxed primitive (`new String('x')` is written "x"); undefined for
 * any other object. Maps and Sets, which JSON would store as `{}`, are refused.
 */
function unboxed(object: object): unknown {
  if (object instanceof Map || object instanceof Set) {
    throw new Refusal(messages.jsonMapOrSet({ kind: object.constructor.name }));
  }
  if (object instanceof Number) return Number(object);
  if (object instanceof String) return String(object);
  if (object instanceof Boolean) return object.valueOf();
  if (object instanceof BigInt) return object.valueOf();
  return undefined;
}

/** `sourceData.lines[1].sku`, or `sourceData["first name"]` for a key that is not an identifier. */
function pathOf(rootPath: string, keys: readonly (string | number)[]): string {
  let path = rootPath;
  for (const key of keys) {
    path +=
      typeof key === 'number'
        ? `[${key}]`
        : /^[A-Za-z_$][\w$]*$/.test(key)
          ? `.${key}`
          : `[${JSON.stringify(key)}]`;
  }
  return path;
}
