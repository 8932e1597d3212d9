// The page's screenshots in docs/ (make screenshots): a real run of the demo workload, every category,
// recorded, served by report --listen, and photographed by the same headless chromium the tests use.
//   tsx tools/screenshots.ts OUTDIR
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, launch } from '../test/browser.js';

const root = join(import.meta.dirname, '..');
const out = process.argv[2] ?? join(root, 'docs', 'screenshots');
const cli = join(root, 'bin', 'procimage');
mkdirSync(out, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'procimage-shots-'));
const rec = join(dir, 'demo.rec');
execFileSync(cli, ['trace', '--record', rec, '-a', '-k', '1', '-s', '8', '--interval', '0.1', '--', join(root, 'build/workloads/demo')],
  { stdio: ['ignore', 'ignore', 'inherit'] });
const port = await freePort();
const server = spawn(cli, ['report', rec, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
let err = '';
server.stderr.on('data', d => { err += d; });
const browser = await launch();
try {
  for (let i = 0; i < 100 && !err.includes('serving the page'); i++) await new Promise(r => setTimeout(r, 100));
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(out, 'overview.png') });
  // the demo process selected, an interval of its main thread hovered, then clicked
  await page.locator('nav.tree .row', { hasText: 'demo' }).first().click();
  await page.waitForTimeout(500);
  const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
  let longest: { x: number; ms: number } | undefined;
  for (let x = box.x + 175; x < box.x + box.width; x += 5) {
    await page.mouse.move(x, box.y + 36);
    const text = (await page.locator('.timeline .tip').isVisible()) ? (await page.locator('.timeline .tip').textContent()) ?? '' : '';
    const m = /^sleeping \(S\) for ([\d.]+) (ms|s)/.exec(text);
    const ms = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : 0;
    if (ms > (longest?.ms ?? 0)) longest = { x, ms };
  }
  if (longest) {
    await page.mouse.move(longest.x, box.y + 36);
    await page.mouse.click(longest.x, box.y + 36);
    await page.waitForTimeout(400);
    await page.mouse.move(longest.x, box.y + 36);
    await page.waitForTimeout(200);
  }
  await page.screenshot({ path: join(out, 'interval.png') });
  await page.mouse.move(0, 0);
  for (const tab of ['flame', 'resources', 'sched', 'syscalls', 'locks']) {
    await page.locator(`[data-tab=${tab}]`).click();
    await page.waitForTimeout(600);
    await page.locator('section.tabbed').screenshot({ path: join(out, `${tab}.png`) });
  }
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
