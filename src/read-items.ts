import { parse, type CsvError } from 'csv-parse';
import { createReadStream, existsSync } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from './cli-errors';

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
 * Streams the rows of a `.csv` (header on line 1) or `.jsonl` file. A malformed line is skipped and
 * reported with its line number; the other rows are imported.
 */
export function readItemsFile(path: string): ItemsFile {
  if (!existsSync(path)) {
    throw new UsageError(
      `The file "${path}" does not exist. Give the path of a .csv or .jsonl file.`,
    );
  }
  const kind = extname(path).toLowerCase();
  const skipped: SkippedLine[] = [];
  if (kind === '.csv') return { rows: readCsv(path, skipped), skipped };
  if (kind === '.jsonl' || kind === '.ndjson') return { rows: readJsonl(path, skipped), skipped };
  throw new UsageError(
    `Cannot read "${path}": the file must end in .csv or .jsonl (one JSON object per line).`,
  );
}

async function* readCsv(
  path: string,
  skipped: SkippedLine[],
): AsyncGenerator<Record<string, unknown>> {
  const parser = createReadStream(path).pipe(
    parse({
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      skip_records_with_error: true,
    }),
  );
  let unclosedQuote: CsvError | null = null;
  parser.on('skip', (error: CsvError & { lines?: number }) => {
    if (error.code === 'CSV_QUOTE_NOT_CLOSED') unclosedQuote = error;
    else skipped.push({ line: error.lines ?? 0, reason: error.message });
  });
  for await (const row of parser) yield row as Record<string, unknown>;
  if (unclosedQuote) {
    // Everything after an unclosed quote was read as one field: no line after it can be trusted.
    throw new UsageError(
      `${path}: ${(unclosedQuote as CsvError).message}. A quote opened on an earlier line is never closed, so ` +
        'the rest of the file would be one field. Nothing was imported; fix the quote and import again.',
    );
  }
}

async function* readJsonl(
  path: string,
  skipped: SkippedLine[],
): AsyncGenerator<Record<string, unknown>> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        skipped.push({ line, reason: 'the line is not a JSON object' });
        continue;
      }
      yield value as Record<string, unknown>;
    } catch (error) {
      skipped.push({ line, reason: `invalid JSON: ${(error as Error).message}` });
    }
  }
}
