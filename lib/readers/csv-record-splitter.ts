import { InvalidSourceFileError } from '../errors/invalid-source-file.error';
import { messages } from '../reliable-imports.messages';

/** The text of one CSV record, without its line ending, and the line it starts on. */
export interface CsvRecordText {
  line: number;
  text: string;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
/** What csv-parse's `trim` removes around a field: the characters of `\s`. */
const TRIMMABLE = /\s/;

/**
 * Cuts CSV text into records, following quotes the way csv-parse does (a quote opens a field only at its
 * start, after blanks when trimming; `""` inside a quoted field is a quote), so that a record's start line
 * and raw text are known exactly: csv-parse counts a CRLF inside a quoted field as two lines, and does not
 * say where a record it skipped began. Whatever is wrong inside a record (a stray quote, a ragged row) is
 * left to csv-parse; only an unclosed quote, which would make the rest of the file one record, is refused
 * here. Blank lines are skipped, as csv-parse's `skip_empty_lines` would.
 */
export class CsvRecordSplitter {
  private readonly delimiter: number;
  private inQuote = false;
  private quoteLine = 0;
  private atFieldStart = true;
  /** The current record's text from earlier blocks. */
  private pending = '';
  private recordLine = 1;
  private line = 1;

  constructor(
    delimiter: string,
    private readonly trim: boolean,
  ) {
    this.delimiter = delimiter.charCodeAt(0);
  }

  /** The records that end in `text`, a block of whole lines that follows the previous one. */
  push(text: string): CsvRecordText[] {
    const records: CsvRecordText[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inQuote) {
        if (c === QUOTE) {
          if (text.charCodeAt(i + 1) === QUOTE) i++;
          else this.inQuote = false;
        } else if (c === LF) this.line++;
        continue;
      }
      if (c === LF) {
        this.endRecord(this.pending + text.slice(start, i), records);
        this.line++;
        this.recordLine = this.line;
        start = i + 1;
      } else if (c === QUOTE) {
        if (this.atFieldStart) {
          this.inQuote = true;
          this.quoteLine = this.line;
        }
        this.atFieldStart = false;
      } else if (c === this.delimiter) {
        this.atFieldStart = true;
      } else if (this.atFieldStart && !(this.trim && TRIMMABLE.test(text[i]))) {
        this.atFieldStart = false;
      }
    }
    this.pending += text.slice(start);
    return records;
  }

  /**
   * The last record, when the text does not end with a line ending.
   *
   * @throws InvalidSourceFileError when a quote is still open.
   */
  end(): CsvRecordText[] {
    if (this.inQuote) {
      throw new InvalidSourceFileError(messages.quoteNotClosed(this.quoteLine), this.quoteLine);
    }
    const records: CsvRecordText[] = [];
    this.endRecord(this.pending, records);
    return records;
  }

  private endRecord(withEnding: string, records: CsvRecordText[]): void {
    const text =
      withEnding.charCodeAt(withEnding.length - 1) === CR ? withEnding.slice(0, -1) : withEnding;
    this.pending = '';
    this.atFieldStart = true;
    if (text === '' || (this.trim && text.trim() === '')) return;
    records.push({ line: this.recordLine, text });
  }
}
