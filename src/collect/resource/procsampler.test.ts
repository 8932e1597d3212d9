import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Clock } from '../clock.js';
import { defaultPolicy, type Target } from '../policy.js';
import { bootOffsetNs, ProcSampler } from './procsampler.js';
import { parseTaskStat } from './procfs.js';
import { ZERO, type Counters, type ExitCapture, type Sample } from './sample.js';
import { pickSource } from './source.js';
import { ResourceTracker, type View } from './tracker.js';

const PAGE = 4096, HZ = 100, TICK = 1e7;
const roots: string[] = [];
afterEach(() => { for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true }); });

interface Task {
  comm?: string; state?: string; flags?: number; minflt?: number; majflt?: number; utime?: number; stime?: number;
  start?: number; oncpu?: number; vcsw?: number; ivcsw?: number; rchar?: number; wchar?: number; write_bytes?: number; rssAnonKb?: number;
}

const statLine = (pid: number, t: Task, threads = 1) =>
  `${pid} (${t.comm ?? 'app'}) ${t.state ?? 'S'} 1 ${pid} ${pid} 0 -1 ${t.flags ?? 0x400000} ${t.minflt ?? 0} 0 ${t.majflt ?? 0} 0 ` +
  `${t.utime ?? 0} ${t.stime ?? 0} 0 0 20 0 ${threads} 0 ${t.start ?? 0} 1000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
const ioText = (t: Task) => `rchar: ${t.rchar ?? 0}\nwchar: ${t.wchar ?? 0}\nsyscr: 1\nsyscw: 2\nread_bytes: 0\n` +
  `write_bytes: ${t.write_bytes ?? 0}\ncancelled_write_bytes: 0\n`;
const statusText = (tgid: number, t: Task) => `Name:\t${t.comm ?? 'app'}\nState:\t${t.state ?? 'S'} (as in stat)\nTgid:\t${tgid}\n` +
  (t.rssAnonKb !== undefined ? `VmHWM:\t    ${t.rssAnonKb + 8} kB\nVmRSS:\t    ${t.rssAnonKb + 4} kB\nRssAnon:\t    ${t.rssAnonKb} kB\n` +
    `RssFile:\t       4 kB\nRssShmem:\t       0 kB\nVmSize:\t   10240 kB\nVmSwap:\t       0 kB\n` : '') +
  `voluntary_ctxt_switches:\t${t.vcsw ?? 0}\nnonvoluntary_ctxt_switches:\t${t.ivcsw ?? 0}\n`;

/** A /proc of its own: process tgid with its threads, and the whole process's stat and io as given. */
function fakeProc(root: string, tgid: number, whole: Task, threads: Record<number, Task>): void {
  rmSync(join(root, String(tgid)), { recursive: true, force: true });
  const dir = join(root, String(tgid));
  mkdirSync(join(dir, 'task'), { recursive: true });
  writeFileSync(join(dir, 'stat'), statLine(tgid, whole, Object.keys(threads).length));
  writeFileSync(join(dir, 'io'), ioText(whole));
  for (const [tid, t] of Object.entries(threads)) {
    const td = join(dir, 'task', tid);
    mkdirSync(td);
    writeFileSync(join(td, 'stat'), statLine(Number(tid), t));
    writeFileSync(join(td, 'status'), statusText(tgid, t));
    writeFileSync(join(td, 'schedstat'), `${t.oncpu ?? 0} 0 1\n`);
    writeFileSync(join(td, 'io'), ioText(t));
  }
}

function procRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'procimage-proc-'));
  roots.push(root);
  mkdirSync(join(root, 'self'));
  writeFileSync(join(root, 'self', 'schedstat'), '0 0 0\n');
  return root;
}

const clock = new Clock(0n); // relative ns = absolute ns
const sampler = (root: string, target: Target, view: View) => new ProcSampler({
  policy: defaultPolicy(target, ['resource']), view, clock, pageSize: PAGE, ticksPerSecond: HZ, selfTgid: 1, root, bootOffsetNs: 0,
});
/** What the tracker adds up for a process: its group sample's counters plus its threads'. */
function processTotal(samples: Sample[], tgid: number): Counters {
  const out = { ...ZERO };
  for (const s of samples.filter(x => x.tgid === tgid)) for (const k of Object.keys(out) as Array<keyof Counters>) out[k] += s.c[k];
  return out;
}

describe('/proc files', () => {
  it('reads a stat line whose comm holds spaces and parentheses', () => {
    const s = parseTaskStat(statLine(7, { comm: 'a) (b', state: 'Z', minflt: 5, majflt: 2, utime: 30, stime: 4, start: 123 }));
    expect(s).toMatchObject({ comm: 'a) (b', state: 'Z', minflt: 5, majflt: 2, utime: 30, stime: 4, startTicks: 123, threads: 1 });
  });
});

describe('ProcSampler', () => {
  it('gives each thread its own files\' counters and the process the kernel\'s sums, as the iterator would', () => {
    const root = procRoot();
    // thread 11 ended before the first read: its 300 ms and 40 faults are only in the process's files
    fakeProc(root, 10, { utime: 95, stime: 10, minflt: 100, majflt: 3, rchar: 9000, wchar: 5000, write_bytes: 4096, start: 500 }, {
      10: { comm: 'main', oncpu: 500_000_000, utime: 45, stime: 5, minflt: 40, vcsw: 7, ivcsw: 3, rchar: 1000, wchar: 700, start: 500, rssAnonKb: 1024 },
      12: { comm: 'worker', oncpu: 250_000_000, utime: 25, stime: 0, minflt: 20, vcsw: 1, ivcsw: 9, rchar: 2000, wchar: 300, start: 510, rssAnonKb: 1024 },
    });
    const p = sampler(root, { kind: 'tgid', tgid: 10 }, 'both');
    const { samples } = p.read(() => []);
    expect(samples.map(s => [s.kind, s.pid])).toEqual([['thread', 10], ['thread', 12], ['group', 10]]);
    expect(samples[1]).toMatchObject({ comm: 'worker', start: 510 * TICK, flags: 0,
      c: { oncpu_ns: 250_000_000, utime_ns: 25 * TICK, stime_ns: 0, min_flt: 20, nvcsw: 1, nivcsw: 9, rchar: 2000, wchar: 300 } });
    const g = samples[2];
    expect(g).toMatchObject({ comm: 'app', start: 500 * TICK, mem: { anon_pages: 256, file_pages: 1, shmem_pages: 0, vm_pages: 2560, hiwater_rss_pages: 258 } });
    // faults and I/O: the process's own files; on-CPU ns: the threads' schedstat plus what stat's
    // ticks (1.05 s) leave for the dead thread; switches of threads dead before the first read: unknown
    expect(processTotal(samples, 10)).toMatchObject({ oncpu_ns: 1.05e9, utime_ns: 95 * TICK, stime_ns: 10 * TICK, min_flt: 100,
      maj_flt: 3, rchar: 9000, wchar: 5000, write_bytes: 4096, nvcsw: 8, nivcsw: 12 });
  });

  it('keeps what a thread that left had at its exit, and reports its capture under the start it listed it with', () => {
    const root = procRoot();
    const main: Task = { oncpu: 100_000_000, utime: 10, vcsw: 1, start: 500, rssAnonKb: 64 };
    fakeProc(root, 10, { utime: 30, start: 500 }, { 10: main, 12: { oncpu: 200_000_000, utime: 20, vcsw: 5, ivcsw: 2, start: 510 } });
    const p = sampler(root, { kind: 'tgid', tgid: 10 }, 'both');
    const t = new ResourceTracker(PAGE, 'both', 0, p.startResolutionNs);
    t.baseline(p.read(() => []).samples);
    // thread 12 ran 50 ms more, switched 3 more times, and exited: the kernel's capture has its exact
    // start (monotonic ns, somewhere in the tick /proc gave) and its last figures
    const capture: ExitCapture = { thread: { kind: 'thread', pid: 12, tgid: 10, flags: 4, ts: clock.now(), start: 510 * TICK + 4_321_000, comm: 'app',
      c: { ...ZERO, oncpu_ns: 250_000_000, utime_ns: 25 * TICK, nvcsw: 8, nivcsw: 2 } } };
    fakeProc(root, 10, { utime: 36, start: 500 }, { 10: { ...main, oncpu: 110_000_000, utime: 11 } });
    const { samples, exits } = p.read(() => [capture]);
    expect(exits[0].thread.start).toBe(510 * TICK);
    expect(processTotal(samples, 10)).toMatchObject({ oncpu_ns: 360_000_000, nvcsw: 9, nivcsw: 2 });
    const recs = t.update(samples, exits, clock.now());
    expect(recs.filter(r => r.pid === 12)).toEqual([expect.objectContaining({ scope: 'thread', exited: true, cpu_ns: 50_000_000 })]);
    expect(recs.find(r => r.scope === 'process')).toMatchObject({ cpu_ns: 60_000_000, total_cpu_ns: 360_000_000, voluntary_switches: 3 });
    // the next read does not count it again
    expect(processTotal(p.read(() => []).samples, 10).oncpu_ns).toBe(360_000_000);
  });

  it('marks kernel threads and zombies, and a process every thread of which has exited', () => {
    const root = procRoot();
    fakeProc(root, 2, { comm: 'kthreadd', flags: 0x208040, start: 1 }, { 2: { comm: 'kthreadd', flags: 0x208040, start: 1 } });
    fakeProc(root, 30, { state: 'Z', start: 900 }, { 30: { state: 'Z', start: 900 } });
    for (const view of ['both', 'processes'] as const) {
      const { samples } = sampler(root, { kind: 'all' }, view).read(() => []);
      const k = samples.filter(s => s.tgid === 2), z = samples.filter(s => s.tgid === 30);
      // a kernel thread, no memory (every-process mode reads less of a thread: its flags are its process's)
      expect(k.map(s => s.flags), view).toEqual(view === 'both' ? [2, 2] : [0, 2]);
      expect(k[1].mem).toBeUndefined();
      expect(z.map(s => s.flags), view).toEqual([4, 4]);
      expect(processTotal(samples, 30).oncpu_ns).toBe(0);
    }
  });

  it('-p: the one thread, with its process\'s memory; -c: the idle task /proc does not list', () => {
    const root = procRoot();
    fakeProc(root, 10, { start: 500 }, { 10: { start: 500, rssAnonKb: 64 }, 12: { oncpu: 7, start: 510, rssAnonKb: 64 } });
    mkdirSync(join(root, '12')); // /proc/TID exists for a thread (unlisted); its status names its process
    writeFileSync(join(root, '12', 'status'), statusText(10, {}));
    const { samples } = sampler(root, { kind: 'pid', pid: 12 }, 'threads').read(() => []);
    expect(samples.map(s => [s.kind, s.pid, s.c.oncpu_ns])).toEqual([['thread', 12, 7], ['group', 10, 0]]);
    expect(samples[1].mem?.anon_pages).toBe(16);
    const idle = sampler(root, { kind: 'cpu', cpu: 1 }, 'threads').read(() => []).samples;
    expect(idle).toEqual([expect.objectContaining({ pid: 0, tgid: 0, comm: 'swapper/1', c: ZERO })]);
  });

  it('every process but procimage\'s own; -P: only the followed ones', () => {
    const root = procRoot();
    for (const pid of [1, 40, 41]) fakeProc(root, pid, { start: pid }, { [pid]: { start: pid } });
    const tgids = (s: Sample[]) => [...new Set(s.map(x => x.tgid))].sort((a, b) => a - b);
    expect(tgids(sampler(root, { kind: 'all' }, 'processes').read(() => []).samples)).toEqual([40, 41]);
    const followed = new ProcSampler({ policy: defaultPolicy({ kind: 'tgid', tgid: 40 }, ['resource']), view: 'both', clock, pageSize: PAGE,
      ticksPerSecond: HZ, selfTgid: 1, root, bootOffsetNs: 0, follows: () => tgid => tgid === 40 || tgid === 41 });
    expect(tgids(followed.read(() => []).samples)).toEqual([40, 41]);
  });
});

describe('boot offset', () => {
  it('is 0 until the machine has suspended, /proc/uptime\'s 10 ms truncation aside', () => {
    expect(bootOffsetNs(() => '100.00 50.00\n', () => 100_009_000_000)).toBe(0);
    expect(bootOffsetNs(() => '160.00 50.00\n', () => 100_004_000_000)).toBe(59_996_000_000 + 5e6);
  });
});

describe('the source', () => {
  it('is the iterator where the kernel has it, /proc where it has not or when asked', () => {
    expect(pickSource('auto', () => true)).toEqual({ source: 'iter' });
    expect(pickSource('auto', f => f !== 'iter_task')).toEqual({ source: 'proc', why: 'this kernel has no iter_task' });
    expect(pickSource('auto', () => false).why).toBe('this kernel has no iter_task and no bpf_loop');
    expect(pickSource('proc', () => true).source).toBe('proc');
    expect(pickSource('iter', () => false).source).toBe('iter'); // the caller refuses it, naming the feature
  });
});
