// From cumulative counters to per-interval figures. Each sample gives, for every target, counters
// cumulative since the task started; the tracker remembers the previous sample of each thread and
// process and reports the difference, plus what ended since (the exit captures). A process's
// counters are its dead threads' (signal_struct) plus every thread still listed — the sum
// /proc/PID/stat and /proc/PID/io show — so threads coming and going never make it jump.
import type { ResourceRecord } from '../records.js';
import { CpuSplitter, type Split } from './cputime.js';
import { COUNTERS, ZERO, has, type Counters, type ExitCapture, type Mem, type Sample } from './sample.js';

/** Which records a target asks for: -P both, -p/-c the thread, every process the processes. */
export type View = 'processes' | 'threads' | 'both';

/** One thread or process at one instant. */
interface Figures {
  key: string;
  scope: 'thread' | 'process';
  pid: number;
  tgid: number;
  comm: string;
  start: number;
  ts: number;
  c: Counters;
  mem?: Mem;
  peakPages?: number;
  threads: number | null;
  exited: boolean;
}

interface Previous { ts: number; c: Counters; splitter: CpuSplitter; split: Split; peak: number | null }

const threadKey = (s: Sample) => `t${s.pid}:${s.start}`;
const processKey = (s: Sample) => `p${s.tgid}:${s.start}`;

function add(a: Counters, b: Counters): Counters {
  const out = { ...a };
  for (const k of COUNTERS) out[k] += b[k];
  return out;
}

export class ResourceTracker {
  private readonly previous = new Map<string, Previous>();
  /** Reported as exited; the kernel may still list them (a zombie leader awaiting its parent). */
  private readonly finished = new Set<string>();
  /** A task started after this (ns) and not seen before is new: its figures count from zero. */
  private bornAfter: number;

  /**
   * activationNs: when collection started (a task started later is entirely inside it).
   * startSlackNs: how far before its real start a sample's `start` may be (the source's resolution):
   * a task first seen is new if it started after the last sample, give or take that much.
   */
  constructor(private readonly pageSize: number, private readonly view: View, activationNs: number,
    private readonly startSlackNs = 0) {
    this.bornAfter = activationNs;
  }

  /** The first sample: what every later figure is measured from. Reports nothing. */
  baseline(samples: Sample[]): void {
    for (const f of this.figures(samples, [])) this.remember(f, new CpuSplitter(), this.peak(f, this.rss(f), undefined));
  }

  private rss(f: Figures): number | null {
    const m = f.mem;
    return m ? (m.file_pages + m.anon_pages + m.shmem_pages) * this.pageSize : null;
  }

  /**
   * A sample read starting at sampleStart (ns), with the exits captured since the last one: a record
   * for each thread or process that has an interval to report.
   */
  update(samples: Sample[], exits: ExitCapture[], sampleStart: number): ResourceRecord[] {
    const out: ResourceRecord[] = [];
    const listed = new Set<string>();
    for (const f of this.figures(samples, exits)) {
      listed.add(f.key);
      if (this.finished.has(f.key)) continue;
      const r = this.record(f);
      if (r) out.push(r);
      if (f.exited) this.finished.add(f.key);
    }
    for (const k of this.previous.keys()) if (!listed.has(k) || this.finished.has(k)) this.previous.delete(k);
    for (const k of this.finished) if (!listed.has(k)) this.finished.delete(k);
    this.bornAfter = sampleStart;
    return out;
  }

  /** Exits first: a task captured at exit and still listed is reported once, from the capture. */
  private figures(samples: Sample[], exits: ExitCapture[]): Figures[] {
    const figs: Figures[] = [];
    const wantThreads = this.view !== 'processes', wantProcesses = this.view !== 'threads';
    for (const x of exits) {
      // memory at exit where the kernel still had it (6.16+), else none: a thread's is its process's
      if (wantThreads) figs.push(this.thread(x.thread, x.thread.mem, true));
      if (wantProcesses && x.group) {
        const g = x.group;
        figs.push({ key: processKey(g), scope: 'process', pid: g.tgid, tgid: g.tgid, comm: g.comm, start: g.start,
          ts: g.ts, c: g.c, mem: g.mem, peakPages: g.maxrssPages, threads: 0, exited: true });
      }
    }
    const byProcess = new Map<number, { group?: Sample; threads: Sample[] }>();
    for (const s of samples) {
      let p = byProcess.get(s.tgid);
      if (!p) byProcess.set(s.tgid, p = { threads: [] });
      if (s.kind === 'group') p.group = s;
      else p.threads.push(s);
    }
    // a task already exiting (seen by the iterator only, its exit not captured) has its last figures too
    for (const { group, threads } of byProcess.values()) {
      if (wantThreads) for (const t of threads) figs.push(this.thread(t, group?.mem, has(t, 'PI_RES_F_EXITED')));
      if (wantProcesses && group) {
        figs.push({ key: processKey(group), scope: 'process', pid: group.tgid, tgid: group.tgid, comm: group.comm,
          start: group.start, ts: group.ts, c: threads.reduce((c, t) => add(c, t.c), group.c), mem: group.mem,
          threads: threads.length, exited: has(group, 'PI_RES_F_EXITED') });
      }
    }
    return figs;
  }

