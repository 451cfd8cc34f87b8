/// <reference lib="dom" />
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { waitFor } from '../support/timing';
import {
  batchIdOnPage,
  CUSTOMERS_CSV,
  documentState,
  markDocument,
  pageErrors,
  readCorrections,
  VISIBLE_WITHIN_MS,
  waitForCounts,
} from './support/admin-page';
import { customerFlow } from './support/customer-flow';
import { keyboardOperator, mouseOperator } from './support/operator';
import { useAdminBrowser } from './support/use-admin-browser';

/** A flow of 500 rows, a reprocess and SSE updates on a shared two-core machine. */
const FLOW_WITHIN_MS = 300_000;

/** Text that runs script wherever a page puts it into HTML instead of text. */
const HOSTILE = {
  email: '<img src=x onerror="window.__xss=1">',
  lastName: '<script>window.__xss=2</script>',
  company: '<b>bold</b>',
  column: '<img src=x onerror="window.__xss=3">',
  cell: '<svg onload="window.__xss=4">',
  fileName: '<img src=x onerror=window.__xss=5>.csv',
};
const NONE_INJECTED = { ran: null, handlers: 0, inlineScripts: 0, boldText: 0 };

/** What of the hostile text became markup or ran in the tab's document. */
function injectionsOn(page: Page): Promise<typeof NONE_INJECTED> {
  return page.evaluate(() => ({
    ran: (window as Window & { __xss?: null }).__xss ?? null,
    handlers: document.querySelectorAll('[onerror], [onload]').length,
    inlineScripts: document.querySelectorAll('script:not([src])').length,
    boldText: Array.from(document.querySelectorAll('b')).filter(
      (element) => element.textContent === 'bold',
    ).length,
  }));
}

const quoted = (text: string) => `"${text.replace(/"/g, '""')}"`;

/**
 * The admin page of the sample app in Debian's Chromium, on a real PostgreSQL: the sample app runs as a
 * separate process on this file's database, as `npm run start:sample` runs it.
 */
