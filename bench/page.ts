// The page's limits (issue 15): 100 target threads for an hour of -k 1, served by report --listen and
// looked at in headless chromium: the first paint, a zoom and a click, the tab's memory, procimage's.
// The hour is synthetic — written by procimage's own recording writer, in the records a real run
// makes (on-CPU and off-CPU intervals with their stacks, scheduling delay and resources every
// second) — since a bench cannot wait an hour: 100 threads each running ~2 ms then sleeping ~48 ms.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock } from '../src/collect/clock.js';
import { defaultPolicy } from '../src/collect/policy.js';
import type { OffCpuRecord, OnCpuRecord, ProcRecord, ResourceRecord, SchedRecord } from '../src/collect/records.js';
import type { RecordingHeader } from '../src/output/recording/header.js';
import { RecordingWriter } from '../src/output/recording/writer.js';
import { freePort, launch } from '../test/browser.js';
import { CLI, fmt, median, table } from './lib.js';

const THREADS = 100;
const SECONDS = Number(process.env.PAGE_BENCH_SECONDS ?? 3600);
const TGID = 4000;
const KSTACKS = [
  ['__schedule+0x628', 'schedule+0x23', 'do_nanosleep+0x5e', 'hrtimer_nanosleep+0xb5', 'common_nsleep+0x30', '__x64_sys_clock_nanosleep+0xde', 'do_syscall_64+0x71', 'entry_SYSCALL_64_after_hwframe+0x76'],
  ['__schedule+0x628', 'schedule+0x23', 'futex_wait_queue+0x63', 'futex_wait+0x16b', 'do_futex+0x12b', '__x64_sys_futex+0x78', 'do_syscall_64+0x71', 'entry_SYSCALL_64_after_hwframe+0x76'],
  ['__schedule+0x628', 'schedule+0x23', 'irqentry_exit_to_user_mode+0x11f', 'asm_sysvec_apic_timer_interrupt+0x16'],
];
const USTACKS = [
  ['clock_nanosleep+0x65 (libc.so.6) clock_nanosleep.c:48', '__nanosleep+0x13 (libc.so.6) nanosleep.c:25', 'worker_idle+0x2c (server) server.c:88', 'worker+0x61 (server) server.c:120', 'start_thread+0x2f2 (libc.so.6) pthread_create.c:442', '__clone3+0x2c (libc.so.6) clone3.S:81'],
  ['__futex_abstimed_wait_common+0x9c (libc.so.6) futex-internal.c:57', 'pthread_cond_wait+0x11d (libc.so.6) pthread_cond_wait.c:503', 'queue_pop+0x44 (server) queue.c:31', 'worker+0x4d (server) server.c:117', 'start_thread+0x2f2 (libc.so.6) pthread_create.c:442', '__clone3+0x2c (libc.so.6) clone3.S:81'],
  ['handle+0x91 (server) server.c:64', 'worker+0x55 (server) server.c:118', 'start_thread+0x2f2 (libc.so.6) pthread_create.c:442', '__clone3+0x2c (libc.so.6) clone3.S:81'],
];

