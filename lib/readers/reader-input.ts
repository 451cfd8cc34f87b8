import { Readable } from 'node:stream';

import { messages } from '../reliable-imports.messages';

/**
 * What the readers read: a Node `Readable` (an HTTP request, `createReadStream(path)`) or any async
 * iterable of chunks. Chunks are bytes, or text already decoded.
 */
export type ReaderInput = Readable | AsyncIterable<Buffer | Uint8Array | string>;

/**
 * The chunks of an input, as bytes. A `Readable` is read without being destroyed when the reading stops
 * early (a parse error, or a consumer that stops): destroying an HTTP request closes its socket, and the
 * client would then see a dropped connection instead of the response that names the wrong line. An input
 * that fails (an upload the client dropped) makes the iteration throw its error.
 */
export async function* chunksOf(input: ReaderInput): AsyncGenerator<Buffer> {
  const chunks: AsyncIterable<unknown> =
    input instanceof Readable ? input.iterator({ destroyOnReturn: false }) : input;
  for await (const chunk of chunks) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (Buffer.isBuffer(chunk)) yield chunk;
    else if (chunk instanceof Uint8Array)
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    else throw new TypeError(messages.readerChunkNotBytes({ kind: typeof chunk }));
  }
}
