import { useAdminBrowser } from './support/use-admin-browser';

/**
 * The admin page of the sample app in Debian's Chromium, on a real PostgreSQL: the sample app runs as
 * `npm run start:sample` runs it, a separate process on this file's database.
 */
describe('admin page in Chromium', () => {
  const browser = useAdminBrowser();

  it('reaches the sample app admin API through its loopback-only guard', async () => {
    const page = await browser.newPage();
    try {
      const response = await page.goto(`${browser.appUrl}/admin/batches?limit=1`);
      expect(response?.status()).toBe(200);
      expect(JSON.parse(await page.innerText('body'))).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
