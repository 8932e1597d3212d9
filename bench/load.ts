// Load: procimage following every thread of a machine under `stress-ng --fork 2 --switch 2 --cpu 2`
// with every category active, its --listen scraped each second by a real Prometheus. Prints the RSS
// of the attach every few seconds (the curve), the records collected and lost (its own count at
// ctl -d), the scrapes Prometheus made and how many failed, the entries of the kernel's per-thread
// maps before, at the end of the load and once its threads have ended, and the programs still
// attached once the attach is back in its ready state (0 expected).
//   LOAD_SECONDS=60 npx tsx bench/run.ts load     (default 600: ten minutes)
//   LOAD_STACK=none ...                            (ctl -a --stack MODE; default: procimage's own, dwarf)
//   LOAD_LISTEN=0 ...                              (no --listen, no Prometheus: the collector alone)
//   LOAD_THREADS=20000 ...                         (instead of stress-ng: workloads/manythreads, that
//                                                   many threads alive at once, each waking every second)
//   LOAD_ATTACH_ARGS='--metrics-top 100000 --metrics-max-series 10000000' ...   (more attach flags: that
//                                                  one serves every target's own series, as before the fold)
// Not part of `make bench` nor CI: it holds both cores for its whole duration.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Prometheus, freePort, scrapeJob } from '../test/prometheus.js';
import { attachedOf, mapEntries, rssKiB } from '../test/loadcheck.js';
import { CLI, fmt, median, run, sleep, stop, table, waitFor, workload } from './lib.js';

/** Resident KiB by kind of mapping, as bench/memory.sh counts them: anonymous memory is V8's heap
 * (and glibc's large allocations), [heap] glibc's main arena (libdw, kallsyms, koffi), the ring the
 * BPF ring buffer mapped whole. Says which side grows when the RSS does. */
function rssParts(pid: number): { anon: number; heap: number; ring: number; other: number } {
  const parts = { anon: 0, heap: 0, ring: 0, other: 0 };
  let kind: keyof typeof parts = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) kind = m[1] === '' ? 'anon' : m[1] === '[heap]' ? 'heap' : /bpf-map/.test(m[1]) ? 'ring' : 'other';
    else if (line.startsWith('Rss:')) parts[kind] += Number(line.split(/\s+/)[1]);
  }
  return parts;
}
/** One GET of /metrics: how long it took, its size and series; or why it failed (30 s at most). */
async function timedScrape(url: string): Promise<string> {
  const t0 = performance.now();
  try {
    const body = await (await fetch(url, { signal: AbortSignal.timeout(30_000) })).text();
    const series = body.split('\n').filter(l => l && l[0] !== '#').length;
    return `${fmt(performance.now() - t0, 0)} ms, ${fmt(body.length / 1e6, 2)} MB, ${series} series`;
  } catch (e) {
    return `failed after ${fmt(performance.now() - t0, 0)} ms (${(e as Error).message})`;
  }
}

