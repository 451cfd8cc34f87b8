import type { Page } from 'playwright-core';
import type { ImportBatch } from '../../lib';
import { waitFor } from '../support/timing';
import { VISIBLE_WITHIN_MS, waitForStatus } from './support/admin-page';
import { auditAccessibility } from './support/accessibility';
import { useBatchesElsewhere } from './support/batches-elsewhere';
import { useAdminBrowser } from './support/use-admin-browser';

/** A page with one failure of each kind the audit looks for, and text and controls that pass. */
const AUDIT_SELF_TEST = `<!doctype html>
<html lang="en"><head><title>Audit</title><style>
  :root { background: #f6f8fa; color: #1f2328 }
  :focus-visible { outline: 3px solid #0b57d0 }
  .faint { color: #999 }
  .panel { background: #222 } .panel span { color: #444 }
  .veil { background: rgb(0 0 0 / 0.5); color: #333 }
  .bare:focus-visible { outline: none }
  .pale:focus-visible { outline: 3px solid #eee }
  .shadow:focus-visible { outline: none; box-shadow: 0 0 0 3px #0b57d0 }
</style></head><body>
  <p class="faint">Faint text</p>
  <div class="panel"><span>Dark on dark</span></div>
  <p>Plain text</p>
  <div class="veil">Under a veil</div>
  <input type="text" value="A value">
  <label for="named">Named</label><input id="named" type="text">
  <button class="bare">No ring</button>
  <button class="pale">Pale ring</button>
  <button class="shadow">Shadow ring</button>
  <button tabindex="-1">Out of the tab order</button>
  <button disabled style="color: #ccc">Disabled</button>
  <p hidden style="color: #eee">Hidden</p>
  <a href="#top">A link</a>
</body></html>`;

/**
 * What the README claims of the page's accessibility, checked in Chromium on the pages as an operator
 * sees them (every status badge, failures with their reasons, a row's logs, an outcome, an error, the
 * dialog of an action): text contrast of 4.5:1 or more, a name for every control, every control reached
 * by Tab with a visible focus. Each audit lists what fails; an empty list passes.
 */
