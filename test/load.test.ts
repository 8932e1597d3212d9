// Issue 17, load: the one-minute version of bench/load.ts that runs in CI. procimage follows every
// thread of a machine under `stress-ng --fork 2 --switch 2 --cpu 2` with every category active, its
// --listen scraped each second by a real Prometheus. Asserted is what must hold on any machine, however
// slow or loaded: no speed, no duration. The attach lives throughout and answers ctl -d with its
// summary; every record the kernel sent arrived or is counted as lost, by reason; /metrics stays
// within its documented series bound; once ready again nothing of it is attached and its hash maps
// are empty; its memory is bounded; SIGINT then ends it cleanly, pins removed. The figures (RSS,
// records, losses, scrapes) are printed for the reader; bench/load.ts is where they are measured.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LOST_REASONS } from '../src/collect/lost.js';
import { Attach, ROOT, cli, pinnedFiles, testPinDir, waitFor } from './helpers.js';
import { attachedOf, mapEntries, rssKiB } from './loadcheck.js';
import { Prometheus, freePort, scrapeJob } from './prometheus.js';

const LOAD_SECONDS = 45;
/** --metrics-max-series of the attach: the targets' own series, past which they fold into "(other)". */
const MAX_SERIES = 2000;
/**
 * A memory bound, not a speed: the attach's RSS once ready again. What it keeps then is capped by
 * design, not by time: the page keeps the last activation (up to 20,000 processes, 50,000 threads,
 * 200,000 stacks, markers and table rows: src/output/page), /metrics its targets for --metrics-grace
 * (1,000 at most), the model and its caches their caps. Measured (docs/reliability.md): bench/load.ts
 * 152 MiB right after ctl -d after ten minutes of this load without --listen; this test 261-520 MiB
 * in five runs beside another load bench (another attach of every thread and its stress-ng: more
 * threads to see), 1.1 GiB in a sixth. 2 GiB leaves room for that; it is there for a leak that grows
 * with the minute's threads or records unbounded. A slower one is bench/load.ts's to find (its curve).
 */
const RSS_BOUND_KIB = 2 << 20;
/**
 * The attach with its stdout to /dev/null: every record (NDJSON; --json puts the summary on stderr,
 * which is kept) written as to a file, not read here.
 */
const STDOUT_TO_DEVNULL = ['sh', '-c', 'exec "$@" > /dev/null', 'sh'];

/**
 * The series procimage's own metrics may have whatever the targets (docs/metrics.md, "series ≤ S + ..."),
 * without prom-client's defaults (procimage_process_*, procimage_nodejs_*).
 */
function fixedSeries(): number {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const m = /^series ≤ S \+ (\d+) \+ (\d+) \+ (\d+) × (\d+) \+ (\d+) \+ (\d+)$/m.exec(doc);
  expect(m, 'the formula line of docs/metrics.md').not.toBeNull();
  const [perTarget, overflow, perItem, otherSyscalls, otherExits, rest] = m!.slice(1).map(Number);
  return perTarget + overflow + perItem * otherSyscalls + otherExits + rest;
}
/** prom-client's default metrics (the Node process's CPU, memory, heap spaces, GC kinds): ~75 series here. */
const DEFAULTS = /^procimage_(process|nodejs)_/;
const DEFAULTS_BOUND = 150;

/** "fork 12, exit 3" as { fork: 12, exit: 3 }. */
const counts = (list: string | undefined): Record<string, number> =>
  Object.fromEntries((list?.split(', ') ?? []).map(p => { const [t, n] = p.split(' '); return [t, Number(n)]; }));

/** The summary block an attach printed on stderr: records by type, the kernel's account, losses by reason. */
function parseSummary(stderr: string) {
  const block = stderr.slice(stderr.lastIndexOf('── procimage summary'));
  const line = (key: string) => new RegExp(`^${key} +(.*)$`, 'm').exec(block)?.[1];
  const records = line('records');
  expect(records, block).toMatch(/^(none|[a-z_0-9]+ \d+(, [a-z_0-9]+ \d+)*)$/);
  const kernel = /^(\d+) records sent, (\d+) received, (\d+) dropped(?: \((.*)\))?$/.exec(line('kernel') ?? '');
  expect(kernel, block).not.toBeNull();
  // "lost       none", or one line per reason: "lost       N reason: what it means", then indented
  const lines = block.split('\n');
  const first = lines.findIndex(l => l.startsWith('lost '));
  expect(first, block).toBeGreaterThan(0);
  const end = lines.findIndex((l, i) => i > first && !/^ {11}\d/.test(l));
  const lostLines = lines[first] === 'lost       none' ? [] : lines.slice(first, end).map(l => {
    const m = /^(?:lost|    ) {7}(\d+) ([a-z_]+): (.*)$/.exec(l);
    expect(m, l).not.toBeNull();
    return m!;
  });
  return {
    records: counts(records === 'none' ? undefined : records),
    sent: Number(kernel![1]), received: Number(kernel![2]), dropped: Number(kernel![3]),
    droppedByType: counts(kernel![4]),
    lost: Object.fromEntries(lostLines.map(l => [l[2], Number(l[1])])),
    lostText: Object.fromEntries(lostLines.map(l => [l[2], l[3]])),
  };
}