/** A deterministic pseudo-random stream, so that every run of the bench reads the same hour. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Writes the synthetic hour (or PAGE_BENCH_SECONDS of it) to file; returns the records written. */
export async function synthesize(file: string): Promise<number> {
  const clock = new Clock(1_000_000_000_000n);
  const header: RecordingHeader = {
    type: 'recording', format: 1, procimage: 'bench', ts_ns: 0, started_at: new Date().toISOString(), host: 'bench', kernel: 'synthetic',
    arch: 'x64', cpus: 2, clock: 'CLOCK_MONOTONIC', realtime_offset_ns: 0n, boottime_offset_ns: 0n,
    policy: { ...defaultPolicy({ kind: 'tgid', tgid: TGID }, ['keytime', 'resource', 'schedule']), keytimeMode: 1 },
    categories: ['keytime', 'resource', 'schedule'], command: ['server'], procimage_pid: 1,
  };
  const w = RecordingWriter.create(file, m => { throw new Error(m); });
  w.begin(header, clock);
  const r = rng(7);
  const next = new Float64Array(THREADS); // each thread's next switch, ns
  const oncpu = new Uint8Array(THREADS);
  const sched = Array.from({ length: THREADS }, () => ({ count: 0, total: 0, hist: new Array<number>(24).fill(0) }));
  let n = 0;
  const emit = (rec: ProcRecord) => { w.write(rec); n++; };
  for (let sec = 0; sec < SECONDS; sec++) {
    const end = (sec + 1) * 1e9;
    for (let t = 0; t < THREADS; t++) {
      const tid = TGID + t, comm = t === 0 ? 'server' : `worker-${t}`;
      while (next[t] < end) {
        const start = next[t];
        if (oncpu[t]) {
          const d = Math.round(1e6 + r() * 2e6);
          emit({ type: 'oncpu', ts_ns: start + d, pid: tid, tgid: TGID, comm, cpu: t & 1, start_ts_ns: start, end_ts_ns: start + d, duration_ns: d,
            began_before_activation: false, ongoing: false, switch_in_inferred: false } as OnCpuRecord);
          next[t] = start + d;
        } else {
          const k = r() < 0.7 ? 0 : r() < 0.8 ? 1 : 2;
          const d = k === 2 ? Math.round(5e4 + r() * 5e5) : Math.round(3e7 + r() * 3.6e7);
          emit({ type: 'offcpu', ts_ns: start + d, pid: tid, tgid: TGID, comm, cpu: t & 1, cpu_in: t & 1, start_ts_ns: start, end_ts_ns: start + d,
            duration_ns: d, state: k === 2 ? 'R' : 'S', state_name: k === 2 ? 'preempted' : 'sleeping', kstack: KSTACKS[k], ustack: USTACKS[k],
            ustack_locs: USTACKS[k].map(() => '0x0'),
            ustack_mode: 'dwarf', ustack_truncated: false, began_before_activation: false, ongoing: false, switch_in_inferred: false } as OffCpuRecord);
          next[t] = start + d;
          const delay = Math.round(2e3 + r() * 1e5);
          const s = sched[t];
          s.count++;
          s.total += delay;
          s.hist[Math.floor(Math.log2(delay))]++;
        }
        oncpu[t] ^= 1;
      }
      if (n % 5000 < 2) { w.flush(); const wait = w.backedUp(); if (wait) await wait; }
    }
    // each second: a poll's aggregates
    for (let t = 0; t < THREADS; t++) {
      const s = sched[t];
      emit({ type: 'sched', ts_ns: end, pid: TGID + t, tgid: TGID, comm: 'worker', scope: 'thread', cpu: null, count: s.count, total_ns: s.total,
        avg_ns: s.total / s.count, min_ns: 2000, max_ns: 102_000, hist_log2_ns: [...s.hist] } as SchedRecord);
    }
    emit({ type: 'resource', ts_ns: end, pid: TGID, tgid: TGID, comm: 'server', scope: 'process', start_ts_ns: 0, exited: false, interval_ns: 1e9,
      threads: THREADS, top: null, cpu_pct: 5 + r() * 3, user_pct: 4, system_pct: 1 + r(), cpu_ns: 5e7, user_ns: 4e7, system_ns: 1e7,
      rss_bytes: 200 << 20, rss_anon_bytes: 150 << 20, rss_file_bytes: 50 << 20, rss_shmem_bytes: 0, swap_bytes: 0, vm_bytes: 1 << 30,
      rss_peak_bytes: 200 << 20, read_bytes: 0, write_bytes: 4096, cancelled_write_bytes: 0, io_read_bytes: 1e5, io_write_bytes: 2e5,
      read_syscalls: 100, write_syscalls: 200, minor_faults: 10, major_faults: 0, voluntary_switches: 2000, involuntary_switches: 30,
      total_cpu_ns: 0, total_user_ns: 0, total_system_ns: 0, total_read_bytes: 0, total_write_bytes: 0, total_cancelled_write_bytes: 0,
      total_io_read_bytes: 0, total_io_write_bytes: 0, total_read_syscalls: 0, total_write_syscalls: 0, total_minor_faults: 0, total_major_faults: 0,
      total_voluntary_switches: 0, total_involuntary_switches: 0 } as ResourceRecord);
    w.flush();
  }
  await w.finish({ policy: header.policy, duration_ns: SECONDS * 1e9, records: {}, lost: {}, processes: [], processes_untracked: 0,
    kernel_records: {}, offcpu_stacks: [], offcpu_stacks_distinct: 0 });
  return n;
}

const rssMb = (pid: number, field = 'VmRSS') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/**
 * The memory of the browser's renderer processes (a page's tab lives in one), MB: their private
 * memory (what is theirs alone: Chrome's task manager's "memory footprint" is close to it) and their
 * PSS (shared pages divided among the processes sharing them).
 */
function renderersMb(): { privateMb: number; pssMb: number; processes: number } {
  let priv = 0, pss = 0, processes = 0;
  for (const p of readdirSync('/proc').filter(x => /^\d+$/.test(x))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (!cmd.includes('chromium') || !cmd.includes('--type=renderer')) continue;
      const r = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      const kb = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(r)?.[1] ?? 0);
      priv += kb('Private_Clean') + kb('Private_Dirty');
      pss += kb('Pss');
      processes++;
    } catch { /* gone */ }
  }
  return { privateMb: priv / 1024, pssMb: pss / 1024, processes };
}