export async function loadBench(): Promise<string> {
  const seconds = Number(process.env.LOAD_SECONDS ?? 600);
  const pinDir = `/sys/fs/bpf/procimage-load-${process.pid}`;
  const port = await freePort();
  // every record as text to /dev/null: written synchronously, as to a file (a pipe would be the reader's speed)
  const devnull = openSync('/dev/null', 'w');
  const listen = process.env.LOAD_LISTEN !== '0';
  const extraArgs = (process.env.LOAD_ATTACH_ARGS ?? '').split(/\s+/).filter(Boolean);
  const attach = spawn(CLI, ['attach', '-a', ...(listen ? ['--listen', `127.0.0.1:${port}`] : []), ...extraArgs, '--pin-dir', pinDir],
    { stdio: ['ignore', devnull, 'pipe'] });
  closeSync(devnull);
  let err = '';
  attach.stderr!.setEncoding('utf8').on('data', d => { err += d; });
  await waitFor(() => err.includes('ready:') || attach.exitCode !== null, 'attach ready', 60_000);
  if (attach.exitCode !== null) throw new Error(`attach failed: ${err}`);
  const prom = listen ? await Prometheus.start(scrapeJob('procimage', [`127.0.0.1:${port}`])) : undefined;
  const lines: string[] = [];
  try {
    const before = mapEntries(pinDir);
    const rssReady = rssKiB(attach.pid!);
    const stack = process.env.LOAD_STACK;
    run(CLI, ['ctl', '-a', ...(stack ? ['--stack', stack] : []), '--pin-dir', pinDir]); // every thread, every category loaded
    const t0 = Date.now();
    const threads = Number(process.env.LOAD_THREADS ?? 0);
    const stress = threads
      ? spawn(workload('manythreads'), [String(threads), String(seconds)], { stdio: 'ignore', detached: true })
      : spawn('stress-ng', ['--fork', '2', '--switch', '2', '--cpu', '2', '-t', String(seconds), '--quiet'],
        { stdio: 'ignore', detached: true });
    const loadName = threads ? `workloads/manythreads ${threads} (${threads} threads alive at once, each waking every second)`
      : 'stress-ng --fork 2 --switch 2 --cpu 2';
    const curve: Array<[number, number]> = [];
    const partsCurve: Array<[number, ReturnType<typeof rssParts>]> = [];
    const every = Math.max(5, Math.round(seconds / 60)) * 1000;
    while (Date.now() - t0 < seconds * 1000) {
      await sleep(Math.min(every, seconds * 1000 - (Date.now() - t0)));
      curve.push([(Date.now() - t0) / 1000, rssKiB(attach.pid!)]);
      partsCurve.push([(Date.now() - t0) / 1000, rssParts(attach.pid!)]);
      if (process.env.LOAD_PROGRESS) process.stderr.write(`${fmt(curve.at(-1)![0], 0)} s: ${fmt(curve.at(-1)![1] / 1024)} MiB ${JSON.stringify(partsCurve.at(-1)![1])}\n`);
    }
    // one scrape of our own at the end of the load: its time and size (Prometheus gives up after 1 s)
    const own = listen ? await timedScrape(`http://127.0.0.1:${port}/metrics`) : undefined;
    const atEnd = mapEntries(pinDir);
    await stop(stress);
    await sleep(3000); // its threads have exited; their exits are drained
    const afterExit = mapEntries(pinDir);
    const none = Promise.resolve([] as Array<{ value: [number, string] }>);
    const scrapes = await (prom?.query(`count_over_time(up{job="procimage"}[${seconds}s])`) ?? none);
    const scrapesUp = await (prom?.query(`sum_over_time(up{job="procimage"}[${seconds}s])`) ?? none);
    const scrapeMax = await (prom?.query(`max_over_time(scrape_duration_seconds{job="procimage"}[${seconds}s])`) ?? none);
    const scrapeMedian = await (prom?.query(`quantile_over_time(0.5, scrape_duration_seconds{job="procimage"}[${seconds}s])`) ?? none);
    const seriesMax = await (prom?.query(`max_over_time(scrape_samples_scraped{job="procimage"}[${seconds}s])`) ?? none);
    // the attach's own account of its scrapes (those Prometheus got), by phase: median and longest
    const phases: string[] = [];
    for (const phase of prom ? ['read', 'fold', 'render'] : []) {
      const sel = `procimage_metrics_scrape_seconds{job="procimage",phase="${phase}"}[${seconds}s]`;
      const [med, max] = await Promise.all([prom!.query(`quantile_over_time(0.5, ${sel})`), prom!.query(`max_over_time(${sel})`)]);
      if (med.length) phases.push(`${phase} ${fmt(Number(med[0].value[1]) * 1000, 1)} ms (longest ${fmt(Number(max[0]?.value[1] ?? NaN) * 1000, 1)})`);
    }
    const promLine = () => `- Prometheus: ${scrapes[0]?.value[1] ?? 0} scrapes, ${scrapesUp[0]?.value[1] ?? 0} up; scrape median ` +
      `${fmt(Number(scrapeMedian[0]?.value[1] ?? NaN) * 1000, 1)} ms, longest ${fmt(Number(scrapeMax[0]?.value[1] ?? NaN) * 1000, 1)} ms; ` +
      `most series in a scrape ${seriesMax[0]?.value[1] ?? '-'}` +
      (own ? `; our own scrape at the end of the load: ${own}` : '') +
      (phases.length ? `; the attach's phases of a scrape, median: ${phases.join(', ')}` : '');
    // ctl -d in the background: the attach's RSS is sampled while it deactivates
    const tOff = Date.now();
    const ctl = spawn(CLI, ['ctl', '-d', '--json', '--pin-dir', pinDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let ctlOut = '', ctlErr = '';
    ctl.stdout!.setEncoding('utf8').on('data', d => { ctlOut += d; });
    ctl.stderr!.setEncoding('utf8').on('data', d => { ctlErr += d; });
    const ctlDone = new Promise<number | null>(r => ctl.once('close', r));
    let ctlCode: number | null | undefined;
    void ctlDone.then(c => { ctlCode = c; });
    while (ctlCode === undefined) {
      await sleep(Math.min(every, 5000));
      if (ctlCode === undefined) curve.push([(Date.now() - t0) / 1000, rssKiB(attach.pid!)]);
    }
    const offSeconds = (Date.now() - tOff) / 1000;
    if (ctlCode !== 0) {
      lines.push(`### load${extraArgs.length ? ` (${extraArgs.join(' ')})` : ''}: ctl -d did not end the activation (${fmt(offSeconds, 1)} s): ${ctlErr.trim()}`, '');
      lines.push(table(['t (s)', 'RSS (MiB)'], [[0, fmt(rssReady / 1024)], ...curve.map(([t, k]) => [fmt(t, 0), fmt(k / 1024)])]), '');
      lines.push(table(['hash map', 'ready', 'end of load', 'threads ended (+3 s)'],
        Object.keys({ ...before, ...atEnd }).map(m => [m, before[m] ?? '-', atEnd[m] ?? '-', afterExit[m] ?? '-'])));
      lines.push('', promLine());
      attach.kill('SIGKILL');
      await new Promise(r => attach.once('close', r));
      return lines.join('\n') + '\n';
    }
    const off = JSON.parse(ctlOut) as { duration_ns: number; records: Record<string, number>; lost: Record<string, number> };
    const afterReady = mapEntries(pinDir);
    const attachedReady = attachedOf(pinDir);
    const rssAfter = rssKiB(attach.pid!);

    const warm = curve.filter(([t]) => t >= Math.min(30, seconds / 4)).map(([, k]) => k);
    const records = Object.values(off.records).reduce((a, b) => a + b, 0);
    const lost = Object.entries(off.lost).filter(([, n]) => n > 0);
    lines.push(`### load: every thread, every category${stack ? `, --stack ${stack}` : ''}${extraArgs.length ? `, ${extraArgs.join(' ')}` : ''}, ${loadName} for ${seconds} s, ` +
      `${listen ? 'scraped each second' : 'no --listen'}`, '');
    const mib = (k: number) => fmt(k / 1024);
    lines.push(table(['t (s)', 'RSS (MiB)', 'anonymous (V8)', '[heap] (C)', 'ring', 'other'], [[0, mib(rssReady), '', '', '', ''],
      ...curve.map(([t, k], i) => {
        const p = partsCurve[i]?.[1];
        return [fmt(t, 0), mib(k), p ? mib(p.anon) : '', p ? mib(p.heap) : '', p ? mib(p.ring) : '', p ? mib(p.other) : ''];
      })]));
    lines.push('');
    lines.push(`- RSS: ready ${fmt(rssReady / 1024)} MiB; after warm-up median ${fmt(median(warm) / 1024)} MiB, ` +
      `min ${fmt(Math.min(...warm) / 1024)}, max ${fmt(Math.max(...warm) / 1024)}; ready again ${fmt(rssAfter / 1024)} MiB`);
    lines.push(`- records: ${records} in ${fmt(off.duration_ns / 1e9, 1)} s (${fmt(records / (off.duration_ns / 1e9), 0)}/s); ` +
      `lost: ${lost.length ? lost.map(([r, n]) => `${n} ${r}`).join(', ') : 'none'}`);
    lines.push(promLine());
    const maps = Object.keys({ ...before, ...atEnd });
    lines.push('', table(['hash map', 'ready', 'end of load', 'threads ended (+3 s)', 'ready again'],
      maps.map(m => [m, before[m] ?? '-', atEnd[m] ?? '-', afterExit[m] ?? '-', afterReady[m] ?? '-'])));
    lines.push('', `- ctl -d took ${fmt(offSeconds, 1)} s; ready again: ${attachedReady} of its programs attached`);
  } finally {
    await prom?.stop();
    if (attach.exitCode === null && attach.signalCode === null) {
      try { run(CLI, ['ctl', '-f', '--pin-dir', pinDir]); } catch { attach.kill('SIGKILL'); }
    }
    await new Promise(r => (attach.exitCode !== null || attach.signalCode !== null ? r(undefined) : attach.once('close', r)));
    rmSync(pinDir, { recursive: true, force: true }); // what a SIGKILLed attach leaves
  }
  return lines.join('\n') + '\n';
}