let attach: Attach | undefined;
let prom: Prometheus | undefined;
let stress: ChildProcess | undefined;
let sampler: NodeJS.Timeout | undefined;

/** Whether any process of stress-ng's group (its workers, their forks) is left. */
const groupAlive = (pgid: number) => { try { process.kill(-pgid, 0); return true; } catch { return false; } };

// stress-ng and everything it forked are killed whatever happened, then Prometheus and the attach
afterAll(async () => {
  clearInterval(sampler);
  if (stress?.pid) {
    try { process.kill(-stress.pid, 'SIGKILL'); } catch { /* gone */ }
    await waitFor(() => !groupAlive(stress!.pid!), 'stress-ng and its workers to be gone', 30_000);
  }
  await prom?.stop();
  if (attach) {
    attach.proc.kill('SIGCONT');
    await attach.cleanup();
  }
}, 120_000);

// Long enough for a loaded machine to get through (about 75 s on a quiet one): a guard, not a bound.
it('every thread, every category, under stress-ng, scraped each second: alive, everything counted, bounded, clean after', async () => {
  const port = await freePort();
  const pinDir = testPinDir();
  const a = attach = await Attach.start(['-a', '--json', '--listen', `127.0.0.1:${port}`, '--metrics-max-series', String(MAX_SERIES)], pinDir, STDOUT_TO_DEVNULL);
  const promStart = Date.now();
  prom = await Prometheus.start(scrapeJob('procimage', [`127.0.0.1:${port}`]));
  const alive = () => a.proc.exitCode === null && a.proc.signalCode === null;
  // a first scrape of the ready attach (a few ms) before the load: Prometheus ingests what it serves.
  // Under the load a scrape may take longer than the 1 s interval Prometheus allows it, on a loaded
  // machine every one of them: those are counted, not required
  await prom.until('up{job="procimage"} == 1', undefined, 120_000);

  // its RSS, sampled each second from here to the end (printed: the peak is a figure, not asserted)
  let rssPeak = 0;
  sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssKiB(a.proc.pid!) || 0); }, 1000);

  const act = await a.ctl(['-a']); // every thread, every category
  expect(act.code, act.stderr).toBe(0);
  expect(act.stdout).toMatch(/^activated: every thread: keytime .*lock.*resource.*syscall.*schedule/m);

  stress = spawn('stress-ng', ['--fork', '2', '--switch', '2', '--cpu', '2', '-t', '300', '--quiet'],
    { stdio: 'ignore', detached: true }); // its own process group: killed whole below; -t ends it if this process dies
  const loadEnd = Date.now() + LOAD_SECONDS * 1000;
  while (Date.now() < loadEnd) {
    await new Promise(r => setTimeout(r, 1000));
    expect(alive(), `the attach exited under the load: ${a.stderr}`).toBe(true);
    expect(stress.exitCode, 'stress-ng ended early').toBe(null);
  }

  // the load stopped (all of it: stress-ng, its workers, their forks) before anything else is asked
  process.kill(-stress.pid!, 'SIGKILL');
  await waitFor(() => !groupAlive(stress!.pid!), 'stress-ng and its workers to be gone', 30_000);
  expect(alive(), a.stderr).toBe(true);
  const stopped = Date.now();

  // /metrics scraped here too, past Prometheus's 1 s (which a loaded machine may not meet): the
  // load's processes are still in it (their series stay --metrics-grace seconds), within the bound,
  // and the fold is at work (more targets than shown). The server answers 408 to a request it could
  // not take within 30 s (its event loop busy with what the load left): then it is asked again, a few
  // times; the bound is held to Prometheus's scrapes in any case (below)
  let res: Response | undefined, body = '';
  for (let i = 0; i < 5 && res?.status !== 200; i++) {
    res = await fetch(`http://127.0.0.1:${port}/metrics`);
    body = await res.text();
    expect([200, 408], body.slice(0, 500)).toContain(res.status);
  }
  const series = res!.status === 200 ? body.split('\n').filter(l => l && l[0] !== '#') : [];
  const defaults = series.filter(l => DEFAULTS.test(l)).length;
  const bound = MAX_SERIES + fixedSeries();
  if (res!.status === 200) {
    expect(defaults).toBeLessThanOrEqual(DEFAULTS_BOUND);
    expect(series.length - defaults).toBeLessThanOrEqual(bound);
    expect(Number(/^procimage_metrics_folded_targets_total (\d+)/m.exec(body)?.[1]), 'targets folded into "(other)"').toBeGreaterThan(0);
  }

  // ctl -d: the summary, on the attach's stderr and in ctl's answer. ctl waits 30 s for an answer; a
  // machine this loaded may take longer to hand over what the ring holds: then the summary is waited
  // for on stderr (what must hold is that it comes, not when), and ctl --status says ready again
  const d = await cli(['ctl', '-d', '--json', '--pin-dir', pinDir], { timeoutMs: 120_000 });
  const answered = d.code === 0;
  if (!answered) expect(d.stderr.trim(), 'ctl -d: answered, or one line saying it gave up waiting').toBe(`procimage: the procimage attach of ${pinDir} did not answer within 30 s`);
  for (;;) { // ready again (the summary is printed before that, and before ctl's answer)
    const st = await a.ctl(['--status']);
    if (st.code === 0 && JSON.parse(st.stdout).active === null) break;
    expect(alive(), a.stderr).toBe(true);
    await new Promise(r => setTimeout(r, 1000));
  }
  const readyAfter = (Date.now() - stopped) / 1000;
  expect(a.stderr).toContain('── procimage summary');
  const text = parseSummary(a.stderr);

  // every record the kernel sent arrived; those it could not send (a full ring) are counted, by type
  // and as ring_full; every loss has a known reason, and the summary printed says what it means
  expect(text.received, 'records received = sent').toBe(text.sent);
  expect(Object.values(text.droppedByType).reduce((s, n) => s + n, 0)).toBe(text.dropped);
  expect(text.lost.ring_full ?? 0, 'records the kernel dropped = ring_full').toBe(text.dropped);
  for (const [reason, what] of Object.entries(text.lostText)) {
    expect(Object.keys(LOST_REASONS)).toContain(reason);
    expect(what, reason).toBe(LOST_REASONS[reason]);
  }
  const recordCount = Object.values(text.records).reduce((s, n) => s + n, 0);
  expect(recordCount).toBeGreaterThan(0);
  if (answered) { // ctl's answer and the summary printed agree
    const off = JSON.parse(d.stdout) as { records: Record<string, number>; lost: Record<string, number> };
    const { lost: _lostRecords, ...records } = off.records;
    expect(text.records).toEqual(records);
    expect(text.lost).toEqual(Object.fromEntries(Object.entries(off.lost).filter(([, n]) => n > 0)));
  }

  // ready again: nothing of it attached, its per-thread and per-process state emptied, memory bounded
  expect(pinnedFiles(pinDir, 'progs').length).toBeGreaterThan(0);
  expect(attachedOf(pinDir)).toBe(0);
  const maps = mapEntries(pinDir);
  expect(Object.keys(maps).length).toBeGreaterThan(0);
  expect(Object.entries(maps).filter(([, n]) => n > 0)).toEqual([]);
  const rssReady = rssKiB(a.proc.pid!);
  expect(rssReady).toBeLessThan(RSS_BOUND_KIB);

  // Prometheus: it scraped, and none of the scrapes that succeeded held more series than the bound
  const window = `${Math.ceil((Date.now() - promStart) / 1000) + 5}s`;
  const value = async (q: string) => Number((await prom!.query(q))[0]?.value[1] ?? 0);
  const scrapes = await value(`count_over_time(up{job="procimage"}[${window}])`);
  const up = await value(`sum_over_time(up{job="procimage"}[${window}])`);
  const most = await value(`max_over_time(scrape_samples_scraped{job="procimage"}[${window}])`);
  expect(scrapes).toBeGreaterThan(0);
  expect(up).toBeGreaterThan(0); // the one above at least
  expect(most).toBeLessThanOrEqual(bound + DEFAULTS_BOUND);

  console.log(`load test: ${LOAD_SECONDS} s; RSS peak ${(rssPeak / 1024).toFixed(0)} MiB, ready again ${(rssReady / 1024).toFixed(0)} MiB; ` +
    `ctl -d ${answered ? 'answered' : 'gave up after 30 s, the summary came after'}, ready again ${readyAfter.toFixed(1)} s after the load stopped; records ${recordCount}, lost ${JSON.stringify(text.lost)}; ` +
    `our scrape after the load: ${res!.status === 200 ? `${series.length} series (${defaults} prom-client's; bound ${bound} + those)` : '408 five times'}; ` +
    `Prometheus: ${scrapes} scrapes, ${up} up, most series in one ${most}`);

  // SIGINT: a clean exit, pins removed
  a.proc.kill('SIGINT');
  expect(await a.exited).toEqual({ code: 0, signal: null });
  expect(a.stderr).not.toMatch(/internal error|^\s+at /m);
  expect(existsSync(pinDir)).toBe(false);
}, 600_000);
