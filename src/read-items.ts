import { parse, type CsvError, type Info, type Parser } from 'csv-parse';
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { isJsonProblem, serializeSourceData } from '../lib/utils/source-data.util';
import { UsageError } from './cli-errors';
import { parseJson } from './parse-json';
import { readLineBlocks } from './read-lines';

/** A line of the input that could not be read, and why. */
export interface SkippedLine {
  line: number;
  reason: string;
}

/** The rows of a file, and the lines that were skipped while reading them (filled as rows are read). */
export interface ItemsFile {
  rows: AsyncGenerator<Record<string, unknown>>;
  skipped: SkippedLine[];
}

/**
 * Streams the rows of a `.csv` (header on its first line) or `.jsonl` file. A malformed line, or a row the
 * database cannot store as it is (a `\u0000`, broken text), is skipped and reported with its line number;
 * the other rows are imported. What would change every row, or leave none, stops the import with nothing
 * stored: bytes that are not UTF-8, a column named twice, a file without rows.
 */
export function readItemsFile(path: string, options: { delimiter?: string } = {}): ItemsFile {
  if (!existsSync(path)) {
    throw new UsageError(
      `The file "${path}" does not exist. Give the path of a .csv or .jsonl file.`,
    );
  }
  const kind = extname(path).toLowerCase();
  const skipped: SkippedLine[] = [];
  const csv = kind === '.csv';
  const read = csv
    ? (file: string, lines: SkippedLine[]) => readCsv(file, lines, options.delimiter)
    : kind === '.jsonl' || kind === '.ndjson'
      ? readJsonl
      : null;
  if (!read) {
    throw new UsageError(
      `Cannot read "${path}": the file must end in .csv or .jsonl (one JSON object per line).`,
    );
  }
  if (options.delimiter !== undefined && !csv) {
    throw new UsageError(`--delimiter applies to .csv files only, and "${path}" is not one.`);
  }
  return {
    rows: storableRows(path, read(path, skipped), skipped),
    skipped,
  };
}

/** A row as read, and the line it ends on. */
interface ReadRow {
  line: number;
  row: Record<string, unknown>;
}

/**
 * Keeps back, as skipped lines, the rows the module would refuse (it would stop the whole batch at that
 * row, with an item index instead of a line), and refuses an input without rows.
 */
async function* storableRows(
  path: string,
  rows: AsyncGenerator<ReadRow>,
  skipped: SkippedLine[],
): AsyncGenerator<Record<string, unknown>> {
  let count = 0;
  for await (const { line, row } of rows) {
    const json = serializeSourceData(row, 'row');
    if (isJsonProblem(json)) {
      skipped.push({ line, reason: `${json.path} ${json.problem}` });
      continue;
    }
    count++;
    yield row;
  }
  if (count === 0) {
    const why =
      skipped.length === 0
        ? 'it is empty (a .csv file needs a header line and at least one row)'
        : `no line could be imported: ${skipped
            .slice(0, 5)
            .map((s) => `line ${s.line}: ${s.reason}`)
            .join('; ')}${skipped.length > 5 ? `; and ${skipped.length - 5} more` : ''}`;
    throw new UsageError(`${path} has no rows to import: ${why}. Nothing was stored.`);
  }
}

async function* readCsv(
  path: string,
  skipped: SkippedLine[],
  delimiter = ',',
): AsyncGenerator<ReadRow> {
  const parser: Parser = parse({
    delimiter,
    columns: (header: string[]) => uniqueColumns(path, parser.info.lines, header),
    info: true,
    skip_empty_lines: true,
    trim: true,
    skip_records_with_error: true,
  });
  // pipeline, unlike pipe, hands a read error (bytes that are not UTF-8) on to the parser, and so to us.
  pipeline(Readable.from(blockTexts(path)), parser, () => undefined);
  let unclosedQuote: CsvError | null = null;
  parser.on('skip', (error: CsvError & { lines?: number }) => {
    if (error.code === 'CSV_QUOTE_NOT_CLOSED') unclosedQuote = error;
    else skipped.push({ line: error.lines ?? 0, reason: error.message });
  });
  for await (const { info, record } of parser as AsyncIterable<{
    info: Info;
    record: Record<string, unknown>;
  }>) {
    yield { line: info.lines, row: record };
  }
  if (unclosedQuote) {
    // Everything after an unclosed quote was read as one field: no line after it can be trusted.
    throw new UsageError(
      `${path}: ${(unclosedQuote as CsvError).message}. A quote opened on an earlier line is never closed, so ` +
        'the rest of the file would be one field. Nothing was imported; fix the quote and import again.',
    );
  }
}

async function* blockTexts(path: string): AsyncGenerator<string> {
  for await (const block of readLineBlocks(path)) yield block.text;
}

/** The header as column names, refused when a name comes twice: every row would lose one of the two. */
function uniqueColumns(path: string, line: number, header: string[]): string[] {
  const seen = new Map<string, number>();
  header.forEach((name, i) => {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new UsageError(
        `${path}: line ${line}: the column "${name}" is named twice (columns ${first + 1} and ${i + 1}), ` +
          'so one of the two would be lost in every row. Nothing was imported; rename one and import again.',
      );
    }
    seen.set(name, i);
  });
  return header;
}

async function* readJsonl(path: string, skipped: SkippedLine[]): AsyncGenerator<ReadRow> {
  for await (const { firstLine, text } of readLineBlocks(path)) {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const row = jsonRow(lines[i], firstLine + i, skipped);
      if (row) yield row;
    }
  }
}

function jsonRow(text: string, line: number, skipped: SkippedLine[]): ReadRow | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (error) {
    skipped.push({ line, reason: `invalid JSON: ${(error as Error).message}` });
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    skipped.push({ line, reason: 'the line is not a JSON object' });
    return null;
  }
  return { line, row: value as Record<string, unknown> };
}
