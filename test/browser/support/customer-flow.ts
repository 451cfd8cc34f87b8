/// <reference lib="dom" />
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { waitFor } from '../../support/timing';
import {
  batchIdOnPage,
  CUSTOMERS_CSV,
  documentState,
  fixFailuresFile,
  markDocument,
  pageErrors,
  readCorrections,
  SCREENSHOTS,
  VISIBLE_WITHIN_MS,
  waitForCounts,
  waitForStatus,
  waitForText,
} from './admin-page';
import type { Operator } from './operator';

/** A row of `GET batches/:id/failures`, as far as the flow reads it. */
interface FailedRow {
  line: number;
  reasons: string[];
  data: Record<string, string>;
  corrected: boolean;
}

/** The line fixed in place, in its cells; the others are fixed in the failures file. */
const LINE_FIXED_IN_PLACE = '21';

/** What the flow saw, for the test's own assertions. */
export interface FlowOutcome {
  batchId: string;
  /** How many rows the fixed failures file corrected, by the page's message. */
  correctedMessage: string;
  /** The rows of the downloaded failures file. */
  exportedRows: number;
  /** Whether the tab kept its document from the list page to the end (no reload, no navigation). */
  sameDocument: boolean;
  /** CSP violations and trusted mouse presses the document saw; uncaught errors of the tab. */
  violations: string[];
  mouseEvents: number;
  errors: string[];
}

function failuresOf(page: Page, batchId: string): Promise<FailedRow[]> {
  // From the page, relative to /admin/ as the page's own calls are; a GET needs no CSRF header.
  return page.evaluate(async (id) => {
    const response = await fetch(`batches/${id}/failures?limit=1000`);
    if (!response.ok) throw new Error(`GET failures answered ${response.status}`);
    return (await response.json()) as FailedRow[];
  }, batchId);
}

/**
 * The operator's whole round trip on the admin page, by mouse or keyboard: upload customers.csv through
 * "New import", see 472 completed and 28 failed with their reasons, fix one row in its cells, fix the
 * others in the downloaded failures file and upload it, reprocess, and watch the page reach
 * "Done: 500 of 500 rows" by itself. With `screenshots`, writes the README's two pictures.
 */
export async function customerFlow(
  page: Page,
  appUrl: string,
  operator: Operator,
  options: { screenshots?: boolean } = {},
): Promise<FlowOutcome> {
  const errors = pageErrors(page);
  const corrections = readCorrections();
  const work = mkdtempSync(join(tmpdir(), 'reliable-imports-browser-'));
  try {
    await page.goto(`${appUrl}/admin`);
    if (new URL(page.url()).pathname !== '/admin/') {
      throw new Error(`/admin did not lead to /admin/ but to ${page.url()}`);
    }
    await page
      .getByRole('heading', { level: 1, name: 'Imports', exact: true })
      .waitFor({ timeout: VISIBLE_WITHIN_MS });
    const marker = await markDocument(page);

    const form = page.getByRole('form', { name: 'New import', exact: true });
    await operator.choose(form.getByLabel('Batch type', { exact: true }), 'customer_data');
    await operator.chooseFile(
      form.getByLabel('File (CSV or JSON lines)', { exact: true }),
      CUSTOMERS_CSV,
    );
    await operator.press(form.getByRole('button', { name: 'Import', exact: true }));

    const batchId = await batchIdOnPage(page);
    await page
      .getByRole('heading', { level: 1, name: new RegExp(`^Batch ${batchId.slice(0, 8)}`) })
      .waitFor({ timeout: VISIBLE_WITHIN_MS });
    await waitForCounts(page, { Rows: '500', Completed: '472', Failed: '28' });

    const table = page.getByRole('table', { name: 'Failed rows', exact: true });
    const saveButtons = table.getByRole('button', { name: /^Save line \d+$/ });
    await waitFor(async () => (await saveButtons.count()) === 28, {
      withinMs: VISIBLE_WITHIN_MS,
      everyMs: 100,
      what: 'the 28 failed rows in the table "Failed rows"',
    });
    const failures = await failuresOf(page, batchId);
    expect(failures.map((row) => String(row.line)).sort()).toEqual(Object.keys(corrections).sort());
    for (const failure of failures) {
      const row = table.getByRole('row').filter({
        has: page.getByRole('button', { name: `Save line ${failure.line}`, exact: true }),
      });
      const text = await row.innerText();
      for (const reason of failure.reasons) expect(text).toContain(reason);
    }
    if (options.screenshots) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      // The window, not the whole page: the counts, the actions and the first failed rows.
      await page.screenshot({ path: join(SCREENSHOTS, 'batch.png') });
    }

    // One row fixed where it is shown: its cells, then its own Save.
    const line = LINE_FIXED_IN_PLACE;
    for (const [field, value] of Object.entries(corrections[line])) {
      const cell = table.getByLabel(`${field} of line ${line}`, { exact: true });
      if ((await cell.inputValue()) !== value) await operator.fill(cell, value);
    }
    await operator.press(table.getByRole('button', { name: `Save line ${line}`, exact: true }));
    await waitForStatus(page, `Saved line ${line}`);
    const saved = (await failuresOf(page, batchId)).find((row) => String(row.line) === line);
    expect(saved).toMatchObject({ corrected: true, data: corrections[line] });

    // The rest in the failures file, as in a spreadsheet, given back through the page.
    const exported = await operator.download(
      page.getByRole('link', { name: 'Download failures (CSV)', exact: true }),
    );
    const fixed = fixFailuresFile(exported, corrections);
    const correctedFile = join(work, 'failures-fixed.csv');
    writeFileSync(correctedFile, fixed.csv);
    await operator.chooseFile(page.getByLabel('Corrections file', { exact: true }), correctedFile);
    await operator.press(page.getByRole('button', { name: 'Upload corrections', exact: true }));
    const correctedMessage = await waitForStatus(page, /^Corrected \d+ rows?$/);

    await operator.press(page.getByRole('button', { name: 'Reprocess failed rows', exact: true }));
    await waitForStatus(page, 'Reprocess started');
    await waitForText(page, 'Done: 500 of 500 rows');
    await waitForCounts(page, { Rows: '500', Unresolved: '0', Resolved: '28' });
    const progress = page.getByRole('progressbar', { name: 'Progress', exact: true });
    expect(
      await progress.evaluate((bar) => [
        (bar as HTMLProgressElement).value,
        (bar as HTMLProgressElement).max,
      ]),
    ).toEqual([500, 500]);

    await operator.press(page.getByRole('link', { name: 'All imports', exact: true }));
    await page
      .getByRole('table', { name: 'Batches', exact: true })
      .getByRole('link', { name: batchId.slice(0, 8), exact: true })
      .waitFor({ timeout: VISIBLE_WITHIN_MS });
    await page
      .getByRole('progressbar', { name: `Progress of batch ${batchId.slice(0, 8)}`, exact: true })
      .waitFor({ timeout: VISIBLE_WITHIN_MS });
    if (options.screenshots) {
      await page.locator('body').screenshot({ path: join(SCREENSHOTS, 'list.png') });
    }

    const state = await documentState(page, marker);
    return {
      batchId,
      correctedMessage,
      exportedRows: fixed.count,
      sameDocument: state.sameDocument,
      violations: state.violations,
      mouseEvents: state.mouseEvents,
      errors,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
