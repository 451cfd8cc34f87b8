/** Why a line of a file could not be read as a row, and its text. */
export interface MalformedLine {
  /** The parse error, for people: e.g. `3 fields where the header has 5`, `invalid JSON: ...`. */
  reason: string;
  /** The line's text as it was in the file (several lines for a quoted field that spans lines). */
  raw: string;
}

/**
 * A row read from a file, with the line it starts on. `readCsv` and `readJsonl` yield these, and
 * `createBatch` stores each one's line with its item (`ImportItem.sourceLine`), so that failures, exports
 * and corrections speak of lines as an editor shows them. A malformed line is stored as a failed item with
 * its reason and its raw text: it is corrected and reprocessed like any other failure, and never lost.
 *
 * Rows of your own can carry a line too: `new SourceRow(12, { email: 'a@b.c' })`.
 */
export class SourceRow<TSource extends object = Record<string, unknown>> {
  constructor(
    /** The line the row starts on, from 1 (the header of a CSV file is line 1). */
    readonly line: number,
    /** The row's data; for a malformed line, what could be read of it (possibly nothing). */
    readonly data: TSource,
    /** Set when the line could not be read as a row. */
    readonly malformed: MalformedLine | null = null,
    /** The file's column names in their order (a CSV header), shared by every row of the file. */
    readonly columns: readonly string[] | null = null,
  ) {}
}
