/// <reference lib="dom" />
import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { VISIBLE_WITHIN_MS } from './admin-page';

/**
 * How the operator works the page: with the mouse (Playwright's clicks and fills), or with the keyboard
 * only. The flow is written once against this; each way does every step its own way.
 */
export interface Operator {
  readonly name: string;
  /** Picks `value` in a `<select>`. */
  choose(select: Locator, value: string): Promise<void>;
  /** Gives a file input the file at `path`, through the browser's file chooser when by keyboard. */
  chooseFile(input: Locator, path: string): Promise<void>;
  /** Replaces the text of an input with `value`. */
  fill(input: Locator, value: string): Promise<void>;
  /** Presses a button (or follows a link that stays on the page). */
  press(control: Locator): Promise<void>;
  /** Follows a download link; resolves with the downloaded file's text. */
  download(link: Locator): Promise<string>;
  /** Closes a dialog without its action: its "Go back" button with the mouse, Escape by keyboard. */
  dismiss(dialog: Locator): Promise<void>;
}

async function downloaded(page: Page, start: () => Promise<void>): Promise<string> {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: VISIBLE_WITHIN_MS }),
    start(),
  ]);
  const failure = await download.failure();
  if (failure) throw new Error(`The download of ${download.url()} failed: ${failure}`);
  return readFileSync(await download.path(), 'utf8');
}

/** The mouse: Playwright's actionable clicks and fills. */
export function mouseOperator(page: Page): Operator {
  return {
    name: 'mouse',
    choose: async (select, value) => void (await select.selectOption(value)),
    chooseFile: (input, path) => input.setInputFiles(path),
    fill: (input, value) => input.fill(value),
    press: (control) => control.click(),
    download: (link) => downloaded(page, () => link.click()),
    dismiss: (dialog) => dialog.getByRole('button', { name: 'Go back', exact: true }).click(),
  };
}

/** The focused element, described for a failure message. */
function describeFocus(page: Page): Promise<string> {
  return page.evaluate(() => {
    const active = document.activeElement;
    if (!active || active === document.body) return 'the page itself';
    const label =
      active.getAttribute('aria-label') ??
      (active as HTMLInputElement).labels?.[0]?.textContent ??
      active.textContent;
    return `<${active.tagName.toLowerCase()}> "${(label ?? '').trim().slice(0, 60)}"`;
  });
}

/** Bound of Tab presses to reach a control: a batch page holds about 200 focusable controls. */
const MAX_TAB_PRESSES = 400;

/**
 * The keyboard only: each control is reached by pressing Tab (Shift+Tab when `backwards`) until it has the
 * focus, bounded, then worked with keys (Space, Enter, arrows, typing). It must show a visible focus
 * indicator when it gets there. No mouse event, no `element.click()`.
 */
export function keyboardOperator(page: Page): Operator & {
  tabTo(control: Locator, options?: { backwards?: boolean }): Promise<void>;
} {
  // Playwright intercepts the file chooser only once a listener is on, and turning that on takes a round
  // trip to the browser: a key pressed before it opens a dialog no one can see. So it is on from the start.
  page.on('filechooser', () => undefined);
  const focused = (control: Locator) =>
    control.evaluate((element) => element === document.activeElement);

  const tabTo = async (control: Locator, { backwards = false } = {}) => {
    await control.waitFor({ state: 'visible', timeout: VISIBLE_WITHIN_MS });
    for (let presses = 0; !(await focused(control)); presses++) {
      if (presses === MAX_TAB_PRESSES) {
        throw new Error(
          `${String(control)} was not reached by ${MAX_TAB_PRESSES} presses of ${backwards ? 'Shift+Tab' : 'Tab'}; the focus is on ${await describeFocus(page)}`,
        );
      }
      await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
    }
    const indicated = await control.evaluate((element) => {
      const style = getComputedStyle(element);
      const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
      return outline || style.boxShadow !== 'none';
    });
    if (!indicated) throw new Error(`${String(control)} has the focus but shows no focus outline`);
  };

  // Shift+Tab first when the control is before the focus in the document: fewer presses.
  const reach = async (control: Locator) => {
    await control.waitFor({ state: 'visible', timeout: VISIBLE_WITHIN_MS });
    const before = await control.evaluate((element) => {
      const active = document.activeElement;
      if (!active || active === document.body) return false;
      return Boolean(element.compareDocumentPosition(active) & Node.DOCUMENT_POSITION_FOLLOWING);
    });
    await tabTo(control, { backwards: before });
  };

  return {
    name: 'keyboard',
    tabTo,
    choose: async (select, value) => {
      // The options may come from the server after the page is shown.
      await select
        .locator('option')
        .filter({ hasText: value })
        .first()
        .waitFor({ state: 'attached', timeout: VISIBLE_WITHIN_MS });
      await reach(select);
      const options = await select.evaluate((element) =>
        Array.from((element as HTMLSelectElement).options, (option) => option.value),
      );
      const current = await select.evaluate((element) => (element as HTMLSelectElement).value);
      const steps = options.indexOf(value) - options.indexOf(current);
      if (options.indexOf(value) < 0) throw new Error(`No option "${value}" in ${String(select)}`);
      for (let step = 0; step < Math.abs(steps); step++) {
        await page.keyboard.press(steps > 0 ? 'ArrowDown' : 'ArrowUp');
      }
      const chosen = await select.evaluate((element) => (element as HTMLSelectElement).value);
      if (chosen !== value) throw new Error(`The arrows chose "${chosen}", not "${value}"`);
    },
    chooseFile: async (input, path) => {
      await reach(input);
      const [chooser] = await Promise.all([
        page.waitForEvent('filechooser', { timeout: VISIBLE_WITHIN_MS }),
        page.keyboard.press('Space'),
      ]);
      await chooser.setFiles(path);
    },
    fill: async (input, value) => {
      await reach(input);
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.press('Delete');
      await page.keyboard.type(value);
    },
    // Buttons by Space and links by Enter, so that both keys are used.
    press: async (control) => {
      await reach(control);
      const button = await control.evaluate((element) => element.tagName === 'BUTTON');
      await page.keyboard.press(button ? 'Space' : 'Enter');
    },
    download: async (link) => {
      await reach(link);
      return downloaded(page, () => page.keyboard.press('Enter'));
    },
    dismiss: async (dialog) => {
      await dialog.waitFor({ state: 'visible', timeout: VISIBLE_WITHIN_MS });
      await page.keyboard.press('Escape');
    },
  };
}
