import { existsSync, createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { InvalidSourceFileError, readCsv, readJsonl, type SourceRow } from '../lib';
import { isInstance } from '../lib/utils/error-details.util';
import { cliMessages } from './cli-messages';
import { CliError, EXIT, UsageError } from './cli-errors';

/** A file's format, by its extension: `.csv`, or `.jsonl` / `.ndjson`. */
export function fileFormat(path: string, what: string): 'csv' | 'jsonl' {
  const kind = extname(path).toLowerCase();
  if (kind === '.csv') return 'csv';
  if (kind === '.jsonl' || kind === '.ndjson') return 'jsonl';
  throw new UsageError(cliMessages.unknownFileKind({ what, path }));
}

/** The file must exist; said in the tool's words rather than as ENOENT. */
export function assertFileExists(path: string, what: string): void {
  if (!existsSync(path)) {
    throw new UsageError(cliMessages.fileMissing({ path, what }));
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
  assertFileExists(path, cliMessages.rowsFile());
  const format = fileFormat(path, cliMessages.rowsFileRole());
  if (options.delimiter !== undefined && format !== 'csv') {
    throw new UsageError(cliMessages.delimiterNotCsv({ path }));
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
    throw new UsageError(cliMessages.noRows({ path, format }));
  }
}

/** A file that cannot be read at all, reported with its name (the readers do not know it). */
export async function* withFileName<T>(path: string, rows: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* rows;
  } catch (error) {
    if (isInstance(error, InvalidSourceFileError)) {
      throw new CliError(
        error.code,
        cliMessages.inFile({ path, message: error.message }),
        EXIT.usage,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
