import { InvalidArgumentError } from '../errors/invalid-argument.error';
import { InvalidSourceFileError } from '../errors/invalid-source-file.error';
import { messages } from '../reliable-imports.messages';
import { CsvCellParser, describeCsvError, type CsvCells } from './csv-cells';
import { CsvRecordSplitter } from './csv-record-splitter';
import { chunksOf, type ReaderInput } from './reader-input';
import { SourceRow } from './source-row';
import { utf8LineBlocks } from './utf8-line-blocks';

/** Options of `readCsv()`. */
export interface ReadCsvOptions {
  /** The character between fields, e.g. `';'` for files saved by a spreadsheet in many locales. @default ',' */
  delimiter?: string;
  /** Remove blanks around each field (not inside quotes), and skip lines of blanks. @default true */
  trim?: boolean;
}

/** What the header check of a CSV reader is given: the column names and the header's line. */
export type CsvHeaderCheck = (columns: readonly string[], line: number) => void;

/**
 * Reads a CSV file (its header on line 1) as rows, streaming: it holds a block of lines at a time, never
 * the whole input. Each row carries the line it starts on, as an editor shows it (blank lines and a
 * quoted field that spans lines counted), and the header as `columns` (one frozen array, shared by every
 * row). Give the rows to `createBatch`, which stores each row's line with its item.
 *
 * A line that is not a valid row — a field count other than the header's, a stray quote — is not thrown:
 * it is yielded with `malformed` set (its reason and raw text) and the cells that could be read, and
 * `createBatch` stores it as a failed row, to be corrected and reprocessed like any other. The rows after it
 * are read as usual. What makes the whole file unreadable is thrown as `InvalidSourceFileError`: bytes that
 * are not UTF-8, a quote never closed, no header, a column without a name or named twice. An input that
 * fails (an upload the client dropped) makes the reading throw that error, so `createBatch` stores nothing.
 *
 * The input is not destroyed when the reading stops early: an HTTP request then still gets its response.
 * Destroy a file stream yourself if you stop reading before its end.
 *
 * @example
 * ```ts
 * @Post('customers')
 * async upload(@Req() request: Request) {
 *   const batch = await this.batches.createBatch('customer_data', readCsv(request));
 *   return { batchId: batch.id };
 * }
 * ```
 *
 * @throws InvalidSourceFileError (code `INVALID_SOURCE_FILE`, `context.line` the line at fault).
 */
export function readCsv(
  input: ReaderInput,
  options: ReadCsvOptions = {},
): AsyncGenerator<SourceRow<Record<string, string>>> {
  return readCsvRows(input, csvOptions('readCsv', options));
}

/** The options with their defaults, checked before anything is read. */
export function csvOptions(method: string, options: ReadCsvOptions): Required<ReadCsvOptions> {
  const delimiter = options.delimiter ?? ',';
  if (
    typeof delimiter !== 'string' ||
    delimiter.length !== 1 ||
    delimiter === '"' ||
    delimiter === '\n' ||
    delimiter === '\r'
  ) {
    throw new InvalidArgumentError(
      method,
      'options.delimiter',
      messages.expectedDelimiter(),
      delimiter,
      null,
    );
  }
  return { delimiter, trim: options.trim ?? true };
}

/** `readCsv` with a check of the header before any row is read (the corrections reader has its own). */
export async function* readCsvRows(
  input: ReaderInput,
  { delimiter, trim }: Required<ReadCsvOptions>,
  checkHeader: CsvHeaderCheck = checkColumnNames,
): AsyncGenerator<SourceRow<Record<string, string>>> {
  const splitter = new CsvRecordSplitter(delimiter, trim);
  const parser = new CsvCellParser(delimiter, trim);
  let columns: readonly string[] | null = null;
  const rowsOf = function* (records: CsvCells[]): Generator<SourceRow<Record<string, string>>> {
    for (const record of records) {
      if (columns === null) {
        if (record.error !== null) {
          throw new InvalidSourceFileError(
            messages.unreadableCsvHeader(record.line, describeCsvError(record.error, null)),
            record.line,
          );
        }
        checkHeader(record.cells, record.line);
        columns = Object.freeze([...record.cells]);
        continue;
      }
      yield toRow(record, columns);
    }
  };
  for await (const block of utf8LineBlocks(chunksOf(input))) {
    yield* rowsOf(parser.parse(splitter.push(block.text)));
  }
  yield* rowsOf(parser.parse(splitter.end()));
  if (columns === null) throw new InvalidSourceFileError(messages.noCsvHeader(), 1);
}

function toRow(record: CsvCells, columns: readonly string[]): SourceRow<Record<string, string>> {
  const data: Record<string, string> = {};
  const count = Math.min(record.cells.length, columns.length);
  for (let i = 0; i < count; i++) {
    // Assigned as an own property even for a column named "__proto__".
    if (columns[i] === '__proto__') {
      Object.defineProperty(data, columns[i], {
        value: record.cells[i],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else data[columns[i]] = record.cells[i];
  }
  const reason =
    record.error !== null
      ? describeCsvError(record.error, columns)
      : record.cells.length === columns.length
        ? null
        : messages.csvFieldCount({ count: record.cells.length, expected: columns.length });
  return new SourceRow(
    record.line,
    data,
    reason === null ? null : { reason, raw: record.text },
    columns,
  );
}

/** Refuses a column without a name or named twice: every row would lose the cells stored under it. */
export function checkColumnNames(columns: readonly string[], line: number): void {
  const seen = new Map<string, number>();
  columns.forEach((name, i) => {
    if (name === '') {
      throw new InvalidSourceFileError(messages.unnamedCsvColumn(line, i + 1), line);
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw new InvalidSourceFileError(
        messages.duplicateCsvColumn(line, name, first + 1, i + 1),
        line,
      );
    }
    seen.set(name, i);
  });
}
