import { launchChromium } from './support/chromium';

/** A machine without Chromium fails the browser tests with the fix; it never skips them. */
describe('Chromium for the browser tests', () => {
  it('fails with the install command when Chromium is missing', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      /Chromium is not installed at \/nonexistent\/chromium.*apt-get install -y chromium/,
    );
  });
});
