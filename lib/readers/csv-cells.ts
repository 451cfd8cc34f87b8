import { parse, CsvError } from 'csv-parse/sync';
import { messages } from '../reliable-imports.messages';
import type { CsvRecordText } from './csv-record-splitter';

/** A record cut into cells, or why it could not be. */
export interface CsvCells extends CsvRecordText {
  /** The cells read; for a record that is not valid CSV, what a lenient reading gives (maybe nothing). */
  cells: string[];
  /** Why the record is not valid CSV (a stray quote...), as csv-parse says it; null when it is. */
  error: unknown;
}

/**
 * Cuts records into cells with csv-parse. The records of a block are parsed in one call, which costs far
 * less than a parser per record; when that call fails or does not give one record per record (a record in
 * the block is not valid CSV), each record of the block is parsed alone, to tell which one is wrong and why.
 */
export class CsvCellParser {
  constructor(
    private readonly delimiter: string,
    private readonly trim: boolean,
  ) {}

  parse(records: readonly CsvRecordText[]): CsvCells[] {
    if (records.length === 0) return [];
    try {
      const rows = this.parseText(records.map((record) => record.text).join('\n'), false);
      if (rows.length === records.length) {
        return records.map((record, i) => ({ ...record, cells: rows[i], error: null }));
      }
    } catch {
      // One of the records is not valid CSV: found below.
    }
    return records.map((record) => this.parseOne(record));
  }

  private parseOne(record: CsvRecordText): CsvCells {
    try {
      const rows = this.parseText(record.text, false);
      if (rows.length === 1) return { ...record, cells: rows[0], error: null };
    } catch (error) {
      return { ...record, cells: this.lenientCells(record.text), error };
    }
    return { ...record, cells: [], error: new Error(messages.csvLineNotOneRow()) };
  }

  /** The cells a reading that tolerates stray quotes finds, to keep what can be kept of a bad record. */
  private lenientCells(text: string): string[] {
    for (const rtrim of this.trim ? [true, false] : [false]) {
      try {
        const rows = this.parseText(text, true, rtrim);
        if (rows.length === 1) return rtrim || !this.trim ? rows[0] : rows[0].map((c) => c.trim());
      } catch {
        // Try the next, more lenient, reading.
      }
    }
    return [];
  }

  private parseText(text: string, relaxQuotes: boolean, rtrim = this.trim): string[][] {
    return parse(text, {
      delimiter: this.delimiter,
      ltrim: this.trim,
      rtrim,
      relax_column_count: true,
      relax_quotes: relaxQuotes,
      record_delimiter: '\n',
      skip_empty_lines: false,
    });
  }
}

/** Why a record is not valid CSV, for people; fields are named by their column when the header is known. */
export function describeCsvError(error: unknown, columns: readonly string[] | null): string {
  if (!(error instanceof CsvError)) return error instanceof Error ? error.message : String(error);
  const index = typeof error.index === 'number' ? error.index : null;
  const field = messages.csvField({ index, name: index === null ? undefined : columns?.[index] });
  switch (error.code) {
    case 'INVALID_OPENING_QUOTE':
      return messages.csvQuoteInsideField({ field });
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return messages.csvTextAfterClosingQuote({ field });
    default:
      return error.message.replace(/\s*(on|at) line \d+/g, '');
  }
}
