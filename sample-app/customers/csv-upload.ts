import {
  BadRequestException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { Readable } from 'node:stream';

/**
 * Refuses an upload that is not CSV. Only `text/csv` is taken, in UTF-8 (said or not): Nest parses JSON and
 * form bodies before the controller runs, so any other type would reach the CSV parser as an empty stream
 * and make an empty batch.
 */
export function assertCsvContentType(contentType: string | undefined): void {
  const [type, ...parameters] = (contentType ?? '').split(';').map((part) => part.trim());
  const charset = parameters
    .map((parameter) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(parameter)?.[1])
    .find((value) => value !== undefined);
  if (type.toLowerCase() !== 'text/csv') {
    throw new UnsupportedMediaTypeException(
      `Send the CSV file as the request body with "Content-Type: text/csv"; got ${contentType ? `"${contentType}"` : 'no Content-Type'}. ` +
        `(curl's --data-binary sends a form type unless -H 'Content-Type: text/csv' is given.)`,
    );
  }
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new UnsupportedMediaTypeException(
      `The CSV must be UTF-8; got charset "${charset}". Convert the file (e.g. iconv -t UTF-8) and send it again.`,
    );
  }
}

/**
 * Reads the first row before anything is stored, so that a file without rows is refused without opening
 * a transaction, and gives back the same rows, the first included.
 */
export async function requireRows<T>(rows: AsyncGenerator<T>): Promise<AsyncGenerator<T>> {
  const first = await rows.next();
  if (first.done) {
    throw new BadRequestException(
      'The CSV has no rows: it is empty or holds only its header line. Nothing was stored.',
    );
  }
  return (async function* () {
    yield first.value;
    yield* rows;
  })();
}

/** The largest corrections file taken: far more than any list of failures a person fixes by hand. */
const MAX_CORRECTIONS_BYTES = 64 * 1024 * 1024;

/**
 * Reads a corrections upload whole before it is applied: corrections are applied under a lock of the
 * import's tree, and a client that sends slowly would hold it (and every reprocess of that import) for
 * as long as it takes.
 */
export async function readWholeBody(request: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CORRECTIONS_BYTES) {
      throw new PayloadTooLargeException(
        `A corrections file may be up to ${MAX_CORRECTIONS_BYTES / 1024 / 1024} MiB; split it and send the parts one after the other.`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