describe('admin page accessibility in Chromium', () => {
  const browser = useAdminBrowser();
  const elsewhere = useBatchesElsewhere(browser);
  let page: Page | undefined;
  /**
   * A batch in each colour of status the page has, made before the tests (`processing` and `failed`
   * share the colours of `pending` and `rejected`).
   */
  const batch: Record<string, ImportBatch> = {};

  beforeAll(async () => {
    const { batches } = elsewhere;
    // The first 40 rows of customers.csv, 6 of them invalid; then a reprocess, which fails them again.
    batch.withFailures = await elsewhere.createCustomers(40);
    await batches.processBatch(batch.withFailures.id);
    await batches.reprocessBatch(batch.withFailures.id);
    batch.completed = await elsewhere.createCustomers(3);
    await batches.processBatch(batch.completed.id);
    batch.awaitingApproval = await elsewhere.createCustomers(3, { requireApproval: true });
    batch.paused = await elsewhere.createCustomers(3);
    await batches.pauseBatch(batch.paused.id, { reason: 'Waiting for the price list' });
    batch.cancelled = await elsewhere.createCustomers(3);
    await batches.cancelBatch(batch.cancelled.id, { reason: 'Wrong file' });
    batch.rejected = await elsewhere.createCustomers(3, { requireApproval: true });
    await batches.rejectBatch(batch.rejected.id, 'Sent twice');
  });
  beforeEach(async () => {
    page = await browser.newPage();
  });
  afterEach(async () => {
    await page?.close();
    page = undefined;
  });

  /** The audit of what the tab shows, which must have looked at text and controls to pass anything. */
  const auditOf = async (tab: Page) => {
    const audit = await auditAccessibility(tab);
    expect(audit.texts).toBeGreaterThan(0);
    expect(audit.controls).toBeGreaterThan(0);
    return audit;
  };
  const expectAccessible = async (tab: Page) => expect((await auditOf(tab)).findings).toEqual([]);

  /**
   * Opens a batch page and waits until it is drawn: its heading, its status, its failed rows or the note
   * that there are none. (The page before it, in the same document, has a status too.)
   */
  const openBatch = async (tab: Page, id: string) => {
    await tab.goto(`${browser.appUrl}/admin/#/batches/${id}`);
    await tab.waitForFunction(
      (short) =>
        document.querySelector('h1')?.textContent === `Batch ${short}` &&
        document.querySelector('.batch-header .badge:not([hidden])') !== null &&
        (document.querySelector('.failures tbody tr') !== null ||
          Boolean(document.querySelector('.failures .note')?.textContent)),
      id.slice(0, 8),
      { timeout: VISIBLE_WITHIN_MS, polling: 100 },
    );
  };

  it('the audit itself: finds each kind of failure, and passes over what a user cannot see or use', async () => {
    const tab = page!;
    // A page of its own (about:blank, no CSP): one failure of each kind beside text and controls that pass.
    await tab.setContent(AUDIT_SELF_TEST);
    const audit = await auditAccessibility(tab);
    expect(audit.findings).toEqual([
      '<p.faint> "Faint text": contrast 2.68:1 (#999999 on #f6f8fa), below 4.5:1',
      '<span> "Dark on dark": contrast 1.63:1 (#444444 on #222222), below 4.5:1',
      '<div.veil> "Under a veil": contrast 3.02:1 (#333333 on #7b7c7d), below 4.5:1',
      '<input type=text> "" has no accessible name',
      '<button> "No ring" shows no focus indicator (no outline or shadow of its own)',
      '<button> "Pale ring" has a focus outline of contrast 1.09:1 against its background, below 3:1',
      '<button> "Out of the tab order" is not reached by Tab',
    ]);
    // Every text and control but the disabled button and the hidden paragraph.
    expect(audit).toMatchObject({ texts: 12, controls: 7 });
  });

  it('the list: every status, the import form', async () => {
    const tab = page!;
    await tab.goto(`${browser.appUrl}/admin/`);
    const rows = tab.getByRole('table', { name: 'Batches', exact: true }).getByRole('link');
    // The batches made before, and the reprocess.
    await rows.nth(6).waitFor({ timeout: VISIBLE_WITHIN_MS });
    await tab
      .getByRole('combobox', { name: 'Batch type', exact: true })
      .locator('option')
      .first()
      .waitFor({ state: 'attached', timeout: VISIBLE_WITHIN_MS });
    await expectAccessible(tab);
  });

  it('a batch page with its failures, a row logs open, an outcome, then an error', async () => {
    const tab = page!;
    await openBatch(tab, batch.withFailures.id);
    const table = tab.getByRole('table', { name: 'Failed rows', exact: true });
    const logs = table.getByRole('button', { name: /^Logs of line \d+$/ }).first();
    await logs.waitFor({ timeout: VISIBLE_WITHIN_MS });
    await logs.click();
    const region = tab.getByRole('region', { name: /^Logs of line \d+$/ });
    await waitFor(async () => !['', 'Loading…'].includes((await region.innerText()).trim()), {
      withinMs: VISIBLE_WITHIN_MS,
      everyMs: 100,
      what: "the row's logs, read",
    });
    await table
      .getByRole('button', { name: /^Save line \d+$/ })
      .first()
      .click();
    await waitForStatus(tab, /^Nothing changed on line \d+$/);
    await expectAccessible(tab);

    await tab.getByRole('button', { name: 'Upload corrections', exact: true }).click();
    await tab.getByRole('alert').filter({ hasText: 'Choose the corrections file' }).waitFor();
    await expectAccessible(tab);
  });

  it('a batch page in each other status, with its error message and its actions', async () => {
    const tab = page!;
    const found: Record<string, string[]> = {};
    for (const name of ['completed', 'awaitingApproval', 'paused', 'cancelled', 'rejected']) {
      await openBatch(tab, batch[name].id);
      found[name] = (await auditOf(tab)).findings;
    }
    expect(found).toEqual({
      completed: [],
      awaitingApproval: [],
      paused: [],
      cancelled: [],
      rejected: [],
    });
  });

  it('the dialog of an action that ends a batch', async () => {
    const tab = page!;
    await openBatch(tab, batch.awaitingApproval.id);
    await tab.getByRole('button', { name: 'Reject', exact: true }).click();
    const dialog = tab.getByRole('dialog', { name: 'Reject this batch?', exact: true });
    await dialog.waitFor({ timeout: VISIBLE_WITHIN_MS });
    await dialog.getByLabel('Reason (optional)', { exact: true }).fill('A reason being written');
    await expectAccessible(tab);
    await tab.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
  });
});
