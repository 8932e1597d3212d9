import { describe, expect, it } from 'vitest';
import { ZERO, type Counters, type ExitCapture, type Mem, type Sample } from './sample.js';
import { ResourceTracker } from './tracker.js';

const PAGE = 4096;
const mem: Mem = { file_pages: 10, anon_pages: 20, shmem_pages: 1, swap_pages: 0, vm_pages: 500, hiwater_rss_pages: 40 };
const c = (o: Partial<Counters>): Counters => ({ ...ZERO, ...o });
const thread = (pid: number, tgid: number, ts: number, counters: Partial<Counters>, start = 0): Sample =>
  ({ kind: 'thread', pid, tgid, flags: 0, ts, start, comm: `t${pid}`, c: c(counters) });
const group = (tgid: number, ts: number, dead: Partial<Counters>, start = 0): Sample =>
  ({ kind: 'group', pid: tgid, tgid, flags: 1, ts, start, comm: 'proc', c: c(dead), mem });

describe('ResourceTracker', () => {
  it('reports what each thread and process did since the previous sample, in % of one CPU', () => {
    const t = new ResourceTracker(PAGE, 'both', -1);
    t.baseline([thread(10, 10, 1_000, { oncpu_ns: 100, utime_ns: 4, rchar: 5 }), group(10, 1_000, {})]);
    const recs = t.update([thread(10, 10, 1_000_001_000, { oncpu_ns: 500_000_100, utime_ns: 8, rchar: 4101, min_flt: 3 }),
      group(10, 1_000_001_000, {})], [], 2e9);
    expect(recs.map(r => r.scope)).toEqual(['thread', 'process']);
    for (const r of recs) {
      expect(r).toMatchObject({ interval_ns: 1e9, cpu_ns: 5e8, cpu_pct: 50, user_pct: 50, system_pct: 0, io_read_bytes: 4096,
        minor_faults: 3, total_cpu_ns: 500_000_100, total_io_read_bytes: 4101, exited: false, top: null });
      expect(r.rss_bytes).toBe(31 * PAGE);
      expect(r.vm_bytes).toBe(500 * PAGE);
      expect(r.rss_peak_bytes).toBe(40 * PAGE); // the kernel's high-water mark, above the current rss
    }
    expect(recs[1].threads).toBe(1);
  });

  it('counts a process as its dead threads plus its listed ones, so a thread leaving changes nothing', () => {
    const t = new ResourceTracker(PAGE, 'processes', -1);
    t.baseline([thread(10, 10, 0, { oncpu_ns: 100 }), thread(11, 10, 0, { oncpu_ns: 200 }), group(10, 0, { oncpu_ns: 50 })]);
    // thread 11 is gone, without running again: the kernel folded its 200 ns into signal_struct
    const [p] = t.update([thread(10, 10, 1000, { oncpu_ns: 150 }), group(10, 1000, { oncpu_ns: 250 })], [], 1);
    expect(p).toMatchObject({ scope: 'process', cpu_ns: 50, total_cpu_ns: 400, threads: 1 });
  });

  it('counts a task born since the last sample from zero, and only notes one that existed unseen', () => {
    const t = new ResourceTracker(PAGE, 'threads', 100);
    t.baseline([]);
    const recs = t.update([thread(20, 20, 1000, { oncpu_ns: 300 }, 400), thread(21, 21, 1000, { oncpu_ns: 700 }, 50)], [], 900);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ pid: 20, interval_ns: 600, cpu_ns: 300 });
    // the next sample measures both from this one
    expect(t.update([thread(20, 20, 2000, { oncpu_ns: 400 }, 400), thread(21, 21, 2000, { oncpu_ns: 800 }, 50)], [], 1900)
      .map(r => [r.pid, r.cpu_ns])).toEqual([[20, 100], [21, 100]]);
  });

  it('reports a task that exited between samples from its exit capture, once, without memory', () => {
    const t = new ResourceTracker(PAGE, 'both', -1);
    t.baseline([thread(30, 30, 0, { oncpu_ns: 10, wchar: 1 }), group(30, 0, {})]);
    const exit: ExitCapture = {
      thread: { ...thread(30, 30, 500, { oncpu_ns: 60, wchar: 8193 }), flags: 4 },
      group: { ...group(30, 500, { oncpu_ns: 60, wchar: 8193 }), mem: undefined, threads: 1, maxrssPages: 77 },
    };
    // the zombie is still listed (its parent has not reaped it): not reported again
    const recs = t.update([thread(30, 30, 600, { oncpu_ns: 60, wchar: 8193 }), group(30, 600, {})], [exit], 550);
    expect(recs).toHaveLength(2);
    for (const r of recs) expect(r).toMatchObject({ exited: true, interval_ns: 500, cpu_ns: 50, io_write_bytes: 8192, rss_bytes: null });
    expect(recs.find(r => r.scope === 'process')!.rss_peak_bytes).toBe(77 * PAGE);
    expect(t.update([thread(30, 30, 700, { oncpu_ns: 60 }), group(30, 700, {})], [], 650)).toEqual([]);
  });

  it('reports the memory an exit capture carries (the kernel has not released it before the hook since 6.16)', () => {
    const t = new ResourceTracker(PAGE, 'both', -1);
    t.baseline([thread(32, 32, 0, {}), group(32, 0, {})]);
    const exit: ExitCapture = {
      thread: { ...thread(32, 32, 500, {}), flags: 4, mem }, group: { ...group(32, 500, {}), threads: 1, maxrssPages: 35 },
    };
    const recs = t.update([], [exit], 400);
    expect(recs.map(r => [r.scope, r.rss_bytes, r.rss_anon_bytes, r.vm_bytes])).toEqual([
      ['thread', 31 * PAGE, 20 * PAGE, 500 * PAGE], ['process', 31 * PAGE, 20 * PAGE, 500 * PAGE]]);
    expect(recs.find(r => r.scope === 'process')!.rss_peak_bytes).toBe(40 * PAGE); // VmHWM, as while it ran
  });

  it('never reports a peak at exit below one already sampled (the kernel\'s maxrss leaves out per-CPU parts)', () => {
    const t = new ResourceTracker(PAGE, 'processes', -1);
    t.baseline([thread(31, 31, 0, {}), group(31, 0, {})]); // peak 40 pages
    const exit: ExitCapture = {
      thread: thread(31, 31, 500, {}), group: { ...group(31, 500, {}), mem: undefined, threads: 1, maxrssPages: 35 },
    };
    expect(t.update([], [exit], 400)[0].rss_peak_bytes).toBe(40 * PAGE);
  });

  it('reports a task the iterator finds exiting (no capture: the exit hook was off) as exited, once', () => {
    const t = new ResourceTracker(PAGE, 'both', -1);
    t.baseline([thread(50, 50, 0, { oncpu_ns: 10 }), group(50, 0, {})]);
    const zombie = [{ ...thread(50, 50, 100, { oncpu_ns: 40 }), flags: 4 }, { ...group(50, 100, {}), flags: 4, mem: undefined }];
    const recs = t.update(zombie, [], 50);
    expect(recs.map(r => [r.scope, r.exited, r.cpu_ns, r.rss_bytes])).toEqual([['thread', true, 30, null], ['process', true, 30, null]]);
    expect(t.update(zombie, [], 150)).toEqual([]);
  });

  it('keeps each task apart from a later one with the same pid', () => {
    const t = new ResourceTracker(PAGE, 'threads', -1);
    t.baseline([thread(40, 40, 0, { oncpu_ns: 1000 }, 0)]);
    const [r] = t.update([thread(40, 40, 100, { oncpu_ns: 30 }, 50)], [], 10); // a new task 40, born at 50
    expect(r).toMatchObject({ start_ts_ns: 50, cpu_ns: 30, interval_ns: 50 });
  });
});
