import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { UsageError } from './cli-errors';

/** Whole lines of a text file, with their line endings (none on a last line without one). */
export interface LineBlock {
  /** The number of the block's first line, from 1. */
  firstLine: number;
  text: string;
}

const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Streams a UTF-8 file as blocks of whole lines. Bytes that are not UTF-8 stop the reading with the number
 * of their line: decoding them anyway would store U+FFFD in their place, and the data would be changed
 * unseen. A byte order mark at the start is dropped.
 */
export async function* readLineBlocks(path: string): AsyncGenerator<LineBlock> {
  let firstLine = 1;
  let pending: Buffer[] = [];
  const decode = (bytes: Buffer): LineBlock => {
    if (!isUtf8(bytes)) throw notUtf8(path, firstLine + badLineOffset(bytes));
    const start = firstLine === 1 && bytes.subarray(0, BOM.length).equals(BOM) ? BOM.length : 0;
    const block = { firstLine, text: bytes.toString('utf8', start) };
    firstLine += countNewlines(bytes);
    return block;
  };
  // A newline byte is never part of a multi-byte UTF-8 sequence, so cutting after one splits no character.
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const end = chunk.lastIndexOf(NEWLINE) + 1;
    if (end === 0) {
      pending.push(chunk);
      continue;
    }
    pending.push(chunk.subarray(0, end));
    yield decode(Buffer.concat(pending));
    pending = end < chunk.length ? [chunk.subarray(end)] : [];
  }
  if (pending.length > 0) yield decode(Buffer.concat(pending));
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

/** Which line of a block (0 for its first) holds the bytes that are not UTF-8. */
function badLineOffset(bytes: Buffer): number {
  let offset = 0;
  let start = 0;
  for (let end = bytes.indexOf(NEWLINE); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
    if (!isUtf8(bytes.subarray(start, end))) return offset;
    offset++;
    start = end + 1;
  }
  return offset;
}

function notUtf8(path: string, line: number): UsageError {
  return new UsageError(
    `${path}: line ${line} is not valid UTF-8 (the file may be Latin-1 or Windows-1252). ` +
      'Nothing was imported; save the file as UTF-8 and import again.',
  );
}
