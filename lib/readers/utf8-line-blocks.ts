import { isUtf8 } from 'node:buffer';
import { InvalidSourceFileError } from '../errors/invalid-source-file.error';
import { messages } from '../reliable-imports.messages';

/** Whole lines of a text, with their line endings (none on a last line without one). */
export interface LineBlock {
  /** The number of the block's first line, from 1. */
  firstLine: number;
  text: string;
}

const NEWLINE = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Decodes a stream of UTF-8 chunks as blocks of whole lines. Bytes that are not UTF-8 stop the reading
 * with the number of their line: decoding them anyway would store U+FFFD in their place, and the data would
 * be changed unseen. A byte order mark at the start is dropped.
 *
 * @throws InvalidSourceFileError naming the line of the first bytes that are not UTF-8.
 */
export async function* utf8LineBlocks(chunks: AsyncIterable<Buffer>): AsyncGenerator<LineBlock> {
  let firstLine = 1;
  let pending: Buffer[] = [];
  const decode = (bytes: Buffer): LineBlock => {
    if (!isUtf8(bytes)) {
      const line = firstLine + badLineOffset(bytes);
      throw new InvalidSourceFileError(messages.notUtf8(line), line);
    }
    const start = firstLine === 1 && bytes.subarray(0, BOM.length).equals(BOM) ? BOM.length : 0;
    const block = { firstLine, text: bytes.toString('utf8', start) };
    firstLine += countNewlines(bytes);
    return block;
  };
  // A newline byte is never part of a multi-byte UTF-8 sequence, so cutting after one splits no character.
  for await (const chunk of chunks) {
    const end = chunk.lastIndexOf(NEWLINE) + 1;
    if (end === 0) {
      pending.push(chunk);
      continue;
    }
    pending.push(chunk.subarray(0, end));
    yield decode(Buffer.concat(pending));
    pending = end < chunk.length ? [chunk.subarray(end)] : [];
  }
  if (pending.length > 0) {
    const rest = Buffer.concat(pending);
    if (rest.length > 0) yield decode(rest);
  }
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
