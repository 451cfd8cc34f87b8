import { Readable } from 'node:stream';

/** Text as a stream of byte chunks of `size` bytes, cut anywhere (even inside a character), as a socket may. */
export function bytes(text: string | Buffer, size = 7): Readable {
  const all = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += size) chunks.push(all.subarray(at, at + size));
  return Readable.from(chunks);
}

/** Everything an async iterable yields. */
export async function readAll<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}
