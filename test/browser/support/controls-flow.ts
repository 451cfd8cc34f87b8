/// <reference lib="dom" />
import type { Locator, Page } from 'playwright-core';
import type { Client } from 'pg';
import { waitFor } from '../../support/timing';
import {
  documentState,
  markDocument,
  pageErrors,
  VISIBLE_WITHIN_MS,
  waitForStatus,
  waitForText,
} from './admin-page';
import type { BatchesElsewhere } from './batches-elsewhere';
import type { Operator } from './operator';

/** Rows of the batch that is rejected: none of them runs. */
const ROWS = 10;
/**
 * Rows of the batch that is approved, paused, resumed and cancelled: the sample app runs about a thousand
 * rows a second, and this one must still be running when it is cancelled, after a dozen actions.
 */
const RUNNING_ROWS = 100_000;

/** What the flow saw, for the test's own assertions. */
export interface ControlsOutcome {
  /** Whether the tab kept its document from the first batch page to the end. */
  sameDocument: boolean;
  violations: string[];
  mouseEvents: number;
  errors: string[];
}

/** What the flow needs besides the page: where batches come from, the database, a second tab. */
export interface ControlsFlowSetting {
  appUrl: string;
  elsewhere: BatchesElsewhere;
  sql: Client;
  /** A tab on the list page, which must follow each change by itself. */
  watcher: Page;
  /** The reason given when cancelling ('' gives none: the server's own words are stored). */
  cancelReason: string;
  rejectReason: string;
}

interface Stored {
  status: string;
  error_message: string | null;
  cancelled: number;
  /** Rows with an outcome (completed, failed or skipped). */
  done: number;
  completed: number;
  /** Rows a run holds now. */
  in_flight: number;
}

async function stored(sql: Client, batchId: string): Promise<Stored> {
  const { rows } = await sql.query<Stored>(
    `SELECT b.status, b.error_message,
            count(*) FILTER (WHERE i.status = 'cancelled')::int AS cancelled,
            count(*) FILTER (WHERE i.status IN ('completed', 'failed', 'skipped'))::int AS done,
            count(*) FILTER (WHERE i.status = 'completed')::int AS completed,
            count(*) FILTER (WHERE i.status = 'processing')::int AS in_flight
       FROM import_batches b LEFT JOIN import_batch_items i ON i.batch_id = b.id
      WHERE b.id = $1
      GROUP BY b.id`,
    [batchId],
  );
  return rows[0];
}

/** Waits until the stored batch shows what `holds` asks; the stored batch then. */
async function waitForStored(
  sql: Client,
  batchId: string,
  holds: (batch: Stored) => boolean,
  what: string,
): Promise<Stored> {
  let last: Stored | undefined;
  await waitFor(async () => holds((last = await stored(sql, batchId))), {
    withinMs: VISIBLE_WITHIN_MS,
    everyMs: 100,
    what: `${what} (stored: ${JSON.stringify(last)})`,
  });
  return last!;
}

/**
 * Waits until the batch page's progress bar (rows completed) is past `above`: the batch runs, and the page
 * shows it by itself.
 */
async function waitForRowsPast(page: Page, above: number): Promise<void> {
  try {
    await page.waitForFunction(
      (least) => {
        const bar = document.querySelector<HTMLProgressElement>('.summary progress');
        return bar !== null && bar.value > least;
      },
      above,
      { timeout: VISIBLE_WITHIN_MS, polling: 100 },
    );
  } catch (error) {
    throw new Error(
      `The batch page never showed more than ${above} rows done: ${(error as Error).message}`,
    );
  }
}

/** The status badge beside the batch page's heading, as the page writes it ("awaiting approval"). */
async function waitForBadge(page: Page, status: string): Promise<void> {
  const badge = page.locator('.batch-header .badge');
  try {
    await page.waitForFunction(
      (wanted) => document.querySelector('.batch-header .badge')?.textContent === wanted,
      status,
      { timeout: VISIBLE_WITHIN_MS, polling: 100 },
    );
  } catch (error) {
    throw new Error(
      `The batch page never showed the status "${status}" (it shows "${await badge.textContent()}"): ${(error as Error).message}`,
    );
  }
}

/** Waits until `control` has the focus. */
async function waitForFocus(control: Locator, what: string): Promise<void> {
  await waitFor(() => control.evaluate((element) => element === document.activeElement), {
    withinMs: VISIBLE_WITHIN_MS,
    everyMs: 50,
    what,
  });
}

