// A real browser for the page's tests: Debian's chromium, driven by playwright-core (make installs
// both). Headless, as root without its sandbox, without the background connections a closed network
// refuses, and with a fresh profile each time.
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer } from 'node:net';

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A page that records what goes wrong in it: errors, failed requests, and any dialog (none may open). */
export async function open(browser: Browser, url: string, o: { offline?: boolean } = {}): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  page.on('console', m => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', d => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  if (o.offline) {
    // nothing may leave the page: every request other than the file itself is refused (and noted)
    await page.route('**/*', route => {
      if (route.request().url() === url) return route.continue();
      problems.push(`request: ${route.request().url()}`);
      return route.abort();
    });
  }
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
  return { page, problems };
}

/** A TCP port nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}