describe('admin page in Chromium', () => {
  const browser = useAdminBrowser();
  let page: Page | undefined;

  beforeEach(async () => {
    page = await browser.newPage();
  });
  afterEach(async () => {
    await page?.close();
    page = undefined;
  });

  const customerCount = async (): Promise<number> => {
    const client = await browser.database.connect();
    const { rows } = await client.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM customers',
    );
    return rows[0].count;
  };

  it('reaches the sample app admin API through its loopback-only guard', async () => {
    const response = await page!.goto(`${browser.appUrl}/admin/batches?limit=1`);
    expect(response?.status()).toBe(200);
    expect(JSON.parse(await page!.innerText('body'))).toEqual([]);
  });

  it(
    'with the mouse: upload, 472/28 with reasons, a row fixed in place, the rest by file, reprocess: 500 of 500, live',
    async () => {
      const outcome = await customerFlow(page!, browser.appUrl, mouseOperator(page!), {
        screenshots: true,
      });
      // Line 21, fixed in place, is in the file with the same values: only the 27 others change.
      expect(outcome).toMatchObject({
        exportedRows: 28,
        correctedMessage: 'Corrected 27 rows',
        sameDocument: true,
        violations: [],
        errors: [],
      });
      // The watch that finds no mouse in the keyboard-only flow does see this one.
      expect(outcome.mouseEvents).toBeGreaterThan(0);
      expect(await customerCount()).toBe(500);
    },
    FLOW_WITHIN_MS,
  );

  it(
    'with the keyboard only: the same flow, no mouse event, every control reached by Tab',
    async () => {
      const outcome = await customerFlow(page!, browser.appUrl, keyboardOperator(page!));
      expect(outcome).toMatchObject({
        exportedRows: 28,
        correctedMessage: 'Corrected 27 rows',
        sameDocument: true,
        violations: [],
        mouseEvents: 0,
        errors: [],
      });
      expect(await customerCount()).toBe(500);
    },
    FLOW_WITHIN_MS,
  );

  it(
    'follows the stream: an import and a reprocess started by another client show up with no action and no reload',
    async () => {
      const tab = page!;
      const errors = pageErrors(tab);
      const other = await browser.newPage();
      try {
        await tab.goto(`${browser.appUrl}/admin/`);
        const batches = tab.getByRole('table', { name: 'Batches', exact: true });
        await batches.waitFor();
        const marker = await markDocument(tab);

        // The other client is another tab of the same origin, calling the API as any script would.
        await other.goto(`${browser.appUrl}/admin/`);
        const post = (url: string, body: string, contentType: string) =>
          other.evaluate(
            async ({ url, body, contentType }) => {
              const response = await fetch(url, {
                method: 'POST',
                headers: { 'Content-Type': contentType, 'x-reliable-imports-request': '1' },
                body,
              });
              if (response.status !== 202) throw new Error(`${url}: ${await response.text()}`);
              return ((await response.json()) as { id: string }).id;
            },
            { url, body, contentType },
          );
        // The first 40 rows of customers.csv, a few of them invalid: enough to see, quick to run.
        const lines = readFileSync(CUSTOMERS_CSV, 'utf8').split('\r\n').slice(0, 41);
        const failed = Object.keys(readCorrections()).filter((line) => Number(line) <= 41).length;
        const batchId = await post(
          'batches?batchType=customer_data',
          lines.join('\r\n') + '\r\n',
          'text/csv',
        );
        const link = batches.getByRole('link', { name: batchId.slice(0, 8), exact: true });
        await link.waitFor();
        await batches
          .getByRole('row')
          .filter({ has: tab.getByRole('link', { name: batchId.slice(0, 8), exact: true }) })
          .getByText('completed with errors')
          .waitFor({ timeout: VISIBLE_WITHIN_MS });

        await link.click();
        const counts = { Rows: '40', Failed: String(failed), Unresolved: String(failed) };
        await waitForCounts(tab, { ...counts, Completed: String(40 - failed) });
        const tree = tab.getByRole('list', { name: 'Batches of this import', exact: true });
        expect(await tree.getByRole('link').count()).toBe(1);
        await post(`batches/${batchId}/reprocess`, '{"wait":false}', 'application/json');
        // Nothing corrected: the reprocess fails the same rows, as a second batch of the tree.
        await waitFor(async () => (await tree.getByRole('link').count()) === 2, {
          withinMs: VISIBLE_WITHIN_MS,
          everyMs: 100,
          what: 'the reprocess in the tree "Batches of this import"',
        });
        await waitForCounts(tab, { ...counts, Resolved: '0' });

        expect(await documentState(tab, marker)).toMatchObject({
          sameDocument: true,
          violations: [],
        });
        expect(errors).toEqual([]);
      } finally {
        await other.close();
      }
    },
    FLOW_WITHIN_MS,
  );

  it(
    'shows hostile text (cells, a column name, a file name) as text, and none of it runs',
    async () => {
      const tab = page!;
      const errors = pageErrors(tab);
      const work = mkdtempSync(join(tmpdir(), 'reliable-imports-browser-'));
      try {
        const file = join(work, HOSTILE.fileName);
        writeFileSync(
          file,
          [
            ['email', 'first_name', 'last_name', 'company', 'country', HOSTILE.column],
            [HOSTILE.email, 'Eve', HOSTILE.lastName, HOSTILE.company, 'US', HOSTILE.cell],
          ]
            .map((cells) => cells.map(quoted).join(','))
            .join('\r\n') + '\r\n',
        );
        await tab.goto(`${browser.appUrl}/admin/`);
        const marker = await markDocument(tab);
        const form = tab.getByRole('form', { name: 'New import', exact: true });
        await form.getByLabel('Batch type', { exact: true }).selectOption('customer_data');
        await form.getByLabel('File (CSV or JSON lines)', { exact: true }).setInputFiles(file);
        await form.getByRole('button', { name: 'Import', exact: true }).click();
        await batchIdOnPage(tab);
        await waitForCounts(tab, { Rows: '1', Completed: '0', Failed: '1' });

        const table = tab.getByRole('table', { name: 'Failed rows', exact: true });
        const cell = (field: string) => table.getByLabel(`${field} of line 2`, { exact: true });
        await cell('email').waitFor({ timeout: VISIBLE_WITHIN_MS });
        expect(await cell('email').inputValue()).toBe(HOSTILE.email);
        expect(await cell('last_name').inputValue()).toBe(HOSTILE.lastName);
        expect(await cell('company').inputValue()).toBe(HOSTILE.company);
        expect(await cell(HOSTILE.column).inputValue()).toBe(HOSTILE.cell);
        expect(await table.innerText()).toContain(HOSTILE.column);
        expect(await table.innerText()).toContain('email is malformed');

        await table.getByRole('button', { name: 'Logs of line 2', exact: true }).click();
        await tab
          .getByRole('region', { name: 'Logs of line 2', exact: true })
          .waitFor({ timeout: VISIBLE_WITHIN_MS });
        expect(await injectionsOn(tab)).toEqual(NONE_INJECTED);
        await tab.getByRole('link', { name: 'All imports', exact: true }).click();
        await tab
          .getByRole('table', { name: 'Batches', exact: true })
          .waitFor({ timeout: VISIBLE_WITHIN_MS });

        expect(await injectionsOn(tab)).toEqual(NONE_INJECTED);
        expect(await documentState(tab, marker)).toMatchObject({
          sameDocument: true,
          violations: [],
        });
        expect(errors).toEqual([]);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    FLOW_WITHIN_MS,
  );
});
