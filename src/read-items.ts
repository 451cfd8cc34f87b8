import { existsSync, createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { InvalidSourceFileError, readCsv, readJsonl, type SourceRow } from '../lib';
import { isInstance } from '../lib/utils/error-details.util';
import { CliError, EXIT, UsageError } from './cli-errors';

/** A file's format, by its extension: `.csv`, or `.jsonl` / `.ndjson`. */
export function fileFormat(path: string, what: string): 'csv' | 'jsonl' {
  const kind = extname(path).toLowerCase();
  if (kind === '.csv') return 'csv';
  if (kind === '.jsonl' || kind === '.ndjson') return 'jsonl';
  throw new UsageError(
    `Cannot read ${what} "${path}": the file must end in .csv or .jsonl (one JSON object per line).`,
  );
}

/** The file must exist; said in the tool's words rather than as ENOENT. */
export function assertFileExists(path: string, what: string): void {
  if (!existsSync(path)) {
    throw new UsageError(`The file "${path}" does not exist. Give the path of ${what}.`);
  }
}

/**
 * Streams the rows of a `.csv` (header on its first line) or `.jsonl` file with the readers of the module:
 * each row keeps its line, and a line that cannot be read becomes a failed row with its text (to correct
 * and reprocess). What makes the whole file unreadable (bytes that are not UTF-8, an unclosed quote, a
 * column named twice), or a file without rows, stops the import with nothing stored.
 */
export function readItemsFile(
  path: string,
  options: { delimiter?: string } = {},
): AsyncGenerator<SourceRow<Record<string, unknown>>> {
  assertFileExists(path, 'a .csv or .jsonl file');
  const format = fileFormat(path, 'the rows of');
  if (options.delimiter !== undefined && format !== 'csv') {
    throw new UsageError(`--delimiter applies to .csv files only, and "${path}" is not one.`);
  }
  const rows =
    format === 'csv'
      ? readCsv(createReadStream(path), { delimiter: options.delimiter })
      : readJsonl(createReadStream(path));
  return withFileName(path, requireRows(path, format, rows));
}

async function* requireRows<T>(
  path: string,
  format: 'csv' | 'jsonl',
  rows: AsyncGenerator<T>,
): AsyncGenerator<T> {
  let count = 0;
  for await (const row of rows) {
    count++;
    yield row;
  }
  if (count === 0) {
    // A CSV without even a header is refused by readCsv itself: here it had one.
    const why =
      format === 'csv'
        ? 'it has a header line and no rows below it'
        : 'it has only blank lines (a .jsonl file holds one JSON object per line)';
    throw new UsageError(
      `${path} has no rows to import: ${why}. Add the rows and import it again; nothing was stored.`,
    );
  }
}

/** A file that cannot be read at all, reported with its name (the readers do not know it). */
export async function* withFileName<T>(path: string, rows: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* rows;
  } catch (error) {
    if (isInstance(error, InvalidSourceFileError)) {
      throw new CliError(error.code, `${path}: ${error.message}`, EXIT.usage, { cause: error });
    }
    throw error;
  }
}
