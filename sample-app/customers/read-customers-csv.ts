import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import type { CustomerRow } from './customer-data.processor';

/** Streams the rows of a customers CSV file (header on line 1), without holding the file in memory. */
export function readCustomersCsv(path: string): AsyncIterable<CustomerRow> {
  return createReadStream(path).pipe(
    parse({ columns: true, skip_empty_lines: true, trim: true, bom: true }),
  ) as AsyncIterable<CustomerRow>;
}