/** The action buttons the page shows now, in order (by tag: a file input has the role "button" too). */
function shownActions(page: Page): Promise<string[]> {
  return page
    .getByRole('region', { name: 'Actions', exact: true })
    .locator('button:visible')
    .filter({ hasNotText: 'Upload corrections' })
    .allInnerTexts();
}

/**
 * The operator's controls on two batches made elsewhere, each waiting for approval, by mouse or
 * keyboard: the first is rejected (a first try backed out of, then confirmed with a reason), the second
 * approved, paused, resumed, paused by another process and resumed, and cancelled (a first try backed
 * out of, then confirmed), running after each approval and resume (the sample app has no worker: the
 * admin API runs it). After each action: the page's outcome message, status badge and buttons, the
 * stored batch, and the list in another tab, all without a reload.
 */
export async function controlsFlow(
  page: Page,
  operator: Operator,
  setting: ControlsFlowSetting,
): Promise<ControlsOutcome> {
  const { appUrl, elsewhere, sql, watcher } = setting;
  const errors = pageErrors(page);
  const toReject = await elsewhere.createCustomers(ROWS, { requireApproval: true });
  const toRun = await elsewhere.createCustomers(RUNNING_ROWS, { requireApproval: true });

  await watcher.goto(`${appUrl}/admin/`);
  const listed = (batchId: string) =>
    watcher
      .getByRole('table', { name: 'Batches', exact: true })
      .getByRole('row')
      .filter({ has: watcher.getByRole('link', { name: batchId.slice(0, 8), exact: true }) });
  const listShows = (batchId: string, status: string) =>
    listed(batchId).getByText(status, { exact: true }).waitFor({ timeout: VISIBLE_WITHIN_MS });
  await listShows(toReject.id, 'awaiting approval');
  await listShows(toRun.id, 'awaiting approval');

  await page.goto(`${appUrl}/admin/#/batches/${toReject.id}`);
  const heading = page.getByRole('heading', { level: 1, name: `Batch ${toReject.id.slice(0, 8)}` });
  await heading.waitFor({ timeout: VISIBLE_WITHIN_MS });
  const marker = await markDocument(page);
  await waitForBadge(page, 'awaiting approval');
  expect(await shownActions(page)).toEqual(['Cancel', 'Approve', 'Reject']);

  const action = (name: string) => page.getByRole('button', { name, exact: true });
  // Each step: the action, its outcome on the page, in the database and in the other tab. After Approve
  // and Resume the batch runs (the admin API starts its run): `pending` may show a moment first.
  const step = async (batchId: string, name: string, outcome: string, status: string) => {
    await operator.press(action(name));
    await waitForStatus(page, new RegExp(`^${outcome}$`));
    await waitForBadge(page, status.replace(/_/g, ' '));
    await waitForStored(sql, batchId, (batch) => batch.status === status, `the batch, ${status}`);
    await listShows(batchId, status.replace(/_/g, ' '));
  };
  // A paused batch, once the rows its run held are finished: the rows completed, which must grow once
  // it is resumed.
  const settled = async (batchId: string) =>
    (
      await waitForStored(
        sql,
        batchId,
        (batch) => batch.status === 'paused' && batch.in_flight === 0,
        'the paused batch, with no row in flight',
      )
    ).completed;

  // Reject: asked first; backed out of, nothing changes and the focus is back on the button.
  const reject = page.getByRole('dialog', { name: 'Reject this batch?', exact: true });
  const reason = reject.getByLabel('Reason (optional)', { exact: true });
  await operator.press(action('Reject'));
  await reject.waitFor({ timeout: VISIBLE_WITHIN_MS });
  await waitForFocus(reason, 'the focus in the reason of "Reject this batch?"');
  await operator.fill(reason, 'typed, then thought better of');
  await operator.dismiss(reject);
  await reject.waitFor({ state: 'hidden', timeout: VISIBLE_WITHIN_MS });
  await waitForFocus(action('Reject'), 'the focus back on "Reject" after backing out');
  expect(await stored(sql, toReject.id)).toMatchObject({
    status: 'awaiting_approval',
    error_message: null,
    cancelled: 0,
    done: 0,
  });
  await waitForBadge(page, 'awaiting approval');

  // Then confirmed, with the reason: a dialog opened again starts empty.
  await operator.press(action('Reject'));
  await waitForFocus(reason, 'the focus in the reason of "Reject this batch?", again');
  expect(await reason.inputValue()).toBe('');
  await operator.fill(reason, setting.rejectReason);
  await operator.press(reject.getByRole('button', { name: 'Reject batch', exact: true }));
  await waitForStatus(page, /^Rejected$/);
  await waitForBadge(page, 'rejected');
  await waitForText(page, setting.rejectReason);
  expect(await stored(sql, toReject.id)).toMatchObject({
    status: 'rejected',
    error_message: setting.rejectReason,
    cancelled: ROWS,
    done: 0,
  });
  await listShows(toReject.id, 'rejected');
  expect(await shownActions(page)).not.toEqual(expect.arrayContaining(['Approve']));
  // Its button gone, the focus is on the heading rather than lost.
  await waitForFocus(heading, 'the focus on the heading once "Reject" is gone');

  // The other batch, reached as an operator would: the list, then its link.
  await operator.press(page.getByRole('link', { name: 'All imports', exact: true }));
  await operator.press(
    page
      .getByRole('table', { name: 'Batches', exact: true })
      .getByRole('link', { name: toRun.id.slice(0, 8), exact: true }),
  );
  await page
    .getByRole('heading', { level: 1, name: `Batch ${toRun.id.slice(0, 8)}` })
    .waitFor({ timeout: VISIBLE_WITHIN_MS });
  await waitForBadge(page, 'awaiting approval');

  // The sample app runs no worker: the approval starts the batch's run, whose rows the page counts.
  await step(toRun.id, 'Approve', 'Approved', 'processing');
  await waitForRowsPast(page, 0);
  expect(await shownActions(page)).toEqual(['Pause', 'Cancel']);
  await step(toRun.id, 'Pause', 'Paused', 'paused');
  expect(await shownActions(page)).toEqual(['Resume', 'Cancel']);
  let completed = await settled(toRun.id);
  await step(toRun.id, 'Resume', 'Resumed', 'processing');
  await waitForRowsPast(page, completed);
  expect(await shownActions(page)).toEqual(['Pause', 'Cancel']);
  // Paused by another process: the page follows by itself (its stream), reason and Resume included.
  await elsewhere.batches.pauseBatch(toRun.id, { reason: 'Held by the nightly job' });
  await waitForBadge(page, 'paused');
  await waitForText(page, 'Held by the nightly job');
  await action('Resume').waitFor({ timeout: VISIBLE_WITHIN_MS });
  completed = await settled(toRun.id);
  await step(toRun.id, 'Resume', 'Resumed', 'processing');
  await waitForRowsPast(page, completed);
  expect(await stored(sql, toRun.id)).toMatchObject({ error_message: null });

  const cancel = page.getByRole('dialog', { name: 'Cancel this batch?', exact: true });
  await operator.press(action('Cancel'));
  await waitForFocus(
    cancel.getByLabel('Reason (optional)', { exact: true }),
    'the focus in the reason of "Cancel this batch?"',
  );
  await operator.dismiss(cancel);
  await cancel.waitFor({ state: 'hidden', timeout: VISIBLE_WITHIN_MS });
  await waitForFocus(action('Cancel'), 'the focus back on "Cancel" after backing out');
  expect(await stored(sql, toRun.id)).toMatchObject({ status: 'processing', cancelled: 0 });

  await operator.press(action('Cancel'));
  if (setting.cancelReason) {
    await operator.fill(
      cancel.getByLabel('Reason (optional)', { exact: true }),
      setting.cancelReason,
    );
  }
  await operator.press(cancel.getByRole('button', { name: 'Cancel batch', exact: true }));
  await waitForStatus(page, /^Cancelled$/);
  await waitForBadge(page, 'cancelled');
  const cancelled = setting.cancelReason
    ? `cancelled: ${setting.cancelReason}`
    : 'cancelled by an operator';
  await waitForText(page, cancelled);
  expect(await stored(sql, toRun.id)).toMatchObject({
    status: 'cancelled',
    error_message: cancelled,
  });
  // The rows its run held finish; the others are cancelled, none lost.
  const ended = await waitForStored(
    sql,
    toRun.id,
    (batch) => batch.done + batch.cancelled === RUNNING_ROWS,
    'every row done or cancelled',
  );
  expect(ended.done).toBeGreaterThan(0);
  expect(ended.cancelled).toBeGreaterThan(0);
  await listShows(toRun.id, 'cancelled');
  expect(await shownActions(page)).not.toEqual(expect.arrayContaining(['Pause', 'Cancel']));

  const state = await documentState(page, marker);
  return {
    sameDocument: state.sameDocument,
    violations: state.violations,
    mouseEvents: state.mouseEvents,
    errors,
  };
}
