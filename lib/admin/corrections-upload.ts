import { PayloadTooLargeException, UnsupportedMediaTypeException } from '@nestjs/common';
import { Readable } from 'node:stream';
import type { RecoveryFileFormat } from '../interfaces/recovery.interface';
import { messages } from '../reliable-imports.messages';

/** The largest corrections file taken: far more than any list of failures a person fixes by hand. */
const MAX_BYTES = 16 * 1024 * 1024;

const FORMAT_BY_TYPE: Readonly<Record<string, RecoveryFileFormat>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
};

/**
 * The format of an upload (corrections, or a file to import), from its `Content-Type`; 415 for any other type or a charset that
 * is not UTF-8 (Nest's parsers would have read a JSON or form body already: it is refused, never
 * taken as an empty file).
 */
export function uploadFormat(
  contentType: string | undefined,
  refusal: (contentType: string | undefined) => string = messages.adminFileType,
): RecoveryFileFormat {
  const [type, ...parameters] = (contentType ?? '').split(';').map((part) => part.trim());
  const charset = parameters
    .map((parameter) => /^charset\s*=\s*"?([^"]*)"?$/i.exec(parameter)?.[1])
    .find((value) => value !== undefined);
  const format = Object.hasOwn(FORMAT_BY_TYPE, type.toLowerCase())
    ? FORMAT_BY_TYPE[type.toLowerCase()]
    : undefined;
  if (!format || (charset !== undefined && !/^utf-?8$/i.test(charset))) {
    throw new UnsupportedMediaTypeException(refusal(contentType));
  }
  return format;
}

/**
 * The upload, read whole before it is applied: corrections are applied under a lock of the batch's tree,
 * which a client that sends slowly would otherwise hold (and every reprocess of that tree with it).
 */
export async function readUpload(request: AsyncIterable<Buffer>): Promise<Readable> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BYTES) {
      throw new PayloadTooLargeException(messages.adminFileTooLarge(MAX_BYTES / 1024 / 1024));
    }
    chunks.push(chunk);
  }
  return Readable.from([Buffer.concat(chunks)]);
}
