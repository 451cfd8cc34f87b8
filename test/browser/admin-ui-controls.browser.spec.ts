import type { Page } from 'playwright-core';
import type { Client } from 'pg';
import { useBatchesElsewhere } from './support/batches-elsewhere';
import { controlsFlow } from './support/controls-flow';
import { keyboardOperator, mouseOperator } from './support/operator';
import { useAdminBrowser } from './support/use-admin-browser';

/** Two batches (one of 100,000 rows), a dozen actions, each followed in two tabs, on a shared two-core machine. */
const FLOW_WITHIN_MS = 240_000;

/**
 * The batch page's Pause, Resume, Cancel, Approve and Reject, in Chromium against the sample app on a
 * real PostgreSQL: the batches come from a second instance of the app (the page's import never waits for
 * approval), and each action is checked on the page, in the database and in another tab's list.
 */
describe('admin page controls in Chromium', () => {
  const browser = useAdminBrowser();
  const elsewhere = useBatchesElsewhere(browser);
  let sql: Client;
  let page: Page | undefined;
  let watcher: Page | undefined;

  beforeAll(async () => {
    sql = await browser.database.connect();
  });
  beforeEach(async () => {
    page = await browser.newPage();
    watcher = await browser.newPage();
  });
  afterEach(async () => {
    await page?.close();
    await watcher?.close();
    page = watcher = undefined;
  });

  it(
    'with the mouse: reject with a reason, approve, pause, resume, cancel with a reason; backing out changes nothing',
    async () => {
      const outcome = await controlsFlow(page!, mouseOperator(page!), {
        appUrl: browser.appUrl,
        elsewhere,
        sql,
        watcher: watcher!,
        rejectReason: 'Sent twice: the same file as yesterday',
        cancelReason: 'Wrong file <b>uploaded</b>',
      });
      expect(outcome).toMatchObject({ sameDocument: true, violations: [], errors: [] });
      expect(outcome.mouseEvents).toBeGreaterThan(0);
    },
    FLOW_WITHIN_MS,
  );

  it(
    'with the keyboard only: the same, Escape backs out of each dialog, a cancel without a reason',
    async () => {
      const outcome = await controlsFlow(page!, keyboardOperator(page!), {
        appUrl: browser.appUrl,
        elsewhere,
        sql,
        watcher: watcher!,
        rejectReason: 'Prices in the wrong currency',
        cancelReason: '',
      });
      expect(outcome).toEqual({ sameDocument: true, violations: [], mouseEvents: 0, errors: [] });
    },
    FLOW_WITHIN_MS,
  );
});
