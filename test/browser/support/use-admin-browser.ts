import type { BrowserContext, Page } from 'playwright-core';
import { useTestDatabase, type TestDatabaseHandle } from '../../support/use-test-app';
import { launchChromium } from './chromium';
import { startSampleApp, type SampleAppProcess } from './sample-app-process';

/** How long the file's `beforeAll` may take: compiling and starting the app, starting Chromium. */
const SET_UP_WITHIN_MS = 240_000;

/** What the browser tests of a file share: its database, one sample app, one Chromium. */
export interface AdminBrowserHandle {
  readonly database: TestDatabaseHandle;
  /** The sample app's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly appUrl: string;
  readonly app: SampleAppProcess;
  readonly context: BrowserContext;
  /** A new tab, closed with the context; its console errors and page errors are kept for the test. */
  newPage(): Promise<Page>;
}

/**
 * For the file it is called in: a database of its own (copied from the migrated template; the sample app
 * runs its customers migration itself at start), the compiled sample app on it as a separate process,
 * and a headless Chromium. All of it is stopped, and its directories removed, before the database's leak
 * check, also when a test or the set-up itself failed.
 */
export function useAdminBrowser(): AdminBrowserHandle {
  const database = useTestDatabase();
  let app: SampleAppProcess | undefined;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    // Each closer is registered as soon as its thing exists: a set-up that fails halfway leaves nothing.
    const chromium = await launchChromium();
    database.closeBeforeCheck(() => chromium.close());
    context = chromium.context;
    const started = await startSampleApp(database.db.url);
    database.closeBeforeCheck(() => started.stop());
    app = started;
  }, SET_UP_WITHIN_MS);

  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('The browser set-up is not ready (see beforeAll).');
    return value;
  };
  return {
    database,
    get app() {
      return ready(app);
    },
    get appUrl() {
      return ready(app).url;
    },
    get context() {
      return ready(context);
    },
    async newPage() {
      return ready(context).newPage();
    },
  };
}
