import { isLosslessNumber, parse, stringify } from 'lossless-json';

/**
 * The two rules a failures export and a corrections file share (see the formats of issue #11): the names
 * of the meta columns, and the `'` that keeps a spreadsheet from reading a cell as a formula.
 */

/** The names of the meta columns of a failures export / corrections file. */
export interface MetaColumnNames {
  itemId: string;
  line: string;
  status: string;
  reason: string;
}

const META = ['item_id', 'line', 'status', 'reason'] as const;

/**
 * `_item_id`, `_line`, `_status`, `_reason`, each with one more leading `_` until none is the name of a
 * data column: a source file may well have a `_line` column of its own.
 */
export function metaColumnNames(dataColumns: Iterable<string>): MetaColumnNames {
  const taken = new Set(dataColumns);
  let prefix = '_';
  while (META.some((name) => taken.has(prefix + name))) prefix += '_';
  return metaColumnNamesWithPrefix(prefix);
}

/** The meta column names for a prefix of underscores, as a reader finds it in a header. */
export function metaColumnNamesWithPrefix(prefix: string): MetaColumnNames {
  return {
    itemId: `${prefix}item_id`,
    line: `${prefix}line`,
    status: `${prefix}status`,
    reason: `${prefix}reason`,
  };
}

/**
 * A cell a spreadsheet would run as a formula (`=`, `+`, `@`, TAB, CR, or `-` unless the whole cell is a
 * negative number or the `-` alone: `-1+2` is a formula), after any run of `'`. The run is counted so that a text that
 * already starts with `'` before such a character (`'=x`, rare but possible) survives a protect and
 * unprotect unchanged.
 */
const FORMULA_START = String.raw`(?:[=+@\t\r]|-(?!$|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$))`;
const FORMULA_LIKE = new RegExp(`^'*${FORMULA_START}`);
const PROTECTED = new RegExp(`^'+${FORMULA_START}`);

/** The text of a cell as written to a CSV export: with a leading `'` when a spreadsheet would run it. */
export function protectCell(text: string): string {
  return FORMULA_LIKE.test(text) ? `'${text}` : text;
}

/** The text of a cell of a corrections file, without the `'` that `protectCell` added. */
export function unprotectCell(text: string): string {
  return PROTECTED.test(text) ? text.slice(1) : text;
}

/** JSON with every number kept as it was written (a double would change the digits of some). */
export const parseExactly = (json: string): unknown => parse(json);

/**
 * A stored value as a cell: text as it is, a number or boolean as written (every digit, when parsed by
 * `parseExactly`), null as empty, the rest as JSON.
 */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || isLosslessNumber(value)) return String(value);
  return stringify(value) ?? '';
}

/** A stored value (parsed by `parseExactly`) as JSON text, every digit kept. */
export const exactJson = (value: unknown): string => stringify(value) ?? 'null';
