import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium, which CI installs (`.ci/run`) when it is missing. */
export const CHROMIUM = '/usr/bin/chromium';

/** Chromium with as little of its own life as possible: no GPU, no updates, no network of its own. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless Chromium on a fresh profile; `close()` ends it and removes the profile. */
export interface LaunchedChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** The message of a missing Chromium: a failure that says the fix, never a skip. */
export function chromiumMissingMessage(executablePath: string): string {
  return (
    `Chromium is not installed at ${executablePath}, and the browser tests of the admin page need it. ` +
    'Install it with `apt-get install -y chromium` (Debian; `bash .ci/run` does so when it is missing).'
  );
}

/**
 * Starts Chromium headless on a profile directory of its own (one per test file, so no state leaks from
 * one file or run to the next), at a fixed window size, locale and time zone, so that the README's screenshots are comparable.
 */
export async function launchChromium(executablePath = CHROMIUM): Promise<LaunchedChromium> {
  if (!existsSync(executablePath)) throw new Error(chromiumMissingMessage(executablePath));
  const profile = mkdtempSync(join(tmpdir(), 'reliable-imports-chromium-'));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ARGS,
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
      locale: 'en-US',
      timezoneId: 'UTC',
      acceptDownloads: true,
      timeout: 60_000,
    });
  } catch (error) {
    removeProfile();
    throw error;
  }
  // Actions wait for their element as long as the tests wait for anything the page shows.
  context.setDefaultTimeout(90_000);
  return {
    context,
    close: async () => {
      try {
        await context.close();
      } finally {
        removeProfile();
      }
    },
  };
}
