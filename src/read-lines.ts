import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { UsageError } from './cli-errors';

/** One line of a text file, numbered from 1, with its line ending (none on a last line without one). */
export interface TextLine {
  number: number;
  text: string;
}

const NEWLINE = 0x0a;
const BOM = '\uFEFF';

/**
 * Streams the lines of a UTF-8 file. A line that is not valid UTF-8 stops the reading with its number:
 * decoding it anyway would store U+FFFD in place of the bytes, and the data would be changed unseen. A
 * byte order mark at the start is dropped.
 */
export async function* readLines(path: string): AsyncGenerator<TextLine> {
  let number = 0;
  let pending: Buffer[] = [];
  const decode = (bytes: Buffer): TextLine => {
    number++;
    if (!isUtf8(bytes)) {
      throw new UsageError(
        `${path}: line ${number} is not valid UTF-8 (the file may be Latin-1 or Windows-1252). ` +
          'Nothing was imported; save the file as UTF-8 and import again.',
      );
    }
    const text = bytes.toString('utf8');
    return { number, text: number === 1 && text.startsWith(BOM) ? text.slice(1) : text };
  };
  // A newline byte is never part of a multi-byte UTF-8 sequence, so cutting at it splits no character.
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      pending.push(chunk.subarray(start, end + 1));
      yield decode(Buffer.concat(pending));
      pending = [];
      start = end + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield decode(Buffer.concat(pending));
}
