/// <reference lib="dom" />
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

const ROOT = join(__dirname, '..', '..', '..');

/** The sample app's 500-row file (28 rows invalid) and the right values of those rows, by line. */
export const CUSTOMERS_CSV = join(ROOT, 'sample-app', 'data', 'customers.csv');
const CORRECTIONS_JSON = join(ROOT, 'sample-app', 'data', 'corrections.json');

/**
 * Where the tests write their screenshots: the README's pictures with `UPDATE_SCREENSHOTS=1`, else a
 * directory of the system's (ids and times differ each run: a plain `npm test` leaves the clone clean).
 */
export const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs', 'admin-ui')
    : join(tmpdir(), 'reliable-imports-admin-screenshots');

/** A wait on something the page shows: generous, since the machine is shared and SSE ticks each second. */
export const VISIBLE_WITHIN_MS = 90_000;

/** The fixed values of each failed row of customers.csv, keyed by its source line. */
export type Corrections = Record<string, Record<string, string>>;

export function readCorrections(): Corrections {
  return JSON.parse(readFileSync(CORRECTIONS_JSON, 'utf8')) as Corrections;
}

/**
 * What an operator does in a spreadsheet with the failures file (as sample-app/demo.ts does): the right
 * values in each row, found by its `_line`.
 */
export function fixFailuresFile(
  exported: string,
  corrections: Corrections,
): { csv: string; count: number } {
  const records: string[][] = parse(exported);
  const [header, ...rows] = records;
  let count = 0;
  for (const cells of rows) {
    const fix = corrections[cells[header.indexOf('_line')]];
    if (!fix) continue;
    for (const [column, value] of Object.entries(fix)) cells[header.indexOf(column)] = value;
    count++;
  }
  return { csv: stringify([header, ...rows]), count };
}

/** The batch id of the batch page the tab shows (`#/batches/<id>`), once it shows one. */
export async function batchIdOnPage(page: Page): Promise<string> {
  await page.waitForFunction(() => /^#\/batches\/[0-9a-f-]{36}$/.test(location.hash), undefined, {
    timeout: VISIBLE_WITHIN_MS,
  });
  return page.evaluate(() => location.hash.slice('#/batches/'.length));
}

/** The batch page's counts: each `<dt>` of its `<dl>` with the text of the `<dd>` after it. */
export function readCounts(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const counts: Record<string, string> = {};
    for (const term of document.querySelectorAll('dl dt')) {
      let value = term.nextElementSibling;
      while (value && value.tagName !== 'DD') value = value.nextElementSibling;
      counts[term.textContent?.trim() ?? ''] = value?.textContent?.trim() ?? '';
    }
    return counts;
  });
}

/** Waits until the batch page's counts read `expected` (a subset: term → text), as the stream updates them. */
export async function waitForCounts(page: Page, expected: Record<string, string>): Promise<void> {
  try {
    await page.waitForFunction(
      (wanted) => {
        const shown: Record<string, string> = {};
        for (const term of document.querySelectorAll('dl dt')) {
          let value = term.nextElementSibling;
          while (value && value.tagName !== 'DD') value = value.nextElementSibling;
          shown[term.textContent?.trim() ?? ''] = value?.textContent?.trim() ?? '';
        }
        return Object.entries(wanted).every(([term, text]) => shown[term] === text);
      },
      expected,
      { timeout: VISIBLE_WITHIN_MS, polling: 100 },
    );
  } catch (error) {
    throw new Error(
      `The batch page never showed ${JSON.stringify(expected)}; it shows ${JSON.stringify(await readCounts(page))}: ${(error as Error).message}`,
    );
  }
}

/** Waits until the page's text (not its inputs' values) contains `text`. */
export async function waitForText(page: Page, text: string): Promise<void> {
  try {
    await page.waitForFunction((wanted) => document.body.innerText.includes(wanted), text, {
      timeout: VISIBLE_WITHIN_MS,
      polling: 100,
    });
  } catch (error) {
    const shown = await page.evaluate(() => document.body.innerText.slice(0, 2000));
    throw new Error(
      `The page never showed "${text}": ${(error as Error).message}. It shows:\n${shown}`,
    );
  }
}

/** Waits for an outcome message (`role="status"`) with exactly `text`, or one matching it. */
export async function waitForStatus(page: Page, text: string | RegExp): Promise<string> {
  const status = page.getByRole('status').filter({ hasText: text });
  try {
    await status.first().waitFor({ timeout: VISIBLE_WITHIN_MS });
  } catch (error) {
    const alerts = await page.getByRole('alert').allInnerTexts();
    const statuses = await page.getByRole('status').allInnerTexts();
    throw new Error(
      `No status "${String(text)}" (statuses: ${JSON.stringify(statuses)}, alerts: ${JSON.stringify(alerts)}): ${(error as Error).message}`,
    );
  }
  return (await status.first().innerText()).trim();
}

interface Watched {
  __reliableImportsMarker?: string;
  __pageErrors?: string[];
  __mouseEvents?: number;
}

/**
 * Marks the document (a reload or a navigation to another document loses the mark), and from then on
 * counts the CSP violations (an injected inline handler that CSP blocked is still an injection) and the
 * trusted mouse presses (none in a keyboard-only flow). Uncaught page errors are collected by `pageErrors`.
 */
export async function markDocument(page: Page): Promise<string> {
  const marker = `${Date.now()}-${Math.random()}`;
  await page.evaluate((mark) => {
    const watched = window as Window & Watched;
    watched.__reliableImportsMarker = mark;
    watched.__pageErrors = [];
    watched.__mouseEvents = 0;
    document.addEventListener('securitypolicyviolation', (event) =>
      watched.__pageErrors!.push(`CSP violation: ${event.violatedDirective} ${event.sample}`),
    );
    for (const type of ['mousedown', 'mouseup', 'pointerdown'])
      document.addEventListener(
        type,
        (event) => {
          if (event.isTrusted) watched.__mouseEvents!++;
        },
        true,
      );
  }, marker);
  return marker;
}

/** What the marked document saw since `markDocument`, and whether it is still the same document. */
export function documentState(
  page: Page,
  marker: string,
): Promise<{ sameDocument: boolean; violations: string[]; mouseEvents: number }> {
  return page.evaluate((mark) => {
    const watched = window as Window & Watched;
    return {
      sameDocument: watched.__reliableImportsMarker === mark,
      violations: watched.__pageErrors ?? [],
      mouseEvents: watched.__mouseEvents ?? 0,
    };
  }, marker);
}

/** Collects the tab's uncaught errors, which no step of a test may cause. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}
