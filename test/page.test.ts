// The web page in a real browser (Debian's chromium, headless): live from trace --listen, from a
// recording (report --listen), and as one self-contained file opened offline (report --html). What a
// person sees is what is checked: the tooltips over the timeline, the stacks a click shows, the
// process tree, the panels' tables; and that target-controlled strings stay text.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launch, open } from './browser.js';
import { Attach, CLI, cli, tempDir, waitFor, workload } from './helpers.js';

let browser: Browser;
const dir = tempDir();
const procs: ChildProcess[] = [];
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });
afterEach(() => { for (const p of procs.splice(0)) p.kill('SIGKILL'); });

/** Starts procimage with these arguments in the background, serving on a free port; resolves once the page is up. */
async function serve(args: (port: number) => string[]): Promise<{ url: string; proc: ChildProcess; err: () => string }> {
  const port = await freePort();
  const proc = spawn(CLI, args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(proc);
  let err = '';
  proc.stderr!.on('data', d => { err += d; });
  await waitFor(() => err.includes('serving the page') || proc.exitCode !== null, 'the page to be served', 20_000);
  if (proc.exitCode !== null) throw new Error(`procimage exited: ${err}`);
  return { url: `http://127.0.0.1:${port}/`, proc, err: () => err };
}

/**
 * A tooltip of a nanosleep of at least ms milliseconds ("sleeping (S) for 1.004 s ..."): a sleep lasts
 * what was asked and more, by as much as the machine's load delays the wake-up, in ms or s.
 */
function sleptAtLeast(text: string, ms: number): boolean {
  const m = /^sleeping \(S\) for (\d+(?:\.\d+)?) (ms|s)/.exec(text); // the tooltip runs on with no space
  return !!m && Number(m[1]) * (m[2] === 's' ? 1000 : 1) >= ms && /do_nanosleep/.test(text);
}

/** Records a run (trace --record), for report --listen and --html. */
async function record(name: string, args: string[]): Promise<string> {
  const rec = join(dir, `${name}.rec`);
  const r = await cli(['trace', '--record', rec, ...args], { timeoutMs: 60_000 });
  expect(r.stderr).toMatch(/recorded \d+ records/);
  return rec;
}

/**
 * The timeline's segments as its tooltips describe them, along the lane of `label` (a thread's row):
 * the pointer goes across the row every few pixels, and each distinct tooltip is one segment.
 */
async function hoverLane(page: Page, label: RegExp): Promise<Array<{ x: number; text: string }>> {
  const canvas = page.getByTestId('timeline-canvas');
  const box = (await canvas.boundingBox())!;
  const seen = new Map<string, number>();
  for (let row = 0; row < 12; row++) {
    const y = box.y + 26 + row * 20 + 10;
    if (y > box.y + box.height) break;
    const hits: Array<{ x: number; text: string }> = [];
    for (let x = box.x + 172; x < box.x + box.width - 2; x += 6) {
      await page.mouse.move(x, y);
      const tip = page.locator('.timeline .tip');
      if (!(await tip.isVisible())) continue;
      hits.push({ x, text: (await tip.textContent()) ?? '' });
    }
    if (!hits.some(h => label.test(h.text))) continue;
    for (const h of hits) if (!seen.has(h.text)) seen.set(h.text, h.x);
    break;
  }
  return [...seen].map(([text, x]) => ({ text, x }));
}

describe('the page', () => {
  it('live, from trace --listen: the five 1 s sleeps on the thread that slept, the stacks of one down to main, the flame graph\'s widest stack', async () => {
    // runsleep 5 1000 sleeps 1 s five times; the shell's sleep after it keeps the run (and the page) up for a while
    const s = await serve(port => ['trace', '--listen', `127.0.0.1:${port}`, '-k', '1', '--', 'sh', '-c', `${workload('runsleep')} 5 1000; sleep 8`]);
    const { page, problems } = await open(browser, s.url);
    // the process tree: select runsleep, once it has exec'd and its fifth sleep is over
    await waitFor(async () => (await page.locator('nav.tree .row', { hasText: 'runsleep' }).count()) > 0, 'runsleep in the tree', 20_000);
    await waitFor(async () => /exit 0/.test((await page.locator('nav.tree .row', { hasText: 'runsleep' }).textContent()) ?? ''),
      'runsleep to end', 30_000);
    await page.locator('nav.tree .row', { hasText: 'runsleep' }).click();
    // a window that stays put (the whole run of a live one grows with it): zoomed out a step with the keyboard
    await page.getByRole('button', { name: 'whole run' }).click();
    await page.getByTestId('timeline').press('s');
    await page.waitForTimeout(800);
    const segs = await hoverLane(page, /runsleep \d+/);
    const sleeps = segs.filter(h => sleptAtLeast(h.text, 1000));
    expect(sleeps.map(h => h.text.slice(0, 40)), segs.map(h => h.text).join('\n')).toHaveLength(5);
    for (const h of sleeps) expect(h.text).toMatch(/runsleep \d+.*waited in do_nanosleep/);
    // a click: its stacks, the user one down to main
    const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
    await page.mouse.click(sleeps[2].x, box.y + 26 + 10);
    await expect.poll(() => page.getByTestId('ustack').textContent()).toMatch(/^.*b\+0x[0-9a-f]+ \(runsleep\).*main\+0x/s);
    expect(await page.getByTestId('kstack').textContent()).toMatch(/do_nanosleep/);
    expect(await page.getByTestId('interval-kind').textContent()).toBe('S sleeping');
    // the flame graph of runsleep: its heaviest stack is that one
    const first = page.getByTestId('heaviest').locator('li').first();
    // most of its off-CPU time (how much of the rest its start-up takes depends on the machine)
    await expect.poll(() => first.textContent()).toMatch(/^[\d.]+ s \([5-9]\d\.\d%\) runsleep → _start → .*main → a → b → .*do_nanosleep \[k\]/);
    expect(await page.getByTestId('run-state').textContent()).toBe('live');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the process tree of the fork workload: its three children, with exit codes 10, 11 and 12', async () => {
    const rec = await record('forkexit', ['-k', '0', '--', workload('forkexit')]);
    const s = await serve(port => ['report', rec, '--listen', `127.0.0.1:${port}`]);
    const { page, problems } = await open(browser, s.url);
    const parent = page.locator('nav.tree > .proc').filter({ has: page.locator(':scope > .row', { hasText: 'forkexit' }) });
    const children = parent.locator(':scope > .proc.child');
    await expect.poll(() => children.count()).toBe(3);
    const endings = await children.locator(':scope > .row [data-testid=ending]').allTextContents();
    expect(endings.sort()).toEqual(['exit 10', 'exit 11', 'exit 12']);
    expect(await parent.locator(':scope > .row [data-testid=ending]').textContent()).toBe('exit 0');
    expect(await page.getByTestId('run-state').textContent()).toBe('recording');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the resource, scheduling, syscall and lock panels show what workloads made for them did', async () => {
    const res = await record('resources', ['-r', '-S', '--interval', '0.25', '--', workload('resource_work'), 'alloc', '64', 'cpu', '300', 'sleep', '600']);
    let s = await serve(port => ['report', res, '--listen', `127.0.0.1:${port}`]);
    let { page, problems } = await open(browser, s.url);
    await page.locator('[data-tab=resources]').click();
    await expect.poll(() => page.getByTestId('resources-of').textContent()).toMatch(/^resource_work \(\d+\)$/);
    const data = await page.evaluate(async () => {
      const r = await (await fetch('api/resources')).json() as { keys: string[] };
      return (await fetch(`api/resources?key=${r.keys.find(k => k.startsWith('p'))}`)).json() as Promise<{ series: { rss_anon: number[]; cpu_user: number[] } }>;
    });
    expect(Math.max(...data.series.rss_anon)).toBeGreaterThanOrEqual(64 << 20);
    expect(Math.max(...data.series.cpu_user)).toBeGreaterThan(0);
    for (const chart of ['CPU % (of one CPU)', 'Memory (RSS)', 'System CPU % (of one CPU)']) {
      expect(await page.locator(`[data-chart="${chart}"] canvas`).count(), chart).toBeGreaterThan(0);
    }
    await page.locator('[data-tab=sched]').click();
    await expect.poll(() => page.getByTestId('sched-targets').textContent()).toMatch(/^targets [1-9][\d.k]* delays · avg/);
    expect(await page.getByTestId('sched-hist').locator('tbody tr').count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    await page.close();
    s.proc.kill();

    const sys = await record('syscalls', ['-s', '5', '--', workload('syscall_pattern'), '37']);
    s = await serve(port => ['report', sys, '--listen', `127.0.0.1:${port}`]);
    ({ page, problems } = await open(browser, s.url));
    await page.locator('[data-tab=syscalls]').click();
    const row = (name: string) => page.getByTestId('syscall-table').locator(`tr[data-syscall=${name}] td`);
    await expect.poll(() => row('getppid').nth(1).textContent()).toBe('37');
    expect(await row('chdir').nth(2).textContent()).toBe('37 (ENOENT ×37)');
    await row('getppid').first().click();
    await expect.poll(() => page.locator('table.hist.small tbody tr').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('syscall-sequences').textContent()).toMatch(/syscall_pattern \d+/);
    expect(problems).toEqual([]);
    await page.close();
    s.proc.kill();

    const locks = await record('locks', ['-l', '--', workload('locks'), 'mutex', '2', '200', '200']);
    s = await serve(port => ['report', locks, '--listen', `127.0.0.1:${port}`]);
    ({ page, problems } = await open(browser, s.url));
    await page.locator('[data-tab=locks]').click();
    // the workload's one mutex, taken 200 times by each of its two threads (glibc's own may be there too)
    const mutexRows = page.getByTestId('lock-table').locator('tbody tr', { hasText: 'pthread mutex' });
    await expect.poll(() => mutexRows.count()).toBeGreaterThanOrEqual(2);
    const rows = await mutexRows.evaluateAll(trs => trs.map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)));
    const workloads = rows.filter(r => r[3] === '200');
    expect(workloads).toHaveLength(2);
    expect(new Set(workloads.map(r => r[1])).size).toBe(1); // one lock
    expect(new Set(workloads.map(r => r[2])).size).toBe(2); // two threads
    await mutexRows.first().click();
    await expect.poll(() => page.getByTestId('lock-stack').textContent()).toMatch(/pthread_mutex_lock|main/);
    await page.locator('[data-tab=flame]').click();
    await page.getByLabel('what to weigh').selectOption('lock');
    // the mutex's waits, as the futex its waiters slept on (same address) or as the mutex, by stack
    await expect.poll(() => page.getByTestId('heaviest').locator('li').first().textContent()).toMatch(/locks · (mutex|futex) 0x/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('report --html: one file that opens offline, asks nothing of the network, and shows the same', async () => {
    const rec = await record('html', ['-k', '1', '--', workload('runsleep'), '3', '300']);
    const html = join(dir, 'page.html');
    const r = await cli(['report', rec, '--html', html]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*page\.html: the page of .*self-contained/);
    const { page, problems } = await open(browser, `file://${html}`, { offline: true });
    await expect.poll(() => page.locator('nav.tree .row', { hasText: 'runsleep' }).count()).toBe(1);
    await page.locator('nav.tree .row', { hasText: 'runsleep' }).click();
    const segs = await hoverLane(page, /runsleep \d+/);
    const sleeps = segs.filter(h => sleptAtLeast(h.text, 300));
    expect(sleeps, segs.map(h => h.text).join('\n')).toHaveLength(3);
    const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
    await page.mouse.click(sleeps[0].x, box.y + 26 + 10);
    await expect.poll(() => page.getByTestId('ustack').textContent()).toMatch(/main\+0x/);
    await expect.poll(() => page.getByTestId('heaviest').locator('li').first().textContent()).toMatch(/main → a → b → .*do_nanosleep \[k\]/);
    expect(await page.getByTestId('run-state').textContent()).toBe('recording');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('draws the wake-ups between traced threads as arrows, on demand: each from the waker\'s row to the run it ended', async () => {
    // a ping-pong over pipes, every interval one by one: each read woken by the other side's write
    const rec = await record('wakes', ['-k', '1', '--offcpu-min', '0', '--', workload('wakechain'), 'pingpong', '20']);
    const html = join(dir, 'wakes.html');
    expect((await cli(['report', rec, '--html', html])).code).toBe(0);
    const recs = (await cli(['report', rec, '--json'])).stdout.trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>);
    const woken = recs.filter(x => x.type === 'offcpu' && (x.waker as { target?: boolean } | null)?.target && x.comm === 'wakechain');
    expect(woken.length).toBeGreaterThan(10);
    const { page, problems } = await open(browser, `file://${html}`, { offline: true });
    await expect.poll(() => page.locator('nav.tree .row', { hasText: 'wakechain' }).count()).toBeGreaterThan(0);
    const canvas = page.getByTestId('timeline-canvas');
    expect(await canvas.getAttribute('data-wakes')).toBe('0'); // off until asked for
    await page.getByTestId('wakes-toggle').click();
    await expect.poll(() => page.getByTestId('wakes-toggle').getAttribute('aria-pressed')).toBe('true');
    // the whole run: every woken read of either side is an arrow between the two rows
    await expect.poll(async () => Number(await canvas.getAttribute('data-wakes'))).toBe(woken.length);
    await page.getByTestId('wakes-toggle').click();
    await expect.poll(() => canvas.getAttribute('data-wakes')).toBe('0');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows a program\'s name and arguments holding markup, quotes and bytes that are not UTF-8 as text, never as markup', async () => {
    const bin = join(dir, 'evil');
    mkdirSync(bin, { recursive: true });
    const name = '<b>x"\'&amp;<i>';
    copyFileSync('/bin/sleep', join(bin, name));
    chmodSync(join(bin, name), 0o755);
    // bash runs it under a name (argv[0]) with markup and two bytes that are not UTF-8; the program's path is $0
    const script = `exec -a "$(printf '<img src=x onerror=alert(1)>\\377\\376')" "$0" 0.3 "<script>alert(2)</script>" "'\\""`;
    const rec = await record('evil', ['-k', '0', '--', 'bash', '-c', script, join(bin, name)]);
    const s = await serve(port => ['report', rec, '--listen', `127.0.0.1:${port}`]);
    const { page, problems } = await open(browser, s.url);
    // the process by its comm (bash, which exec'd it, has the same text in its own arguments)
    const row = page.locator('nav.tree .proc').filter({ has: page.locator(':scope > .row .comm', { hasText: '<b>x"' }) });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.locator('.comm').first().textContent()).toBe(name.slice(0, 15));
    const argv = await row.locator('.argv').first().textContent();
    expect(argv).toContain('<img src=x onerror=alert(1)>\uFFFD\uFFFD');
    expect(argv).toContain('<script>alert(2)</script>');
    expect(argv).toContain('\'"');
    // nothing of it became an element or ran
    expect(await page.locator('nav.tree img, nav.tree b, nav.tree script').count()).toBe(0);
    expect(await page.evaluate(() => document.scripts.length)).toBe(1);
    // the same in the self-contained file, whose data sits inside a <script> element
    const html = join(dir, 'evil.html');
    expect((await cli(['report', rec, '--html', html])).code).toBe(0);
    const offline = await open(browser, `file://${html}`, { offline: true });
    await expect.poll(() => offline.page.locator('nav.tree .row .comm', { hasText: '<b>x"' }).count()).toBe(1);
    expect(await offline.page.locator('nav.tree img, nav.tree b, nav.tree script').count()).toBe(0);
    expect([...problems, ...offline.problems]).toEqual([]);
    await page.close();
    await offline.page.close();
  });

  it('attach --listen: the page of each activation, the last one\'s between activations', async () => {
    const port = await freePort();
    const a = await Attach.start(['-k', '--listen', `127.0.0.1:${port}`]);
    const target = spawn(workload('runsleep'), ['100', '20'], { stdio: 'ignore' });
    procs.push(target);
    try {
      const meta = async () => { const r = await fetch(`http://127.0.0.1:${port}/api/meta`); return { status: r.status, body: await r.json() as Record<string, unknown> }; };
      expect((await meta()).status).toBe(404); // nothing collected yet
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
      expect((await a.ctl(['-a', '-P', String(target.pid), '-k', '0'])).code).toBe(0);
      const first = (await meta()).body;
      expect(first).toMatchObject({ live: true, ended: false });
      expect((first.header as { policy_text: string }).policy_text).toMatch(new RegExp(`process ${target.pid}`));
      await waitFor(async () => ((await meta()).body.records as Record<string, number>).offcpu > 0, 'off-CPU records on the page');
      expect((await a.ctl(['-d'])).code).toBe(0);
      expect((await meta()).body).toMatchObject({ live: true, ended: true, t0: first.t0 });
      expect((await a.ctl(['-a', '-P', String(target.pid), '-k', '0'])).code).toBe(0);
      const second = (await meta()).body;
      expect(second.ended).toBe(false);
      expect(second.t0).toBeGreaterThan(first.t0 as number);
    } finally {
      await a.cleanup();
    }
  });

  it('answers only its own Host, only GET, with a policy that runs no script but its own', async () => {
    const rec = await record('hosts', ['-k', '0', '--', 'true']);
    const s = await serve(port => ['report', rec, '--listen', `127.0.0.1:${port}`]);
    const ok = await fetch(s.url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    // a name that someone else's DNS points at 127.0.0.1 (fetch may not set Host: a plain request does)
    const rebound = await new Promise<number>((resolve, reject) => {
      request(`${s.url}api/meta`, { headers: { host: 'attacker.example:80' } }, res => { res.resume(); resolve(res.statusCode!); })
        .on('error', reject).end();
    });
    expect(rebound).toBe(403);
    const post = await fetch(`${s.url}api/meta`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(await (await fetch(`${s.url}api/meta`)).json()).toMatchObject({ live: false, ended: true });
    s.proc.kill();
    // every address, on purpose: served, with a warning that anyone who can reach it sees it
    const all = await serve(port => ['report', rec, '--listen', `0.0.0.0:${port}`]);
    expect(all.err()).toMatch(/warning: serving on 0\.0\.0\.0, not loopback: anyone who can reach it sees the page/);
    expect((await fetch(all.url)).status).toBe(200);
  });
});