export async function pageBench(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'procimage-bench-page-'));
  // PAGE_BENCH_FILE: a recording synthesize() made before (the hour takes a minute to write)
  const file = process.env.PAGE_BENCH_FILE ?? join(dir, 'hour.rec');
  try {
    const t0 = performance.now();
    const records = process.env.PAGE_BENCH_FILE ? NaN : await synthesize(file);
    const wrote = (performance.now() - t0) / 1000;
    const port = await freePort();
    const loadStart = performance.now();
    const server = spawn(CLI, ['report', file, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    server.stderr.on('data', d => { err += d; });
    while (!err.includes('serving the page')) {
      if (server.exitCode !== null) throw new Error(err);
      await new Promise(r => setTimeout(r, 200));
    }
    const loaded = (performance.now() - loadStart) / 1000;
    const browser = await launch();
    try {
      await new Promise(r => setTimeout(r, 1000));
      const idle = renderersMb(); // the browser's own renderers before the page: not the page's
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      const open = performance.now();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
      await page.waitForFunction(() => document.querySelector('[data-testid=timeline]')?.getAttribute('data-fetch-ms') !== null);
      const firstPaint = performance.now() - open;
      /** ms from an action to the timeline's next drawing with new data (or the details' next content). */
      // (strings, not functions, for page.evaluate: tsx's helpers such as __name do not exist in the page)
      const timed = async (act: () => Promise<void>, done: string): Promise<number> => {
        await page.evaluate(`window.__mark = performance.now(); window.__before = document.querySelector(${JSON.stringify(done)}).getAttribute('data-version')`);
        await act();
        return page.evaluate(`(async () => {
          const el = document.querySelector(${JSON.stringify(done)});
          const deadline = performance.now() + 10000;
          await new Promise(resolve => {
            const check = () => (el.getAttribute('data-version') !== window.__before || performance.now() > deadline ? resolve() : requestAnimationFrame(check));
            check();
          });
          return el.getAttribute('data-version') !== window.__before ? performance.now() - window.__mark : NaN;
        })()`) as Promise<number>;
      };
      const zooms: number[] = [];
      await page.getByTestId('timeline').focus();
      for (let i = 0; i < 12; i++) zooms.push(await timed(() => page.keyboard.press('w'), '[data-testid=timeline]'));
      for (let i = 0; i < 12; i++) zooms.push(await timed(() => page.keyboard.press(i % 2 ? 'a' : 'd'), '[data-testid=timeline]'));
      // a click on an interval of the first row, zoomed to a second at the end of the run (where detail
      // is kept: past the budget, the page keeps the newest intervals)
      const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
      await page.getByRole('button', { name: 'whole run' }).click();
      await page.waitForTimeout(300);
      await page.mouse.move(box.x + box.width - 3, box.y + 36);
      await page.keyboard.down('Control');
      for (let i = 0; i < 9; i++) {
        await page.mouse.wheel(0, -500);
        await page.waitForTimeout(120);
      }
      await page.keyboard.up('Control');
      await page.waitForTimeout(500);
      const clicks: number[] = [];
      for (let i = 0; i < 8; i++) {
        const x = box.x + box.width - 40 - i * ((box.width - 240) / 8);
        clicks.push(await timed(() => page.mouse.click(x, box.y + 36), '[data-testid=details]'));
      }
      const clicked = clicks.filter(c => !Number.isNaN(c));
      await page.getByTestId('timeline').focus();
      const whole = await timed(() => page.keyboard.press('f'), '[data-testid=timeline]');
      const tab = renderersMb();
      const heap = await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0') as number;
      const serverRss = rssMb(server.pid!), serverPeak = rssMb(server.pid!, 'VmHWM');
      const rows: Array<Array<string | number>> = [
        ['first paint (navigation to the timeline drawn)', `${fmt(firstPaint, 0)} ms`, '2000 ms'],
        ['zoom or pan answered (median / max of 24)', `${fmt(median(zooms), 0)} / ${fmt(Math.max(...zooms), 0)} ms`, '100 ms'],
        [`click on an interval answered (median / max of ${clicked.length}; ${8 - clicked.length} fell between intervals)`,
          `${fmt(median(clicked), 0)} / ${fmt(Math.max(...clicked), 0)} ms`, '100 ms'],
        ['back to the whole run', `${fmt(whole, 0)} ms`, '100 ms'],
        ['the tab (renderers\' private memory, minus the idle browser\'s; PSS the same way; JS heap)',
          `${fmt(tab.privateMb - idle.privateMb, 0)} MB; ${fmt(tab.pssMb - idle.pssMb, 0)} MB; ${fmt(heap / 2 ** 20, 0)} MB`, '300 MB'],
      ];
      return `### The page on ${SECONDS === 3600 ? 'an hour' : `${SECONDS} s`} of ${THREADS} threads (-k 1): ${Number.isNaN(records) ? '' : `${fmt(records / 1e6, 1)} million records, `}${fmt(statSync(file).size / 2 ** 20, 0)} MiB recording\n\n` +
        table(['', 'measured', 'limit'], rows) + '\n\n' +
        `procimage report --listen: read the recording in ${fmt(loaded, 0)} s; its RSS then ${fmt(serverRss, 0)} MB (peak ${fmt(serverPeak, 0)} MB). ` +
        `The recording was written in ${fmt(wrote, 0)} s.\n`;
    } finally {
      await browser.close();
      server.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

