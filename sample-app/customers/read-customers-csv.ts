import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { finished, type Readable } from 'node:stream';
import type { CustomerRow } from './customer-data.processor';

/**
 * Streams the rows of a customers CSV (header on line 1) without holding it in memory. A malformed line
 * makes the stream fail with csv-parse's message, which names the line; an input that breaks off (an upload
 * the client dropped) makes it fail too. Either way createBatch rolls back and stores nothing.
 */
export async function* parseCustomersCsv(input: Readable): AsyncGenerator<CustomerRow> {
  // Piped only when the rows are read, so that a parse error always has a reader to reach.
  const rows = input.pipe(parse({ columns: true, skip_empty_lines: true, trim: true, bom: true }));
  // `pipe` does not pass on a source that breaks off: the parser would wait for the rest for good, and
  // createBatch with it, holding its transaction open. `pipeline` would, but it also destroys the source
  // when the parser fails, and an upload's error then reads as a dropped upload instead of the line that
  // is wrong. So only the source's failure is passed on.
  const stopWatching = finished(input, { writable: false }, (error) => {
    if (error) rows.destroy(error);
  });
  try {
    for await (const row of rows) yield row as CustomerRow;
  } finally {
    stopWatching();
  }
}

/** The rows of a customers CSV file. */
export function readCustomersCsv(path: string): AsyncGenerator<CustomerRow> {
  return parseCustomersCsv(createReadStream(path));
}
