import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import {
  type BatchService,
  type CreateBatchOptions,
  type ImportBatch,
  readCsv,
} from '../../../lib';
import { CustomerDataProcessor } from '../../../sample-app/customers/customer-data.processor';
import { createTestApp, type TestApp } from '../../fixtures/test-app';
import { CUSTOMERS_CSV } from './admin-page';
import type { AdminBrowserHandle } from './use-admin-browser';

/** Another instance of the app on the file's database, beside the sample app the page talks to. */
export interface BatchesElsewhere {
  readonly batches: BatchService;
  /**
   * Stores the header and the first `rows` rows of customers.csv as a batch (not run); past the file's
   * 500 rows, its rows again from the first (the sample's processor upserts by email).
   */
  createCustomers(rows: number, options?: CreateBatchOptions): Promise<ImportBatch>;
}

/**
 * The app's module in the test's process, on the file's database, as a second instance or a job of the
 * user's would be: it makes the batches the page cannot make, such as one that waits for approval (the
 * page's import never asks for it), and no run of its own starts (the worker is off). Call it after
 * `useAdminBrowser`: the sample app's migration makes the customers table first. Closed before the
 * database's leak check.
 */
export function useBatchesElsewhere(browser: AdminBrowserHandle): BatchesElsewhere {
  let app: TestApp | undefined;
  beforeAll(async () => {
    app = await createTestApp(browser.database.db.url, [CustomerDataProcessor]);
    const started = app;
    browser.database.closeBeforeCheck(() => started.close());
  });
  const batches = () => {
    if (!app) throw new Error('The second app is not ready (see beforeAll).');
    return app.batches;
  };
  return {
    get batches() {
      return batches();
    },
    createCustomers(rows, options) {
      const [header, ...records] = readFileSync(CUSTOMERS_CSV, 'utf8')
        .split('\r\n')
        .filter((line) => line !== '');
      return batches().createBatch(
        'customer_data',
        readCsv(Readable.from(csv(header, records, rows))),
        options,
      );
    },
  };
}

/** The file's text: the header, then `rows` of the records, from the first again past the last. */
function* csv(header: string, records: string[], rows: number): Generator<string> {
  yield `${header}\r\n`;
  // In chunks of a thousand rows, as a file arrives: no string of the whole batch at once.
  for (let start = 0; start < rows; start += 1000) {
    const lines: string[] = [];
    for (let row = start; row < Math.min(start + 1000, rows); row++) {
      lines.push(records[row % records.length]);
    }
    yield `${lines.join('\r\n')}\r\n`;
  }
}
