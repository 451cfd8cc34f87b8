import { InvalidArgumentError } from '../errors/invalid-argument.error';
import { InvalidSourceFileError } from '../errors/invalid-source-file.error';
import type { ItemCorrection, RecoveryFileFormat } from '../interfaces/recovery.interface';
import { messages } from '../reliable-imports.messages';
import { checkColumnNames, csvOptions, readCsvRows } from './read-csv';
import { jsonlLines, parseJsonObject } from './read-jsonl';
import type { ReaderInput } from './reader-input';
import {
  metaColumnNamesWithPrefix,
  unprotectCell,
  type MetaColumnNames,
} from './spreadsheet-cells';

/** Options of `readCorrections()`. */
export interface ReadCorrectionsOptions {
  /** The format of the file: as exported by `exportFailures`. */
  format: RecoveryFileFormat;
  /** The character between fields of a CSV file (a spreadsheet may save with `;`). @default ',' */
  delimiter?: string;
}

/** A correction's data, as read from a file. */
type Correction = ItemCorrection<Record<string, unknown>>;

/**
 * Reads a corrections file — a failures export (`exportFailures`, `reliable-imports failures <id>
 * --format csv|jsonl`) edited in a spreadsheet or an editor — as corrections for `correctItems`, streaming.
 *
 * CSV: the header of the export. A row is matched by its `_item_id` cell, or when that is empty by its
 * `_line` (the meta columns get more leading `_` when the data has a column of that name); `_status` and
 * `_reason` are ignored; every other column is data, kept as text exactly as written (not trimmed), less
 * the `'` the export put before a cell a spreadsheet would run as a formula. A row whose cells are all
 * empty is skipped. JSONL: one object per line, with `itemId` (or `line`) and a `data` object; numbers
 * keep every digit.
 *
 * Each correction carries its `fileLine`. A row that cannot be used (a wrong number of fields, a `_line`
 * that is not a line number, no `itemId` or `line`, no `data` object) is yielded with `problem` set rather
 * than thrown, so that `correctItems` refuses the whole set with every problem listed by line.
 *
 * @throws InvalidSourceFileError (code `INVALID_SOURCE_FILE`) for a file that cannot be read at all: bytes
 *   that are not UTF-8, a quote never closed, a CSV header without an `_item_id` or `_line` column.
 */
export function readCorrections(
  input: ReaderInput,
  options: ReadCorrectionsOptions,
): AsyncGenerator<Correction> {
  const format = (options as Partial<ReadCorrectionsOptions> | undefined)?.format;
  if (format === 'csv') {
    return readCsvCorrections(input, csvOptions('readCorrections', { ...options, trim: false }));
  }
  if (format === 'jsonl') return readJsonlCorrections(input);
  throw new InvalidArgumentError(
    'readCorrections',
    'options.format',
    messages.expectedOneOf({ values: ['csv', 'jsonl'] }),
    format,
    null,
  );
}

/** Where the meta columns of a corrections header are, and which columns are data. */
interface CorrectionsLayout {
  names: MetaColumnNames;
  dataColumns: string[];
}

/** The meta prefix: the leading `_` of the first `_item_id` column, or else of the first `_line` one. */
function correctionsLayout(columns: readonly string[], line: number): CorrectionsLayout {
  checkColumnNames(columns, line);
  const prefix =
    firstPrefix(columns, /^(_+)item_id$/) ?? firstPrefix(columns, /^(_+)line$/) ?? null;
  if (prefix === null) {
    throw new InvalidSourceFileError(messages.noCorrectionsKeyColumn(line), line);
  }
  const names = metaColumnNamesWithPrefix(prefix);
  const meta = new Set(Object.values(names));
  return { names, dataColumns: columns.filter((name) => !meta.has(name)) };
}

function firstPrefix(columns: readonly string[], pattern: RegExp): string | undefined {
  for (const name of columns) {
    const match = pattern.exec(name);
    if (match) return match[1];
  }
  return undefined;
}

async function* readCsvCorrections(
  input: ReaderInput,
  options: { delimiter: string; trim: boolean },
): AsyncGenerator<Correction> {
  let layout: CorrectionsLayout | null = null;
  const rows = readCsvRows(input, options, (columns, line) => {
    layout = correctionsLayout(columns, line);
  });
  for await (const row of rows) {
    const { names, dataColumns } = layout as unknown as CorrectionsLayout;
    const cells = row.data;
    if (row.malformed === null && Object.values(cells).every((cell) => cell.trim() === ''))
      continue;
    const data: Record<string, unknown> = {};
    for (const column of dataColumns) {
      if (Object.hasOwn(cells, column)) {
        Object.defineProperty(data, column, {
          value: unprotectCell(cells[column]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    const itemId = (cells[names.itemId] ?? '').trim();
    const lineText = (cells[names.line] ?? '').trim();
    const line = lineText === '' ? undefined : lineNumber(lineText);
    const problem =
      row.malformed?.reason ??
      (line === null
        ? messages.correctionLineNotNumber({ column: names.line, text: lineText })
        : itemId === '' && line === undefined
          ? messages.correctionCellsEmpty({ itemIdColumn: names.itemId, lineColumn: names.line })
          : null);
    yield correction(row.line, data, problem, itemId !== '' ? { itemId } : line ? { line } : {});
  }
}

async function* readJsonlCorrections(input: ReaderInput): AsyncGenerator<Correction> {
  for await (const { line: fileLine, text } of jsonlLines(input)) {
    const parsed = parseJsonObject(text);
    if (parsed.problem !== null) {
      yield correction(fileLine, {}, parsed.problem, {});
      continue;
    }
    const { itemId, line, data } = parsed.object;
    const target: { itemId?: string; line?: number } = {};
    let problem: string | null = null;
    if (itemId !== undefined && itemId !== null) {
      if (typeof itemId === 'string' && itemId.trim() !== '') target.itemId = itemId.trim();
      else problem = messages.correctionItemIdNotString({ got: describe(itemId) });
    }
    if (problem === null && target.itemId === undefined && line !== undefined && line !== null) {
      const number = typeof line === 'number' ? lineNumber(String(line)) : null;
      if (number === null) problem = messages.correctionLineNotNumberJson({ got: describe(line) });
      else target.line = number;
    }
    if (problem === null && target.itemId === undefined && target.line === undefined) {
      problem = messages.correctionNamesNoRow();
    }
    const isObject = typeof data === 'object' && data !== null && !Array.isArray(data);
    if (problem === null && !isObject) {
      problem = messages.correctionDataNotObject({ got: describe(data) });
    }
    yield correction(fileLine, isObject ? (data as Record<string, unknown>) : {}, problem, target);
  }
}

/** A line number written as a whole number from 1, or null. */
function lineNumber(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) && value >= 1 ? value : null;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function correction(
  fileLine: number,
  data: Record<string, unknown>,
  problem: string | null,
  target: { itemId?: string; line?: number },
): Correction {
  return problem === null ? { ...target, data, fileLine } : { ...target, data, fileLine, problem };
}
