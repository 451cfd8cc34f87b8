import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { CustomerRow } from './customer-data.processor';

/**
 * Streams the rows of a customers CSV (header on line 1) without holding it in memory. A malformed line
 * makes the stream fail with csv-parse's message, which names the line: createBatch then stores nothing.
 */
export async function* parseCustomersCsv(input: Readable): AsyncGenerator<CustomerRow> {
  // Piped only when the rows are read, so that a parse error always has a reader to reach.
  const rows = input.pipe(parse({ columns: true, skip_empty_lines: true, trim: true, bom: true }));
  for await (const row of rows) yield row as CustomerRow;
}

/** The rows of a customers CSV file. */
export function readCustomersCsv(path: string): AsyncGenerator<CustomerRow> {
  return parseCustomersCsv(createReadStream(path));
}