  private thread(s: Sample, mem: Mem | undefined, exited: boolean): Figures {
    return { key: threadKey(s), scope: 'thread', pid: s.pid, tgid: s.tgid, comm: s.comm, start: s.start, ts: s.ts,
      c: s.c, mem, threads: null, exited };
  }

  private remember(f: Figures, splitter: CpuSplitter, peak: number | null): Split {
    const split = splitter.adjust({ rtime: f.c.oncpu_ns, utime: f.c.utime_ns, stime: f.c.stime_ns });
    if (!f.exited) this.previous.set(f.key, { ts: f.ts, c: f.c, splitter, split, peak });
    return split;
  }

  /**
   * Peak rss: the kernel's high-water mark, or the current rss when above it (as VmHWM), or at exit
   * signal->maxrss — which the kernel takes without the per-CPU parts of its counters, so it can be
   * below a peak already sampled exactly: never report less than that.
   */
  private peak(f: Figures, rss: number | null, prev: Previous | undefined): number | null {
    const m = f.mem, page = this.pageSize;
    const now = m ? Math.max(m.hiwater_rss_pages * page, rss!) : f.peakPages !== undefined ? f.peakPages * page : null;
    if (prev?.peak == null) return now;
    return now === null ? (f.scope === 'process' && f.exited ? prev.peak : null) : Math.max(now, prev.peak);
  }

  private record(f: Figures): ResourceRecord | undefined {
    const prev = this.previous.get(f.key);
    // not seen before: new since the last sample (from zero), or a target only now (a baseline)
    const base = prev ?? (f.start >= this.bornAfter - this.startSlackNs ? { ts: f.start, c: ZERO, split: { user: 0, system: 0 } } : undefined);
    const rss = this.rss(f);
    const peak = this.peak(f, rss, prev);
    const split = this.remember(f, prev?.splitter ?? new CpuSplitter(), peak);
    if (!base) return undefined;

    const interval = Math.max(0, f.ts - base.ts);
    const d = (k: keyof Counters) => Math.max(0, f.c[k] - base.c[k]);
    const pct = (ns: number) => (interval > 0 ? (ns * 100) / interval : 0);
    const user = Math.max(0, split.user - base.split.user), system = Math.max(0, split.system - base.split.system);
    const cpu = d('oncpu_ns');
    const page = this.pageSize, m = f.mem;
    return {
      type: 'resource', ts_ns: f.ts, pid: f.pid, tgid: f.tgid, comm: f.comm,
      scope: f.scope, start_ts_ns: f.start, exited: f.exited, interval_ns: interval, threads: f.threads, top: null,
      cpu_pct: pct(cpu), user_pct: pct(user), system_pct: pct(system),
      cpu_ns: cpu, user_ns: user, system_ns: system,
      rss_bytes: rss,
      rss_anon_bytes: m ? m.anon_pages * page : null,
      rss_file_bytes: m ? m.file_pages * page : null,
      rss_shmem_bytes: m ? m.shmem_pages * page : null,
      swap_bytes: m ? m.swap_pages * page : null,
      vm_bytes: m ? m.vm_pages * page : null,
      rss_peak_bytes: peak,
      read_bytes: d('read_bytes'), write_bytes: d('write_bytes'), cancelled_write_bytes: d('cancelled_write_bytes'),
      io_read_bytes: d('rchar'), io_write_bytes: d('wchar'), read_syscalls: d('syscr'), write_syscalls: d('syscw'),
      minor_faults: d('min_flt'), major_faults: d('maj_flt'),
      voluntary_switches: d('nvcsw'), involuntary_switches: d('nivcsw'),
      total_cpu_ns: f.c.oncpu_ns, total_user_ns: split.user, total_system_ns: split.system,
      total_read_bytes: f.c.read_bytes, total_write_bytes: f.c.write_bytes,
      total_cancelled_write_bytes: f.c.cancelled_write_bytes,
      total_io_read_bytes: f.c.rchar, total_io_write_bytes: f.c.wchar,
      total_read_syscalls: f.c.syscr, total_write_syscalls: f.c.syscw,
      total_minor_faults: f.c.min_flt, total_major_faults: f.c.maj_flt,
      total_voluntary_switches: f.c.nvcsw, total_involuntary_switches: f.c.nivcsw,
    };
  }
}
